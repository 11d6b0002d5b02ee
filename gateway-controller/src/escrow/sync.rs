//! The real sync after sled's flush. sled 0.34 ends a flush with
//! `sync_file_range`, which neither flushes the disk's write cache nor the
//! file's metadata (its size); `fdatasync` does both for the log file.
//! Files that appear in the directory (snapshots) also need the directory
//! synced, or a power cut can lose their names.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) struct StoreFiles {
    dir: PathBuf,
    log: File,
    names: BTreeSet<OsString>,
}

impl StoreFiles {
    /// Opens the store's files after sled created them and syncs them all,
    /// with the directory and its parent (which got the directory's name).
    pub(crate) fn open(dir: &Path) -> io::Result<StoreFiles> {
        let log = File::open(dir.join("db"))?;
        let mut files = StoreFiles {
            dir: dir.to_path_buf(),
            log,
            names: BTreeSet::new(),
        };
        files.names = files.list()?;
        for name in &files.names {
            let path = dir.join(name);
            // Files and the blobs directory alike: fsync works on both.
            File::open(&path)?.sync_all()?;
        }
        File::open(dir)?.sync_all()?;
        // `data` has the parent "" (the working directory).
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
        Ok(files)
    }

    fn list(&self) -> io::Result<BTreeSet<OsString>> {
        std::fs::read_dir(&self.dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }

    /// Makes everything sled has flushed durable: `fdatasync` of the log,
    /// and `fsync` of the directory if its set of names changed.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let names = self.list()?;
        if names != self.names {
            File::open(&self.dir)?.sync_all()?;
            self.names = names;
        }
        Ok(())
    }
}
