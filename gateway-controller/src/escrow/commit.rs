//! Group commit to the log in two threads, a pipeline of depth one:
//!
//! - the **stager** takes whatever writes are queued (up to a cap), checks
//!   them, and appends them to the log segment with one `pwrite64`;
//! - the **syncer** takes every group written so far, calls `fdatasync` on
//!   the segment, acknowledges them, and hands them to the indexer.
//!
//! So the next group is checked and written (CPU) while the previous one is
//! synced (disk). A group is acknowledged only after a sync that started
//! after its write. While a sync runs new writes queue up and form the next
//! group: no timer, no added latency at low load. sled is not on this path
//! except for one lookup per new record (is the call id already escrowed?).

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Arc;

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord, FormatError};
use tokio::sync::{mpsc, oneshot};

use super::index::{db_err, Staged, ToIndex};
use super::layout;
use super::overlay::Overlay;
use super::seen::Seen;
use super::segment::{Segment, WalDir};
use super::store::{Durable, StoreError};
use super::wal::{self, Kind};

pub(crate) enum Op {
    Epoch(EpochRecord),
    Record(EscrowRecord),
    End { call_id: String, ended_unix_ms: u64 },
}

pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) ack: oneshot::Sender<Result<Durable, StoreError>>,
}

/// Called after each sync and before its acknowledgements, with the number
/// of writes the sync covers; an error fails the commit as a
/// failed fsync would. For tests and instrumentation.
pub type SyncHook = Arc<dyn Fn(usize) -> io::Result<()> + Send + Sync>;

type Ack = oneshot::Sender<Result<Durable, StoreError>>;

/// A group written to the log, on its way to the disk.
pub(crate) struct Written {
    file: Arc<File>,
    acks: Vec<Ack>,
    staged: Vec<Staged>,
    /// The segment this group completed, if the stager rotated after it.
    sealed: Option<PathBuf>,
}

/// State shared by the stager, the syncer, the indexer and the store.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) db: sled::Db,
    pub(crate) overlay: Arc<Overlay>,
    /// Writes submitted and not yet taken by the stager.
    pub(crate) queued: Arc<AtomicUsize>,
    /// Writes accepted and not yet in sled.
    pub(crate) unindexed: Arc<AtomicUsize>,
    /// Set on a failed write, sync or index: the store stops taking writes.
    pub(crate) failed: Arc<AtomicBool>,
}

impl Shared {
    /// An epoch record, accepted (in the overlay) or indexed (in sled).
    pub(crate) fn epoch(&self, id: &EpochId) -> Result<Option<EpochRecord>, StoreError> {
        if let Some(e) = self.overlay.epoch(id) {
            return Ok(Some(e));
        }
        self.sled_value(&layout::epoch_key(id), EpochRecord::decode)
    }

    fn sled_value<T>(
        &self,
        key: &[u8],
        decode: fn(&[u8]) -> Result<T, FormatError>,
    ) -> Result<Option<T>, StoreError> {
        let value = self.db.get(key).map_err(db_err("reading"))?;
        value
            .map(|v| decode(&v).map_err(StoreError::Corrupt))
            .transpose()
    }
}

pub(crate) struct Stager {
    pub(crate) shared: Shared,
    pub(crate) wal: WalDir,
    pub(crate) segment: Segment,
    pub(crate) next_segment: u64,
    pub(crate) segment_bytes: u64,
    pub(crate) max_batch: usize,
    /// Log sequence number of the next write.
    pub(crate) lsn: u64,
    /// Epochs known to be stored, so a record's check needs no lookup.
    pub(crate) epochs: HashSet<EpochId>,
    /// Call ids the store may hold, so a new one needs no lookup.
    pub(crate) seen: Seen,
}

impl Stager {
    pub(crate) fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>, out: SyncSender<Written>) {
        let mut buf = Vec::with_capacity(64 * 1024);
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.shared.queued.fetch_sub(jobs.len(), Ordering::AcqRel);
            self.seen.poll();
            if self.shared.failed.load(Ordering::Acquire) {
                for job in jobs {
                    let _ = job.ack.send(Err(StoreError::Failed));
                }
                continue;
            }
            buf.clear();
            let mut acks = Vec::with_capacity(jobs.len());
            let mut staged = Vec::with_capacity(jobs.len());
            for job in jobs {
                match self.stage(job.op, &mut buf) {
                    Ok(s) => {
                        acks.push(job.ack);
                        staged.push(s);
                    }
                    Err(e) => {
                        let _ = job.ack.send(Err(e));
                    }
                }
            }
            if acks.is_empty() {
                continue;
            }
            self.shared
                .unindexed
                .fetch_add(staged.len(), Ordering::AcqRel);
            if let Err(e) = self.segment.append(&buf) {
                let e = StoreError::Io {
                    op: "writing the log",
                    kind: e.kind(),
                };
                self.stop(&e);
                for ack in acks {
                    let _ = ack.send(Err(e.clone()));
                }
                continue;
            }
            let file = self.segment.file();
            let sealed = self.rotate_if_full();
            // Only fails if the syncer is gone; the dropped acks then read as Closed.
            let _ = out.send(Written {
                file,
                acks,
                staged,
                sealed,
            });
        }
        // Closing: hand the last segment over, so the indexer empties the log.
        if !self.shared.failed.load(Ordering::Acquire) {
            let _ = out.send(Written {
                file: self.segment.file(),
                acks: Vec::new(),
                staged: Vec::new(),
                sealed: Some(self.segment.path.clone()),
            });
        }
    }

    fn stop(&self, e: &StoreError) {
        self.shared.failed.store(true, Ordering::Release);
        tracing::error!(error = %e, "escrow log write failed; store stopped");
    }

    /// Starts a new segment once this one is full; returns the full one.
    fn rotate_if_full(&mut self) -> Option<PathBuf> {
        if self.segment.len() < self.segment_bytes {
            return None;
        }
        match self.wal.create(self.next_segment) {
            Ok(new) => {
                self.next_segment += 1;
                let old = std::mem::replace(&mut self.segment, new);
                Some(old.path)
            }
            Err(e) => {
                // The group just written is still synced and acknowledged.
                self.stop(&StoreError::Io {
                    op: "creating a log segment",
                    kind: e.kind(),
                });
                None
            }
        }
    }

    /// Checks one write against the store and the writes before it, and
    /// appends its frame to `buf`. A refused write fails alone.
    fn stage(&mut self, op: Op, buf: &mut Vec<u8>) -> Result<Staged, StoreError> {
        let lsn = self.lsn;
        let overlay = &self.shared.overlay;
        let staged = match op {
            Op::Epoch(e) => {
                let bytes = e.encode();
                match self.shared.epoch(&e.id)? {
                    Some(old) if old.encode() == bytes => {}
                    Some(_) => return Err(StoreError::Duplicate),
                    None => {}
                }
                wal::push(buf, Kind::Epoch, &bytes);
                let s = Staged::epoch(lsn, &e, bytes);
                self.epochs.insert(e.id);
                overlay.put_epoch(lsn, e);
                s
            }
            Op::Record(r) => {
                let epoch = r.sealed.epoch;
                if !self.epochs.contains(&epoch) {
                    if self.shared.epoch(&epoch)?.is_none() {
                        return Err(StoreError::MissingEpoch(epoch));
                    }
                    self.epochs.insert(epoch);
                }
                let bytes = r.encode();
                // A retry of the same record is accepted (its end time may
                // have been set since) and writes nothing new; it is still
                // logged so that its acknowledgement follows a sync.
                let indexed = match self.stored_record(&r.meta.call_id)? {
                    Some(old) if old.meta == r.meta && old.sealed == r.sealed => {
                        let bytes = old.encode();
                        wal::push(buf, Kind::Update, &bytes);
                        let s = Staged::record(lsn, &old, bytes, false);
                        overlay.put_record(lsn, old);
                        self.lsn += 1;
                        return Ok(s);
                    }
                    Some(_) => return Err(StoreError::Duplicate),
                    None => true,
                };
                wal::push(buf, Kind::Record, &bytes);
                self.seen.insert(r.meta.call_id.as_bytes());
                let s = Staged::record(lsn, &r, bytes, indexed);
                overlay.put_record(lsn, r);
                s
            }
            Op::End {
                call_id,
                ended_unix_ms,
            } => {
                let mut rec = self.stored_record(&call_id)?.ok_or(StoreError::NotFound)?;
                rec.ended_unix_ms = Some(ended_unix_ms);
                let bytes = rec.encode();
                wal::push(buf, Kind::Update, &bytes);
                let s = Staged::record(lsn, &rec, bytes, false);
                overlay.put_record(lsn, rec);
                s
            }
        };
        self.lsn += 1;
        Ok(staged)
    }

    fn stored_record(&self, call_id: &str) -> Result<Option<EscrowRecord>, StoreError> {
        if let Some(r) = self.shared.overlay.record(call_id) {
            return Ok(Some(r));
        }
        if !self.seen.may_contain(call_id.as_bytes()) {
            return Ok(None);
        }
        self.shared
            .sled_value(&layout::record_key(call_id), EscrowRecord::decode)
    }
}

pub(crate) struct Syncer {
    pub(crate) hook: Option<SyncHook>,
    pub(crate) failed: Arc<AtomicBool>,
}

impl Syncer {
    pub(crate) fn run(self, written: Receiver<Written>, index: Sender<ToIndex>) {
        let mut commits = 0u64;
        while let Ok(first) = written.recv() {
            let mut groups = vec![first];
            groups.extend(written.try_iter());
            let n = groups.iter().map(|g| g.acks.len()).sum();
            let result = if self.failed.load(Ordering::Acquire) {
                Err(StoreError::Failed)
            } else {
                self.sync(&groups, n)
            };
            if let Err(e) = &result {
                if !matches!(e, StoreError::Failed) {
                    self.failed.store(true, Ordering::Release);
                    tracing::error!(error = %e, "escrow sync failed; store stopped");
                }
            }
            if n > 0 {
                commits += 1;
            }
            let outcome = result.map(|()| Durable {
                commit: commits,
                batch: n,
            });
            let ok = outcome.is_ok();
            for g in groups {
                for ack in g.acks {
                    let _ = ack.send(outcome.clone());
                }
                // Writes that are not durable never reach sled.
                if ok {
                    let _ = index.send(ToIndex::Group(g.staged));
                    if let Some(path) = g.sealed {
                        let _ = index.send(ToIndex::Sealed(path));
                    }
                }
            }
        }
    }

    /// `fdatasync` of every segment the groups were written to (one,
    /// or two across a rotation), then the hook.
    fn sync(&self, groups: &[Written], n: usize) -> Result<(), StoreError> {
        let mut last: Option<&Arc<File>> = None;
        for g in groups {
            if last.is_some_and(|f| Arc::ptr_eq(f, &g.file)) {
                continue;
            }
            g.file.sync_data().map_err(|e| StoreError::Sync(e.kind()))?;
            last = Some(&g.file);
        }
        if n > 0 {
            if let Some(hook) = &self.hook {
                hook(n).map_err(|e| StoreError::Sync(e.kind()))?;
            }
        }
        Ok(())
    }
}
