//! The LE side: LE private key → epoch key → call key. Used by the CALEA
//! server; nothing in a controller has the private key to call it with.

use core::fmt;

use aes_gcm::aead::{inout::InOutBuf, AeadInOut, KeyInit};
use aes_gcm::Aes256Gcm;
use hpke::Deserializable;
use zeroize::Zeroizing;

use super::record::{record_aad, EPOCH_KEY, TAG};
use super::seal::{nonce, EPOCH_INFO};
use super::{Aead, EpochId, EpochRecord, EscrowRecord, Kdf, Kem, LePrivateKey};
use crate::secret::{Fingerprint, SecretBytes};

/// Why a record could not be opened. Authentication failures say which
/// layer failed but never why (no oracle on the ciphertext).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The epoch record names another LE key.
    #[error("epoch sealed to another LE key")]
    WrongLeKey,
    /// The record belongs to another epoch than the key given.
    #[error("record is from another epoch")]
    WrongEpoch,
    /// HPKE open failed: wrong private key, or the epoch record was altered.
    #[error("epoch record does not authenticate")]
    EpochAuth,
    /// The sealed key or the metadata bound to it was altered.
    #[error("escrow record does not authenticate")]
    RecordAuth,
}

/// An opened epoch key. Zeroized on drop; `Debug` shows a fingerprint.
/// Only [`open_epoch`] makes one.
pub struct EpochKey {
    id: EpochId,
    key: Zeroizing<[u8; EPOCH_KEY]>,
}

impl EpochKey {
    pub fn epoch(&self) -> EpochId {
        self.id
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.key[..])
    }
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochKey({:?}, {})", self.id, self.fingerprint())
    }
}

/// Recovers the key of one epoch with the LE private key.
pub fn open_epoch(sk: &LePrivateKey, epoch: &EpochRecord) -> Result<EpochKey, OpenError> {
    if epoch.le_key != sk.public().key_id() {
        return Err(OpenError::WrongLeKey);
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&epoch.enc)
        .map_err(|_| OpenError::EpochAuth)?;
    let tag = hpke::aead::AeadTag::<Aead>::from_bytes(&epoch.ct[EPOCH_KEY..])
        .map_err(|_| OpenError::EpochAuth)?;
    let mut key = Zeroizing::new([0u8; EPOCH_KEY]);
    key.copy_from_slice(&epoch.ct[..EPOCH_KEY]);
    hpke::single_shot_open_inout_detached::<Aead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        &sk.sk,
        &enc,
        EPOCH_INFO,
        InOutBuf::from(&mut key[..]),
        &epoch.aad_fields(),
        &tag,
    )
    .map_err(|_| OpenError::EpochAuth)?;
    Ok(EpochKey { id: epoch.id, key })
}

/// Recovers a call key with its epoch's key, checking the metadata.
pub fn open_record(key: &EpochKey, record: &EscrowRecord) -> Result<SecretBytes, OpenError> {
    let sealed = &record.sealed;
    if sealed.epoch != key.id {
        return Err(OpenError::WrongEpoch);
    }
    let n = sealed.key_len();
    let cipher = Aes256Gcm::new_from_slice(&key.key[..]).map_err(|_| OpenError::RecordAuth)?;
    let aad = record_aad(&record.meta, &sealed.epoch, sealed.seq);
    let mut buf = Zeroizing::new([0u8; crate::secret::MAX_SECRET]);
    let ct = sealed.ct.get(..n).ok_or(OpenError::RecordAuth)?;
    let tag = sealed.ct.get(n..n + TAG).ok_or(OpenError::RecordAuth)?;
    let tag = aes_gcm::Tag::try_from(tag).map_err(|_| OpenError::RecordAuth)?;
    let plain = buf.get_mut(..n).ok_or(OpenError::RecordAuth)?;
    plain.copy_from_slice(ct);
    cipher
        .decrypt_inout_detached(&nonce(sealed.seq), &aad, InOutBuf::from(&mut *plain), &tag)
        .map_err(|_| OpenError::RecordAuth)?;
    SecretBytes::new(plain).map_err(|_| OpenError::RecordAuth)
}

/// Both steps for one record.
pub fn open(
    sk: &LePrivateKey,
    epoch: &EpochRecord,
    record: &EscrowRecord,
) -> Result<SecretBytes, OpenError> {
    if record.sealed.epoch != epoch.id {
        return Err(OpenError::WrongEpoch);
    }
    open_record(&open_epoch(sk, epoch)?, record)
}
