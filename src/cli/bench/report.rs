//! What the load generator hands back to `bench calls` (one JSON line on
//! its stdout), the latency summary it prints, and the note on short runs
//! that `bench calls` and `bench core` both print.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A key a CTA installed: the call id and the key's fingerprint (as a
/// big-endian number; the fingerprint is a hash, never the key).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeySeen {
    pub call_id: String,
    pub fingerprint: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LoadReport {
    pub ctas: usize,
    pub lines: usize,
    pub started: u64,
    /// Calls that reached ringing with the key at both ends.
    pub setups: u64,
    pub answered: u64,
    /// Calls whose lines went back to idle.
    pub released: u64,
    pub quarantined_lines: u64,
    pub failures: BTreeMap<String, u64>,
    /// Last digit to ringing with keys, µs, per setup.
    pub setup_us: Vec<u32>,
    pub keys: Vec<KeySeen>,
    /// First call started to last setup.
    pub setup_window_s: f64,
    /// First call started to the last call over.
    pub wall_s: f64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub send_errors: u64,
    pub retransmissions: u64,
    pub transaction_timeouts: u64,
}

/// A warning for a run shorter than the transaction history: until the
/// history is full (and the store has grown), each setup costs less than
/// it will in the steady state (BENCHMARKS.md, "Sustained runs").
pub fn short_run_note(wall: Duration, history: Duration) -> Option<String> {
    (wall < history).then(|| {
        format!(
            "note: the run took {:.1} s, less than the {} s transaction history: \
             a burst, not the steady state (run at least {} s for that)",
            wall.as_secs_f64(),
            history.as_secs(),
            history.as_secs() + 10
        )
    })
}

/// Percentiles of a set of latencies in µs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    /// Nearest-rank percentiles, in milliseconds; `None` without samples.
    pub fn of(samples_us: &[u32]) -> Option<Spread> {
        let mut v = samples_us.to_vec();
        v.sort_unstable();
        let at = |q: f64| -> f64 {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1]) / 1e3
        };
        let max = f64::from(*v.last()?) / 1e3;
        Some(Spread {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_shorter_than_the_history_is_called_a_burst() {
        let history = Duration::from_secs(30);
        let note = short_run_note(Duration::from_secs(3), history).unwrap();
        assert!(note.contains("3.0 s, less than the 30 s"), "{note}");
        assert_eq!(short_run_note(Duration::from_secs(40), history), None);
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let s = Spread::of(&v).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (500.0, 900.0, 990.0, 1000.0));
        assert_eq!(Spread::of(&[]), None);
    }
}
