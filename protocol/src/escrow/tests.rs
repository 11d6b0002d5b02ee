use alloc::format;
use alloc::string::String;
use core::time::Duration;

use super::*;
use crate::secret::SecretBytes;
use crate::time::Instant;

#[path = "../../tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

fn meta(call: &str) -> CallMeta {
    CallMeta {
        call_id: String::from(call),
        caller: Party {
            number: String::from("+15550100"),
            endpoint: String::from("aaln/1@cta-1.example.net"),
        },
        callee: Party {
            number: String::from("+15550199"),
            endpoint: String::from("aaln/2@cta-2.example.net"),
        },
        start_unix_ms: 1_700_000_000_000,
        suite: String::from("AEAD_AES_256_GCM"),
    }
}

fn key(b: u8) -> SecretBytes {
    SecretBytes::new(&[b; 44]).unwrap()
}

fn setup() -> (TestRng, LePrivateKey, EpochSealer) {
    let mut rng = TestRng(7);
    let sk = LePrivateKey::generate(&mut rng);
    let sealer = EpochSealer::new(sk.public().clone(), EpochPolicy::default());
    (rng, sk, sealer)
}

const T0: Instant = Instant::from_micros(1_000_000);

#[test]
fn seal_then_open_gives_the_key() {
    let (mut rng, sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let epoch = s.new_epoch.expect("first seal starts an epoch");
    assert_eq!(epoch.started_unix_ms, 5);
    let got = open(&sk, &epoch, &s.record).unwrap();
    assert!(got.ct_eq(&key(1)));

    // A second call in the same epoch: no new epoch record, next seq.
    let s2 = sealer.seal(meta("a2"), &key(2), T0, 6, &mut rng).unwrap();
    assert!(s2.new_epoch.is_none());
    assert_eq!(s2.record.sealed.seq, 1);
    let ek = open_epoch(&sk, &epoch).unwrap();
    assert!(open_record(&ek, &s2.record).unwrap().ct_eq(&key(2)));
}

#[test]
fn encodings_round_trip() {
    let (mut rng, _sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let mut rec = s.record;
    assert_eq!(EscrowRecord::decode(&rec.encode()).unwrap(), rec);
    rec.ended_unix_ms = Some(99);
    assert_eq!(EscrowRecord::decode(&rec.encode()).unwrap(), rec);
    let e = s.new_epoch.unwrap();
    let bytes = e.encode();
    assert_eq!(bytes.len(), EPOCH_RECORD_LEN);
    assert_eq!(EpochRecord::decode(&bytes).unwrap(), e);
}

#[test]
fn truncated_or_extended_bytes_are_errors() {
    let (mut rng, _sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let bytes = s.record.encode();
    for n in 0..bytes.len() {
        assert!(EscrowRecord::decode(&bytes[..n]).is_err(), "prefix {n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        EscrowRecord::decode(&longer),
        Err(FormatError::TrailingBytes)
    );
    let e = s.new_epoch.unwrap().encode();
    for n in 0..e.len() {
        assert!(EpochRecord::decode(&e[..n]).is_err());
    }
    let mut v2 = bytes;
    v2[0] = 2;
    assert_eq!(EscrowRecord::decode(&v2), Err(FormatError::Version(2)));
}

#[test]
fn any_changed_metadata_fails_the_open() {
    let (mut rng, sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let epoch = s.new_epoch.unwrap();
    let edits: [fn(&mut EscrowRecord); 8] = [
        |r| r.meta.call_id.push('x'),
        |r| r.meta.caller.number = String::from("+15550101"),
        |r| r.meta.callee.number = String::from("+15550100"),
        |r| r.meta.caller.endpoint.push('x'),
        |r| r.meta.callee.endpoint.push('x'),
        |r| r.meta.start_unix_ms += 1,
        |r| r.meta.suite = String::from("AEAD_AES_128_GCM"),
        |r| r.sealed.seq += 1,
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut r = s.record.clone();
        edit(&mut r);
        assert_eq!(
            open(&sk, &epoch, &r).err(),
            Some(OpenError::RecordAuth),
            "edit {i}"
        );
    }
    // Swapping caller and callee is a change too.
    let mut r = s.record.clone();
    core::mem::swap(&mut r.meta.caller, &mut r.meta.callee);
    assert_eq!(open(&sk, &epoch, &r).err(), Some(OpenError::RecordAuth));
    // The end time is advisory and not bound.
    let mut r = s.record.clone();
    r.ended_unix_ms = Some(1);
    assert!(open(&sk, &epoch, &r).is_ok());
}

#[test]
fn flipped_ciphertext_bits_fail() {
    let (mut rng, sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let epoch = s.new_epoch.unwrap();
    for i in 0..s.record.sealed.ct.len() {
        let mut r = s.record.clone();
        r.sealed.ct[i] ^= 1;
        assert_eq!(open(&sk, &epoch, &r).err(), Some(OpenError::RecordAuth));
    }
    for i in 0..epoch.ct.len() {
        let mut e = epoch.clone();
        e.ct[i] ^= 1;
        assert_eq!(open(&sk, &e, &s.record).err(), Some(OpenError::EpochAuth));
    }
    let mut e = epoch.clone();
    e.enc[3] ^= 1;
    assert_eq!(open(&sk, &e, &s.record).err(), Some(OpenError::EpochAuth));
    let mut e = epoch.clone();
    e.started_unix_ms += 1;
    assert_eq!(open(&sk, &e, &s.record).err(), Some(OpenError::EpochAuth));
}

#[test]
fn records_cannot_move_between_epochs_or_calls() {
    let mut rng = TestRng(9);
    let sk = LePrivateKey::generate(&mut rng);
    let policy = EpochPolicy {
        max_age: Duration::from_secs(60),
        max_records: 1,
    };
    let mut sealer = EpochSealer::new(sk.public().clone(), policy);
    let a = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let b = sealer.seal(meta("a2"), &key(2), T0, 5, &mut rng).unwrap();
    let (ea, eb) = (a.new_epoch.unwrap(), b.new_epoch.unwrap());
    assert_ne!(ea.id, eb.id);
    // b's envelope relabelled as epoch a: fails under a's key.
    let mut r = b.record.clone();
    r.sealed.epoch = ea.id;
    assert_eq!(open(&sk, &ea, &r).err(), Some(OpenError::RecordAuth));
    // b's envelope under a's metadata (substitution): fails.
    let mut r = a.record.clone();
    r.sealed = b.record.sealed.clone();
    assert_eq!(open(&sk, &eb, &r).err(), Some(OpenError::RecordAuth));
    assert_eq!(open(&sk, &ea, &b.record).err(), Some(OpenError::WrongEpoch));
    let ek = open_epoch(&sk, &ea).unwrap();
    assert_eq!(
        open_record(&ek, &b.record).err(),
        Some(OpenError::WrongEpoch)
    );
}

#[test]
fn wrong_le_key_fails() {
    let (mut rng, _sk, mut sealer) = setup();
    let s = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let epoch = s.new_epoch.unwrap();
    let other = LePrivateKey::generate(&mut rng);
    assert_eq!(
        open(&other, &epoch, &s.record).err(),
        Some(OpenError::WrongLeKey)
    );
    // Even with the key id forged to match, HPKE refuses.
    let mut e = epoch.clone();
    e.le_key = other.public().key_id();
    assert_eq!(
        open(&other, &e, &s.record).err(),
        Some(OpenError::EpochAuth)
    );
}

#[test]
fn epochs_end_by_age_and_count_and_wipe_the_key() {
    let mut rng = TestRng(3);
    let sk = LePrivateKey::generate(&mut rng);
    let policy = EpochPolicy {
        max_age: Duration::from_secs(10),
        max_records: 3,
    };
    let mut sealer = EpochSealer::new(sk.public().clone(), policy);
    assert_eq!(sealer.poll_timeout(), None);
    let first = sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).unwrap();
    let e1 = first.new_epoch.unwrap().id;
    assert_eq!(sealer.live_epoch(), Some(e1));
    assert_eq!(sealer.poll_timeout(), Some(T0 + Duration::from_secs(10)));
    sealer.handle_timeout(T0 + Duration::from_secs(9));
    assert_eq!(sealer.live_epoch(), Some(e1));
    sealer.handle_timeout(T0 + Duration::from_secs(10));
    assert_eq!(sealer.live_epoch(), None, "expired epoch is wiped");

    let t1 = T0 + Duration::from_secs(20);
    let s = sealer.seal(meta("b1"), &key(1), t1, 5, &mut rng).unwrap();
    let e2 = s.new_epoch.unwrap().id;
    assert_ne!(e1, e2);
    sealer.seal(meta("b2"), &key(1), t1, 5, &mut rng).unwrap();
    sealer.seal(meta("b3"), &key(1), t1, 5, &mut rng).unwrap();
    assert_eq!(sealer.live_epoch(), None, "full epoch is wiped at once");
    let s = sealer.seal(meta("b4"), &key(1), t1, 5, &mut rng).unwrap();
    assert!(s.new_epoch.is_some());
    sealer.end_epoch();
    assert_eq!(sealer.live_epoch(), None);
}

#[test]
fn bad_input_is_refused_before_sealing() {
    let (mut rng, _sk, mut sealer) = setup();
    let mut m = meta("a1");
    m.caller.number = String::from("555 0100");
    assert_eq!(
        sealer.seal(m, &key(1), T0, 5, &mut rng).err(),
        Some(SealError::Meta(FormatError::BadText(Field::Number)))
    );
    let mut m = meta("a1");
    m.call_id = "c".repeat(MAX_CALL_ID + 1);
    assert_eq!(
        sealer.seal(m, &key(1), T0, 5, &mut rng).err(),
        Some(SealError::Meta(FormatError::TooLong(Field::CallId)))
    );
    let short = SecretBytes::new(&[1; 15]).unwrap();
    assert_eq!(
        sealer.seal(meta("a1"), &short, T0, 5, &mut rng).err(),
        Some(SealError::KeyLength)
    );
    assert_eq!(
        sealer.live_epoch(),
        None,
        "no epoch started for refused input"
    );
}

#[test]
fn weak_le_keys_are_refused() {
    let mut rng = TestRng(1);
    let zero = LePublicKey::from_bytes(&[0; 32]).unwrap();
    assert_eq!(zero.check(&mut rng), Err(FormatError::WeakKey));
    let mut sealer = EpochSealer::new(zero, EpochPolicy::default());
    assert_eq!(
        sealer.seal(meta("a1"), &key(1), T0, 5, &mut rng).err(),
        Some(SealError::LeKey)
    );
    let good = LePrivateKey::generate(&mut rng);
    assert_eq!(good.public().check(&mut rng), Ok(()));
    assert!(LePublicKey::from_bytes(&[1; 31]).is_err());
}

#[test]
fn private_key_bytes_round_trip() {
    let mut rng = TestRng(2);
    let sk = LePrivateKey::generate(&mut rng);
    let again = LePrivateKey::from_bytes(&sk.to_bytes()[..]).unwrap();
    assert_eq!(again.public().to_bytes(), sk.public().to_bytes());
    assert_eq!(again.public().key_id(), sk.public().key_id());
}

#[test]
fn debug_shows_no_key_material_or_numbers() {
    let (mut rng, sk, mut sealer) = setup();
    let k = key(0xAB);
    let s = sealer.seal(meta("a1"), &k, T0, 5, &mut rng).unwrap();
    let epoch = s.new_epoch.unwrap();
    let ek = open_epoch(&sk, &epoch).unwrap();
    let sk_bytes = sk.to_bytes();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let shown = format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        s.record, epoch, ek, sk, sealer, k
    );
    for secret in [hex(&sk_bytes[..]), hex(&s.record.sealed.ct), hex(&epoch.ct)] {
        assert!(!shown.contains(&secret[..16]), "{shown}");
    }
    assert!(!shown.contains("abab"), "{shown}");
    assert!(
        !shown.contains("5550100"),
        "numbers are personal data: {shown}"
    );
    assert!(!shown.contains("cta-1"), "endpoints too: {shown}");
    assert!(shown.contains("a1"), "call id is shown: {shown}");
}

#[test]
fn epoch_records_link_to_the_epoch_before() {
    let mut rng = TestRng(11);
    let sk = LePrivateKey::generate(&mut rng);
    let policy = EpochPolicy {
        max_age: Duration::from_secs(10),
        max_records: 3,
    };
    let mut sealer = EpochSealer::new(sk.public().clone(), policy);
    let seal = |s: &mut EpochSealer, id: &str, rng: &mut TestRng| {
        s.seal(meta(id), &key(1), T0, 5, rng).unwrap()
    };
    let e1 = seal(&mut sealer, "a1", &mut rng).new_epoch.unwrap();
    assert_eq!(e1.prev, None, "a fresh sealer starts a chain");
    seal(&mut sealer, "a2", &mut rng);
    seal(&mut sealer, "a3", &mut rng); // full: ends the epoch
    let e2 = seal(&mut sealer, "b1", &mut rng).new_epoch.unwrap();
    assert_eq!(
        e2.prev,
        Some(EpochLink {
            epoch: e1.id,
            records: 3
        })
    );
    sealer.end_epoch(); // after one record
    let e3 = seal(&mut sealer, "c1", &mut rng).new_epoch.unwrap();
    assert_eq!(
        e3.prev,
        Some(EpochLink {
            epoch: e2.id,
            records: 1
        })
    );
    sealer.abandon_epoch(); // store failure: the chain breaks
    let e4 = seal(&mut sealer, "d1", &mut rng).new_epoch.unwrap();
    assert_eq!(e4.prev, None);
    // The link is authenticated and survives encoding.
    assert_eq!(EpochRecord::decode(&e3.encode()).unwrap(), e3);
    assert!(open_epoch(&sk, &e3).is_ok());
    let mut forged = e3.clone();
    forged.prev = Some(EpochLink {
        epoch: e2.id,
        records: 0,
    });
    assert_eq!(open_epoch(&sk, &forged).err(), Some(OpenError::EpochAuth));
    let mut cut = e3;
    cut.prev = None;
    assert_eq!(open_epoch(&sk, &cut).err(), Some(OpenError::EpochAuth));
}

#[test]
fn links_name_missing_sequence_numbers() {
    let link = EpochLink {
        epoch: EpochId([1; 16]),
        records: 5,
    };
    assert_eq!(link.missing([0, 1, 2, 3, 4]), alloc::vec::Vec::<u64>::new());
    assert_eq!(link.missing([4, 0, 2, 9]), [1, 3]);
    assert_eq!(link.missing([]), [0, 1, 2, 3, 4]);
}
