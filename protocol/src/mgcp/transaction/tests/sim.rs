//! Two endpoints on virtual time, wired by a seeded network that can drop,
//! duplicate and reorder datagrams. Nothing sleeps: the clock jumps to the
//! next deadline or delivery.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::super::{Config, Endpoint, Event, Transmit};
use super::{at, CA, GW};
use crate::mgcp::{Response, ReturnCode, TransactionId};
use crate::time::Instant;

/// xorshift64*: small, seeded, good enough to pick losses.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    /// Uniform in `lo..=hi` milliseconds.
    pub fn delay(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

pub struct Packet {
    pub at: Instant,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

pub struct Net {
    pub rng: Rng,
    pub loss: u64,
    pub duplicate: u64,
    /// One-way delay range in ms; a wide range reorders datagrams.
    pub delay: (u64, u64),
    pub in_flight: Vec<Packet>,
    pub sent: usize,
}

impl Net {
    pub fn new(seed: u64) -> Self {
        Net {
            rng: Rng::new(seed),
            loss: 0,
            duplicate: 0,
            delay: (10, 10),
            in_flight: Vec::new(),
            sent: 0,
        }
    }

    pub fn send(&mut self, now: Instant, from: SocketAddr, t: Transmit) {
        self.sent += 1;
        let copies = if self.rng.percent(self.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.rng.percent(self.loss) {
                continue;
            }
            let at = now + self.rng.delay(self.delay.0, self.delay.1);
            let payload = t.payload.clone();
            self.in_flight.push(Packet {
                at,
                from,
                to: t.to,
                payload,
            });
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|p| p.at).min()
    }

    fn take_due(&mut self, now: Instant) -> Vec<Packet> {
        let (mut due, rest) = self.in_flight.drain(..).partition(|p: &Packet| p.at <= now);
        self.in_flight = rest;
        due.sort_by_key(|p| p.at);
        due
    }
}

/// One endpoint and the application above it, which executes each command
/// it is given and answers 200, after `answer_after` if set.
pub struct Node {
    pub addr: SocketAddr,
    pub ep: Endpoint,
    pub answer_after: Option<Duration>,
    /// Only every `slow_every`-th command waits `answer_after`.
    pub slow_every: u32,
    answers: Vec<(Instant, SocketAddr, TransactionId)>,
    pub executed: BTreeMap<(SocketAddr, TransactionId), u32>,
    pub responses: BTreeMap<TransactionId, u32>,
    pub timeouts: BTreeMap<TransactionId, u32>,
    pub provisionals: u32,
    pub bad: u32,
}

impl Node {
    pub fn new(addr: SocketAddr, config: Config) -> Self {
        Node {
            addr,
            ep: Endpoint::new(config),
            answer_after: None,
            slow_every: 1,
            answers: Vec::new(),
            executed: BTreeMap::new(),
            responses: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            provisionals: 0,
            bad: 0,
        }
    }

    /// Runs the application on the endpoint's events; true if it did anything.
    fn serve(&mut self, now: Instant) -> bool {
        let mut busy = false;
        while let Some(event) = self.ep.poll_event() {
            busy = true;
            match event {
                Event::Command { from, tid, .. } => {
                    let n = self.executed.entry((from, tid)).or_default();
                    *n += 1;
                    let slow = tid.0 % self.slow_every.max(1) == 0;
                    match self.answer_after {
                        Some(d) if slow => self.answers.push((now + d, from, tid)),
                        _ => self.answer(now, from, tid),
                    }
                }
                Event::Response { tid, .. } => *self.responses.entry(tid).or_default() += 1,
                Event::TimedOut { tid, .. } => *self.timeouts.entry(tid).or_default() += 1,
                Event::Provisional { .. } => self.provisionals += 1,
                Event::BadMessage { .. } => self.bad += 1,
            }
        }
        let due: Vec<_> = self
            .answers
            .iter()
            .filter(|a| a.0 <= now)
            .copied()
            .collect();
        self.answers.retain(|a| a.0 > now);
        for (_, from, tid) in due {
            busy = true;
            self.answer(now, from, tid);
        }
        busy
    }

    fn answer(&mut self, now: Instant, from: SocketAddr, tid: TransactionId) {
        let response = Response::new(ReturnCode::OK, tid);
        self.ep
            .respond(now, from, tid, response)
            .expect("answer a command");
    }

    fn next_answer(&self) -> Option<Instant> {
        self.answers.iter().map(|a| a.0).min()
    }
}

pub struct Sim {
    pub now: Instant,
    pub net: Net,
    pub ca: Node,
    pub gw: Node,
}

impl Sim {
    pub fn new(seed: u64, config: Config) -> Self {
        Sim {
            now: at(0),
            net: Net::new(seed),
            ca: Node::new(CA, config.clone()),
            gw: Node::new(GW, config),
        }
    }

    /// Lets both applications act and puts every datagram on the wire.
    pub fn settle(&mut self) {
        loop {
            let busy = self.ca.serve(self.now) | self.gw.serve(self.now);
            let mut sent = false;
            for node in [&mut self.ca, &mut self.gw] {
                while let Some(t) = node.ep.poll_transmit() {
                    self.net.send(self.now, node.addr, t);
                    sent = true;
                }
            }
            if !busy && !sent {
                return;
            }
        }
    }

    /// Jumps to the next deadline or delivery and handles it; false once
    /// nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.settle();
        let next = [
            self.ca.ep.poll_timeout(),
            self.gw.ep.poll_timeout(),
            self.ca.next_answer(),
            self.gw.next_answer(),
            self.net.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        for p in self.net.take_due(self.now) {
            let node = if p.to == CA {
                &mut self.ca
            } else {
                &mut self.gw
            };
            node.ep.handle_datagram(self.now, p.from, &p.payload);
        }
        self.ca.ep.handle_timeout(self.now);
        self.gw.ep.handle_timeout(self.now);
        true
    }

    /// Runs until nothing is left to happen, or until `end`.
    pub fn run_until(&mut self, end: Instant) {
        let mut steps = 0;
        while self.now < end && self.step() {
            steps += 1;
            assert!(steps < 1_000_000, "the simulation does not settle");
        }
        self.settle();
    }
}
