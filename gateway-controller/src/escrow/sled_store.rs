//! The embedded escrow store: sled 0.34 plus a real sync and group commit.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cablekey_protocol::escrow::{check_number, EpochId, EpochRecord, EscrowRecord, MAX_CALL_ID};
use tokio::sync::{mpsc, oneshot};

use super::commit::{Committer, Job, Op, SyncHook};
use super::layout;
use super::store::{Durable, EscrowStore, StoreError, TimeRange};
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
    /// Runs after each commit's sync, before its acks (see [`SyncHook`]).
    pub sync_hook: Option<SyncHook>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_batch: 4096,
            max_queued: 65_536,
            sync_hook: None,
        }
    }
}

/// Escrow records in a sled database, durable on acknowledgement.
pub struct SledStore {
    db: sled::Db,
    dir: PathBuf,
    tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn open_err(op: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Io { op, kind: e.kind() }
}

fn db_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(e) => StoreError::Io {
            op: "reading",
            kind: e.kind(),
        },
        other => StoreError::Db(other.to_string()),
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir` and starts its commit threads.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<SledStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let db = sled::Config::new()
            .path(&dir)
            // Our syncer flushes; sled's timer flusher would only add syncs.
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(e) => StoreError::Io {
                    op: "opening the store",
                    kind: e.kind(),
                },
                other => StoreError::Db(other.to_string()),
            })?;
        let files = StoreFiles::open(&dir).map_err(open_err("syncing the new store"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let committer = Committer {
            queued: queued.clone(),
            db: db.clone(),
            files,
            max_batch: options.max_batch.max(1),
            hook: options.sync_hook,
        };
        let threads = committer
            .start(rx)
            .map_err(open_err("starting the committer"))?;
        Ok(SledStore {
            db,
            dir,
            tx: Mutex::new(Some(tx)),
            queued,
            max_queued: options.max_queued,
            threads: Mutex::new(threads),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finishes queued writes and stops the commit threads.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Queues `op` now (the ordering contract) and returns its ack.
    fn submit(&self, op: Op) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static {
        let (ack, rx) = oneshot::channel();
        let refused = if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            Some(StoreError::Overloaded)
        } else {
            match &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(tx) if tx.send(Job { op, ack }).is_ok() => None,
                _ => {
                    self.queued.fetch_sub(1, Ordering::AcqRel);
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

    fn record_at(&self, call_id: &[u8]) -> Result<Option<EscrowRecord>, StoreError> {
        let mut key = Vec::with_capacity(1 + call_id.len());
        key.push(layout::RECORD);
        key.extend_from_slice(call_id);
        let Some(v) = self.db.get(key).map_err(db_err)? else {
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

    /// Records named by the index keys in `[from, to)`.
    fn scan(
        &self,
        from: Vec<u8>,
        to: Vec<u8>,
        prefix_len: usize,
    ) -> Result<Vec<EscrowRecord>, StoreError> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for item in self.db.range(from..to) {
            let (k, _) = item.map_err(db_err)?;
            let Some(id) = layout::call_id_of(&k, prefix_len) else {
                continue;
            };
            // An index entry is written in the same batch as its record.
            match self.record_at(id)? {
                Some(r) => out.push(r),
                None => return Err(StoreError::Db("index entry without its record".into())),
            }
        }
        Ok(out)
    }
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
        match self.db.get(layout::epoch_key(&id)).map_err(db_err)? {
            None => Ok(None),
            Some(v) => EpochRecord::decode(&v)
                .map(Some)
                .map_err(StoreError::Corrupt),
        }
    }

    async fn by_party(
        &self,
        number: &str,
        range: TimeRange,
    ) -> Result<Vec<EscrowRecord>, StoreError> {
        check_number(number).map_err(StoreError::Query)?;
        let from = layout::party_prefix(number, range.from_ms);
        let to = layout::party_prefix(number, range.to_ms);
        self.scan(from, to, 2 + number.len() + 8)
    }

    async fn by_time(&self, range: TimeRange) -> Result<Vec<EscrowRecord>, StoreError> {
        let from = layout::time_prefix(range.from_ms);
        let to = layout::time_prefix(range.to_ms);
        self.scan(from, to, 9)
    }
}
