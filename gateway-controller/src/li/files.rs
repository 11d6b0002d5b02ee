//! The LI service's files: the task book (replaced whole and durably) and
//! the audit log (appended and synced per entry).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use cablekey_protocol::li::Task;
use serde::{Deserialize, Serialize};

use super::audit::{self, Entry, Head};
use super::task::TaskBook;
use cablekey_keyfile::durable;

/// Largest task book or audit log read back.
const MAX_TASKS_FILE: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a task book ({why})")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: the audit chain is broken: {bad}; move the file aside to start a new log (and keep it: it is evidence)")]
    Broken { path: PathBuf, bad: audit::BadEntry },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.into(),
        source,
    }
}

/// `fsync`s the directory holding `path`.
fn sync_dir(path: &Path) -> Result<(), FileError> {
    durable::sync_dir(durable::parent(path)).map_err(from_durable)
}

fn from_durable((path, source): durable::Failed) -> FileError {
    FileError::Io { path, source }
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    tasks: Vec<Task>,
}

/// Loads the task book (an absent file is an empty book).
pub fn load_tasks(path: &Path) -> Result<TaskBook, FileError> {
    let Some(bytes) = durable::read_optional(path, MAX_TASKS_FILE).map_err(from_durable)? else {
        return Ok(TaskBook::default());
    };
    let corrupt = |why: String| FileError::Corrupt {
        path: path.into(),
        why,
    };
    let disk: OnDisk = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if disk.version != 1 {
        return Err(corrupt(format!("unknown version {}", disk.version)));
    }
    Ok(TaskBook::from_tasks(disk.tasks))
}

/// Replaces the task book so a crash leaves the old or the new one, and
/// the new one is on disk when this returns.
pub fn save_tasks(path: &Path, book: &TaskBook) -> Result<(), FileError> {
    let disk = OnDisk {
        version: 1,
        tasks: book.tasks().cloned().collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&disk).map_err(|e| FileError::Corrupt {
        path: path.into(),
        why: e.to_string(),
    })?;
    bytes.push(b'\n');
    durable::replace(path, &bytes).map_err(from_durable)
}

/// The audit log file: opened for appending only, each entry written in
/// one `write` and `fdatasync`ed before the request is answered.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: File,
    head: Head,
}

impl AuditLog {
    /// Opens (creating) the log and checks its whole chain: a broken chain
    /// is refused. A last line cut short by a crash (never acknowledged:
    /// entries are synced before their request is answered) is cut off.
    pub fn open(path: &Path) -> Result<AuditLog, FileError> {
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err(path))?;
        if !existed {
            file.sync_all().map_err(io_err(path))?;
            sync_dir(path)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(path))?;
        let head = match audit::verify(&bytes) {
            Ok(head) => head,
            Err(bad) if bad.why == audit::Broken::Incomplete => {
                let keep = bytes.len() - bytes.iter().rev().take_while(|&&b| b != b'\n').count();
                tracing::warn!(
                    path = %path.display(),
                    line = bad.line,
                    "audit log ends in an incomplete entry (a write cut short); removing it"
                );
                file.set_len(keep as u64).map_err(io_err(path))?;
                file.sync_all().map_err(io_err(path))?;
                bad.good
            }
            Err(bad) => {
                return Err(FileError::Broken {
                    path: path.into(),
                    bad,
                })
            }
        };
        Ok(AuditLog {
            inner: Arc::new(Mutex::new(Inner {
                path: path.into(),
                file,
                head,
            })),
        })
    }

    pub fn head(&self) -> Head {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .head
    }

    /// Appends one entry durably and returns the new head. Blocking: call
    /// it from a blocking thread.
    pub fn append_blocking(&self, entry: &Entry) -> Result<Head, FileError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (line, next) = inner.head.append(entry);
        let path = inner.path.clone();
        // One write of the whole line; O_APPEND puts it at the end.
        inner.file.write_all(&line).map_err(io_err(&path))?;
        inner.file.sync_data().map_err(io_err(&path))?;
        inner.head = next;
        Ok(next)
    }

    /// [`append_blocking`](Self::append_blocking) off the async threads.
    pub async fn append(&self, entry: Entry) -> Result<Head, FileError> {
        let log = self.clone();
        match tokio::task::spawn_blocking(move || log.append_blocking(&entry)).await {
            Ok(r) => r,
            Err(e) => Err(FileError::Io {
                path: self
                    .inner
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .path
                    .clone(),
                source: io::Error::other(e.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cablekey_protocol::li::{Mode, TaskSpec};

    fn entry(op: &str) -> Entry {
        Entry {
            time_unix_ms: 1,
            client: "-".into(),
            peer: "127.0.0.1:1".into(),
            op: op.into(),
            case: None,
            target: None,
            outcome: "refused".into(),
            status: 0,
            detail: String::new(),
        }
    }

    #[test]
    fn audit_log_reopens_on_its_head_and_refuses_a_broken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        log.append_blocking(&entry("a")).unwrap();
        let head = log.append_blocking(&entry("b")).unwrap();
        drop(log);
        // A torn write at the end is cut off on open.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,").unwrap();
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.head(), head);
        assert_eq!(log.append_blocking(&entry("c")).unwrap().seq, 3);
        drop(log);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(audit::verify(&bytes).unwrap().seq, 3);
        let changed = String::from_utf8(bytes)
            .unwrap()
            .replacen("\"a\"", "\"x\"", 1);
        std::fs::write(&path, changed).unwrap();
        assert!(matches!(
            AuditLog::open(&path),
            Err(FileError::Broken { .. })
        ));
    }

    #[test]
    fn tasks_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("li").join("tasks.json");
        assert_eq!(load_tasks(&path).unwrap(), TaskBook::default());
        let mut book = TaskBook::default();
        let spec = TaskSpec {
            case_id: "C-1".into(),
            target: "4001".into(),
            start_unix_ms: 1,
            end_unix_ms: 2,
            modes: vec![Mode::Current],
            collector: "127.0.0.1:9".into(),
            cci: None,
        };
        book.provision(spec, 0, "CN=calea", &mut || 5).unwrap();
        save_tasks(&path, &book).unwrap();
        assert_eq!(load_tasks(&path).unwrap(), book);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(load_tasks(&path), Err(FileError::Corrupt { .. })));
    }
}
