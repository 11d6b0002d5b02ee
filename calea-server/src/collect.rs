//! `cablekey calea collect`: the live collector. CTAs of intercepted
//! calls send it a copy of every SRTP packet they send, framed with the
//! call-content identifier of the case (`protocol::ccc`); it maps the
//! identifier to the case's warrant, decrypts each direction with the
//! case's escrowed keys as copies arrive, and delivers like the offline
//! path (`offline.rs`) when it stops.
//!
//! Records may reach the record store after the call's first copies (the
//! key is escrowed at call setup, and fetched or imported from there):
//! copies no key opens wait, a bounded number per case, and the store is
//! looked at again (at most every [`LOOK_EVERY`]); new records' calls are
//! added and the waiting copies tried again. Copies with an unknown
//! identifier, or outside their warrant's window, are counted and dropped:
//! never written anywhere.
//!
//! While collecting, a live view can be written every so often
//! ([`Collector::live_every`]): each case's WAVs so far and its call
//! records, under `<case dir>/live/`, replaced as a whole, so a case can
//! listen while the call runs. The delivery proper is written on stop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cablekey_protocol::ccc::ContentCopy;
use cablekey_protocol::escrow::LePrivateKey;

use crate::clock::{self, UnixMs};
use crate::decrypt::{Decryptor, Outcome};
use crate::deliver::{self, DeliverError, PcapOut};
use crate::fsutil::{self, FsError};
use crate::keys::{dir_index, open_calls};
use crate::net;
use crate::offline::{self, Counts, DecryptError, RecordProblem, Report};
use crate::records::RecordStore;
use crate::track::CallAudio;
use crate::warrant::{Warrant, WarrantBook, WarrantError};

/// How often the record store is looked at again while copies wait.
pub const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Copies held per case while no key opens them (about 40 s of a call's
/// two directions); older ones are dropped first and counted as no key.
pub const MAX_WAITING: usize = 4096;
/// The raw copies as received, per case: the delivery's source.
pub const COPIES: &str = "copies.pcap";
/// The live view's directory inside a case's delivery directory.
pub const LIVE: &str = "live";

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Warrant(#[from] WarrantError),
    #[error("case {0}: the warrant has no call-content identifier (warrant add --cci)")]
    NoCci(String),
    #[error("no active warrant with a call-content identifier")]
    NoCase,
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    #[error("collector socket: {0}")]
    Socket(std::io::Error),
}

/// What to collect and where to deliver it.
pub struct Request<'a> {
    pub data_dir: &'a Path,
    /// One case, or every active warrant that has a CCI.
    pub case_id: Option<&'a str>,
    pub le_key: &'a LePrivateKey,
    /// Deliveries go to `<out_root>/<case id>/`.
    pub out_root: PathBuf,
    /// The listening address, recorded as the copies' destination.
    pub listen: SocketAddr,
}

/// Copies of one stream that no key opened yet.
struct Waiting {
    from: SocketAddr,
    time_ns: u64,
    packet: Vec<u8>,
}

struct Case {
    warrant: Warrant,
    out: PathBuf,
    dec: Decryptor,
    audio: Vec<CallAudio>,
    /// Call ids already looked at (opened or failed).
    known: HashSet<String>,
    problems: Vec<RecordProblem>,
    pcap: PcapOut,
    copies: PcapOut,
    counts: Counts,
    waiting: VecDeque<Waiting>,
    looked: Option<Instant>,
    /// Packets decrypted when the live view was last written.
    live_at: u64,
}

/// One case's delivery.
#[derive(Debug)]
pub struct CaseSummary {
    pub out: PathBuf,
    pub files: Vec<String>,
    pub calls_with_audio: usize,
    pub report: Report,
}

pub struct Collector<'k> {
    le_key: &'k LePrivateKey,
    store: RecordStore,
    listen: SocketAddr,
    cases: Vec<Case>,
    by_cci: HashMap<u32, usize>,
    /// Copies with an identifier no case has.
    pub unknown: u64,
    /// Datagrams too short to be a copy.
    pub malformed: u64,
    /// Write the live view this often while copies arrive (`None`: never).
    pub live_every: Option<Duration>,
    /// Live views that could not be written (collection goes on).
    pub live_failures: u64,
}

impl<'k> Collector<'k> {
    /// Loads the warrants, opens the records already held and prepares
    /// each case's delivery directory (refused if it holds a delivery).
    pub fn open(req: &Request<'k>) -> Result<Collector<'k>, CollectError> {
        let book = WarrantBook::load(req.data_dir)?;
        let warrants: Vec<Warrant> = match req.case_id {
            Some(id) => {
                let w = book.active(id)?.clone();
                if w.cci.is_none() {
                    return Err(CollectError::NoCci(id.to_string()));
                }
                vec![w]
            }
            None => book
                .list()
                .iter()
                .filter(|w| !w.is_revoked() && w.cci.is_some())
                .cloned()
                .collect(),
        };
        if warrants.is_empty() {
            return Err(CollectError::NoCase);
        }
        let mut c = Collector {
            le_key: req.le_key,
            store: RecordStore::open(req.data_dir)?,
            listen: req.listen,
            cases: Vec::new(),
            by_cci: HashMap::new(),
            unknown: 0,
            malformed: 0,
            live_every: None,
            live_failures: 0,
        };
        for warrant in warrants {
            let out = req.out_root.join(&warrant.case_id);
            deliver::prepare(&out)?;
            let case = Case {
                pcap: PcapOut::create(&out.join(deliver::PCAP))?,
                copies: PcapOut::create(&out.join(COPIES))?,
                out,
                dec: Decryptor::new(Vec::new()),
                audio: Vec::new(),
                known: HashSet::new(),
                problems: Vec::new(),
                counts: Counts::default(),
                waiting: VecDeque::new(),
                looked: None,
                live_at: 0,
                warrant,
            };
            if let Some(cci) = case.warrant.cci {
                c.by_cci.insert(cci, c.cases.len());
            }
            c.cases.push(case);
        }
        for i in 0..c.cases.len() {
            c.look_for_records(i)?;
        }
        Ok(c)
    }

    /// The case ids collected for.
    pub fn cases(&self) -> Vec<&str> {
        self.cases
            .iter()
            .map(|c| c.warrant.case_id.as_str())
            .collect()
    }

    /// Takes one datagram received at `now` from `from`.
    pub fn datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), CollectError> {
        let Ok(copy) = ContentCopy::parse(datagram) else {
            self.malformed += 1;
            return Ok(());
        };
        let Some(&i) = self.by_cci.get(&copy.cci) else {
            self.unknown += 1;
            return Ok(());
        };
        // When the CTA made the copy; our own clock if it sent none.
        let time_ns = match copy.unix_nanos() {
            0 => clock::now().saturating_mul(1_000_000),
            t => t,
        };
        let listen = self.listen;
        let case = &mut self.cases[i];
        case.counts.frames += 1;
        case.counts.udp += 1;
        if !case.warrant.covers(time_ns / 1_000_000) {
            case.counts.outside_warrant += 1;
            return Ok(());
        }
        if let Some(ip) = net::build_udp(from, listen, datagram) {
            case.copies.write(Duration::from_nanos(time_ns), &ip)?;
        }
        let waiting = Waiting {
            from,
            time_ns,
            packet: copy.packet.to_vec(),
        };
        if case.decrypt(listen, waiting)? {
            let due = case
                .looked
                .is_none_or(|t| now.duration_since(t) >= LOOK_EVERY);
            if due {
                case.looked = Some(now);
                if self.look_for_records(i)? {
                    self.cases[i].retry(listen)?;
                }
            }
        }
        Ok(())
    }

    /// Opens the case's records not seen yet; whether any call was added.
    fn look_for_records(&mut self, i: usize) -> Result<bool, CollectError> {
        let case = &mut self.cases[i];
        let w = &case.warrant;
        // Files that are not records are `records check`'s to report.
        let (records, _not_records) =
            self.store
                .for_target(&w.target, w.start_unix_ms, w.end_unix_ms)?;
        let new: Vec<_> = records
            .into_iter()
            .filter(|r| case.known.insert(r.meta.call_id.clone()))
            .collect();
        if new.is_empty() {
            return Ok(false);
        }
        let (calls, failures) = open_calls(self.le_key, &self.store, new);
        case.problems
            .extend(offline::record_problems(failures, Vec::new()));
        let added = !calls.is_empty();
        case.audio
            .extend(calls.iter().map(|_| CallAudio::default()));
        case.dec.add_calls(calls);
        Ok(added)
    }

    /// Writes the live view of each case with copies decrypted since the
    /// last one: every call's WAV so far and `calls.jsonl`, rendered into
    /// `<case dir>/live.tmp/` and then renamed to `live/` (the previous
    /// view moved aside first), so a reader finds a whole set. Each view
    /// renders the calls from their start: meant for calls of minutes, at
    /// an interval of seconds.
    pub fn live(&mut self) -> Result<(), CollectError> {
        for case in &mut self.cases {
            if case.counts.rtp_decrypted == case.live_at {
                continue;
            }
            case.live_at = case.counts.rtp_decrypted;
            let (tmp, live, old) = (
                case.out.join("live.tmp"),
                case.out.join(LIVE),
                case.out.join("live.old"),
            );
            for d in [&tmp, &old] {
                remove_dir(d)?;
            }
            std::fs::create_dir(&tmp).map_err(fsutil::err(&tmp))?;
            // The live view has no manifest: names and hashes are dropped.
            let (mut files, mut hashes) = (Vec::new(), deliver::Hashes::new());
            offline::render_calls(
                &tmp,
                case.dec.calls(),
                &mut case.audio,
                &mut files,
                &mut hashes,
            )?;
            if live.exists() {
                std::fs::rename(&live, &old).map_err(fsutil::err(&live))?;
            }
            std::fs::rename(&tmp, &live).map_err(fsutil::err(&tmp))?;
            remove_dir(&old)?;
        }
        Ok(())
    }

    /// Ends collection: every case's delivery is written and sealed (the
    /// live view is removed: the delivery supersedes it).
    pub fn finish(self) -> Result<Vec<CaseSummary>, CollectError> {
        let capture = format!("live copies to {}", self.listen);
        let mut out = Vec::new();
        for mut case in self.cases {
            for d in [LIVE, "live.tmp", "live.old"] {
                remove_dir(&case.out.join(d))?;
            }
            case.counts.no_key += case.waiting.len() as u64;
            let (_, pcap_hash) = case.pcap.finish()?;
            let (_, copies_hash) = case.copies.finish()?;
            let mut files = vec![deliver::PCAP.to_string()];
            let mut hashes = deliver::Hashes::from([(deliver::PCAP.to_string(), pcap_hash)]);
            let calls_with_audio = offline::render_calls(
                &case.out,
                case.dec.calls(),
                &mut case.audio,
                &mut files,
                &mut hashes,
            )?;
            let report = Report {
                case_id: case.warrant.case_id.clone(),
                capture: capture.clone(),
                counts: case.counts,
                record_problems: case.problems,
                streams_without_key: case
                    .dec
                    .unmatched()
                    .into_iter()
                    .map(offline::stream_json)
                    .collect(),
                capture_stopped_early: None,
            };
            offline::seal(
                &case.out,
                &report,
                &case.out.join(COPIES),
                Some(copies_hash),
                &mut files,
                &hashes,
            )?;
            out.push(CaseSummary {
                out: case.out,
                files,
                calls_with_audio,
                report,
            });
        }
        Ok(out)
    }
}

/// Removes a directory and what it holds; one that is not there is fine.
fn remove_dir(d: &Path) -> Result<(), CollectError> {
    match std::fs::remove_dir_all(d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fsutil::err(d)(e).into()),
        _ => Ok(()),
    }
}

impl Case {
    /// Decrypts and delivers one copy; `true` if no key opened it (it waits).
    fn decrypt(&mut self, listen: SocketAddr, mut w: Waiting) -> Result<bool, CollectError> {
        let time_ms = UnixMs::try_from(w.time_ns / 1_000_000).unwrap_or(UnixMs::MAX);
        let (call, dir, len, is_rtp) = match self.dec.packet(time_ms, w.from, listen, &mut w.packet)
        {
            Outcome::Rtp { call, dir, len } => (call, dir, len, true),
            Outcome::Rtcp { call, dir, len } => (call, dir, len, false),
            Outcome::NotRtp => {
                self.counts.not_rtp += 1;
                return Ok(false);
            }
            Outcome::Duplicate => {
                self.counts.duplicates += 1;
                return Ok(false);
            }
            Outcome::Rejected(_) => {
                self.counts.rejected += 1;
                return Ok(false);
            }
            Outcome::NoKey => {
                if self.waiting.len() == MAX_WAITING {
                    self.waiting.pop_front();
                    self.counts.no_key += 1;
                }
                self.waiting.push_back(w);
                return Ok(true);
            }
        };
        let plain = &w.packet[..len];
        if is_rtp {
            self.counts.rtp_decrypted += 1;
            if let Some(a) = self.audio.get_mut(call) {
                a.push(dir_index(dir), u128::from(w.time_ns), plain);
            }
        } else {
            self.counts.rtcp_decrypted += 1;
        }
        if let Some(ip) = net::build_udp(w.from, listen, plain) {
            self.pcap.write(Duration::from_nanos(w.time_ns), &ip)?;
        }
        Ok(false)
    }

    /// Tries the waiting copies again, oldest first, after calls were added.
    fn retry(&mut self, listen: SocketAddr) -> Result<(), CollectError> {
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            self.decrypt(listen, w)?;
        }
        Ok(())
    }
}

/// Receives copies on `sock` until `stop` is set or `until` passes, then
/// delivers. The socket's read timeout is set here (the stop flag is
/// looked at between reads).
pub fn run(
    sock: &UdpSocket,
    mut collector: Collector<'_>,
    stop: &AtomicBool,
    until: Option<Instant>,
) -> Result<Vec<CaseSummary>, CollectError> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(CollectError::Socket)?;
    let mut buf = vec![0u8; 65_536];
    let mut live_at = Instant::now();
    while !stop.load(Ordering::SeqCst) && until.is_none_or(|t| Instant::now() < t) {
        if let Some(every) = collector.live_every {
            if live_at.elapsed() >= every {
                live_at = Instant::now();
                if let Err(e) = collector.live() {
                    // The view is a convenience: collection goes on.
                    collector.live_failures += 1;
                    tracing::warn!("live view not written: {e}");
                }
            }
        }
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => collector.datagram(Instant::now(), from, &buf[..n])?,
            // Timed out (the stop flag is looked at), or a signal arrived.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            // A datagram's ICMP echo (connection refused) is not ours to stop on.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(CollectError::Socket(e)),
        }
    }
    collector.finish()
}
