//! Escrow costs: sealing per call (per-call HPKE vs an epoch key), and the
//! durable store's group-commit throughput and put latency at 1, 16 and 256
//! concurrent puts. The store lives under the target directory (a real
//! disk, so every commit pays a real fdatasync).
//!
//! cargo bench -p cablekey-gateway-controller --bench escrow

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cablekey_gateway_controller::escrow::{Escrow, Options, SledStore};
use cablekey_protocol::escrow::{CallMeta, EpochPolicy, EpochSealer, LePrivateKey, Party};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant as Mono;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use getrandom::rand_core::UnwrapErr;
use getrandom::SysRng;

fn meta(n: u64) -> CallMeta {
    CallMeta {
        call_id: format!("{n:016x}"),
        caller: Party {
            number: "+15550100".into(),
            endpoint: "aaln/1@cta-1.example.net".into(),
        },
        callee: Party {
            number: format!("+1555{:04}", n % 10_000),
            endpoint: "aaln/1@cta-2.example.net".into(),
        },
        start_unix_ms: 1_700_000_000_000 + n,
        suite: "AEAD_AES_128_GCM".into(),
    }
}

fn key() -> SecretBytes {
    SecretBytes::new(&[0x5A; 30]).unwrap()
}

fn seal(c: &mut Criterion) {
    let le = LePrivateKey::generate(&mut UnwrapErr(SysRng));
    let mut g = c.benchmark_group("escrow_seal");
    g.throughput(Throughput::Elements(1));
    // One epoch per call: the cost of HPKE-sealing every call key.
    let mut per_call = EpochSealer::new(
        le.public().clone(),
        EpochPolicy {
            max_age: Duration::from_secs(3600),
            max_records: 1,
        },
    );
    g.bench_function("hpke_per_call", |b| {
        b.iter_batched(
            || meta(1),
            |m| {
                black_box(
                    per_call
                        .seal(m, &key(), Mono::ZERO, 0, &mut UnwrapErr(SysRng))
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    let mut epoch = EpochSealer::new(
        le.public().clone(),
        EpochPolicy {
            max_age: Duration::from_secs(3600),
            max_records: u64::MAX,
        },
    );
    g.bench_function("epoch_key_per_call", |b| {
        b.iter_batched(
            || meta(1),
            |m| {
                black_box(
                    epoch
                        .seal(m, &key(), Mono::ZERO, 0, &mut UnwrapErr(SysRng))
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

struct Rig {
    rt: tokio::runtime::Runtime,
    escrow: Arc<Escrow<SledStore>>,
    next: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = bench_dir();
    let le = LePrivateKey::generate(&mut UnwrapErr(SysRng));
    let store = SledStore::open(dir.path(), Options::default()).unwrap();
    Rig {
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        escrow: Arc::new(Escrow::new(
            store,
            le.public().clone(),
            EpochPolicy::default(),
        )),
        next: Arc::new(AtomicU64::new(0)),
        _dir: dir,
    }
}

/// `total` escrows by `conc` concurrent callers; returns each put's latency.
fn run(rig: &Rig, conc: u64, total: u64) -> Vec<Duration> {
    rig.rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..conc {
            let (escrow, next) = (rig.escrow.clone(), rig.next.clone());
            let share = total / conc + u64::from(w < total % conc);
            tasks.spawn(async move {
                let mut lat = Vec::with_capacity(share as usize);
                for _ in 0..share {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    escrow.escrow(meta(n), &key()).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            });
        }
        tasks.join_all().await.concat()
    })
}

fn store(c: &mut Criterion) {
    let mut g = c.benchmark_group("escrow_store");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for conc in [1u64, 16, 256] {
        let rig = rig();
        g.bench_with_input(BenchmarkId::new("durable_put", conc), &conc, |b, &conc| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                run(&rig, conc, iters.max(conc));
                t.elapsed().mul_f64(iters as f64 / iters.max(conc) as f64)
            })
        });
    }
    g.finish();
}

/// CPU time used by this process so far (every thread), from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU). Threads that
/// ended are not counted, so rows keep their store open while measuring.
fn cpu_time() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
        let Ok(task) = task else { continue };
        if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
            ns += s
                .split(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// Percentiles need every sample, which criterion does not keep.
fn latency_report() {
    println!(
        "\nescrow put latency (seal + group commit + fdatasync), {} puts per row",
        20_000
    );
    println!("cpu/rec: CPU of the whole process per record, indexing into sled included;");
    println!("index lag: time after the last ack until every record is in sled\n");
    println!(
        "{:>11} {:>12} {:>10} {:>10} {:>10} {:>12} {:>13}",
        "concurrent", "records/s", "p50 us", "p99 us", "max us", "cpu/rec us", "index lag ms"
    );
    for conc in [1u64, 16, 256] {
        let rig = rig();
        run(&rig, conc, 1_000); // warm-up
        while rig.escrow.store().unindexed() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let total = if conc == 1 { 5_000 } else { 20_000 };
        let (t, cpu) = (Instant::now(), cpu_time());
        let mut lat = run(&rig, conc, total);
        let secs = t.elapsed().as_secs_f64();
        let acked = Instant::now();
        while rig.escrow.store().unindexed() > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let lag = acked.elapsed();
        let cpu = (cpu_time() - cpu).as_secs_f64() * 1e6 / total as f64;
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_micros();
        println!(
            "{conc:>11} {:>12.0} {:>10} {:>10} {:>10} {:>12.1} {:>13}",
            lat.len() as f64 / secs,
            pct(0.50),
            pct(0.99),
            lat.last().map_or(0, |d| d.as_micros()),
            cpu,
            lag.as_millis()
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    seal(&mut c);
    store(&mut c);
    c.final_summary();
    // Only under `cargo bench`, and unless a filter excludes it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if args.iter().any(|a| a == "--bench")
        && (filters.is_empty() || filters.iter().any(|f| "put_latency".contains(f.as_str())))
    {
        latency_report();
    }
}
