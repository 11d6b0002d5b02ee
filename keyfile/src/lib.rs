//! Key files. LE keys for `cablekey keygen` and for loading at start-up:
//! the controller loads the public half, the CALEA server the private half,
//! so the format lives here, apart from both. Signaling session keys
//! (derived call keys, `docs/keys.md`): the controller loads one per
//! endpoint, `cablekey lab` writes them.
//!
//! Every file is two lines: a header naming the kind, then the 32-byte key
//! in base64. Secret files (LE private, session) are created with mode 0600
//! (never wider, not even for an instant) and refused on load if group or
//! others can read or write them.

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_protocol::escrow::{KeyId, LePrivateKey, LePublicKey};
use cablekey_protocol::secret::SecretBytes;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;
use zeroize::Zeroizing;

pub mod durable;
pub mod tls;

const PRIVATE_HEADER: &str = "cablekey LE private key v1 (X25519, HPKE RFC 9180)";
const PUBLIC_HEADER: &str = "cablekey LE public key v1 (X25519, HPKE RFC 9180)";
const SESSION_HEADER: &str = "cablekey signaling session key v1 (derived call keys, docs/keys.md)";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("{path}: not a cablekey {kind} key file ({why})")]
    Format {
        path: PathBuf,
        kind: &'static str,
        why: &'static str,
    },
    #[error("{path}: mode {mode:04o} lets others read or change the {what}; chmod 600 it")]
    TooOpen {
        path: PathBuf,
        mode: u32,
        what: &'static str,
    },
    #[error("{path}: the LE public key is a weak point and would expose every key")]
    WeakKey { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            KeyFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Creates a new LE key pair from the OS generator and writes both files
/// (`cablekey keygen`). Returns the key id to show the operator. Refuses
/// to overwrite either file.
pub fn generate_keypair(private_path: &Path, public_path: &Path) -> Result<KeyId, KeyFileError> {
    let sk = LePrivateKey::generate(&mut UnwrapErr(SysRng));
    if public_path.exists() {
        return Err(KeyFileError::Exists {
            path: public_path.to_path_buf(),
        });
    }
    write_private_key(private_path, &sk)?;
    write_public_key(public_path, sk.public())?;
    Ok(sk.public().key_id())
}

pub fn write_private_key(path: &Path, sk: &LePrivateKey) -> Result<(), KeyFileError> {
    let bytes = sk.to_bytes();
    // Built in wiped buffers: no copy of the key outlives this function.
    let mut b64 = Zeroizing::new([0u8; 44]);
    let n = STANDARD
        .encode_slice(&bytes[..], &mut b64[..])
        .map_err(|_| KeyFileError::Format {
            path: path.to_path_buf(),
            kind: PRIVATE,
            why: "cannot encode",
        })?;
    write_secret(path, PRIVATE_HEADER, &b64[..n])
}

/// Writes a secret key file: header, base64, mode 0600, built in wiped buffers.
fn write_secret(path: &Path, header: &str, b64: &[u8]) -> Result<(), KeyFileError> {
    let mut text = Zeroizing::new(Vec::with_capacity(header.len() + b64.len() + 2));
    text.extend_from_slice(header.as_bytes());
    text.push(b'\n');
    text.extend_from_slice(b64);
    text.push(b'\n');
    write_new(path, 0o600, &text)
}

/// A fresh signaling session key from the OS generator, written to a new
/// file (mode 0600) for the other end to load; returned for this end.
pub fn generate_session_key(path: &Path) -> Result<SecretBytes, KeyFileError> {
    use getrandom::rand_core::Rng;
    let mut bytes = Zeroizing::new([0u8; 32]);
    UnwrapErr(SysRng).fill_bytes(&mut bytes[..]);
    let key = SecretBytes::new(&bytes[..]).map_err(|_| KeyFileError::Format {
        path: path.to_path_buf(),
        kind: SESSION,
        why: "key is not 32 bytes",
    })?;
    write_session_key(path, &key)?;
    Ok(key)
}

/// Writes a new signaling session key file (mode 0600; refuses to overwrite).
pub fn write_session_key(path: &Path, key: &SecretBytes) -> Result<(), KeyFileError> {
    if key.len() != 32 {
        return Err(KeyFileError::Format {
            path: path.to_path_buf(),
            kind: SESSION,
            why: "key is not 32 bytes",
        });
    }
    let mut b64 = Zeroizing::new([0u8; 44]);
    let n = STANDARD
        .encode_slice(key.expose(), &mut b64[..])
        .map_err(|_| KeyFileError::Format {
            path: path.to_path_buf(),
            kind: SESSION,
            why: "cannot encode",
        })?;
    write_secret(path, SESSION_HEADER, &b64[..n])
}

/// Loads a signaling session key, refusing a file that group or others
/// can read or write.
pub fn load_session_key(path: &Path) -> Result<SecretBytes, KeyFileError> {
    check_private_mode(path, "signaling session key")?;
    let key = read_key(path, SESSION_HEADER, SESSION)?;
    SecretBytes::new(&key[..]).map_err(|_| KeyFileError::Format {
        path: path.to_path_buf(),
        kind: SESSION,
        why: "key is not 32 bytes",
    })
}

/// Kinds, as error messages name them.
const PRIVATE: &str = "LE private";
const PUBLIC: &str = "LE public";
const SESSION: &str = "signaling session";

fn check_private_mode(path: &Path, what: &'static str) -> Result<(), KeyFileError> {
    let mode = std::fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode: mode & 0o777,
            what,
        });
    }
    Ok(())
}

pub fn write_public_key(path: &Path, pk: &LePublicKey) -> Result<(), KeyFileError> {
    let text = format!(
        "{PUBLIC_HEADER}\n{}\n# key id {}\n",
        STANDARD.encode(pk.to_bytes()),
        pk.key_id()
    );
    write_new(path, 0o644, text.as_bytes())
}

/// Creates `path` with `mode` (never overwriting, never wider than `mode`
/// even briefly), writes `bytes` and makes file and name durable.
pub fn write_new(path: &Path, mode: u32, bytes: &[u8]) -> Result<(), KeyFileError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    // The umask may have narrowed the mode; never let it widen the private key.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_err(path))?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(parent.unwrap_or(Path::new(".")))
        .and_then(|d| d.sync_all())
        .map_err(io_err(path))
}

/// Reads the base64 line after `header`; `#` lines and blank lines are ignored.
fn read_key(
    path: &Path,
    header: &str,
    kind: &'static str,
) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let bad = |why| KeyFileError::Format {
        path: path.to_path_buf(),
        kind,
        why,
    };
    // Sized up front: a growing String would leave copies of the key behind.
    let mut text = Zeroizing::new(String::with_capacity(4096));
    File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(io_err(path))?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    if lines.next() != Some(header) {
        return Err(bad("wrong header line"));
    }
    let b64 = lines.next().ok_or(bad("no key line"))?;
    if lines.next().is_some() {
        return Err(bad("extra lines"));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    let mut scratch = Zeroizing::new([0u8; 36]);
    let n = STANDARD
        .decode_slice(b64, &mut scratch[..])
        .map_err(|_| bad("key is not base64"))?;
    if n != 32 {
        return Err(bad("key is not 32 bytes"));
    }
    key.copy_from_slice(&scratch[..32]);
    Ok(key)
}

/// Loads the LE private key (CALEA server only), refusing a file that
/// group or others can read.
pub fn load_private_key(path: &Path) -> Result<LePrivateKey, KeyFileError> {
    check_private_mode(path, "LE private key")?;
    let key = read_key(path, PRIVATE_HEADER, PRIVATE)?;
    LePrivateKey::from_bytes(&key[..]).map_err(|_| KeyFileError::Format {
        path: path.to_path_buf(),
        kind: PRIVATE,
        why: "not an X25519 key",
    })
}

/// Loads the LE public key (controller start-up) and proves it usable
/// with one trial seal, so a bad key stops start-up, not the first call.
pub fn load_public_key(path: &Path) -> Result<LePublicKey, KeyFileError> {
    let key = read_key(path, PUBLIC_HEADER, PUBLIC)?;
    let pk = LePublicKey::from_bytes(&key[..]).map_err(|_| KeyFileError::Format {
        path: path.to_path_buf(),
        kind: PUBLIC,
        why: "not an X25519 key",
    })?;
    pk.check(&mut UnwrapErr(SysRng))
        .map_err(|_| KeyFileError::WeakKey {
            path: path.to_path_buf(),
        })?;
    Ok(pk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_write_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (sk_path, pk_path) = (dir.path().join("le.key"), dir.path().join("le.pub"));
        let id = generate_keypair(&sk_path, &pk_path).unwrap();
        let mode = std::fs::metadata(&sk_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sk = load_private_key(&sk_path).unwrap();
        let pk = load_public_key(&pk_path).unwrap();
        assert_eq!(sk.public().to_bytes(), pk.to_bytes());
        assert_eq!(pk.key_id(), id);
        assert!(matches!(
            generate_keypair(&sk_path, &dir.path().join("other.pub")),
            Err(KeyFileError::Exists { .. })
        ));
        assert!(matches!(
            generate_keypair(&dir.path().join("other.key"), &pk_path),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[test]
    fn bad_files_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (sk_path, pk_path) = (dir.path().join("le.key"), dir.path().join("le.pub"));
        generate_keypair(&sk_path, &pk_path).unwrap();

        std::fs::set_permissions(&sk_path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_private_key(&sk_path).unwrap_err();
        assert!(
            matches!(err, KeyFileError::TooOpen { mode: 0o640, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));

        // A public key file is not a private key file, and the reverse.
        assert!(matches!(
            load_public_key(&sk_path),
            Err(KeyFileError::Format {
                why: "wrong header line",
                ..
            })
        ));
        let missing = load_public_key(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, KeyFileError::Io { .. }));
        assert!(missing.to_string().contains("nope"));

        let weak = dir.path().join("weak.pub");
        std::fs::write(
            &weak,
            format!("{PUBLIC_HEADER}\n{}\n", STANDARD.encode([0u8; 32])),
        )
        .unwrap();
        assert!(matches!(
            load_public_key(&weak),
            Err(KeyFileError::WeakKey { .. })
        ));

        let short = dir.path().join("short.pub");
        std::fs::write(
            &short,
            format!("{PUBLIC_HEADER}\n{}\n", STANDARD.encode([7u8; 31])),
        )
        .unwrap();
        assert!(matches!(
            load_public_key(&short),
            Err(KeyFileError::Format {
                why: "key is not 32 bytes",
                ..
            })
        ));
    }

    #[test]
    fn session_keys_round_trip_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cta1.session");
        let key = generate_session_key(&path).unwrap();
        assert_eq!(key.len(), 32);
        let other = generate_session_key(&dir.path().join("cta2.session")).unwrap();
        assert!(!key.ct_eq(&other), "fresh keys");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(load_session_key(&path).unwrap().ct_eq(&key));
        assert!(matches!(
            write_session_key(&path, &key),
            Err(KeyFileError::Exists { .. })
        ));
        let short = SecretBytes::new(&[1; 16]).unwrap();
        assert!(write_session_key(&dir.path().join("short"), &short).is_err());

        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load_session_key(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::TooOpen { .. }), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("session key") && text.contains("chmod 600"),
                "{text}"
            );
            assert!(!text.contains(&STANDARD.encode(key.expose())), "{text}");
        }

        // An LE private key is not a session key, nor the reverse.
        let (sk, pk) = (dir.path().join("le.key"), dir.path().join("le.pub"));
        generate_keypair(&sk, &pk).unwrap();
        let err = load_session_key(&sk).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a cablekey signaling session key file"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load_private_key(&path),
            Err(KeyFileError::Format {
                why: "wrong header line",
                ..
            })
        ));
        let missing = load_session_key(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn debug_of_keys_shows_only_the_key_id() {
        let sk = LePrivateKey::generate(&mut UnwrapErr(SysRng));
        let shown = format!("{sk:?} {:?}", sk.public());
        let b64 = STANDARD.encode(&sk.to_bytes()[..]);
        assert!(!shown.contains(&b64[..12]), "{shown}");
        assert!(shown.contains(&sk.public().key_id().to_string()), "{shown}");
    }
}
