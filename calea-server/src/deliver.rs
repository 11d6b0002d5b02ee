//! What a case receives, under `cases/<case id>/`: a stereo WAV per call,
//! the decrypted pcap, call records as JSON lines, a report of what could
//! not be decrypted, and a manifest with the SHA-256 of every file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use cablekey_protocol::escrow::EscrowRecord;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::fsutil::{self, hex, FsError};

pub const CALLS: &str = "calls.jsonl";
pub const PCAP: &str = "decrypted.pcap";
pub const REPORT: &str = "report.json";
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("{0}: a delivery is already there; choose another --out directory")]
    AlreadyDelivered(PathBuf),
    #[error("{path}: {why}")]
    Write { path: PathBuf, why: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// One party as delivered.
#[derive(Debug, Serialize)]
pub struct PartyJson {
    pub number: String,
    pub endpoint: String,
}

/// One line of `calls.jsonl`. Fields the escrow record does not carry
/// (dialed digits, answer time) are null until the controller sends them.
#[derive(Debug, Serialize)]
pub struct CallJson {
    pub call_id: String,
    pub caller: PartyJson,
    pub callee: PartyJson,
    pub start: String,
    pub answer: Option<String>,
    pub end: Option<String>,
    pub dialed_digits: Option<String>,
    pub suite: String,
    pub packets_caller_to_callee: u64,
    pub packets_callee_to_caller: u64,
    /// The call's WAV file in this directory, if its media was captured.
    pub audio: Option<String>,
}

impl CallJson {
    pub fn new(record: &EscrowRecord, packets: [u64; 2], audio: Option<String>) -> CallJson {
        let m = &record.meta;
        let party = |p: &cablekey_protocol::escrow::Party| PartyJson {
            number: p.number.clone(),
            endpoint: p.endpoint.clone(),
        };
        CallJson {
            call_id: m.call_id.clone(),
            caller: party(&m.caller),
            callee: party(&m.callee),
            start: clock::rfc3339(m.start_unix_ms),
            answer: None,
            end: record.ended_unix_ms.map(clock::rfc3339),
            dialed_digits: None,
            suite: m.suite.clone(),
            packets_caller_to_callee: packets[0],
            packets_callee_to_caller: packets[1],
            audio,
        }
    }
}

/// A file name for a call's WAV: the call id where it is safe in a file
/// name, its hex otherwise.
pub fn wav_name(call_id: &str) -> String {
    let safe = call_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if safe {
        format!("call-{call_id}.wav")
    } else {
        format!("call-x{}.wav", hex(call_id.as_bytes()))
    }
}

/// Makes the case directory; refuses one that already holds a delivery.
pub fn prepare(dir: &Path) -> Result<(), DeliverError> {
    if dir.join(MANIFEST).exists() || dir.join(PCAP).exists() {
        return Err(DeliverError::AlreadyDelivered(dir.to_path_buf()));
    }
    fs::create_dir_all(dir).map_err(fsutil::err(dir))?;
    Ok(())
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> DeliverError + '_ {
    move |e| DeliverError::Write {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

pub fn write_json_lines<T: Serialize>(path: &Path, items: &[T]) -> Result<(), DeliverError> {
    let mut out = Vec::new();
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(json_err(path))?;
        out.push(b'\n');
    }
    fsutil::write_atomic(path, &out)?;
    Ok(())
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), DeliverError> {
    let mut out = serde_json::to_vec_pretty(value).map_err(json_err(path))?;
    out.push(b'\n');
    fsutil::write_atomic(path, &out)?;
    Ok(())
}

/// A file's size and SHA-256 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub bytes: u64,
    pub sha256: String,
}

/// Hashes taken while files were written, by name in the case directory:
/// the manifest uses them instead of reading the files back.
pub type Hashes = HashMap<String, Hashed>;

/// A writer that hashes and counts every byte it passes on.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer and what passed through it.
    pub fn finish(self) -> (W, Hashed) {
        let sha256 = hex(&self.hasher.finalize());
        (
            self.inner,
            Hashed {
                bytes: self.bytes,
                sha256,
            },
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hasher.update(done);
        self.bytes += done.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes written between two early syncs of a [`FileOut`].
const SYNC_AHEAD: u64 = 8 << 20;

/// A delivered file being written: hashed as it goes, and synced ahead
/// (a thread `fdatasync`s it after every 8 MiB written), so the disk writes
/// overlap the work and the final `fsync` before the manifest finds
/// little left. Durability still rests on that final `fsync`.
pub struct FileOut {
    w: HashingWriter<File>,
    since: u64,
    ahead: Option<(
        std::sync::mpsc::SyncSender<()>,
        std::thread::JoinHandle<io::Result<()>>,
    )>,
}

impl FileOut {
    pub fn create(path: &Path) -> Result<FileOut, FsError> {
        let file = File::create(path).map_err(fsutil::err(path))?;
        // Without a clone or a thread the file is synced at the end only.
        let ahead = file.try_clone().ok().and_then(|f| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
            std::thread::Builder::new()
                .name("sync-ahead".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        f.sync_data()?;
                    }
                    Ok(())
                })
                .ok()
                .map(|t| (tx, t))
        });
        Ok(FileOut {
            w: HashingWriter::new(file),
            since: 0,
            ahead,
        })
    }

    /// The file (written, not necessarily synced) and its hash. An early
    /// sync that failed fails here: what reached the disk is unknown.
    pub fn finish(self) -> io::Result<(File, Hashed)> {
        if let Some((tx, t)) = self.ahead {
            drop(tx);
            t.join()
                .unwrap_or_else(|_| Err(io::Error::other("sync thread panicked")))?;
        }
        Ok(self.w.finish())
    }
}

impl Write for FileOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        self.since += n as u64;
        if self.since >= SYNC_AHEAD {
            self.since = 0;
            if let Some((tx, _)) = &self.ahead {
                // Busy syncing: the next nudge will do.
                let _ = tx.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Size and SHA-256 of a file, read in large blocks.
pub fn hash_file(path: &Path) -> Result<Hashed, FsError> {
    let mut f = File::open(path).map_err(fsutil::err(path))?;
    let mut h = HashingWriter::new(io::sink());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(fsutil::err(path))?;
        if n == 0 {
            break;
        }
        h.write_all(&buf[..n]).map_err(fsutil::err(path))?;
    }
    Ok(h.finish().1)
}

#[derive(Debug, Serialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub case_id: String,
    pub created: String,
    /// The capture the delivery was decrypted from.
    pub source: ManifestFile,
    pub files: Vec<ManifestFile>,
}

/// Makes every delivered file durable (one `fsync` each), takes their
/// hashes from `hashed` (taken as they were written) or reads them back,
/// and writes `manifest.json` last: a delivery with a manifest is complete
/// on disk. `source_hash` is the source's, if it was hashed already.
pub fn write_manifest(
    dir: &Path,
    case_id: &str,
    source: &Path,
    source_hash: Option<Hashed>,
    names: &[String],
    hashed: &Hashes,
) -> Result<(), DeliverError> {
    let file = |h: Hashed, name: String| ManifestFile {
        name,
        bytes: h.bytes,
        sha256: h.sha256,
    };
    let entry = |path: &Path, name: String| -> Result<ManifestFile, FsError> {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(fsutil::err(path))?;
        let h = match hashed.get(&name) {
            Some(h) => h.clone(),
            None => hash_file(path)?,
        };
        Ok(file(h, name))
    };
    let source_name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let source = match source_hash {
        Some(h) => file(h, source_name),
        None => file(hash_file(source)?, source_name),
    };
    let manifest = Manifest {
        case_id: case_id.to_string(),
        created: clock::rfc3339(clock::now()),
        source,
        files: names
            .iter()
            .map(|n| entry(&dir.join(n), n.clone()))
            .collect::<Result<_, _>>()?,
    };
    write_json(&dir.join(MANIFEST), &manifest)
}

/// The decrypted pcap: raw IP (one link type for whatever the capture
/// mixed), nanosecond timestamps as captured.
pub struct PcapOut {
    path: PathBuf,
    writer: pcap_file::pcap::PcapWriter<BufWriter<FileOut>>,
}

impl PcapOut {
    pub fn create(path: &Path) -> Result<PcapOut, DeliverError> {
        let file = FileOut::create(path)?;
        let header = pcap_file::pcap::PcapHeader {
            datalink: pcap_file::DataLink::RAW,
            ts_resolution: pcap_file::TsResolution::NanoSecond,
            ..Default::default()
        };
        let writer = pcap_file::pcap::PcapWriter::with_header(
            BufWriter::with_capacity(1 << 20, file),
            header,
        )
        .map_err(|e| DeliverError::Write {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        Ok(PcapOut {
            path: path.to_path_buf(),
            writer,
        })
    }

    pub fn write(&mut self, time: std::time::Duration, ip: &[u8]) -> Result<(), DeliverError> {
        let len = u32::try_from(ip.len()).unwrap_or(u32::MAX);
        let packet = pcap_file::pcap::PcapPacket::new(time, len, ip);
        self.writer
            .write_packet(&packet)
            .map_err(|e| DeliverError::Write {
                path: self.path.clone(),
                why: e.to_string(),
            })?;
        Ok(())
    }

    /// Flushes the file and returns it (not yet synced: the manifest
    /// does that, or a caller who wants it on its way sooner) with the
    /// hash of what was written.
    pub fn finish(self) -> Result<(File, Hashed), DeliverError> {
        let path = self.path;
        let inner = self
            .writer
            .into_writer()
            .into_inner()
            .map_err(|e| fsutil::err(&path)(e.into_error()))?;
        Ok(inner.finish().map_err(fsutil::err(&path))?)
    }
}
