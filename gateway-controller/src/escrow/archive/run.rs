//! The archive's own thread: folds each day `fold_after` past its end,
//! beside the indexer rather than in it, so indexing never waits for a
//! fold (merging a 32-day period rewrites gigabytes on a large store).

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::span::day_of;
use super::Archive;
use crate::escrow::store::StoreError;

/// How often the thread checks whether a day is due.
const CHECK: Duration = Duration::from_secs(60);
/// How long after a failed fold the next is tried.
const RETRY: Duration = Duration::from_secs(3600);

/// Runs until `stop` is dropped (or sent to). A failed fold leaves the
/// entries in sled, where queries still find them; it does not stop the
/// store.
pub(crate) fn run(
    archive: Arc<Archive>,
    db: sled::Db,
    fold_after: Duration,
    stop: Receiver<()>,
    closing: Arc<AtomicBool>,
) {
    let mut wait = Duration::ZERO;
    loop {
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        wait = CHECK;
        let lag = u64::try_from(fold_after.as_millis()).unwrap_or(u64::MAX);
        let through = day_of(crate::escrow::unix_ms().saturating_sub(lag));
        if through <= archive.through() {
            continue;
        }
        let started = Instant::now();
        match archive.fold(&db, through, &closing) {
            Ok(f) => tracing::info!(
                through_day = through,
                files = f.files,
                entries = f.entries,
                bytes = f.bytes,
                ms = started.elapsed().as_millis() as u64,
                "closed days' party entries moved to the escrow archive"
            ),
            Err(StoreError::Closed) => return,
            Err(e) => {
                wait = RETRY;
                tracing::error!(
                    error = %e,
                    retry_s = RETRY.as_secs(),
                    "cannot archive closed days; they stay in sled"
                );
            }
        }
    }
}
