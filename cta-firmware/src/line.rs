//! One subscriber line: hook state, the signals it plays, the notification
//! request it works to (RFC 3435 section 4.4.1, lockstep mode) and digit
//! collection against the digit map.
//!
//! The line decides what to report; the gateway sends the NTFY. After a
//! notification the line waits for a new request and holds events in a
//! bounded quarantine buffer meanwhile.

use alloc::vec::Vec;
use core::time::Duration;

use cablekey_protocol::mgcp::ReturnCode;
use cablekey_protocol::time::Instant;

use crate::digitmap::{DigitMap, DigitTimer, Match, Symbol};
use crate::list::List;
use crate::ports::{Signal, Terminal, TerminalEvent};
use crate::request::{Embedded, Observed, Requested, Signals};
use crate::signal::SignalSet;

/// Most events reported in one NTFY; a full buffer is reported at once.
pub const MAX_OBSERVED: usize = 32;
/// Longest dial string.
pub const MAX_DIALED: usize = 40;
/// Events held between a notification and the next request.
pub const MAX_QUARANTINE: usize = 16;

/// Digit-map timers (PacketCable NCS defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitTimers {
    /// Before the first digit and while more digits are needed (Tpar).
    pub long: Duration,
    /// When the string could end here (Tcrit).
    pub critical: Duration,
}

impl Default for DigitTimers {
    fn default() -> Self {
        DigitTimers {
            long: Duration::from_secs(16),
            critical: Duration::from_secs(4),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    On,
    Off,
}

/// Where the line stands, for status displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Ringing,
    DialTone,
    Collecting,
    RingBack,
    Busy,
    Connected,
    OffHook,
}

/// What one input made the line do, beyond playing signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Send a NTFY with [`Line::observed`], then call [`Line::notified`].
    pub notify: bool,
    /// The handset went on hook while off hook.
    pub hang_up: bool,
    /// Hook flash with the swap-audio action.
    pub swap_audio: bool,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.notify |= o.notify;
        self.hang_up |= o.hang_up;
        self.swap_audio |= o.swap_audio;
    }
}

/// How quarantined events are treated by a new request (`Q:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Quarantine {
    #[default]
    Process,
    Discard,
}

/// A validated request from an RQNT (or a command carrying one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRequest {
    pub events: Vec<Requested>,
    /// `None`: the S: line was absent; time-out signals stop all the same.
    pub signals: Option<Signals>,
    pub digit_map: Option<DigitMap>,
    pub quarantine: Quarantine,
}

pub struct Line {
    index: usize,
    hook: Hook,
    timers: DigitTimers,
    playing: SignalSet,
    /// When each playing time-out signal ends, by signal.
    signal_ends: [Option<Instant>; 10],
    events: Vec<Requested>,
    digit_map: Option<DigitMap>,
    dialed: List<Symbol, MAX_DIALED>,
    digit_deadline: Option<Instant>,
    observed: List<Observed, MAX_OBSERVED>,
    /// A notification went out; waiting for the next request.
    waiting: bool,
    quarantine: List<Observed, MAX_QUARANTINE>,
}

impl Line {
    pub fn new(index: usize, timers: DigitTimers) -> Line {
        Line {
            index,
            hook: Hook::On,
            timers,
            playing: SignalSet::default(),
            signal_ends: [None; 10],
            events: Vec::new(),
            digit_map: None,
            dialed: List::default(),
            digit_deadline: None,
            observed: List::default(),
            waiting: false,
            quarantine: List::default(),
        }
    }

    pub fn hook(&self) -> Hook {
        self.hook
    }

    pub fn playing(&self) -> SignalSet {
        self.playing
    }

    pub fn has_digit_map(&self) -> bool {
        self.digit_map.is_some()
    }

    pub fn is_collecting(&self) -> bool {
        self.digit_deadline.is_some()
    }

    pub fn phase(&self, connected: bool) -> Phase {
        let p = self.playing;
        match self.hook {
            Hook::On if p.contains(Signal::Ringing) => Phase::Ringing,
            Hook::On => Phase::Idle,
            Hook::Off if p.contains(Signal::DialTone) => Phase::DialTone,
            Hook::Off if self.is_collecting() => Phase::Collecting,
            Hook::Off if p.contains(Signal::RingBack) => Phase::RingBack,
            Hook::Off if p.contains(Signal::Busy) || p.contains(Signal::Reorder) => Phase::Busy,
            Hook::Off if connected => Phase::Connected,
            Hook::Off => Phase::OffHook,
        }
    }

    /// The events to report, in the order observed.
    pub fn observed(&self) -> &[Observed] {
        self.observed.as_slice()
    }

    /// The NTFY for [`observed`](Self::observed) is on its way: clear the
    /// request and wait for the next one (lockstep).
    pub fn notified(&mut self) {
        self.observed.clear();
        self.dialed.clear();
        self.digit_deadline = None;
        self.events.clear();
        self.waiting = true;
    }

    /// Checks a request against the line before anything changes.
    pub fn check(&self, req: &NewRequest) -> Result<(), ReturnCode> {
        let off = self.hook == Hook::Off;
        if off && req.events.iter().any(Requested::is_hook_down) {
            return Err(ReturnCode::PHONE_OFF_HOOK);
        }
        if !off && req.events.iter().any(Requested::is_hook_up) {
            return Err(ReturnCode::PHONE_ON_HOOK);
        }
        if let Some(s) = req.signals {
            for sig in s.timed.iter() {
                match sig.needs_off_hook() {
                    Some(true) if !off => return Err(ReturnCode::PHONE_ON_HOOK),
                    Some(false) if off => return Err(ReturnCode::PHONE_OFF_HOOK),
                    _ => {}
                }
            }
        }
        let wants_map = |evs: &[Requested]| evs.iter().any(|r| r.actions.digit_map);
        let embedded_wants_map = req.events.iter().any(|r| {
            r.embedded
                .as_ref()
                .is_some_and(|e| e.digit_map.is_none() && wants_map(&e.events))
        });
        let has_map = req.digit_map.is_some() || self.digit_map.is_some();
        if !has_map && (wants_map(&req.events) || embedded_wants_map) {
            return Err(ReturnCode::NO_DIGIT_MAP);
        }
        Ok(())
    }

    /// Installs a request already passed by [`check`](Self::check).
    pub fn apply<T: Terminal>(&mut self, now: Instant, req: NewRequest, term: &mut T) -> Outcome {
        self.events = req.events;
        self.waiting = false;
        self.observed.clear();
        if let Some(map) = req.digit_map {
            self.digit_map = Some(map);
        }
        self.set_signals(now, req.signals.unwrap_or_default(), term);
        self.restart_collection(now);
        let held = core::mem::take(&mut self.quarantine);
        let mut out = Outcome::default();
        if req.quarantine == Quarantine::Process {
            for &ev in held.as_slice() {
                out.merge(self.observe(now, ev, term));
            }
        }
        out
    }

    /// Forgets every request and signal (restart); the hook stays as it is.
    pub fn reset<T: Terminal>(&mut self, now: Instant, term: &mut T) {
        self.set_signals(now, Signals::default(), term);
        self.events = Vec::new();
        self.digit_map = None;
        self.dialed.clear();
        self.digit_deadline = None;
        self.observed.clear();
        self.quarantine.clear();
        self.waiting = false;
    }

    pub fn terminal<T: Terminal>(
        &mut self,
        now: Instant,
        ev: TerminalEvent,
        term: &mut T,
    ) -> Outcome {
        let observed = match (ev, self.hook) {
            (TerminalEvent::OffHook, Hook::On) => {
                self.hook = Hook::Off;
                self.stop(Signal::Ringing, term);
                self.restart_collection(now);
                Observed::HookDown
            }
            (TerminalEvent::OnHook, Hook::Off) => {
                self.hook = Hook::On;
                self.dialed.clear();
                self.digit_deadline = None;
                // Tones go to the earpiece: nobody hears them on hook.
                for s in self.playing.iter() {
                    if s.needs_off_hook() == Some(true) {
                        self.stop(s, term);
                    }
                }
                let mut out = self.observe(now, Observed::HookUp, term);
                out.hang_up = true;
                return out;
            }
            (TerminalEvent::Flash, Hook::Off) => Observed::Flash,
            (TerminalEvent::Digit(c), Hook::Off) => match Symbol::from_char(c) {
                Some(s) if s != Symbol::TIMER => Observed::Digit(s),
                _ => return Outcome::default(),
            },
            _ => return Outcome::default(),
        };
        self.observe(now, observed, term)
    }

    pub fn handle_timeout<T: Terminal>(&mut self, now: Instant, term: &mut T) -> Outcome {
        let mut out = Outcome::default();
        for s in self.playing.iter() {
            if self.signal_ends[s as usize].is_some_and(|at| at <= now) {
                self.stop(s, term);
                out.merge(self.observe(now, Observed::OperationComplete, term));
            }
        }
        if self.digit_deadline.is_some_and(|at| at <= now) {
            self.digit_deadline = None;
            let _ = self.dialed.push(Symbol::TIMER);
            self.record(Observed::Digit(Symbol::TIMER));
            out.merge(self.notify());
        }
        out
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.signal_ends
            .iter()
            .flatten()
            .chain(self.digit_deadline.as_ref())
            .min()
            .copied()
    }

    fn observe<T: Terminal>(&mut self, now: Instant, ev: Observed, term: &mut T) -> Outcome {
        if self.waiting {
            // Full: the oldest events are the ones the call agent most needs.
            let _ = self.quarantine.push(ev);
            return Outcome::default();
        }
        let Some(i) = self.events.iter().position(|r| r.matches(ev)) else {
            return Outcome::default();
        };
        let actions = self.events[i].actions;
        let mut out = Outcome::default();
        if actions.ignore {
            return out;
        }
        if !actions.keep_signals {
            self.stop_timed(term);
        }
        out.swap_audio = actions.swap_audio;
        if actions.accumulate || actions.notify {
            self.record(ev);
        }
        if actions.digit_map {
            out.merge(self.collect(now, ev));
        }
        if let Some(embedded) = self.events[i].embedded.take() {
            self.apply_embedded(now, *embedded, term);
        }
        if actions.notify || self.observed.is_full() {
            out.merge(self.notify());
        }
        out
    }

    fn collect(&mut self, now: Instant, ev: Observed) -> Outcome {
        let Observed::Digit(sym) = ev else {
            return self.notify_with(ev);
        };
        self.record(ev);
        let (Some(map), true) = (&self.digit_map, self.dialed.push(sym)) else {
            return self.notify();
        };
        match map.check(self.dialed.as_slice()) {
            Match::Matched | Match::NoMatch => self.notify(),
            Match::Partial(t) => {
                let wait = match t {
                    DigitTimer::Critical => self.timers.critical,
                    DigitTimer::Long => self.timers.long,
                };
                self.digit_deadline = Some(now + wait);
                Outcome::default()
            }
        }
    }

    fn notify_with(&mut self, ev: Observed) -> Outcome {
        self.record(ev);
        self.notify()
    }

    fn notify(&mut self) -> Outcome {
        self.digit_deadline = None;
        Outcome {
            notify: true,
            ..Outcome::default()
        }
    }

    fn record(&mut self, ev: Observed) {
        let _ = self.observed.push(ev);
    }

    fn apply_embedded<T: Terminal>(&mut self, now: Instant, e: Embedded, term: &mut T) {
        self.events = e.events;
        if let Some(map) = e.digit_map {
            self.digit_map = Some(map);
        }
        if let Some(s) = e.signals {
            self.set_signals(now, s, term);
        }
        self.restart_collection(now);
    }

    /// Starts the first-digit timer if the request collects digits off hook.
    fn restart_collection(&mut self, now: Instant) {
        self.dialed.clear();
        let collects = self.events.iter().any(|r| r.actions.digit_map);
        self.digit_deadline = (collects && self.hook == Hook::Off && self.digit_map.is_some())
            .then(|| now + self.timers.long);
    }

    fn set_signals<T: Terminal>(&mut self, now: Instant, s: Signals, term: &mut T) {
        for old in self.playing.iter() {
            if !s.timed.contains(old) {
                self.stop(old, term);
            }
        }
        for new in s.timed.iter() {
            if !self.playing.contains(new) {
                self.playing.insert(new);
                self.signal_ends[new as usize] = new.timeout().map(|d| now + d);
                term.signal(self.index, new, true);
            }
        }
        for brief in s.brief.iter() {
            term.signal(self.index, brief, true);
        }
    }

    fn stop_timed<T: Terminal>(&mut self, term: &mut T) {
        for s in self.playing.iter() {
            self.stop(s, term);
        }
    }

    fn stop<T: Terminal>(&mut self, s: Signal, term: &mut T) {
        if self.playing.contains(s) {
            self.playing.remove(s);
            self.signal_ends[s as usize] = None;
            term.signal(self.index, s, false);
        }
    }
}
