//! NCS electronic surveillance in the core: `es-ccd`/`es-cci` are checked,
//! recorded per connection and handed to the media controller; a change
//! mid-call never reinstalls the SRTP contexts (the other party would see
//! a new stream).

mod common;

use std::net::SocketAddr;

use cablekey_cta_firmware::Surveillance;
use common::*;

const SDP: &str = "\nv=0\nc=IN IP4 10.0.0.9\nm=audio 4000 RTP/AVP 0\n";

fn crcx(lco_extra: &str) -> String {
    format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1A\nL: k:base64:{KEY}, x-dir:caller{lco_extra}\nM: sendrecv\n{SDP}"
    )
}

fn tap(collector: &str, cci: u32) -> Option<Surveillance> {
    Some(Surveillance {
        collector: collector.parse::<SocketAddr>().unwrap(),
        cci,
    })
}

#[test]
fn a_crcx_with_es_options_installs_the_context_with_them() {
    let mut r = Rig::registered();
    let resp = r.command(&crcx(", es-ccd:192.0.2.10:5000, es-cci:00C0FFEE"));
    assert!(resp.starts_with("200"), "{resp}");
    let want = tap("192.0.2.10:5000", 0x00C0_FFEE);
    let id = r.gw.connections().next().unwrap().id;
    assert_eq!(r.gw.media().taps.get(&id).copied(), want);
    assert_eq!(r.gw.connections().next().unwrap().surveillance, want);
    // IPv6 collectors are written in brackets.
    let resp = r.command(&crcx(", es-ccd:[2001:db8::1]:5000, es-cci:7").replace("C: 1A", "C: 1B"));
    assert!(resp.starts_with("200"), "{resp}");
    let last = r.gw.connections().last().unwrap().surveillance;
    assert_eq!(last, tap("[2001:db8::1]:5000", 7));
}

#[test]
fn bad_es_options_are_refused_and_change_nothing() {
    let mut r = Rig::registered();
    for (extra, code) in [
        (", es-ccd:192.0.2.10:5000", 524),
        (", es-cci:00C0FFEE", 524),
        (", es-ccd:collector.example:5000, es-cci:1", 532),
        (", es-ccd:192.0.2.10, es-cci:1", 532),
        (", es-ccd:192.0.2.10:5000, es-cci:123456789", 532),
        (", es-ccd:192.0.2.10:5000, es-cci:-1", 532),
        (", es-ccd:192.0.2.10:5000, es-cci:XYZ", 532),
    ] {
        assert_eq!(r.code(&crcx(extra)), code, "{extra}");
    }
    assert_eq!(r.gw.connections().count(), 0);
    assert!(r.no_key_anywhere());
}

#[test]
fn mdcx_starts_and_stops_copies_without_touching_the_streams() {
    let mut r = Rig::registered();
    let conn = Rig::conn_id(&r.command(&crcx("")));
    assert_eq!(r.gw.media().installs.len(), 1);
    let mdcx =
        |lco: &str| format!("MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1A\nI: {conn}\n{lco}");
    let on = tap("192.0.2.10:5000", 0xC0FFEE);

    assert_eq!(
        r.code(&mdcx(
            "L: p:20, a:PCMU, es-ccd:192.0.2.10:5000, es-cci:C0FFEE\n"
        )),
        200
    );
    // An MDCX without L: keeps the setting; a bad one changes nothing.
    assert_eq!(r.code(&mdcx("M: sendrecv\n")), 200);
    assert_eq!(r.code(&mdcx("L: es-cci:1\n")), 524);
    let id = r.gw.connections().next().unwrap().id;
    assert_eq!(r.gw.media().taps.get(&id).copied(), on);

    // An L: without the options stops the copies.
    assert_eq!(r.code(&mdcx("L: p:20, a:PCMU\n")), 200);
    assert_eq!(r.gw.media().taps.get(&id), None);
    assert_eq!(r.gw.connections().next().unwrap().surveillance, None);
    assert_eq!(r.gw.media().surveils, [(id, on), (id, None)]);
    assert_eq!(r.gw.media().installs.len(), 1, "never reinstalled");
}

#[test]
fn the_setting_rides_along_when_a_context_is_installed_later() {
    let mut r = Rig::registered();
    // No remote address yet: nothing installed, the setting is kept.
    let resp = r.command(&format!(
        "CRCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1A\nL: k:base64:{KEY}, x-dir:callee, es-ccd:192.0.2.10:5000, es-cci:5\nM: recvonly\n"
    ));
    let conn = Rig::conn_id(&resp);
    assert!(r.gw.media().contexts.is_empty());
    let resp = r.command(&format!(
        "MDCX {{tid}} aaln/1@cta1.example MGCP 1.0\nC: 1A\nI: {conn}\nM: sendrecv\n{SDP}"
    ));
    assert!(resp.starts_with("200"), "{resp}");
    let id = r.gw.connections().next().unwrap().id;
    assert!(r.gw.media().contexts.contains_key(&id));
    assert_eq!(
        r.gw.media().taps.get(&id).copied(),
        tap("192.0.2.10:5000", 5)
    );
}
