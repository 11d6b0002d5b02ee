//! Writes that are in the log but not yet in sled. Reads and duplicate
//! checks look here as well as in sled, so a query never misses an
//! acknowledged record while the indexer catches up. Each entry carries the
//! log sequence number of its latest write, so the indexer only removes an
//! entry that no later write has replaced.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord};

/// Which overlay entry a write is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    Record(String),
    Epoch(EpochId),
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, (u64, EscrowRecord)>,
    epochs: HashMap<EpochId, (u64, EpochRecord)>,
}

#[derive(Default)]
pub(crate) struct Overlay {
    inner: Mutex<Inner>,
}

impl Overlay {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain maps: consistent after a panic elsewhere.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record(&self, call_id: &str) -> Option<EscrowRecord> {
        self.lock().records.get(call_id).map(|(_, r)| r.clone())
    }

    pub(crate) fn epoch(&self, id: &EpochId) -> Option<EpochRecord> {
        self.lock().epochs.get(id).map(|(_, e)| e.clone())
    }

    pub(crate) fn put_record(&self, lsn: u64, record: EscrowRecord) {
        let id = record.meta.call_id.clone();
        self.lock().records.insert(id, (lsn, record));
    }

    pub(crate) fn put_epoch(&self, lsn: u64, epoch: EpochRecord) {
        self.lock().epochs.insert(epoch.id, (lsn, epoch));
    }

    /// Drops entries now in sled, unless rewritten since.
    pub(crate) fn remove(&self, done: impl IntoIterator<Item = (u64, Tag)>) {
        let mut inner = self.lock();
        for (lsn, tag) in done {
            match tag {
                Tag::Record(id) => {
                    if inner.records.get(&id).is_some_and(|(l, _)| *l == lsn) {
                        inner.records.remove(&id);
                    }
                }
                Tag::Epoch(id) => {
                    if inner.epochs.get(&id).is_some_and(|(l, _)| *l == lsn) {
                        inner.epochs.remove(&id);
                    }
                }
            }
        }
    }

    /// Records matching `keep`. A linear scan: the overlay holds at most
    /// the indexer's backlog (`Options::max_unindexed`).
    pub(crate) fn records_where(&self, keep: impl Fn(&EscrowRecord) -> bool) -> Vec<EscrowRecord> {
        let inner = self.lock();
        inner
            .records
            .values()
            .filter(|(_, r)| keep(r))
            .map(|(_, r)| r.clone())
            .collect()
    }
}
