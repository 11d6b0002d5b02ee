//! `cablekey bench load-gen`: the simulated CTAs of `bench calls`, in a
//! process of their own. One thread, one epoll loop over one UDP socket per
//! CTA (each CTA a real MGCP endpoint at its own address); the calls run in
//! the sans-IO [`fleet::Fleet`]. The report goes to stdout as one JSON line.
//!
//! Why a socket per CTA rather than one for all: the controller knows each
//! gateway by the address its RSIP came from and piggy-backs responses to
//! one address into one datagram, so CTAs sharing an address would need a
//! demultiplexer no real network has. epoll makes the many sockets cheap.

mod device;
pub mod fleet;

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cablekey_gateway_controller::service::batch::RecvBatch;
use clap::Args;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::cpu::CpuTime;
use super::report::{KeySeen, LoadReport};
use fleet::{Fleet, Plan};

#[derive(Args, Clone, Debug)]
pub struct LoadGenArgs {
    /// The controller's MGCP address.
    #[arg(long)]
    pub controller: SocketAddr,
    /// CTA i listens on this address, port `--cta-port` + i.
    #[arg(long)]
    pub cta_ip: IpAddr,
    #[arg(long)]
    pub cta_port: u16,
    #[arg(long)]
    pub ctas: usize,
    #[arg(long)]
    pub lines: usize,
    #[arg(long)]
    pub calls: u64,
    /// Seconds during which calls are started.
    #[arg(long)]
    pub duration: f64,
    #[arg(long)]
    pub concurrency: usize,
    #[arg(long)]
    pub answer_percent: u64,
    /// Seconds any one step of a call may take.
    #[arg(long)]
    pub step_limit: f64,
}

pub fn run(args: LoadGenArgs) -> ExitCode {
    match load(&args) {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let written = serde_json::to_writer(&mut out, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out));
            if let Err(e) = written {
                eprintln!("cablekey bench load-gen: writing the report: {e}");
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cablekey bench load-gen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The cores' clock: microseconds since it was made.
pub(super) struct Clock(pub(super) std::time::Instant);

impl Clock {
    pub(super) fn now(&self) -> cablekey_protocol::time::Instant {
        let us = self.0.elapsed().as_micros();
        cablekey_protocol::time::Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    pub(super) fn until(&self, at: cablekey_protocol::time::Instant) -> Duration {
        at.saturating_since(self.now())
    }
}

#[derive(Default)]
struct Counts {
    datagrams_in: u64,
    datagrams_out: u64,
    send_errors: u64,
}

struct Driver {
    fleet: Fleet,
    /// Each connected to the controller, as a CTA talks to its call agent:
    /// the kernel then keeps the route instead of looking it up per datagram.
    socks: Vec<UdpSocket>,
    controller: SocketAddr,
    poll: Poll,
    clock: Clock,
    counts: Counts,
    rx: RecvBatch,
}

impl Driver {
    fn flush(&mut self) {
        while let Some((cta, t)) = self.fleet.poll_transmit() {
            let sock = &self.socks[cta];
            let sent = if t.to == self.controller {
                sock.send(&t.payload)
            } else {
                sock.send_to(&t.payload, t.to)
            };
            match sent {
                Ok(_) => self.counts.datagrams_out += 1,
                // Lost like on a real network: MGCP retransmits.
                Err(_) => self.counts.send_errors += 1,
            }
        }
    }

    /// One round: send what is queued, wait for datagrams or the next
    /// deadline (at most `cap`), take them all, run the timers.
    fn turn(&mut self, events: &mut Events, cap: Duration) -> anyhow::Result<()> {
        self.flush();
        let wait = self
            .fleet
            .poll_timeout()
            .map_or(cap, |t| self.clock.until(t).min(cap));
        match self.poll.poll(events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("epoll"),
        }
        for ev in events.iter() {
            let cta = ev.token().0;
            while let Some(sock) = self.socks.get(cta) {
                match self.rx.recv_from(sock) {
                    Ok(_) => {
                        let now = self.clock.now();
                        for (from, bytes) in self.rx.datagrams() {
                            self.counts.datagrams_in += 1;
                            self.fleet.handle_datagram(now, cta, from, bytes);
                        }
                        // Edge-triggered: read until the socket is empty,
                        // which a short batch already says.
                        if !self.rx.more() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // ICMP errors surface here; MGCP retransmission covers them.
                    Err(_) => break,
                }
            }
        }
        self.fleet.handle_timeout(self.clock.now());
        Ok(())
    }
}

fn load(args: &LoadGenArgs) -> anyhow::Result<LoadReport> {
    let plan = Plan {
        ctas: args.ctas,
        lines: args.lines,
        calls: args.calls,
        duration: Duration::from_secs_f64(args.duration),
        concurrency: args.concurrency,
        answer_percent: args.answer_percent.min(100),
        step_limit: Duration::from_secs_f64(args.step_limit),
        ramp: Duration::from_millis(200),
    };
    ensure!(
        usize::from(args.cta_port) + args.ctas <= 65_536,
        "--cta-port + --ctas is past the last port"
    );
    let poll = Poll::new().context("epoll")?;
    let mut socks = Vec::with_capacity(args.ctas);
    for i in 0..args.ctas {
        let port = args.cta_port + u16::try_from(i).context("too many CTAs")?;
        let at = SocketAddr::new(args.cta_ip, port);
        let mut s =
            UdpSocket::bind(at).with_context(|| format!("binding CTA {} to {at}", i + 1))?;
        s.connect(args.controller)
            .with_context(|| format!("CTA {}: connecting to {}", i + 1, args.controller))?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)
            .context("epoll register")?;
        socks.push(s);
    }
    let clock = Clock(std::time::Instant::now());
    let mut d = Driver {
        fleet: Fleet::new(plan.clone(), args.controller, args.cta_ip),
        socks,
        controller: args.controller,
        poll,
        clock,
        counts: Counts::default(),
        rx: RecvBatch::new(),
    };
    let mut events = Events::with_capacity(1024);
    let cpu0 = CpuTime::now();

    d.fleet.restart_all(d.clock.now());
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while d.fleet.registered() < d.fleet.len() {
        if std::time::Instant::now() >= until {
            bail!(
                "only {} of {} CTAs registered with {}",
                d.fleet.registered(),
                d.fleet.len(),
                args.controller
            );
        }
        d.turn(&mut events, Duration::from_millis(10))?;
    }
    // Let the controller's requests after the restarts settle.
    let settle = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < settle {
        d.turn(&mut events, Duration::from_millis(10))?;
    }

    let t0 = d.clock.now();
    d.fleet.begin(t0);
    // Calls in flight at the end get every step's limit, and no more.
    let hard_stop = std::time::Instant::now() + plan.duration + plan.step_limit * 4;
    while d.fleet.busy() {
        if std::time::Instant::now() >= hard_stop {
            d.fleet.stop_starting();
            break;
        }
        d.turn(&mut events, Duration::from_millis(50))?;
    }
    let end = d.clock.now();
    d.flush();
    let cpu = CpuTime::now().since(cpu0);
    Ok(report(d, t0, end, cpu))
}

fn report(
    d: Driver,
    t0: cablekey_protocol::time::Instant,
    end: cablekey_protocol::time::Instant,
    cpu: CpuTime,
) -> LoadReport {
    let (retransmissions, transaction_timeouts) = d.fleet.transaction_counts();
    let (ctas, lines) = (d.fleet.plan().ctas, d.fleet.plan().lines);
    let t = d.fleet.tally;
    let mut keys: Vec<KeySeen> = t
        .keys
        .into_iter()
        .map(|(call_id, fp)| KeySeen {
            call_id,
            fingerprint: u64::from_be_bytes(fp.0),
        })
        .collect();
    keys.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    let last = t.last_setup.unwrap_or(t0);
    LoadReport {
        ctas,
        lines,
        started: t.started,
        setups: t.setups,
        answered: t.answered,
        released: t.released,
        quarantined_lines: t.quarantined,
        failures: t
            .failures
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        setup_us: t.setup_us,
        keys,
        setup_window_s: last.saturating_since(t0).as_secs_f64(),
        wall_s: end.saturating_since(t0).as_secs_f64(),
        cpu_user_s: cpu.user.as_secs_f64(),
        cpu_system_s: cpu.system.as_secs_f64(),
        datagrams_in: d.counts.datagrams_in,
        datagrams_out: d.counts.datagrams_out,
        send_errors: d.counts.send_errors,
        retransmissions,
        transaction_timeouts,
    }
}
