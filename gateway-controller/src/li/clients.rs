//! Which verified client certificates may use the LI API, beyond chaining
//! to the head-end CA: an allow-list (`[li] allowed_clients`) and a
//! revocation list file (`[li] revoked_clients`), looked at again whenever
//! it changes (size, modification time or inode), so revoking needs no
//! restart and no signal. Every request is checked, so a certificate
//! revoked while its connection is open is refused from its next request.
//!
//! Fail closed: a revocation list that cannot be read or has a bad line
//! refuses every request (503) until it is fixed; at start, the controller
//! does not start.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use super::identity::Identity;
use super::task::Refusal;

/// Largest revocation list read.
const MAX_LIST: u64 = 4 << 20;

/// One way to name a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientId {
    /// `sha256:<64 hex digits>`: the SHA-256 of the certificate (DER), as
    /// the audit log's `client` field shows it.
    Fingerprint([u8; 32]),
    /// `CN=<name>`: the subject's common name, as `cablekey ca issue --name` sets it.
    CommonName(String),
    /// `serial:<hex>`: the certificate's serial number (`openssl x509
    /// -serial -noout`), leading zeros and case ignored.
    Serial(String),
}

/// Not `sha256:<64 hex>`, `CN=<name>` or `serial:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected sha256:<64 hex digits>, CN=<name> or serial:<hex digits>")]
pub struct BadClientId(pub String);

/// Serial numbers compare as hex without leading zeros, lower case.
fn normal_serial(hex: &str) -> String {
    let s = hex.trim_start_matches('0').to_ascii_lowercase();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

impl FromStr for ClientId {
    type Err = BadClientId;

    fn from_str(s: &str) -> Result<ClientId, BadClientId> {
        let bad = || BadClientId(s.to_string());
        let hex = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(h) = s.strip_prefix("sha256:") {
            if h.len() != 64 || !hex(h) {
                return Err(bad());
            }
            let mut fp = [0u8; 32];
            for (i, byte) in fp.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
            }
            Ok(ClientId::Fingerprint(fp))
        } else if let Some(name) = s.strip_prefix("CN=") {
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(bad());
            }
            Ok(ClientId::CommonName(name.to_string()))
        } else if let Some(h) = s.strip_prefix("serial:") {
            let h = h.replace(':', "");
            if !hex(&h) || h.len() > 64 {
                return Err(bad());
            }
            Ok(ClientId::Serial(normal_serial(&h)))
        } else {
            Err(bad())
        }
    }
}

impl ClientId {
    /// Whether the certificate `who` is the one named.
    pub fn names(&self, who: &Identity) -> bool {
        match self {
            ClientId::Fingerprint(fp) => *fp == who.fingerprint,
            ClientId::CommonName(n) => who.common_name.as_deref() == Some(n.as_str()),
            ClientId::Serial(s) => who.serial.as_deref().map(normal_serial).as_ref() == Some(s),
        }
    }
}

/// Why a revocation list was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("client revocation list {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("client revocation list {path}: larger than {MAX_LIST} bytes")]
    TooLarge { path: PathBuf },
    #[error("client revocation list {path}, line {line}: {error}")]
    Line {
        path: PathBuf,
        line: usize,
        error: BadClientId,
    },
}

/// Parses a revocation list: one [`ClientId`] a line; blank lines and
/// `#` comments are skipped. One bad line rejects the whole list.
pub fn parse_list(path: &Path, text: &str) -> Result<Vec<ClientId>, ListError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(line.parse().map_err(|error| ListError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            error,
        })?);
    }
    Ok(out)
}

/// What identifies a version of the file on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

struct Loaded {
    stamp: Option<Stamp>,
    revoked: Result<Vec<ClientId>, String>,
}

/// The allow-list and the revocation list.
pub struct Clients {
    allowed: Vec<ClientId>,
    list: Option<(PathBuf, Mutex<Loaded>)>,
}

fn read_list(path: &Path) -> Result<(Stamp, Vec<ClientId>), ListError> {
    let read = |source| ListError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if meta.len() > MAX_LIST {
        return Err(ListError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let stamp = Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    };
    let text = std::fs::read_to_string(path).map_err(read)?;
    Ok((stamp, parse_list(path, &text)?))
}

impl Clients {
    /// Any certificate of the CA, nothing revoked.
    pub fn any() -> Clients {
        Clients {
            allowed: Vec::new(),
            list: None,
        }
    }

    /// `allowed` empty lets any certificate of the CA in. The revocation
    /// list, if named, must be readable and well-formed now.
    pub fn new(allowed: Vec<ClientId>, revoked: Option<PathBuf>) -> Result<Clients, ListError> {
        let list = match revoked {
            None => None,
            Some(path) => {
                let (stamp, revoked) = read_list(&path)?;
                let loaded = Loaded {
                    stamp: Some(stamp),
                    revoked: Ok(revoked),
                };
                Some((path, Mutex::new(loaded)))
            }
        };
        Ok(Clients { allowed, list })
    }

    /// The check each request passes before anything else: the
    /// certificate is on the allow-list (if there is one) and not revoked.
    pub fn check(&self, who: &Identity) -> Result<(), Refusal> {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a.names(who)) {
            return Err(Refusal::ClientNotAllowed);
        }
        let Some((path, loaded)) = &self.list else {
            return Ok(());
        };
        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::fs::metadata(path).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        });
        if now.is_none() || now != loaded.stamp {
            // Changed (or gone): read it again; a failure refuses everything.
            loaded.revoked = match read_list(path) {
                Ok((stamp, list)) => {
                    loaded.stamp = Some(stamp);
                    tracing::info!(entries = list.len(), "LI client revocation list reloaded");
                    Ok(list)
                }
                Err(e) => {
                    loaded.stamp = None;
                    tracing::error!("{e}; refusing every LI request until it is fixed");
                    Err(e.to_string())
                }
            };
        }
        match &loaded.revoked {
            Err(_) => Err(Refusal::Unavailable(
                "the client revocation list cannot be read".into(),
            )),
            Ok(list) if list.iter().any(|r| r.names(who)) => Err(Refusal::ClientRevoked),
            Ok(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(cn: &str, fp: u8, serial: &str) -> Identity {
        Identity {
            common_name: Some(cn.into()),
            fingerprint: [fp; 32],
            serial: Some(serial.into()),
        }
    }

    #[test]
    fn ids_parse_and_name_certificates() {
        let fp = format!("sha256:{}", "ab".repeat(32));
        let id: ClientId = fp.parse().unwrap();
        assert!(id.names(&who("x", 0xab, "1")));
        assert!(!id.names(&who("x", 0xac, "1")));
        let cn: ClientId = "CN=calea".parse().unwrap();
        assert!(cn.names(&who("calea", 0, "1")) && !cn.names(&who("calea2", 0, "1")));
        let serial: ClientId = "serial:00:1A:2b".parse().unwrap();
        assert!(serial.names(&who("x", 0, "1a2B")));
        assert!(!serial.names(&who("x", 0, "1a2c")));
        for bad in ["", "sha256:ab", "cn=calea", "CN=", "serial:xyz", "calea"] {
            assert!(bad.parse::<ClientId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_allow_list_and_a_changing_revocation_list_are_obeyed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revoked");
        let (a, b) = (who("calea", 1, "0a"), who("calea-2", 2, "0b"));
        assert!(Clients::new(vec![], Some(path.clone())).is_err(), "missing");
        std::fs::write(&path, "# none yet\n").unwrap();
        let allowed = vec!["CN=calea".parse().unwrap(), "CN=calea-2".parse().unwrap()];
        let c = Clients::new(allowed, Some(path.clone())).unwrap();
        assert_eq!(c.check(&a), Ok(()));
        assert_eq!(
            c.check(&who("other", 3, "c")),
            Err(Refusal::ClientNotAllowed)
        );
        // Revoked by serial: refused from the next request on.
        std::fs::write(&path, "serial:A  # lost laptop\n\n").unwrap();
        assert_eq!(c.check(&a), Err(Refusal::ClientRevoked));
        assert_eq!(c.check(&b), Ok(()));
        // A bad line: every request refused, until it is fixed.
        std::fs::write(&path, "serial:A\nnonsense here\n").unwrap();
        assert_eq!(c.check(&b).unwrap_err().code(), "unavailable");
        std::fs::write(&path, format!("sha256:{}\n", "02".repeat(32))).unwrap();
        assert_eq!(c.check(&a), Ok(()));
        assert_eq!(c.check(&b), Err(Refusal::ClientRevoked));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.check(&a).unwrap_err().code(), "unavailable");
        assert!(Clients::any().check(&who("anyone", 9, "9")).is_ok());
    }
}
