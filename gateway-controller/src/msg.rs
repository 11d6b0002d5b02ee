//! The text of the commands the controller sends. Built as text and parsed
//! by the codec before sending, so what goes out is what the codec accepts.
//! Texts that carry a key are `Zeroizing` and wiped when dropped.

use std::fmt::Write;

use cablekey_protocol::callkey::{DERIVED_ITEM, DERIVED_VALUE};
use zeroize::Zeroizing;

use crate::intercept::Intercept;

/// A notification request riding on a command: `X:`, `R:`, `S:` and `D:`.
pub struct Request<'a> {
    pub id: &'a str,
    pub events: &'a str,
    /// Empty stops every signal.
    pub signals: &'a str,
    pub digit_map: Option<&'a str>,
}

/// Waiting for off-hook.
pub const IDLE_EVENTS: &str = "L/hd(N)";
/// Waiting for on-hook.
pub const HANG_UP_EVENTS: &str = "L/hu(N)";
pub const DIALING_EVENTS: &str = "L/hu(N), D/[0-9#*T](D)";

fn head(text: &mut String, verb: &str, endpoint: &str) {
    // The id is a placeholder: the transaction layer assigns a fresh one.
    let _ = write!(text, "{verb} 1 {endpoint} MGCP 1.0 NCS 1.0\r\n");
}

fn request(text: &mut String, r: &Request<'_>) {
    let _ = write!(
        text,
        "X: {}\r\nR: {}\r\nS: {}\r\n",
        r.id, r.events, r.signals
    );
    if let Some(d) = r.digit_map {
        let _ = write!(text, "D: {d}\r\n");
    }
}

fn body(text: &mut String, sdp: Option<&str>) {
    if let Some(sdp) = sdp {
        text.push_str("\r\n");
        text.push_str(sdp);
    }
}

pub fn rqnt(endpoint: &str, r: &Request<'_>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(128));
    head(&mut text, "RQNT", endpoint);
    request(&mut text, r);
    text
}

/// How a CRCX hands over the call key.
#[derive(Clone, Copy)]
pub enum KeyItem<'a> {
    /// K itself, `k:base64:<K>`.
    Base64(&'a str),
    /// `x-key:derived`: the endpoint derives K from the session key it
    /// shares with us (docs/keys.md); K is not in the command.
    Derived,
}

/// What a CRCX carries besides the request.
pub struct Connect<'a> {
    pub call_id: &'a str,
    pub key: KeyItem<'a>,
    pub suite: &'a str,
    /// `caller` or `callee`: which derived key this end sends with.
    pub side: &'a str,
    pub mode: &'a str,
    pub remote_sdp: Option<&'a str>,
    /// Copies of this end's media go to a collector (lawful intercept).
    pub tap: Option<&'a Intercept>,
}

pub fn crcx(endpoint: &str, c: &Connect<'_>, r: &Request<'_>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(384));
    head(&mut text, "CRCX", endpoint);
    let _ = write!(text, "C: {}\r\nL: p:20, a:PCMU, ", c.call_id);
    let _ = match c.key {
        KeyItem::Base64(k) => write!(text, "k:base64:{k}"),
        KeyItem::Derived => write!(text, "{DERIVED_ITEM}:{DERIVED_VALUE}"),
    };
    let _ = write!(text, ", sc-rtp:{}, x-dir:{}", c.suite, c.side);
    tap_items(&mut text, c.tap);
    let _ = write!(text, "\r\nM: {}\r\n", c.mode);
    request(&mut text, r);
    body(&mut text, c.remote_sdp);
    text
}

pub fn mdcx(
    endpoint: &str,
    call_id: &str,
    conn: &str,
    mode: &str,
    r: &Request<'_>,
    remote_sdp: Option<&str>,
) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(256));
    head(&mut text, "MDCX", endpoint);
    let _ = write!(text, "C: {call_id}\r\nI: {conn}\r\nM: {mode}\r\n");
    request(&mut text, r);
    body(&mut text, remote_sdp);
    text
}

/// `, es-ccd:…, es-cci:…` when the connection is tapped.
fn tap_items(text: &mut String, tap: Option<&Intercept>) {
    if let Some(t) = tap {
        let _ = write!(text, ", {}", t.lco_items());
    }
}

/// Starts (`Some`) or stops (`None`) the copies of a connection's media.
/// Only `L:` changes: no mode, address or request, so the call goes on as
/// it was. An `L:` without the options stops the copies (docs/controller.md).
pub fn tap(endpoint: &str, call_id: &str, conn: &str, tap: Option<&Intercept>) -> String {
    let mut text = String::with_capacity(160);
    head(&mut text, "MDCX", endpoint);
    let _ = write!(text, "C: {call_id}\r\nI: {conn}\r\nL: p:20, a:PCMU");
    tap_items(&mut text, tap);
    text.push_str("\r\n");
    text
}

/// Deletes every connection of the call on the endpoint; with `r`, the
/// line's next request rides on it (RFC 3435 section 2.3.9), saving an RQNT.
pub fn dlcx(endpoint: &str, call_id: &str, r: Option<&Request<'_>>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(128));
    head(&mut text, "DLCX", endpoint);
    let _ = write!(text, "C: {call_id}\r\n");
    if let Some(r) = r {
        request(&mut text, r);
    }
    text
}

// Commands to the media gateway. Plain `MGCP 1.0` (osmo-mgw refuses any
// other version line), no notification requests (it answers 539 to
// parameters it does not know), and no key: there is no field for one.

fn mgw_head(text: &mut String, verb: &str, endpoint: &str, call_id: &str) {
    let _ = write!(text, "{verb} 1 {endpoint} MGCP 1.0\r\nC: {call_id}\r\n");
}

/// A connection that receives until it learns where to send (MDCX).
pub fn mgw_crcx(endpoint: &str, call_id: &str) -> String {
    let mut text = String::with_capacity(128);
    mgw_head(&mut text, "CRCX", endpoint, call_id);
    text.push_str("L: p:20, a:PCMU\r\nM: recvonly\r\n");
    text
}

/// Sends to the CTA described by `remote_sdp`, key lines stripped.
pub fn mgw_mdcx(endpoint: &str, call_id: &str, conn: &str, remote_sdp: &str) -> String {
    let mut text = String::with_capacity(384);
    mgw_head(&mut text, "MDCX", endpoint, call_id);
    let _ = write!(text, "I: {conn}\r\nM: sendrecv\r\n");
    body(&mut text, Some(&crate::anchor::without_keys(remote_sdp)));
    text
}

/// Deletes one connection, or all of the call's on the endpoint. Never
/// for a wildcard name: osmo-mgw empties every endpoint for that.
pub fn mgw_dlcx(endpoint: &str, call_id: &str, conn: Option<&str>) -> String {
    let mut text = String::with_capacity(96);
    mgw_head(&mut text, "DLCX", endpoint, call_id);
    if let Some(conn) = conn {
        let _ = write!(text, "I: {conn}\r\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use cablekey_protocol::mgcp::{
        parse, ConnectionMode, LcoItem, Message, Param, ParamName, Verb,
    };

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn request() -> Request<'static> {
        Request {
            id: "1F",
            events: HANG_UP_EVENTS,
            signals: "L/rt",
            digit_map: None,
        }
    }

    #[test]
    fn crcx_parses_with_key_side_and_remote_sdp() {
        let c = Connect {
            call_id: "A3C4",
            key: KeyItem::Base64(KEY),
            suite: "AEAD_AES_128_GCM",
            side: "caller",
            mode: "recvonly",
            remote_sdp: Some("v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 0\r\n"),
            tap: None,
        };
        let text = crcx("aaln/1@cta.example", &c, &request());
        let Ok(Message::Command(cmd)) = parse(text.as_bytes()) else {
            panic!("{}", text.as_str());
        };
        assert_eq!(cmd.verb, Verb::Crcx);
        assert_eq!(cmd.param(ParamName::CallId), Some(&Param::CallId("A3C4")));
        assert_eq!(
            cmd.param(ParamName::ConnectionMode),
            Some(&Param::ConnectionMode(ConnectionMode::RecvOnly))
        );
        let Some(Param::LocalConnectionOptions(lco)) = cmd.param(ParamName::LocalConnectionOptions)
        else {
            panic!("no L:");
        };
        let key = lco.encryption_key().unwrap().decode().unwrap();
        assert_eq!(key.expose(), (0u8..32).collect::<Vec<_>>());
        assert!(
            matches!(lco.find("x-dir"), Some(LcoItem::Other { value, .. }) if value == "caller")
        );
        assert!(cmd.sdp.unwrap().contains("m=audio 4000"));
    }

    #[test]
    fn a_derived_crcx_has_the_marker_and_no_key() {
        let c = Connect {
            call_id: "A3C4",
            key: KeyItem::Derived,
            suite: "AEAD_AES_128_GCM",
            side: "caller",
            mode: "recvonly",
            remote_sdp: None,
            tap: None,
        };
        let text = crcx("aaln/1@cta.example", &c, &request());
        let Ok(Message::Command(cmd)) = parse(text.as_bytes()) else {
            panic!("{}", text.as_str());
        };
        let Some(Param::LocalConnectionOptions(lco)) = cmd.param(ParamName::LocalConnectionOptions)
        else {
            panic!("no L:");
        };
        assert!(lco.encryption_key().is_none(), "{}", text.as_str());
        assert!(
            matches!(lco.find("x-key"), Some(LcoItem::Other { value, .. }) if value == "derived")
        );
        assert!(text
            .contains("L: p:20, a:PCMU, x-key:derived, sc-rtp:AEAD_AES_128_GCM, x-dir:caller\r\n"));
    }

    #[test]
    fn tapped_crcx_and_tap_mdcx_carry_es_options_and_nothing_else() {
        use crate::intercept::{Cci, Intercept};
        let t = Intercept {
            cci: Cci(0xC0FFEE),
            collector: "127.0.0.42:5000".parse().unwrap(),
        };
        let c = Connect {
            call_id: "A3C4",
            key: KeyItem::Base64(KEY),
            suite: "AEAD_AES_128_GCM",
            side: "callee",
            mode: "recvonly",
            remote_sdp: None,
            tap: Some(&t),
        };
        let texts = [
            crcx("aaln/1@a", &c, &request()).to_string(),
            tap("aaln/1@a", "A3C4", "0001", Some(&t)),
        ];
        for text in &texts {
            let Ok(Message::Command(cmd)) = parse(text.as_bytes()) else {
                panic!("{text}");
            };
            let Some(Param::LocalConnectionOptions(lco)) =
                cmd.param(ParamName::LocalConnectionOptions)
            else {
                panic!("no L:");
            };
            assert_eq!(
                lco.find("es-ccd"),
                Some(LcoItem::SurveillanceDestination("127.0.0.42:5000"))
            );
            assert_eq!(
                lco.find("es-cci"),
                Some(LcoItem::SurveillanceId("00C0FFEE"))
            );
        }
        let off = tap("aaln/1@a", "A3C4", "0001", None);
        assert!(off.ends_with("L: p:20, a:PCMU\r\n"), "{off}");
        for text in [&texts[1], &off] {
            assert!(!text.contains("M:") && !text.contains("X:") && !text.contains("k:"));
        }
    }

    #[test]
    fn rqnt_mdcx_dlcx_parse() {
        let r = Request {
            id: "2",
            events: DIALING_EVENTS,
            signals: "L/dl",
            digit_map: Some("(xxxx)"),
        };
        let texts = [
            rqnt("aaln/1@a", &r),
            rqnt(
                "aaln/1@a",
                &Request {
                    signals: "",
                    ..request()
                },
            ),
            mdcx("aaln/1@a", "C1", "0001", "sendrecv", &request(), None),
            dlcx("aaln/1@a", "C1", None),
            dlcx("aaln/1@a", "C1", Some(&request())),
        ];
        for text in &texts {
            assert!(parse(text.as_bytes()).is_ok(), "{}", text.as_str());
        }
        assert!(texts[0].contains("D: (xxxx)"));
        let Ok(Message::Command(del)) = parse(texts[4].as_bytes()) else {
            panic!("{}", texts[4].as_str());
        };
        assert_eq!(del.verb, Verb::Dlcx);
        assert_eq!(
            del.param(ParamName::RequestIdentifier),
            Some(&Param::RequestIdentifier("1F"))
        );
        assert!(texts[3].ends_with("C: C1\r\n"), "{}", texts[3].as_str());
    }

    #[test]
    fn media_gateway_commands_are_plain_mgcp_without_keys() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 4000 RTP/AVP 0\r\na=crypto:1 AEAD_AES_128_GCM inline:AAAA\r\n";
        let texts = [
            mgw_crcx("rtpbridge/*@mgw", "C1"),
            mgw_mdcx("rtpbridge/1@mgw", "C1", "0A", sdp),
            mgw_dlcx("rtpbridge/1@mgw", "C1", Some("0A")),
            mgw_dlcx("rtpbridge/1@mgw", "C1", None),
        ];
        for text in &texts {
            let Ok(Message::Command(cmd)) = parse(text.as_bytes()) else {
                panic!("{text}");
            };
            assert_eq!(cmd.version, "MGCP 1.0", "{text}");
            assert_eq!(cmd.param(ParamName::CallId), Some(&Param::CallId("C1")));
            assert!(!text.contains("crypto") && !text.contains("k:"), "{text}");
            assert!(!text.contains("R:") && !text.contains("X:"), "{text}");
        }
        assert!(texts[1].contains("m=audio 4000"));
    }
}
