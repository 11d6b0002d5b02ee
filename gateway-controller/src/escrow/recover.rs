//! Opening after a crash: every segment still in the log holds writes that
//! may not be in sled yet. They are replayed into sled (the writes are
//! idempotent: the same keys get the same values), sled is made durable,
//! and the segments are deleted. Only then does the store take writes, so
//! a query never misses an acknowledged record.

use super::index::{checkpoint, Epochs, Staged};
use super::segment::{truncate, WalDir};
use super::store::StoreError;
use super::sync::StoreFiles;
use super::wal;

/// Replays the log into sled; returns the number for the next segment.
pub(crate) fn replay(
    db: &sled::Db,
    files: &mut StoreFiles,
    wal_dir: &WalDir,
) -> Result<u64, StoreError> {
    let io = |op| move |e: std::io::Error| StoreError::Io { op, kind: e.kind() };
    let segments = wal_dir.segments().map_err(io("listing the log"))?;
    let mut frames = 0usize;
    let mut epochs = Epochs::default();
    for (i, (seq, path)) in segments.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(io("reading the log"))?;
        let last = i + 1 == segments.len();
        let scan = wal::scan(&bytes, last).map_err(|error| StoreError::Log {
            segment: *seq,
            error,
        })?;
        if scan.valid < bytes.len() {
            // Never acknowledged: its sync had not completed.
            tracing::warn!(
                segment = %path.display(),
                valid = scan.valid,
                dropped = bytes.len() - scan.valid,
                "torn write at the end of the escrow log (crash during a commit); truncating"
            );
            truncate(path, scan.valid as u64).map_err(io("truncating the log"))?;
        }
        // One insert at a time, as the indexer does: a sled batch grows
        // the process by about 14 KB per write (`escrow::bulk`).
        for &(kind, payload) in &scan.frames {
            Staged::from_frame(0, kind, payload)?.insert_into(db, &mut epochs)?;
        }
        frames += scan.frames.len();
    }
    if let Some(&(last, _)) = segments.last() {
        checkpoint(db, files)?;
        for (_, path) in &segments {
            wal_dir
                .remove(path)
                .map_err(io("deleting a replayed segment"))?;
        }
        tracing::info!(
            segments = segments.len(),
            frames,
            "escrow log replayed into the index"
        );
        return Ok(last + 1);
    }
    Ok(1)
}
