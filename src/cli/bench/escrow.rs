//! `cablekey bench escrow-gen` and `cablekey bench lookup`: a large escrow
//! store and the LI service's historical query over it.
//!
//! `escrow-gen` seals records exactly as the controller does (an
//! `EpochSealer`, one epoch per 30 s of simulated time) for calls spread
//! over months between the numbers of a subscriber pool, and loads them
//! with `escrow::BulkLoad`: the sled layout the indexer writes, without the
//! write-ahead log, so the result is what a controller's store holds once
//! its log is indexed. As simulated days end it folds them into the
//! archive, as a running store does (`Options::fold_after`). `lookup` opens it as the controller does
//! (`SledStore::open`) and times `li::api::historical`, the store side of
//! a granted `GET /v1/tasks/{case}/historical`, for random targets and
//! windows.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use cablekey_gateway_controller::escrow::{BulkLoad, Options, SledStore};
use cablekey_gateway_controller::li::api::historical;
use cablekey_gateway_controller::li::task::Window;
use cablekey_protocol::escrow::{
    CallMeta, EpochPolicy, EpochSealer, EscrowRecord, LePrivateKey, Party,
};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant as SimInstant;
use clap::Args;
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;
use serde::{Deserialize, Serialize};

use super::cpu::load_average;

const DAY_MS: u64 = 86_400_000;
/// What `escrow-gen` leaves next to the store, for `lookup`.
const GEN_FILE: &str = "bench-gen.json";

#[derive(Args)]
#[command(after_help = "\
Writes a new store in --dir (refused if it exists) and --dir/bench-gen.json
(what was generated, for `bench lookup`). Deterministic for a --seed
except the call and epoch keys' sealing randomness.")]
pub struct GenArgs {
    /// The new store's directory.
    #[arg(long)]
    dir: PathBuf,
    /// Call records to generate.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Subscriber numbers: each call is between two of them, picked at random.
    #[arg(long, default_value_t = 50_000)]
    numbers: u32,
    /// Days the calls span (start times evenly spread, with jitter).
    #[arg(long, default_value_t = 90)]
    days: u64,
    /// First call's start, Unix ms (default 2026-01-01T00:00:00Z).
    #[arg(long, default_value_t = 1_767_225_600_000)]
    start_ms: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// sled page cache while loading, MiB.
    #[arg(long, default_value_t = 512)]
    cache_mib: u64,
}

#[derive(Args)]
pub struct LookupArgs {
    /// A store made by `bench escrow-gen`.
    #[arg(long)]
    dir: PathBuf,
    /// Queries to time (random target and window each).
    #[arg(long, default_value_t = 2_000)]
    queries: u32,
    /// Window length in days.
    #[arg(long, default_value_t = 30)]
    window_days: u64,
    /// The first this many queries are reported apart: sled's cache is
    /// empty at open (run `dd if=DIR/db iflag=nocache count=0` first to
    /// drop the OS's cached pages of the store too).
    #[arg(long, default_value_t = 200)]
    cold: u32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Serialize, Deserialize)]
struct Generated {
    records: u64,
    epochs: u64,
    numbers: u32,
    start_ms: u64,
    end_ms: u64,
}

/// splitmix64: deterministic, fast, good enough to pick numbers and times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Subscriber `i`'s number (10 digits) and endpoint.
fn subscriber(i: u64) -> Party {
    Party {
        number: format!("21555{i:05}"),
        endpoint: format!("aaln/{}@cta{:06}.hfc.example.net", 1 + i % 2, i / 2),
    }
}

pub fn gen(args: GenArgs) -> ExitCode {
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cablekey bench escrow-gen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn generate(args: &GenArgs) -> anyhow::Result<()> {
    ensure!(
        !args.dir.exists(),
        "{} exists: give a new directory",
        args.dir.display()
    );
    ensure!(
        (2..=100_000).contains(&args.numbers),
        "--numbers must be 2 to 100000"
    );
    ensure!(
        args.records > 0 && args.days > 0,
        "--records and --days must be positive"
    );
    let le = LePrivateKey::generate(&mut UnwrapErr(SysRng));
    let mut sealer = EpochSealer::new(le.public().clone(), EpochPolicy::default());
    let mut load = BulkLoad::open(&args.dir, args.cache_mib << 20)?;
    let mut rng = Rng(args.seed);
    let span = args.days * DAY_MS;
    let gap = (span / args.records).max(1);
    let (t0, started, load0) = (args.start_ms, Instant::now(), load_average());
    let mut epochs = 0u64;
    let mut last_report = Instant::now();
    let (mut folded, mut fold_time, mut day) = (0u64, Duration::ZERO, t0 / DAY_MS);
    let mut fold = |load: &mut BulkLoad, cutoff_ms: u64| -> anyhow::Result<()> {
        let t = Instant::now();
        folded += load.fold_before(cutoff_ms)?.entries;
        fold_time += t.elapsed();
        Ok(())
    };
    for i in 0..args.records {
        let start = t0 + i * span / args.records + rng.below(gap);
        if start / DAY_MS > day {
            day = start / DAY_MS;
            fold(&mut load, start)?;
        }
        let a = rng.below(u64::from(args.numbers));
        let b = (a + 1 + rng.below(u64::from(args.numbers) - 1)) % u64::from(args.numbers);
        let meta = CallMeta {
            call_id: format!("{:016X}", 0x1000_0000_0000 + i),
            caller: subscriber(a),
            callee: subscriber(b),
            start_unix_ms: start,
            suite: "AEAD_AES_128_GCM".into(),
        };
        let mut k = [0u8; 32];
        for c in k.chunks_mut(8) {
            c.copy_from_slice(&rng.next().to_le_bytes());
        }
        let key = SecretBytes::new(&k).context("call key")?;
        let now = SimInstant::from_micros((start - t0).saturating_mul(1000));
        let sealed = sealer
            .seal(meta, &key, now, start, &mut UnwrapErr(SysRng))
            .context("sealing")?;
        if let Some(e) = sealed.new_epoch {
            load.epoch(&e)?;
            epochs += 1;
        }
        // Calls last 10 s to about 10 min; the end time is set when they end.
        let mut record: EscrowRecord = sealed.record;
        record.ended_unix_ms = Some(start + 10_000 + rng.below(600_000));
        load.record(&record)?;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "{} records, {} epochs, {:.0} s",
                i + 1,
                epochs,
                started.elapsed().as_secs_f64()
            );
        }
    }
    sealer.end_epoch();
    fold(&mut load, t0 + span + DAY_MS - 1)?;
    let loaded_in = started.elapsed();
    load.finish()?;
    let bytes = du(&args.dir);
    let total = started.elapsed();
    let info = Generated {
        records: args.records,
        epochs,
        numbers: args.numbers,
        start_ms: t0,
        end_ms: t0 + span,
    };
    std::fs::write(args.dir.join(GEN_FILE), serde_json::to_vec_pretty(&info)?)
        .context("writing bench-gen.json")?;
    println!(
        "generated {} records ({} epochs) for {} numbers over {} days in {:.1} s \
         (sealing and loading {:.1} s, of which {:.1} s moving {} party entries to the archive; \
         final flush {:.1} s): {:.0} records/s; store on disk {} MiB ({} MiB archive); \
         load average {:.2} -> {:.2}",
        args.records,
        epochs,
        args.numbers,
        args.days,
        total.as_secs_f64(),
        loaded_in.as_secs_f64(),
        fold_time.as_secs_f64(),
        folded,
        (total - loaded_in).as_secs_f64(),
        args.records as f64 / total.as_secs_f64(),
        bytes >> 20,
        du(&args.dir.join("archive")) >> 20,
        load0.unwrap_or(f64::NAN),
        load_average().unwrap_or(f64::NAN),
    );
    Ok(())
}

pub fn lookup(args: LookupArgs) -> ExitCode {
    match run_lookup(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cablekey bench lookup: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// This thread's CPU time so far, in ns (`/proc/thread-self/schedstat`).
/// It moves in scheduler ticks here (4 ms), so only sums over many
/// queries mean anything: the report gives the mean per query.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Bytes this thread has read with system calls (`rchar`) and from the
/// disk (`read_bytes`), from `/proc/thread-self/io`.
fn thread_reads() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("read_bytes:"))
}

#[derive(Default)]
struct Samples {
    wall_us: Vec<f64>,
    cpu_us: Vec<f64>,
    records: u64,
    /// Bytes read by system calls and from the disk, over all queries.
    read: (u64, u64),
}

impl Samples {
    fn print(&mut self, what: &str) {
        if self.wall_us.is_empty() {
            return;
        }
        let n = self.wall_us.len();
        let pct = |v: &mut Vec<f64>, p: f64| -> f64 {
            v.sort_by(f64::total_cmp);
            v[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
        };
        let (w50, w90, w99, wmax) = (
            pct(&mut self.wall_us, 0.50),
            pct(&mut self.wall_us, 0.90),
            pct(&mut self.wall_us, 0.99),
            pct(&mut self.wall_us, 1.0),
        );
        let per = self.records as f64 / n as f64;
        let cpu_sum: f64 = self.cpu_us.iter().sum();
        println!(
            "{what}: {n} queries, {per:.1} records each; wall p50 {:.2} ms, p90 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms; thread CPU {:.2} ms per query, {:.1} µs per record; \
             read {:.0} KiB per query ({:.0} KiB from the disk)",
            w50 / 1e3,
            w90 / 1e3,
            w99 / 1e3,
            wmax / 1e3,
            cpu_sum / n as f64 / 1e3,
            cpu_sum / self.records.max(1) as f64,
            self.read.0 as f64 / n as f64 / 1024.0,
            self.read.1 as f64 / n as f64 / 1024.0,
        );
    }
}

fn run_lookup(args: &LookupArgs) -> anyhow::Result<()> {
    let info: Generated = serde_json::from_slice(
        &std::fs::read(args.dir.join(GEN_FILE))
            .with_context(|| format!("{}: not made by bench escrow-gen", args.dir.display()))?,
    )?;
    let window = args.window_days * DAY_MS;
    ensure!(
        info.end_ms - info.start_ms > window,
        "the store spans less than the window"
    );
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let load0 = load_average();
    let t = Instant::now();
    let store = SledStore::open(&args.dir, Options::default())?;
    let opened = t.elapsed();
    // The store serves at once; its duplicate filter fills on a thread,
    // which would share the cores and the disk with the queries.
    while !store.ids_loaded() {
        ensure!(
            t.elapsed() < Duration::from_secs(3600),
            "the store's call ids were not loaded within an hour"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "opened {} ({} records) in {:.1} s; call ids loaded after {:.1} s",
        args.dir.display(),
        info.records,
        opened.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    let mut rng = Rng(args.seed);
    let (mut cold, mut warm) = (Samples::default(), Samples::default());
    for q in 0..args.queries {
        let target = subscriber(rng.below(u64::from(info.numbers))).number;
        let from = info.start_ms + rng.below(info.end_ms - info.start_ms - window);
        let w = Window {
            from_ms: from,
            to_ms: from + window,
        };
        let (t, cpu, read) = (Instant::now(), thread_cpu_ns(), thread_reads());
        let got = rt
            .block_on(historical(&store, &target, w))
            .map_err(|e| anyhow::anyhow!("query for {target}: {e}"))?;
        let cpu = thread_cpu_ns().saturating_sub(cpu);
        let (rchar, disk) = thread_reads();
        let wall = t.elapsed();
        let s = if q < args.cold { &mut cold } else { &mut warm };
        s.wall_us.push(wall.as_secs_f64() * 1e6);
        s.cpu_us.push(cpu as f64 / 1e3);
        s.records += got.len() as u64;
        s.read.0 += rchar.saturating_sub(read.0);
        s.read.1 += disk.saturating_sub(read.1);
    }
    cold.print("first queries after open (cold sled cache)");
    warm.print("later queries");
    println!(
        "load average {:.2} -> {:.2}",
        load0.unwrap_or(f64::NAN),
        load_average().unwrap_or(f64::NAN)
    );
    store.close();
    Ok(())
}

/// The store directory's size in bytes (every file under it).
fn du(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
