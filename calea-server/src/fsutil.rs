//! Files the CALEA server keeps: written whole and durably (temporary file,
//! fsync, rename, fsync of the directory), read with a size cap.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

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

/// Reads a whole file of at most `max` bytes; `None` if it does not exist.
pub fn read_optional(path: &Path, max: u64) -> Result<Option<Vec<u8>>, FsError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path)(e)),
    };
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(err(path))?;
    if bytes.len() as u64 > max {
        return Err(err(path)(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        )));
    }
    Ok(Some(bytes))
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new
/// content, never a mix, and the new content is on disk when this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = parent(path);
    fs::create_dir_all(dir).map_err(err(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(err(&tmp))?;
    f.write_all(bytes).map_err(err(&tmp))?;
    f.sync_all().map_err(err(&tmp))?;
    fs::rename(&tmp, path).map_err(err(path))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(err(dir))
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Lower-case hex of `bytes` (file names, digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
