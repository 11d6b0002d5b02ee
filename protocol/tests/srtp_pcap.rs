//! Real captures from the shared corpus (AES_CM_128_HMAC_SHA1_80), with
//! the keys their authors published: every packet must authenticate and
//! decrypt to the bytes the corpus index hashes.

mod srtp_common;

use std::collections::BTreeMap;

use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::{SrtpContext, Suite};
use sha2::{Digest, Sha256};
use srtp_common::*;

/// UDP datagrams of a classic little-endian Ethernet/IPv4 pcap, as
/// (source port, destination port, payload).
fn udp_datagrams(rel: &str) -> Vec<(u16, u16, Vec<u8>)> {
    let d = std::fs::read(corpus(rel)).unwrap();
    assert_eq!(d[..4], [0xd4, 0xc3, 0xb2, 0xa1], "{rel}: not a LE pcap");
    assert_eq!(
        u32::from_le_bytes(d[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= d.len() {
        let caplen = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &d[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let udp = &ip[ihl..];
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        out.push((sport, dport, udp[8..len].to_vec()));
    }
    out
}

fn is_rtcp(p: &[u8]) -> bool {
    (192..=223).contains(&p[1])
}

fn ctx(key_salt: &[u8]) -> SrtpContext {
    SrtpContext::new(
        Suite::AesCm128HmacSha1_80,
        &key_salt[..16],
        &key_salt[16..30],
    )
    .unwrap()
}

#[test]
fn marseillaise_capture() {
    let key = SecretBytes::from_base64("aSBrbm93IGFsbCB5b3VyIGxpdHRsZSBzZWNyZXRz").unwrap();
    let mut rx = ctx(key.expose());
    let mut hash = Sha256::new();
    let mut n = 0;
    for (_, _, p) in udp_datagrams("srtp-captures/pcap/gteissier_marseillaise-srtp.pcap") {
        let plain = unprotect(&mut rx, &p).unwrap();
        assert_eq!(plain[1] & 0x7f, 8, "PCMA");
        hash.update(&plain);
        n += 1;
    }
    assert_eq!(n, 11_888);
    assert_eq!(
        to_hex(&hash.finalize()),
        "4a30b5942a6cf4efe32b0972f6551a0d5a5776f713aaf22fe5fe926da64b7e19"
    );
}

#[test]
fn dtls_srtp_audio_video_capture() {
    // RFC 5764 order: client key | server key | client salt | server salt.
    let m = hex(&read_corpus("srtp-captures/pcap/dsrtp_av_material.hex"));
    let client = [&m[0..16], &m[32..46]].concat();
    let server = [&m[16..32], &m[46..60]].concat();
    let mut inbound = ctx(&server); // 49686 -> 60401
    let mut outbound = ctx(&client); // 60401 -> 49686
    let mut hashes: BTreeMap<u32, (usize, Sha256)> = BTreeMap::new();
    let (mut rtcp_in, mut rtcp_out) = (0, 0);
    for (sport, dport, p) in udp_datagrams("srtp-captures/pcap/dsrtp_av.pcap") {
        // RFC 7983 demultiplexing: only RTP/RTCP starts with 128..=191.
        if !(128..=191).contains(&p[0]) {
            continue;
        }
        match (sport, dport, is_rtcp(&p)) {
            (49686, 60401, false) => {
                let plain = unprotect(&mut inbound, &p).unwrap();
                let ssrc = u32::from_be_bytes(plain[8..12].try_into().unwrap());
                let e = hashes.entry(ssrc).or_insert_with(|| (0, Sha256::new()));
                e.0 += 1;
                e.1.update(&plain);
            }
            (49686, 60401, true) => {
                let plain = unprotect_rtcp(&mut inbound, &p).unwrap();
                assert_eq!(plain[1], 200);
                rtcp_in += 1;
            }
            (60401, 49686, true) => {
                unprotect_rtcp(&mut outbound, &p).unwrap();
                rtcp_out += 1;
            }
            other => panic!("unexpected flow {other:?}"),
        }
    }
    let got: Vec<(u32, usize, String)> = hashes
        .into_iter()
        .map(|(ssrc, (n, h))| (ssrc, n, to_hex(&h.finalize())))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                0xE454D8D4,
                1239,
                "334f091024d9e3a95ad10e7fcc646f503645702c21578e98d1843a0893599310".into()
            ),
            (
                0xFF8156B7,
                490,
                "fced7b8aabae7f9926c8bcbc991175db18f3bd1c10896fe0ed2120861d7c4295".into()
            ),
        ]
    );
    assert_eq!((rtcp_in, rtcp_out), (30, 15));
    // 1729 SRTP + 30 SRTCP inbound, as dsrtp's own test expects.
}

#[test]
fn capture_under_the_wrong_key_is_refused() {
    let m = hex(&read_corpus("srtp-captures/pcap/dsrtp_av_material.hex"));
    let client = [&m[0..16], &m[32..46]].concat();
    let mut wrong = ctx(&client);
    let mut refused = 0;
    for (sport, _, p) in udp_datagrams("srtp-captures/pcap/dsrtp_av.pcap") {
        if sport == 49686 && (128..=191).contains(&p[0]) && !is_rtcp(&p) {
            assert!(unprotect(&mut wrong, &p).is_err());
            refused += 1;
        }
    }
    assert_eq!(refused, 1729);
}
