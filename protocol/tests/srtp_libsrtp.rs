//! Interop with the system libsrtp2, both ways, for every suite it shares
//! with us (Debian builds it with GCM). Needs libsrtp2-dev: without it the
//! helper crate's build fails, so this test fails rather than skips.

mod srtp_common;

use cablekey_libsrtp_shim as libsrtp;
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::{master_key, Direction};
use cablekey_protocol::srtp::{SrtpContext, Suite};
use srtp_common::*;

const SUITES: [(Suite, libsrtp::Suite); 3] = [
    (
        Suite::AesCm128HmacSha1_80,
        libsrtp::Suite::AesCm128HmacSha1_80,
    ),
    (Suite::AeadAes128Gcm, libsrtp::Suite::AeadAes128Gcm),
    (Suite::AeadAes256Gcm, libsrtp::Suite::AeadAes256Gcm),
];

/// Master key || salt for `suite`, from a per-call derivation.
fn material(suite: Suite, dir: Direction) -> Vec<u8> {
    let k = SecretBytes::new(&[0x5a; 32]).unwrap();
    let mk = master_key(&k, b"interop-call", suite, dir).unwrap();
    [mk.key.expose(), mk.salt.expose()].concat()
}

fn ours(suite: Suite, m: &[u8]) -> SrtpContext {
    let kl = suite.master_key_len();
    SrtpContext::new(suite, &m[..kl], &m[kl..]).unwrap()
}

/// RTP packets of assorted shapes: CSRCs, a header extension, padding flag,
/// empty and long payloads, and a sequence number that wraps.
fn packets(ssrc: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..400u16 {
        let seq = 65_300u16.wrapping_add(i);
        let mut p = rtp(seq, ssrc, [160, 0, 1, 17, 1200][usize::from(i) % 5]);
        match i % 7 {
            1 => {
                // Two CSRCs.
                p[0] |= 2;
                p.splice(12..12, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]);
            }
            2 => {
                // A one-word RFC 8285 extension.
                p[0] |= 0x10;
                p.splice(12..12, [0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
            }
            _ => {}
        }
        out.push(p);
    }
    out
}

#[test]
fn libsrtp_has_every_shared_suite() {
    for (_, theirs) in SUITES {
        let m = vec![
            1u8;
            if theirs == libsrtp::Suite::AeadAes256Gcm {
                44
            } else if theirs == libsrtp::Suite::AeadAes128Gcm {
                28
            } else {
                30
            }
        ];
        libsrtp::Session::new(theirs, true, &m)
            .unwrap_or_else(|e| panic!("libsrtp2 {} lacks {theirs:?}: {e:?}", libsrtp::version()));
    }
}

#[test]
fn ours_to_libsrtp() {
    for (suite, theirs) in SUITES {
        let m = material(suite, Direction::CallerToCallee);
        let mut tx = ours(suite, &m);
        let mut rx = libsrtp::Session::new(theirs, false, &m).unwrap();
        for p in packets(0xcafe_0001) {
            let mut buf = protect(&mut tx, &p).unwrap();
            let n = rx
                .unprotect(&mut buf)
                .unwrap_or_else(|e| panic!("{suite}: libsrtp refused ours: {e:?}"));
            assert_eq!(buf[..n], p[..], "{suite}");
        }
        for words in [0, 1, 6, 100] {
            let p = rtcp(0xcafe_0001, words);
            let mut buf = protect_rtcp(&mut tx, &p).unwrap();
            let n = rx
                .unprotect_rtcp(&mut buf)
                .unwrap_or_else(|e| panic!("{suite}: libsrtp refused our SRTCP: {e:?}"));
            assert_eq!(buf[..n], p[..], "{suite}");
        }
        // And libsrtp rejects what we would reject.
        let mut bad = protect(&mut tx, &rtp(1000, 0xcafe_0001, 160)).unwrap();
        bad[20] ^= 1;
        assert!(rx.unprotect(&mut bad).is_err(), "{suite}");
    }
}

#[test]
fn libsrtp_to_ours() {
    for (suite, theirs) in SUITES {
        let m = material(suite, Direction::CalleeToCaller);
        let mut tx = libsrtp::Session::new(theirs, true, &m).unwrap();
        let mut rx = ours(suite, &m);
        let room = libsrtp::trailer_room();
        for p in packets(0xcafe_0002) {
            let mut buf = p.clone();
            buf.resize(p.len() + room, 0);
            let n = tx.protect(&mut buf, p.len()).unwrap();
            assert_eq!(
                unprotect(&mut rx, &buf[..n])
                    .unwrap_or_else(|e| panic!("{suite}: we refused libsrtp's: {e:?}")),
                p,
                "{suite}"
            );
        }
        assert_eq!(
            rx.rtp_position(0xcafe_0002),
            Some((1, 65_300u16.wrapping_add(399)))
        );
        for words in [0, 1, 6, 100] {
            let p = rtcp(0xcafe_0002, words);
            let mut buf = p.clone();
            buf.resize(p.len() + room, 0);
            let n = tx.protect_rtcp(&mut buf, p.len()).unwrap();
            assert_eq!(unprotect_rtcp(&mut rx, &buf[..n]).unwrap(), p, "{suite}");
        }
    }
}
