//! The archive: party entries of closed days, moved out of sled into files
//! that are written once, sorted by number and time, so a target's calls
//! in a window are one read per file instead of a walk over sled leaves
//! (sled 0.34 splits leaves at 16 entries and reads each as a base page
//! plus delta fragments: 33 reads per month-long query on 10 million
//! records, `BENCHMARKS.md` "Escrow lookup").
//!
//! Sled stays the store of records and of everything not yet folded; a
//! query reads sled's party entries, then the archive, and keeps one entry
//! per call, the most complete (a record only changes by gaining its end
//! time). So a record rewritten after its day was folded (a call still
//! running when it was) is found in sled until its span is rewritten.
//!
//! `MANIFEST` names the folded days and the files that hold them; a fold
//! (on its own thread, `run`) writes and syncs its new files, then the
//! manifest, and only then removes from sled the entries it moved that are
//! unchanged since. Files the manifest does not name (a fold cut short)
//! are deleted at open.

mod file;
mod fold;
mod run;
mod span;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

pub use file::ArchiveError;
pub(crate) use file::Entry;
use file::RunFile;
pub(crate) use run::run;
pub(crate) use span::day_of;
use span::Span;

use super::store::{StoreError, TimeRange};

const MANIFEST: &str = "MANIFEST";
const MANIFEST_HEAD: &str = "cablekey escrow archive 1";

/// What the archive holds at one moment.
#[derive(Default)]
struct Snapshot {
    /// Every day before this one is folded.
    through: u32,
    files: Vec<Arc<RunFile>>,
    /// What could not be read at open: a file (its span) or the manifest
    /// (no span: every span). Queries that need it fail and folds stop
    /// until it is repaired; the rest of the store works.
    damaged: Vec<(Option<Span>, StoreError)>,
}

/// What a fold did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    /// Files written.
    pub files: usize,
    /// Party entries moved out of sled.
    pub entries: u64,
    pub bytes: u64,
}

pub(crate) struct Archive {
    dir: PathBuf,
    state: RwLock<Arc<Snapshot>>,
    /// One fold at a time.
    folding: Mutex<()>,
}

/// An archive error, naming the file it is about.
fn err(path: &Path) -> impl Fn(ArchiveError) -> StoreError + '_ {
    move |error| StoreError::Archive {
        file: path.display().to_string(),
        error,
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| err(path)(e.into())
}

fn file_name(s: &Span) -> String {
    format!("{}-{}.run", s.first, s.days)
}

impl Archive {
    /// Opens the archive in `store_dir/archive` (creating it), deleting
    /// files a cut-short fold left.
    pub(crate) fn open(store_dir: &Path) -> Result<Archive, StoreError> {
        let dir = store_dir.join("archive");
        if !dir.exists() {
            std::fs::create_dir(&dir).map_err(io_err(&dir))?;
            File::open(store_dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(store_dir))?;
        }
        let manifest = dir.join(MANIFEST);
        let read = std::fs::read(&manifest);
        let parsed = match &read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, Vec::new())),
            Err(e) => Err(io_err(&manifest)(std::io::Error::from(e.kind()))),
            Ok(text) => parse_manifest(text).map_err(err(&manifest)),
        };
        let mut snapshot = Snapshot::default();
        match parsed {
            Ok((through, spans)) => {
                snapshot.through = through;
                for s in spans {
                    let path = dir.join(file_name(&s));
                    match RunFile::open(&path, s) {
                        Ok(f) => snapshot.files.push(Arc::new(f)),
                        Err(e) => snapshot.damaged.push((Some(s), err(&path)(e))),
                    }
                }
            }
            Err(e) => snapshot.damaged.push((None, e)),
        }
        for (_, e) in &snapshot.damaged {
            tracing::error!(error = %e, "escrow archive damaged: queries that need it fail and no day is archived until it is repaired");
        }
        if snapshot.damaged.iter().any(|(s, _)| s.is_none()) {
            // Without the manifest no file can be told to be a leftover.
            return Ok(Archive::with(dir, snapshot));
        }
        for e in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = e.map_err(io_err(&dir))?.path();
            let ours = matches!(
                path.extension().and_then(|x| x.to_str()),
                Some("run" | "tmp")
            );
            let named = snapshot.files.iter().any(|f| f.path == path)
                || snapshot
                    .damaged
                    .iter()
                    .any(|(s, _)| s.is_some_and(|s| dir.join(file_name(&s)) == path));
            if ours && !named {
                tracing::warn!(file = %path.display(), "deleting an archive file a cut-short fold left");
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        Ok(Archive::with(dir, snapshot))
    }

    fn with(dir: PathBuf, snapshot: Snapshot) -> Archive {
        Archive {
            dir,
            state: RwLock::new(Arc::new(snapshot)),
            folding: Mutex::new(()),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every day before this one (days since the Unix epoch) is folded.
    pub(crate) fn through(&self) -> u32 {
        self.snapshot().through
    }

    /// The archived entries of `number` started in `range`, oldest first
    /// per file. Read sled's entries first: a fold publishes its files
    /// before it removes what it moved from sled.
    pub(crate) fn by_party(
        &self,
        number: &str,
        range: TimeRange,
    ) -> Result<Vec<Entry>, StoreError> {
        let snap = self.snapshot();
        let needed = |s: &Option<Span>| s.is_none_or(|s| s.meets(range.from_ms, range.to_ms));
        if let Some((_, e)) = snap.damaged.iter().find(|(s, _)| needed(s)) {
            return Err(e.clone());
        }
        let mut out = Vec::new();
        for f in snap
            .files
            .iter()
            .filter(|f| f.span.meets(range.from_ms, range.to_ms))
        {
            let entries = f.entries(number.as_bytes()).map_err(err(&f.path))?;
            out.extend(
                entries
                    .into_iter()
                    .filter(|e| range.from_ms <= e.start_ms && e.start_ms < range.to_ms),
            );
        }
        Ok(out)
    }

    /// Folds every day before `through`: writes the files, then the
    /// manifest, then removes the moved entries from sled, each only if
    /// it is still what was archived (the indexer may have rewritten it
    /// meanwhile). Stops early, leaving the archive as it was, once
    /// `stop` is set.
    pub(crate) fn fold(
        &self,
        db: &sled::Db,
        through: u32,
        stop: &AtomicBool,
    ) -> Result<Folded, StoreError> {
        let _folding = self.folding.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        if let Some((_, e)) = old.damaged.first() {
            // A fold could merge over or delete what the damage hides.
            return Err(e.clone());
        }
        if through <= old.through {
            return Ok(Folded::default());
        }
        let spans = span::rebuilt(old.through, through);
        let tmp_name = |s: &Span| PathBuf::from(format!("{}.tmp", file_name(s)));
        let (written, moved) = fold::write(db, &self.dir, &old.files, &spans, tmp_name, stop)?;
        let (replaced, mut files): (Vec<_>, Vec<_>) = old
            .files
            .iter()
            .cloned()
            .partition(|f| spans.iter().any(|s| f.span.within(s)));
        let mut bytes = 0;
        for w in &written {
            let path = self.dir.join(file_name(&w.span));
            std::fs::rename(&w.tmp, &path).map_err(io_err(&path))?;
            files.push(Arc::new(RunFile::open(&path, w.span).map_err(err(&path))?));
            bytes += w.bytes;
        }
        files.sort_by_key(|f| f.span);
        self.write_manifest(through, &files)?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Snapshot {
            through,
            files,
            damaged: Vec::new(),
        });
        fold::remove_moved(db, &spans, &moved)?;
        for f in replaced {
            // Readers holding the old snapshot keep the file open.
            if let Err(e) = std::fs::remove_file(&f.path) {
                tracing::warn!(file = %f.path.display(), error = %e, "cannot delete a replaced archive file");
            }
        }
        Ok(Folded {
            files: written.len(),
            entries: moved.len() as u64,
            bytes,
        })
    }

    /// Replaces the manifest atomically and durably (with the new files'
    /// names: one directory sync covers both).
    fn write_manifest(&self, through: u32, files: &[Arc<RunFile>]) -> Result<(), StoreError> {
        let mut text = format!("{MANIFEST_HEAD}\nthrough {through}\n");
        for f in files {
            text.push_str(&format!("file {} {}\n", f.span.first, f.span.days));
        }
        text.push_str(&format!("crc {:08x}\n", crc32fast::hash(text.as_bytes())));
        let tmp = self.dir.join("MANIFEST.tmp");
        let path = self.dir.join(MANIFEST);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(io_err(&path))
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<(u32, Vec<Span>), ArchiveError> {
    let bad = |what: &str| ArchiveError::Manifest(what.to_string());
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not text"))?;
    let body_len = text.rfind("crc ").ok_or_else(|| bad("no checksum"))?;
    let (body, crc) = text.split_at(body_len);
    let crc = crc
        .trim_end()
        .strip_prefix("crc ")
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| bad("bad checksum line"))?;
    if crc != crc32fast::hash(body.as_bytes()) {
        return Err(ArchiveError::Checksum("the manifest"));
    }
    let mut lines = body.lines();
    if lines.next() != Some(MANIFEST_HEAD) {
        return Err(bad("unknown version"));
    }
    let through = lines
        .next()
        .and_then(|l| l.strip_prefix("through "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("no folded day"))?;
    let mut spans = Vec::new();
    for l in lines {
        let mut w = l.split(' ');
        let span = match (w.next(), w.next(), w.next(), w.next()) {
            (Some("file"), Some(first), Some(days), None) => first
                .parse()
                .ok()
                .zip(days.parse().ok())
                .map(|(first, days)| Span { first, days }),
            _ => None,
        };
        spans.push(span.ok_or_else(|| bad(&format!("bad line {l:?}")))?);
    }
    Ok((through, spans))
}
