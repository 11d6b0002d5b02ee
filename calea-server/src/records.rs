//! The escrow records (and epoch records) the CALEA server has received,
//! kept locally so that offline work never needs the controller.
//!
//! Layout under the data directory: `records/<hex call id>.rec` and
//! `epochs/<hex epoch id>.epoch`, each the record's own encoding
//! (`protocol/src/escrow/`), written atomically. A second copy of a record
//! may add its end time; a different record under the same call id is kept
//! aside in `conflicts/` and reported, never merged.

use std::fs;
use std::path::{Path, PathBuf};

use cablekey_protocol::escrow::{EpochId, EpochRecord, EscrowRecord, FormatError};
use sha2::{Digest, Sha256};

use crate::clock::UnixMs;
use crate::fsutil::{self, hex, FsError};

/// Largest record file read back (records are a few hundred bytes).
const MAX_RECORD_FILE: u64 = 64 * 1024;

/// What storing a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// The same record was there already.
    Unchanged,
    /// The same record, now with its end time.
    EndTimeAdded,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: not an escrow or epoch record ({source})")]
    Format { path: PathBuf, source: FormatError },
    #[error(
        "call {call_id}: a different record for this call id was received; kept aside in {kept}"
    )]
    Conflict { call_id: String, kept: PathBuf },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// A stored record that could not be read; the others are unaffected.
#[derive(Debug)]
pub struct BadFile {
    pub path: PathBuf,
    pub why: String,
}

/// The local store of received records.
#[derive(Debug, Clone)]
pub struct RecordStore {
    records: PathBuf,
    epochs: PathBuf,
    conflicts: PathBuf,
}

impl RecordStore {
    /// Opens (creating) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<RecordStore, FsError> {
        let store = RecordStore {
            records: data_dir.join("records"),
            epochs: data_dir.join("epochs"),
            conflicts: data_dir.join("conflicts"),
        };
        for dir in [&store.records, &store.epochs] {
            fs::create_dir_all(dir).map_err(fsutil::err(dir))?;
        }
        Ok(store)
    }

    fn record_path(&self, call_id: &str) -> PathBuf {
        self.records
            .join(format!("{}.rec", hex(call_id.as_bytes())))
    }

    fn epoch_path(&self, id: &EpochId) -> PathBuf {
        self.epochs.join(format!("{}.epoch", hex(&id.0)))
    }

    /// Stores an epoch record. Epoch records have no updatable part: a
    /// different one under the same id is a conflict.
    pub fn put_epoch(&self, epoch: &EpochRecord) -> Result<Stored, RecordError> {
        let path = self.epoch_path(&epoch.id);
        let bytes = epoch.encode();
        match fsutil::read_optional(&path, MAX_RECORD_FILE)? {
            Some(old) if old == bytes => Ok(Stored::Unchanged),
            Some(old) if EpochRecord::decode(&old).is_ok() => {
                Err(self.keep_aside(&epoch.id.to_string(), "epoch", &bytes)?)
            }
            // Absent, or a damaged local copy that a good one replaces.
            _ => {
                fsutil::write_atomic(&path, &bytes)?;
                Ok(Stored::New)
            }
        }
    }

    /// Stores an escrow record, or adds the end time a later copy carries.
    pub fn put(&self, record: &EscrowRecord) -> Result<Stored, RecordError> {
        let path = self.record_path(&record.meta.call_id);
        let bytes = record.encode();
        let old = fsutil::read_optional(&path, MAX_RECORD_FILE)?
            .and_then(|b| EscrowRecord::decode(&b).ok());
        let stored = match old {
            None => Stored::New,
            Some(old) if old.meta != record.meta || old.sealed != record.sealed => {
                return Err(self.keep_aside(&record.meta.call_id, "rec", &bytes)?);
            }
            // The end time is advisory and learnt late: never drop one we have.
            Some(old) if old.ended_unix_ms.is_some() || record.ended_unix_ms.is_none() => {
                return Ok(Stored::Unchanged)
            }
            Some(_) => Stored::EndTimeAdded,
        };
        fsutil::write_atomic(&path, &bytes)?;
        Ok(stored)
    }

    fn keep_aside(&self, name: &str, ext: &str, bytes: &[u8]) -> Result<RecordError, FsError> {
        let digest = Sha256::digest(bytes);
        let kept = self.conflicts.join(format!(
            "{}-{}.{ext}",
            hex(name.as_bytes()),
            hex(&digest[..8])
        ));
        fsutil::write_atomic(&kept, bytes)?;
        Ok(RecordError::Conflict {
            call_id: name.to_string(),
            kept,
        })
    }

    /// The epoch record `id`, if received.
    pub fn epoch(&self, id: &EpochId) -> Result<Option<EpochRecord>, RecordError> {
        let path = self.epoch_path(id);
        match fsutil::read_optional(&path, MAX_RECORD_FILE)? {
            None => Ok(None),
            Some(b) => EpochRecord::decode(&b)
                .map(Some)
                .map_err(|source| RecordError::Format { path, source }),
        }
    }

    /// Every stored escrow record, in file-name order, with the files that
    /// could not be read listed apart.
    pub fn all(&self) -> Result<(Vec<EscrowRecord>, Vec<BadFile>), FsError> {
        let mut names: Vec<PathBuf> = fs::read_dir(&self.records)
            .map_err(fsutil::err(&self.records))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rec"))
            .collect();
        names.sort();
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for path in names {
            match fsutil::read_optional(&path, MAX_RECORD_FILE) {
                Ok(Some(b)) => match EscrowRecord::decode(&b) {
                    Ok(r) => good.push(r),
                    Err(e) => bad.push(BadFile {
                        path,
                        why: e.to_string(),
                    }),
                },
                Ok(None) => {}
                Err(e) => bad.push(BadFile {
                    path,
                    why: e.source.to_string(),
                }),
            }
        }
        Ok((good, bad))
    }

    /// The records of calls `number` made or received that started inside
    /// `[from, to]`, oldest first.
    pub fn for_target(
        &self,
        number: &str,
        from: UnixMs,
        to: UnixMs,
    ) -> Result<(Vec<EscrowRecord>, Vec<BadFile>), FsError> {
        let (all, bad) = self.all()?;
        let mut hits: Vec<EscrowRecord> = all
            .into_iter()
            .filter(|r| r.meta.has_party(number))
            .filter(|r| (from..=to).contains(&r.meta.start_unix_ms))
            .collect();
        hits.sort_by_key(|r| r.meta.start_unix_ms);
        Ok((hits, bad))
    }
}
