//! A call anchored at a real media gateway: osmo-mgw on a loopback address
//! of its own with a non-standard MGCP port, the controller service with
//! `anchor` set, two simulated CTAs with SRTP media and tones. Each side
//! must hear the other's tone through osmo-mgw, which relays SRTP it has no
//! key for. tshark captures the whole run; the capture must show both
//! gateway connections created, modified and deleted, all media going via
//! the gateway's RTP ports, no key sent to it, and no malformed MGCP.

mod common;

use common::{say, start_cta, wait_for};

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::sim::{tone, wav, Cta, Snapshot};
use cablekey_gateway_controller::escrow::keyfile;
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, Settings};
use cablekey_gateway_controller::Anchor;
use cablekey_protocol::mgcp::{parse_datagram, Message, Param, ParamName, Verb};

/// The test's own addresses (no other test uses 127.0.0.240-243), so the
/// capture filter `net 127.0.0.240/30` sees this test and nothing else.
const NET: &str = "127.0.0.240/30";
const MGW_IP: &str = "127.0.0.240";
const CONTROLLER: &str = "127.0.0.241:2727";
const CTA_A: &str = "127.0.0.242:2427";
const CTA_B: &str = "127.0.0.243:2427";
/// osmo-mgw's MGCP port (not 2427/2727: tshark needs `-d` for it) and RTP ports.
const MGW_PORT: u16 = 12_600;
const RTP_BASE: u16 = 32_100;
const RTP_PORTS: std::ops::RangeInclusive<u16> = RTP_BASE..=RTP_BASE + 63;
const MGCP_PORTS: [u16; 3] = [2427, 2727, MGW_PORT];

const CALLER_HZ: f64 = 1000.0;
const CALLEE_HZ: f64 = 440.0;
const MIN_DOMINANCE_DB: f64 = 20.0;
const STEP: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_through_osmo_mgw_keeps_srtp_end_to_end() {
    common::require_tool("osmo-mgw");
    let dir = common::scratch_dir("osmo_anchor");
    let pcap = dir.join("anchor.pcapng");
    let mut capture = common::Capture::start(&format!("net {NET}"), MGW_IP, &pcap);
    let mgw = common::OsmoMgw::start(MGW_IP, MGW_PORT, RTP_BASE);

    let (private, public) = (dir.join("le-private.key"), dir.join("le-public.key"));
    keyfile::generate_keypair(&private, &public).unwrap();
    let mut settings = Settings::new(CONTROLLER.parse().unwrap(), dir.join("data"), public);
    settings.core.anchor = Some(Anchor::new(mgw.mgcp, "mgw").unwrap());
    for (name, number) in [
        ("aaln/1@ctaa.anchor", "2001"),
        ("aaln/1@ctab.anchor", "2002"),
    ] {
        settings
            .registry
            .add(name, Kind::Line, Some(number), None)
            .unwrap();
    }
    let ctrl = service::start(settings, Duration::from_secs(2))
        .await
        .unwrap();
    let a = start_cta("ctaa.anchor", CTA_A, ctrl.addr).await;
    let b = start_cta("ctab.anchor", CTA_B, ctrl.addr).await;

    let (heard_by_a, heard_by_b) = (dir.join("a-hears.wav"), dir.join("b-hears.wav"));
    let (snap_a, snap_b) = call(&a, &b, &heard_by_a, &heard_by_b).await;
    // Let the DLCXs finish, then stop everything before the capture ends.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.stop().await;
    b.stop().await;
    ctrl.shutdown(Duration::from_secs(2)).await;
    capture.stop();
    let packets = read_packets(&pcap);
    drop(mgw);

    // Both ends received SRTP that authenticated; osmo-mgw's keep-alives
    // (one 0x23 byte) were dropped quietly, not counted as failures.
    for (who, s) in [("caller", &snap_a), ("callee", &snap_b)] {
        let c = &s.connections[0];
        assert!(c.key.is_some(), "{who} has no key");
        assert!(c.packets_received > 40, "{who} received {c:?}");
        assert_eq!(c.rejected, 0, "{who} rejected packets: {c:?}");
    }
    assert_eq!(snap_a.connections[0].key, snap_b.connections[0].key);
    let a_hears = dominance(&heard_by_a, CALLEE_HZ, CALLER_HZ);
    let b_hears = dominance(&heard_by_b, CALLER_HZ, CALLEE_HZ);
    eprintln!("caller hears 440 Hz by {a_hears:.1} dB, callee hears 1 kHz by {b_hears:.1} dB");
    assert!(a_hears >= MIN_DOMINANCE_DB && b_hears >= MIN_DOMINANCE_DB);

    check_mgcp_dissection(&pcap);
    check_gateway_legs(&packets);
    check_media_path(&packets);
}

/// A calls B; both talk (tones) for 1.5 s; both hang up. Returns each
/// side's snapshot taken just before hanging up.
async fn call(a: &Cta, b: &Cta, heard_by_a: &Path, heard_by_b: &Path) -> (Snapshot, Snapshot) {
    say(a, &format!("play tone {CALLER_HZ} 0.5")).await;
    say(b, &format!("play tone {CALLEE_HZ} 0.5")).await;
    say(a, &format!("record {}", heard_by_a.display())).await;
    say(b, &format!("record {}", heard_by_b.display())).await;
    let phase = |p: Phase| move |s: &Snapshot| s.phases[0] == p;
    say(a, "offhook").await;
    wait_for(a, STEP, phase(Phase::DialTone)).await;
    say(a, "dial 2002").await;
    wait_for(b, STEP, phase(Phase::Ringing)).await;
    say(b, "offhook").await;
    let keyed = |s: &Snapshot| {
        s.phases[0] == Phase::Connected && s.connections.iter().any(|c| c.key.is_some())
    };
    wait_for(a, STEP, keyed).await;
    wait_for(b, STEP, keyed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snap_a = a.snapshot().await.unwrap();
    let snap_b = b.snapshot().await.unwrap();
    for cta in [a, b] {
        say(cta, "onhook").await;
    }
    for cta in [a, b] {
        say(cta, "record stop").await;
        say(cta, "play stop").await;
    }
    let idle = |s: &Snapshot| s.phases[0] == Phase::Idle && s.connections.is_empty();
    wait_for(a, STEP, idle).await;
    wait_for(b, STEP, idle).await;
    (snap_a, snap_b)
}

/// How far `want` stands above `own` after the jitter buffer filled (300 ms).
fn dominance(path: &Path, want: f64, own: f64) -> f64 {
    let pcm = wav::read(path).unwrap();
    tone::dominance_db(&pcm[2400.min(pcm.len())..], want, own)
}

/// One captured UDP datagram.
struct Packet {
    from: SocketAddr,
    to: SocketAddr,
    payload: Vec<u8>,
}

/// Every UDP datagram of a capture.
fn read_packets(pcap: &Path) -> Vec<Packet> {
    let fields = tshark(
        pcap,
        &["-Y", "udp", "-T", "fields", "-E", "separator=,"],
        &[
            "ip.src",
            "udp.srcport",
            "ip.dst",
            "udp.dstport",
            "udp.payload",
        ],
    );
    fields
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let addr = |ip: &str, port: &str| format!("{ip}:{port}").parse().unwrap();
            Packet {
                from: addr(f[0], f[1]),
                to: addr(f[2], f[3]),
                payload: hex(f.get(4).copied().unwrap_or("")),
            }
        })
        .collect()
}

/// `tshark -r` over the capture, with osmo-mgw's port read as MGCP.
fn tshark(pcap: &Path, args: &[&str], fields: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(pcap);
    cmd.args(["-d", &format!("udp.port=={MGW_PORT},mgcp")]);
    cmd.args(args);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark -r");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Nothing malformed or in error, and every datagram on an MGCP port is
/// dissected as MGCP.
fn check_mgcp_dissection(pcap: &Path) {
    let bad = tshark(
        pcap,
        &[
            "-Y",
            "_ws.malformed || _ws.expert.severity >= error",
            "-T",
            "fields",
        ],
        &["frame.number", "_ws.expert.message"],
    );
    assert!(bad.trim().is_empty(), "tshark reports errors:\n{bad}");
    let ports = MGCP_PORTS.map(|p| p.to_string()).join(", ");
    let on_ports = format!("udp.port in {{{ports}}}");
    let not_mgcp = tshark(
        pcap,
        &["-Y", &format!("{on_ports} && !mgcp"), "-T", "fields"],
        &["frame.number"],
    );
    assert!(
        not_mgcp.trim().is_empty(),
        "not dissected as MGCP: {not_mgcp}"
    );
    let mgcp = tshark(pcap, &["-Y", "mgcp", "-T", "fields"], &["mgcp.transid"]);
    let messages = mgcp.lines().flat_map(|l| l.split(',')).count();
    eprintln!("tshark: {messages} MGCP messages, none malformed");
    assert!(messages > 20, "{mgcp}");
}

/// The gateway's two connections: created (CRCX, the first on
/// `rtpbridge/*`), modified (MDCX sendrecv with a CTA's SDP) and deleted
/// (DLCX answered 250), every command answered, no key sent there.
fn check_gateway_legs(packets: &[Packet]) {
    let ctrl: SocketAddr = CONTROLLER.parse().unwrap();
    let mgw_port = |a: &SocketAddr| a.port() == MGW_PORT;
    let mut commands = Vec::new();
    let mut answers = BTreeMap::new();
    for p in packets.iter().filter(|p| p.from == ctrl && mgw_port(&p.to)) {
        let text = String::from_utf8_lossy(&p.payload).to_ascii_lowercase();
        assert!(
            !text.contains("k:") && !text.contains("crypto"),
            "key material sent to osmo-mgw:\n{text}"
        );
        for m in parse_datagram(&p.payload) {
            if let Ok(Message::Command(c)) = m {
                let conn = match c.param(ParamName::ConnectionId) {
                    Some(Param::ConnectionId(i)) => Some(i.to_string()),
                    _ => None,
                };
                commands.push((c.tid, c.verb, c.endpoint.to_string(), conn));
            }
        }
    }
    for p in packets.iter().filter(|p| mgw_port(&p.from) && p.to == ctrl) {
        for m in parse_datagram(&p.payload) {
            if let Ok(Message::Response(r)) = m {
                let conn = match r.param(ParamName::ConnectionId) {
                    Some(Param::ConnectionId(i)) => Some(i.to_string()),
                    _ => None,
                };
                let z = match r.param(ParamName::SpecificEndpointId) {
                    Some(Param::SpecificEndpointId(e)) => Some(e.to_string()),
                    _ => None,
                };
                answers.insert(r.tid, (r.code.0, conn, z));
            }
        }
    }
    // The key did go out, to the two CTAs only.
    let keyed: BTreeSet<SocketAddr> = packets
        .iter()
        .filter(|p| p.from == ctrl && contains(&p.payload, b"k:base64:"))
        .map(|p| p.to)
        .collect();
    let ctas = BTreeSet::from([CTA_A.parse().unwrap(), CTA_B.parse().unwrap()]);
    assert_eq!(keyed, ctas, "the key went to both CTAs and nowhere else");
    // Retransmissions repeat a transaction id with the same command.
    let mut by_tid = BTreeMap::new();
    for c in &commands {
        let first = by_tid.entry(c.0).or_insert(c);
        assert_eq!(*first, c, "transaction id {} reused", c.0);
    }
    let of = |verb: Verb| -> Vec<_> { by_tid.values().filter(|c| c.1 == verb).collect() };
    let (crcx, mdcx, dlcx) = (of(Verb::Crcx), of(Verb::Mdcx), of(Verb::Dlcx));
    eprintln!(
        "osmo-mgw got {} CRCX, {} MDCX, {} DLCX",
        crcx.len(),
        mdcx.len(),
        dlcx.len()
    );
    assert_eq!(
        (crcx.len(), mdcx.len(), dlcx.len()),
        (2, 2, 2),
        "{commands:?}"
    );
    assert_eq!(crcx[0].2, "rtpbridge/*@mgw");
    let (code, _, z) = &answers[&crcx[0].0];
    assert_eq!(*code, 200);
    let endpoint = z.clone().expect("Z: names the endpoint");
    assert!(endpoint.starts_with("rtpbridge/") && endpoint.ends_with("@mgw"));
    let created: BTreeSet<String> = crcx
        .iter()
        .map(|c| {
            let (code, conn, _) = &answers[&c.0];
            assert_eq!(*code, 200, "CRCX {c:?}");
            conn.clone().expect("I: in the CRCX answer")
        })
        .collect();
    assert_eq!(created.len(), 2);
    for (cmds, want) in [(&mdcx, 200), (&dlcx, 250)] {
        let conns: BTreeSet<String> = cmds
            .iter()
            .map(|c| {
                assert_eq!(c.2, endpoint, "{c:?}");
                assert_eq!(answers[&c.0].0, want, "{c:?}");
                c.3.clone().expect("I:")
            })
            .collect();
        assert_eq!(conns, created, "each connection modified and deleted");
    }
}

/// SRTP went CTA -> osmo-mgw RTP port -> other CTA, both ways, never
/// directly between the CTAs.
fn check_media_path(packets: &[Packet]) {
    let (a, b): (SocketAddr, SocketAddr) = (CTA_A.parse().unwrap(), CTA_B.parse().unwrap());
    let mgw_ip: std::net::IpAddr = MGW_IP.parse().unwrap();
    let media: Vec<&Packet> = packets
        .iter()
        .filter(|p| {
            ![p.from.port(), p.to.port()]
                .iter()
                .any(|x| MGCP_PORTS.contains(x))
        })
        .filter(|p| p.from.ip() != p.to.ip())
        .collect();
    let count = |from: std::net::IpAddr, to: std::net::IpAddr, min: usize| {
        media
            .iter()
            .filter(|p| p.from.ip() == from && p.to.ip() == to && p.payload.len() >= min)
            .count()
    };
    let direct = count(a.ip(), b.ip(), 0) + count(b.ip(), a.ip(), 0);
    assert_eq!(direct, 0, "media went directly between the CTAs");
    for cta in [a.ip(), b.ip()] {
        let out = media.iter().filter(|p| p.from.ip() == cta);
        assert!(
            out.clone()
                .all(|p| p.to.ip() == mgw_ip && RTP_PORTS.contains(&p.to.port())),
            "{cta} sent media elsewhere than osmo-mgw's RTP ports"
        );
        let (sent, got) = (count(cta, mgw_ip, 12), count(mgw_ip, cta, 12));
        let keepalives = media
            .iter()
            .filter(|p| p.from.ip() == mgw_ip && p.to.ip() == cta && p.payload == [0x23])
            .count();
        eprintln!("{cta}: {sent} RTP to osmo-mgw, {got} from it, {keepalives} keep-alives");
        assert!(
            sent > 40 && got > 40,
            "{cta}: {sent} sent, {got} received via osmo-mgw"
        );
        // The CTAs' `rejected == 0` above then shows they were dropped quietly.
        assert!(keepalives > 0, "osmo-mgw sent {cta} no keep-alive");
    }
}
