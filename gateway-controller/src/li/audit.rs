//! The audit chain, without files: each entry is one JSON line that holds
//! the SHA-256 of the previous line's exact bytes, so changing, inserting
//! or deleting any entry breaks the chain at the entry after it.
//! [`AuditLog`](super::audit_log::AuditLog) writes it; [`verify`] checks it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// What an entry says happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub time_unix_ms: u64,
    /// Certificate subject and SHA-256 fingerprint, or `-` before a
    /// certificate was seen (a refused handshake).
    pub client: String,
    /// The peer's address.
    pub peer: String,
    /// `provision`, `revoke`, `list`, `historical`, `current`, `future`,
    /// `future-end`, `tls-handshake`, or what the request named.
    pub op: String,
    pub case: Option<String>,
    pub target: Option<String>,
    /// `granted` or `refused`.
    pub outcome: String,
    /// HTTP status sent (0 when none could be).
    pub status: u16,
    /// Why refused, or what was delivered.
    pub detail: String,
}

/// An entry as stored: its place in the chain and the previous line's hash.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    seq: u64,
    #[serde(flatten)]
    entry: Entry,
    prev: String,
}

/// Where the chain ends: the last entry's number and the hash the next
/// entry will carry. Giving the head to someone outside the controller
/// (the CALEA server gets it with every answer) pins everything before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl Head {
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: GENESIS,
    };

    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }

    /// Makes the next entry's line (with its newline) and moves the head
    /// past it. The caller stores the line before using the new head.
    pub fn append(&self, entry: &Entry) -> (Vec<u8>, Head) {
        let stored = Stored {
            seq: self.seq + 1,
            entry: entry.clone(),
            prev: hex(&self.hash),
        };
        // Serialising plain strings and numbers cannot fail.
        let mut line = serde_json::to_vec(&stored).unwrap_or_default();
        let next = Head {
            seq: self.seq + 1,
            hash: Sha256::digest(&line).into(),
        };
        line.push(b'\n');
        (line, next)
    }
}

/// Why a log does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("not an audit entry ({0})")]
    NotAnEntry(String),
    #[error("entry number {found} where {expected} was expected (entries deleted or inserted)")]
    Sequence { expected: u64, found: u64 },
    #[error(
        "its hash of the previous entry does not match (an earlier entry was changed or removed)"
    )]
    PrevHash,
    #[error("the last entry is incomplete (no newline): a write cut short")]
    Incomplete,
}

/// The first bad entry: its line number (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry at line {line}: {why}")]
pub struct BadEntry {
    pub line: u64,
    pub why: Broken,
    /// The head of the good part before it.
    pub good: Head,
}

/// Checks a whole log and returns its head.
pub fn verify(log: &[u8]) -> Result<Head, BadEntry> {
    let mut head = Head::EMPTY;
    let mut rest = log;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let bad = |why| BadEntry {
            line: line_no,
            why,
            good: head,
        };
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(bad(Broken::Incomplete));
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        let stored: Stored =
            serde_json::from_slice(line).map_err(|e| bad(Broken::NotAnEntry(e.to_string())))?;
        if stored.seq != head.seq + 1 {
            return Err(bad(Broken::Sequence {
                expected: head.seq + 1,
                found: stored.seq,
            }));
        }
        if stored.prev != hex(&head.hash) {
            return Err(bad(Broken::PrevHash));
        }
        head = Head {
            seq: stored.seq,
            hash: Sha256::digest(line).into(),
        };
    }
    Ok(head)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Entry {
        Entry {
            time_unix_ms: 1_000 + i,
            client: "CN=calea sha256:ab".into(),
            peer: "127.0.0.1:4000".into(),
            op: "historical".into(),
            case: Some("C-1".into()),
            target: Some("4001".into()),
            outcome: if i % 2 == 0 { "granted" } else { "refused" }.into(),
            status: 200,
            detail: format!("entry {i}"),
        }
    }

    fn log(n: u64) -> (Vec<u8>, Head) {
        let mut head = Head::EMPTY;
        let mut out = Vec::new();
        for i in 0..n {
            let (line, next) = head.append(&entry(i));
            out.extend_from_slice(&line);
            head = next;
        }
        (out, head)
    }

    fn lines(log: &[u8]) -> Vec<Vec<u8>> {
        log.split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn a_good_log_verifies_to_its_head() {
        let (bytes, head) = log(5);
        assert_eq!(verify(&bytes), Ok(head));
        assert_eq!(verify(b""), Ok(Head::EMPTY));
        assert_eq!(head.seq, 5);
    }

    #[test]
    fn tampering_is_found_at_the_first_bad_entry() {
        let (bytes, _) = log(5);
        // A changed byte inside entry 2's detail: entry 3 no longer chains.
        let mut changed = bytes.clone();
        let at = bytes.windows(7).position(|w| w == b"entry 1").unwrap();
        changed[at + 6] = b'7';
        let err = verify(&changed).unwrap_err();
        assert_eq!((err.line, err.why), (3, Broken::PrevHash));
        // Entry 3 deleted.
        let mut l = lines(&bytes);
        l.remove(2);
        let err = verify(&l.concat()).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(matches!(
            err.why,
            Broken::Sequence {
                expected: 3,
                found: 4
            }
        ));
        // Entries swapped.
        let mut l = lines(&bytes);
        l.swap(1, 2);
        assert_eq!(verify(&l.concat()).unwrap_err().line, 2);
        // A broken line, a torn tail.
        let mut l = lines(&bytes);
        l[3] = b"{\"seq\":4}\n".to_vec();
        assert!(matches!(
            verify(&l.concat()).unwrap_err().why,
            Broken::NotAnEntry(_)
        ));
        let torn = &bytes[..bytes.len() - 3];
        let err = verify(torn).unwrap_err();
        assert_eq!((err.line, err.why), (5, Broken::Incomplete));
        assert_eq!(err.good.seq, 4);
    }

    #[test]
    fn a_recomputed_chain_still_differs_from_the_head_given_out() {
        // Rewriting entry 2 and every hash after it verifies on its own,
        // but ends at another head than the one the CALEA server holds.
        let (bytes, head) = log(3);
        let mut forged = Head::EMPTY;
        let mut out = Vec::new();
        for i in 0..3 {
            let mut e = entry(i);
            if i == 1 {
                e.outcome = "granted".into();
            }
            let (line, next) = forged.append(&e);
            out.extend_from_slice(&line);
            forged = next;
        }
        assert_ne!(out, bytes);
        assert_eq!(verify(&out).unwrap().seq, head.seq);
        assert_ne!(verify(&out).unwrap().hash, head.hash);
    }
}
