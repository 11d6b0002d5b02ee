//! Small files the controller and the CALEA server keep whole (the LI task
//! book, the gateway book, warrants, deliveries): replaced so that a crash
//! leaves the old or the new one and the new one is on disk when
//! [`replace`] returns, and read back with a size cap. Here, beside the key
//! files, because both sides use them. Errors name the file that failed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub type Failed = (PathBuf, io::Error);

fn at(path: &Path) -> impl FnOnce(io::Error) -> Failed + '_ {
    move |e| (path.into(), e)
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `fsync`s a directory, so a rename or a new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), Failed> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Writes `bytes` as `path` (mode 0600) through a synced temporary file
/// beside it (`.<name>.tmp`), renamed over the old one; creates the
/// directory if missing.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), Failed> {
    let dir = parent(path);
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(at(dir))?;
        sync_dir(parent(dir))?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
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
    sync_dir(dir)
}

/// Reads a whole file of at most `max` bytes; `None` if it does not exist.
pub fn read_optional(path: &Path, max: u64) -> Result<Option<Vec<u8>>, Failed> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(at(path)(e)),
    };
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(at(path))?;
    if bytes.len() as u64 > max {
        let big = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        );
        return Err(at(path)(big));
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replace_writes_whole_files_readable_back_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("book.json");
        assert!(read_optional(&path, 10).unwrap().is_none(), "absent");
        replace(&path, b"first").unwrap();
        replace(&path, b"second").unwrap();
        assert_eq!(read_optional(&path, 10).unwrap().unwrap(), b"second");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = fs::read_dir(parent(&path)).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        let (named, _) = read_optional(&path, 3).unwrap_err();
        assert_eq!(named, path, "too large, and the error names the file");
    }
}
