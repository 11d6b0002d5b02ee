//! The controller side: seals call keys under a short-lived epoch key that is
//! itself HPKE-sealed to the LE public key and wiped when the epoch ends.
//!
//! Sans-IO: the caller passes the time and the random generator, stores the
//! [`EpochRecord`] a seal may return durably before (or atomically with) the
//! first record sealed under it, and calls [`EpochSealer::handle_timeout`]
//! at [`EpochSealer::poll_timeout`] so an idle epoch's key does not linger.

use core::time::Duration;

use aes_gcm::aead::{inout::InOutBuf, AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use hpke::rand_core::CryptoRng;
use hpke::Serializable;
use zeroize::{Zeroize, Zeroizing};

use super::record::{record_aad, EPOCH_KEY, TAG};
use super::{
    Aead, CallMeta, EpochId, EpochLink, EpochRecord, EscrowRecord, FormatError, Kdf, Kem,
    LePublicKey, SealedKey, MAX_CALL_KEY, MIN_CALL_KEY,
};
use crate::secret::SecretBytes;
use crate::time::Instant;

/// HPKE `info` for epoch keys; the epoch header is the AAD.
pub(crate) const EPOCH_INFO: &[u8] = b"cablekey escrow epoch key v1";

/// When an epoch ends: whichever limit comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochPolicy {
    /// Longest life of an epoch key. A controller compromised while an
    /// epoch is live can open that epoch's records: this bounds the window.
    pub max_age: Duration,
    /// Most records per epoch (also bounds nonce use per key).
    pub max_records: u64,
}

impl Default for EpochPolicy {
    fn default() -> Self {
        EpochPolicy {
            max_age: Duration::from_secs(30),
            max_records: 1_000_000,
        }
    }
}

/// Hard cap on records per epoch key, far below AES-GCM's limits.
pub const MAX_EPOCH_RECORDS: u64 = 1 << 32;

/// Why a call key could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("call metadata: {0}")]
    Meta(#[from] FormatError),
    #[error("call key must be {MIN_CALL_KEY} to {MAX_CALL_KEY} bytes")]
    KeyLength,
    /// HPKE refused the LE public key (a low-order point).
    #[error("cannot seal to the LE public key")]
    LeKey,
}

/// What a seal produced. If `new_epoch` is set, it must be stored no later
/// than `record` (same atomic batch or earlier), or the record is unopenable.
#[derive(Debug)]
pub struct Sealed {
    pub new_epoch: Option<EpochRecord>,
    pub record: EscrowRecord,
}

/// The live epoch. Holds only the AES key schedule (zeroized on drop by
/// aes-gcm's `zeroize` feature), never the LE private key.
// Fails to build if that feature is ever lost.
const _: fn() = || {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<Aes256Gcm>();
};

struct Live {
    id: EpochId,
    cipher: Aes256Gcm,
    next_seq: u64,
    expires: Instant,
}

/// Seals call keys for one controller. Has no way to open anything: once an
/// epoch ends its key schedule is dropped, and only the LE private key can
/// recover it from the epoch record.
pub struct EpochSealer {
    le: LePublicKey,
    policy: EpochPolicy,
    live: Option<Live>,
    /// The last ended epoch, linked from the next epoch record.
    ended: Option<EpochLink>,
}

impl EpochSealer {
    pub fn new(le: LePublicKey, policy: EpochPolicy) -> EpochSealer {
        EpochSealer {
            le,
            policy,
            live: None,
            ended: None,
        }
    }

    pub fn le_public(&self) -> &LePublicKey {
        &self.le
    }

    /// The epoch whose key is in memory, if any.
    pub fn live_epoch(&self) -> Option<EpochId> {
        self.live.as_ref().map(|l| l.id)
    }

    /// When the live epoch must end.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.live.as_ref().map(|l| l.expires)
    }

    /// Ends the live epoch if it has expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.live.as_ref().is_some_and(|l| now >= l.expires) {
            self.end_epoch();
        }
    }

    /// Ends the live epoch now, wiping its key (shutdown). The next epoch
    /// record links to it.
    pub fn end_epoch(&mut self) {
        if let Some(live) = self.live.take() {
            self.retire(live);
        }
    }

    /// Ends the live epoch now without linking it from the next one: when
    /// the store failed and its records (even its epoch record) may be
    /// missing for that reason. The LE sees a break in the chain, as after
    /// a restart, rather than what looks like deleted records.
    pub fn abandon_epoch(&mut self) {
        self.live = None;
        self.ended = None;
    }

    /// Drops (wipes) an epoch, keeping only its id and record count.
    fn retire(&mut self, live: Live) {
        self.ended = Some(EpochLink {
            epoch: live.id,
            records: live.next_seq,
        });
    }

    /// Seals `key` for the call `meta`. `now` is the monotonic clock (epoch
    /// expiry); `wall_ms` the Unix time in milliseconds stamped on a new epoch.
    pub fn seal(
        &mut self,
        meta: CallMeta,
        key: &SecretBytes,
        now: Instant,
        wall_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Sealed, SealError> {
        meta.validate()?;
        if !(MIN_CALL_KEY..=MAX_CALL_KEY).contains(&key.len()) {
            return Err(SealError::KeyLength);
        }
        self.handle_timeout(now);
        // Taken out and put back only if it may seal again: an epoch that
        // reaches its record limit is dropped (wiped) right here.
        let (new_epoch, mut live) = match self.live.take() {
            Some(live) => (None, live),
            None => {
                let (rec, live) = self.start_epoch(now, wall_ms, rng)?;
                // Linked once: the next epoch links to this one instead.
                self.ended = None;
                (Some(rec), live)
            }
        };
        let seq = live.next_seq;
        live.next_seq += 1;
        let aad = record_aad(&meta, &live.id, seq);
        let mut ct = alloc::vec::Vec::with_capacity(key.len() + TAG);
        ct.extend_from_slice(key.expose());
        let tag = live
            .cipher
            .encrypt_inout_detached(&nonce(seq), &aad, InOutBuf::from(&mut ct[..]))
            // Only fails for messages near 2^36 bytes; ours are at most 64.
            .map_err(|_| SealError::KeyLength)?;
        ct.extend_from_slice(&tag);
        let sealed = SealedKey {
            epoch: live.id,
            seq,
            ct,
        };
        if live.next_seq < self.policy.max_records.min(MAX_EPOCH_RECORDS) {
            self.live = Some(live);
        } else {
            self.retire(live);
        }
        Ok(Sealed {
            new_epoch,
            record: EscrowRecord {
                meta,
                sealed,
                ended_unix_ms: None,
            },
        })
    }

    fn start_epoch(
        &self,
        now: Instant,
        wall_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(EpochRecord, Live), SealError> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let mut key = Zeroizing::new([0u8; EPOCH_KEY]);
        rng.fill_bytes(&mut key[..]);
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| SealError::KeyLength)?;
        let mut rec = EpochRecord {
            id: EpochId(id),
            le_key: self.le.key_id(),
            started_unix_ms: wall_ms,
            prev: self.ended,
            enc: [0; 32],
            ct: [0; EPOCH_KEY + TAG],
        };
        // Sealed in place: `rec.ct` holds the plaintext only until this
        // returns, and is wiped if HPKE fails.
        rec.ct[..EPOCH_KEY].copy_from_slice(&key[..]);
        let aad = rec.aad_fields();
        let sealed = hpke::single_shot_seal_inout_detached_with_rng::<Aead, Kdf, Kem>(
            &hpke::OpModeS::Base,
            &self.le.pk,
            EPOCH_INFO,
            InOutBuf::from(&mut rec.ct[..EPOCH_KEY]),
            &aad,
            rng,
        );
        let (enc, tag) = match sealed {
            Ok(v) => v,
            Err(_) => {
                rec.ct.zeroize();
                return Err(SealError::LeKey);
            }
        };
        rec.enc.copy_from_slice(&enc.to_bytes());
        rec.ct[EPOCH_KEY..].copy_from_slice(&tag.to_bytes());
        let live = Live {
            id: rec.id,
            cipher,
            next_seq: 0,
            expires: now + self.policy.max_age,
        };
        Ok((rec, live))
    }
}

/// The AES-GCM nonce of record `seq`: 4 zero bytes, then `seq` big-endian.
pub(crate) fn nonce(seq: u64) -> aes_gcm::aead::Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n.into()
}

impl core::fmt::Debug for EpochSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EpochSealer")
            .field("le", &self.le)
            .field("live_epoch", &self.live_epoch())
            .field("policy", &self.policy)
            .finish()
    }
}
