//! Lawful-intercept key escrow: record format, sealing and opening.
//!
//! Two layers (see `docs/escrow.md` for the argument):
//! - each call key is sealed with AES-256-GCM under the current **epoch
//!   key**, with the call metadata, epoch id and record number as AAD
//!   ([`EpochSealer`], [`SealedKey`]);
//! - each epoch key (random, 32 bytes) is sealed once with HPKE (RFC 9180,
//!   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode) to the
//!   LE public key ([`EpochRecord`]), and wiped from the controller when the
//!   epoch ends.
//!
//! The LE private key opens an epoch record ([`open_epoch`]) and then any
//! call record of that epoch ([`open_record`]).

mod codec;
mod keys;
mod meta;
mod open;
mod record;
mod seal;
#[cfg(test)]
mod tests;

pub use keys::{KeyId, LePrivateKey, LePublicKey};
pub use meta::{check_number, CallMeta, Party, MAX_CALL_ID, MAX_ENDPOINT, MAX_NUMBER, MAX_SUITE};
pub use open::{open, open_epoch, open_record, EpochKey, OpenError};
pub use record::{
    EpochId, EpochLink, EpochRecord, EscrowRecord, SealedKey, ENVELOPE_V1, EPOCH_RECORD_LEN,
    EPOCH_V1, MAX_CALL_KEY, MIN_CALL_KEY, RECORD_V1,
};
pub use seal::{EpochPolicy, EpochSealer, SealError, Sealed, MAX_EPOCH_RECORDS};

/// The HPKE suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
pub(crate) type Kem = hpke::kem::X25519HkdfSha256;
pub(crate) type Kdf = hpke::kdf::HkdfSha256;
pub(crate) type Aead = hpke::aead::AesGcm256;

/// A field of the escrow formats, for errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    CallId,
    Number,
    Endpoint,
    Suite,
}

/// Bytes or values that are not a valid escrow record, envelope or key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("truncated")]
    Truncated,
    #[error("trailing bytes")]
    TrailingBytes,
    #[error("unknown version {0}")]
    Version(u8),
    #[error("bad flag byte")]
    BadFlag,
    #[error("{0:?} is empty")]
    Empty(Field),
    #[error("{0:?} is too long")]
    TooLong(Field),
    #[error("{0:?} is not printable ASCII")]
    BadText(Field),
    #[error("wrong key length")]
    KeyLength,
    #[error("key is a weak (low-order) point")]
    WeakKey,
}
