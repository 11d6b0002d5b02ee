//! `cablekey bench calls`: call setups per second with durable escrow.
//!
//! This process runs the controller (fresh store, an LE key pair made for
//! the run) and spawns the load generator (`bench load-gen`, simulated
//! CTAs) as a child on loopback. Afterwards the store is reopened and every
//! key the CTAs received is opened from it with the LE private key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cablekey_gateway_controller::escrow::keyfile;
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::{self, Histogram, Metrics, Settings};
use cablekey_protocol::mgcp::transaction::MAX_HISTORY;
use clap::Args;

use super::cpu::{self, load_average, CpuTime};
use super::loadgen::fleet::{endpoint, number, MAX_LINES_TOTAL};
use super::report::{short_run_note, LoadReport, Spread};
use super::verify::{self, Verdict};

#[derive(Args)]
#[command(after_help = "\
Bounded and loopback only: calls start for at most --duration seconds or
until --calls have started, then the calls in flight finish. Files (the
store and the run's LE key pair) go to --dir, by default a fresh directory
under the system's temporary directory, removed afterwards unless --keep.
Exits 1 if any key a CTA received is missing from the store or opens to
another key.")]
pub struct CallsArgs {
    /// Calls to place.
    #[arg(long, default_value_t = 20_000)]
    calls: u64,
    /// Longest time during which calls are started, in seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Calls in progress at once (each holds two lines).
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Simulated CTAs.
    #[arg(long, default_value_t = 200)]
    ctas: usize,
    /// Lines per CTA (1 to 4).
    #[arg(long, default_value_t = 4)]
    lines: usize,
    /// Calls per hundred that are answered before the hang-up; the others
    /// are abandoned while ringing.
    #[arg(long, default_value_t = 10)]
    answer_percent: u64,
    /// Longest wait for any one step of a call, in seconds.
    #[arg(long, default_value_t = 5.0)]
    step_limit: f64,
    /// Where the controller listens.
    #[arg(long, default_value = "127.0.1.1:2727")]
    controller: SocketAddr,
    /// The CTAs' address; CTA i uses port --cta-port + i.
    #[arg(long, default_value = "127.0.1.2")]
    cta_ip: IpAddr,
    #[arg(long, default_value_t = 20_000)]
    cta_port: u16,
    /// Directory for the store and the LE keys (must not hold a store).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep --dir afterwards.
    #[arg(long)]
    keep: bool,
    /// Check only this many keys against the store (spread over the run).
    #[arg(long)]
    verify_sample: Option<usize>,
}

pub fn run(args: CallsArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cablekey bench calls: {e}");
            return ExitCode::from(2);
        }
    };
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cablekey-bench-{}", std::process::id())),
            true,
        ),
    };
    let result = rt.block_on(bench(&args, &dir));
    if temporary && !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cablekey bench calls: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check_args(a: &CallsArgs) -> anyhow::Result<()> {
    check_fleet(a.ctas, a.lines, a.concurrency)?;
    ensure!(
        (0.1..=600.0).contains(&a.duration),
        "--duration is 0.1 to 600 s"
    );
    ensure!(
        (0.1..=60.0).contains(&a.step_limit),
        "--step-limit is 0.1 to 60 s"
    );
    ensure!(
        a.controller.ip().is_loopback() && a.cta_ip.is_loopback(),
        "loopback addresses only"
    );
    Ok(())
}

/// The simulated CTAs, their lines and the calls in flight (`bench calls`
/// and `bench core`).
pub(super) fn check_fleet(ctas: usize, lines: usize, concurrency: usize) -> anyhow::Result<()> {
    ensure!((1..=4).contains(&lines), "--lines is 1 to 4");
    ensure!((1..=999).contains(&ctas), "--ctas is 1 to 999");
    ensure!(
        ctas * lines <= MAX_LINES_TOTAL,
        "at most {MAX_LINES_TOTAL} lines in all (4-digit numbers)"
    );
    ensure!(concurrency >= 1, "--concurrency is at least 1");
    ensure!(
        ctas * lines >= 2 * concurrency,
        "--concurrency {} needs {} lines; --ctas × --lines gives {}",
        concurrency,
        2 * concurrency,
        ctas * lines
    );
    Ok(())
}

/// Fresh store directory and LE key pair; the private half stands in for
/// the CALEA server's.
fn prepare(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    let store = dir.join("store");
    ensure!(
        !store.exists(),
        "{} already exists: the benchmark needs a fresh store",
        store.display()
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (private, public) = (dir.join("le-private.key"), dir.join("le-public.key"));
    // Never overwritten (keyfile refuses): a --dir holding real keys stays intact.
    keyfile::generate_keypair(&private, &public)?;
    Ok((store, private, public))
}

async fn bench(args: &CallsArgs, dir: &Path) -> anyhow::Result<bool> {
    check_args(args)?;
    let (store, private, public) = prepare(dir)?;
    let sk = keyfile::load_private_key(&private)?;
    let mut settings = Settings::new(args.controller, store.clone(), public);
    settings.core.max_calls = settings.core.max_calls.max(4 * args.concurrency);
    // The default history (8,192 transactions each way, kept 30 s) caps a
    // controller at about 270 commands a second: size it for the load
    // (the largest serves 30 s at 10,000 setups/s; 1 << 20 ran out after
    // 25 s at 6,500/s).
    settings.core.transaction.max_history = MAX_HISTORY;
    settings.core.transaction.max_outstanding = 1 << 14;
    for cta in 0..args.ctas {
        for line in 0..args.lines {
            let n = number(cta * args.lines + line);
            settings
                .registry
                .add(&endpoint(cta, line), Kind::Line, Some(&n), None)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    let history = settings.core.transaction.history;
    let ctrl = service::start(settings, Duration::from_secs(5)).await?;
    let load_before = load_average();
    let cpu0 = CpuTime::now();
    let threads0 = cpu::by_thread();
    let child = load_gen(args, ctrl.addr).await;
    let cpu = CpuTime::now().since(cpu0);
    let threads = thread_split(&threads0, cpu);
    let load_after = load_average();
    let metrics = ctrl.metrics.clone();
    ctrl.shutdown(Duration::from_secs(5)).await;
    let report = child?;
    let verdict = verify::check(&store, &sk, &report.keys, args.verify_sample).await?;
    print(
        args,
        &report,
        &metrics,
        (cpu, &threads),
        &verdict,
        (load_before, load_after),
    );
    if let Some(note) = short_run_note(Duration::from_secs_f64(report.wall_s), history) {
        println!("{note}");
    }
    Ok(verdict.all_escrowed() && report.setups > 0)
}

/// The controller's CPU during the run by thread, busiest first; what
/// threads that ended took, and any rounding, is `other`.
fn thread_split(before: &BTreeMap<String, CpuTime>, total: CpuTime) -> Vec<(String, Duration)> {
    let mut split: Vec<(String, Duration)> = cpu::by_thread()
        .into_iter()
        .map(|(name, t)| {
            let t0 = before.get(&name).copied().unwrap_or_default();
            (name, t.since(t0).total())
        })
        .filter(|(_, t)| !t.is_zero())
        .collect();
    split.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    let named: Duration = split.iter().map(|(_, t)| *t).sum();
    split.push(("other".into(), total.total().saturating_sub(named)));
    split
}

/// Runs the load generator to its end and reads its report.
async fn load_gen(args: &CallsArgs, controller: SocketAddr) -> anyhow::Result<LoadReport> {
    let exe = std::env::current_exe().context("finding the cablekey binary")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["bench", "load-gen"])
        .arg("--controller")
        .arg(controller.to_string())
        .arg("--cta-ip")
        .arg(args.cta_ip.to_string())
        .args(["--cta-port", &args.cta_port.to_string()])
        .args(["--ctas", &args.ctas.to_string()])
        .args(["--lines", &args.lines.to_string()])
        .args(["--calls", &args.calls.to_string()])
        .args(["--duration", &args.duration.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--answer-percent", &args.answer_percent.to_string()])
        .args(["--step-limit", &args.step_limit.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting the load generator")?;
    // Registration, the run, and every step limit of the calls left over.
    let limit = Duration::from_secs_f64(args.duration + 6.0 * args.step_limit + 30.0);
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .context("the load generator did not finish in time")?
        .context("waiting for the load generator")?;
    if !out.status.success() {
        bail!("the load generator failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("reading the load generator's report")
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

fn hist_line(h: &Histogram) -> String {
    format!(
        "p50 {} p90 {} p99 {} ms (bucket bounds, ±19 %; {} samples)",
        ms(h.quantile(0.5)),
        ms(h.quantile(0.9)),
        ms(h.quantile(0.99)),
        h.count()
    )
}

fn print(
    args: &CallsArgs,
    r: &LoadReport,
    m: &Metrics,
    (ctrl_cpu, threads): (CpuTime, &[(String, Duration)]),
    v: &Verdict,
    load: (Option<f64>, Option<f64>),
) {
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let la = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
    println!(
        "cablekey bench calls: {} CTAs × {} lines, concurrency {}, {}% answered, load average {} → {}",
        r.ctas,
        r.lines,
        args.concurrency,
        args.answer_percent,
        la(load.0),
        la(load.1)
    );
    println!(
        "calls started {}  set up {}  answered {}  released {}  in {:.2} s (setups until the last: {:.2} s)",
        r.started, r.setups, r.answered, r.released, r.wall_s, r.setup_window_s
    );
    println!(
        "setups/s {:.0}   calls/s over the whole run {:.0}",
        rate(r.setups, r.setup_window_s),
        rate(r.released, r.wall_s)
    );
    match Spread::of(&r.setup_us) {
        Some(s) => println!(
            "setup latency at the CTAs (last digit → ringing, keys at both ends): p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} ms",
            s.p50, s.p90, s.p99, s.max
        ),
        None => println!("setup latency at the CTAs: no call was set up"),
    }
    println!(
        "setup latency at the controller (routed → ringing): {}",
        hist_line(&m.setup_latency)
    );
    println!(
        "escrow latency (seal + group commit + fdatasync): {}",
        hist_line(&m.escrow_latency)
    );
    if r.failures.is_empty() && r.quarantined_lines == 0 {
        println!("failures: none");
    } else {
        println!("failures ({} lines taken out):", r.quarantined_lines);
        for (why, n) in &r.failures {
            println!("  {n:>8}  {why}");
        }
    }
    println!(
        "controller: calls refused {} ended {} escrow failures {} bad messages {} datagrams in {} out {}",
        Metrics::get(&m.calls_refused),
        Metrics::get(&m.calls_ended),
        Metrics::get(&m.escrow_failures),
        Metrics::get(&m.bad_messages),
        Metrics::get(&m.datagrams_in),
        Metrics::get(&m.datagrams_out),
    );
    println!(
        "load generator: datagrams in {} out {} (send errors {}), MGCP retransmissions {} timeouts {}",
        r.datagrams_in, r.datagrams_out, r.send_errors, r.retransmissions, r.transaction_timeouts
    );
    let per_call = |cpu: f64| {
        if r.setups > 0 {
            format!("{:.1} µs per setup", cpu * 1e6 / r.setups as f64)
        } else {
            "-".into()
        }
    };
    let c = ctrl_cpu.total().as_secs_f64();
    let g = r.cpu_user_s + r.cpu_system_s;
    println!(
        "CPU: controller {:.2} s (user {:.2} sys {:.2}, {}), load generator {:.2} s (user {:.2} sys {:.2}, {})",
        c,
        ctrl_cpu.user.as_secs_f64(),
        ctrl_cpu.system.as_secs_f64(),
        per_call(c),
        g,
        r.cpu_user_s,
        r.cpu_system_s,
        per_call(g)
    );
    let split: Vec<String> = threads
        .iter()
        .map(|(name, t)| match r.setups {
            0 => format!("{name} -"),
            n => format!("{name} {:.1} µs", t.as_secs_f64() * 1e6 / n as f64),
        })
        .collect();
    println!("controller CPU per setup by thread: {}", split.join(", "));
    println!(
        "escrow: keys escrowed {} | keys at the CTAs {} | checked {} against the store: missing {} wrong {} | store holds {} records under {} epochs (one HPKE seal each)",
        Metrics::get(&m.keys_escrowed),
        r.keys.len(),
        v.checked,
        v.missing,
        v.wrong,
        v.records,
        v.epochs
    );
    if !v.all_escrowed() {
        println!(
            "FAILED: keys a CTA received are not in escrow (e.g. calls {})",
            v.examples.join(", ")
        );
    } else {
        println!("every key checked was escrowed");
    }
}
