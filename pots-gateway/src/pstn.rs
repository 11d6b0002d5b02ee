//! The telephone network behind the trunks, sans-IO.
//!
//! How to drive it (one monotonic clock; times never go back):
//! 1. After every input to the trunk gateway core, call [`Pstn::step`] with
//!    each trunk's [`LineView`] and feed the `(trunk, event)` pairs it
//!    pushes into the core (`Gateway::handle_terminal`); repeat until it
//!    pushes none. Call it too once [`Pstn::poll_timeout`] has passed.
//! 2. [`Pstn::call`] originates a call from the network (reverse
//!    origination), [`Pstn::hang_up`] and [`Pstn::answer`] act for the
//!    network party; [`Pstn::poll_event`] tells what happened.
//!
//! Signalling on a trunk, seen from the gateway core (loop-start style,
//! so the trunk speaks the line package the controller already uses):
//!
//! | network does | core sees | controller |
//! | --- | --- | --- |
//! | seizes a trunk for an incoming call | off-hook | `NTFY L/hd`, answers with `L/dl` = proceed to send |
//! | outpulses the called number | digits | `NTFY D/...`, routes to the CTA |
//! | is alerted for a call to it | — | `CRCX ... S: L/rg` with the key |
//! | answers | off-hook | `NTFY L/hd`, `MDCX sendrecv` both ends |
//! | releases | on-hook | `NTFY L/hu`, deletes both connections |
//! | is cleared back (the connection deleted) | on-hook | the trunk goes idle |
//!
//! Called numbers are personal data: `Debug` never shows them.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use cablekey_cta_firmware::line::Hook;
use cablekey_cta_firmware::{LineView, Signal, TerminalEvent};
use cablekey_protocol::time::Instant;

/// Longest called number the network outpulses (E.164 is 15 digits, plus
/// prefixes).
pub const MAX_NUMBER: usize = 32;

/// Events kept for [`Pstn::poll_event`]; older ones are dropped past this.
const MAX_EVENTS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// An alerted network party answers this long after alerting began;
    /// `None`: only when told to ([`Pstn::answer`]).
    pub answer_after: Option<Duration>,
    /// A seized trunk waits this long for proceed-to-send before giving up.
    pub proceed_wait: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            answer_after: Some(Duration::from_millis(300)),
            proceed_wait: Duration::from_secs(5),
        }
    }
}

/// Why the network could not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PstnError {
    #[error("the called number is not 1 to 32 digits 0-9, * or #")]
    BadNumber,
    #[error("no trunk is free")]
    AllTrunksBusy,
    #[error("no trunk {0}")]
    NoSuchTrunk(usize),
    #[error("trunk {0} is not in a call")]
    NotInCall(usize),
    #[error("trunk {0} is not being alerted")]
    NotAlerted(usize),
}

/// Who ended a call on a trunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The network party hung up.
    Network,
    /// The call agent deleted the trunk's connection (clear-back).
    ClearBack,
    /// The call agent refused the call (busy or reorder tone).
    Refused,
    /// The call agent stopped alerting before the answer.
    Abandoned,
    /// No proceed-to-send came.
    NoProceed,
}

/// What happened on a trunk (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PstnEvent {
    /// A call to the network: the far party is being alerted.
    Alerted {
        trunk: usize,
    },
    /// The far party answered.
    Answered {
        trunk: usize,
    },
    /// A call from the network: trunk seized.
    Seized {
        trunk: usize,
    },
    /// Proceed-to-send came; the number was outpulsed.
    Outpulsed {
        trunk: usize,
    },
    /// The trunk has a connection with its key: media flows.
    Through {
        trunk: usize,
    },
    Released {
        trunk: usize,
        why: Release,
    },
}

/// Where one trunk's network side stands.
#[derive(Clone, PartialEq, Eq)]
enum State {
    Idle,
    /// A call to the network; the far party answers at `answer_at`.
    Alerted {
        answer_at: Option<Instant>,
    },
    /// Told to answer; off-hook goes out at the next step.
    Answering,
    /// A call from the network: off-hook goes out at the next step.
    Seizing {
        number: String,
    },
    /// Seized; waiting for proceed-to-send until `until`.
    AwaitingProceed {
        number: String,
        until: Instant,
    },
    /// Off hook in a call (either direction); `through` once a connection
    /// existed, so losing it is a clear-back.
    InCall {
        through: bool,
    },
    /// Told to hang up; on-hook goes out at the next step.
    Releasing {
        why: Release,
    },
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Alerted { .. } => "Alerted",
            State::Answering => "Answering",
            State::Seizing { .. } => "Seizing",
            State::AwaitingProceed { .. } => "AwaitingProceed",
            State::InCall { through: false } => "InCall",
            State::InCall { through: true } => "Through",
            State::Releasing { .. } => "Releasing",
        })
    }
}

/// The network side of every trunk of one gateway.
#[derive(Debug)]
pub struct Pstn {
    config: Config,
    trunks: Vec<State>,
    events: VecDeque<PstnEvent>,
}

impl Pstn {
    pub fn new(config: Config, trunks: usize) -> Pstn {
        Pstn {
            config,
            trunks: vec![State::Idle; trunks],
            events: VecDeque::new(),
        }
    }

    pub fn trunks(&self) -> usize {
        self.trunks.len()
    }

    /// A call from the network to `number`: seizes the first idle trunk
    /// whose endpoint is free too (on hook, no connection, per `lines`)
    /// and returns it. Off-hook goes out at the next [`Self::step`].
    pub fn call(&mut self, number: &str, lines: &[LineView]) -> Result<usize, PstnError> {
        let digits = |c: char| c.is_ascii_digit() || c == '*' || c == '#';
        if number.is_empty() || number.len() > MAX_NUMBER || !number.chars().all(digits) {
            return Err(PstnError::BadNumber);
        }
        let free = |(i, s): &(usize, &State)| {
            **s == State::Idle
                && lines.get(*i).is_some_and(|v| {
                    v.hook == Hook::On && v.connections == 0 && v.playing.is_empty()
                })
        };
        let trunk = self
            .trunks
            .iter()
            .enumerate()
            .find(free)
            .map(|(i, _)| i)
            .ok_or(PstnError::AllTrunksBusy)?;
        self.trunks[trunk] = State::Seizing {
            number: number.into(),
        };
        Ok(trunk)
    }

    /// The network party on `trunk` hangs up.
    pub fn hang_up(&mut self, trunk: usize) -> Result<(), PstnError> {
        let state = self
            .trunks
            .get_mut(trunk)
            .ok_or(PstnError::NoSuchTrunk(trunk))?;
        match state {
            State::InCall { .. } | State::AwaitingProceed { .. } | State::Answering => {
                *state = State::Releasing {
                    why: Release::Network,
                };
                Ok(())
            }
            // Never went off hook: nothing to tell the gateway.
            State::Seizing { .. } => {
                *state = State::Idle;
                self.push(PstnEvent::Released {
                    trunk,
                    why: Release::Network,
                });
                Ok(())
            }
            _ => Err(PstnError::NotInCall(trunk)),
        }
    }

    /// The alerted network party on `trunk` answers now.
    pub fn answer(&mut self, trunk: usize) -> Result<(), PstnError> {
        let state = self
            .trunks
            .get_mut(trunk)
            .ok_or(PstnError::NoSuchTrunk(trunk))?;
        match state {
            State::Alerted { .. } => {
                *state = State::Answering;
                Ok(())
            }
            _ => Err(PstnError::NotAlerted(trunk)),
        }
    }

    /// Reacts to the trunks as the gateway core shows them at `now`.
    /// Trunks beyond `lines` are left alone.
    pub fn step(
        &mut self,
        now: Instant,
        lines: &[LineView],
        out: &mut Vec<(usize, TerminalEvent)>,
    ) {
        for (trunk, view) in lines.iter().copied().enumerate().take(self.trunks.len()) {
            let state = core::mem::replace(&mut self.trunks[trunk], State::Idle);
            self.trunks[trunk] = self.next(now, trunk, view, state, out);
        }
    }

    fn next(
        &mut self,
        now: Instant,
        trunk: usize,
        view: LineView,
        state: State,
        out: &mut Vec<(usize, TerminalEvent)>,
    ) -> State {
        let playing = |s: Signal| view.playing.contains(s);
        let refused = playing(Signal::Busy) || playing(Signal::Reorder);
        match state {
            State::Idle if view.hook == Hook::On && playing(Signal::Ringing) => {
                self.push(PstnEvent::Alerted { trunk });
                State::Alerted {
                    answer_at: self.config.answer_after.map(|d| now + d),
                }
            }
            State::Idle => State::Idle,
            State::Alerted { .. } if !playing(Signal::Ringing) => {
                self.released(trunk, Release::Abandoned)
            }
            State::Alerted { answer_at } if answer_at.is_some_and(|t| t <= now) => {
                self.off_hook(trunk, out)
            }
            s @ State::Alerted { .. } => s,
            State::Answering if !playing(Signal::Ringing) => {
                self.released(trunk, Release::Abandoned)
            }
            State::Answering => self.off_hook(trunk, out),
            State::Seizing { number } => {
                out.push((trunk, TerminalEvent::OffHook));
                self.push(PstnEvent::Seized { trunk });
                State::AwaitingProceed {
                    number,
                    until: now + self.config.proceed_wait,
                }
            }
            State::AwaitingProceed { number, .. } if playing(Signal::DialTone) => {
                out.extend(number.chars().map(|c| (trunk, TerminalEvent::Digit(c))));
                self.push(PstnEvent::Outpulsed { trunk });
                State::InCall { through: false }
            }
            State::AwaitingProceed { .. } if refused => self.on_hook(trunk, Release::Refused, out),
            State::AwaitingProceed { until, .. } if until <= now => {
                self.on_hook(trunk, Release::NoProceed, out)
            }
            s @ State::AwaitingProceed { .. } => s,
            State::InCall { .. } if refused => self.on_hook(trunk, Release::Refused, out),
            State::InCall { through: true } if view.connections == 0 => {
                self.on_hook(trunk, Release::ClearBack, out)
            }
            State::InCall { through: false } if view.connections > 0 => {
                self.push(PstnEvent::Through { trunk });
                State::InCall { through: true }
            }
            s @ State::InCall { .. } => s,
            State::Releasing { why } => self.on_hook(trunk, why, out),
        }
    }

    fn off_hook(&mut self, trunk: usize, out: &mut Vec<(usize, TerminalEvent)>) -> State {
        out.push((trunk, TerminalEvent::OffHook));
        self.push(PstnEvent::Answered { trunk });
        State::InCall { through: false }
    }

    fn on_hook(
        &mut self,
        trunk: usize,
        why: Release,
        out: &mut Vec<(usize, TerminalEvent)>,
    ) -> State {
        out.push((trunk, TerminalEvent::OnHook));
        self.released(trunk, why)
    }

    fn released(&mut self, trunk: usize, why: Release) -> State {
        self.push(PstnEvent::Released { trunk, why });
        State::Idle
    }

    /// The next time [`Self::step`] has something to do without input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trunks
            .iter()
            .filter_map(|s| match s {
                State::Alerted { answer_at } => *answer_at,
                State::AwaitingProceed { until, .. } => Some(*until),
                _ => None,
            })
            .min()
    }

    pub fn poll_event(&mut self) -> Option<PstnEvent> {
        self.events.pop_front()
    }

    /// A short description of trunk `trunk` (0-based) for consoles.
    pub fn describe(&self, trunk: usize) -> Option<String> {
        self.trunks.get(trunk).map(|s| format!("{s:?}"))
    }

    fn push(&mut self, ev: PstnEvent) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }
}

#[cfg(test)]
mod tests;
