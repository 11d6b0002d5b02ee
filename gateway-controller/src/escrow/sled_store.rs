//! The embedded escrow store: a group-committed write-ahead log is the
//! durable record (a put is acknowledged after the log's `fdatasync`), and
//! sled holds the records and their indexes, filled from the log after the
//! acknowledgement. See `docs/escrow.md`, "Store".

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cablekey_protocol::escrow::{
    check_number, CallMeta, EpochId, EpochRecord, EscrowRecord, MAX_CALL_ID,
};
use tokio::sync::{mpsc, oneshot};

use super::archive::{self, day_of, Archive, Entry, Folded};
use super::commit::{Job, Op, Shared, Stager, SyncHook, Syncer};
use super::index::{db_err, Epochs, Indexer};
use super::layout;
use super::overlay::Overlay;
use super::recover::replay;
use super::seen::Seen;
use super::segment::WalDir;
use super::store::{Durable, EscrowStore, Filed, StoreError, TimeRange};
use super::sync::StoreFiles;

/// The default store directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "./data";

/// How a [`SledStore`] commits.
#[derive(Clone)]
pub struct Options {
    /// Most writes in one group commit.
    pub max_batch: usize,
    /// Most writes waiting for the committer; beyond it a write fails at
    /// once with [`StoreError::Overloaded`] (refuse the call) instead of
    /// queueing without bound.
    pub max_queued: usize,
    /// Most writes durable in the log but not yet in sled (held in memory
    /// too, for reads); beyond it writes fail with `Overloaded` until the
    /// indexer catches up.
    pub max_unindexed: usize,
    /// A log segment this long is closed and a new one started; the closed
    /// one is deleted once its writes are durable in sled.
    pub segment_bytes: u64,
    /// Runs after each commit's sync, before its acks (see [`SyncHook`]).
    pub sync_hook: Option<SyncHook>,
    /// The party entries of a day move from sled to the archive files
    /// this long after the day ends (UTC), so calls have ended by then
    /// (`docs/escrow.md`, "Archive of closed days"). `None`: only on
    /// [`SledStore::fold_before`].
    pub fold_after: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_batch: 4096,
            max_queued: 65_536,
            max_unindexed: 262_144,
            segment_bytes: 64 << 20,
            sync_hook: None,
            fold_after: Some(Duration::from_secs(2 * 3600)),
        }
    }
}

/// Escrow records durable on acknowledgement, searchable in sled.
pub struct SledStore {
    shared: Shared,
    dir: PathBuf,
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    max_queued: usize,
    max_unindexed: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Stops the id loader (see `Seen::load`) at close.
    closing: Arc<AtomicBool>,
    ids_loaded: Arc<AtomicBool>,
    archive: Arc<Archive>,
    /// Dropped at close: stops the archive's thread.
    archive_stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

/// How long an open waits for sled's lock on the store.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens sled, waiting up to [`LOCK_WAIT`] for its lock: sled 0.34's
/// background writes of a store just closed in this process can hold the
/// lock for a moment after the last handle is dropped (seen in tests
/// reopening a store at once). Another process holding it still fails.
pub(crate) fn open_db(config: sled::Config) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.map_err(db_err("opening the store")),
        }
    }
}

/// The store's sled database alone, to inspect it: no log replay, no
/// threads. Waits like [`SledStore::open`] for the lock a store just
/// closed in this process may still hold for a moment.
pub fn open_index(dir: impl AsRef<Path>) -> Result<sled::Db, StoreError> {
    open_db(sled::Config::new().path(dir.as_ref()).flush_every_ms(None))
}

fn io_err(op: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Io { op, kind: e.kind() }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, replays any log left by a
    /// crash into sled, and starts its commit threads.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<SledStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let db = open_db(
            sled::Config::new()
                .path(&dir)
                // The indexer flushes when it deletes a segment; sled's
                // timer flusher would only add work.
                .flush_every_ms(None),
        )?;
        layout::check_version(&db)?;
        let archive = Arc::new(Archive::open(&dir)?);
        let mut files = StoreFiles::open(&dir).map_err(io_err("syncing the new store"))?;
        let wal = WalDir::open(&dir).map_err(io_err("opening the log"))?;
        let next = replay(&db, &mut files, &wal)?;
        let segment = wal.create(next).map_err(io_err("creating a log segment"))?;
        let closing = Arc::new(AtomicBool::new(false));
        // After the replay, so the ids it wrote are read too.
        let ids_loaded = Arc::new(AtomicBool::new(false));
        let (seen, ids_thread) = Seen::load(db.clone(), closing.clone(), ids_loaded.clone())
            .map_err(io_err("starting the id loader"))?;
        let shared = Shared {
            db: db.clone(),
            overlay: Arc::new(Overlay::default()),
            queued: Arc::new(AtomicUsize::new(0)),
            unindexed: Arc::new(AtomicUsize::new(0)),
            failed: Arc::new(AtomicBool::new(false)),
        };
        let stager = Stager {
            shared: shared.clone(),
            wal: WalDir::open(&dir).map_err(io_err("opening the log"))?,
            segment,
            next_segment: next + 1,
            segment_bytes: options.segment_bytes.max(1),
            max_batch: options.max_batch.max(1),
            lsn: 0,
            epochs: Default::default(),
            seen,
        };
        let syncer = Syncer {
            hook: options.sync_hook,
            failed: shared.failed.clone(),
        };
        let indexer = Indexer {
            db,
            files,
            wal,
            overlay: shared.overlay.clone(),
            epochs: Epochs::default(),
            unindexed: shared.unindexed.clone(),
            failed: shared.failed.clone(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // Depth one: the stager runs at most one group ahead of the disk.
        let (written_tx, written_rx) = std::sync::mpsc::sync_channel(1);
        let (index_tx, index_rx) = std::sync::mpsc::channel();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(io_err("starting the committer"))
        };
        // Started consumers first, so a failed spawn leaves no orphan.
        let (archive_stop, stop_rx) = std::sync::mpsc::channel();
        let mut threads = vec![ids_thread];
        if let Some(after) = options.fold_after {
            let (a, db, closing) = (archive.clone(), shared.db.clone(), closing.clone());
            threads.push(spawn(
                "escrow-archive",
                Box::new(move || archive::run(a, db, after, stop_rx, closing)),
            )?);
        }
        threads.extend([
            spawn("escrow-index", Box::new(move || indexer.run(index_rx)))?,
            spawn(
                "escrow-sync",
                Box::new(move || syncer.run(written_rx, index_tx)),
            )?,
            spawn("escrow-stage", Box::new(move || stager.run(rx, written_tx)))?,
        ]);
        Ok(SledStore {
            shared,
            dir,
            tx: Mutex::new(Some(tx)),
            max_queued: options.max_queued,
            max_unindexed: options.max_unindexed,
            threads: Mutex::new(threads),
            closing,
            ids_loaded,
            archive,
            archive_stop: Mutex::new(Some(archive_stop)),
        })
    }

    /// Moves the party entries of every day before the one of `cutoff_ms`
    /// (UTC) from sled into the archive now. The store's `escrow-archive`
    /// thread does it by itself ([`Options::fold_after`]); this is for
    /// tools and tests.
    pub fn fold_before(&self, cutoff_ms: u64) -> Result<Folded, StoreError> {
        self.archive
            .fold(&self.shared.db, day_of(cutoff_ms), &self.closing)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes acknowledged (durable in the log) but not yet in sled's
    /// indexes: the indexer's backlog. Queries see these writes anyway.
    pub fn unindexed(&self) -> usize {
        self.shared.unindexed.load(Ordering::Acquire)
    }

    /// Whether the call ids stored before open are all in the duplicate
    /// filter (read after open on a thread; until then each new call id
    /// costs a sled lookup).
    pub fn ids_loaded(&self) -> bool {
        self.ids_loaded.load(Ordering::Acquire)
    }

    /// Finishes queued writes, indexes everything, empties the log and
    /// stops the threads.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        drop(
            self.archive_stop
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // Stager, then syncer, then indexer: each ends when its input does;
        // then the archive's thread (a fold stops at the next number) and
        // the id loader.
        for t in threads.into_iter().rev() {
            let _ = t.join();
        }
    }

    /// Queues `op` now (the ordering contract) and returns its ack.
    fn submit(&self, op: Op) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        let (ack, rx) = oneshot::channel();
        let queued = &self.shared.queued;
        let refused = if self.shared.unindexed.load(Ordering::Acquire) >= self.max_unindexed
            || queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued
        {
            queued.fetch_sub(1, Ordering::AcqRel);
            Some(StoreError::Overloaded)
        } else {
            match &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(tx) if tx.send(Job { op, ack }).is_ok() => None,
                _ => {
                    queued.fetch_sub(1, Ordering::AcqRel);
                    Some(StoreError::Closed)
                }
            }
        };
        async move {
            if let Some(e) = refused {
                return Err(e);
            }
            rx.await.unwrap_or(Err(StoreError::Closed))
        }
    }

    /// The record of `call_id`: the overlay first (newest), then sled.
    fn record_at(&self, call_id: &[u8]) -> Result<Option<EscrowRecord>, StoreError> {
        if let Some(r) = std::str::from_utf8(call_id)
            .ok()
            .and_then(|id| self.shared.overlay.record(id))
        {
            return Ok(Some(r));
        }
        let mut key = Vec::with_capacity(1 + call_id.len());
        key.push(layout::RECORD);
        key.extend_from_slice(call_id);
        let Some(v) = self.shared.db.get(key).map_err(db_err("reading"))? else {
            return Ok(None);
        };
        let rec = EscrowRecord::decode(&v).map_err(StoreError::Corrupt)?;
        // A record moved under another call's key is caught here; its seal
        // would catch it too, but only on the LE side.
        if rec.meta.call_id.as_bytes() != call_id {
            return Err(StoreError::Misfiled);
        }
        Ok(Some(rec))
    }

    /// The entries of `[from, to)`, each read by `entry` (or skipped),
    /// merged with the overlay's (`overlay`, the newest), in (start, call
    /// id) order.
    fn scan<T>(
        &self,
        from: Vec<u8>,
        to: Vec<u8>,
        overlay: impl FnOnce() -> Result<Vec<T>, StoreError>,
        meta: fn(&T) -> &CallMeta,
        entry: impl Fn(&[u8], &[u8]) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let order = |t: &T| {
            let m = meta(t);
            (m.start_unix_ms, m.call_id.clone())
        };
        // Read the overlay first: an entry leaves it only once it is in sled.
        let mut found = std::collections::BTreeMap::new();
        for t in overlay()? {
            found.insert(order(&t), t);
        }
        for item in self.shared.db.range(from..to) {
            let (k, v) = item.map_err(db_err("reading"))?;
            if let Some(t) = entry(&k, &v)? {
                found.entry(order(&t)).or_insert(t);
            }
        }
        Ok(found.into_values().collect())
    }
}

/// A party entry's record and epoch record, checked to belong together
/// and to the call and party it is filed under.
fn decode_party_entry(v: &[u8], call_id: &[u8], number: &str) -> Result<Filed, StoreError> {
    let (record, epoch) = layout::split_party_value(v).ok_or(StoreError::Db(
        "party index entry without its record".into(),
    ))?;
    let record = EscrowRecord::decode(record).map_err(StoreError::Corrupt)?;
    let epoch = EpochRecord::decode(epoch).map_err(StoreError::Corrupt)?;
    let m = &record.meta;
    if epoch.id != record.sealed.epoch || m.call_id.as_bytes() != call_id || !m.has_party(number) {
        return Err(StoreError::Misfiled);
    }
    Ok(Filed { record, epoch })
}

/// Adds the archive's entries to sled's (`found`): one per call, the most
/// complete (a record only changes by gaining its end time).
fn merge_archived(
    found: Vec<Filed>,
    archived: Vec<Entry>,
    number: &str,
) -> Result<Vec<Filed>, StoreError> {
    if archived.is_empty() {
        return Ok(found);
    }
    let key = |f: &Filed| (f.record.meta.start_unix_ms, f.record.meta.call_id.clone());
    let mut all: std::collections::BTreeMap<_, _> =
        found.into_iter().map(|f| (key(&f), f)).collect();
    for e in archived {
        let f = decode_party_entry(&e.value, &e.call_id, number)?;
        if f.record.meta.start_unix_ms != e.start_ms {
            return Err(StoreError::Misfiled);
        }
        match all.entry(key(&f)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(f);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if f.record.ended_unix_ms > o.get().record.ended_unix_ms {
                    o.insert(f);
                }
            }
        }
    }
    Ok(all.into_values().collect())
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl EscrowStore for SledStore {
    fn put_epoch(
        &self,
        epoch: EpochRecord,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        self.submit(Op::Epoch(epoch))
    }

    fn put(
        &self,
        record: EscrowRecord,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        self.submit(Op::Record(record))
    }

    fn set_end(
        &self,
        call_id: &str,
        ended_unix_ms: u64,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        self.submit(Op::End {
            call_id: call_id.to_owned(),
            ended_unix_ms,
        })
    }

    async fn get(&self, call_id: &str) -> Result<Option<EscrowRecord>, StoreError> {
        if call_id.is_empty() || call_id.len() > MAX_CALL_ID {
            return Ok(None);
        }
        self.record_at(call_id.as_bytes())
    }

    async fn epoch(&self, id: EpochId) -> Result<Option<EpochRecord>, StoreError> {
        self.shared.epoch(&id)
    }

    async fn by_party(&self, number: &str, range: TimeRange) -> Result<Vec<Filed>, StoreError> {
        check_number(number).map_err(StoreError::Query)?;
        let from = layout::party_prefix(number, range.from_ms);
        let to = layout::party_prefix(number, range.to_ms);
        let in_range = |t: u64| range.from_ms <= t && t < range.to_ms;
        let overlay = || {
            let records = self
                .shared
                .overlay
                .records_where(|r| in_range(r.meta.start_unix_ms) && r.meta.has_party(number));
            records
                .into_iter()
                .map(|record| {
                    let id = record.sealed.epoch;
                    let epoch = self
                        .shared
                        .epoch(&id)?
                        .ok_or(StoreError::MissingEpoch(id))?;
                    Ok(Filed { record, epoch })
                })
                .collect()
        };
        let prefix_len = 2 + number.len() + 8;
        let found = self.scan(
            from,
            to,
            overlay,
            |f| &f.record.meta,
            |k, v| {
                let id = layout::call_id_of(k, prefix_len).unwrap_or_default();
                decode_party_entry(v, id, number).map(Some)
            },
        )?;
        // After sled: a fold publishes its files before it removes the
        // entries it moved from sled.
        merge_archived(found, self.archive.by_party(number, range)?, number)
    }

    async fn by_time(&self, range: TimeRange) -> Result<Vec<EscrowRecord>, StoreError> {
        let from = layout::time_prefix(range.from_ms);
        let to = layout::time_prefix(range.to_ms);
        let overlay = || {
            Ok(self.shared.overlay.records_where(|r| {
                range.from_ms <= r.meta.start_unix_ms && r.meta.start_unix_ms < range.to_ms
            }))
        };
        self.scan(
            from,
            to,
            overlay,
            |r| &r.meta,
            |k, _| {
                let Some(id) = layout::call_id_of(k, 9) else {
                    return Ok(None);
                };
                // An index entry is written in the same batch as its record.
                match self.record_at(id)? {
                    Some(r) => Ok(Some(r)),
                    None => Err(StoreError::Db("index entry without its record".into())),
                }
            },
        )
    }
}
