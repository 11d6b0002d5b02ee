//! An archive file: the party entries of the calls that started in one
//! span of days, grouped by number, written once and never changed.
//!
//! ```text
//! header  "CKARCH01" | first day (u32) | days (u32)
//! blocks  per number, in party key order: entries, then crc32 of them (u32)
//!   entry len (u32, of what follows) | start (u64) | end + 1 (u64, 0: none)
//!         | call id len (u8) | call id | record, then its epoch record
//! index   count (u32) | per block: number len (u8) | number | offset (u64) | len (u32)
//! footer  index offset (u64) | index len (u32) | index crc32 (u32) | "CKARCH01"
//! ```
//!
//! All integers big-endian. A number's calls are one contiguous block, so
//! a target's query reads each file it touches once.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::span::Span;

const MAGIC: &[u8; 8] = b"CKARCH01";
const HEADER: u64 = 16;
const FOOTER: u64 = 24;
/// Larger lengths in a file are damage, not data (a block holds one
/// number's calls of at most 32 days).
const MAX_BLOCK: u32 = 1 << 30;

/// Why an archive file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("I/O error: {0}")]
    Io(io::ErrorKind),
    #[error("not an archive file, or cut short")]
    Format,
    #[error("{0} fails its checksum")]
    Checksum(&'static str),
    #[error("holds days {found:?}, its name says {named:?}")]
    Span {
        found: (u32, u32),
        named: (u32, u32),
    },
    #[error("manifest: {0}")]
    Manifest(String),
}

impl From<io::Error> for ArchiveError {
    fn from(e: io::Error) -> Self {
        ArchiveError::Io(e.kind())
    }
}

/// One call's party entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) start_ms: u64,
    pub(crate) ended_ms: Option<u64>,
    pub(crate) call_id: Vec<u8>,
    /// The record, then its epoch record (as in sled, `layout::party_value`).
    pub(crate) value: Vec<u8>,
}

impl Entry {
    /// Order within a block.
    fn key(&self) -> (u64, &[u8]) {
        (self.start_ms, &self.call_id)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let len = 8 + 8 + 1 + self.call_id.len() + self.value.len();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&self.start_ms.to_be_bytes());
        let end = self.ended_ms.map_or(0, |t| t.saturating_add(1));
        out.extend_from_slice(&end.to_be_bytes());
        out.push(self.call_id.len() as u8);
        out.extend_from_slice(&self.call_id);
        out.extend_from_slice(&self.value);
    }
}

/// Sorts a number's entries and keeps one per call: the most complete, as
/// a record only ever changes by gaining its end time.
pub(crate) fn settle(entries: &mut Vec<Entry>) {
    entries.sort_by(|a, b| a.key().cmp(&b.key()).then(b.ended_ms.cmp(&a.ended_ms)));
    entries.dedup_by(|later, kept| later.key() == kept.key());
}

/// Party key order of numbers: by length, then bytes (`layout::party_prefix`).
pub(crate) fn number_order(a: &[u8], b: &[u8]) -> Ordering {
    (a.len(), a).cmp(&(b.len(), b))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Splits a block (without its checksum) into entries.
fn parse_block(mut b: &[u8]) -> Result<Vec<Entry>, ArchiveError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = b.get(..4).map(be_u32).ok_or(ArchiveError::Format)? as usize;
        let e = b.get(4..4 + len).ok_or(ArchiveError::Format)?;
        let id_len = *e.get(16).ok_or(ArchiveError::Format)? as usize;
        let (call_id, value) = e
            .get(17..)
            .filter(|r| r.len() >= id_len)
            .ok_or(ArchiveError::Format)?
            .split_at(id_len);
        let end = be_u64(&e[8..16]);
        out.push(Entry {
            start_ms: be_u64(&e[..8]),
            ended_ms: end.checked_sub(1),
            call_id: call_id.to_vec(),
            value: value.to_vec(),
        });
        b = &b[4 + len..];
    }
    Ok(out)
}

struct Block {
    number: Box<[u8]>,
    offset: u64,
    len: u32,
}

/// An open archive file with its index in memory.
pub(crate) struct RunFile {
    pub(crate) span: Span,
    pub(crate) path: PathBuf,
    file: File,
    blocks: Vec<Block>,
}

impl RunFile {
    pub(crate) fn open(path: &Path, span: Span) -> Result<RunFile, ArchiveError> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        if size < HEADER + FOOTER {
            return Err(ArchiveError::Format);
        }
        let mut head = [0u8; HEADER as usize];
        file.read_exact_at(&mut head, 0)?;
        let mut foot = [0u8; FOOTER as usize];
        file.read_exact_at(&mut foot, size - FOOTER)?;
        if &head[..8] != MAGIC || &foot[16..] != MAGIC {
            return Err(ArchiveError::Format);
        }
        let found = (be_u32(&head[8..]), be_u32(&head[12..]));
        if found != (span.first, span.days) {
            return Err(ArchiveError::Span {
                found,
                named: (span.first, span.days),
            });
        }
        let (at, len) = (be_u64(&foot), u64::from(be_u32(&foot[8..])));
        if at < HEADER || at.checked_add(len) != Some(size - FOOTER) {
            return Err(ArchiveError::Format);
        }
        let mut index = vec![0u8; len as usize];
        file.read_exact_at(&mut index, at)?;
        if crc32fast::hash(&index) != be_u32(&foot[12..]) {
            return Err(ArchiveError::Checksum("the index"));
        }
        let blocks = parse_index(&index, at)?;
        Ok(RunFile {
            span,
            path: path.to_path_buf(),
            file,
            blocks,
        })
    }

    /// The entries of `number`, oldest first (empty if it made no call).
    pub(crate) fn entries(&self, number: &[u8]) -> Result<Vec<Entry>, ArchiveError> {
        match self
            .blocks
            .binary_search_by(|b| number_order(&b.number, number))
        {
            Ok(i) => self.read_block(&self.blocks[i]),
            Err(_) => Ok(Vec::new()),
        }
    }

    fn read_block(&self, b: &Block) -> Result<Vec<Entry>, ArchiveError> {
        let mut bytes = vec![0u8; b.len as usize];
        self.file.read_exact_at(&mut bytes, b.offset)?;
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != be_u32(crc) {
            return Err(ArchiveError::Checksum("a block"));
        }
        parse_block(body)
    }

    /// The number of the `i`th block, in number order.
    pub(crate) fn number_at(&self, i: usize) -> Option<&[u8]> {
        self.blocks.get(i).map(|b| &b.number[..])
    }

    /// The entries of the `i`th block (the input of a merge).
    pub(crate) fn entries_at(&self, i: usize) -> Result<Vec<Entry>, ArchiveError> {
        self.blocks
            .get(i)
            .map_or(Ok(Vec::new()), |b| self.read_block(b))
    }
}

fn parse_index(mut b: &[u8], end: u64) -> Result<Vec<Block>, ArchiveError> {
    let count = b.get(..4).map(be_u32).ok_or(ArchiveError::Format)?;
    b = &b[4..];
    let mut blocks: Vec<Block> = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let n = *b.first().ok_or(ArchiveError::Format)? as usize;
        let rec = b.get(1..1 + n + 12).ok_or(ArchiveError::Format)?;
        let block = Block {
            number: rec[..n].into(),
            offset: be_u64(&rec[n..]),
            len: be_u32(&rec[n + 8..]),
        };
        let ordered = blocks
            .last()
            .is_none_or(|p| number_order(&p.number, &block.number).is_lt());
        let inside = block.offset >= HEADER
            && (4..=MAX_BLOCK).contains(&block.len)
            && block.offset + u64::from(block.len) <= end;
        if !ordered || !inside {
            return Err(ArchiveError::Format);
        }
        blocks.push(block);
        b = &b[1 + n + 12..];
    }
    if !b.is_empty() {
        return Err(ArchiveError::Format);
    }
    Ok(blocks)
}

/// Writes a new archive file under a temporary name, created with its
/// first block (most spans of a new store's first fold have none).
pub(crate) struct RunWriter {
    span: Span,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    at: u64,
    index: Vec<u8>,
    count: u32,
    buf: Vec<u8>,
}

impl RunWriter {
    pub(crate) fn new(tmp: PathBuf, span: Span) -> RunWriter {
        RunWriter {
            span,
            tmp,
            out: None,
            at: HEADER,
            index: vec![0; 4],
            count: 0,
            buf: Vec::new(),
        }
    }

    fn out(&mut self) -> Result<&mut BufWriter<File>, ArchiveError> {
        if self.out.is_none() {
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&self.tmp)?);
            out.write_all(MAGIC)?;
            out.write_all(&self.span.first.to_be_bytes())?;
            out.write_all(&self.span.days.to_be_bytes())?;
            self.out = Some(out);
        }
        Ok(self.out.as_mut().expect("just created"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Adds a number's block; numbers must come in party key order and
    /// entries settled (see [`settle`]).
    pub(crate) fn block(&mut self, number: &[u8], entries: &[Entry]) -> Result<(), ArchiveError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        for e in entries {
            e.encode(&mut self.buf);
        }
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_be_bytes());
        let len = u32::try_from(self.buf.len())
            .ok()
            .filter(|&l| l <= MAX_BLOCK)
            .ok_or(ArchiveError::Format)?;
        let buf = std::mem::take(&mut self.buf);
        self.out()?.write_all(&buf)?;
        self.buf = buf;
        self.index.push(number.len() as u8);
        self.index.extend_from_slice(number);
        self.index.extend_from_slice(&self.at.to_be_bytes());
        self.index.extend_from_slice(&len.to_be_bytes());
        self.at += u64::from(len);
        self.count += 1;
        Ok(())
    }

    /// Writes the index and syncs the file; `None` (and no file) if it
    /// got no blocks.
    pub(crate) fn finish(mut self) -> Result<Option<(PathBuf, Span, u64)>, ArchiveError> {
        let Some(mut out) = self.out.take() else {
            return Ok(None);
        };
        self.index[..4].copy_from_slice(&self.count.to_be_bytes());
        out.write_all(&self.index)?;
        out.write_all(&self.at.to_be_bytes())?;
        out.write_all(&(self.index.len() as u32).to_be_bytes())?;
        out.write_all(&crc32fast::hash(&self.index).to_be_bytes())?;
        out.write_all(MAGIC)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        let size = self.at + self.index.len() as u64 + FOOTER;
        Ok(Some((self.tmp, self.span, size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start_ms: u64, id: &str, ended_ms: Option<u64>) -> Entry {
        Entry {
            start_ms,
            ended_ms,
            call_id: id.as_bytes().to_vec(),
            value: format!("value of {id} {ended_ms:?}").into_bytes(),
        }
    }

    fn write(dir: &Path, blocks: &[(&[u8], Vec<Entry>)]) -> PathBuf {
        let span = Span { first: 64, days: 4 };
        let mut w = RunWriter::new(dir.join("f.tmp"), span);
        for (n, e) in blocks {
            w.block(n, e).unwrap();
        }
        let (path, got, size) = w.finish().unwrap().unwrap();
        assert_eq!((got, size), (span, std::fs::metadata(&path).unwrap().len()));
        path
    }

    #[test]
    fn blocks_read_back_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let a = vec![entry(1, "x", Some(0)), entry(5, "y", None)];
        let b = vec![entry(2, "z", Some(9))];
        let path = write(dir.path(), &[(b"555", a.clone()), (b"1555", b.clone())]);
        let f = RunFile::open(&path, Span { first: 64, days: 4 }).unwrap();
        assert_eq!(f.entries(b"555").unwrap(), a, "an end time of 0 is kept");
        assert_eq!(f.entries(b"1555").unwrap(), b);
        assert_eq!(f.entries(b"5550").unwrap(), []);
        assert_eq!(f.number_at(1), Some(&b"1555"[..]));
        assert!(matches!(
            RunFile::open(&path, Span { first: 64, days: 8 }),
            Err(ArchiveError::Span { .. })
        ));

        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER as usize + 6] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let f = RunFile::open(&path, Span { first: 64, days: 4 }).unwrap();
        assert_eq!(f.entries(b"555"), Err(ArchiveError::Checksum("a block")));
        assert_eq!(f.entries(b"1555").unwrap(), b, "other blocks still read");

        let len = bytes.len();
        bytes[len - FOOTER as usize - 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            RunFile::open(&path, Span { first: 64, days: 4 }),
            Err(ArchiveError::Checksum("the index"))
        ));
        for cut in [0, 10, len - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(RunFile::open(&path, Span { first: 64, days: 4 }).is_err());
        }
    }

    /// Every single-byte change and every truncation of a file is either
    /// caught (an error) or harmless (the same entries); nothing panics.
    #[test]
    fn any_damage_is_an_error_or_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let a = vec![entry(1, "x", Some(3)), entry(5, "y", None)];
        let b = vec![entry(2, "z", Some(9))];
        let path = write(dir.path(), &[(b"555", a.clone()), (b"1555", b.clone())]);
        let good = std::fs::read(&path).unwrap();
        let span = Span { first: 64, days: 4 };
        let check = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            if let Ok(f) = RunFile::open(&path, span) {
                for (n, want) in [(&b"555"[..], &a), (&b"1555"[..], &b)] {
                    if let Ok(got) = f.entries(n) {
                        assert_eq!(got, *want, "undetected damage");
                    }
                }
            }
        };
        for i in 0..good.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x81;
            check(&bytes);
            check(&good[..i]);
        }
    }

    #[test]
    fn settling_keeps_the_most_complete_entry_per_call() {
        let mut v = vec![
            entry(5, "b", None),
            entry(1, "a", None),
            entry(5, "b", Some(7)),
            entry(1, "a", None),
        ];
        settle(&mut v);
        assert_eq!(v, [entry(1, "a", None), entry(5, "b", Some(7))]);
    }

    #[test]
    fn an_empty_file_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let w = RunWriter::new(dir.path().join("e.tmp"), Span { first: 0, days: 1 });
        assert!(w.finish().unwrap().is_none());
        assert!(!dir.path().join("e.tmp").exists());
    }
}
