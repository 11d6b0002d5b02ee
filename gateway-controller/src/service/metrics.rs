//! Counters and latency histograms of a running controller, readable while
//! it runs (the lab, `cablekey bench calls`) and as Prometheus text.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds grow by 2^(1/4) from 10 µs: quantiles are read to
/// within 19 %.
const BUCKETS: usize = 96;

fn bound_us(i: usize) -> f64 {
    10.0 * 2f64.powf(i as f64 / 4.0)
}

/// A latency histogram with fixed buckets, lock-free.
pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us <= 10.0 {
            0
        } else {
            ((us / 10.0).log2() * 4.0).ceil() as usize
        };
        self.counts[i.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The upper bound of the bucket holding quantile `q` (0 to 1).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(Duration::from_secs_f64(bound_us(i) / 1e6));
            }
        }
        None
    }

    fn prometheus(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            seen += n;
            if n > 0 {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{:.6}\"}} {seen}",
                    bound_us(i) / 1e6
                );
            }
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {seen}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum:.6}\n{name}_count {seen}");
    }
}

/// What the controller counts. Everything only goes up.
#[derive(Default)]
pub struct Metrics {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub send_errors: AtomicU64,
    pub bad_messages: AtomicU64,
    pub registrations: AtomicU64,
    /// Off-hook on an idle line.
    pub calls_attempted: AtomicU64,
    /// Number found, key made.
    pub calls_routed: AtomicU64,
    /// Both ends hold the key; the called line rings.
    pub calls_ringing: AtomicU64,
    pub calls_connected: AtomicU64,
    pub calls_refused: AtomicU64,
    pub calls_ended: AtomicU64,
    pub keys_escrowed: AtomicU64,
    pub escrow_failures: AtomicU64,
    pub command_failures: AtomicU64,
    /// From the escrow request to the durable acknowledgement.
    pub escrow_latency: Histogram,
    /// From the last digit (routed) to both ends holding the key (ringing).
    pub setup_latency: Histogram,
}

impl Metrics {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        Metrics::add(counter, 1);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of everything.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &AtomicU64, &str); 14] = [
            (
                "datagrams_in",
                &self.datagrams_in,
                "MGCP datagrams received",
            ),
            ("datagrams_out", &self.datagrams_out, "MGCP datagrams sent"),
            (
                "send_errors",
                &self.send_errors,
                "MGCP datagrams the socket refused",
            ),
            (
                "bad_messages",
                &self.bad_messages,
                "unparsable MGCP messages received",
            ),
            (
                "registrations",
                &self.registrations,
                "RSIPs that registered endpoints",
            ),
            (
                "calls_attempted",
                &self.calls_attempted,
                "off-hooks on idle lines",
            ),
            (
                "calls_routed",
                &self.calls_routed,
                "calls routed with a key made",
            ),
            (
                "calls_ringing",
                &self.calls_ringing,
                "calls whose both ends hold the key",
            ),
            ("calls_connected", &self.calls_connected, "calls answered"),
            (
                "calls_refused",
                &self.calls_refused,
                "calls refused before ringing",
            ),
            (
                "calls_ended",
                &self.calls_ended,
                "calls released after routing",
            ),
            (
                "keys_escrowed",
                &self.keys_escrowed,
                "call keys made durable in escrow",
            ),
            (
                "escrow_failures",
                &self.escrow_failures,
                "call keys the escrow refused",
            ),
            (
                "command_failures",
                &self.command_failures,
                "commands failed outside calls",
            ),
        ];
        for (name, c, help) in counters {
            let _ = writeln!(
                out,
                "# HELP cablekey_{name}_total {help}\n# TYPE cablekey_{name}_total counter\ncablekey_{name}_total {}",
                Metrics::get(c)
            );
        }
        self.escrow_latency.prometheus(
            &mut out,
            "cablekey_escrow_latency_seconds",
            "escrow request to durable acknowledgement",
        );
        self.setup_latency.prometheus(
            &mut out,
            "cablekey_setup_latency_seconds",
            "last digit to both ends holding the key",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e3;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e3;
        assert!((50.0..=50.0 * 1.19).contains(&p50), "{p50}");
        assert!((99.0..=99.0 * 1.19).contains(&p99), "{p99}");
        assert_eq!(h.count(), 100);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn prometheus_text_has_every_counter() {
        let m = Metrics::default();
        Metrics::inc(&m.calls_connected);
        m.escrow_latency.record(Duration::from_micros(900));
        let text = m.prometheus();
        assert!(
            text.contains("cablekey_calls_connected_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("cablekey_escrow_latency_seconds_count 1\n"),
            "{text}"
        );
        assert_eq!(text.matches("# TYPE").count(), 16);
    }
}
