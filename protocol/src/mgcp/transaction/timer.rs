//! The timers of one transaction: a fixed table, the next deadline is the minimum.

use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Send the command (or a response awaiting its 000) again.
    Retransmit,
    /// Stop waiting for a response to our command.
    GiveUp,
    /// The history period ended: forget the transaction.
    Expire,
}

const COUNT: usize = 3;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers([Option<Instant>; COUNT]);

impl Timers {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    pub fn stop_all(&mut self) {
        self.0 = [None; COUNT];
    }

    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.0[timer as usize].is_some_and(|at| at <= now)
    }

    pub fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// Every deadline set.
    pub fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.0.iter().flatten().copied()
    }
}
