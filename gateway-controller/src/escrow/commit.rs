//! Group commit in two threads, a pipeline of depth one:
//!
//! - the **applier** takes whatever writes are queued (up to a cap), checks
//!   them, and applies them to sled as one atomic batch;
//! - the **syncer** takes every group applied so far, calls sled's flush and
//!   then `fdatasync`, and only then acknowledges them.
//!
//! So the next group is checked and applied (CPU) while the previous one is
//! synced (disk). A group is acknowledged only after a sync that started
//! after its batch was applied. While a sync runs, new writes queue up and
//! form the next group: no timer, no added latency at low load.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord};
use tokio::sync::{mpsc, oneshot};

use super::layout;
use super::store::{Durable, StoreError};
use super::sync::StoreFiles;

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

pub(crate) struct Committer {
    pub(crate) db: sled::Db,
    pub(crate) files: StoreFiles,
    pub(crate) max_batch: usize,
    pub(crate) hook: Option<SyncHook>,
    /// Writes submitted and not yet taken from the queue.
    pub(crate) queued: Arc<AtomicUsize>,
}

/// Writes of the group being built, so later jobs in it see earlier ones.
#[derive(Default)]
struct Pending {
    epochs: HashSet<EpochId>,
    records: HashMap<String, Vec<u8>>,
}

fn db_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(e) => StoreError::Io {
            op: "writing",
            kind: e.kind(),
        },
        other => StoreError::Db(other.to_string()),
    }
}

type Acks = Vec<oneshot::Sender<Result<Durable, StoreError>>>;

impl Committer {
    /// Starts the syncer and the applier; they stop once `rx` is closed and
    /// every queued write is answered.
    pub(crate) fn start(
        self,
        rx: mpsc::UnboundedReceiver<Job>,
    ) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
        let failed = Arc::new(AtomicBool::new(false));
        // Depth one: the applier runs at most one group ahead of the disk.
        let (applied_tx, applied_rx) = std::sync::mpsc::sync_channel::<Acks>(1);
        let syncer = Syncer {
            db: self.db.clone(),
            files: self.files,
            hook: self.hook,
            failed: failed.clone(),
        };
        let applier = Applier {
            db: self.db,
            max_batch: self.max_batch,
            queued: self.queued,
            failed,
        };
        let s = std::thread::Builder::new()
            .name("escrow-sync".into())
            .spawn(move || syncer.run(applied_rx))?;
        let a = std::thread::Builder::new()
            .name("escrow-apply".into())
            .spawn(move || applier.run(rx, applied_tx))?;
        Ok(vec![a, s])
    }
}

struct Applier {
    db: sled::Db,
    max_batch: usize,
    queued: Arc<AtomicUsize>,
    /// Set by either thread on a failed write or sync: the store stops.
    failed: Arc<AtomicBool>,
}

impl Applier {
    fn run(self, mut rx: mpsc::UnboundedReceiver<Job>, applied: SyncSender<Acks>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.queued.fetch_sub(jobs.len(), Ordering::AcqRel);
            if self.failed.load(Ordering::Acquire) {
                for job in jobs {
                    let _ = job.ack.send(Err(StoreError::Failed));
                }
                continue;
            }
            let mut batch = sled::Batch::default();
            let mut pending = Pending::default();
            let mut accepted = Vec::with_capacity(jobs.len());
            for job in jobs {
                match self.stage(&job.op, &mut batch, &mut pending) {
                    Ok(()) => accepted.push(job.ack),
                    Err(e) => {
                        let _ = job.ack.send(Err(e));
                    }
                }
            }
            if accepted.is_empty() {
                continue;
            }
            if let Err(e) = self.db.apply_batch(batch) {
                let e = db_err(e);
                self.failed.store(true, Ordering::Release);
                tracing::error!(error = %e, "escrow write failed; store stopped");
                for ack in accepted {
                    let _ = ack.send(Err(e.clone()));
                }
                continue;
            }
            // Only fails if the syncer is gone; the dropped acks then read as Closed.
            let _ = applied.send(accepted);
        }
    }

    /// Checks one write against the store and the group so far, and adds
    /// it to the batch. A refused write fails alone, not its group.
    fn stage(&self, op: &Op, batch: &mut sled::Batch, p: &mut Pending) -> Result<(), StoreError> {
        match op {
            Op::Epoch(e) => {
                let key = layout::epoch_key(&e.id);
                let bytes = e.encode();
                if p.epochs.contains(&e.id) {
                    return Err(StoreError::Duplicate);
                }
                match self.db.get(key).map_err(db_err)? {
                    Some(old) if old[..] == bytes[..] => {}
                    Some(_) => return Err(StoreError::Duplicate),
                    None => batch.insert(&key[..], bytes),
                }
                p.epochs.insert(e.id);
            }
            Op::Record(r) => {
                let epoch = r.sealed.epoch;
                if !p.epochs.contains(&epoch)
                    && !self
                        .db
                        .contains_key(layout::epoch_key(&epoch))
                        .map_err(db_err)?
                {
                    return Err(StoreError::MissingEpoch(epoch));
                }
                let key = layout::record_key(&r.meta.call_id);
                let bytes = r.encode();
                let old = match p.records.get(&r.meta.call_id) {
                    Some(v) => Some(v.clone()),
                    None => self.db.get(&key).map_err(db_err)?.map(|v| v.to_vec()),
                };
                match old {
                    // A retry of the same record (its end time may have been set since).
                    Some(old) => {
                        let old = EscrowRecord::decode(&old).map_err(StoreError::Corrupt)?;
                        if old.meta != r.meta || old.sealed != r.sealed {
                            return Err(StoreError::Duplicate);
                        }
                    }
                    None => {
                        for k in layout::index_keys(&r.meta) {
                            batch.insert(k, &[][..]);
                        }
                        batch.insert(key, bytes.clone());
                        p.records.insert(r.meta.call_id.clone(), bytes);
                    }
                }
            }
            Op::End {
                call_id,
                ended_unix_ms,
            } => {
                let key = layout::record_key(call_id);
                let old = match p.records.get(call_id) {
                    Some(v) => v.clone(),
                    None => match self.db.get(&key).map_err(db_err)? {
                        Some(v) => v.to_vec(),
                        None => return Err(StoreError::NotFound),
                    },
                };
                let mut rec = EscrowRecord::decode(&old).map_err(StoreError::Corrupt)?;
                rec.ended_unix_ms = Some(*ended_unix_ms);
                let bytes = rec.encode();
                batch.insert(key, bytes.clone());
                p.records.insert(call_id.clone(), bytes);
            }
        }
        Ok(())
    }
}

struct Syncer {
    db: sled::Db,
    files: StoreFiles,
    hook: Option<SyncHook>,
    failed: Arc<AtomicBool>,
}

impl Syncer {
    fn run(mut self, applied: Receiver<Acks>) {
        let mut commits = 0u64;
        while let Ok(first) = applied.recv() {
            let mut groups = vec![first];
            groups.extend(applied.try_iter());
            let n = groups.iter().map(Vec::len).sum();
            let result = if self.failed.load(Ordering::Acquire) {
                Err(StoreError::Failed)
            } else {
                self.sync(n)
            };
            if let Err(e) = &result {
                if !matches!(e, StoreError::Failed) {
                    self.failed.store(true, Ordering::Release);
                    tracing::error!(error = %e, "escrow sync failed; store stopped");
                }
            }
            commits += 1;
            let outcome = result.map(|()| Durable {
                commit: commits,
                batch: n,
            });
            for ack in groups.into_iter().flatten() {
                let _ = ack.send(outcome.clone());
            }
        }
    }

    fn sync(&mut self, n: usize) -> Result<(), StoreError> {
        self.db.flush().map_err(db_err)?;
        self.files.sync().map_err(|e| StoreError::Sync(e.kind()))?;
        if let Some(hook) = &self.hook {
            hook(n).map_err(|e| StoreError::Sync(e.kind()))?;
        }
        Ok(())
    }
}
