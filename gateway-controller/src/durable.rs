//! Small files replaced whole and durably (the LI task book, the gateway
//! book): a crash leaves the old or the new one, and the new one is on disk
//! when [`replace`] returns. Errors name the file that failed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub type Failed = (PathBuf, io::Error);

fn at(path: &Path) -> impl FnOnce(io::Error) -> Failed + '_ {
    move |e| (path.into(), e)
}

/// `fsync`s the directory holding `path`, so a rename or a new file in it
/// survives a power cut.
pub fn sync_dir(path: &Path) -> Result<(), Failed> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Writes `bytes` as `path` (mode 0600) through a synced temporary file
/// beside it, renamed over the old one; creates the directory if missing.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), Failed> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(at(dir))?;
            sync_dir(dir)?;
        }
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    let tmp = PathBuf::from(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(at(&tmp))?;
    f.write_all(bytes).map_err(at(&tmp))?;
    f.sync_all().map_err(at(&tmp))?;
    fs::rename(&tmp, path).map_err(at(path))?;
    sync_dir(path)
}
