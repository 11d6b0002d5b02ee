//! The indexer: copies acknowledged writes from the log into sled (records
//! and their indexes, see `layout`), off the acknowledgement path, and
//! deletes a log segment once everything in it is durable in sled.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord};

use super::layout;
use super::overlay::{Overlay, Tag};
use super::segment::WalDir;
use super::store::StoreError;
use super::sync::StoreFiles;
use super::wal::Kind;

/// One write as sled will hold it.
pub(crate) struct Staged {
    /// Log sequence number (order of acceptance since open).
    pub(crate) lsn: u64,
    pub(crate) tag: Tag,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    /// A record's epoch and party index keys: every write of a record
    /// rewrites its party entries, whose values copy it (see `layout`).
    pub(crate) parties: Option<(EpochId, Vec<Vec<u8>>)>,
    /// Empty index entries to insert with it (a new record's time entry).
    pub(crate) index: Vec<Vec<u8>>,
}

impl Staged {
    pub(crate) fn epoch(lsn: u64, e: &EpochRecord, value: Vec<u8>) -> Staged {
        Staged {
            lsn,
            tag: Tag::Epoch(e.id),
            key: layout::epoch_key(&e.id).to_vec(),
            value,
            parties: None,
            index: Vec::new(),
        }
    }

    /// A new record (`indexed`) or a rewrite of one (its time entry exists).
    pub(crate) fn record(lsn: u64, r: &EscrowRecord, value: Vec<u8>, indexed: bool) -> Staged {
        Staged {
            lsn,
            tag: Tag::Record(r.meta.call_id.clone()),
            key: layout::record_key(&r.meta.call_id),
            value,
            parties: Some((r.sealed.epoch, layout::party_keys(&r.meta))),
            index: if indexed {
                vec![layout::time_key(&r.meta)]
            } else {
                Vec::new()
            },
        }
    }

    /// The sled writes of a log frame (replay).
    pub(crate) fn from_frame(lsn: u64, kind: Kind, payload: &[u8]) -> Result<Staged, StoreError> {
        let value = payload.to_vec();
        match kind {
            Kind::Epoch => {
                let e = EpochRecord::decode(payload).map_err(StoreError::Corrupt)?;
                Ok(Staged::epoch(lsn, &e, value))
            }
            Kind::Record | Kind::Update => {
                let r = EscrowRecord::decode(payload).map_err(StoreError::Corrupt)?;
                Ok(Staged::record(lsn, &r, value, kind == Kind::Record))
            }
        }
    }

    /// The party entries' shared value: the record, then its epoch record.
    fn party_value(
        &self,
        epoch: &EpochId,
        db: &sled::Db,
        epochs: &mut Epochs,
    ) -> Result<sled::IVec, StoreError> {
        Ok(layout::party_value(&self.value, epochs.bytes(db, epoch)?).into())
    }

    /// Record first, then its index entries (see `Indexer::apply`).
    pub(crate) fn insert_into(&self, db: &sled::Db, epochs: &mut Epochs) -> Result<(), StoreError> {
        db.insert(&self.key[..], &self.value[..])
            .map_err(db_err("indexing"))?;
        epochs.note(self);
        if let Some((epoch, keys)) = &self.parties {
            let value = self.party_value(epoch, db, epochs)?;
            for k in keys {
                db.insert(&k[..], value.clone())
                    .map_err(db_err("indexing"))?;
            }
        }
        for k in &self.index {
            db.insert(&k[..], &[][..]).map_err(db_err("indexing"))?;
        }
        Ok(())
    }
}

/// Epoch records for party entries: the ones staged lately in memory (a
/// record follows its epoch's closely), older ones read from sled.
#[derive(Default)]
pub(crate) struct Epochs {
    recent: HashMap<EpochId, Vec<u8>>,
}

/// Epoch records kept before the map is emptied.
const EPOCHS_KEPT: usize = 64;

impl Epochs {
    fn note(&mut self, s: &Staged) {
        if let Tag::Epoch(id) = &s.tag {
            self.keep(*id, s.value.clone());
        }
    }

    fn keep(&mut self, id: EpochId, value: Vec<u8>) {
        if self.recent.len() >= EPOCHS_KEPT {
            self.recent.clear();
        }
        self.recent.insert(id, value);
    }

    fn bytes(&mut self, db: &sled::Db, id: &EpochId) -> Result<&[u8], StoreError> {
        if !self.recent.contains_key(id) {
            let v = db
                .get(layout::epoch_key(id))
                .map_err(db_err("reading an epoch record"))?
                .ok_or(StoreError::MissingEpoch(*id))?;
            self.keep(*id, v.to_vec());
        }
        self.recent
            .get(id)
            .map(|v| &v[..])
            .ok_or(StoreError::MissingEpoch(*id))
    }
}

/// Marks every write of `pending` that a later one of the same key
/// replaces, moving its time entry to that later write (which rewrites
/// the party entries anyway).
fn coalesce(pending: &mut [Staged]) -> Vec<bool> {
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(pending.len());
    let mut moves = Vec::new();
    for (i, s) in pending.iter().enumerate().rev() {
        match last.get(&s.key[..]) {
            Some(&later) => moves.push((i, later)),
            None => {
                last.insert(&s.key[..], i);
            }
        }
    }
    let mut superseded = vec![false; pending.len()];
    for (i, later) in moves {
        superseded[i] = true;
        let index = std::mem::take(&mut pending[i].index);
        pending[later].index.extend(index);
    }
    superseded
}

pub(crate) fn db_err(op: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |e| match e {
        sled::Error::Io(e) => StoreError::Io { op, kind: e.kind() },
        other => StoreError::Db(other.to_string()),
    }
}

/// Makes sled's state durable: sled's flush, then a real `fdatasync`.
pub(crate) fn checkpoint(db: &sled::Db, files: &mut StoreFiles) -> Result<(), StoreError> {
    db.flush().map_err(db_err("flushing the index"))?;
    files.sync().map_err(|e| StoreError::Sync(e.kind()))
}

/// What the syncer hands on, in log order.
pub(crate) enum ToIndex {
    /// Durable, acknowledged writes.
    Group(Vec<Staged>),
    /// Nothing more will be written to this segment.
    Sealed(PathBuf),
}

pub(crate) struct Indexer {
    pub(crate) db: sled::Db,
    pub(crate) files: StoreFiles,
    pub(crate) wal: WalDir,
    pub(crate) overlay: Arc<Overlay>,
    pub(crate) epochs: Epochs,
    /// Writes accepted and not yet in sled (the backpressure count).
    pub(crate) unindexed: Arc<AtomicUsize>,
    pub(crate) failed: Arc<AtomicBool>,
}

/// Most writes applied before the overlay is trimmed.
const MAX_INDEX_BATCH: usize = 4_096;
/// Fewer writes than this wait up to `INDEX_WAIT` for more, so the
/// indexer wakes up less often.
const MIN_INDEX_BATCH: usize = 256;
const INDEX_WAIT: Duration = Duration::from_millis(5);

impl Indexer {
    pub(crate) fn run(mut self, rx: Receiver<ToIndex>) {
        let mut pending: Vec<Staged> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                let ok = match msg {
                    ToIndex::Group(staged) => {
                        pending.extend(staged);
                        pending.len() < MAX_INDEX_BATCH || self.apply(&mut pending)
                    }
                    ToIndex::Sealed(path) => self.apply(&mut pending) && self.seal(path),
                };
                if !ok {
                    // The log keeps everything; the next open replays it.
                    return;
                }
                next = if pending.len() < MIN_INDEX_BATCH {
                    rx.recv_timeout(INDEX_WAIT).ok()
                } else {
                    rx.try_recv().ok()
                };
            }
            if !self.apply(&mut pending) {
                return;
            }
        }
    }

    /// Inserts `pending` into sled, then drops it from the overlay.
    ///
    /// One insert at a time, not a sled batch: sled 0.34 applies a batch
    /// under a global write lock, which stalled the stager's lookups for
    /// up to 150 ms (measured). Atomicity is not needed here: the record
    /// goes in before its index entries, and a crash part-way is repaired
    /// by the replay (a segment is deleted only after a checkpoint).
    ///
    /// A record rewritten within `pending` (the end time set soon after
    /// the record was written) goes into sled once, with its last value
    /// and the index entries of all its writes.
    fn apply(&mut self, pending: &mut Vec<Staged>) -> bool {
        if pending.is_empty() {
            return true;
        }
        let superseded = coalesce(pending);
        for (s, skip) in pending.iter().zip(&superseded) {
            if *skip {
                continue;
            }
            if let Err(e) = s.insert_into(&self.db, &mut self.epochs) {
                return self.fail(e);
            }
        }
        let n = pending.len();
        self.overlay
            .remove(pending.drain(..).map(|s| (s.lsn, s.tag)));
        self.unindexed.fetch_sub(n, Ordering::AcqRel);
        true
    }

    /// Everything in the segment is in sled: make sled durable, then delete it.
    fn seal(&mut self, path: PathBuf) -> bool {
        if let Err(e) = checkpoint(&self.db, &mut self.files) {
            return self.fail(e);
        }
        if let Err(e) = self.wal.remove(&path) {
            // Harmless: replayed at the next open. Not a reason to stop.
            tracing::warn!(segment = %path.display(), error = %e, "cannot delete an indexed log segment");
        } else {
            tracing::debug!(segment = %path.display(), "log segment indexed and deleted");
        }
        true
    }

    fn fail(&self, e: StoreError) -> bool {
        self.failed.store(true, Ordering::Release);
        tracing::error!(error = %e, "escrow indexing failed; store stopped (the log keeps every record)");
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(lsn: u64, key: &[u8], value: &[u8], index: &[&[u8]]) -> Staged {
        Staged {
            lsn,
            tag: Tag::Record(String::from_utf8_lossy(key).into_owned()),
            key: key.to_vec(),
            value: value.to_vec(),
            parties: None,
            index: index.iter().map(|k| k.to_vec()).collect(),
        }
    }

    #[test]
    fn a_rewritten_record_goes_in_once_with_every_index_entry() {
        let mut pending = vec![
            staged(1, b"a", b"a1", &[b"ia"]),
            staged(2, b"b", b"b1", &[b"ib"]),
            staged(3, b"a", b"a2", &[]),
            staged(4, b"a", b"a3", &[]),
        ];
        let superseded = coalesce(&mut pending);
        assert_eq!(superseded, [true, false, true, false]);
        assert_eq!(pending[3].value, b"a3");
        assert_eq!(pending[3].index, [b"ia".to_vec()]);
        assert_eq!(pending[1].index, [b"ib".to_vec()]);
    }
}
