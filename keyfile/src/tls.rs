//! PEM certificates and private keys of the LI API's mutual TLS (made by
//! `cablekey ca`). A private key file that group or others can read is
//! refused, like the LE private key.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest PEM file read (a chain of a few certificates).
const MAX_PEM: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_PEM} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: no {what} in it (expected PEM)")]
    Empty { path: PathBuf, what: &'static str },
    #[error("{path}: not PEM ({why})")]
    Pem { path: PathBuf, why: String },
    #[error("{path}: mode {mode:04o} lets others read the private key; chmod 600 it")]
    TooOpen { path: PathBuf, mode: u32 },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let io = |source| TlsFileError::Io {
        path: path.into(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_PEM {
        return Err(TlsFileError::TooLarge { path: path.into() });
    }
    std::fs::read(path).map_err(io)
}

/// Every certificate in a PEM file, in order (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| TlsFileError::Pem {
            path: path.into(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsFileError::Empty {
            path: path.into(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The private key in a PEM file, refused if group or others can read it.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let mode = std::fs::metadata(path)
        .map_err(|source| TlsFileError::Io {
            path: path.into(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(TlsFileError::TooOpen {
            path: path.into(),
            mode: mode & 0o777,
        });
    }
    let bytes = zeroize::Zeroizing::new(read(path)?);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsFileError::Empty {
            path: path.into(),
            what: "private key",
        },
        e => TlsFileError::Pem {
            path: path.into(),
            why: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_missing_and_empty_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.key");
        crate::write_new(&key, 0o644, b"-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert!(matches!(
            load_key(&key),
            Err(TlsFileError::TooOpen { mode: 0o644, .. })
        ));
        assert!(matches!(
            load_key(&dir.path().join("none")),
            Err(TlsFileError::Io { .. })
        ));
        let cert = dir.path().join("c.crt");
        std::fs::write(&cert, "hello\n").unwrap();
        assert!(matches!(load_certs(&cert), Err(TlsFileError::Empty { .. })));
    }
}
