//! Property tests: no input makes the SRTP code panic, and anything it
//! protects comes back unchanged.

mod srtp_common;

use cablekey_protocol::srtp::{SrtpContext, Suite};
use proptest::prelude::*;
use srtp_common::*;

fn ctx(suite: Suite) -> SrtpContext {
    let key = vec![0x11; suite.master_key_len()];
    let salt = vec![0x22; suite.master_salt_len()];
    SrtpContext::new(suite, &key, &salt).unwrap()
}

fn suite() -> impl Strategy<Value = Suite> {
    prop::sample::select(Suite::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(suite in suite(), bytes in prop::collection::vec(any::<u8>(), 0..1600), mki in any::<bool>()) {
        let mut rx = if mki { ctx(suite).with_mki(&[9, 9]).unwrap() } else { ctx(suite) };
        let mut a = bytes.clone();
        prop_assert!(rx.unprotect(&mut a).is_err());
        let mut b = bytes.clone();
        prop_assert!(rx.unprotect_rtcp(&mut b).is_err());
        // Nothing above may have disturbed the stream.
        let mut tx = if mki { ctx(suite).with_mki(&[9, 9]).unwrap() } else { ctx(suite) };
        let p = rtp(7, 0xabcd, 40);
        let s = protect(&mut tx, &p).unwrap();
        prop_assert_eq!(unprotect(&mut rx, &s).unwrap(), p);
    }

    #[test]
    fn arbitrary_bytes_into_protect_never_panic(suite in suite(), bytes in prop::collection::vec(any::<u8>(), 0..400), len in 0usize..500) {
        let mut tx = ctx(suite);
        let mut a = bytes.clone();
        let _ = tx.protect(&mut a, len);
        let mut b = bytes;
        let _ = tx.protect_rtcp(&mut b, len);
    }

    #[test]
    fn round_trip_any_shape(
        suite in suite(),
        csrcs in 0usize..16,
        ext_words in prop::option::of(0usize..8),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        seq in any::<u16>(),
        marker_pt in any::<u8>(),
    ) {
        let mut p = vec![0x80 | csrcs as u8, marker_pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef]);
        p.extend(std::iter::repeat_n(0x33, 4 * csrcs));
        if let Some(w) = ext_words {
            p[0] |= 0x10;
            p.extend_from_slice(&[0xbe, 0xde, 0, w as u8]);
            p.extend(std::iter::repeat_n(0x44, 4 * w));
        }
        p.extend_from_slice(&payload);
        let (mut tx, mut rx) = (ctx(suite), ctx(suite));
        let s = protect(&mut tx, &p).unwrap();
        prop_assert_eq!(unprotect(&mut rx, &s).unwrap(), p);

        let mut c = rtcp(0xdeadbeef, 0);
        c.extend_from_slice(&payload);
        let s = protect_rtcp(&mut tx, &c).unwrap();
        prop_assert_eq!(unprotect_rtcp(&mut rx, &s).unwrap(), c);
    }

    #[test]
    fn any_single_change_is_refused(suite in suite(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (mut tx, mut rx) = (ctx(suite), ctx(suite));
        let p = rtp(100, 0x55, 160);
        let s = protect(&mut tx, &p).unwrap();
        let mut bad = s.clone();
        bad[at.index(s.len())] ^= xor;
        prop_assert!(unprotect(&mut rx, &bad).is_err());
        prop_assert_eq!(unprotect(&mut rx, &s).unwrap(), p);
    }
}
