//! Stored forms: the sealed-key envelope, the escrow record and the epoch
//! record, each with a version byte and a strict decoder.

use alloc::vec::Vec;
use core::fmt;

use super::codec::{put_short, put_u64, Reader};
use super::meta::CallMeta;
use super::{FormatError, KeyId};

/// Version byte of the sealed-key envelope (AES-256-GCM under an epoch key).
pub const ENVELOPE_V1: u8 = 1;
/// Version byte of a stored escrow record.
pub const RECORD_V1: u8 = 1;
/// Version byte of an epoch record (HPKE X25519/HKDF-SHA256/AES-256-GCM).
pub const EPOCH_V1: u8 = 1;

/// AES-GCM tag length.
pub(crate) const TAG: usize = 16;
/// Call keys are 16 to 64 bytes (an SRTP master key, or key and salt).
pub const MIN_CALL_KEY: usize = 16;
pub const MAX_CALL_KEY: usize = crate::secret::MAX_SECRET;
/// X25519 encapsulated key.
pub(crate) const ENC: usize = 32;
pub(crate) const EPOCH_KEY: usize = 32;

/// Names an epoch: 16 random bytes, so ids from restarts or from several
/// controllers never collide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EpochId(pub [u8; 16]);

impl fmt::Display for EpochId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for EpochId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EpochId({self})")
    }
}

/// A call key sealed under an epoch key: `version | epoch id | seq | len | ciphertext+tag`.
///
/// `seq` numbers the records of an epoch and is the AES-GCM nonce; it is
/// unique because each epoch key is fresh and used by one sealer only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub epoch: EpochId,
    pub seq: u64,
    pub(crate) ct: Vec<u8>,
}

impl SealedKey {
    /// Length of the sealed call key (ciphertext without tag).
    pub fn key_len(&self) -> usize {
        self.ct.len().saturating_sub(TAG)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(ENVELOPE_V1);
        out.extend_from_slice(&self.epoch.0);
        put_u64(out, self.seq);
        put_short(out, &self.ct);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SealedKey, FormatError> {
        let v = r.u8()?;
        if v != ENVELOPE_V1 {
            return Err(FormatError::Version(v));
        }
        let epoch = EpochId(r.array()?);
        let seq = r.u64()?;
        let ct = r.short()?;
        if !(MIN_CALL_KEY + TAG..=MAX_CALL_KEY + TAG).contains(&ct.len()) {
            return Err(FormatError::KeyLength);
        }
        Ok(SealedKey {
            epoch,
            seq,
            ct: ct.to_vec(),
        })
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedKey({:?}, seq {}, {} bytes)",
            self.epoch,
            self.seq,
            self.key_len()
        )
    }
}

/// One escrowed call: clear metadata, the sealed key, and the end time once known.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EscrowRecord {
    pub meta: CallMeta,
    pub sealed: SealedKey,
    /// Filled in when the call ends. Not bound into the seal (it does not
    /// exist yet when the key is sealed), so it is advisory.
    pub ended_unix_ms: Option<u64>,
}

impl EscrowRecord {
    /// `RECORD_V1 | metadata | envelope | end flag [| end time]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.push(RECORD_V1);
        self.meta.encode(&mut out);
        self.sealed.encode(&mut out);
        match self.ended_unix_ms {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                put_u64(&mut out, t);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<EscrowRecord, FormatError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != RECORD_V1 {
            return Err(FormatError::Version(v));
        }
        let meta = CallMeta::decode(&mut r)?;
        let sealed = SealedKey::decode(&mut r)?;
        let ended_unix_ms = match r.u8()? {
            0 => None,
            1 => Some(r.u64()?),
            _ => return Err(FormatError::BadFlag),
        };
        r.finish()?;
        Ok(EscrowRecord {
            meta,
            sealed,
            ended_unix_ms,
        })
    }
}

/// The AAD of a sealed call key: domain, envelope version, epoch id, seq and
/// the canonical metadata. Any change to any of them fails the open.
pub(crate) fn record_aad(meta: &CallMeta, epoch: &EpochId, seq: u64) -> Vec<u8> {
    const DOMAIN: &[u8] = b"cablekey escrow record\0";
    let mut aad = Vec::with_capacity(DOMAIN.len() + 25 + 96);
    aad.extend_from_slice(DOMAIN);
    aad.push(ENVELOPE_V1);
    aad.extend_from_slice(&epoch.0);
    put_u64(&mut aad, seq);
    meta.encode(&mut aad);
    aad
}

/// The epoch before this one and how many records it sealed (sequence
/// numbers `0..records`). Bound into the next epoch record, so the LE can
/// tell when records of a closed epoch are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochLink {
    pub epoch: EpochId,
    pub records: u64,
}

impl EpochLink {
    /// The sequence numbers of the linked epoch absent from `present`:
    /// calls refused after sealing (their puts failed) or deleted records.
    pub fn missing(&self, present: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut seen: Vec<u64> = present.into_iter().filter(|s| *s < self.records).collect();
        seen.sort_unstable();
        seen.dedup();
        let mut out = Vec::new();
        let mut next = seen.into_iter().peekable();
        for seq in 0..self.records {
            if next.peek() == Some(&seq) {
                next.next();
            } else {
                out.push(seq);
            }
        }
        out
    }
}

/// An epoch key sealed to the LE public key with HPKE (base mode):
/// `version | epoch id | LE key id | start | link flag | link epoch | link
/// count | enc | ciphertext+tag` (the link fields are zero without a link).
#[derive(Clone, PartialEq, Eq)]
pub struct EpochRecord {
    pub id: EpochId,
    /// Which LE key can open it.
    pub le_key: KeyId,
    pub started_unix_ms: u64,
    /// The epoch this controller sealed under just before, if it has not
    /// restarted since.
    pub prev: Option<EpochLink>,
    pub(crate) enc: [u8; ENC],
    pub(crate) ct: [u8; EPOCH_KEY + TAG],
}

/// Encoded length of an [`EpochRecord`].
pub const EPOCH_RECORD_LEN: usize = HEADER + ENC + EPOCH_KEY + TAG;
/// The clear header of an epoch record, also its HPKE AAD.
const HEADER: usize = 1 + 16 + 8 + 8 + 1 + 16 + 8;

impl EpochRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(EPOCH_RECORD_LEN);
        out.extend_from_slice(&self.aad_fields());
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ct);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<EpochRecord, FormatError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != EPOCH_V1 {
            return Err(FormatError::Version(v));
        }
        let id = EpochId(r.array()?);
        let le_key = KeyId(r.array()?);
        let started_unix_ms = r.u64()?;
        let flag = r.u8()?;
        let link = EpochLink {
            epoch: EpochId(r.array()?),
            records: r.u64()?,
        };
        let prev = match flag {
            0 if link.epoch.0 == [0; 16] && link.records == 0 => None,
            1 => Some(link),
            _ => return Err(FormatError::BadFlag),
        };
        let rec = EpochRecord {
            id,
            le_key,
            started_unix_ms,
            prev,
            enc: r.array()?,
            ct: r.array()?,
        };
        r.finish()?;
        Ok(rec)
    }

    /// The clear header, which is also the HPKE AAD.
    pub(crate) fn aad_fields(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[0] = EPOCH_V1;
        h[1..17].copy_from_slice(&self.id.0);
        h[17..25].copy_from_slice(&self.le_key.0);
        h[25..33].copy_from_slice(&self.started_unix_ms.to_be_bytes());
        if let Some(link) = self.prev {
            h[33] = 1;
            h[34..50].copy_from_slice(&link.epoch.0);
            h[50..58].copy_from_slice(&link.records.to_be_bytes());
        }
        h
    }
}

impl fmt::Debug for EpochRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochRecord")
            .field("id", &self.id)
            .field("le_key", &self.le_key)
            .field("started_unix_ms", &self.started_unix_ms)
            .field("prev", &self.prev)
            .finish_non_exhaustive()
    }
}
