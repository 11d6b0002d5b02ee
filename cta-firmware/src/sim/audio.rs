//! What a line plays into its calls and where it records what it hears.

use std::f64::consts::TAU;
use std::fmt;
use std::string::String;
use std::vec::Vec;

use super::jitter::FRAME;
use super::wav::{Recorder, RATE};

/// What the line sends.
pub enum Source {
    Silence,
    Tone {
        hz: f64,
        amplitude: f64,
        phase: f64,
    },
    /// A WAV file, looped.
    Samples {
        name: String,
        pcm: Vec<i16>,
        at: usize,
    },
}

impl Source {
    /// A sine at `hz`, `amplitude` from 0 to 1 of full scale.
    pub fn tone(hz: f64, amplitude: f64) -> Source {
        Source::Tone {
            hz,
            amplitude: amplitude.clamp(0.0, 1.0),
            phase: 0.0,
        }
    }

    /// Fills one 20 ms frame.
    pub fn fill(&mut self, out: &mut [i16; FRAME]) {
        match self {
            Source::Silence => out.fill(0),
            Source::Tone {
                hz,
                amplitude,
                phase,
            } => {
                let step = TAU * *hz / f64::from(RATE);
                for s in out.iter_mut() {
                    *s = (phase.sin() * *amplitude * f64::from(i16::MAX)) as i16;
                    *phase = (*phase + step) % TAU;
                }
            }
            Source::Samples { pcm, at, .. } => {
                for s in out.iter_mut() {
                    *s = pcm.get(*at).copied().unwrap_or(0);
                    *at = if *at + 1 >= pcm.len() { 0 } else { *at + 1 };
                }
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Silence => f.write_str("silence"),
            Source::Tone { hz, amplitude, .. } => write!(f, "tone {hz} Hz amplitude {amplitude}"),
            Source::Samples { name, pcm, .. } => {
                write!(f, "file {name} ({} s)", pcm.len() as u32 / RATE)
            }
        }
    }
}

/// One line's audio: its source and its recorder.
pub struct LineAudio {
    pub source: Source,
    pub recorder: Option<(String, Recorder)>,
}

impl Default for LineAudio {
    fn default() -> Self {
        LineAudio {
            source: Source::Silence,
            recorder: None,
        }
    }
}
