//! The gateway book: the address each endpoint with one was last reached at
//! (configuration, or the RSIP its gateway sent), kept beside the store. A
//! restarted controller reads it so that it can audit, and send requests
//! to, endpoints it knows only from an RSIP to the old process, without
//! waiting for them to register again (docs/controller.md, "After a restart").

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::registry::Registry;
use cablekey_keyfile::durable;

/// Beside the escrow store, in its directory.
pub const FILE: &str = "gateways.json";
/// Far above any head-end's endpoint count times a line of JSON.
const MAX_FILE: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a gateway book ({why})")]
    Corrupt { path: PathBuf, why: String },
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    endpoints: Vec<Entry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub addr: SocketAddr,
}

/// Every endpoint of `registry` with an address, in the registry's order
/// (by lower-case name).
pub fn snapshot(registry: &Registry) -> Vec<Entry> {
    registry
        .iter()
        .filter_map(|e| {
            Some(Entry {
                name: e.name.clone(),
                addr: e.addr?,
            })
        })
        .collect()
}

/// Reads the book; an absent file is an empty one.
pub fn load(path: &Path) -> Result<Vec<Entry>, BookError> {
    let read = durable::read_optional(path, MAX_FILE);
    let read = read.map_err(|(path, source)| BookError::Io { path, source })?;
    let Some(bytes) = read else {
        return Ok(Vec::new());
    };
    let corrupt = |why: String| BookError::Corrupt {
        path: path.into(),
        why,
    };
    let disk: OnDisk = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if disk.version != 1 {
        return Err(corrupt(format!("unknown version {}", disk.version)));
    }
    Ok(disk.endpoints)
}

/// Replaces the book durably with `entries`.
pub fn save(path: &Path, entries: Vec<Entry>) -> Result<(), BookError> {
    let disk = OnDisk {
        version: 1,
        endpoints: entries,
    };
    let mut bytes = serde_json::to_vec_pretty(&disk).map_err(|e| BookError::Corrupt {
        path: path.into(),
        why: e.to_string(),
    })?;
    bytes.push(b'\n');
    durable::replace(path, &bytes).map_err(|(path, source)| BookError::Io { path, source })
}

/// Gives the endpoints of `entries` their addresses where the registry has
/// none: configuration wins over the book. Returns how many it gave.
pub fn apply(registry: &mut Registry, entries: &[Entry]) -> usize {
    entries
        .iter()
        .filter(|e| registry.remembered(&e.name, e.addr))
        .count()
}

/// Writes the book after registrations, at most once a second (a
/// head-end's CTAs booting together would otherwise rewrite it per RSIP),
/// one write at a time, off the driver's thread.
pub(super) struct Keeper {
    path: PathBuf,
    owed: bool,
    last: Option<tokio::time::Instant>,
    writing: Option<tokio::task::JoinHandle<()>>,
}

const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Keeper {
    pub fn new(path: PathBuf) -> Keeper {
        Keeper {
            path,
            owed: false,
            last: None,
            writing: None,
        }
    }

    /// A gateway registered (RSIP); its address may be new.
    pub fn changed(&mut self) {
        self.owed = true;
    }

    fn busy(&self) -> bool {
        self.writing.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// When the loop should wake to write, if a write is owed (while one
    /// is still running, a little later to look again).
    pub fn due(&self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        let at = self.last.map_or(now, |l| l + EVERY);
        let again = now + std::time::Duration::from_millis(100);
        self.owed
            .then(|| if self.busy() { at.max(again) } else { at })
    }

    /// Starts the owed write if its time has come and none is running.
    pub fn write_if_due(&mut self, registry: &Registry) {
        let now = tokio::time::Instant::now();
        let early = self.last.is_some_and(|l| now < l + EVERY);
        if !self.owed || early || self.busy() {
            return;
        }
        let (path, entries) = (self.path.clone(), snapshot(registry));
        self.owed = false;
        self.last = Some(now);
        self.writing = Some(tokio::task::spawn_blocking(move || write(&path, entries)));
    }

    /// At shutdown: waits for a running write, then makes the owed one.
    pub async fn finish(mut self, registry: &Registry) {
        if let Some(w) = self.writing.take() {
            let _ = w.await;
        }
        if self.owed {
            let (path, entries) = (self.path, snapshot(registry));
            let _ = tokio::task::spawn_blocking(move || write(&path, entries)).await;
        }
    }
}

fn write(path: &Path, entries: Vec<Entry>) {
    let n = entries.len();
    match save(path, entries) {
        Ok(()) => tracing::debug!(endpoints = n, "gateway book written"),
        // Only a restart's audits lose by it: gateways register again.
        Err(e) => tracing::warn!("cannot write the gateway book: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Kind;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn the_book_survives_a_reload_and_configuration_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(load(&path).unwrap().is_empty(), "no book yet");
        let mut old = Registry::new();
        old.add("aaln/1@cta1.example", Kind::Line, Some("2001"), None)
            .unwrap();
        old.add(
            "aaln/1@cta2.example",
            Kind::Line,
            Some("2002"),
            Some(addr(9)),
        )
        .unwrap();
        let rsip = cablekey_protocol::mgcp::EndpointName::parse("aaln/*@cta1.example").unwrap();
        old.restarted(&rsip, addr(1));
        let learned = cablekey_protocol::mgcp::EndpointName::parse("aaln/2@cta3.example").unwrap();
        old.restarted(&learned, addr(3));
        save(&path, snapshot(&old)).unwrap();

        let book = load(&path).unwrap();
        assert_eq!(book.len(), 3);
        let mut new = Registry::new();
        new.add("aaln/1@cta1.example", Kind::Line, Some("2001"), None)
            .unwrap();
        new.add(
            "aaln/1@cta2.example",
            Kind::Line,
            Some("2002"),
            Some(addr(7)),
        )
        .unwrap();
        assert_eq!(apply(&mut new, &book), 2);
        assert_eq!(new.get("aaln/1@cta1.example").unwrap().addr, Some(addr(1)));
        assert_eq!(
            new.get("aaln/1@cta2.example").unwrap().addr,
            Some(addr(7)),
            "the configured address stays"
        );
        let l = new.get("aaln/2@cta3.example").unwrap();
        assert_eq!(
            (l.addr, l.kind, l.number.as_deref()),
            (Some(addr(3)), Kind::Line, None)
        );
    }

    #[test]
    fn a_damaged_book_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, b"{\"version\": 1, \"endpoints\": [").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.to_string().contains(FILE), "{e}");
    }
}
