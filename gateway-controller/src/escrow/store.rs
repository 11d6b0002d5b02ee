//! The escrow store seam: what the controller and the LI service need from
//! a backend, so a replicated one can replace the embedded sled store.

use std::future::Future;
use std::io;

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord, FormatError};

/// Start times in `[from_ms, to_ms)`, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        from_ms: 0,
        to_ms: u64::MAX,
    };
}

/// A call's record with the epoch record it was sealed under: what the LE
/// side needs to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub record: EscrowRecord,
    pub epoch: EpochRecord,
}

/// Proof that a write is durable: it would survive a power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// Number of the group commit that made it durable (counts from 1 per open).
    pub commit: u64,
    /// How many writes that commit carried.
    pub batch: usize,
}

/// Why a store operation failed. A failed `put` means the call must be
/// refused: its key is not escrowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("escrow store I/O error while {op}: {kind}")]
    Io {
        op: &'static str,
        kind: io::ErrorKind,
    },
    #[error("escrow database error: {0}")]
    Db(String),
    /// The fsync/fdatasync of a commit failed. What reached the disk is
    /// unknown, so the store refuses writes from now on.
    #[error("escrow store sync failed ({0}); store stopped")]
    Sync(io::ErrorKind),
    /// An earlier commit failed; reopen the store.
    #[error("escrow store stopped after an earlier failure")]
    Failed,
    /// Too many writes are waiting; refuse the call rather than wait.
    #[error("escrow store overloaded")]
    Overloaded,
    #[error("escrow store is closed")]
    Closed,
    /// The call id is already escrowed with a different record.
    #[error("call id already escrowed with another record")]
    Duplicate,
    /// A record names an epoch whose epoch record is not stored.
    #[error("epoch {0} is not in the store")]
    MissingEpoch(EpochId),
    #[error("no escrow record for this call")]
    NotFound,
    #[error("stored value is corrupt: {0}")]
    Corrupt(FormatError),
    /// A stored record names another call or party than the key it is
    /// stored under, or another epoch than the epoch record beside it.
    #[error("stored record is filed under another call, party or epoch")]
    Misfiled,
    /// A log segment is damaged other than by a torn final write: records
    /// acknowledged after the damage could be lost, so the store does not open.
    #[error("escrow log segment {segment:016x} is damaged: {error}")]
    Log {
        segment: u64,
        error: super::wal::LogError,
    },
    /// An archive file (closed days' party entries) or its manifest is
    /// damaged or unreadable.
    #[error("escrow archive {file}: {error}")]
    Archive {
        file: String,
        error: super::archive::ArchiveError,
    },
    #[error("bad query: {0}")]
    Query(FormatError),
}

/// An escrow backend.
///
/// Ordering contract: a write is queued when `put_epoch`, `put` or
/// `set_end` is *called*, before its future is polled, and writes become
/// durable in queue order. So a caller that calls `put_epoch(e)` and then
/// `put(r)` (for a record of epoch `e`) never sees `r` durable without `e`.
/// A backend must also refuse a record whose epoch record it does not hold.
pub trait EscrowStore: Send + Sync + 'static {
    /// Stores an epoch record; resolves once it is durable.
    fn put_epoch(
        &self,
        epoch: EpochRecord,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static;

    /// Stores a call's record; resolves once it is durable. Storing the
    /// same record again is accepted; a different record for the same call
    /// id is [`StoreError::Duplicate`].
    fn put(
        &self,
        record: EscrowRecord,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static;

    /// Records when a call ended (advisory metadata, not sealed).
    fn set_end(
        &self,
        call_id: &str,
        ended_unix_ms: u64,
    ) -> impl Future<Output = Result<Durable, StoreError>> + Send + 'static;

    fn get(
        &self,
        call_id: &str,
    ) -> impl Future<Output = Result<Option<EscrowRecord>, StoreError>> + Send;

    fn epoch(
        &self,
        id: EpochId,
    ) -> impl Future<Output = Result<Option<EpochRecord>, StoreError>> + Send;

    /// Records where `number` is caller or callee, started in `range`,
    /// oldest first, each with its epoch record.
    fn by_party(
        &self,
        number: &str,
        range: TimeRange,
    ) -> impl Future<Output = Result<Vec<Filed>, StoreError>> + Send;

    /// Records started in `range`, oldest first.
    fn by_time(
        &self,
        range: TimeRange,
    ) -> impl Future<Output = Result<Vec<EscrowRecord>, StoreError>> + Send;
}
