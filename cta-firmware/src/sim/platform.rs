//! The simulated device around the core: an event log, the terminal (it
//! logs signals) and a security application.

use std::collections::VecDeque;
use std::format;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::media::lock;
use crate::ports::{Enrollment, SecurityApp, Signal, Terminal};

/// Events kept for the console's `log`.
const LOG_LINES: usize = 200;

/// Recent events, for the console. Keys appear only as fingerprints.
#[derive(Clone)]
pub struct Log {
    name: Arc<str>,
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl Log {
    pub fn new(name: &str) -> Log {
        Log {
            name: name.into(),
            lines: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    pub fn push(&self, text: String) {
        tracing::info!(cta = %self.name, "{text}");
        let mut lines = lock(&self.lines);
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }

    /// The last `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let lines = lock(&self.lines);
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}

/// Signals are logged and remembered per line; no sound card here.
pub struct SimTerminal {
    log: Log,
    pub playing: Vec<(usize, Signal)>,
}

impl SimTerminal {
    pub fn new(log: Log) -> SimTerminal {
        SimTerminal {
            log,
            playing: Vec::new(),
        }
    }
}

impl Terminal for SimTerminal {
    fn signal(&mut self, line: usize, signal: Signal, on: bool) {
        self.playing.retain(|p| *p != (line, signal));
        if on && signal.timeout().is_some() {
            self.playing.push((line, signal));
        }
        let state = if on { "on" } else { "off" };
        self.log
            .push(format!("line {}: signal {signal:?} {state}", line + 1));
    }
}

/// An enrolled device without a signaling credential: the simulator talks
/// clear MGCP until the controller's registration (issue 5) exists.
pub struct SimApp;

impl SecurityApp for SimApp {
    fn enrollment(&self) -> Enrollment {
        Enrollment::Enrolled
    }

    fn authenticate(&mut self, _challenge: &[u8], _out: &mut [u8; 64]) -> Option<usize> {
        None
    }
}
