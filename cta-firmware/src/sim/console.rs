//! The serial console: line-oriented commands, on a pseudo-terminal.
//!
//! A thread per console reads lines from the pty's master side, hands each
//! to the CTA's task and writes the answer back. The slave side is set raw
//! (no echo, no line editing), as a serial port would be.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use tokio::sync::{mpsc, oneshot};

use crate::ports::TerminalEvent;

pub const HELP: &str = "\
commands (LINE is 1-based, default 1):
  status                      registration, lines, connections, keys (fingerprints only)
  offhook [LINE]              lift the handset
  onhook [LINE]               hang up
  flash [LINE]                hook flash
  dial DIGITS [LINE]          press keys 0-9 * # A-D
  play tone HZ [AMP] [line LINE]   send a sine (AMP 0..1, default 0.5)
  play FILE [line LINE]       send an 8 kHz mono 16-bit WAV file, looped
  play stop [line LINE]       send silence
  record FILE [line LINE]     record what the line receives to a WAV file
  record stop [line LINE]     finish the recording
  log                         recent events
  help                        this text";

/// A console command, parsed.
#[derive(Debug, PartialEq)]
pub enum Cmd {
    Status,
    Terminal(usize, Vec<TerminalEvent>),
    PlayTone {
        line: usize,
        hz: f64,
        amplitude: f64,
    },
    PlayFile {
        line: usize,
        path: PathBuf,
    },
    PlayStop(usize),
    Record {
        line: usize,
        path: PathBuf,
    },
    RecordStop(usize),
    Log,
    Help,
}

/// A line number `1..` as an index.
fn line_no(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n - 1),
        _ => Err(format!("not a line number: {s}")),
    }
}

/// Splits a trailing `line N` off the words.
fn take_line<'a>(words: &'a [&'a str]) -> Result<(&'a [&'a str], usize), String> {
    match words {
        [rest @ .., "line", n] => Ok((rest, line_no(n)?)),
        _ => Ok((words, 0)),
    }
}

impl Cmd {
    pub fn parse(text: &str) -> Result<Cmd, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let hook = |ev: TerminalEvent, rest: &[&str]| -> Result<Cmd, String> {
            let line = match rest {
                [] => 0,
                [n] | ["line", n] => line_no(n)?,
                _ => return Err("too many arguments".into()),
            };
            Ok(Cmd::Terminal(line, vec![ev]))
        };
        match words.as_slice() {
            ["status"] => Ok(Cmd::Status),
            ["log"] => Ok(Cmd::Log),
            ["help"] => Ok(Cmd::Help),
            ["offhook", rest @ ..] => hook(TerminalEvent::OffHook, rest),
            ["onhook", rest @ ..] => hook(TerminalEvent::OnHook, rest),
            ["flash", rest @ ..] => hook(TerminalEvent::Flash, rest),
            ["dial", digits, rest @ ..] => {
                let valid = |c: char| c.is_ascii_digit() || "*#ABCDabcd".contains(c);
                if !digits.chars().all(valid) {
                    return Err(format!("not DTMF keys: {digits}"));
                }
                let line = match rest {
                    [] => 0,
                    [n] | ["line", n] => line_no(n)?,
                    _ => return Err("too many arguments".into()),
                };
                let keys = digits
                    .chars()
                    .map(|c| TerminalEvent::Digit(c.to_ascii_uppercase()))
                    .collect();
                Ok(Cmd::Terminal(line, keys))
            }
            ["play", rest @ ..] => {
                let (args, line) = take_line(rest)?;
                match args {
                    ["stop"] => Ok(Cmd::PlayStop(line)),
                    ["tone", hz, amp @ ..] => {
                        let hz: f64 = hz.parse().map_err(|_| format!("not a frequency: {hz}"))?;
                        if !(20.0..=3900.0).contains(&hz) {
                            return Err("a tone is 20 to 3900 Hz at 8 kHz".into());
                        }
                        let amplitude = match amp {
                            [] => 0.5,
                            [a] => a.parse().map_err(|_| format!("not an amplitude: {a}"))?,
                            _ => return Err("too many arguments".into()),
                        };
                        Ok(Cmd::PlayTone {
                            line,
                            hz,
                            amplitude,
                        })
                    }
                    [file] => Ok(Cmd::PlayFile {
                        line,
                        path: file.into(),
                    }),
                    _ => Err("play tone HZ [AMP] | play FILE | play stop".into()),
                }
            }
            ["record", rest @ ..] => {
                let (args, line) = take_line(rest)?;
                match args {
                    ["stop"] => Ok(Cmd::RecordStop(line)),
                    [file] => Ok(Cmd::Record {
                        line,
                        path: file.into(),
                    }),
                    _ => Err("record FILE | record stop".into()),
                }
            }
            [] => Err("empty command".into()),
            [other, ..] => Err(format!("unknown command {other}: try help")),
        }
    }
}

/// A command line from the console (or a test) and where its answer goes.
pub struct Request {
    pub text: String,
    pub reply: oneshot::Sender<String>,
}

/// What a CTA's task is asked: a console line, or a snapshot for programs.
pub enum Ask {
    Console(Request),
    Snapshot(oneshot::Sender<super::Snapshot>),
    /// For the [`super::FarEnd`].
    FarEnd(Request),
}

/// Opens a pseudo-terminal and serves commands on it; returns the path a
/// terminal program opens (`/dev/pts/N`).
pub fn open(requests: mpsc::Sender<Ask>) -> std::io::Result<PathBuf> {
    use nix::sys::termios;
    let pty = nix::pty::openpty(None, None)?;
    let mut mode = termios::tcgetattr(&pty.slave)?;
    termios::cfmakeraw(&mut mode);
    termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &mode)?;
    let path = nix::unistd::ttyname(&pty.slave)?;
    let master = File::from(pty.master);
    let mut out = master.try_clone()?;
    let slave = pty.slave;
    std::thread::Builder::new()
        .name("cta-console".into())
        .spawn(move || {
            // Held open so reads block instead of failing while nobody is attached.
            let _slave = slave;
            let mut reader = BufReader::new(master);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                let (reply, answer) = oneshot::channel();
                let req = Request {
                    text: text.into(),
                    reply,
                };
                if requests.blocking_send(Ask::Console(req)).is_err() {
                    return;
                }
                let Ok(answer) = answer.blocking_recv() else {
                    return;
                };
                let answer = answer.replace('\n', "\r\n");
                if out.write_all(format!("{answer}\r\n").as_bytes()).is_err() {
                    return;
                }
            }
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(Cmd::parse("status"), Ok(Cmd::Status));
        assert_eq!(
            Cmd::parse("offhook 2"),
            Ok(Cmd::Terminal(1, vec![TerminalEvent::OffHook]))
        );
        assert_eq!(
            Cmd::parse("dial 1*a line 1"),
            Ok(Cmd::Terminal(
                0,
                vec![
                    TerminalEvent::Digit('1'),
                    TerminalEvent::Digit('*'),
                    TerminalEvent::Digit('A')
                ]
            ))
        );
        assert_eq!(
            Cmd::parse("play tone 440 0.3 line 2"),
            Ok(Cmd::PlayTone {
                line: 1,
                hz: 440.0,
                amplitude: 0.3
            })
        );
        assert_eq!(Cmd::parse("record stop"), Ok(Cmd::RecordStop(0)));
        assert!(Cmd::parse("dial 12x").is_err());
        assert!(Cmd::parse("offhook 0").is_err());
        assert!(Cmd::parse("play tone 9000").is_err());
        assert!(Cmd::parse("reboot").is_err());
    }
}
