//! How strongly a recording carries a tone: tests and the lab summary use it
//! to show which party's tone ended up where.

use crate::wav::RATE;

/// Goertzel power of `hz` in 8 kHz samples.
pub fn power(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// How far `want` stands above `other`, in dB.
pub fn dominance_db(samples: &[i16], want: f64, other: f64) -> f64 {
    10.0 * (power(samples, want) / power(samples, other).max(1e-9)).log10()
}

/// Root mean square level of the samples (0 for none).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_dominates_another_frequency() {
        let sine: Vec<i16> = (0..8000)
            .map(|i| {
                ((std::f64::consts::TAU * 1000.0 * f64::from(i) / 8000.0).sin() * 8000.0) as i16
            })
            .collect();
        assert!(dominance_db(&sine, 1000.0, 440.0) > 40.0);
        assert!(dominance_db(&sine, 440.0, 1000.0) < -40.0);
        assert!((rms(&sine) - 8000.0 / 2f64.sqrt()).abs() < 50.0);
    }
}
