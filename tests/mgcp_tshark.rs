//! Our MGCP on the wire, judged by a third party: Wireshark's MGCP dissector
//! (tshark) must read every message we send with the verb, transaction id and
//! endpoint we meant, and find nothing malformed.

mod common;

use std::net::UdpSocket;
use std::process::Command as Proc;
use std::time::Duration;

use cablekey_protocol::mgcp::{
    encode_datagram, Command, ConnectionMode, ConnectionParameter, EncryptionKey, EndpointName,
    EventItem, LcoItem, LocalConnectionOptions, Message, Param, ReasonCode, Response,
    RestartMethod, ReturnCode, TidRange, TransactionId, Verb,
};

/// A loopback address of our own, so nothing else on lo lands in the capture.
const HOST: &str = "127.0.0.42";

const SDP_OFFER: &str = "v=0\r\no=cablekey 4242 1 IN IP4 127.0.0.42\r\ns=-\r\nc=IN IP4 127.0.0.42\r\nt=0 0\r\nm=audio 40000 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\na=crypto:1 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:4\r\n";

fn ep(local: &'static str) -> EndpointName<'static> {
    EndpointName {
        local,
        domain: "cta1.cablekey.test",
    }
}

fn lco(items: Vec<LcoItem<'static>>) -> Param<'static> {
    Param::LocalConnectionOptions(LocalConnectionOptions::from(items))
}

fn ev(name: &'static str, args: Option<&'static str>) -> EventItem<'static> {
    EventItem { name, args }
}

/// One datagram per entry (some piggy-backed), covering every verb and
/// the response kinds.
fn datagrams() -> Vec<Vec<Message<'static>>> {
    let t = TransactionId;
    let cmd = |verb, tid, local| Command::new(verb, t(tid), ep(local));
    let one = |m: Message<'static>| vec![m];
    vec![
        one(Message::Command(
            cmd(Verb::Epcf, 1001, "aaln/1").with(Param::BearerInformation("e:mu")),
        )),
        one(Message::Command(
            cmd(Verb::Crcx, 1002, "aaln/1")
                .with(Param::CallId("A3C47F21456789F0"))
                .with(lco(vec![
                    LcoItem::PacketizationPeriod("20"),
                    LcoItem::Compression("PCMU;PCMA"),
                    LcoItem::EchoCancellation(true),
                    LcoItem::SilenceSuppression(false),
                    LcoItem::EncryptionKey(EncryptionKey::Base64("AAECAwQFBgcICQoLDA0ODw==")),
                    LcoItem::RtpSecurity("62/51"),
                    LcoItem::RtcpSecurity("62"),
                ]))
                .with(Param::ConnectionMode(ConnectionMode::SendRecv))
                .with(Param::NotifiedEntity("ca@controller.cablekey.test:2727"))
                .with(Param::RequestIdentifier("0A1B"))
                .with(Param::RequestedEvents(vec![ev("L/hu", Some("N"))].into()))
                .with_sdp(SDP_OFFER),
        )),
        one(Message::Command(
            cmd(Verb::Mdcx, 1003, "aaln/1")
                .with(Param::CallId("A3C47F21456789F0"))
                .with(Param::ConnectionId("FDE234C8"))
                .with(lco(vec![
                    LcoItem::SurveillanceDestination("127.0.0.42:5000"),
                    LcoItem::SurveillanceId("00C0FFEE"),
                ]))
                .with(Param::ConnectionMode(ConnectionMode::SendRecv))
                .with_sdp(SDP_OFFER),
        )),
        one(Message::Command(
            cmd(Verb::Dlcx, 1004, "aaln/1")
                .with(Param::CallId("A3C47F21456789F0"))
                .with(Param::ConnectionId("FDE234C8"))
                .with(Param::ReasonCode(ReasonCode {
                    code: 900,
                    text: "Endpoint malfunctioning",
                })),
        )),
        one(Message::Command(
            cmd(Verb::Rqnt, 1005, "aaln/2")
                .with(Param::NotifiedEntity("ca@controller.cablekey.test:2727"))
                .with(Param::RequestIdentifier("0A1C"))
                .with(Param::RequestedEvents(
                    vec![ev("L/hd", Some("N")), ev("D/[0-9#*T]", Some("D"))].into(),
                ))
                .with(Param::SignalRequests(vec![ev("L/dl", None)].into()))
                .with(Param::DigitMap(
                    "(0T|00T|[1-7]xxx|8xxxxxxx|#xxxxxxx|*xx|91xxxxxxxxxx|9011x.T)",
                ))
                .with(Param::QuarantineHandling(vec!["loop", "process"])),
        )),
        one(Message::Command(
            cmd(Verb::Ntfy, 1006, "aaln/2")
                .with(Param::NotifiedEntity("ca@controller.cablekey.test:2727"))
                .with(Param::RequestIdentifier("0A1C"))
                .with(Param::ObservedEvents(
                    vec![ev("D/5", None), ev("D/5", None), ev("D/1", None)].into(),
                )),
        )),
        one(Message::Command(cmd(Verb::Auep, 1007, "aaln/*").with(
            Param::RequestedInfo(vec!["R", "D", "S", "X", "N", "I", "T", "O", "ES"]),
        ))),
        one(Message::Command(
            cmd(Verb::Aucx, 1008, "aaln/1")
                .with(Param::ConnectionId("FDE234C8"))
                .with(Param::RequestedInfo(vec!["C", "N", "L", "M", "LC", "P"])),
        )),
        one(Message::Command(
            cmd(Verb::Rsip, 1009, "aaln/$")
                .with(Param::RestartMethod(RestartMethod::Restart))
                .with(Param::RestartDelay(0)),
        )),
        one(Message::Response(
            Response::new(ReturnCode::OK, t(1002))
                .with(Param::ConnectionId("FDE234C8"))
                .with_sdp(SDP_OFFER),
        )),
        one(Message::Response(
            Response::new(ReturnCode::DELETED, t(1004)).with(Param::ConnectionParameters(vec![
                ConnectionParameter {
                    name: "PS",
                    value: "1245",
                },
                ConnectionParameter {
                    name: "OS",
                    value: "62345",
                },
                ConnectionParameter {
                    name: "PR",
                    value: "780",
                },
                ConnectionParameter {
                    name: "OR",
                    value: "45123",
                },
                ConnectionParameter {
                    name: "PL",
                    value: "10",
                },
                ConnectionParameter {
                    name: "JI",
                    value: "27",
                },
                ConnectionParameter {
                    name: "LA",
                    value: "48",
                },
            ])),
        )),
        one(Message::Response(Response::new(
            ReturnCode::PROTOCOL_ERROR,
            t(1003),
        ))),
        one(Message::Response(Response::new(
            ReturnCode::TRYING,
            t(1005),
        ))),
        one(Message::Response(
            Response::new(ReturnCode::OK, t(1005)).with(Param::ResponseAck(vec![])),
        )),
        one(Message::Response(Response::new(ReturnCode::ACK, t(1005)))),
        // A derived-key CRCX as the controller sends the caller: no `k:`,
        // the `x-key:derived` extension item (docs/keys.md) instead.
        one(Message::Command(
            cmd(Verb::Crcx, 1011, "aaln/1")
                .with(Param::CallId("A3C47F21456789F1"))
                .with(lco(vec![
                    LcoItem::PacketizationPeriod("20"),
                    LcoItem::Compression("PCMU"),
                    LcoItem::Other {
                        name: "x-key",
                        value: "derived",
                    },
                    LcoItem::RtpSecurity("AEAD_AES_128_GCM"),
                    LcoItem::Other {
                        name: "x-dir",
                        value: "caller",
                    },
                ]))
                .with(Param::ConnectionMode(ConnectionMode::RecvOnly)),
        )),
        // Piggy-backed: a response and a new command with a ResponseAck.
        vec![
            Message::Response(Response::new(ReturnCode::OK, t(1006))),
            Message::Command(
                cmd(Verb::Rqnt, 1010, "aaln/2")
                    .with(Param::ResponseAck(vec![TidRange {
                        first: t(1001),
                        last: t(1004),
                    }]))
                    .with(Param::RequestIdentifier("0A1D"))
                    .with(Param::RequestedEvents(vec![ev("L/hu", Some("N"))].into()))
                    .with(Param::SignalRequests(vec![ev("L/rg", None)].into())),
            ),
        ],
    ]
}

/// (verb or code, tid, endpoint) as tshark names them.
fn expected(msgs: &[Vec<Message<'_>>]) -> Vec<(String, String, String)> {
    msgs.iter()
        .flatten()
        .map(|m| match m {
            Message::Command(c) => (
                c.verb.to_string(),
                c.tid.to_string(),
                c.endpoint.to_string(),
            ),
            Message::Response(r) => (r.code.0.to_string(), r.tid.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn tshark_reads_every_message_we_send() {
    common::require_tool("tshark");
    let dir = common::scratch_dir("mgcp_tshark");
    let pcap = dir.join("mgcp.pcapng");
    let datagrams = datagrams();

    let mut capture = common::Capture::start(&format!("host {HOST}"), HOST, &pcap);

    let agent = UdpSocket::bind((HOST, 2727)).expect("bind call-agent port on 127.0.0.42");
    let gateway = UdpSocket::bind((HOST, 2427)).expect("bind gateway port on 127.0.0.42");

    for d in &datagrams {
        let bytes = encode_datagram(d);
        let (from, to) = match &d[0] {
            Message::Command(_) => (&agent, &gateway),
            Message::Response(_) => (&gateway, &agent),
        };
        from.send_to(&bytes, to.local_addr().unwrap()).unwrap();
    }
    for _ in &datagrams {
        capture
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("tshark missed a datagram");
    }
    capture.stop();

    let out = Proc::new("tshark")
        .args(["-n", "-r"])
        .arg(&pcap)
        .args([
            "-Y",
            "mgcp || _ws.malformed",
            "-T",
            "json",
            "--no-duplicate-keys",
        ])
        .args(["-J", "mgcp _ws.malformed _ws.expert"])
        .output()
        .expect("run tshark -r");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    for bad in [
        "_ws.malformed",
        "_ws.expert",
        "mgcp.param.invalid",
        "mgcp.rsp.malformed_parameter",
        "mgcp.rsp.rspcode.invalid",
        "mgcp.dup",
    ] {
        assert!(!json.contains(bad), "tshark reports {bad}:\n{json}");
    }

    let packets: serde_json::Value = serde_json::from_str(&json).unwrap();
    // tshark lists LocalConnectionOptions items it has no name for (our
    // vendor `x-` items, as RFC 3435 allows) as "unknown parameter", a
    // plain field, not an error: those, and only those, are expected.
    let mut unknown = Vec::new();
    all_fields(&packets, "mgcp.unknown_parameter", &mut unknown);
    let unknown: Vec<&str> = unknown.iter().map(|u| u.trim()).collect();
    assert_eq!(unknown, ["x-key:derived", "x-dir:caller"], "{json}");
    let mut seen = Vec::new();
    for p in packets.as_array().unwrap() {
        let mgcp = &p["_source"]["layers"]["mgcp"];
        let msgs = match mgcp {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Null => panic!("a packet without MGCP: {p}"),
            one => vec![one.clone()],
        };
        for m in msgs {
            let field = |k: &str| find_field(&m, k).unwrap_or_default();
            let verb_or_code = match find_field(&m, "mgcp.req.verb") {
                Some(v) => v,
                None => field("mgcp.rsp.rspcode"),
            };
            seen.push((
                verb_or_code,
                field("mgcp.transid"),
                field("mgcp.req.endpoint"),
            ));
        }
    }
    assert_eq!(seen, expected(&datagrams));

    // The NCS security and surveillance options decode as such.
    for (field, value) in [
        ("mgcp.param.localconnectionoptions.scrtp", "62/51"),
        ("mgcp.param.localconnectionoptions.scrtcp", "62"),
        ("mgcp.param.localconnectionoptions.esccd", "127.0.0.42:5000"),
        ("mgcp.param.localconnectionoptions.escci", "00C0FFEE"),
        (
            "mgcp.param.localconnectionoptions.k",
            "base64:AAECAwQFBgcICQoLDA0ODw==",
        ),
    ] {
        assert_eq!(
            find_field(&packets, field).as_deref(),
            Some(value),
            "tshark did not decode {field}"
        );
    }
}

/// Every string value of `key` anywhere under `v`, in order.
fn all_fields(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match x {
                    serde_json::Value::String(s) if k == key => out.push(s.clone()),
                    serde_json::Value::Array(a) if k == key => {
                        out.extend(a.iter().filter_map(|s| s.as_str()).map(String::from))
                    }
                    _ => all_fields(x, key, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| all_fields(x, key, out)),
        _ => {}
    }
}

/// The first value of `key` anywhere under `v` (tshark nests fields in trees).
fn find_field(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(x) = map.get(key) {
                return match x {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Array(a) => {
                        a.first().and_then(|s| s.as_str()).map(String::from)
                    }
                    other => Some(other.to_string()),
                };
            }
            map.values().find_map(|x| find_field(x, key))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_field(x, key)),
        _ => None,
    }
}
