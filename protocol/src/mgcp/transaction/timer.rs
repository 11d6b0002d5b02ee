//! The timers of one transaction (a fixed table, the next deadline is the
//! minimum), and the due times of many, indexed.

use alloc::collections::{BinaryHeap, VecDeque};
use core::cmp::Reverse;

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
const ALL: [Timer; COUNT] = [Timer::Retransmit, Timer::GiveUp, Timer::Expire];

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

    pub fn at(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    /// Every deadline set, and its timer.
    pub fn each(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        ALL.iter()
            .zip(&self.0)
            .filter_map(|(t, at)| Some((*t, (*at)?)))
    }
}

/// The deadlines of many transactions' timers, soonest first; an entry goes
/// stale when its timer is reset or stopped, and is skipped when it comes up.
///
/// Give-up and expiry are always set to now plus a fixed delay, so each of
/// their queues is in time order as it is filled: O(1) a deadline, however
/// long the history (a call agent keeps 30 s of it, millions of entries at
/// full load). Only retransmissions, whose delays vary, take a heap, and it
/// holds only the last few seconds.
pub(super) struct Deadlines<K> {
    retransmit: BinaryHeap<Reverse<(Instant, K)>>,
    /// Give-up, then expiry.
    fixed: [VecDeque<(Instant, K)>; 2],
}

impl<K: Copy + Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            retransmit: BinaryHeap::new(),
            fixed: [VecDeque::new(), VecDeque::new()],
        }
    }
}

impl<K: Copy + Ord> Deadlines<K> {
    pub fn push(&mut self, timer: Timer, at: Instant, key: K) {
        let q = match timer {
            Timer::Retransmit => return self.retransmit.push(Reverse((at, key))),
            Timer::GiveUp => &mut self.fixed[0],
            Timer::Expire => &mut self.fixed[1],
        };
        match q.back() {
            // Many transactions of one turn share the instant; a repeat of
            // one queued earlier in that run costs a spurious `on_timeout`.
            Some(&last) if last == (at, key) => return,
            Some(&(last, _)) if last > at => {}
            _ => return q.push_back((at, key)),
        }
        // Before the last: a timer queued again unchanged, or a clock that
        // went back (against the contract). A binary search, so rare.
        let i = q.partition_point(|&(t, _)| t < at);
        let same = q.range(i..).take_while(|&&(t, _)| t == at);
        if !same.into_iter().any(|&(_, k)| k == key) {
            q.insert(i, (at, key));
        }
    }

    /// The soonest deadline: when, whose, and which timer.
    pub fn peek(&self) -> Option<(Instant, K, Timer)> {
        self.soonest().map(|(timer, &(at, key))| (at, key, timer))
    }

    /// Drops the soonest deadline, which `peek` just showed was `timer`'s
    /// (so the queues are not compared again).
    pub fn pop(&mut self, timer: Timer) {
        match timer {
            Timer::Retransmit => {
                self.retransmit.pop();
            }
            Timer::GiveUp => {
                self.fixed[0].pop_front();
            }
            Timer::Expire => {
                self.fixed[1].pop_front();
            }
        }
    }

    /// The queue whose head is soonest, and that head. Borrowed, not
    /// copied: it runs for every message and timer of a busy call agent.
    fn soonest(&self) -> Option<(Timer, &(Instant, K))> {
        let heap = self
            .retransmit
            .peek()
            .map(|Reverse(e)| (Timer::Retransmit, e));
        let give_up = self.fixed[0].front().map(|e| (Timer::GiveUp, e));
        let expire = self.fixed[1].front().map(|e| (Timer::Expire, e));
        [heap, give_up, expire]
            .into_iter()
            .flatten()
            .min_by(|a, b| a.1.cmp(b.1))
    }

    /// Gives memory back as the queues drain: a burst must not stay behind
    /// (a CTA's heap budget is a few KiB per call, BENCHMARKS.md).
    pub fn shrink(&mut self) {
        fn fit(len: usize, cap: usize) -> Option<usize> {
            ((cap > 0 && len == 0) || (cap >= 64 && cap > 4 * len)).then_some(2 * len)
        }
        let h = &mut self.retransmit;
        if let Some(to) = fit(h.len(), h.capacity()) {
            h.shrink_to(to);
        }
        for q in &mut self.fixed {
            if let Some(to) = fit(q.len(), q.capacity()) {
                q.shrink_to(to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    fn drain(d: &mut Deadlines<u32>) -> Vec<(u64, u32, Timer)> {
        let mut out = Vec::new();
        while let Some((t, k, timer)) = d.peek() {
            out.push((t.as_micros() / 1000, k, timer));
            d.pop(timer);
        }
        out
    }

    #[test]
    fn deadlines_come_out_soonest_first_across_timers() {
        let mut d = Deadlines::default();
        d.push(Timer::Expire, at(30_000), 1);
        d.push(Timer::GiveUp, at(20_000), 1);
        d.push(Timer::Retransmit, at(400), 2);
        d.push(Timer::Retransmit, at(200), 1);
        d.push(Timer::Expire, at(30_100), 2);
        d.push(Timer::GiveUp, at(20_000), 0);
        assert_eq!(
            drain(&mut d),
            [
                (200, 1, Timer::Retransmit),
                (400, 2, Timer::Retransmit),
                (20_000, 1, Timer::GiveUp),
                (20_000, 0, Timer::GiveUp),
                (30_000, 1, Timer::Expire),
                (30_100, 2, Timer::Expire),
            ]
        );
    }

    #[test]
    fn every_deadline_comes_out_once_and_none_before_a_sooner_one() {
        // Pushes at "now + a fixed delay" (give-up, expiry) or a varied one
        // (retransmit) as the clock moves, with pops in between, against
        // a plain ordered set of what is queued.
        let mut d = Deadlines::default();
        let mut queued = alloc::collections::BTreeSet::new();
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let pop = |d: &mut Deadlines<u32>,
                   queued: &mut alloc::collections::BTreeSet<(u64, u32)>| {
            let (t, k, timer) = d.peek().expect("something queued");
            d.pop(timer);
            let soonest = queued.first().map(|e| e.0);
            assert_eq!(Some(t.as_micros()), soonest, "not the soonest");
            assert!(
                queued.remove(&(t.as_micros(), k)),
                "popped twice or never pushed"
            );
        };
        let mut now = 0u64;
        for i in 0..5000u32 {
            // Distinct keys, not in time order: many share an instant.
            let key = i.wrapping_mul(2_654_435_761);
            now += rnd(2);
            let (timer, at) = match rnd(3) {
                0 => (Timer::Retransmit, now + 1 + rnd(50)),
                1 => (Timer::GiveUp, now + 100),
                _ => (Timer::Expire, now + 300),
            };
            d.push(timer, Instant::from_micros(at), key);
            queued.insert((at, key));
            // About one pop per push: often near empty, where a new
            // deadline becomes the soonest.
            for _ in 0..rnd(3) {
                if !queued.is_empty() {
                    pop(&mut d, &mut queued);
                }
            }
        }
        while !queued.is_empty() {
            pop(&mut d, &mut queued);
        }
        assert!(d.peek().is_none());
    }

    #[test]
    fn a_fixed_timer_queued_again_unchanged_is_kept_once() {
        let mut d = Deadlines::default();
        d.push(Timer::Expire, at(100), 1);
        d.push(Timer::Expire, at(200), 2);
        d.push(Timer::Expire, at(100), 1);
        d.push(Timer::Expire, at(200), 2);
        assert_eq!(
            drain(&mut d),
            [(100, 1, Timer::Expire), (200, 2, Timer::Expire)]
        );
    }

    #[test]
    fn an_earlier_deadline_still_comes_out_in_order() {
        // A clock that went back: nothing is lost or late.
        let mut d = Deadlines::default();
        d.push(Timer::GiveUp, at(300), 1);
        d.push(Timer::GiveUp, at(500), 2);
        d.push(Timer::GiveUp, at(400), 3);
        let order: Vec<u32> = drain(&mut d).iter().map(|e| e.1).collect();
        assert_eq!(order, [1, 3, 2]);
    }
}
