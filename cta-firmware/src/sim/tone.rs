//! Tone checks on recorded audio: the lab, the CALEA delivery checks and
//! the tests ask "does this recording carry that tone?".

use super::wav::RATE;

/// Goertzel power of `hz` in `RATE` (8 kHz) samples.
pub fn power(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (core::f64::consts::TAU * hz / f64::from(RATE)).cos();
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
