//! The load generator's core, sans-IO: many CTAs (the firmware core, each
//! with several lines) and the calls placed between their lines. Input is
//! datagrams per CTA and timeouts; output is datagrams per CTA.
//!
//! A call: off-hook, wait for dial tone, the four digits at once, then wait
//! until the caller has its key installed and the called line rings holding
//! its key (the setup latency runs from the last digit to there). Then the
//! callee answers (a set share of calls) or the caller abandons, both hang
//! up, and the lines go back to the pool once idle.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cablekey_cta_firmware::line::Phase;
use cablekey_cta_firmware::{Config, Gateway, Registration, TerminalEvent};
use cablekey_protocol::mgcp::transaction::Transmit;
use cablekey_protocol::mgcp::TransactionId;
use cablekey_protocol::secret::Fingerprint;
use cablekey_protocol::time::Instant;

use super::device::{Enrolled, KeyRecorder, Silent};

type Cta = Gateway<KeyRecorder, Silent, Enrolled>;

/// Subscriber numbers are 4 digits from here (the default dial plan's `[1-7]xxx`).
const FIRST_NUMBER: usize = 1000;
pub const MAX_LINES_TOTAL: usize = 7999 - FIRST_NUMBER;
/// Step limits are checked this often.
const SWEEP: Duration = Duration::from_millis(20);

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub ctas: usize,
    pub lines: usize,
    pub calls: u64,
    pub duration: Duration,
    pub concurrency: usize,
    /// Calls answered (then hung up) per hundred; the others are abandoned
    /// while ringing.
    pub answer_percent: u64,
    /// Longest wait for any one step of a call.
    pub step_limit: Duration,
    /// Concurrency grows linearly to its level over this long.
    pub ramp: Duration,
}

/// Endpoint names and numbers both sides use.
pub fn domain(cta: usize) -> String {
    format!("cta{}.bench", cta + 1)
}

pub fn endpoint(cta: usize, line: usize) -> String {
    format!("aaln/{}@{}", line + 1, domain(cta))
}

pub fn number(global_line: usize) -> String {
    (FIRST_NUMBER + global_line).to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    DialTone,
    Keys,
    Connecting,
    Releasing,
}

struct Call {
    caller: usize,
    callee: usize,
    step: Step,
    since: Instant,
    digits_at: Instant,
    answer: bool,
    failed: bool,
}

/// What the run saw; the driver adds times and CPU.
#[derive(Default)]
pub struct Tally {
    pub started: u64,
    pub setups: u64,
    pub answered: u64,
    pub released: u64,
    /// Lines taken out of the pool after a call on them got stuck.
    pub quarantined: u64,
    pub failures: BTreeMap<&'static str, u64>,
    /// Last digit to ringing with keys, per successful setup, µs.
    pub setup_us: Vec<u32>,
    /// Every key a CTA installed, by call id.
    pub keys: HashMap<String, Fingerprint>,
    pub first_start: Option<Instant>,
    pub last_setup: Option<Instant>,
}

pub struct Fleet {
    ctas: Vec<Cta>,
    plan: Plan,
    owner: Vec<Option<usize>>,
    free_lines: VecDeque<usize>,
    slots: Vec<Option<Call>>,
    free_slots: Vec<usize>,
    active: usize,
    starting: bool,
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    scheduled: Vec<Option<Instant>>,
    next_sweep: Option<Instant>,
    pub tally: Tally,
}

/// Transaction ids per CTA: each CTA's ids start in a range of its own, so
/// the controller's history never confuses two of them (and a log shows
/// which CTA a transaction belongs to).
const TID_RANGE: u32 = 1_000_000;

impl Fleet {
    pub fn new(plan: Plan, call_agent: SocketAddr, media_ip: IpAddr) -> Fleet {
        let ctas: Vec<Cta> = (0..plan.ctas)
            .map(|i| {
                let mut c = Config::new(&domain(i), call_agent, media_ip);
                c.lines = plan.lines;
                c.first_connection_id = 1;
                c.transaction.first_tid = TransactionId(1 + (i as u32 % 999) * TID_RANGE);
                // Far more calls per device than a home's: room for every
                // transaction of the 30 s history.
                c.transaction.max_history = 1 << 16;
                c.transaction.max_outstanding = 64;
                c.transaction.indexed = true;
                Gateway::new(c, KeyRecorder::default(), Silent, Enrolled)
            })
            .collect();
        let total = plan.ctas * plan.lines;
        Fleet {
            owner: vec![None; total],
            free_lines: (0..total).collect(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            active: 0,
            starting: false,
            is_dirty: vec![false; ctas.len()],
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            scheduled: vec![None; ctas.len()],
            next_sweep: None,
            tally: Tally::default(),
            ctas,
            plan,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn len(&self) -> usize {
        self.ctas.len()
    }

    /// Power-up: every CTA sends its RSIP.
    pub fn restart_all(&mut self, now: Instant) {
        for i in 0..self.ctas.len() {
            self.ctas[i].restart(now);
            self.touched(i);
        }
    }

    pub fn registered(&self) -> usize {
        self.ctas
            .iter()
            .filter(|c| c.registration() == Registration::Registered)
            .count()
    }

    /// Starts placing calls.
    pub fn begin(&mut self, now: Instant) {
        self.starting = true;
        self.tally.first_start = Some(now);
        self.next_sweep = Some(now);
        self.start_calls(now);
    }

    /// Calls are still running, or still to be placed.
    pub fn busy(&self) -> bool {
        self.starting || self.active > 0
    }

    /// Stops placing new calls (the calls in flight finish).
    pub fn stop_starting(&mut self) {
        self.starting = false;
    }

    pub fn handle_datagram(&mut self, now: Instant, cta: usize, from: SocketAddr, bytes: &[u8]) {
        let Some(gw) = self.ctas.get_mut(cta) else {
            return;
        };
        gw.handle_datagram(now, from, bytes);
        self.touched(cta);
        self.check(now, cta);
        // Lines freed by this datagram take the next calls at once.
        self.start_calls(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, cta))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.scheduled[cta] != Some(at) {
                continue;
            }
            self.scheduled[cta] = None;
            self.ctas[cta].handle_timeout(now);
            self.touched(cta);
            self.check(now, cta);
        }
        if self.next_sweep.is_some_and(|t| t <= now) {
            self.next_sweep = Some(now + SWEEP);
            self.sweep(now);
            self.start_calls(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        timer.into_iter().chain(self.next_sweep).min()
    }

    /// The next datagram to send and the CTA sending it.
    pub fn poll_transmit(&mut self) -> Option<(usize, Transmit)> {
        while let Some(&cta) = self.dirty.last() {
            if let Some(t) = self.ctas[cta].poll_transmit() {
                return Some((cta, t));
            }
            self.dirty.pop();
            self.is_dirty[cta] = false;
            self.schedule(cta);
        }
        None
    }

    /// MGCP retransmissions and timeouts over all CTAs.
    pub fn transaction_counts(&self) -> (u64, u64) {
        self.ctas.iter().fold((0, 0), |(r, t), c| {
            let n = c.transactions().counters();
            (r + n.retransmissions, t + n.timeouts)
        })
    }

    fn touched(&mut self, cta: usize) {
        if !self.is_dirty[cta] {
            self.is_dirty[cta] = true;
            self.dirty.push(cta);
        }
    }

    fn schedule(&mut self, cta: usize) {
        if let Some(at) = self.ctas[cta].poll_timeout() {
            if self.scheduled[cta].is_none_or(|s| at < s) {
                self.scheduled[cta] = Some(at);
                self.timers.push(Reverse((at, cta)));
            }
        }
    }

    fn split(&self, global: usize) -> (usize, usize) {
        (global / self.plan.lines, global % self.plan.lines)
    }

    fn phase(&self, global: usize) -> Phase {
        let (c, l) = self.split(global);
        self.ctas[c].phase(l).unwrap_or(Phase::Idle)
    }

    fn terminal(&mut self, now: Instant, global: usize, ev: TerminalEvent) {
        let (c, l) = self.split(global);
        self.ctas[c].handle_terminal(now, l, ev);
        self.touched(c);
    }

    /// The key installed on a line.
    fn installed(&self, global: usize) -> Option<Fingerprint> {
        let (c, l) = self.split(global);
        self.ctas[c].media().on_line(l)
    }

    /// The line rings and holds the key of its connection (not installed
    /// until the answer tells it where the media goes).
    fn ringing_with_key(&self, global: usize) -> bool {
        let (c, l) = self.split(global);
        let gw = &self.ctas[c];
        gw.phase(l) == Some(Phase::Ringing)
            && gw
                .connections()
                .any(|conn| conn.line == l && gw.security().holds_key(conn.id))
    }

    fn idle(&self, global: usize) -> bool {
        let (c, l) = self.split(global);
        let gw = &self.ctas[c];
        gw.phase(l) == Some(Phase::Idle) && !gw.connections().any(|conn| conn.line == l)
    }

    fn hook_off(&self, global: usize) -> bool {
        let (c, l) = self.split(global);
        self.ctas[c].hook(l) == Some(cablekey_cta_firmware::line::Hook::Off)
    }

    /// After input to `cta`: note its keys, move its lines' calls on.
    fn check(&mut self, now: Instant, cta: usize) {
        while self.ctas[cta].poll_event().is_some() {}
        let installs = std::mem::take(&mut self.ctas[cta].media_mut().installs);
        for i in installs {
            let seen = self.tally.keys.entry(i.call_id).or_insert(i.fingerprint);
            if *seen != i.fingerprint {
                *self
                    .tally
                    .failures
                    .entry("two keys for one call")
                    .or_default() += 1;
            }
        }
        for l in 0..self.plan.lines {
            if let Some(slot) = self.owner[cta * self.plan.lines + l] {
                self.advance(now, slot);
            }
        }
    }

    fn fail(&mut self, slot: usize, why: &'static str) {
        if let Some(call) = self.slots[slot].as_mut() {
            if !call.failed {
                call.failed = true;
                *self.tally.failures.entry(why).or_default() += 1;
            }
        }
    }

    /// Hangs up what is off hook and waits for both lines to go idle.
    fn release(&mut self, now: Instant, slot: usize) {
        let Some(call) = self.slots[slot].as_mut() else {
            return;
        };
        call.step = Step::Releasing;
        call.since = now;
        let (a, b) = (call.caller, call.callee);
        for line in [a, b] {
            if self.hook_off(line) {
                self.terminal(now, line, TerminalEvent::OnHook);
            }
        }
    }

    fn advance(&mut self, now: Instant, slot: usize) {
        let Some(call) = self.slots[slot].as_ref() else {
            return;
        };
        let (a, b, answer) = (call.caller, call.callee, call.answer);
        match call.step {
            Step::DialTone => {
                if self.phase(a) == Phase::DialTone {
                    for d in number(b).chars() {
                        self.terminal(now, a, TerminalEvent::Digit(d));
                    }
                    if let Some(call) = self.slots[slot].as_mut() {
                        (call.step, call.since, call.digits_at) = (Step::Keys, now, now);
                    }
                }
            }
            Step::Keys => {
                if self.installed(a).is_some() && self.ringing_with_key(b) {
                    let t = now.saturating_since(call.digits_at);
                    self.tally.setups += 1;
                    self.tally.last_setup = Some(now);
                    self.tally
                        .setup_us
                        .push(u32::try_from(t.as_micros()).unwrap_or(u32::MAX));
                    if answer {
                        self.terminal(now, b, TerminalEvent::OffHook);
                        if let Some(call) = self.slots[slot].as_mut() {
                            (call.step, call.since) = (Step::Connecting, now);
                        }
                    } else {
                        self.release(now, slot);
                    }
                } else if self.phase(a) == Phase::Busy {
                    self.fail(slot, "refused (busy or reorder tone)");
                    self.release(now, slot);
                }
            }
            Step::Connecting => {
                if self.phase(a) == Phase::Connected && self.phase(b) == Phase::Connected {
                    if let (Some(ka), Some(kb)) = (self.installed(a), self.installed(b)) {
                        if ka != kb {
                            self.fail(slot, "the two ends hold different keys");
                        }
                        self.tally.answered += 1;
                        self.release(now, slot);
                    }
                }
            }
            Step::Releasing => {
                if self.idle(a) && self.idle(b) {
                    self.finish(slot, true);
                }
            }
        }
    }

    /// The call is over; its lines go back to the pool (or not, if stuck).
    fn finish(&mut self, slot: usize, lines_ok: bool) {
        let Some(call) = self.slots[slot].take() else {
            return;
        };
        for line in [call.caller, call.callee] {
            self.owner[line] = None;
            if lines_ok {
                self.free_lines.push_back(line);
            }
        }
        if lines_ok {
            self.tally.released += 1;
        } else {
            self.tally.quarantined += 2;
        }
        self.free_slots.push(slot);
        self.active -= 1;
    }

    /// Calls stuck in a step longer than the limit fail.
    fn sweep(&mut self, now: Instant) {
        let limit = self.plan.step_limit;
        for slot in 0..self.slots.len() {
            let Some(call) = self.slots[slot].as_ref() else {
                continue;
            };
            if now.saturating_since(call.since) < limit {
                continue;
            }
            match call.step {
                Step::DialTone => self.fail(slot, "timeout: no dial tone"),
                Step::Keys => self.fail(slot, "timeout: no ringing with keys"),
                Step::Connecting => self.fail(slot, "timeout: not connected"),
                Step::Releasing => {
                    self.fail(slot, "timeout: lines not idle after hang-up");
                    self.finish(slot, false);
                    continue;
                }
            }
            self.release(now, slot);
        }
    }

    fn start_calls(&mut self, now: Instant) {
        let Some(t0) = self.tally.first_start else {
            return;
        };
        if !self.starting {
            return;
        }
        let elapsed = now.saturating_since(t0);
        if self.tally.started >= self.plan.calls || elapsed >= self.plan.duration {
            self.starting = false;
            return;
        }
        let ramp = self.plan.ramp.as_secs_f64().max(1e-3);
        let share = (elapsed.as_secs_f64() / ramp).min(1.0);
        let allowed = ((self.plan.concurrency as f64 * share) as usize).max(1);
        while self.active < allowed
            && self.tally.started < self.plan.calls
            && self.free_lines.len() >= 2
        {
            let (Some(a), Some(b)) = (self.free_lines.pop_front(), self.free_lines.pop_front())
            else {
                break;
            };
            let answer = self.tally.started % 100 < self.plan.answer_percent;
            let call = Call {
                caller: a,
                callee: b,
                step: Step::DialTone,
                since: now,
                digits_at: now,
                answer,
                failed: false,
            };
            let slot = match self.free_slots.pop() {
                Some(s) => {
                    self.slots[s] = Some(call);
                    s
                }
                None => {
                    self.slots.push(Some(call));
                    self.slots.len() - 1
                }
            };
            self.owner[a] = Some(slot);
            self.owner[b] = Some(slot);
            self.active += 1;
            self.tally.started += 1;
            self.terminal(now, a, TerminalEvent::OffHook);
        }
    }
}
