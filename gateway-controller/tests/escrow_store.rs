//! The escrow store end to end: seal, store, reopen, open with the LE key;
//! tampering, indexes, group commit and failure handling.

mod common;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cablekey_gateway_controller::escrow::{
    self, Escrow, EscrowError, EscrowStore, Options, SledStore, StoreError, TimeRange,
};
use cablekey_protocol::escrow::{open, EpochLink, EpochPolicy, OpenError};
use common::{key_for, le_key, meta, store_dir};

fn escrow_in(
    dir: &std::path::Path,
    le: &cablekey_protocol::escrow::LePublicKey,
) -> Escrow<SledStore> {
    let store = SledStore::open(dir, Options::default()).unwrap();
    Escrow::new(store, le.clone(), EpochPolicy::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_across_reopen() {
    let dir = store_dir();
    let sk = le_key();
    {
        let escrow = Arc::new(escrow_in(dir.path(), sk.public()));
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..64u64 {
            let escrow = escrow.clone();
            tasks.spawn(async move {
                let m = meta(&format!("c{n}"), "+15550100", "+15550199", 1_000 + n);
                escrow.escrow(m, &key_for(n)).await.unwrap()
            });
        }
        let receipts = tasks.join_all().await;
        assert!(
            receipts.iter().any(|r| r.durable.batch > 1),
            "concurrent puts are grouped: {receipts:?}"
        );
    }
    // Reopened from disk, the LE key gives back every call key.
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    for n in 0..64u64 {
        let rec = store.get(&format!("c{n}")).await.unwrap().expect("stored");
        let epoch = store
            .epoch(rec.sealed.epoch)
            .await
            .unwrap()
            .expect("epoch stored");
        let key = open(&sk, &epoch, &rec).unwrap();
        assert!(key.ct_eq(&key_for(n)), "call {n}");
    }
    assert_eq!(store.get("c64").await.unwrap(), None);
}

#[tokio::test]
async fn tampering_on_disk_is_detected() {
    let dir = store_dir();
    let sk = le_key();
    {
        let escrow = escrow_in(dir.path(), sk.public());
        escrow
            .escrow(meta("a", "+1555", "+1666", 10), &key_for(1))
            .await
            .unwrap();
        escrow
            .escrow(meta("b", "+1555", "+1777", 20), &key_for(2))
            .await
            .unwrap();
    }
    // An attacker with the disk edits values with sled itself.
    {
        let db = escrow::open_index(dir.path()).unwrap();
        let a = db.get(b"ra").unwrap().unwrap().to_vec();
        let b = db.get(b"rb").unwrap().unwrap().to_vec();
        // Change the callee number in a's clear metadata: "+1666" -> "+1667".
        let at = a.windows(5).position(|w| w == b"+1666").unwrap();
        let mut a2 = a.clone();
        a2[at + 4] = b'7';
        db.insert(b"ra", a2).unwrap();
        // File b's record under a third call id.
        db.insert(b"rz", b.clone()).unwrap();
        // Flip a ciphertext bit of b (the last byte before the end flag).
        let mut b2 = b.clone();
        let n = b2.len();
        b2[n - 2] ^= 1;
        db.insert(b"rb", b2).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    let a = store.get("a").await.unwrap().unwrap();
    let ea = store.epoch(a.sealed.epoch).await.unwrap().unwrap();
    assert_eq!(open(&sk, &ea, &a).err(), Some(OpenError::RecordAuth));
    let b = store.get("b").await.unwrap().unwrap();
    assert_eq!(open(&sk, &ea, &b).err(), Some(OpenError::RecordAuth));
    assert_eq!(store.get("z").await.err(), Some(StoreError::Misfiled));
}

#[tokio::test]
async fn wrong_le_key_cannot_open() {
    let dir = store_dir();
    let sk = le_key();
    let escrow = escrow_in(dir.path(), sk.public());
    escrow
        .escrow(meta("a", "+1555", "+1666", 10), &key_for(1))
        .await
        .unwrap();
    let rec = escrow.store().get("a").await.unwrap().unwrap();
    let epoch = escrow
        .store()
        .epoch(rec.sealed.epoch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        open(&le_key(), &epoch, &rec).err(),
        Some(OpenError::WrongLeKey)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_queries_by_party_and_time() {
    let dir = store_dir();
    let sk = le_key();
    let calls = [
        ("c1", "+1555", "+1666", 100),
        ("c2", "+1666", "+1555", 200),
        ("c3", "+15550", "+1777", 300), // "+1555" is a prefix of this number
        ("c4", "+1777", "+1555", 400),
        ("c5", "+1555", "+1555", 400), // calls itself: indexed once
    ];
    {
        let escrow = escrow_in(dir.path(), sk.public());
        for (n, (id, a, b, t)) in calls.iter().enumerate() {
            escrow
                .escrow(meta(id, a, b, *t), &key_for(n as u64))
                .await
                .unwrap();
        }
        escrow.store().set_end("c2", 250).await.unwrap();
        // Fresh writes: answered from the indexer's backlog or from sled.
        check_index(escrow.store(), &sk).await;
    }
    // Reopened: everything from sled's index entries.
    check_index(
        &SledStore::open(dir.path(), Options::default()).unwrap(),
        &sk,
    )
    .await;
}

async fn check_index(store: &SledStore, sk: &cablekey_protocol::escrow::LePrivateKey) {
    let ids = |v: Vec<cablekey_protocol::escrow::EscrowRecord>| {
        v.into_iter().map(|r| r.meta.call_id).collect::<Vec<_>>()
    };
    let party = |number: &'static str, range: TimeRange| async move {
        let found = store.by_party(number, range).await.unwrap();
        // Each comes with the epoch record that opens it.
        for f in &found {
            let n: u64 = f.record.meta.call_id[1..].parse().unwrap();
            let key = open(sk, &f.epoch, &f.record).unwrap();
            assert!(key.ct_eq(&key_for(n - 1)), "{}", f.record.meta.call_id);
        }
        found.into_iter().map(|f| f.record).collect::<Vec<_>>()
    };
    let range = |from_ms, to_ms| TimeRange { from_ms, to_ms };
    assert_eq!(
        ids(party("+1555", TimeRange::ALL).await),
        ["c1", "c2", "c4", "c5"]
    );
    let c2 = party("+1555", range(200, 400)).await;
    assert_eq!(ids(c2.clone()), ["c2"]);
    assert_eq!(
        c2[0].ended_unix_ms,
        Some(250),
        "the end time reaches the copy"
    );
    assert_eq!(ids(party("+1555", range(201, 401)).await), ["c4", "c5"]);
    assert_eq!(ids(party("+15550", TimeRange::ALL).await), ["c3"]);
    assert_eq!(
        ids(party("+1888", TimeRange::ALL).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store.by_time(range(200, 400)).await.unwrap()),
        ["c2", "c3"]
    );
    assert_eq!(ids(store.by_time(range(400, 401)).await.unwrap()).len(), 2);
    assert_eq!(ids(store.by_time(range(500, 100)).await.unwrap()).len(), 0);
    assert!(matches!(
        store.by_party("555 0100", TimeRange::ALL).await,
        Err(StoreError::Query(_))
    ));
}

#[tokio::test]
async fn duplicates_missing_epochs_and_end_times() {
    let dir = store_dir();
    let escrow = escrow_in(dir.path(), le_key().public());
    escrow
        .escrow(meta("a", "+1555", "+1666", 10), &key_for(1))
        .await
        .unwrap();
    let store = escrow.store();
    let rec = store.get("a").await.unwrap().unwrap();
    // A retry of the same record is fine; another key for the call is not.
    store.put(rec.clone()).await.unwrap();
    let err = escrow
        .escrow(meta("a", "+1555", "+1666", 10), &key_for(2))
        .await;
    assert_eq!(err.err(), Some(EscrowError::Store(StoreError::Duplicate)));
    // A record whose epoch record was never stored is refused.
    let mut orphan = rec.clone();
    orphan.meta.call_id = "o".into();
    orphan.sealed.epoch = cablekey_protocol::escrow::EpochId([9; 16]);
    assert_eq!(
        store.put(orphan).await.err(),
        Some(StoreError::MissingEpoch(
            cablekey_protocol::escrow::EpochId([9; 16])
        ))
    );
    // End times are recorded, and a retry of the original record still matches.
    store.set_end("a", 99).await.unwrap();
    assert_eq!(
        store.get("a").await.unwrap().unwrap().ended_unix_ms,
        Some(99)
    );
    store.put(rec).await.unwrap();
    assert_eq!(
        store.set_end("nope", 1).await.err(),
        Some(StoreError::NotFound)
    );
}

/// Puts are acknowledged only after the commit's sync: a sync hook that
/// blocks holds every ack back, and releasing it releases them together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_wait_for_the_sync() {
    let dir = store_dir();
    // The hook waits until the test opens the gate.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let syncs = Arc::new(AtomicUsize::new(0));
    let batches = Arc::new(Mutex::new(Vec::new()));
    let hook = {
        let (gate, syncs, batches) = (gate.clone(), syncs.clone(), batches.clone());
        Arc::new(move |n: usize| -> io::Result<()> {
            let (open, cv) = &*gate;
            drop(cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap());
            syncs.fetch_add(1, Ordering::SeqCst);
            batches.lock().unwrap().push(n);
            Ok(())
        })
    };
    let store = SledStore::open(
        dir.path(),
        Options {
            sync_hook: Some(hook),
            ..Options::default()
        },
    )
    .unwrap();
    let escrow = Arc::new(Escrow::new(
        store,
        le_key().public().clone(),
        EpochPolicy::default(),
    ));

    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16u64 {
        let (escrow, acked, syncs) = (escrow.clone(), acked.clone(), syncs.clone());
        tasks.spawn(async move {
            let r = escrow
                .escrow(meta(&format!("g{n}"), "+1555", "+1666", n), &key_for(n))
                .await;
            // Every ack comes after at least one completed sync.
            assert!(syncs.load(Ordering::SeqCst) >= 1);
            acked.fetch_add(1, Ordering::SeqCst);
            r.unwrap()
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        acked.load(Ordering::SeqCst),
        0,
        "no ack while the sync is held"
    );
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let receipts = tasks.join_all().await;
    assert_eq!(acked.load(Ordering::SeqCst), 16);
    let batches = batches.lock().unwrap().clone();
    assert_eq!(
        batches.iter().sum::<usize>(),
        17,
        "16 records + 1 epoch: {batches:?}"
    );
    // While one sync is held the applier stays at most one group ahead,
    // so the 17 writes form a handful of groups, not 17.
    assert!(batches.len() <= 6, "grouped into few syncs: {batches:?}");
    for r in receipts {
        assert_eq!(r.durable.batch, batches[r.durable.commit as usize - 1]);
    }
}

#[tokio::test]
async fn a_failed_sync_fails_the_put_and_stops_the_store() {
    let dir = store_dir();
    let fail = Arc::new(AtomicUsize::new(0));
    let hook = {
        let fail = fail.clone();
        Arc::new(move |_n: usize| -> io::Result<()> {
            if fail.load(Ordering::SeqCst) == 1 {
                Err(io::Error::other("injected EIO"))
            } else {
                Ok(())
            }
        })
    };
    let store = SledStore::open(
        dir.path(),
        Options {
            sync_hook: Some(hook),
            ..Options::default()
        },
    )
    .unwrap();
    let escrow = Escrow::new(store, le_key().public().clone(), EpochPolicy::default());
    let ok = escrow
        .escrow(meta("a", "+1555", "+1666", 1), &key_for(1))
        .await
        .unwrap();
    fail.store(1, Ordering::SeqCst);
    let err = escrow
        .escrow(meta("b", "+1555", "+1666", 2), &key_for(2))
        .await;
    assert!(
        matches!(
            err,
            Err(EscrowError::Store(StoreError::Sync(io::ErrorKind::Other)))
        ),
        "{err:?}"
    );
    assert_eq!(
        escrow.live_epoch(),
        None,
        "epoch abandoned after a store failure"
    );
    fail.store(0, Ordering::SeqCst);
    let err = escrow
        .escrow(meta("c", "+1555", "+1666", 3), &key_for(3))
        .await;
    assert_eq!(err.err(), Some(EscrowError::Store(StoreError::Failed)));
    assert_ne!(escrow.live_epoch(), Some(ok.epoch));
    escrow.store().close();
    let err = escrow
        .escrow(meta("d", "+1555", "+1666", 4), &key_for(4))
        .await;
    assert_eq!(err.err(), Some(EscrowError::Store(StoreError::Closed)));
}

#[tokio::test]
async fn debug_output_has_no_key_material() {
    let dir = store_dir();
    let sk = le_key();
    let escrow = escrow_in(dir.path(), sk.public());
    let key = key_for(0xC0FFEE);
    // Long numbers: a short one turns up by chance in hex or timestamps.
    let receipt = escrow
        .escrow(meta("a", "+15551234567", "+16667654321", 1), &key)
        .await
        .unwrap();
    let rec = escrow.store().get("a").await.unwrap().unwrap();
    let epoch = escrow
        .store()
        .epoch(rec.sealed.epoch)
        .await
        .unwrap()
        .unwrap();
    let ek = cablekey_protocol::escrow::open_epoch(&sk, &epoch).unwrap();
    let opened = open(&sk, &epoch, &rec).unwrap();
    let shown = format!("{receipt:?} {rec:?} {epoch:?} {ek:?} {opened:?} {key:?} {sk:?}");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let dec = |b: &[u8]| format!("{:?}", &b[..6]);
    for secret in [key.expose(), &sk.to_bytes()[..]] {
        assert!(!shown.contains(&hex(&secret[..6])), "{shown}");
        assert!(!shown.contains(&dec(secret)[1..12]), "{shown}");
    }
    assert!(
        !shown.contains("5551234567") && !shown.contains("6667654321"),
        "numbers are personal data: {shown}"
    );
    assert!(
        shown.contains(&key.fingerprint().to_string()),
        "keys show as fingerprints: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once() {
    let dir = store_dir();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let hook = {
        let gate = gate.clone();
        Arc::new(move |_n: usize| -> io::Result<()> {
            let (open, cv) = &*gate;
            drop(cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap());
            Ok(())
        })
    };
    let options = Options {
        sync_hook: Some(hook),
        max_queued: 1,
        ..Options::default()
    };
    let store = Arc::new(SledStore::open(dir.path(), options).unwrap());
    let sk = le_key();
    let mut sealer =
        cablekey_protocol::escrow::EpochSealer::new(sk.public().clone(), EpochPolicy::default());
    let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    let mut seal = |id: &str| {
        let t = cablekey_protocol::time::Instant::ZERO;
        sealer
            .seal(meta(id, "+1555", "+1666", 1), &key_for(1), t, 1, &mut rng)
            .unwrap()
    };
    let first = seal("a");
    let epoch_put = tokio::spawn(store.put_epoch(first.new_epoch.unwrap()));
    tokio::time::sleep(Duration::from_millis(100)).await; // taken by the committer, held in its sync
                                                          // The applier runs at most one group ahead of the held sync, then
                                                          // stops taking writes; the queue fills and the next write is refused.
    let mut waiting = vec![tokio::spawn(store.put(first.record))];
    let mut refused = false;
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let put = store.put(seal(&format!("b{i}")).record);
        match tokio::time::timeout(Duration::from_millis(20), put).await {
            Ok(Err(StoreError::Overloaded)) => {
                refused = true;
                break;
            }
            Ok(other) => panic!("nothing can complete while the sync is held: {other:?}"),
            Err(_) => {} // queued; the write still happens
        }
    }
    assert!(refused, "a full queue refuses at once");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    epoch_put.await.unwrap().unwrap();
    for w in waiting.drain(..) {
        w.await.unwrap().unwrap();
    }
    store.put(seal("c").record).await.unwrap();
}

/// Records deleted from a closed epoch show up: the next epoch record, which
/// only the LE can authenticate, says how many records the epoch had.
#[tokio::test]
async fn deleted_records_of_a_closed_epoch_are_detected() {
    let dir = store_dir();
    let sk = le_key();
    let policy = EpochPolicy {
        max_age: Duration::from_secs(60),
        max_records: 3,
    };
    let (e1, e2) = {
        let store = SledStore::open(dir.path(), Options::default()).unwrap();
        let escrow = Escrow::new(store, sk.public().clone(), policy);
        let mut epochs = Vec::new();
        for (n, id) in ["a", "b", "c", "d"].iter().enumerate() {
            epochs.push(
                escrow
                    .escrow(meta(id, "+1555", "+1666", n as u64), &key_for(1))
                    .await
                    .unwrap()
                    .epoch,
            );
        }
        assert_eq!(epochs[..3], [epochs[0]; 3]);
        (epochs[0], epochs[3])
    };
    // A careful attacker deletes call b (seq 1 of the first epoch) and its
    // index entries, so every query still works.
    {
        let db = escrow::open_index(dir.path()).unwrap();
        let keys: Vec<_> = db
            .iter()
            .keys()
            .map(Result::unwrap)
            .filter(|k| k.ends_with(b"b") && [b'r', b'p', b't'].contains(&k[0]))
            .collect();
        assert_eq!(keys.len(), 4, "record, time and two party entries");
        for k in keys {
            db.remove(k).unwrap();
        }
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    let second = store.epoch(e2).await.unwrap().unwrap();
    cablekey_protocol::escrow::open_epoch(&sk, &second).unwrap(); // authenticates the link
    let link = second.prev.expect("linked to the first epoch");
    assert_eq!(
        link,
        EpochLink {
            epoch: e1,
            records: 3
        }
    );
    let present = store.by_time(TimeRange::ALL).await.unwrap();
    let seqs = present
        .iter()
        .filter(|r| r.sealed.epoch == e1)
        .map(|r| r.sealed.seq);
    assert_eq!(link.missing(seqs), [1]);
}

/// The log segments of a store directory.
fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A crash leaves records in the log that sled may not hold: opening
/// replays them (indexes included), cutting off a torn final write; damage
/// before the end refuses to open instead of skipping records.
#[tokio::test]
async fn the_log_is_replayed_at_open_and_a_torn_tail_cut() {
    let (dir, crashed) = (store_dir(), store_dir());
    let sk = le_key();
    let escrow = escrow_in(dir.path(), sk.public());
    for n in 0..5u64 {
        let m = meta(&format!("w{n}"), "+1555", &format!("+1666{n}"), 100 + n);
        escrow.escrow(m, &key_for(n)).await.unwrap();
    }
    // The state a power cut leaves: the log synced, sled empty, and half
    // of a next frame at the end of the segment.
    let [segment] = &segments(dir.path())[..] else {
        panic!("one live segment")
    };
    let mut log = std::fs::read(segment).unwrap();
    std::fs::create_dir(crashed.path().join("wal")).unwrap();
    let copy = crashed
        .path()
        .join("wal")
        .join(segment.file_name().unwrap());
    let whole = log.len();
    // The first 30 bytes of a frame: its write was cut short.
    log.extend_from_within(8..38);
    std::fs::write(&copy, &log).unwrap();
    drop(escrow);

    let store = SledStore::open(crashed.path(), Options::default()).unwrap();
    assert!(
        !copy.exists(),
        "replayed segments are deleted once sled is synced"
    );
    for n in 0..5u64 {
        let rec = store
            .get(&format!("w{n}"))
            .await
            .unwrap()
            .expect("replayed");
        let epoch = store.epoch(rec.sealed.epoch).await.unwrap().unwrap();
        assert!(open(&sk, &epoch, &rec).unwrap().ct_eq(&key_for(n)));
        let hits = store
            .by_party(&format!("+1666{n}"), TimeRange::ALL)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1, "indexes rebuilt from the log");
    }
    assert_eq!(store.by_time(TimeRange::ALL).await.unwrap().len(), 5);
    store.close();

    // One flipped bit inside the log, with valid frames after it.
    let damaged = store_dir();
    std::fs::create_dir(damaged.path().join("wal")).unwrap();
    let mut bad = log[..whole].to_vec();
    bad[40] ^= 0x10;
    std::fs::write(
        damaged.path().join("wal").join("0000000000000001.log"),
        &bad,
    )
    .unwrap();
    assert!(matches!(
        SledStore::open(damaged.path(), Options::default()).err(),
        Some(StoreError::Log { segment: 1, .. })
    ));
}

/// Full segments are closed and deleted once the indexer has put their
/// records in sled; a clean close empties the log. Queries see every
/// acknowledged record whether or not it is indexed yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_rotate_and_are_deleted_once_indexed() {
    let dir = store_dir();
    let options = Options {
        segment_bytes: 2048,
        ..Options::default()
    };
    let store = SledStore::open(dir.path(), options).unwrap();
    let escrow = Arc::new(Escrow::new(
        store,
        le_key().public().clone(),
        EpochPolicy::default(),
    ));
    for n in 0..200u64 {
        let m = meta(&format!("s{n}"), "+1555", "+1666", n);
        escrow.escrow(m, &key_for(n)).await.unwrap();
        // Every acknowledged record is found at once.
        let found = escrow
            .store()
            .by_party(
                "+1666",
                TimeRange {
                    from_ms: n,
                    to_ms: n + 1,
                },
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "call {n}");
    }
    for _ in 0..500 {
        if escrow.store().unindexed() == 0 && segments(dir.path()).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(escrow.store().unindexed(), 0);
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "only the live segment is left"
    );
    escrow.store().close();
    assert!(
        segments(dir.path()).is_empty(),
        "a clean close empties the log"
    );
    drop(escrow);
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.by_time(TimeRange::ALL).await.unwrap().len(), 200);
}

#[test]
fn a_store_of_another_layout_is_refused() {
    let dir = store_dir();
    {
        // What an earlier build left: entries, no layout version.
        let db = escrow::open_index(dir.path()).unwrap();
        db.insert(b"rold-call", &b"x"[..]).unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(dir.path(), Options::default()) {
        Err(StoreError::Db(msg)) => assert!(msg.contains("layout"), "{msg}"),
        other => panic!("opened: {:?}", other.err()),
    }
}
