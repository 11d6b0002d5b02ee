//! Property tests of the escrow formats: no input makes a decoder panic,
//! generated records round-trip and open to their key, and a changed byte
//! never opens to a different key.

use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;

use cablekey_protocol::escrow::{
    open, open_epoch, open_record, CallMeta, EpochKey, EpochPolicy, EpochRecord, EpochSealer,
    EscrowRecord, LePrivateKey, Party,
};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant;

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

struct Fixture {
    sk: LePrivateKey,
    sealer: EpochSealer,
    epoch: EpochRecord,
    key: EpochKey,
    rng: TestRng,
}

/// One LE key and one long epoch for all cases: HPKE is slow in debug builds.
fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = TestRng(42);
        let sk = LePrivateKey::generate(&mut rng);
        let policy = EpochPolicy {
            max_age: core::time::Duration::from_secs(1 << 30),
            max_records: u64::MAX,
        };
        let mut sealer = EpochSealer::new(sk.public().clone(), policy);
        let first = sealer
            .seal(
                meta_of("first", "1", "2"),
                &key_of(&[1; 16]),
                Instant::ZERO,
                0,
                &mut rng,
            )
            .unwrap();
        let epoch = first.new_epoch.unwrap();
        let key = open_epoch(&sk, &epoch).unwrap();
        Mutex::new(Fixture {
            sk,
            sealer,
            epoch,
            key,
            rng,
        })
    })
}

fn meta_of(call_id: &str, a: &str, b: &str) -> CallMeta {
    CallMeta {
        call_id: call_id.into(),
        caller: Party {
            number: a.into(),
            endpoint: format!("aaln/1@{a}"),
        },
        callee: Party {
            number: b.into(),
            endpoint: format!("aaln/1@{b}"),
        },
        start_unix_ms: 7,
        suite: "AEAD_AES_256_GCM".into(),
    }
}

fn key_of(bytes: &[u8]) -> SecretBytes {
    SecretBytes::new(bytes).unwrap()
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).unwrap()
}

fn meta() -> impl Strategy<Value = CallMeta> {
    (
        text(32),
        text(32),
        text(255),
        text(32),
        text(255),
        any::<u64>(),
        text(64),
    )
        .prop_map(|(call_id, n1, e1, n2, e2, start_unix_ms, suite)| CallMeta {
            call_id,
            caller: Party {
                number: n1,
                endpoint: e1,
            },
            callee: Party {
                number: n2,
                endpoint: e2,
            },
            start_unix_ms,
            suite,
        })
}

fn seal(meta: CallMeta, key: &SecretBytes) -> EscrowRecord {
    let mut f = fixture().lock().unwrap();
    let f = &mut *f;
    let s = f
        .sealer
        .seal(meta, key, Instant::ZERO, 0, &mut f.rng)
        .unwrap();
    assert!(s.new_epoch.is_none());
    s.record
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        // Whatever decodes has exactly one encoding: the input.
        if let Ok(rec) = EscrowRecord::decode(&bytes) {
            prop_assert_eq!(rec.encode(), bytes.clone());
        }
        if let Ok(epoch) = EpochRecord::decode(&bytes) {
            prop_assert_eq!(epoch.encode(), bytes);
        }
    }

    #[test]
    fn generated_records_round_trip_and_open(
        meta in meta(),
        key in proptest::collection::vec(any::<u8>(), 16..=64),
        end in proptest::option::of(any::<u64>()),
    ) {
        let key = key_of(&key);
        let mut rec = seal(meta, &key);
        rec.ended_unix_ms = end;
        let back = EscrowRecord::decode(&rec.encode()).unwrap();
        prop_assert_eq!(&back, &rec);
        let f = fixture().lock().unwrap();
        prop_assert!(open_record(&f.key, &back).unwrap().ct_eq(&key));
    }

    #[test]
    fn a_changed_record_byte_never_opens_to_another_key(
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = key_of(&[0x33; 30]);
        let rec = seal(meta_of("c1", "+1555", "+1666"), &key);
        let mut bytes = rec.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(changed) = EscrowRecord::decode(&bytes) {
            let f = fixture().lock().unwrap();
            // Only the unbound end time may change and still open.
            if let Ok(k) = open_record(&f.key, &changed) {
                prop_assert!(k.ct_eq(&key));
                prop_assert_eq!(&changed.meta, &rec.meta);
                prop_assert_eq!(&changed.sealed, &rec.sealed);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_changed_epoch_byte_never_opens(at in 0usize..cablekey_protocol::escrow::EPOCH_RECORD_LEN, bit in 0u8..8) {
        let key = key_of(&[0x44; 30]);
        let rec = seal(meta_of("c2", "+1555", "+1666"), &key);
        let f = fixture().lock().unwrap();
        let mut bytes = f.epoch.encode();
        bytes[at] ^= 1 << bit;
        if let Ok(changed) = EpochRecord::decode(&bytes) {
            prop_assert!(open(&f.sk, &changed, &rec).is_err());
        }
    }
}
