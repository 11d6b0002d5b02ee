//! Warrants the CALEA server was given, kept in `<data dir>/warrants.json`.
//!
//! A warrant names a case, one target number, a validity window, the modes
//! of key retrieval it allows and where media copies go. Revoking keeps the
//! entry (with the time) so a case id is never reused for another warrant.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock::{self as t, UnixMs};
use crate::fsutil::{self, FsError};

/// File name of the warrant book inside the data directory.
pub const FILE: &str = "warrants.json";
pub use cablekey_protocol::li::MAX_CASE_ID;

/// How keys may be obtained under a warrant: the LI API's modes.
pub use cablekey_protocol::li::Mode;

/// One warrant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warrant {
    pub case_id: String,
    /// The subscriber number intercepted.
    pub target: String,
    pub start_unix_ms: UnixMs,
    pub end_unix_ms: UnixMs,
    pub modes: Vec<Mode>,
    /// Where the controller sends copies of the target's media.
    pub collector: SocketAddr,
    /// The call-content identifier (`es-cci`) the target's media copies
    /// carry; the live collector maps it back to this case. Books written
    /// before it existed read as `None`.
    #[serde(default)]
    pub cci: Option<u32>,
    /// Set when revoked; a revoked warrant delivers nothing.
    pub revoked_unix_ms: Option<UnixMs>,
}

impl Warrant {
    /// Whether `time` falls inside the validity window.
    pub fn covers(&self, time: UnixMs) -> bool {
        (self.start_unix_ms..=self.end_unix_ms).contains(&time)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_unix_ms.is_some()
    }
}

/// Why a warrant operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WarrantError {
    #[error("case {0}: a warrant with this case id exists already")]
    DuplicateCase(String),
    #[error("case {0}: no such warrant")]
    UnknownCase(String),
    #[error("case {0}: the warrant is revoked")]
    Revoked(String),
    #[error("case id {0:?}: use 1 to {MAX_CASE_ID} letters, digits, '.', '_' or '-' (not starting with '.')")]
    BadCaseId(String),
    #[error("target number {0:?}: use 1 to 32 digits, optionally after a '+'")]
    BadNumber(String),
    #[error("validity window: the end ({end}) must be after the start ({start})")]
    BadWindow { start: String, end: String },
    #[error("at least one mode (future, current, historical) is needed")]
    NoMode,
    #[error("case {case}: call-content identifier {cci:08X} is already case {other}'s")]
    DuplicateCci {
        case: String,
        cci: u32,
        other: String,
    },
    #[error("case {case}: the warrant's call-content identifier is {ours:08X}, the controller's task has {task:08X}")]
    CciMismatch { case: String, ours: u32, task: u32 },
    #[error("{path}: not a warrant book ({why})")]
    Corrupt { path: PathBuf, why: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Case ids become directory names: no separators, no `..`, no hidden names.
pub fn check_case_id(id: &str) -> Result<(), WarrantError> {
    if cablekey_protocol::li::valid_case_id(id) {
        Ok(())
    } else {
        Err(WarrantError::BadCaseId(id.to_string()))
    }
}

/// Target numbers as the escrow records carry them: digits, maybe a `+`.
pub fn check_target(number: &str) -> Result<(), WarrantError> {
    if cablekey_protocol::li::valid_target(number) {
        Ok(())
    } else {
        Err(WarrantError::BadNumber(number.to_string()))
    }
}

/// The warrants, loaded from and saved to one JSON file. One writer at a
/// time: the CLI loads, changes and saves in one short command.
#[derive(Debug)]
pub struct WarrantBook {
    path: PathBuf,
    warrants: Vec<Warrant>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    warrants: Vec<Warrant>,
}

impl WarrantBook {
    /// Loads `<data_dir>/warrants.json` (an absent file is an empty book).
    pub fn load(data_dir: &Path) -> Result<WarrantBook, WarrantError> {
        let path = data_dir.join(FILE);
        let warrants = match fsutil::read_optional(&path, 16 << 20)? {
            None => Vec::new(),
            Some(bytes) => {
                let corrupt = |why: String| WarrantError::Corrupt {
                    path: path.clone(),
                    why,
                };
                let disk: OnDisk =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                if disk.version != 1 {
                    return Err(corrupt(format!("unknown version {}", disk.version)));
                }
                disk.warrants
            }
        };
        Ok(WarrantBook { path, warrants })
    }

    pub fn list(&self) -> &[Warrant] {
        &self.warrants
    }

    pub fn get(&self, case_id: &str) -> Result<&Warrant, WarrantError> {
        self.warrants
            .iter()
            .find(|w| w.case_id == case_id)
            .ok_or_else(|| WarrantError::UnknownCase(case_id.to_string()))
    }

    /// A warrant that may deliver: known and not revoked.
    /// The case whose copies carry `cci`, if any (revoked ones included:
    /// the caller decides what a revoked case gets, which is nothing).
    pub fn by_cci(&self, cci: u32) -> Option<&Warrant> {
        self.warrants.iter().find(|w| w.cci == Some(cci))
    }

    pub fn active(&self, case_id: &str) -> Result<&Warrant, WarrantError> {
        let w = self.get(case_id)?;
        if w.is_revoked() {
            return Err(WarrantError::Revoked(case_id.to_string()));
        }
        Ok(w)
    }

    /// Checks and adds a warrant, then saves the book durably.
    pub fn add(&mut self, mut w: Warrant) -> Result<(), WarrantError> {
        check_case_id(&w.case_id)?;
        check_target(&w.target)?;
        if w.end_unix_ms <= w.start_unix_ms {
            return Err(WarrantError::BadWindow {
                start: t::rfc3339(w.start_unix_ms),
                end: t::rfc3339(w.end_unix_ms),
            });
        }
        w.modes.sort();
        w.modes.dedup();
        if w.modes.is_empty() {
            return Err(WarrantError::NoMode);
        }
        if self.warrants.iter().any(|x| x.case_id == w.case_id) {
            return Err(WarrantError::DuplicateCase(w.case_id));
        }
        // One identifier, one case: copies are told apart by it alone.
        if let Some(other) = self
            .warrants
            .iter()
            .find(|x| w.cci.is_some() && x.cci == w.cci)
        {
            return Err(WarrantError::DuplicateCci {
                case: w.case_id,
                cci: w.cci.unwrap_or_default(),
                other: other.case_id.clone(),
            });
        }
        w.revoked_unix_ms = None;
        self.warrants.push(w);
        self.save()
    }

    /// Records the call-content identifier the controller assigned to the
    /// warrant's task (the task response's `cci`), so the collector maps
    /// the copies to the case. A warrant that has one keeps it: the task
    /// was asked for with it.
    pub fn set_cci(&mut self, case_id: &str, cci: u32) -> Result<(), WarrantError> {
        if let Some(other) = self
            .warrants
            .iter()
            .find(|x| x.case_id != case_id && x.cci == Some(cci))
        {
            return Err(WarrantError::DuplicateCci {
                case: case_id.to_string(),
                cci,
                other: other.case_id.clone(),
            });
        }
        let w = self
            .warrants
            .iter_mut()
            .find(|w| w.case_id == case_id)
            .ok_or_else(|| WarrantError::UnknownCase(case_id.to_string()))?;
        match w.cci {
            Some(c) if c == cci => Ok(()),
            Some(c) => Err(WarrantError::CciMismatch {
                case: case_id.to_string(),
                ours: c,
                task: cci,
            }),
            None => {
                w.cci = Some(cci);
                self.save()
            }
        }
    }

    /// Marks a warrant revoked at `now` and saves the book.
    pub fn revoke(&mut self, case_id: &str, now: UnixMs) -> Result<(), WarrantError> {
        let w = self
            .warrants
            .iter_mut()
            .find(|w| w.case_id == case_id)
            .ok_or_else(|| WarrantError::UnknownCase(case_id.to_string()))?;
        if w.revoked_unix_ms.is_some() {
            return Err(WarrantError::Revoked(case_id.to_string()));
        }
        w.revoked_unix_ms = Some(now);
        self.save()
    }

    fn save(&self) -> Result<(), WarrantError> {
        let disk = OnDisk {
            version: 1,
            warrants: self.warrants.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&disk).map_err(|e| WarrantError::Corrupt {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warrant(case: &str) -> Warrant {
        Warrant {
            case_id: case.into(),
            target: "+15550001".into(),
            start_unix_ms: 1_000,
            end_unix_ms: 2_000,
            modes: vec![Mode::Historical, Mode::Future, Mode::Future],
            collector: "127.0.0.1:5000".parse().unwrap(),
            cci: Some(0xC0FFEE),
            revoked_unix_ms: None,
        }
    }

    #[test]
    fn add_list_revoke_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = WarrantBook::load(dir.path()).unwrap();
        book.add(warrant("C-1")).unwrap();
        assert!(matches!(
            book.add(warrant("C-1")),
            Err(WarrantError::DuplicateCase(_))
        ));
        let mut same_cci = warrant("C-9");
        same_cci.target = "+15550009".into();
        assert!(matches!(
            book.add(same_cci),
            Err(WarrantError::DuplicateCci { .. })
        ));
        let again = WarrantBook::load(dir.path()).unwrap();
        assert_eq!(again.list().len(), 1);
        assert_eq!(again.list()[0].cci, Some(0xC0FFEE));
        assert_eq!(again.list()[0].modes, vec![Mode::Future, Mode::Historical]);
        let mut again = again;
        again.revoke("C-1", 1_500).unwrap();
        assert!(matches!(again.active("C-1"), Err(WarrantError::Revoked(_))));
        assert!(matches!(
            again.revoke("C-2", 1),
            Err(WarrantError::UnknownCase(_))
        ));
        let reloaded = WarrantBook::load(dir.path()).unwrap();
        assert_eq!(reloaded.get("C-1").unwrap().revoked_unix_ms, Some(1_500));
    }

    #[test]
    fn bad_input_gets_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = WarrantBook::load(dir.path()).unwrap();
        for bad in ["", "..", "a/b", ".hidden", "x y"] {
            assert!(
                matches!(book.add(warrant(bad)), Err(WarrantError::BadCaseId(_))),
                "{bad:?}"
            );
        }
        for bad in ["", "+", "555-1234", "5551234x", "+1 555"] {
            let mut w = warrant("C");
            w.target = bad.into();
            assert!(
                matches!(book.add(w), Err(WarrantError::BadNumber(_))),
                "{bad:?}"
            );
        }
        let mut w = warrant("C");
        w.end_unix_ms = w.start_unix_ms;
        assert!(matches!(book.add(w), Err(WarrantError::BadWindow { .. })));
        let mut w = warrant("C");
        w.modes.clear();
        assert!(matches!(book.add(w), Err(WarrantError::NoMode)));
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(matches!(
            WarrantBook::load(dir.path()),
            Err(WarrantError::Corrupt { .. })
        ));
    }
}
