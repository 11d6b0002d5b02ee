//! Record bundles: escrow and epoch records handed over as a file (JSON
//! lines, `{"epoch":"<base64>"}` or `{"record":"<base64>"}`), imported
//! with `cablekey calea records import`. The LI client will call
//! [`RecordStore::put`] directly instead.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_protocol::escrow::{EpochRecord, EscrowRecord};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, FsError};
use crate::records::{RecordStore, Stored};

/// Longest line read (records are a few hundred bytes).
const MAX_LINE: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Line {
    Epoch(String),
    Record(String),
}

pub fn epoch_line(epoch: &EpochRecord) -> String {
    let line = serde_json::to_string(&Line::Epoch(STANDARD.encode(epoch.encode())));
    line.unwrap_or_default()
}

pub fn record_line(record: &EscrowRecord) -> String {
    let line = serde_json::to_string(&Line::Record(STANDARD.encode(record.encode())));
    line.unwrap_or_default()
}

/// What an import did; a bad line is reported and the rest still imported.
#[derive(Debug, Default)]
pub struct Imported {
    pub new: usize,
    pub unchanged: usize,
    pub end_times_added: usize,
    /// `(line number, why)`.
    pub problems: Vec<(usize, String)>,
}

pub fn import(store: &RecordStore, path: &Path) -> Result<Imported, FsError> {
    let mut reader = BufReader::new(File::open(path).map_err(fsutil::err(path))?);
    let mut out = Imported::default();
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .map_err(fsutil::err(path))?;
        if n == 0 {
            break;
        }
        if buf.len() as u64 > MAX_LINE {
            out.problems
                .push((number, "line too long; rest of the file skipped".into()));
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        match import_line(store, text.trim()) {
            Ok(Stored::New) => out.new += 1,
            Ok(Stored::Unchanged) => out.unchanged += 1,
            Ok(Stored::EndTimeAdded) => out.end_times_added += 1,
            Err(why) => out.problems.push((number, why)),
        }
    }
    Ok(out)
}

fn import_line(store: &RecordStore, text: &str) -> Result<Stored, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| format!("not a bundle line: {e}"))?;
    let b64 = |s: &str| STANDARD.decode(s).map_err(|_| "not base64".to_string());
    match line {
        Line::Epoch(s) => {
            let epoch = EpochRecord::decode(&b64(&s)?).map_err(|e| format!("epoch record: {e}"))?;
            store.put_epoch(&epoch).map_err(|e| e.to_string())
        }
        Line::Record(s) => {
            let record =
                EscrowRecord::decode(&b64(&s)?).map_err(|e| format!("escrow record: {e}"))?;
            store.put(&record).map_err(|e| e.to_string())
        }
    }
}
