//! Durable lawful-intercept escrow of call keys.
//!
//! [`Escrow`] seals each call key (under the live epoch key, see
//! [`cablekey_protocol::escrow`]) and resolves only once the record is
//! durable in its [`EscrowStore`]; the call agent sends the key after that,
//! and refuses the call if it fails. [`SledStore`] is the embedded backend: a write-ahead log for
//! durability, sled for search.
//! Design and security argument: `docs/escrow.md`.

mod archive;
mod bulk;
mod commit;
mod index;
mod layout;
mod overlay;
mod recover;
mod seen;
mod segment;
mod sled_store;
mod store;
mod sync;
mod wal;

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cablekey_protocol::escrow::{
    CallMeta, EpochId, EpochPolicy, EpochSealer, LePublicKey, SealError,
};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;

/// The LE key files live in their own crate (the CALEA server loads the
/// private half); re-exported where the controller's users look for them.
pub use archive::{ArchiveError, Folded};
pub use bulk::BulkLoad;
pub use cablekey_keyfile as keyfile;
pub use commit::SyncHook;
pub use sled_store::{open_index, Options, SledStore, DEFAULT_DIR};
pub use store::{Durable, EscrowStore, Filed, StoreError, TimeRange};
pub use wal::LogError;

/// Why a call key was not escrowed: the call must be refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscrowError {
    #[error("cannot seal the call key: {0}")]
    Seal(#[from] SealError),
    #[error("cannot store the escrow record: {0}")]
    Store(#[from] StoreError),
}

/// A durably escrowed call key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub epoch: EpochId,
    pub seq: u64,
    pub durable: Durable,
}

/// Seals call keys and stores them durably. Share it behind an `Arc`.
pub struct Escrow<S> {
    store: S,
    sealer: Mutex<EpochSealer>,
    origin: std::time::Instant,
}

impl<S: EscrowStore> Escrow<S> {
    pub fn new(store: S, le: LePublicKey, policy: EpochPolicy) -> Escrow<S> {
        Escrow {
            store,
            sealer: Mutex::new(EpochSealer::new(le, policy)),
            origin: std::time::Instant::now(),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> Instant {
        let us = self.origin.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    fn sealer(&self) -> std::sync::MutexGuard<'_, EpochSealer> {
        // The sealer's state stays consistent across a panic elsewhere.
        self.sealer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seals `key` for the call `meta` and returns once the record (and its
    /// epoch record, for the first call of an epoch) is durable. Only then
    /// may the key leave the controller.
    pub async fn escrow(&self, meta: CallMeta, key: &SecretBytes) -> Result<Receipt, EscrowError> {
        let (epoch_put, record_put, epoch, seq) = {
            let mut sealer = self.sealer();
            let sealed = sealer.seal(meta, key, self.now(), unix_ms(), &mut UnwrapErr(SysRng))?;
            let (epoch, seq) = (sealed.record.sealed.epoch, sealed.record.sealed.seq);
            // Queued under the lock, so an epoch record is always queued
            // before every record sealed under it (the store's ordering
            // contract makes that "durable no later than").
            let epoch_put = sealed.new_epoch.map(|e| self.store.put_epoch(e));
            let record_put = self.store.put(sealed.record);
            (epoch_put, record_put, epoch, seq)
        };
        // Which write failed matters: a refused epoch record poisons its epoch.
        let result = async {
            if let Some(put) = epoch_put {
                put.await.map_err(|e| (true, e))?;
            }
            record_put.await.map_err(|e| (false, e))
        }
        .await;
        match result {
            Ok(durable) => Ok(Receipt {
                epoch,
                seq,
                durable,
            }),
            Err((epoch_failed, e)) => {
                let epoch_safe =
                    !epoch_failed && matches!(e, StoreError::Duplicate | StoreError::Overloaded);
                if !epoch_safe {
                    // The epoch record may not be durable: never seal
                    // under this epoch again.
                    let mut sealer = self.sealer();
                    if sealer.live_epoch() == Some(epoch) {
                        sealer.abandon_epoch();
                    }
                }
                tracing::warn!(error = %e, "escrow failed; the call must be refused");
                Err(e.into())
            }
        }
    }

    /// Ends the live epoch if it has expired, wiping its key.
    pub fn tick(&self) {
        let now = self.now();
        self.sealer().handle_timeout(now);
    }

    /// Wipes the live epoch key now (shutdown).
    pub fn end_epoch(&self) {
        self.sealer().end_epoch();
    }

    /// The epoch whose key is in memory, if any.
    pub fn live_epoch(&self) -> Option<EpochId> {
        self.sealer().live_epoch()
    }

    /// How long until the live epoch expires.
    pub fn next_deadline(&self) -> Option<Duration> {
        let at = self.sealer().poll_timeout()?;
        Some(at.saturating_since(self.now()))
    }

    /// Ends epochs on time even when no calls come: run it as a task for
    /// the controller's lifetime.
    pub async fn run_epoch_timer(&self) {
        loop {
            let wait = self.next_deadline().unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
            self.tick();
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
