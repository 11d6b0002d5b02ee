//! Folding: the party entries of closed days move from sled into archive
//! files. Each span to write (see `span::rebuilt`) is merged from the
//! archive files it replaces and the sled entries of its days, in one pass
//! over sled's party entries, which are already in the files' order.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cablekey_protocol::escrow::EscrowRecord;

use super::err;
use super::file::{number_order, settle, Entry, RunFile, RunWriter};
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

    fn take(&mut self) -> Result<Vec<Entry>, StoreError> {
        self.next += 1;
        self.file
            .entries_at(self.next - 1)
            .map_err(err(&self.file.path))
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
    fn number(&mut self, number: &[u8], mut entries: Vec<Entry>) -> Result<(), StoreError> {
        for c in &mut self.old {
            if c.number() == Some(number) {
                entries.extend(c.take()?);
            }
        }
        settle(&mut entries);
        let out = &mut self.out;
        out.block(number, &entries).map_err(|e| err(out.path())(e))
    }

    /// Copies the old files' blocks of numbers before `limit` (all if
    /// none), unless told to stop.
    fn numbers_before(
        &mut self,
        limit: Option<&[u8]>,
        stop: &AtomicBool,
    ) -> Result<(), StoreError> {
        loop {
            if stop.load(Ordering::Relaxed) {
                // The temporary files are deleted at the next open.
                return Err(StoreError::Closed);
            }
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
    fn flush(&mut self, number: &[u8], stop: &AtomicBool) -> Result<(), StoreError> {
        if self.routed.is_empty() {
            return Ok(());
        }
        self.numbers_before(Some(number), stop)?;
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
fn entry_of(start_ms: u64, call_id: &[u8], value: &[u8]) -> Entry {
    // A damaged record moves as it is; its query reports it.
    let ended_ms = layout::split_party_value(value)
        .and_then(|(r, _)| EscrowRecord::decode(r).ok())
        .and_then(|r| r.ended_unix_ms);
    Entry {
        start_ms,
        ended_ms,
        call_id: call_id.to_vec(),
        value: value.to_vec(),
    }
}

/// Which sled entries (key and value) went into the archive: 128 bits of
/// SipHash per entry, so a fold of millions of entries keeps megabytes,
/// not the entries.
pub(crate) type Moved = HashSet<u128>;

fn fingerprint(key: &[u8], value: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        (salt, key, value).hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// Writes the files of `spans` from the files of `old` inside them and
/// sled's entries of their days. Returns the files written (spans with
/// no calls get none) and the sled entries they took. sled is read as
/// the indexer goes on writing: an entry it adds or rewrites meanwhile
/// may be missed or taken in an older version; either way it stays in
/// sled (see [`remove_moved`]).
pub(crate) fn write(
    db: &sled::Db,
    dir: &Path,
    old: &[Arc<RunFile>],
    spans: &[Span],
    tmp_name: impl Fn(&Span) -> PathBuf,
    stop: &AtomicBool,
) -> Result<(Vec<Written>, Moved), StoreError> {
    let mut merges = Vec::with_capacity(spans.len());
    for s in spans {
        let tmp = dir.join(tmp_name(s));
        merges.push(Merge {
            span: *s,
            out: RunWriter::new(tmp, *s),
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
    let mut moved = Moved::new();
    let mut current: Option<Vec<u8>> = None;
    for item in db.scan_prefix([layout::PARTY]) {
        let (k, v) = item.map_err(db_err("reading party entries to archive"))?;
        let Some((number, start_ms, call_id)) = layout::split_party_key(&k) else {
            return Err(StoreError::Db("a party index key is malformed".into()));
        };
        // `spans` are in day order (`span::rebuilt`).
        let day = day_of(start_ms);
        let m = merges.partition_point(|m| m.span.end() <= day);
        if !merges.get(m).is_some_and(|m| m.span.holds(day)) {
            continue;
        }
        if current.as_deref() != Some(number) {
            if let Some(prev) = current.take() {
                for m in &mut merges {
                    m.flush(&prev, stop)?;
                }
            }
            current = Some(number.to_vec());
        }
        merges[m].routed.push(entry_of(start_ms, call_id, &v));
        moved.insert(fingerprint(&k, &v));
    }
    let mut written = Vec::new();
    for mut m in merges {
        if let Some(n) = &current {
            m.flush(n, stop)?;
        }
        m.numbers_before(None, stop)?;
        let tmp = dir.join(tmp_name(&m.span));
        if let Some((tmp, span, bytes)) = m.out.finish().map_err(err(&tmp))? {
            written.push(Written { tmp, span, bytes });
        }
    }
    Ok((written, moved))
}

/// Deletes from sled the party entries of the days of `spans` that are
/// in the archive as they are now: a compare-and-swap, so an entry the
/// indexer rewrote after `write` read it (an end time) stays, and queries
/// take it over the archive's older copy.
pub(crate) fn remove_moved(
    db: &sled::Db,
    spans: &[Span],
    moved: &Moved,
) -> Result<u64, StoreError> {
    let mut removed = 0;
    for item in db.scan_prefix([layout::PARTY]) {
        let (k, v) = item.map_err(db_err("reading party entries to archive"))?;
        let in_spans = layout::split_party_key(&k)
            .is_some_and(|(_, start, _)| spans.iter().any(|s| s.holds(day_of(start))));
        if in_spans && moved.contains(&fingerprint(&k, &v)) {
            let swapped = db
                .compare_and_swap(&k, Some(&v), None as Option<&[u8]>)
                .map_err(db_err("removing archived party entries"))?;
            removed += u64::from(swapped.is_ok());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use cablekey_protocol::escrow::{CallMeta, Party};

    use super::*;

    fn party_key(call_id: &str, number: &str, day: u64) -> Vec<u8> {
        let party = |n: &str| Party {
            number: n.into(),
            endpoint: "aaln/1@cta".into(),
        };
        let meta = CallMeta {
            call_id: call_id.into(),
            caller: party(number),
            callee: party(number),
            start_unix_ms: day * super::super::span::DAY_MS + 5,
            suite: "AEAD_AES_128_GCM".into(),
        };
        layout::party_keys(&meta).remove(0)
    }

    #[test]
    fn an_entry_rewritten_during_a_fold_stays_in_sled() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (a, b) = (party_key("a", "555", 64), party_key("b", "555", 64));
        let later = party_key("c", "555", 70);
        for k in [&a, &b, &later] {
            db.insert(k, &b"first"[..]).unwrap();
        }
        let span = [Span { first: 64, days: 4 }];
        let tmp = |_: &Span| PathBuf::from("t.tmp");
        let (written, moved) =
            write(&db, dir.path(), &[], &span, tmp, &AtomicBool::new(false)).unwrap();
        assert_eq!(
            (written.len(), moved.len()),
            (1, 2),
            "day 70 is not in the span"
        );
        // The indexer rewrites b (its end time) before the removal.
        db.insert(&b, &b"second"[..]).unwrap();
        assert_eq!(remove_moved(&db, &span, &moved).unwrap(), 1);
        assert_eq!(db.get(&a).unwrap(), None);
        assert_eq!(db.get(&b).unwrap().as_deref(), Some(&b"second"[..]));
        assert!(db.get(&later).unwrap().is_some());

        // A fold told to stop writes nothing it would keep.
        let stopped = write(&db, dir.path(), &[], &span, tmp, &AtomicBool::new(true));
        assert!(matches!(stopped, Err(StoreError::Closed)));
    }
}
