//! Files the CALEA server keeps: written whole and durably (temporary file,
//! fsync, rename, fsync of the directory), read with a size cap.

use std::io;
use std::path::{Path, PathBuf};

use cablekey_keyfile::durable;

/// A file operation that failed, with the file it concerned.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FsError {
    pub path: PathBuf,
    pub source: io::Error,
}

pub fn err(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError {
        path: path.to_path_buf(),
        source,
    }
}

fn from_durable((path, source): durable::Failed) -> FsError {
    FsError { path, source }
}

/// Reads a whole file of at most `max` bytes; `None` if it does not exist.
pub fn read_optional(path: &Path, max: u64) -> Result<Option<Vec<u8>>, FsError> {
    durable::read_optional(path, max).map_err(from_durable)
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new
/// content, never a mix, and the new content is on disk when this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    durable::replace(path, bytes).map_err(from_durable)
}

/// Lower-case hex of `bytes` (file names, digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
