//! Known-answer tests from the shared corpus: RFC 7714 sections 16 and 17,
//! and the libsrtp, pion and rlib protect vectors.

mod srtp_common;

use cablekey_protocol::srtp::{SessionKeys, SrtpContext, SrtpError, Suite};
use serde_json::Value;
use srtp_common::*;

const RFC_SALT: &str = "517569642070726f2071756f";

fn session_ctx(suite: Suite, key: &[u8]) -> SrtpContext {
    let salt = hex(RFC_SALT);
    let k = || SessionKeys {
        key,
        salt: &salt,
        auth: &[],
    };
    SrtpContext::from_session_keys(suite, k(), k()).unwrap()
}

#[test]
fn rfc7714_json_vectors() {
    let doc: Value = serde_json::from_str(&read_corpus(
        "srtp-rfc7714/rfc7714-srtp-aes-gcm-vectors.json",
    ))
    .unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    for v in vectors {
        let suite = Suite::from_name(v["suite"].as_str().unwrap()).unwrap();
        let key = hex(v["session_key"].as_str().unwrap());
        assert_eq!(v["session_salt"].as_str().unwrap(), RFC_SALT);
        let plain = hex(v["rtp_packet"].as_str().unwrap());
        let sealed = hex(v["srtp_packet"].as_str().unwrap());
        let mut tx = session_ctx(suite, &key);
        assert_eq!(
            to_hex(&protect(&mut tx, &plain).unwrap()),
            to_hex(&sealed),
            "{}",
            v["name"]
        );
        let mut rx = session_ctx(suite, &key);
        assert_eq!(unprotect(&mut rx, &sealed).unwrap(), plain);
    }
}

/// One subsection of the RFC text: its title, key, first and last packet.
struct Section {
    title: String,
    key: Vec<u8>,
    input: Vec<u8>,
    output: Vec<u8>,
}

fn is_hex_words(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty()
        && t.split_whitespace()
            .all(|w| w.len() % 2 == 0 && w.chars().all(|c| c.is_ascii_hexdigit()))
}

fn sections(text: &str) -> Vec<Section> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i];
            l.starts_with("1")
                && l.contains("  S")
                && l.split_whitespace().next().unwrap().matches('.').count() >= 2
        })
        .collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let body = &lines[start..end];
        let mut packets = Vec::new();
        let mut key = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let l = body[i].trim();
            if l.ends_with("packet:") {
                let mut h = String::new();
                i += 1;
                while i < body.len() && body[i].trim().is_empty() {
                    i += 1;
                }
                while i < body.len() && is_hex_words(body[i]) {
                    h.push_str(body[i]);
                    i += 1;
                }
                packets.push(hex(&h));
                continue;
            }
            if let Some(rest) = l.strip_prefix("Key:") {
                let mut h = rest.to_string();
                while i + 1 < body.len() && is_hex_words(body[i + 1]) {
                    i += 1;
                    h.push_str(body[i]);
                }
                key = hex(&h);
            }
            i += 1;
        }
        let title = body[0].trim().to_string();
        if packets.is_empty() {
            continue; // a heading such as "16.1.  SRTP AEAD_AES_128_GCM"
        }
        // Verification sections print only the packet they verify.
        assert!(
            packets.len() >= 2 || title.contains("Verification"),
            "{title}"
        );
        out.push(Section {
            title,
            key,
            input: packets[0].clone(),
            output: packets[packets.len() - 1].clone(),
        });
    }
    out
}

fn suite_of(title: &str) -> Suite {
    if title.contains("AEAD_AES_128_GCM") {
        Suite::AeadAes128Gcm
    } else {
        assert!(title.contains("AEAD_AES_256_GCM"), "{title}");
        Suite::AeadAes256Gcm
    }
}

#[test]
fn rfc7714_section16_srtp() {
    let all = sections(&read_corpus(
        "srtp-rfc7714/rfc7714-section16-rtp-vectors.txt",
    ));
    assert_eq!(all.len(), 8, "16.1.1-16.2.4");
    let mut checked = 0;
    for s in &all {
        let suite = suite_of(&s.title);
        if s.title.contains("Encryption") {
            let mut tx = session_ctx(suite, &s.key);
            assert_eq!(
                to_hex(&protect(&mut tx, &s.input).unwrap()),
                to_hex(&s.output),
                "{}",
                s.title
            );
            checked += 1;
        } else if s.title.contains("Decryption") {
            // The RFC prints only the decrypted payload here.
            let mut rx = session_ctx(suite, &s.key);
            let plain = unprotect(&mut rx, &s.input).unwrap();
            assert_eq!(plain[..12], s.input[..12]);
            assert_eq!(to_hex(&plain[12..]), to_hex(&s.output), "{}", s.title);
            checked += 1;
        } else {
            // 16.x.3/16.x.4: SRTP with authentication but no encryption, a
            // policy we do not offer. The encrypted form of the same packet
            // must not verify as an authenticated-only one, and vice versa.
            let mut rx = session_ctx(suite, &s.key);
            let tagged = if s.title.contains("Tagging") {
                &s.output
            } else {
                &s.input
            };
            assert_eq!(
                unprotect(&mut rx, tagged),
                Err(SrtpError::AuthFailed),
                "{}",
                s.title
            );
        }
    }
    assert_eq!(checked, 4);
}

#[test]
fn rfc7714_section17_srtcp() {
    let all = sections(&read_corpus(
        "srtp-rfc7714/rfc7714-section17-rtcp-vectors.txt",
    ));
    assert_eq!(all.len(), 4, "17.1-17.4");
    for s in &all {
        let suite = suite_of(&s.title);
        let ssrc = u32::from_be_bytes(s.input[4..8].try_into().unwrap());
        if s.title.contains("Encryption and Tagging") {
            let mut tx = session_ctx(suite, &s.key);
            tx.join_stream(ssrc, 0, 0x5d4).unwrap();
            assert_eq!(
                to_hex(&protect_rtcp(&mut tx, &s.input).unwrap()),
                to_hex(&s.output),
                "{}",
                s.title
            );
            let mut rx = session_ctx(suite, &s.key);
            assert_eq!(unprotect_rtcp(&mut rx, &s.output).unwrap(), s.input);
        } else if s.title.contains("Tagging Only") {
            // We never send E=0, but accept it (RFC 3711 §3.4).
            let mut rx = session_ctx(suite, &s.key);
            assert_eq!(
                unprotect_rtcp(&mut rx, &s.output).unwrap(),
                s.input,
                "{}",
                s.title
            );
        } else {
            let mut rx = session_ctx(suite, &s.key);
            assert_eq!(
                to_hex(&unprotect_rtcp(&mut rx, &s.input).unwrap()),
                to_hex(&s.output),
                "{}",
                s.title
            );
            // The same packet again is a replay.
            assert_eq!(unprotect_rtcp(&mut rx, &s.input), Err(SrtpError::Replayed));
        }
    }
}

/// Suites in the protect vectors that we recognise and refuse.
const EXPECTED_UNSUPPORTED: &[&str] = &[
    "AES_CM_128_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_80",
    "AES_256_CM_HMAC_SHA1_32",
    "NULL_HMAC_SHA1_80",
    "NULL_HMAC_SHA1_32",
];

/// Runs one flat vector file; returns (checked, refused as unsupported).
fn run_flat(file: &str) -> (usize, usize) {
    let doc: Value = serde_json::from_str(&read_corpus(file)).unwrap();
    let (mut checked, mut refused) = (0, 0);
    for v in doc.as_array().unwrap() {
        let name = v["suite"].as_str().unwrap();
        let suite = match Suite::from_name(name) {
            Ok(s) => s,
            Err(e) => {
                assert_eq!(e, SrtpError::UnsupportedSuite, "{name}");
                assert!(EXPECTED_UNSUPPORTED.contains(&name), "{name}");
                refused += 1;
                continue;
            }
        };
        let key = hex(v["master_key"].as_str().unwrap());
        let salt = hex(v["master_salt"].as_str().unwrap());
        let mki = hex(v.get("mki").and_then(Value::as_str).unwrap_or(""));
        let plain = hex(v["plaintext"].as_str().unwrap());
        let sealed = hex(v["protected"].as_str().unwrap());
        let kind = v["kind"].as_str().unwrap();
        let counter = ["roc", "srtcp_index", "roc_or_srtcp_index"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_u64))
            .unwrap() as u32;
        let ctx = || {
            let c = SrtpContext::new(suite, &key, &salt).unwrap();
            if mki.is_empty() {
                c
            } else {
                c.with_mki(&mki).unwrap()
            }
        };
        let (mut tx, mut rx) = (ctx(), ctx());
        let label = format!("{file} {} {kind} {name}", v["name"]);
        if kind.starts_with("srtcp") {
            let ssrc = u32::from_be_bytes(plain[4..8].try_into().unwrap());
            tx.join_stream(ssrc, 0, counter).unwrap();
            assert_eq!(
                to_hex(&protect_rtcp(&mut tx, &plain).unwrap()),
                to_hex(&sealed),
                "{label}"
            );
            assert_eq!(unprotect_rtcp(&mut rx, &sealed).unwrap(), plain, "{label}");
        } else {
            assert_eq!(kind.trim_end_matches("+mki"), "srtp");
            let ssrc = u32::from_be_bytes(plain[8..12].try_into().unwrap());
            tx.join_stream(ssrc, counter, 1).unwrap();
            rx.join_stream(ssrc, counter, 1).unwrap();
            assert_eq!(
                to_hex(&protect(&mut tx, &plain).unwrap()),
                to_hex(&sealed),
                "{label}"
            );
            assert_eq!(unprotect(&mut rx, &sealed).unwrap(), plain, "{label}");
        }
        checked += 1;
    }
    (checked, refused)
}

#[test]
fn libsrtp_protect_vectors() {
    assert_eq!(
        run_flat("srtp-captures/vectors/libsrtp_flat_verified.json"),
        (4, 4)
    );
}

#[test]
fn pion_protect_vectors() {
    assert_eq!(
        run_flat("srtp-captures/vectors/pion_flat_verified.json"),
        (12, 20)
    );
}

#[test]
fn rlib_protect_vectors() {
    // A real Chrome packet with a header extension, and an SR+SDES SRTCP.
    assert_eq!(
        run_flat("srtp-captures/vectors/rlib_rsrtp_verified.json"),
        (2, 0)
    );
}

#[test]
fn every_suite_name_round_trips() {
    for s in Suite::ALL {
        assert_eq!(Suite::from_name(s.name()), Ok(s));
    }
    assert_eq!(
        Suite::from_name("AES_CM_129_NONSENSE"),
        Err(SrtpError::UnknownSuite)
    );
}

/// libsrtp's NULL-cipher SRTCP vector carries E = 0: authenticated, not
/// encrypted. Key derivation is the same as for AES-CM, so our AES-CM
/// receiver must accept it as an unencrypted SRTCP packet.
#[test]
fn srtcp_with_e_flag_clear_is_accepted() {
    let doc: Value = serde_json::from_str(&read_corpus(
        "srtp-captures/vectors/libsrtp_flat_verified.json",
    ))
    .unwrap();
    let v = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["suite"] == "NULL_HMAC_SHA1_80" && v["kind"] == "srtcp")
        .unwrap();
    let key = hex(v["master_key"].as_str().unwrap());
    let salt = hex(v["master_salt"].as_str().unwrap());
    let sealed = hex(v["protected"].as_str().unwrap());
    let plain = hex(v["plaintext"].as_str().unwrap());
    assert_eq!(sealed[plain.len()] & 0x80, 0, "E flag clear");
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key, &salt).unwrap();
    assert_eq!(unprotect_rtcp(&mut rx, &sealed).unwrap(), plain);
    assert_eq!(unprotect_rtcp(&mut rx, &sealed), Err(SrtpError::Replayed));
    // Setting E on the same bytes breaks the tag.
    let mut flipped = sealed.clone();
    flipped[plain.len()] |= 0x80;
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key, &salt).unwrap();
    assert_eq!(
        unprotect_rtcp(&mut rx, &flipped),
        Err(SrtpError::AuthFailed)
    );
}
