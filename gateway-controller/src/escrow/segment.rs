//! Segment files of the write-ahead log, in `<store>/wal/`, named by a
//! 16-hex-digit sequence number so that name order is log order.
//!
//! Creating a file or a directory makes a new name, which only an `fsync`
//! of the directory holding it makes durable; every creation here does it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::wal::HEADER;

pub(crate) const WAL_DIR: &str = "wal";
const SUFFIX: &str = ".log";

/// The log directory.
pub(crate) struct WalDir {
    path: PathBuf,
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl WalDir {
    /// Opens `<store>/wal`, creating it (and syncing its name) if needed.
    pub(crate) fn open(store_dir: &Path) -> io::Result<WalDir> {
        let path = store_dir.join(WAL_DIR);
        match std::fs::create_dir(&path) {
            Ok(()) => sync_dir(store_dir)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        Ok(WalDir { path })
    }

    /// Segments in log order. Other names are left alone.
    pub(crate) fn segments(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let name = entry?.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SUFFIX))
                .filter(|n| n.len() == 16)
                .and_then(|n| u64::from_str_radix(n, 16).ok())
            else {
                continue;
            };
            out.push((seq, self.path.join(name)));
        }
        out.sort();
        Ok(out)
    }

    /// Creates segment `seq` with its header, durable name included.
    pub(crate) fn create(&self, seq: u64) -> io::Result<Segment> {
        let path = self.path.join(format!("{seq:016x}{SUFFIX}"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(HEADER)?;
        file.sync_all()?;
        sync_dir(&self.path)?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            len: HEADER.len() as u64,
        })
    }

    /// Deletes a segment whose records are durable elsewhere. Not synced:
    /// if the deletion is lost, the segment is replayed again, harmlessly.
    pub(crate) fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// Cuts a torn tail off a segment, durably.
pub(crate) fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// The segment being appended to.
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    file: Arc<File>,
    len: u64,
}

impl Segment {
    /// Writes `buf` at the end (one `pwrite64` for a whole group). Not
    /// durable until the file is synced.
    pub(crate) fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, self.len)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file, for the syncer (which may still sync it after a rotation).
    pub(crate) fn file(&self) -> Arc<File> {
        self.file.clone()
    }
}
