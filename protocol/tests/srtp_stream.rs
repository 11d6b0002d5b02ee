//! Stream behaviour: round trips, rejection without side effects, replay,
//! rollover, limits, and the per-call derivation.

mod srtp_common;

use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::srtp::derive::{master_key, Direction};
use cablekey_protocol::srtp::{SrtpContext, SrtpError, Suite, MAX_PACKET, MAX_STREAMS};
use srtp_common::*;

const SSRC: u32 = 0x1234_5678;

fn call_key(byte: u8) -> SecretBytes {
    SecretBytes::new(&[byte; 32]).unwrap()
}

/// A sender and a receiver for one direction of a call.
fn pair(suite: Suite) -> (SrtpContext, SrtpContext) {
    let mk = master_key(&call_key(7), b"call-1", suite, Direction::CallerToCallee).unwrap();
    (mk.context().unwrap(), mk.context().unwrap())
}

#[test]
fn round_trip_every_suite() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite);
        for seq in 0..300u16 {
            let p = rtp(seq, SSRC, 160);
            let s = protect(&mut tx, &p).unwrap();
            assert_eq!(s.len(), p.len() + suite.tag_len());
            assert_ne!(s[12..172], p[12..], "{suite} payload not encrypted");
            assert_eq!(unprotect(&mut rx, &s).unwrap(), p, "{suite}");
        }
        for words in [0, 1, 6, 40] {
            let p = rtcp(SSRC, words);
            let s = protect_rtcp(&mut tx, &p).unwrap();
            assert_eq!(s.len(), p.len() + 4 + suite.tag_len());
            assert_eq!(unprotect_rtcp(&mut rx, &s).unwrap(), p, "{suite}");
        }
        assert_eq!(rx.rtp_position(SSRC), Some((0, 299)));
    }
}

#[test]
fn tampering_is_rejected_and_changes_nothing() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite);
        let first = protect(&mut tx, &rtp(10, SSRC, 160)).unwrap();
        unprotect(&mut rx, &first).unwrap();
        let good = protect(&mut tx, &rtp(11, SSRC, 160)).unwrap();
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                let err = unprotect(&mut rx, &bad).unwrap_err();
                if i >= 12 {
                    assert_eq!(err, SrtpError::AuthFailed, "{suite} byte {i}");
                }
                assert_eq!(rx.rtp_position(SSRC), Some((0, 10)), "{suite} byte {i}");
            }
        }
        assert_eq!(unprotect(&mut rx, &good).unwrap(), rtp(11, SSRC, 160));

        let p = rtcp(SSRC, 6);
        let good = protect_rtcp(&mut tx, &p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x04;
            assert!(
                unprotect_rtcp(&mut rx, &bad).is_err(),
                "{suite} rtcp byte {i}"
            );
        }
        assert_eq!(unprotect_rtcp(&mut rx, &good).unwrap(), p);
    }
}

#[test]
fn truncation_is_rejected_and_changes_nothing() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite);
        let good = protect(&mut tx, &rtp(1, SSRC, 160)).unwrap();
        for n in 0..good.len() {
            let err = unprotect(&mut rx, &good[..n]).unwrap_err();
            assert!(
                matches!(
                    err,
                    SrtpError::TooShort | SrtpError::AuthFailed | SrtpError::BadHeader
                ),
                "{suite} len {n}: {err:?}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(unprotect(&mut rx, &long), Err(SrtpError::AuthFailed));
        assert_eq!(rx.rtp_position(SSRC), None);
        unprotect(&mut rx, &good).unwrap();

        let good = protect_rtcp(&mut tx, &rtcp(SSRC, 3)).unwrap();
        for n in 0..good.len() {
            assert!(
                unprotect_rtcp(&mut rx, &good[..n]).is_err(),
                "{suite} rtcp len {n}"
            );
        }
        unprotect_rtcp(&mut rx, &good).unwrap();
    }
}

#[test]
fn wrong_key_wrong_direction_wrong_call() {
    for suite in Suite::ALL {
        let k = call_key(7);
        let mut tx = master_key(&k, b"call-1", suite, Direction::CallerToCallee)
            .unwrap()
            .context()
            .unwrap();
        let others = [
            master_key(&k, b"call-1", suite, Direction::CalleeToCaller),
            master_key(&k, b"call-2", suite, Direction::CallerToCallee),
            master_key(&call_key(8), b"call-1", suite, Direction::CallerToCallee),
        ];
        let s = protect(&mut tx, &rtp(5, SSRC, 160)).unwrap();
        let r = protect_rtcp(&mut tx, &rtcp(SSRC, 2)).unwrap();
        for other in others {
            let mut rx = other.unwrap().context().unwrap();
            assert_eq!(
                unprotect(&mut rx, &s),
                Err(SrtpError::AuthFailed),
                "{suite}"
            );
            assert_eq!(
                unprotect_rtcp(&mut rx, &r),
                Err(SrtpError::AuthFailed),
                "{suite}"
            );
            assert_eq!(rx.rtp_position(SSRC), None);
        }
    }
}

/// Every packet delivered five times, in a shuffled order within the
/// window: each is played out exactly once.
#[test]
fn replays_are_delivered_once() {
    for suite in Suite::ALL {
        let (mut tx, mut rx) = pair(suite);
        let sent: Vec<Vec<u8>> = (0..400u16)
            .map(|seq| protect(&mut tx, &rtp(seq.wrapping_add(65_300), SSRC, 160)).unwrap())
            .collect();
        let mut arrivals = Vec::new();
        for (i, p) in sent.iter().enumerate() {
            for copy in 0..5 {
                // Copies trail the original by up to ~40 packets.
                arrivals.push((i * 8 + copy * 9 + (i * 7919 + copy * 104_729) % 13, p));
            }
        }
        arrivals.sort_by_key(|(at, _)| *at);
        let (mut delivered, mut replayed) = (0, 0);
        for (_, p) in arrivals {
            match unprotect(&mut rx, p) {
                Ok(_) => delivered += 1,
                Err(SrtpError::Replayed) => replayed += 1,
                Err(e) => panic!("{suite}: {e:?}"),
            }
        }
        assert_eq!((delivered, replayed), (400, 1600), "{suite}");
        assert_eq!(
            rx.rtp_position(SSRC),
            Some((1, 65_299u16.wrapping_add(400)))
        );

        let r: Vec<Vec<u8>> = (0..20)
            .map(|_| protect_rtcp(&mut tx, &rtcp(SSRC, 2)).unwrap())
            .collect();
        let mut ok = 0;
        for _ in 0..5 {
            for p in r.iter().rev() {
                ok += usize::from(unprotect_rtcp(&mut rx, p).is_ok());
            }
        }
        assert_eq!(ok, 20, "{suite} rtcp");
    }
}

#[test]
fn window_edges() {
    let (mut tx, mut rx) = pair(Suite::AeadAes128Gcm);
    let sent: Vec<Vec<u8>> = (0..300u16)
        .map(|seq| protect(&mut tx, &rtp(seq, SSRC, 20)).unwrap())
        .collect();
    unprotect(&mut rx, &sent[200]).unwrap();
    // 127 behind the newest is still in the window, 128 is not.
    assert!(unprotect(&mut rx, &sent[73]).is_ok());
    assert_eq!(unprotect(&mut rx, &sent[72]), Err(SrtpError::Replayed));
    assert!(unprotect(&mut rx, &sent[150]).is_ok());
    assert_eq!(unprotect(&mut rx, &sent[150]), Err(SrtpError::Replayed));
    // A jump ahead, then late packets inside the new window.
    unprotect(&mut rx, &sent[299]).unwrap();
    assert!(unprotect(&mut rx, &sent[201]).is_ok());
    assert_eq!(unprotect(&mut rx, &sent[200]), Err(SrtpError::Replayed));
    assert_eq!(rx.rtp_position(SSRC), Some((0, 299)));
}

/// Sends `count` packets from `seq` with some loss and one late packet
/// around each wrap; returns the last (ROC, SEQ) both ends agree on.
fn run_across_wraps(suite: Suite, first_roc: u32, mut seq: u16, count: u32) -> Option<(u32, u16)> {
    let (mut tx, mut rx) = pair(suite);
    tx.join_stream(SSRC, first_roc, 1).unwrap();
    rx.join_stream(SSRC, first_roc, 1).unwrap();
    let mut held = None;
    for n in 0..count {
        let p = rtp(seq, SSRC, 20);
        let s = protect(&mut tx, &p).unwrap();
        if seq == 65_534 {
            held = Some((s, p));
        } else if n % 50 != 3 {
            assert_eq!(unprotect(&mut rx, &s).unwrap(), p, "{suite} seq {seq}");
        }
        if seq == 2 {
            if let Some((s, p)) = held.take() {
                assert_eq!(unprotect(&mut rx, &s).unwrap(), p, "{suite} late packet");
            }
        }
        seq = seq.wrapping_add(1);
    }
    assert_eq!(tx.rtp_position(SSRC), rx.rtp_position(SSRC));
    rx.rtp_position(SSRC)
}

#[test]
fn rollover_past_65535() {
    for suite in Suite::ALL {
        // Through the first wrap, and through a wrap far up the ROC range.
        assert_eq!(run_across_wraps(suite, 0, 64_000, 3_000), Some((1, 1_463)));
        assert_eq!(
            run_across_wraps(suite, 0xfffe, 65_500, 1_000),
            Some((0xffff, 963))
        );
    }
    // The whole sequence space, twice round, for one suite.
    assert_eq!(
        run_across_wraps(Suite::AesCm128HmacSha1_80, 0, 0, 140_000),
        Some((2, 8_927))
    );
}

#[test]
fn joining_a_stream_in_progress() {
    let suite = Suite::AesCm128HmacSha1_80;
    let (mut tx, _) = pair(suite);
    tx.join_stream(SSRC, 5, 1).unwrap();
    let s = protect(&mut tx, &rtp(100, SSRC, 20)).unwrap();
    let (_, mut late) = pair(suite);
    // Without the ROC the receiver guesses 0 and the tag fails ...
    assert_eq!(unprotect(&mut late, &s), Err(SrtpError::AuthFailed));
    // ... with it, the packet decrypts.
    late.join_stream(SSRC, 5, 1).unwrap();
    assert_eq!(unprotect(&mut late, &s).unwrap(), rtp(100, SSRC, 20));
    assert_eq!(late.join_stream(SSRC, 6, 1), Err(SrtpError::StreamExists));
}

#[test]
fn sender_refuses_to_reuse_an_index() {
    let (mut tx, _) = pair(Suite::AeadAes128Gcm);
    protect(&mut tx, &rtp(9, SSRC, 20)).unwrap();
    assert_eq!(
        protect(&mut tx, &rtp(9, SSRC, 21)),
        Err(SrtpError::IndexReused)
    );
    protect(&mut tx, &rtp(10, SSRC, 20)).unwrap();
}

#[test]
fn key_exhaustion() {
    let (mut tx, _) = pair(Suite::AeadAes128Gcm);
    tx.join_stream(SSRC, u32::MAX, 0x7fff_ffff).unwrap();
    protect(&mut tx, &rtp(65_535, SSRC, 20)).unwrap();
    assert_eq!(
        protect(&mut tx, &rtp(0, SSRC, 20)),
        Err(SrtpError::KeyExhausted)
    );
    protect_rtcp(&mut tx, &rtcp(SSRC, 1)).unwrap();
    assert_eq!(
        protect_rtcp(&mut tx, &rtcp(SSRC, 1)),
        Err(SrtpError::KeyExhausted)
    );
}

#[test]
fn direction_is_fixed_by_first_use() {
    let (mut tx, mut rx) = pair(Suite::AeadChaCha20Poly1305);
    let s = protect(&mut tx, &rtp(1, SSRC, 20)).unwrap();
    assert_eq!(unprotect(&mut tx, &s), Err(SrtpError::WrongDirection));
    unprotect(&mut rx, &s).unwrap();
    assert_eq!(
        protect(&mut rx, &rtp(2, SSRC, 20)),
        Err(SrtpError::WrongDirection)
    );
    assert_eq!(
        protect_rtcp(&mut rx, &rtcp(SSRC, 1)),
        Err(SrtpError::WrongDirection)
    );
}

#[test]
fn stream_table_is_bounded() {
    let (mut tx, mut rx) = pair(Suite::AesCm128HmacSha1_80);
    let mut sent = Vec::new();
    for i in 0..=MAX_STREAMS as u32 {
        let r = protect(&mut tx, &rtp(1, 100 + i, 20));
        if (i as usize) < MAX_STREAMS {
            sent.push(r.unwrap());
        } else {
            assert_eq!(r, Err(SrtpError::TooManyStreams));
        }
    }
    for s in &sent {
        unprotect(&mut rx, s).unwrap();
    }
    // A forged packet for a new SSRC cannot take a slot, and a full table
    // refuses new SSRCs before any crypto.
    let (mut tx2, _) = pair(Suite::AesCm128HmacSha1_80);
    let extra = protect(&mut tx2, &rtp(1, 999, 20)).unwrap();
    assert_eq!(unprotect(&mut rx, &extra), Err(SrtpError::TooManyStreams));
}

#[test]
fn forged_packets_do_not_claim_stream_slots() {
    let (mut tx, mut rx) = pair(Suite::AeadAes128Gcm);
    for i in 0..100u32 {
        let mut forged = rtp(1, 5000 + i, 40);
        forged.resize(forged.len() + 16, 0xaa);
        assert_eq!(unprotect(&mut rx, &forged), Err(SrtpError::AuthFailed));
    }
    let s = protect(&mut tx, &rtp(1, SSRC, 20)).unwrap();
    unprotect(&mut rx, &s).unwrap();
}

#[test]
fn buffer_and_length_errors() {
    let (mut tx, _) = pair(Suite::AeadAes256Gcm);
    let p = rtp(1, SSRC, 20);
    let mut buf = p.clone();
    buf.resize(p.len() + 15, 0);
    assert_eq!(
        tx.protect(&mut buf, p.len()),
        Err(SrtpError::BufferTooSmall)
    );
    assert_eq!(tx.protect(&mut buf, 100), Err(SrtpError::BufferTooSmall));
    assert_eq!(tx.protect(&mut buf[..11], 11), Err(SrtpError::TooShort));
    let mut big = vec![0u8; 70_000];
    big[0] = 0x80;
    assert_eq!(tx.protect(&mut big, 66_000), Err(SrtpError::TooLong));
    let mut bad = rtp(1, SSRC, 20);
    bad[0] = 0x40;
    bad.resize(bad.len() + 16, 0);
    assert_eq!(tx.protect(&mut bad, 32), Err(SrtpError::BadHeader));
    assert_eq!(tx.rtp_position(SSRC), None);
    // The largest packet that fits MAX_PACKET once protected round-trips.
    let (mut tx, mut rx) = pair(Suite::AeadAes256Gcm);
    let max = rtp(1, SSRC, MAX_PACKET - 12 - 16);
    let s = protect(&mut tx, &max).unwrap();
    assert_eq!(s.len(), MAX_PACKET);
    assert_eq!(unprotect(&mut rx, &s).unwrap(), max);
    assert_eq!(
        protect(&mut tx, &rtp(2, SSRC, MAX_PACKET - 12 - 15)),
        Err(SrtpError::TooLong)
    );
}

#[test]
fn mki_is_carried_and_checked() {
    for suite in Suite::ALL {
        let mk = master_key(&call_key(1), b"c", suite, Direction::CallerToCallee).unwrap();
        let mut tx = mk.context().unwrap().with_mki(&[1, 2, 3, 4]).unwrap();
        let mut rx = mk.context().unwrap().with_mki(&[1, 2, 3, 4]).unwrap();
        let mut other = mk.context().unwrap().with_mki(&[1, 2, 3, 5]).unwrap();
        let p = rtp(1, SSRC, 30);
        let s = protect(&mut tx, &p).unwrap();
        assert_eq!(s.len(), p.len() + 4 + suite.tag_len());
        assert_eq!(unprotect(&mut other, &s), Err(SrtpError::UnknownMki));
        assert_eq!(unprotect(&mut rx, &s).unwrap(), p);
        let r = protect_rtcp(&mut tx, &rtcp(SSRC, 2)).unwrap();
        assert_eq!(unprotect_rtcp(&mut other, &r), Err(SrtpError::UnknownMki));
        assert_eq!(unprotect_rtcp(&mut rx, &r).unwrap(), rtcp(SSRC, 2));
    }
}

#[test]
fn secrets_do_not_print() {
    let mk = master_key(
        &call_key(0xab),
        b"call-1",
        Suite::AeadAes128Gcm,
        Direction::CallerToCallee,
    )
    .unwrap();
    let shown = format!("{mk:?} {:?}", mk.context().unwrap());
    let key_hex = to_hex(mk.key.expose());
    assert!(!shown.contains(&key_hex[..8]), "{shown}");
    assert!(shown.contains("fp:"), "{shown}");
}

/// The derivation in docs/srtp.md, frozen. The expected bytes were computed
/// independently (Python `hmac`/`hashlib`, RFC 5869 by hand) from the text
/// of docs/srtp.md; the CALEA server and POTS gateway must match them.
#[test]
fn per_call_derivation_vector() {
    let k: Vec<u8> = (0u8..32).collect();
    let k = SecretBytes::new(&k).unwrap();
    let id = b"A3C47F21456789F0";
    let cases = [
        (Suite::AeadAes128Gcm, Direction::CallerToCallee, "95929b93c7a0d8cbb2c10f8283012bcf e782675716a5427ee70efaa1"),
        (Suite::AeadAes128Gcm, Direction::CalleeToCaller, "39a24da6e2b75fd91e75b73c5d1b51e3 8a8c909959080529d48da12e"),
        (Suite::AesCm128HmacSha1_80, Direction::CallerToCallee, "5d1b7fd78578e08ef4098d1e400b3eaf 065ef08bea74b3655d3c17dae0b9"),
        (Suite::AeadAes256Gcm, Direction::CallerToCallee, "f535a86a9c7bf906dfe13e19a558dabdfab7d811031d129bdde1408d1a41e413 2811bf31ea995c16ab11164e"),
        (Suite::AeadChaCha20Poly1305, Direction::CalleeToCaller, "c87ac91fa4522fc139e2317c1ee39704547bc654e4034f345717ffd4f978cea1 311a045589c2bd0e889679f1"),
    ];
    for (suite, dir, want) in cases {
        let mk = master_key(&k, id, suite, dir).unwrap();
        let got = format!("{} {}", to_hex(mk.key.expose()), to_hex(mk.salt.expose()));
        assert_eq!(got, want, "{suite} {}", dir.label());
    }
    assert_eq!(
        master_key(&k, b"", Suite::AeadAes128Gcm, Direction::CallerToCallee).err(),
        Some(SrtpError::BadCallId)
    );
    assert_eq!(
        master_key(
            &k,
            &[b'x'; 256],
            Suite::AeadAes128Gcm,
            Direction::CallerToCallee
        )
        .err(),
        Some(SrtpError::BadCallId)
    );
    let short = SecretBytes::new(&[0; 16]).unwrap();
    assert_eq!(
        master_key(&short, id, Suite::AeadAes128Gcm, Direction::CallerToCallee).err(),
        Some(SrtpError::BadKeyLength)
    );
}

#[test]
fn context_size_is_bounded() {
    // One context per direction lives in the CTA for the call's duration.
    let size = std::mem::size_of::<SrtpContext>();
    println!("SrtpContext: {size} bytes");
    assert!(size <= 4096, "{size}");
}

/// The CALEA view: given only K and the call id, a collector derives both
/// directions' keys and decrypts the copies of each end's outbound media,
/// including copies that start mid-call (it is told the ROC).
#[test]
fn collector_decrypts_both_directions_from_the_call_key() {
    let k = SecretBytes::new(&[0x42; 32]).unwrap();
    let id = b"9F3A0C11";
    let suite = Suite::AeadAes128Gcm;
    let ctx = |dir| master_key(&k, id, suite, dir).unwrap().context().unwrap();
    let (a, b) = (0xaaaa_0001, 0xbbbb_0002);
    // A call some three rollovers old.
    let (mut caller_tx, mut callee_tx) = (
        ctx(Direction::CallerToCallee),
        ctx(Direction::CalleeToCaller),
    );
    caller_tx.join_stream(a, 3, 1).unwrap();
    callee_tx.join_stream(b, 3, 1).unwrap();
    let mut copies = Vec::new();
    for i in 0..3_000u16 {
        let seq = 64_000u16.wrapping_add(i);
        let up = protect(&mut caller_tx, &rtp(seq, a, 160)).unwrap();
        let down = protect(&mut callee_tx, &rtp(seq, b, 160)).unwrap();
        // The tap starts late, before this stream's next rollover.
        if i >= 500 {
            copies.push((up, down));
        }
    }
    let (mut from_caller, mut from_callee) = (
        ctx(Direction::CallerToCallee),
        ctx(Direction::CalleeToCaller),
    );
    from_caller.join_stream(a, 3, 1).unwrap();
    from_callee.join_stream(b, 3, 1).unwrap();
    let mut swapped = ctx(Direction::CalleeToCaller);
    for (up, down) in &copies {
        assert!(unprotect(&mut from_caller, up).is_ok());
        assert!(unprotect(&mut from_callee, down).is_ok());
        // A direction's packets are refused under the other's key.
        assert_eq!(unprotect(&mut swapped, up), Err(SrtpError::AuthFailed));
    }
    assert_eq!(
        from_caller.rtp_position(a),
        Some((4, 64_000u16.wrapping_add(2_999)))
    );
}
