//! `cablekey calea`: the CALEA server's tools — warrants, received escrow
//! records, and decryption of a capture into a delivery per case.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cablekey_calea_server::warrant::{Mode, Warrant, WarrantBook};
use cablekey_calea_server::{bundle, clock, collect, keys, offline, records::RecordStore};
use cablekey_protocol::li::Mode as LiMode;
use clap::{Args, Subcommand, ValueEnum};

use super::calea_li as li;

#[derive(Args)]
#[command(after_help = "\
The data directory holds warrants.json and the escrow records received
(records/, epochs/). The LE private key (from `cablekey keygen`) must be
readable by its owner only (chmod 600). See docs/calea.md.")]
pub struct CaleaArgs {
    /// The CALEA server's data directory.
    #[arg(long, global = true, default_value = cablekey_calea_server::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: CaleaCommand,
}

#[derive(Subcommand)]
enum CaleaCommand {
    /// Warrants: add, list, revoke.
    #[command(subcommand)]
    Warrant(WarrantCommand),
    /// Escrow records received from the controller.
    #[command(subcommand)]
    Records(RecordsCommand),
    /// Decrypt a pcap or pcapng capture for a case and deliver it under
    /// cases/<case id>/: a stereo WAV per call, the decrypted pcap, call
    /// records (JSON lines), a report and a manifest of SHA-256 hashes.
    Decrypt {
        #[arg(long)]
        capture: PathBuf,
        #[arg(long)]
        case: String,
        /// LE private key file.
        #[arg(long, default_value = "le-private.key")]
        key: PathBuf,
        /// Delivery directory (default cases/<case id>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Get a case's escrow records from the controller's LI API
    /// (historical: calls in a window; current: the call in progress)
    /// into the record store.
    Fetch {
        #[arg(long)]
        case: String,
        #[arg(long, value_enum)]
        mode: FetchMode,
        /// Historical: window start, RFC 3339 (default the warrant's start).
        #[arg(long)]
        from: Option<String>,
        /// Historical: window end, RFC 3339 (default now, or the warrant's end).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        li: li::LiArgs,
    },
    /// Follow a case (future mode): store each record of the target's calls
    /// as the controller escrows it, until the task ends.
    Follow {
        #[arg(long)]
        case: String,
        #[command(flatten)]
        li: li::LiArgs,
    },
    /// List the intercept tasks provisioned on the controller.
    Tasks {
        #[command(flatten)]
        li: li::LiArgs,
    },
    /// Receive media copies live (PacketCable call-content framing, tagged
    /// with the warrant's --cci), decrypt them with the case's escrowed
    /// keys and, when stopped (SIGINT, SIGTERM or --duration), deliver
    /// under cases/<case id>/ as `decrypt` does.
    Collect {
        /// UDP address to receive copies on (the warrant's collector).
        #[arg(long)]
        listen: SocketAddr,
        /// One case; without it, every active warrant with a --cci.
        #[arg(long)]
        case: Option<String>,
        /// LE private key file.
        #[arg(long, default_value = "le-private.key")]
        key: PathBuf,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Deliveries go to <out-root>/<case id>/.
        #[arg(long, default_value = cablekey_calea_server::DEFAULT_CASES_DIR)]
        out_root: PathBuf,
        /// Write the live view (<case dir>/live/: WAVs and calls.jsonl so
        /// far) this often, in seconds, while copies arrive; 0: never.
        #[arg(long, default_value_t = 2.0)]
        live_every: f64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FetchMode {
    Historical,
    Current,
}

#[derive(Subcommand)]
enum WarrantCommand {
    /// Add a warrant.
    Add {
        #[arg(long)]
        case: String,
        /// Target subscriber number (digits, optional leading '+').
        #[arg(long)]
        target: String,
        /// Start of validity, RFC 3339 (e.g. 2026-01-31T00:00:00Z).
        #[arg(long)]
        start: String,
        /// End of validity, RFC 3339.
        #[arg(long)]
        end: String,
        /// Modes allowed, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', required = true)]
        modes: Vec<ModeArg>,
        /// Where the controller sends copies of the target's media (host:port).
        #[arg(long)]
        collector: SocketAddr,
        /// Call-content identifier (es-cci) the copies carry, 1 to 8 hex
        /// digits; needed for `collect`. Unique across warrants.
        #[arg(long, value_parser = parse_cci)]
        cci: Option<u32>,
    },
    /// List warrants.
    List,
    /// Revoke a warrant: nothing more is delivered under it.
    Revoke {
        #[arg(long)]
        case: String,
    },
    /// Provision the warrant as an intercept task on the controller.
    Push {
        #[arg(long)]
        case: String,
        #[command(flatten)]
        li: li::LiArgs,
    },
    /// Revoke the warrant's intercept task on the controller.
    Withdraw {
        #[arg(long)]
        case: String,
        #[command(flatten)]
        li: li::LiArgs,
    },
}

#[derive(Subcommand)]
enum RecordsCommand {
    /// Import a record bundle (JSON lines of base64 epoch and escrow records).
    Import { files: Vec<PathBuf> },
    /// Open every stored record with the LE key and report those that fail.
    Check {
        #[arg(long, default_value = "le-private.key")]
        key: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Future,
    Current,
    Historical,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Future => Mode::Future,
            ModeArg::Current => Mode::Current,
            ModeArg::Historical => Mode::Historical,
        }
    }
}

pub fn run(args: CaleaArgs) -> ExitCode {
    let result = match args.command {
        CaleaCommand::Warrant(cmd) => warrant(&args.data_dir, cmd),
        CaleaCommand::Records(cmd) => records(&args.data_dir, cmd),
        CaleaCommand::Decrypt {
            capture,
            case,
            key,
            out,
        } => decrypt(&args.data_dir, &capture, &case, &key, out),
        CaleaCommand::Fetch {
            case,
            mode,
            from,
            to,
            li,
        } => {
            let mode = match mode {
                FetchMode::Historical => LiMode::Historical,
                FetchMode::Current => LiMode::Current,
            };
            li::fetch(&args.data_dir, &case, mode, from, to, &li)
        }
        CaleaCommand::Follow { case, li } => {
            li::fetch(&args.data_dir, &case, LiMode::Future, None, None, &li)
        }
        CaleaCommand::Tasks { li } => li::tasks(&li),
        CaleaCommand::Collect {
            listen,
            case,
            key,
            duration,
            out_root,
            live_every,
        } => collect(
            &args.data_dir,
            listen,
            case.as_deref(),
            &key,
            (duration, live_every),
            out_root,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cablekey calea: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn warrant(data_dir: &Path, cmd: WarrantCommand) -> anyhow::Result<ExitCode> {
    let mut book = WarrantBook::load(data_dir)?;
    match cmd {
        WarrantCommand::Add {
            case,
            target,
            start,
            end,
            modes,
            collector,
            cci,
        } => {
            let w = Warrant {
                case_id: case.clone(),
                target,
                start_unix_ms: clock::parse_rfc3339(&start).context("--start")?,
                end_unix_ms: clock::parse_rfc3339(&end).context("--end")?,
                modes: modes.into_iter().map(Mode::from).collect(),
                collector,
                cci,
                revoked_unix_ms: None,
            };
            book.add(w)?;
            println!("added warrant for case {case}");
        }
        WarrantCommand::List => {
            for w in book.list() {
                let modes: Vec<&str> = w.modes.iter().map(|m| m.name()).collect();
                let state = match w.revoked_unix_ms {
                    Some(t) => format!("revoked {}", clock::rfc3339(t)),
                    None => "active".to_string(),
                };
                let cci = w.cci.map_or("-".to_string(), |c| format!("{c:08X}"));
                println!(
                    "{}\ttarget {}\t{} .. {}\t{}\tcollector {}\tcci {cci}\t{state}",
                    w.case_id,
                    w.target,
                    clock::rfc3339(w.start_unix_ms),
                    clock::rfc3339(w.end_unix_ms),
                    modes.join(","),
                    w.collector
                );
            }
        }
        WarrantCommand::Revoke { case } => {
            book.revoke(&case, clock::now())?;
            println!("revoked warrant for case {case}");
        }
        WarrantCommand::Push { case, li } => li::push(data_dir, book.active(&case)?, &li)?,
        WarrantCommand::Withdraw { case, li } => li::withdraw(&case, &li)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn records(data_dir: &Path, cmd: RecordsCommand) -> anyhow::Result<ExitCode> {
    let store = RecordStore::open(data_dir)?;
    let mut clean = true;
    match cmd {
        RecordsCommand::Import { files } => {
            for file in files {
                let r = bundle::import(&store, &file)?;
                println!(
                    "{}: {} new, {} already here, {} end times added, {} problems",
                    file.display(),
                    r.new,
                    r.unchanged,
                    r.end_times_added,
                    r.problems.len()
                );
                for (line, why) in &r.problems {
                    eprintln!("{}:{line}: {why}", file.display());
                    clean = false;
                }
            }
        }
        RecordsCommand::Check { key } => {
            let sk = cablekey_keyfile::load_private_key(&key)?;
            let (all, bad) = store.all()?;
            let n = all.len();
            let (calls, failures) = keys::open_calls(&sk, &store, all);
            println!("{} of {n} records open", calls.len());
            for f in &failures {
                eprintln!("call {}: {}", f.call_id, f.error);
            }
            for b in &bad {
                eprintln!("{}: {}", b.path.display(), b.why);
            }
            clean = failures.is_empty() && bad.is_empty();
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_cci(s: &str) -> Result<u32, String> {
    let ok = (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| u32::from_str_radix(s, 16).ok())
        .flatten()
        .ok_or_else(|| "1 to 8 hex digits".to_string())
}

fn collect(
    data_dir: &Path,
    listen: SocketAddr,
    case: Option<&str>,
    key: &Path,
    (duration, live_every): (Option<f64>, f64),
    out_root: PathBuf,
) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let sk = cablekey_keyfile::load_private_key(key)?;
    let sock = std::net::UdpSocket::bind(listen).with_context(|| format!("--listen {listen}"))?;
    let listen = sock.local_addr()?;
    let mut collector = collect::Collector::open(&collect::Request {
        data_dir,
        case_id: case,
        le_key: &sk,
        out_root,
        listen,
    })?;
    collector.live_every = (live_every.is_finite() && live_every > 0.0)
        .then(|| std::time::Duration::from_secs_f64(live_every.min(86_400.0)));
    println!(
        "collecting copies on {listen} for {}",
        collector.cases().join(", ")
    );
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let flag = stop.clone();
    rt.spawn(async move {
        super::controller::wait_for_stop().await;
        flag.store(true, Ordering::SeqCst);
    });
    let until = duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| std::time::Instant::now() + std::time::Duration::from_secs_f64(d));
    let summaries = collect::run(&sock, collector, &stop, until)?;
    for s in &summaries {
        let c = &s.report.counts;
        println!(
            "case {}: {} calls with audio, {} RTP and {} RTCP packets decrypted from {} copies, delivered to {}",
            s.report.case_id,
            s.calls_with_audio,
            c.rtp_decrypted,
            c.rtcp_decrypted,
            c.frames,
            s.out.display()
        );
        for f in &s.files {
            println!("  {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn decrypt(
    data_dir: &Path,
    capture: &Path,
    case: &str,
    key: &Path,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    // Checked before anything else: a key file others can read stops here.
    let sk = cablekey_keyfile::load_private_key(key)?;
    let out = out.unwrap_or_else(|| Path::new(cablekey_calea_server::DEFAULT_CASES_DIR).join(case));
    let summary = offline::decrypt_capture(&offline::Request {
        data_dir,
        case_id: case,
        capture,
        le_key: &sk,
        out,
    })?;
    let c = &summary.report.counts;
    println!(
        "case {case}: {} calls with audio, {} RTP and {} RTCP packets decrypted, delivered to {}",
        summary.calls_with_audio,
        c.rtp_decrypted,
        c.rtcp_decrypted,
        summary.out.display()
    );
    for f in &summary.files {
        println!("  {f}");
    }
    println!(
        "  {} frames, {} UDP, {} not RTP, {} without a key, {} duplicates, {} rejected, {} outside the warrant",
        c.frames, c.udp, c.not_rtp, c.no_key, c.duplicates, c.rejected, c.outside_warrant
    );
    let t = summary.timings;
    println!(
        "  took {:.3} s to read and decrypt the capture and write the pcap, {:.3} s for audio, {:.3} s to sync and hash",
        t.decrypt.as_secs_f64(),
        t.audio.as_secs_f64(),
        t.seal.as_secs_f64()
    );
    for s in &summary.report.streams_without_key {
        println!(
            "  stream {} ({} packets): no key of this case opens it",
            s.ssrc, s.packets
        );
    }
    for p in &summary.report.record_problems {
        let who = p.call_id.as_deref().or(p.file.as_deref()).unwrap_or("?");
        eprintln!("  record {who}: {}", p.why);
    }
    if let Some(why) = &summary.report.capture_stopped_early {
        eprintln!("  the capture could not be read to its end: {why}");
    }
    Ok(ExitCode::SUCCESS)
}
