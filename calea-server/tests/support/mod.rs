//! A case with three calls in one capture, built with the real escrow and
//! SRTP code: the target's call (1 kHz one way, 440 Hz the other), a call
//! of the target's whose escrow record was tampered with, and a call
//! between two other people. Shared by the library and CLI tests.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use cablekey_calea_server::records::RecordStore;
use cablekey_calea_server::synth::{self, Call, End, Packet};
use cablekey_calea_server::warrant::{Mode, Warrant, WarrantBook};
use cablekey_calea_server::{bundle, clock};
use cablekey_protocol::escrow::{EpochPolicy, EpochSealer};
use cablekey_protocol::srtp::Suite;

pub const CASE: &str = "C-2026-17";
pub const TARGET: &str = "5550001";
pub const OTHERS: [&str; 2] = ["5550004", "5550005"];
pub const GOOD: &str = "A3C47F21456789F0";
pub const TAMPERED: &str = "B0000000000000B2";
pub const STRANGER: &str = "C0000000000000C3";
pub const T0: u64 = 1_790_000_000_000;

pub struct Scenario {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub key: PathBuf,
    pub packets: Vec<Packet>,
    pub good: Call,
    pub stranger: Call,
    /// Escrow and epoch records as a bundle file.
    pub bundle: PathBuf,
}

fn addr(v6: bool, host: u8, port: u16) -> SocketAddr {
    let ip: IpAddr = if v6 {
        format!("2001:db8::{host}").parse().unwrap()
    } else {
        format!("10.0.0.{host}").parse().unwrap()
    };
    SocketAddr::new(ip, port)
}

fn end(number: &str, v6: bool, host: u8, port: u16, tone: f64, ssrc: u32) -> End {
    End {
        number: number.into(),
        media: addr(v6, host, port),
        tone,
        ssrc,
    }
}

pub fn calls(v6: bool, packets: u32) -> [Call; 3] {
    let call = |id: &str, caller, callee, offset_ms, suite, first_seq| Call {
        call_id: id.into(),
        caller,
        callee,
        start_unix_ms: T0 + offset_ms,
        packets,
        suite,
        first_seq,
    };
    [
        call(
            GOOD,
            end(TARGET, v6, 1, 16384, 1000.0, 0x1111_0001),
            end("5550002", v6, 2, 16386, 440.0, 0x2222_0002),
            0,
            Suite::AeadAes128Gcm,
            // Wraps the sequence number: the rollover counter must follow.
            65_500,
        ),
        call(
            TAMPERED,
            end("5550003", v6, 3, 16388, 600.0, 0x3333_0003),
            end(TARGET, v6, 1, 16390, 800.0, 0x4444_0004),
            100,
            Suite::AesCm128HmacSha1_80,
            7,
        ),
        call(
            STRANGER,
            end(OTHERS[0], v6, 4, 16392, 300.0, 0x7777_0007),
            end(OTHERS[1], v6, 5, 16394, 700.0, 0x8888_0008),
            200,
            Suite::AeadAes256Gcm,
            100,
        ),
    ]
}

/// Makes the LE key, the warrant, the records (one tampered) and the
/// capture's packets (with keep-alives and a non-RTP datagram mixed in).
/// `import` puts the records in the store directly (else only the bundle).
pub fn build(dir: &Path, v6: bool, packets: u32, import: bool) -> Scenario {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("le-private.key");
    let public = dir.join("le-public.key");
    cablekey_keyfile::generate_keypair(&key, &public).unwrap();
    let le = cablekey_keyfile::load_public_key(&public).unwrap();
    let data = dir.join("calea-data");
    let mut sealer = EpochSealer::new(le, EpochPolicy::default());

    let [good, tampered, stranger] = calls(v6, packets);
    let mut lines = Vec::new();
    let mut all = Vec::new();
    for call in [&good, &tampered, &stranger] {
        let k = synth::call_key().unwrap();
        let (epoch, mut record) = synth::escrow(&mut sealer, call, &k).unwrap();
        if let Some(e) = epoch {
            lines.push(bundle::epoch_line(&e));
        }
        if call.call_id == TAMPERED {
            // Someone swapped the caller's endpoint after sealing.
            record.meta.caller.endpoint = "aaln/9@elsewhere".into();
        }
        record.ended_unix_ms = Some(call.start_unix_ms + u64::from(packets) * 20);
        lines.push(bundle::record_line(&record));
        all.extend(synth::media(call, &k).unwrap());
    }
    // osmo-mgw keep-alives and some signaling on the media ports.
    for i in 0..5u64 {
        let t = std::time::Duration::from_millis(T0 + 5 + i * 500);
        let ka =
            cablekey_calea_server::net::build_udp(good.callee.media, good.caller.media, &[0x23])
                .unwrap();
        all.push(Packet { time: t, ip: ka });
        let text = cablekey_calea_server::net::build_udp(
            good.caller.media,
            good.callee.media,
            b"NTFY 1 aaln/1 MGCP 1.0\r\n",
        )
        .unwrap();
        all.push(Packet { time: t, ip: text });
    }
    all.sort_by_key(|p| p.time);
    let bundle_path = dir.join("records.jsonl");
    std::fs::write(&bundle_path, lines.join("\n") + "\n").unwrap();
    if import {
        let store = RecordStore::open(&data).unwrap();
        let r = bundle::import(&store, &bundle_path).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let mut book = WarrantBook::load(&data).unwrap();
        book.add(Warrant {
            case_id: CASE.into(),
            target: TARGET.into(),
            start_unix_ms: T0 - 3_600_000,
            end_unix_ms: T0 + 3_600_000,
            modes: vec![Mode::Historical],
            collector: "127.0.0.1:5000".parse().unwrap(),
            cci: None,
            revoked_unix_ms: None,
        })
        .unwrap();
    }
    Scenario {
        dir: dir.to_path_buf(),
        data,
        key,
        packets: all,
        good,
        stranger,
        bundle: bundle_path,
    }
}

pub fn window() -> (String, String) {
    (
        clock::rfc3339(T0 - 3_600_000),
        clock::rfc3339(T0 + 3_600_000),
    )
}

/// Runs tshark on a decrypted pcap with the call's ports decoded as RTP:
/// (RTP packets, malformed packets).
pub fn tshark_rtp(pcap: &Path, ports: [u16; 2]) -> (usize, usize) {
    let count = |filter: &str| -> usize {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(["-d", &format!("udp.port=={},rtp", ports[0])])
            .args(["-d", &format!("udp.port=={},rtp", ports[1])])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark is installed by scripts/setup.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    (count("rtp && rtp.p_type == 0"), count("_ws.malformed"))
}
