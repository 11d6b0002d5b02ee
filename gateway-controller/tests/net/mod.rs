//! An in-test network: the controller core and real CTA firmware cores,
//! datagrams passed by hand on a virtual clock, with optional loss and
//! duplication, and a fake media gateway for anchored calls. Every
//! controller transmit is checked against the escrow invariant as it leaves.
#![allow(dead_code)]

mod mgw;
pub use mgw::*;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cablekey_cta_firmware::{
    ConnId, Enrollment, Gateway, MediaController, MediaError, MediaParams, Role, SecurityApp,
    Signal, Surveillance, Terminal, TerminalEvent,
};
use cablekey_gateway_controller::{
    Config, Controller, EscrowFailure, Event, KeyMode, KeySource, Kind, RecordMeta, Registry,
};
use cablekey_protocol::secret::{Fingerprint, SecretBytes};
use cablekey_protocol::time::Instant;

/// A datagram older than this is gone: the network's maximum lifetime as
/// RFC 3435 assumes it (the 30 s history covers T-MAX 20 s plus this), so a
/// late retransmission never meets a gateway that forgot the transaction.
pub const MAX_AGE: Duration = Duration::from_secs(10);

pub const CA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2727);

#[derive(Default)]
pub struct Media {
    pub contexts: BTreeMap<ConnId, (SecretBytes, MediaParams)>,
    pub installed: Vec<Fingerprint>,
    pub wipes: usize,
    /// Refuse every context (the CTA then refuses the CRCX).
    pub refuse: bool,
    /// Each context's intercept setting (absent: none).
    pub taps: BTreeMap<ConnId, Surveillance>,
}

impl MediaController for Media {
    fn install(
        &mut self,
        conn: ConnId,
        key: &SecretBytes,
        p: &MediaParams,
    ) -> Result<(), MediaError> {
        if self.refuse {
            return Err(MediaError::NoResources);
        }
        self.installed.push(key.fingerprint());
        self.taps.remove(&conn);
        self.contexts.insert(conn, (key.duplicate(), *p));
        Ok(())
    }

    fn wipe(&mut self, conn: ConnId) {
        if self.contexts.remove(&conn).is_some() {
            self.wipes += 1;
        }
        self.taps.remove(&conn);
    }

    /// Intercept changes of an installed context, without a new install
    /// (tests count installs).
    fn surveil(&mut self, conn: ConnId, s: Option<Surveillance>) {
        match s {
            Some(s) if self.contexts.contains_key(&conn) => self.taps.insert(conn, s),
            _ => self.taps.remove(&conn),
        };
    }
}

#[derive(Default)]
pub struct Phone {
    pub playing: Vec<(usize, Signal)>,
    pub heard: Vec<(usize, Signal)>,
}

impl Terminal for Phone {
    fn signal(&mut self, line: usize, signal: Signal, on: bool) {
        self.playing.retain(|p| *p != (line, signal));
        if on {
            self.heard.push((line, signal));
            if signal.timeout().is_some() {
                self.playing.push((line, signal));
            }
        }
    }
}

pub struct App;

impl SecurityApp for App {
    fn enrollment(&self) -> Enrollment {
        Enrollment::Enrolled
    }

    fn authenticate(&mut self, _challenge: &[u8], _out: &mut [u8; 64]) -> Option<usize> {
        None
    }
}

pub type Cta = Gateway<Media, Phone, App>;

/// What the escrow layer does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscrowMode {
    /// Confirms at once.
    Ok,
    /// Fails at once.
    Fail,
    /// Keeps requests in `escrow_queue` for the test to answer.
    Manual,
}

/// A tiny deterministic generator for loss, duplication and keys.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Seeded keys for tests; production passes an OS generator.
impl KeySource for Rng {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next() as u8;
        }
    }
}

pub struct Net {
    pub ctrl: Controller<Rng>,
    pub ctas: Vec<Cta>,
    pub now: Instant,
    /// In flight: from, to, payload, and when it was sent.
    pub wire: VecDeque<(SocketAddr, SocketAddr, Vec<u8>, Instant)>,
    pub loss: u64,
    pub dup: u64,
    /// Everything sent to this address is lost.
    pub blackhole: Option<SocketAddr>,
    rng: Rng,
    pub escrow: EscrowMode,
    pub escrow_queue: VecDeque<(String, RecordMeta)>,
    /// Base64 of every key handed to escrow, by call.
    pub keys: BTreeMap<String, String>,
    pub key_fps: BTreeMap<String, Fingerprint>,
    pub escrowed_ok: BTreeSet<String>,
    pub events: Vec<Event>,
    /// `x-dir:` values of the CRCX each endpoint received, in order.
    pub sides: BTreeMap<String, Vec<String>>,
    /// How each CRCX to a CTA handed over the key: `k` (K itself) or
    /// `derived` (`x-key:derived`), by endpoint, in order.
    pub key_items: BTreeMap<String, Vec<String>>,
    /// The calling endpoint of each escrowed call.
    pub callers: BTreeMap<String, String>,
    pub sent_by_ctrl: usize,
    /// The controller derives keys: every caller must get `x-key:derived`
    /// and never K.
    pub derived_mode: bool,
    /// The media gateway of anchored calls (idle otherwise).
    pub mgw: FakeMgw,
}

pub fn cta_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, i as u8 + 1)), 2427)
}

pub fn line_name(cta: usize, line: usize) -> String {
    format!("aaln/{}@cta{}.example", line + 1, cta)
}

/// Number of line `line` on CTA `cta`: 1001, 1002, 2001, ...
pub fn number(cta: usize, line: usize) -> String {
    format!("{}00{}", cta + 1, line + 1)
}

impl Net {
    /// `n` CTAs with 2 lines each, every line in the dial plan.
    pub fn new(n: usize, config: Config, seed: u64) -> Net {
        let mut reg = Registry::new();
        for c in 0..n {
            for l in 0..2 {
                reg.add(&line_name(c, l), Kind::Line, Some(&number(c, l)), None)
                    .unwrap();
            }
        }
        let keys = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        let derived_mode = config.key_mode == KeyMode::Derived;
        let ctrl = Controller::new(config, reg, keys);
        let ctas = (0..n)
            .map(|c| {
                let mut cfg = cablekey_cta_firmware::Config::new(
                    &format!("cta{c}.example"),
                    CA,
                    cta_addr(c).ip(),
                );
                cfg.lines = 2;
                cfg.first_connection_id = (c as u32 + 1) << 16;
                cfg.transaction.first_tid =
                    cablekey_protocol::mgcp::TransactionId(1000 * (c as u32 + 1));
                Gateway::new(cfg, Media::default(), Phone::default(), App)
            })
            .collect();
        Net {
            ctrl,
            ctas,
            now: Instant::from_micros(1_000_000),
            wire: VecDeque::new(),
            loss: 0,
            dup: 0,
            blackhole: None,
            rng: Rng(seed | 1),
            escrow: EscrowMode::Ok,
            escrow_queue: VecDeque::new(),
            keys: BTreeMap::new(),
            key_fps: BTreeMap::new(),
            escrowed_ok: BTreeSet::new(),
            events: Vec::new(),
            sides: BTreeMap::new(),
            key_items: BTreeMap::new(),
            callers: BTreeMap::new(),
            sent_by_ctrl: 0,
            derived_mode,
            mgw: FakeMgw::default(),
        }
    }

    /// Replaces the controller by a new process that knows the CTAs'
    /// addresses from its configuration (fresh call and transaction ids),
    /// and starts it; nothing is delivered yet.
    pub fn restart_controller(&mut self) {
        let mut reg = Registry::new();
        for c in 0..self.ctas.len() {
            for l in 0..2 {
                let (name, n) = (line_name(c, l), number(c, l));
                reg.add(&name, Kind::Line, Some(&n), Some(cta_addr(c)))
                    .unwrap();
            }
        }
        let config = Config {
            first_call_number: 1 << 40,
            transaction: cablekey_protocol::mgcp::transaction::Config {
                first_tid: cablekey_protocol::mgcp::TransactionId(500_000),
                ..Default::default()
            },
            ..Config::default()
        };
        self.ctrl = Controller::new(config, reg, Rng(99));
        self.ctrl.start(self.now);
    }

    /// Restarts every CTA and settles: all registered, lines idle.
    pub fn boot(&mut self) {
        for c in 0..self.ctas.len() {
            self.ctas[c].restart(self.now);
        }
        self.settle();
    }

    fn collect(&mut self) {
        while let Some(t) = self.ctrl.poll_transmit() {
            self.check_invariant(&t.payload);
            if t.to == MGW {
                self.check_no_key_to_mgw(&t.payload);
            }
            self.note_sides(&t.payload);
            self.sent_by_ctrl += 1;
            self.wire.push_back((CA, t.to, t.payload, self.now));
        }
        for (c, cta) in self.ctas.iter_mut().enumerate() {
            while let Some(t) = cta.poll_transmit() {
                self.wire
                    .push_back((cta_addr(c), t.to, t.payload, self.now));
            }
        }
        while let Some(ev) = self.ctrl.poll_event() {
            if let Event::Escrow {
                call_id,
                record_meta: meta,
                key,
            } = &ev
            {
                self.keys
                    .insert(call_id.clone(), STANDARD.encode(key.expose()));
                self.key_fps.insert(call_id.clone(), key.fingerprint());
                self.callers
                    .insert(call_id.clone(), meta.caller.endpoint.to_ascii_lowercase());
                self.escrow_queue.push_back((call_id.clone(), meta.clone()));
            }
            self.events.push(ev);
        }
    }

    /// The invariant: a key's base64 never leaves before its escrow is
    /// confirmed, nor does `x-key:derived` (it hands the caller K as surely
    /// as `k:` does). A derived K never goes to the caller, whose session
    /// key made it.
    pub fn check_invariant(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        for (call, b64) in &self.keys {
            if !self.escrowed_ok.contains(call) {
                assert!(
                    !text.contains(b64.as_str()),
                    "key of {call} sent before escrow"
                );
            }
        }
        if let Some(call) = derived_marker_call(&text) {
            assert!(
                self.escrowed_ok.contains(&call),
                "x-key:derived for {call} sent before escrow:\n{text}"
            );
        }
        if !self.derived_mode {
            return;
        }
        let to = command_endpoint(&text);
        for (call, b64) in &self.keys {
            if self.callers.get(call) == to.as_ref() {
                assert!(
                    !text.contains(b64.as_str()),
                    "derived key of {call} sent to its caller"
                );
            }
        }
    }

    /// The media gateway never gets a key, escrowed or not.
    pub fn check_no_key_to_mgw(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        for (call, b64) in &self.keys {
            assert!(
                !text.contains(b64.as_str()),
                "key of {call} sent to the MGW"
            );
        }
        let lower = text.to_ascii_lowercase();
        assert!(
            !lower.contains("k:") && !lower.contains("crypto"),
            "key material sent to the MGW:\n{text}"
        );
    }

    fn note_sides(&mut self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        if !text.starts_with("CRCX ") {
            return;
        }
        let endpoint = text
            .split_whitespace()
            .nth(2)
            .unwrap_or("")
            .to_ascii_lowercase();
        let item = if text.contains("k:base64:") {
            "k"
        } else if text.contains("x-key:derived") {
            "derived"
        } else {
            "none"
        };
        self.key_items
            .entry(endpoint.clone())
            .or_default()
            .push(item.into());
        if let Some(i) = text.find("x-dir:") {
            let side: String = text[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let seen = self.sides.entry(endpoint).or_default();
            if seen.last() != Some(&side) {
                seen.push(side);
            }
        }
    }

    fn answer_escrows(&mut self) {
        while self.escrow != EscrowMode::Manual {
            let Some((call, _)) = self.escrow_queue.pop_front() else {
                break;
            };
            self.confirm(&call, self.escrow == EscrowMode::Ok);
        }
    }

    /// The escrow layer's answer for `call`.
    pub fn confirm(&mut self, call: &str, ok: bool) {
        let result = if ok {
            self.escrowed_ok.insert(call.to_string());
            Ok(())
        } else {
            Err(EscrowFailure("store refused the write".into()))
        };
        self.ctrl.handle_escrowed(self.now, call, result);
        self.collect();
    }

    /// Delivers one datagram, subject to loss and duplication.
    fn deliver_one(&mut self) -> bool {
        let Some((from, to, payload, sent)) = self.wire.pop_front() else {
            return false;
        };
        if self.now - sent > MAX_AGE || self.blackhole == Some(to) {
            return true;
        }
        if self.loss > 0 && self.rng.chance(self.loss) {
            return true;
        }
        if std::env::var_os("NET_TRACE").is_some() {
            eprintln!("{from} -> {to}\n{}", String::from_utf8_lossy(&payload));
        }
        let times = if self.dup > 0 && self.rng.chance(self.dup) {
            2
        } else {
            1
        };
        for _ in 0..times {
            self.dispatch(from, to, &payload);
        }
        true
    }

    /// Delivers everything in flight and what it causes, at the current
    /// time. Bounded.
    pub fn flush(&mut self) {
        self.collect();
        self.answer_escrows();
        for _ in 0..10_000 {
            if !self.deliver_one() {
                return;
            }
            self.collect();
            self.answer_escrows();
        }
        panic!("the network did not go quiet");
    }

    /// Delivers (or drops) the datagram at `i` of those in flight, without
    /// delivering what it causes.
    pub fn deliver_at(&mut self, i: usize, copies: usize) {
        let Some((from, to, payload, sent)) = self.wire.remove(i) else {
            return;
        };
        let copies = if self.now - sent > MAX_AGE { 0 } else { copies };
        if std::env::var_os("NET_TRACE").is_some() {
            let text = String::from_utf8_lossy(&payload);
            eprintln!("[x{copies}] {from} -> {to}\n{text}");
        }
        for _ in 0..copies {
            self.dispatch(from, to, &payload);
        }
        self.collect();
    }

    fn dispatch(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
        if to == CA {
            self.ctrl.handle_datagram(self.now, from, payload);
        } else if to == MGW {
            if let Some(answer) = self.mgw.handle(payload) {
                self.wire.push_back((MGW, from, answer, self.now));
            }
        } else if let Some(c) = (0..self.ctas.len()).find(|&c| cta_addr(c) == to) {
            self.ctas[c].handle_datagram(self.now, from, payload);
        }
    }

    /// Moves the clock and runs every timer once, delivering nothing.
    pub fn tick(&mut self, d: Duration) {
        self.now = self.now + d;
        self.ctrl.handle_timeout(self.now);
        for c in &mut self.ctas {
            c.handle_timeout(self.now);
        }
        self.collect();
    }

    /// Hook and digit input without delivering anything.
    pub fn press(&mut self, cta: usize, line: usize, ev: TerminalEvent) {
        self.ctas[cta].handle_terminal(self.now, line, ev);
        self.collect();
    }

    /// The earliest deadline of anyone.
    fn next_deadline(&self) -> Option<Instant> {
        let ctas = self.ctas.iter().filter_map(|c| c.poll_timeout());
        ctas.chain(self.ctrl.poll_timeout()).min()
    }

    /// Moves the clock `d` forward, running every deadline on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.flush();
        for _ in 0..100_000 {
            match self.next_deadline() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.ctrl.handle_timeout(self.now);
                    for c in &mut self.ctas {
                        c.handle_timeout(self.now);
                    }
                    self.flush();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("timers did not settle");
    }

    /// Lets retransmissions and answers finish (a few seconds of virtual time).
    pub fn settle(&mut self) {
        self.advance(Duration::from_secs(3));
    }

    pub fn terminal(&mut self, cta: usize, line: usize, ev: TerminalEvent) {
        self.ctas[cta].handle_terminal(self.now, line, ev);
        self.flush();
    }

    pub fn dial(&mut self, cta: usize, line: usize, digits: &str) {
        for d in digits.chars() {
            self.terminal(cta, line, TerminalEvent::Digit(d));
        }
    }

    pub fn playing(&self, cta: usize, line: usize, s: Signal) -> bool {
        self.ctas[cta].terminal().playing.contains(&(line, s))
    }

    pub fn heard(&self, cta: usize, line: usize, s: Signal) -> bool {
        self.ctas[cta].terminal().heard.contains(&(line, s))
    }

    /// Fingerprints of the keys a line's media controller holds now.
    pub fn keys_on(&self, cta: usize) -> Vec<Fingerprint> {
        self.ctas[cta]
            .media()
            .contexts
            .values()
            .map(|(k, _)| k.fingerprint())
            .collect()
    }

    /// Role and call id of each media context a CTA holds.
    pub fn roles_on(&self, cta: usize) -> Vec<(Role, String)> {
        self.ctas[cta]
            .media()
            .contexts
            .values()
            .map(|(_, p)| (p.role, p.call.as_str().to_string()))
            .collect()
    }

    /// The call id and key fingerprint of the one key escrowed so far.
    pub fn only_key(&self) -> (String, Fingerprint) {
        assert_eq!(self.key_fps.len(), 1, "one key, escrowed once");
        let (call, fp) = self.key_fps.iter().next().unwrap();
        (call.clone(), *fp)
    }

    pub fn no_key_anywhere(&self) -> bool {
        self.ctas
            .iter()
            .all(|c| c.media().contexts.is_empty() && c.security().keys_held() == 0)
    }

    pub fn refused(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Refused { reason, .. } => Some(format!("{reason:?}")),
                _ => None,
            })
            .collect()
    }

    pub fn ended(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Ended { reason, .. } => Some(format!("{reason:?}")),
                _ => None,
            })
            .collect()
    }

    pub fn connected(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Connected { .. }))
            .count()
    }
}

/// The endpoint a command is addressed to, lower case.
pub fn command_endpoint(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    let mut words = first.split_whitespace();
    let verb = words.next()?;
    if !verb.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    words.nth(1).map(str::to_ascii_lowercase)
}

/// The call id of a CRCX asking its endpoint to derive K.
pub fn derived_marker_call(text: &str) -> Option<String> {
    if !text.starts_with("CRCX ") || !text.to_ascii_lowercase().contains("x-key:derived") {
        return None;
    }
    let call = text.lines().find_map(|l| l.strip_prefix("C: "))?;
    Some(call.trim().to_string())
}

impl Net {
    /// Gives CTA `cta` a signaling session key, shared with the controller
    /// for both its lines (a device has one session with its call agent).
    pub fn provision(&mut self, cta: usize, key: &SecretBytes) {
        self.ctas[cta].set_session_key(Some(key.duplicate()));
        for l in 0..2 {
            self.ctrl
                .registry_mut()
                .set_session_key(&line_name(cta, l), key.duplicate())
                .unwrap();
        }
    }

    /// A session key per CTA in `ctas`, distinct, from a seed.
    pub fn provision_all(&mut self, ctas: &[usize], seed: u64) {
        for &c in ctas {
            let mut rng = Rng(seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let bytes: Vec<u8> = (0..32).map(|_| rng.next() as u8).collect();
            self.provision(c, &SecretBytes::new(&bytes).unwrap());
        }
    }
}

/// Two calls at once between four CTAs (`net`, not booted), five rounds,
/// 10% loss and 10% duplication on every datagram.
pub fn lossy_calls(mut net: Net, seed: u64) {
    net.loss = 10;
    net.dup = 10;
    net.boot();
    net.settle();
    for round in 0..5 {
        let pairs = if round % 2 == 0 {
            [(0, 1), (2, 3)]
        } else {
            [(1, 2), (3, 0)]
        };
        for (a, b) in pairs {
            net.terminal(a, 0, TerminalEvent::OffHook);
            net.settle();
            net.dial(a, 0, &number(b, 0));
            net.settle();
            assert!(
                net.playing(b, 0, Signal::Ringing),
                "seed {seed} round {round}: {a} rings {b}"
            );
        }
        for (_, b) in pairs {
            net.terminal(b, 0, TerminalEvent::OffHook);
        }
        net.settle();
        assert_eq!(
            net.connected(),
            2 * (round + 1),
            "seed {seed} round {round}"
        );
        for (a, b) in pairs {
            let theirs = net.keys_on(a);
            assert_eq!(theirs.len(), 1);
            assert_eq!(net.keys_on(b), theirs, "same K at both ends");
            assert!(
                net.key_fps.values().any(|fp| *fp == theirs[0]),
                "an escrowed K"
            );
        }
        for (a, b) in pairs {
            net.terminal(a, 0, TerminalEvent::OnHook);
            net.terminal(b, 0, TerminalEvent::OnHook);
        }
        net.settle();
        assert!(
            net.no_key_anywhere(),
            "seed {seed} round {round} leaves no key"
        );
        assert_eq!(net.ctrl.calls(), 0);
    }
    let c = net.ctrl.transactions().counters();
    assert!(c.retransmissions > 0 && c.duplicates > 0, "{c:?}");
}
