//! One simulated CTA: a tokio task driving the sans-IO gateway from its
//! MGCP socket, its timers and its console.

use std::boxed::Box;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::string::{String, ToString};

use std::{format, vec, write, writeln};

use cablekey_protocol::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::audio::Source;
use super::console::{Ask, Cmd, HELP};
use super::media::{lock, Lines, SimMedia};
use super::platform::{Log, SimApp, SimTerminal};
use super::wav;
use super::{ConnSnapshot, Snapshot};
use crate::gateway::{Event, Gateway};

pub type SimGateway = Gateway<SimMedia, SimTerminal, SimApp>;

/// The gateway's clock: microseconds since the task started.
struct Clock(tokio::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        let us = self.0.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    fn at(&self, t: Instant) -> tokio::time::Instant {
        self.0 + std::time::Duration::from_micros(t.as_micros())
    }
}

pub struct Runner {
    pub name: String,
    pub gw: SimGateway,
    pub sock: UdpSocket,
    pub lines: Lines,
    pub log: Log,
    pub console: Option<PathBuf>,
    /// Every call key installed, as fingerprints (see [`super::Cta::keys_received`]).
    pub keys: super::KeysReceived,
    pub far_end: Option<Box<dyn super::FarEnd>>,
}

/// Rounds of far-end reactions per input: each feeds the core hook or
/// digit events, which may change what the far end sees.
const FAR_END_ROUNDS: usize = 8;

/// The first line of an MGCP message: verb or code, transaction id and
/// endpoint. Keys only ever travel in later lines, so this is safe to log.
fn first_line(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(payload.len())
        .min(120);
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::Registered => "registered with the call agent".into(),
        Event::Disconnected => "call agent lost; will send RSIP again".into(),
        Event::Notified { line } => format!("line {}: notified the call agent", line + 1),
        Event::KeyInstalled { conn, fingerprint } => {
            format!("conn {conn}: SRTP installed, call key {fingerprint}")
        }
        Event::KeyWiped { conn, reason } => format!("conn {conn}: keys wiped ({reason:?})"),
        Event::SwapAudio { line } => format!("line {}: swap calls", line + 1),
        Event::Refused { verb, code } => format!("refused {verb:?} with {}", code.0),
    }
}

impl Runner {
    pub async fn run(mut self, mut requests: mpsc::Receiver<Ask>, mut stop: oneshot::Receiver<()>) {
        let clock = Clock(tokio::time::Instant::now());
        self.gw.restart(clock.now());
        self.flush().await;
        let mut buf = vec![0u8; 8192];
        loop {
            let far = self.far_end.as_ref().and_then(|f| f.poll_timeout());
            let deadline = self
                .gw
                .poll_timeout()
                .into_iter()
                .chain(far)
                .min()
                .map(|t| clock.at(t));
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        tracing::debug!(cta = %self.name, %from, "MGCP in: {}", first_line(&buf[..n]));
                        self.gw.handle_datagram(clock.now(), from, &buf[..n]);
                    }
                }
                _ = timer => self.gw.handle_timeout(clock.now()),
                ask = requests.recv() => match ask {
                    None => break,
                    Some(Ask::Console(req)) => {
                        let far = req.text.trim_start().strip_prefix("pstn ");
                        let answer = match (far, self.far_end.as_mut()) {
                            // `pstn ...` is for the far end, when there is one.
                            (Some(text), Some(f)) => f.command(clock.now(), text),
                            _ => match Cmd::parse(&req.text) {
                                Ok(cmd) => self.execute(clock.now(), cmd),
                                Err(e) => format!("error: {e}"),
                            },
                        };
                        let _ = req.reply.send(answer);
                    }
                    Some(Ask::Snapshot(reply)) => {
                        let _ = reply.send(self.snapshot());
                    }
                    Some(Ask::FarEnd(req)) => {
                        let answer = match self.far_end.as_mut() {
                            Some(f) => f.command(clock.now(), &req.text),
                            None => "error: nothing on the far side of these lines".into(),
                        };
                        let _ = req.reply.send(answer);
                    }
                },
                _ = &mut stop => break,
            }
            self.step_far_end(clock.now());
            self.flush().await;
        }
        for line in self.lines.iter() {
            if let Some((_, rec)) = lock(line).recorder.take() {
                let _ = rec.finish();
            }
        }
    }

    /// Lets the far end react to what the core did, feeding its hook and
    /// digit events back in.
    fn step_far_end(&mut self, now: Instant) {
        let Some(far) = self.far_end.as_mut() else {
            return;
        };
        let mut out = std::vec::Vec::new();
        for _ in 0..FAR_END_ROUNDS {
            let views: std::vec::Vec<_> = (0..self.gw.lines())
                .filter_map(|i| self.gw.line_view(i))
                .collect();
            far.step(now, &views, &mut out);
            if out.is_empty() {
                return;
            }
            for (line, ev) in out.drain(..) {
                // Digits from the far end are a called number: not logged.
                let what = match ev {
                    crate::TerminalEvent::Digit(_) => "a digit".into(),
                    other => format!("{other:?}"),
                };
                self.log.push(format!("line {}: far end {what}", line + 1));
                self.gw.handle_terminal(now, line, ev);
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.gw.poll_transmit() {
            tracing::debug!(cta = %self.name, to = %t.to, "MGCP out: {}", first_line(&t.payload));
            if let Err(e) = self.sock.send_to(&t.payload, t.to).await {
                tracing::warn!(cta = %self.name, to = %t.to, "MGCP send failed: {e}");
            }
        }
        while let Some(ev) = self.gw.poll_event() {
            if let Event::KeyInstalled { fingerprint, .. } = &ev {
                self.keys.record(*fingerprint);
            }
            self.log.push(describe(&ev));
        }
    }

    fn line_ok(&self, line: usize) -> Result<(), String> {
        if line < self.lines.len() {
            Ok(())
        } else {
            Err(format!(
                "no line {} (this CTA has {})",
                line + 1,
                self.lines.len()
            ))
        }
    }

    fn execute(&mut self, now: Instant, cmd: Cmd) -> String {
        let line = match &cmd {
            Cmd::Terminal(l, _)
            | Cmd::PlayTone { line: l, .. }
            | Cmd::PlayFile { line: l, .. }
            | Cmd::PlayStop(l)
            | Cmd::Record { line: l, .. }
            | Cmd::RecordStop(l) => Some(*l),
            _ => None,
        };
        if let Some(Err(e)) = line.map(|l| self.line_ok(l)) {
            return format!("error: {e}");
        }
        match cmd {
            Cmd::Status => self.status(),
            Cmd::Log => self.log.recent(50).join("\n"),
            Cmd::Help => HELP.into(),
            Cmd::Terminal(line, events) => {
                for ev in events {
                    self.log.push(format!("line {}: {ev:?}", line + 1));
                    self.gw.handle_terminal(now, line, ev);
                }
                format!("ok: line {} {:?}", line + 1, self.gw.phase(line))
            }
            Cmd::PlayTone {
                line,
                hz,
                amplitude,
            } => self.play(line, Source::tone(hz, amplitude)),
            Cmd::PlayFile { line, path } => match wav::read(&path) {
                Ok(pcm) => self.play(
                    line,
                    Source::Samples {
                        name: path.display().to_string(),
                        pcm,
                        at: 0,
                    },
                ),
                Err(e) => format!("error: {e}"),
            },
            Cmd::PlayStop(line) => self.play(line, Source::Silence),
            Cmd::Record { line, path } => match wav::Recorder::create(&path) {
                Ok(rec) => {
                    let name = path.display().to_string();
                    let old = lock(&self.lines[line])
                        .recorder
                        .replace((name.clone(), rec));
                    if let Some((_, old)) = old {
                        let _ = old.finish();
                    }
                    self.log
                        .push(format!("line {}: recording to {name}", line + 1));
                    format!("ok: recording line {} to {name}", line + 1)
                }
                Err(e) => format!("error: {e}"),
            },
            Cmd::RecordStop(line) => match lock(&self.lines[line]).recorder.take() {
                Some((name, rec)) => match rec.finish() {
                    Ok(n) => format!("ok: {name}: {n} samples"),
                    Err(e) => format!("error: {name}: {e}"),
                },
                None => "ok: not recording".into(),
            },
        }
    }

    fn play(&mut self, line: usize, source: Source) -> String {
        let text = format!("line {}: playing {source}", line + 1);
        lock(&self.lines[line]).source = source;
        self.log.push(text.clone());
        format!("ok: {text}")
    }

    fn snapshot(&self) -> Snapshot {
        let media = self.gw.media().connections();
        let connections = self
            .gw
            .connections()
            .map(|c| {
                let m = media.iter().find(|m| m.conn == c.id);
                ConnSnapshot {
                    line: c.line,
                    call_id: c.call.as_str().into(),
                    role: c.role,
                    key: m.map(|m| m.fingerprint),
                    derived: self.gw.security().key_derived(c.id),
                    packets_sent: m.map_or(0, |m| m.stats.packets_sent),
                    packets_received: m.map_or(0, |m| m.stats.packets_received),
                    rejected: m.map_or(0, |m| m.rejected),
                    copies_sent: m.map_or(0, |m| m.copies),
                }
            })
            .collect();
        Snapshot {
            registered: matches!(
                self.gw.registration(),
                crate::gateway::Registration::Registered
            ),
            phases: (0..self.lines.len())
                .map(|i| self.gw.phase(i).unwrap_or(crate::line::Phase::Idle))
                .collect(),
            connections,
        }
    }

    fn status(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} mgcp {} registration {:?}",
            self.name,
            self.sock
                .local_addr()
                .map_or_else(|_| "?".into(), |a: SocketAddr| a.to_string()),
            self.gw.registration()
        );
        if let Some(p) = &self.console {
            let _ = writeln!(s, "console {}", p.display());
        }
        for (i, audio) in self.lines.iter().enumerate() {
            let audio = lock(audio);
            let rec = audio.recorder.as_ref().map_or("off", |(n, _)| n.as_str());
            let _ = writeln!(
                s,
                "line {}: hook {:?}, phase {:?}, sends {}, records {rec}",
                i + 1,
                self.gw.hook(i).unwrap_or(crate::line::Hook::On),
                self.gw.phase(i).unwrap_or(crate::line::Phase::Idle),
                audio.source
            );
        }
        let media = self.gw.media().connections();
        for c in self.gw.connections() {
            let state = self.gw.security().state(c.id);
            let _ = write!(
                s,
                "conn {} line {} call {} {} {} {} {:?}",
                c.id,
                c.line + 1,
                c.call.as_str(),
                c.role.as_str(),
                c.mode.as_str(),
                c.suite,
                state
            );
            match media.iter().find(|m| m.conn == c.id) {
                Some(m) => {
                    let _ = writeln!(
                        s,
                        " key {} remote {} sent {} received {} rejected {} concealed {}",
                        m.fingerprint,
                        m.remote,
                        m.stats.packets_sent,
                        m.stats.packets_received,
                        m.rejected,
                        m.concealed
                    );
                }
                None => s.push_str(" no key\n"),
            }
        }
        let _ = write!(s, "srtp sessions: {}", media.len());
        s
    }
}
