//! `cablekey bench core`: the CPU a call costs in the sans-IO cores alone,
//! the controller's and the simulated CTAs', in one thread. Datagrams go
//! from one core to the other in memory and each escrow request is
//! confirmed at once: no kernel, no store, no second process. That is the
//! part of `bench calls` a change to the MGCP path or the call flow moves,
//! measured without the scheduling and loopback noise of a busy machine,
//! so it is the one to compare two builds of that code with.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant as WallClock};

use anyhow::{bail, ensure};
use cablekey_gateway_controller::registry::Kind;
use cablekey_gateway_controller::service::os_keys;
use cablekey_gateway_controller::{Config, Controller, Event, Registry};
use cablekey_protocol::mgcp::transaction::MAX_HISTORY;
use cablekey_protocol::time::Instant;
use clap::Args;

use super::calls::check_fleet;
use super::cpu::CpuTime;
use super::loadgen::fleet::{endpoint, number, Fleet, Plan};
use super::loadgen::Clock;
use super::report::short_run_note;

const CONTROLLER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1)), 2727);
const CTA_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2));
const CTA_PORT: u16 = 20_000;

/// The controller core as the service runs it, keys from the OS generator.
type Core = Controller<fn(&mut [u8])>;

#[derive(Args)]
#[command(after_help = "\
Runs until --calls have been placed and released, or --limit seconds.
Reports the time spent in each core per call set up; the figures exclude
the kernel's UDP path and the escrow store, which `bench calls` includes.")]
pub struct CoreArgs {
    /// Calls to place.
    #[arg(long, default_value_t = 50_000)]
    calls: u64,
    /// Calls in progress at once (each holds two lines).
    #[arg(long, default_value_t = 80)]
    concurrency: usize,
    /// Simulated CTAs.
    #[arg(long, default_value_t = 400)]
    ctas: usize,
    /// Lines per CTA (1 to 4).
    #[arg(long, default_value_t = 4)]
    lines: usize,
    /// Calls per hundred answered before the hang-up.
    #[arg(long, default_value_t = 10)]
    answer_percent: u64,
    /// Longest run, in seconds.
    #[arg(long, default_value_t = 60.0)]
    limit: f64,
}

pub fn run(args: CoreArgs) -> ExitCode {
    match core(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cablekey bench core: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Wall time spent in each core (one thread, nothing else runs in it).
#[derive(Default)]
struct Spent {
    controller: Duration,
    ctas: Duration,
}

struct Rig {
    ctrl: Core,
    fleet: Fleet,
    clock: Clock,
    spent: Spent,
    escrowed: u64,
}

impl Rig {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Hands datagrams and escrow answers over until both cores are quiet;
    /// false if there was nothing to hand over.
    fn settle(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            let t = WallClock::now();
            let mut to_ctrl = Vec::new();
            while let Some((cta, tx)) = self.fleet.poll_transmit() {
                to_ctrl.push((cta_addr(cta), tx.payload));
            }
            self.spent.ctas += t.elapsed();
            let t = WallClock::now();
            let now = self.now();
            for (from, payload) in to_ctrl {
                moved = true;
                self.ctrl.handle_datagram(now, from, &payload);
            }
            while let Some(ev) = self.ctrl.poll_event() {
                if let Event::Escrow { call_id, .. } = ev {
                    self.escrowed += 1;
                    self.ctrl.handle_escrowed(now, &call_id, Ok(()));
                }
            }
            let mut to_ctas = Vec::new();
            while let Some(tx) = self.ctrl.poll_transmit() {
                to_ctas.push(tx);
            }
            self.spent.controller += t.elapsed();
            let t = WallClock::now();
            for tx in to_ctas {
                moved = true;
                if let Some(cta) = cta_of(tx.to) {
                    self.fleet
                        .handle_datagram(now, cta, CONTROLLER, &tx.payload);
                }
            }
            self.spent.ctas += t.elapsed();
            if !moved {
                return any;
            }
            any = true;
        }
    }

    /// Runs the timers that are due; false if none was.
    fn timers(&mut self) -> bool {
        let now = self.now();
        let t = WallClock::now();
        let fleet = self.fleet.poll_timeout().is_some_and(|at| at <= now);
        if fleet {
            self.fleet.handle_timeout(now);
        }
        self.spent.ctas += t.elapsed();
        let t = WallClock::now();
        let ctrl = self.ctrl.poll_timeout().is_some_and(|at| at <= now);
        if ctrl {
            self.ctrl.handle_timeout(now);
        }
        self.spent.controller += t.elapsed();
        fleet || ctrl
    }

    /// Nothing to do: sleeps until the next deadline (at most 1 ms), and
    /// that wait is no core's.
    fn idle(&self) {
        let next = [self.fleet.poll_timeout(), self.ctrl.poll_timeout()];
        let wait = next
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_millis(1), |at| self.clock.until(at));
        std::thread::sleep(wait.min(Duration::from_millis(1)));
    }
}

fn cta_addr(cta: usize) -> SocketAddr {
    // `check_fleet` keeps --ctas under 1,000, so the port fits.
    SocketAddr::new(CTA_IP, CTA_PORT + cta as u16)
}

fn cta_of(addr: SocketAddr) -> Option<usize> {
    (addr.ip() == CTA_IP && addr.port() >= CTA_PORT).then(|| usize::from(addr.port() - CTA_PORT))
}

fn check(a: &CoreArgs) -> anyhow::Result<()> {
    check_fleet(a.ctas, a.lines, a.concurrency)?;
    ensure!(a.calls > 0, "--calls is at least 1");
    ensure!(
        a.limit.is_finite() && a.limit > 0.0,
        "--limit is a positive number of seconds"
    );
    Ok(())
}

fn controller(a: &CoreArgs) -> anyhow::Result<Core> {
    let mut config = Config::default();
    // As `bench calls` sizes the service for the load.
    config.max_calls = config.max_calls.max(4 * a.concurrency);
    config.transaction.max_history = MAX_HISTORY;
    config.transaction.max_outstanding = 1 << 14;
    let mut registry = Registry::new();
    for cta in 0..a.ctas {
        for line in 0..a.lines {
            let n = number(cta * a.lines + line);
            registry
                .add(&endpoint(cta, line), Kind::Line, Some(&n), None)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(Controller::new(config, registry, os_keys as fn(&mut [u8])))
}

fn core(a: &CoreArgs) -> anyhow::Result<bool> {
    check(a)?;
    let plan = Plan {
        ctas: a.ctas,
        lines: a.lines,
        calls: a.calls,
        duration: Duration::from_secs_f64(a.limit),
        concurrency: a.concurrency,
        answer_percent: a.answer_percent.min(100),
        step_limit: Duration::from_secs(5),
        ramp: Duration::from_millis(1),
    };
    let mut rig = Rig {
        ctrl: controller(a)?,
        fleet: Fleet::new(plan, CONTROLLER, CTA_IP),
        clock: Clock(WallClock::now()),
        spent: Spent::default(),
        escrowed: 0,
    };
    let now = rig.now();
    rig.ctrl.start(now);
    rig.fleet.restart_all(now);
    rig.settle();
    if rig.fleet.registered() < rig.fleet.len() {
        bail!(
            "only {} of {} CTAs registered",
            rig.fleet.registered(),
            rig.fleet.len()
        );
    }
    rig.spent = Spent::default();
    let cpu0 = CpuTime::now();
    let start = WallClock::now();
    rig.fleet.begin(rig.now());
    let limit = Duration::from_secs_f64(a.limit);
    while rig.fleet.busy() && start.elapsed() < limit {
        let moved = rig.settle();
        if !rig.timers() && !moved {
            rig.idle();
        }
    }
    let wall = start.elapsed();
    let cpu = CpuTime::now().since(cpu0);
    Ok(report(a, &rig, wall, cpu))
}

fn report(a: &CoreArgs, rig: &Rig, wall: Duration, cpu: CpuTime) -> bool {
    let t = &rig.fleet.tally;
    let setups = t.setups.max(1) as f64;
    let per = |d: Duration| d.as_secs_f64() * 1e6 / setups;
    println!(
        "cablekey bench core: {} CTAs × {} lines, concurrency {}, {}% answered, one thread, no kernel or store",
        a.ctas, a.lines, a.concurrency, a.answer_percent
    );
    println!(
        "calls started {}  set up {}  released {}  escrow requests {}  in {:.2} s",
        t.started,
        t.setups,
        t.released,
        rig.escrowed,
        wall.as_secs_f64()
    );
    println!(
        "per setup: controller core {:.1} µs, CTA cores {:.1} µs, together {:.1} µs ({:.0} setups/s on one core)",
        per(rig.spent.controller),
        per(rig.spent.ctas),
        per(rig.spent.controller + rig.spent.ctas),
        setups / (rig.spent.controller + rig.spent.ctas).as_secs_f64().max(1e-9)
    );
    println!(
        "process CPU: user {:.2} s, system {:.2} s",
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64()
    );
    let failures: u64 = t.failures.values().sum();
    if failures > 0 {
        println!("failures: {:?}", t.failures);
    }
    let complete = t.setups == a.calls && t.released == a.calls && failures == 0;
    let history = rig.ctrl.transactions().config().history;
    if let Some(note) = short_run_note(wall, history) {
        println!("{note}");
    }
    if t.started < a.calls {
        println!(
            "stopped at --limit: {} of {} calls placed",
            t.started, a.calls
        );
    } else if !complete {
        println!("not every call completed");
    }
    complete
}
