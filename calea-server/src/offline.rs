//! `cablekey calea decrypt`: a capture and a case in, a delivery out.
//!
//! The case's warrant must be active; only the target's calls that started
//! inside the warrant window are candidates, and only packets captured
//! inside the window are delivered. Anything no candidate key opens (other
//! people's calls) is counted and never written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cablekey_protocol::escrow::LePrivateKey;
use serde::Serialize;

use crate::capture::{self, CaptureError};
use crate::clock::{self, UnixMs};
use crate::decrypt::{Decryptor, Outcome, Unmatched};
use crate::deliver::{self, CallJson, DeliverError, Hashed, Hashes, PcapOut};
use crate::fsutil::FsError;
use crate::keys::{dir_index, open_calls, CallKeys, KeyFailure};
use crate::net;
use crate::records::{BadFile, RecordStore};
use crate::track::CallAudio;
use crate::warrant::{WarrantBook, WarrantError};

#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error(transparent)]
    Warrant(#[from] WarrantError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// What to decrypt and where to deliver it.
pub struct Request<'a> {
    pub data_dir: &'a Path,
    pub case_id: &'a str,
    pub capture: &'a Path,
    pub le_key: &'a LePrivateKey,
    /// The case directory (default `cases/<case id>`).
    pub out: PathBuf,
}

/// Counts over the capture, for the operator and `report.json`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub frames: u64,
    pub udp: u64,
    pub not_udp: u64,
    pub unknown_link: u64,
    pub not_rtp: u64,
    pub rtp_decrypted: u64,
    pub rtcp_decrypted: u64,
    pub no_key: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub outside_warrant: u64,
}

#[derive(Debug, Serialize)]
pub struct RecordProblem {
    pub call_id: Option<String>,
    pub file: Option<String>,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct StreamJson {
    pub ssrc: String,
    pub packets: u64,
}

/// `report.json`: what was decrypted and what was not.
#[derive(Debug, Serialize)]
pub struct Report {
    pub case_id: String,
    pub capture: String,
    pub counts: Counts,
    /// Target records that gave no key (tampered, epoch missing, ...).
    pub record_problems: Vec<RecordProblem>,
    /// Streams no key of the case opens: other calls, or calls whose
    /// records did not open. Only their SSRC and size are reported.
    pub streams_without_key: Vec<StreamJson>,
    pub capture_stopped_early: Option<String>,
}

/// Where the time went: reading, matching and decrypting the capture and
/// writing the decrypted pcap; rendering the WAV files; syncing, hashing
/// and writing the records, report and manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub decrypt: Duration,
    pub audio: Duration,
    pub seal: Duration,
}

/// What a decryption delivered.
#[derive(Debug)]
pub struct Summary {
    pub out: PathBuf,
    pub timings: Timings,
    pub files: Vec<String>,
    pub calls_with_audio: usize,
    pub report: Report,
}

pub fn decrypt_capture(req: &Request<'_>) -> Result<Summary, DecryptError> {
    let started = std::time::Instant::now();
    // The source's hash for the manifest, read alongside the decryption
    // (from the page cache, on the other core if there is one).
    let source_hash = spawn_hash(req.capture);
    let book = WarrantBook::load(req.data_dir)?;
    let warrant = book.active(req.case_id)?.clone();
    let store = RecordStore::open(req.data_dir)?;
    let (records, bad_files) =
        store.for_target(&warrant.target, warrant.start_unix_ms, warrant.end_unix_ms)?;
    let (calls, failures) = open_calls(req.le_key, &store, records);
    let problems = record_problems(failures, bad_files);

    deliver::prepare(&req.out)?;
    let mut pcap = PcapOut::create(&req.out.join(deliver::PCAP))?;
    let mut audio: Vec<CallAudio> = calls.iter().map(|_| CallAudio::default()).collect();
    let mut dec = Decryptor::new(calls);
    let mut counts = Counts::default();
    let mut write_error: Option<DeliverError> = None;
    let (mut payload, mut ip_out) = (Vec::with_capacity(2048), Vec::with_capacity(2048));

    let end = capture::read(req.capture, |frame| {
        counts.frames += 1;
        let Some(link) = frame.link else {
            counts.unknown_link += 1;
            return;
        };
        let Ok(udp) = net::ip_packet(link, frame.data).and_then(net::udp) else {
            counts.not_udp += 1;
            return;
        };
        counts.udp += 1;
        let time_ms = UnixMs::try_from(frame.time.as_millis()).unwrap_or(UnixMs::MAX);
        payload.clear();
        payload.extend_from_slice(udp.payload);
        let outcome = dec.packet(time_ms, udp.src, udp.dst, &mut payload);
        let (call, dir, len, is_rtp) = match outcome {
            Outcome::Rtp { call, dir, len } => (call, dir, len, true),
            Outcome::Rtcp { call, dir, len } => (call, dir, len, false),
            Outcome::NotRtp => return counts.not_rtp += 1,
            Outcome::NoKey => return counts.no_key += 1,
            Outcome::Duplicate => return counts.duplicates += 1,
            Outcome::Rejected(_) => return counts.rejected += 1,
        };
        if !warrant.covers(time_ms) {
            counts.outside_warrant += 1;
            return;
        }
        let plain = &payload[..len];
        if is_rtp {
            counts.rtp_decrypted += 1;
            if let Some(a) = audio.get_mut(call) {
                a.push(dir_index(dir), frame.time.as_nanos(), plain);
            }
        } else {
            counts.rtcp_decrypted += 1;
        }
        net::rebuild(&udp, plain, &mut ip_out);
        if write_error.is_none() {
            if let Err(e) = pcap.write(frame.time, &ip_out) {
                write_error = Some(e);
            }
        }
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let (pcap_file, pcap_hash) = pcap.finish()?;
    // On its way to the disk while the audio is rendered.
    let pcap_synced = std::thread::Builder::new()
        .name("pcap-sync".into())
        .spawn(move || pcap_file.sync_all())
        .ok();
    let decrypted = started.elapsed();

    let mut files = vec![deliver::PCAP.to_string()];
    let mut hashes = Hashes::from([(deliver::PCAP.to_string(), pcap_hash)]);
    let calls_with_audio =
        render_calls(&req.out, dec.calls(), &mut audio, &mut files, &mut hashes)?;
    if let Some(Ok(Err(e))) = pcap_synced.map(|t| t.join()) {
        return Err(DeliverError::from(crate::fsutil::err(&req.out.join(deliver::PCAP))(e)).into());
    }
    let rendered = started.elapsed();
    let report = Report {
        case_id: req.case_id.to_string(),
        capture: req.capture.display().to_string(),
        counts,
        record_problems: problems,
        streams_without_key: dec.unmatched().into_iter().map(stream_json).collect(),
        capture_stopped_early: end.stopped_early,
    };
    let source_hash = source_hash.and_then(|t| t.join().ok()).and_then(Result::ok);
    seal(
        &req.out,
        &report,
        req.capture,
        source_hash,
        &mut files,
        &hashes,
    )?;
    let timings = Timings {
        decrypt: decrypted,
        audio: rendered - decrypted,
        seal: started.elapsed() - rendered,
    };
    Ok(Summary {
        out: req.out.clone(),
        timings,
        files,
        calls_with_audio,
        report,
    })
}

/// Hashes `path` on a thread of its own; `None` if no thread could be
/// started (the manifest then reads the file itself).
fn spawn_hash(
    path: &Path,
) -> Option<std::thread::JoinHandle<Result<Hashed, crate::fsutil::FsError>>> {
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("source-hash".into())
        .spawn(move || deliver::hash_file(&path))
        .ok()
}

/// Records that gave no key, and files that were not records, for the report.
pub(crate) fn record_problems(failures: Vec<KeyFailure>, bad: Vec<BadFile>) -> Vec<RecordProblem> {
    let failed = failures.into_iter().map(|f| RecordProblem {
        call_id: Some(f.call_id),
        file: None,
        why: f.error.to_string(),
    });
    let bad = bad.into_iter().map(|b| RecordProblem {
        call_id: None,
        file: Some(b.path.display().to_string()),
        why: b.why,
    });
    failed.chain(bad).collect()
}

/// Writes each call's stereo WAV (if it has media) and `calls.jsonl`,
/// adding their names to `files`; returns how many calls had audio.
pub(crate) fn render_calls(
    out: &Path,
    calls: &[CallKeys],
    audio: &mut [CallAudio],
    files: &mut Vec<String>,
    hashes: &mut Hashes,
) -> Result<usize, DecryptError> {
    let mut call_lines = Vec::new();
    let mut calls_with_audio = 0;
    for (keys, a) in calls.iter().zip(audio.iter_mut()) {
        let wav = if a.is_empty() {
            None
        } else {
            let name = deliver::wav_name(&keys.record.meta.call_id);
            let path = out.join(&name);
            let (_file, hash) = a
                .write(&path)
                .map_err(|why| DeliverError::Write { path, why })?;
            hashes.insert(name.clone(), hash);
            files.push(name.clone());
            calls_with_audio += 1;
            Some(name)
        };
        call_lines.push(CallJson::new(&keys.record, a.packets, wav));
    }
    deliver::write_json_lines(&out.join(deliver::CALLS), &call_lines)?;
    files.push(deliver::CALLS.to_string());
    Ok(calls_with_audio)
}

/// Writes `report.json`, then the manifest over `files` and `source`
/// (last, once everything is synced), adding both names to `files`.
/// `hashes` and `source_hash`: hashes already taken (the rest are read).
pub(crate) fn seal(
    out: &Path,
    report: &Report,
    source: &Path,
    source_hash: Option<Hashed>,
    files: &mut Vec<String>,
    hashes: &Hashes,
) -> Result<(), DecryptError> {
    deliver::write_json(&out.join(deliver::REPORT), report)?;
    files.push(deliver::REPORT.to_string());
    deliver::write_manifest(out, &report.case_id, source, source_hash, files, hashes)?;
    files.push(deliver::MANIFEST.to_string());
    Ok(())
}

pub(crate) fn stream_json(u: Unmatched) -> StreamJson {
    StreamJson {
        ssrc: format!("0x{:08x}", u.ssrc),
        packets: u.packets,
    }
}

/// A capture time as RFC 3339 (for messages).
pub fn show_time(t: Duration) -> String {
    clock::rfc3339(UnixMs::try_from(t.as_millis()).unwrap_or(UnixMs::MAX))
}
