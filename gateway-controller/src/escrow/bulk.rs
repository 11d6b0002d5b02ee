//! Bulk loading: records written straight into sled, in the layout and
//! the order the indexer gives them (`layout`, `Staged::insert_into`: the
//! record, then its index entries, one insert at a time), without the
//! write-ahead log. For benchmark stores (`cablekey bench escrow-gen`) and
//! offline imports: the result is what [`SledStore`](super::SledStore)
//! holds once its log is indexed and deleted, and it opens as one.
//!
//! One insert at a time, as the indexer does, rather than sled batches:
//! loading through `apply_batch` grew the process by about 14 KB per
//! record (2.8 GB for 200,000 records, measured; one insert at a time
//! stays near 200 MB).
//!
//! Size (10 million records over 90 days, days folded as they end with
//! [`BulkLoad::fold_before`]): 7.4 GB of archive files (about 390 bytes
//! per party entry) and a 34 GB sled file, most of it space of deleted
//! party entries that sled 0.34 reclaims lazily (`BENCHMARKS.md`, "Escrow
//! lookup").
//!
//! Not for a store in use: nothing here is durable until
//! [`BulkLoad::finish`], and no duplicate check is made (the same call id
//! loaded twice keeps the last record).

use std::path::Path;

use cablekey_protocol::escrow::{EpochRecord, EscrowRecord};

use super::archive::{day_of, Archive, Folded};
use super::index::{checkpoint, db_err, Epochs, Staged};
use super::layout;
use super::sled_store::open_db;
use super::store::StoreError;
use super::sync::StoreFiles;

/// Writes between two sled flushes (as the indexer flushes per segment).
const FLUSH_EVERY: u64 = 262_144;

/// Fills a new store directory.
pub struct BulkLoad {
    db: sled::Db,
    files: StoreFiles,
    epochs: Epochs,
    loaded: u64,
    archive: Archive,
}

impl BulkLoad {
    /// Opens (creating) the store in `dir`. `cache_bytes` is sled's page
    /// cache while loading.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<BulkLoad, StoreError> {
        let db = open_db(
            sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                .flush_every_ms(None),
        )?;
        let files = StoreFiles::open(dir).map_err(|e| StoreError::Io {
            op: "syncing the new store",
            kind: e.kind(),
        })?;
        layout::check_version(&db)?;
        Ok(BulkLoad {
            db,
            files,
            epochs: Epochs::default(),
            loaded: 0,
            archive: Archive::open(dir)?,
        })
    }

    /// Adds an epoch record; load it before the records sealed under it.
    pub fn epoch(&mut self, e: &EpochRecord) -> Result<(), StoreError> {
        self.add(Staged::epoch(0, e, e.encode()))
    }

    /// Adds a call's record with its index entries.
    pub fn record(&mut self, r: &EscrowRecord) -> Result<(), StoreError> {
        self.add(Staged::record(0, r, r.encode(), true))
    }

    /// Moves the party entries of every day before the one of `cutoff_ms`
    /// into the archive, as a running store does once a day has ended.
    pub fn fold_before(&mut self, cutoff_ms: u64) -> Result<Folded, StoreError> {
        let never = std::sync::atomic::AtomicBool::new(false);
        self.archive.fold(&self.db, day_of(cutoff_ms), &never)
    }

    /// Records and epoch records added so far.
    pub fn loaded(&self) -> u64 {
        self.loaded
    }

    fn add(&mut self, s: Staged) -> Result<(), StoreError> {
        s.insert_into(&self.db, &mut self.epochs)?;
        self.loaded += 1;
        if self.loaded % FLUSH_EVERY == 0 {
            self.db.flush().map_err(db_err("flushing"))?;
        }
        Ok(())
    }

    /// Makes sled durable (flush, then a real `fdatasync`, as the
    /// indexer's checkpoint).
    pub fn finish(mut self) -> Result<u64, StoreError> {
        checkpoint(&self.db, &mut self.files)?;
        Ok(self.loaded)
    }
}
