//! Folding: the party entries of closed days move from sled into archive
//! files. Each span to write (see `span::rebuilt`) is merged from the
//! archive files it replaces and the sled entries of its days, in one pass
//! over sled's party entries, which are already in the files' order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cablekey_protocol::escrow::EscrowRecord;

use super::file::{number_order, settle, ArchiveError, Entry, RunFile, RunWriter};
use super::span::{day_of, Span};
use crate::escrow::index::db_err;
use crate::escrow::layout;
use crate::escrow::store::StoreError;

/// A file being read block by block into a merge.
struct Cursor {
    file: Arc<RunFile>,
    next: usize,
}

impl Cursor {
    fn number(&self) -> Option<&[u8]> {
        self.file.number_at(self.next)
    }

    fn take(&mut self) -> Result<Vec<Entry>, ArchiveError> {
        self.next += 1;
        self.file.entries_at(self.next - 1)
    }
}

/// One span being written.
struct Merge {
    span: Span,
    out: RunWriter,
    old: Vec<Cursor>,
    /// Sled entries of the number being scanned.
    routed: Vec<Entry>,
}

impl Merge {
    /// Writes the block of `number`: its old blocks and `entries`.
    fn number(&mut self, number: &[u8], mut entries: Vec<Entry>) -> Result<(), ArchiveError> {
        for c in &mut self.old {
            if c.number() == Some(number) {
                entries.extend(c.take()?);
            }
        }
        settle(&mut entries);
        self.out.block(number, &entries)
    }

    /// Copies the old files' blocks of numbers before `limit` (all if none).
    fn numbers_before(&mut self, limit: Option<&[u8]>) -> Result<(), ArchiveError> {
        loop {
            let next = self
                .old
                .iter()
                .filter_map(Cursor::number)
                .min_by(|a, b| number_order(a, b))
                .map(<[u8]>::to_vec);
            match next {
                Some(n) if limit.is_none_or(|l| number_order(&n, l).is_lt()) => {
                    self.number(&n, Vec::new())?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The sled entries routed here for `number`, merged and written.
    fn flush(&mut self, number: &[u8]) -> Result<(), ArchiveError> {
        if self.routed.is_empty() {
            return Ok(());
        }
        self.numbers_before(Some(number))?;
        let entries = std::mem::take(&mut self.routed);
        self.number(number, entries)
    }
}

/// A written file, synced, under its temporary name.
pub(crate) struct Written {
    pub(crate) tmp: PathBuf,
    pub(crate) span: Span,
    pub(crate) bytes: u64,
}

/// A party entry of sled as an archive entry.
fn entry_of(key: &[u8], value: &[u8]) -> Option<(Vec<u8>, Entry)> {
    let (number, start_ms, call_id) = layout::split_party_key(key)?;
    // A damaged record moves as it is; its query reports it.
    let ended_ms = layout::split_party_value(value)
        .and_then(|(r, _)| EscrowRecord::decode(r).ok())
        .and_then(|r| r.ended_unix_ms);
    Some((
        number.to_vec(),
        Entry {
            start_ms,
            ended_ms,
            call_id: call_id.to_vec(),
            value: value.to_vec(),
        },
    ))
}

/// Writes the files of `spans` from the files of `old` inside them and
/// sled's entries of their days. Returns the files written (spans with
/// no calls get none) and how many sled entries they took.
pub(crate) fn write(
    db: &sled::Db,
    dir: &Path,
    old: &[Arc<RunFile>],
    spans: &[Span],
    tmp_name: impl Fn(&Span) -> PathBuf,
) -> Result<(Vec<Written>, u64), StoreError> {
    let arch = |path: &Path| {
        let file = path.display().to_string();
        move |error| StoreError::Archive {
            file: file.clone(),
            error,
        }
    };
    let mut merges = Vec::with_capacity(spans.len());
    for s in spans {
        let tmp = dir.join(tmp_name(s));
        merges.push(Merge {
            span: *s,
            out: RunWriter::create(tmp.clone(), *s).map_err(arch(&tmp))?,
            old: old
                .iter()
                .filter(|f| f.span.within(s))
                .map(|f| Cursor {
                    file: f.clone(),
                    next: 0,
                })
                .collect(),
            routed: Vec::new(),
        });
    }
    let dir_err = arch(dir);
    let mut moved = 0u64;
    let mut current: Option<Vec<u8>> = None;
    for item in db.scan_prefix([layout::PARTY]) {
        let (k, v) = item.map_err(db_err("reading party entries to archive"))?;
        let Some((number, entry)) = entry_of(&k, &v) else {
            return Err(StoreError::Db("a party index key is malformed".into()));
        };
        let day = day_of(entry.start_ms);
        let Some(m) = merges.iter().position(|m| m.span.holds(day)) else {
            continue;
        };
        if current.as_deref() != Some(&number[..]) {
            if let Some(prev) = current.take() {
                for m in &mut merges {
                    m.flush(&prev).map_err(&dir_err)?;
                }
            }
            current = Some(number);
        }
        merges[m].routed.push(entry);
        moved += 1;
    }
    let mut written = Vec::new();
    for mut m in merges {
        if let Some(n) = &current {
            m.flush(n).map_err(&dir_err)?;
        }
        m.numbers_before(None).map_err(&dir_err)?;
        let tmp = dir.join(tmp_name(&m.span));
        if let Some((tmp, span, bytes)) = m.out.finish().map_err(arch(&tmp))? {
            written.push(Written { tmp, span, bytes });
        }
    }
    Ok((written, moved))
}

/// Deletes sled's party entries of the days of `spans` (now in files).
pub(crate) fn remove_moved(db: &sled::Db, spans: &[Span]) -> Result<u64, StoreError> {
    let mut removed = 0;
    for item in db.scan_prefix([layout::PARTY]) {
        let (k, _) = item.map_err(db_err("reading party entries to archive"))?;
        let folded = layout::split_party_key(&k)
            .is_some_and(|(_, start, _)| spans.iter().any(|s| s.holds(day_of(start))));
        if folded {
            db.remove(&k)
                .map_err(db_err("removing archived party entries"))?;
            removed += 1;
        }
    }
    Ok(removed)
}
