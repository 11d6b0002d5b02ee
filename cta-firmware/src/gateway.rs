//! The MGCP gateway side of a CTA (RFC 3435, PacketCable NCS), sans-IO.
//!
//! How to drive it (one monotonic clock; times never go back):
//! 1. Input: [`Gateway::restart`] once at power-up (sends RSIP),
//!    [`Gateway::handle_datagram`] for each MGCP datagram received,
//!    [`Gateway::handle_terminal`] for hook and digit events, and
//!    [`Gateway::handle_timeout`] once [`Gateway::poll_timeout`] has passed
//!    (early or repeated calls do nothing).
//! 2. Output: send every [`Gateway::poll_transmit`], read
//!    [`Gateway::poll_event`] for logs and consoles. Signals go straight to
//!    the [`Terminal`], SRTP contexts to the [`MediaController`].
//!
//! Media never passes through here: the heap holds the transaction history
//! and one request per line, never anything per packet.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use cablekey_protocol::mgcp::transaction::{self, Endpoint, Event as TxEvent, Input, Transmit};
use cablekey_protocol::mgcp::{
    Command, EndpointName, EventItem, Param, RestartMethod, ReturnCode, TransactionId, Verb,
};
use cablekey_protocol::secret::{Fingerprint, SecretBytes};
use cablekey_protocol::time::Instant;

use crate::connection::{Connections, Id};
use crate::line::{DigitTimers, Hook, Line, Outcome, Phase};
use crate::ports::{ConnId, MediaController, SecurityApp, Suite, Terminal, TerminalEvent};
use crate::security::{KeyChange, SecurityManager, WipeReason};
use crate::signal::SignalSet;

/// Events kept for the application; older ones are dropped past this.
const MAX_EVENTS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The domain of our endpoint names (`aaln/1@<domain>`).
    pub domain: String,
    /// The local name before the line number: `aaln` for a CTA's analog
    /// lines, `ds/ds1-1` for the trunks of a POTS gateway (TGCP style,
    /// `ds/ds1-1/N@<domain>`). Terms compare case-insensitively.
    pub endpoint_prefix: String,
    /// Subscriber lines (or trunks), 1 to [`MAX_ENDPOINTS`]; a CTA has 1 to
    /// [`MAX_LINES`].
    pub lines: usize,
    /// Where RSIP goes, and NTFY until a call agent names another entity.
    pub call_agent: SocketAddr,
    /// Our media address, written in the SDP we answer with.
    pub media_ip: IpAddr,
    pub rtp_base_port: u16,
    /// The suite when a CRCX names none (`sc-rtp:`).
    pub default_suite: Suite,
    pub digit_timers: DigitTimers,
    /// First wait before an RSIP after losing the call agent; doubles up to
    /// `disconnected_max` (NCS Tdinit, Tdmax).
    pub disconnected_initial: Duration,
    pub disconnected_max: Duration,
    /// First connection id; seed it so a restarted CTA does not reuse ids.
    pub first_connection_id: u32,
    pub transaction: transaction::Config,
}

/// Lines of a CTA.
pub const MAX_LINES: usize = 4;
/// Endpoints of one gateway core: a DS1's 24 channels for a trunk gateway.
pub const MAX_ENDPOINTS: usize = 24;

/// The CTA's endpoint prefix (`aaln/N`).
pub const LINE_PREFIX: &str = "aaln";

impl Config {
    pub fn new(domain: &str, call_agent: SocketAddr, media_ip: IpAddr) -> Config {
        Config {
            domain: domain.into(),
            endpoint_prefix: LINE_PREFIX.into(),
            lines: 1,
            call_agent,
            media_ip,
            rtp_base_port: 16384,
            default_suite: Suite::AeadAes128Gcm,
            digit_timers: DigitTimers::default(),
            disconnected_initial: Duration::from_secs(15),
            disconnected_max: Duration::from_secs(600),
            first_connection_id: 1,
            transaction: transaction::Config {
                // A CTA talks to one call agent: small caps bound its heap.
                max_outstanding: 16,
                max_history: 128,
                // A handful of transactions: walking them costs less heap than an index.
                indexed: false,
                ..transaction::Config::default()
            },
        }
    }
}

/// What happened, for logs and consoles. Keys appear only as fingerprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The call agent answered our RSIP.
    Registered,
    /// The call agent stopped answering; RSIP will be retried.
    Disconnected,
    Notified {
        line: usize,
    },
    KeyInstalled {
        conn: ConnId,
        fingerprint: Fingerprint,
    },
    KeyWiped {
        conn: ConnId,
        reason: WipeReason,
    },
    /// Hook flash asked to swap calls.
    SwapAudio {
        line: usize,
    },
    Refused {
        verb: Verb,
        code: ReturnCode,
    },
}

/// One line as seen from the far side of it ([`Gateway::line_view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineView {
    pub hook: Hook,
    /// Time-out signals playing now.
    pub playing: SignalSet,
    /// Connections on the line.
    pub connections: usize,
    /// One of them is `sendrecv`.
    pub connected: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// [`Gateway::restart`] has not been called yet.
    Idle,
    /// RSIP sent, no answer yet.
    Restarting {
        tid: TransactionId,
    },
    Registered,
    /// Waiting to send RSIP again.
    Disconnected {
        retry_at: Instant,
        wait: Duration,
    },
}

/// Per-line MGCP state around the line state machine.
pub(crate) struct LineCtl {
    pub line: Line,
    pub request_id: Option<Id>,
    pub notify_to: SocketAddr,
    /// As the call agent wrote them, for AUEP.
    pub notified_entity: Option<String>,
    pub requested: String,
    pub digit_map: String,
    pub ntfy: Option<TransactionId>,
    /// Events to notify once the outstanding NTFY is answered: one NTFY
    /// at a time per endpoint keeps them in order at the call agent.
    pub ntfy_held: bool,
}

pub struct Gateway<M, T, A> {
    pub(crate) config: Config,
    pub(crate) tx: Endpoint,
    pub(crate) lines: Vec<LineCtl>,
    pub(crate) conns: Connections,
    pub(crate) security: SecurityManager,
    pub(crate) media: M,
    pub(crate) terminal: T,
    pub(crate) app: A,
    registration: Registration,
    pub(crate) events: VecDeque<Event>,
}

impl<M: MediaController, T: Terminal, A: SecurityApp> Gateway<M, T, A> {
    /// A gateway that has not announced itself yet: call
    /// [`restart`](Self::restart) to send the RSIP.
    pub fn new(mut config: Config, media: M, terminal: T, app: A) -> Self {
        config.lines = config.lines.clamp(1, MAX_ENDPOINTS);
        let lines = (0..config.lines)
            .map(|i| LineCtl {
                line: Line::new(i, config.digit_timers),
                request_id: None,
                notify_to: config.call_agent,
                notified_entity: None,
                requested: String::new(),
                digit_map: String::new(),
                ntfy: None,
                ntfy_held: false,
            })
            .collect();
        Gateway {
            tx: Endpoint::new(config.transaction.clone()),
            conns: Connections::new(config.first_connection_id, config.rtp_base_port),
            lines,
            security: SecurityManager::default(),
            media,
            terminal,
            app,
            registration: Registration::Idle,
            events: VecDeque::new(),
            config,
        }
    }

    /// Power-up or reset: wipes every key and connection, forgets every
    /// request, and announces the restart with `RSIP` (`RM: restart`).
    pub fn restart(&mut self, now: Instant) {
        let Gateway {
            security,
            media,
            events,
            ..
        } = self;
        security.close_all(media, &mut |c| push_key_event(events, c));
        self.conns.clear();
        for ctl in &mut self.lines {
            ctl.line.reset(now, &mut self.terminal);
            ctl.request_id = None;
            ctl.notify_to = self.config.call_agent;
            ctl.notified_entity = None;
            ctl.requested = String::new();
            ctl.digit_map = String::new();
            ctl.ntfy = None;
            ctl.ntfy_held = false;
        }
        self.report_status();
        self.send_rsip(now, RestartMethod::Restart);
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        for piece in transaction::messages(datagram) {
            match self.tx.handle_message(now, from, piece) {
                Some(Input::Command { from, command, .. }) => {
                    self.on_command(now, from, command.tid, &command);
                }
                Some(Input::Response { response, .. }) => {
                    self.on_response(now, response.tid, response.code);
                }
                Some(Input::Provisional { .. } | Input::BadMessage { .. }) | None => {}
            }
        }
        self.drain(now);
    }

    /// A hook or digit event on line `line` (0-based); others are ignored.
    pub fn handle_terminal(&mut self, now: Instant, line: usize, ev: TerminalEvent) {
        let Some(ctl) = self.lines.get_mut(line) else {
            return;
        };
        let out = ctl.line.terminal(now, ev, &mut self.terminal);
        self.after(now, line, out);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain(now);
        for i in 0..self.lines.len() {
            let out = self.lines[i].line.handle_timeout(now, &mut self.terminal);
            self.after(now, i, out);
        }
        if let Registration::Disconnected { retry_at, .. } = self.registration {
            if retry_at <= now {
                self.send_rsip(now, RestartMethod::Disconnected);
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let retry = match self.registration {
            Registration::Disconnected { retry_at, .. } => Some(retry_at),
            _ => None,
        };
        let lines = self.lines.iter().filter_map(|l| l.line.poll_timeout());
        lines.chain(self.tx.poll_timeout()).chain(retry).min()
    }

    pub fn registration(&self) -> Registration {
        self.registration
    }

    pub fn hook(&self, line: usize) -> Option<Hook> {
        self.lines.get(line).map(|l| l.line.hook())
    }

    /// What is visible of line `line` from the far side of it (hook,
    /// signals playing, connections): what a PSTN model behind a trunk
    /// reacts to.
    pub fn line_view(&self, line: usize) -> Option<LineView> {
        let ctl = self.lines.get(line)?;
        let mut connections = 0;
        let mut connected = false;
        for c in self.conns.on_line(line) {
            connections += 1;
            connected |= c.mode == cablekey_protocol::mgcp::ConnectionMode::SendRecv;
        }
        Some(LineView {
            hook: ctl.line.hook(),
            playing: ctl.line.playing(),
            connections,
            connected,
        })
    }

    pub fn lines(&self) -> usize {
        self.lines.len()
    }

    pub fn phase(&self, line: usize) -> Option<Phase> {
        let connected = self
            .conns
            .on_line(line)
            .any(|c| c.mode == cablekey_protocol::mgcp::ConnectionMode::SendRecv);
        self.lines.get(line).map(|l| l.line.phase(connected))
    }

    /// Provisions (or with `None` forgets) the signaling session key shared
    /// with the call agent, from which call keys are derived on request
    /// (`x-key:derived`). The platform sets it from its configuration for
    /// now; the registration exchange that would establish it is not built.
    pub fn set_session_key(&mut self, key: Option<SecretBytes>) {
        self.security.set_session_key(key);
    }

    pub fn security(&self) -> &SecurityManager {
        &self.security
    }

    pub fn connections(&self) -> impl Iterator<Item = &crate::connection::Connection> {
        self.conns.iter()
    }

    pub fn media(&self) -> &M {
        &self.media
    }

    pub fn media_mut(&mut self) -> &mut M {
        &mut self.media
    }

    pub fn terminal(&self) -> &T {
        &self.terminal
    }

    pub fn terminal_mut(&mut self) -> &mut T {
        &mut self.terminal
    }

    pub fn app(&self) -> &A {
        &self.app
    }

    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    pub fn transactions(&self) -> &Endpoint {
        &self.tx
    }

    /// Our endpoint name for line `i` (0-based).
    pub fn endpoint_name(&self, i: usize) -> String {
        format!(
            "{}/{}@{}",
            self.config.endpoint_prefix,
            i + 1,
            self.config.domain
        )
    }

    fn drain(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::TimedOut { tid, .. } => self.on_timed_out(now, tid),
                // Queued only by `Endpoint::handle_datagram`, which is not
                // used: messages come through `handle_message`.
                TxEvent::Command { .. }
                | TxEvent::Response { .. }
                | TxEvent::Provisional { .. }
                | TxEvent::BadMessage { .. } => {}
            }
        }
    }

    fn on_response(&mut self, now: Instant, tid: TransactionId, code: ReturnCode) {
        if self.registration == (Registration::Restarting { tid }) {
            if code.is_success() {
                self.registration = Registration::Registered;
                self.push(Event::Registered);
            } else {
                self.schedule_rsip(now);
            }
        }
        self.ntfy_done(now, tid);
    }

    /// The NTFY `tid` is answered (or given up): send what was held.
    fn ntfy_done(&mut self, now: Instant, tid: TransactionId) {
        let mut release = Vec::new();
        for (i, ctl) in self.lines.iter_mut().enumerate() {
            if ctl.ntfy == Some(tid) {
                ctl.ntfy = None;
                if core::mem::take(&mut ctl.ntfy_held) && !ctl.line.observed().is_empty() {
                    release.push(i);
                }
            }
        }
        for line in release {
            self.send_ntfy(now, line);
        }
    }

    fn on_timed_out(&mut self, now: Instant, tid: TransactionId) {
        let ntfy_lost = self.lines.iter().any(|l| l.ntfy == Some(tid));
        let rsip_lost = self.registration == (Registration::Restarting { tid });
        for ctl in &mut self.lines {
            if ctl.ntfy == Some(tid) {
                // Disconnected: the restart below starts the line afresh.
                ctl.ntfy = None;
                ctl.ntfy_held = false;
            }
        }
        if ntfy_lost || rsip_lost {
            // NCS: losing the call agent puts the endpoint in the
            // disconnected state; it tries RSIP again with backoff.
            self.schedule_rsip(now);
            self.push(Event::Disconnected);
        }
    }

    fn schedule_rsip(&mut self, now: Instant) {
        let wait = match self.registration {
            Registration::Disconnected { wait, .. } => {
                wait.saturating_mul(2).min(self.config.disconnected_max)
            }
            _ => self.config.disconnected_initial,
        };
        self.registration = Registration::Disconnected {
            retry_at: now + wait,
            wait,
        };
    }

    fn send_rsip(&mut self, now: Instant, method: RestartMethod<'_>) {
        let name = format!("{}/*@{}", self.config.endpoint_prefix, self.config.domain);
        let Some(endpoint) = EndpointName::parse(&name) else {
            return;
        };
        let cmd =
            Command::new(Verb::Rsip, TransactionId(0), endpoint).with(Param::RestartMethod(method));
        match self.tx.send_command(now, self.config.call_agent, cmd) {
            Ok(tid) => self.registration = Registration::Restarting { tid },
            Err(_) => self.schedule_rsip(now),
        }
    }

    /// Acts on what the line decided.
    pub(crate) fn after(&mut self, now: Instant, line: usize, out: Outcome) {
        if out.hang_up {
            let Gateway {
                security,
                media,
                events,
                ..
            } = self;
            security.hang_up(media, line, &mut |c| push_key_event(events, c));
            self.report_status();
        }
        if out.swap_audio {
            self.push(Event::SwapAudio { line });
        }
        if out.notify {
            match self.lines.get_mut(line) {
                Some(ctl) if ctl.ntfy.is_some() => ctl.ntfy_held = true,
                _ => self.send_ntfy(now, line),
            }
        }
    }

    pub(crate) fn send_ntfy(&mut self, now: Instant, line: usize) {
        let name = self.endpoint_name(line);
        let Some(ctl) = self.lines.get_mut(line) else {
            return;
        };
        let observed: Vec<String> = ctl.line.observed().iter().map(|o| format!("{o}")).collect();
        let items = observed
            .iter()
            .map(|n| EventItem {
                name: n,
                args: None,
            })
            .collect();
        let request_id = ctl.request_id.as_ref().map_or("0", Id::as_str);
        let to = ctl.notify_to;
        ctl.line.notified();
        let Some(endpoint) = EndpointName::parse(&name) else {
            return;
        };
        let cmd = Command::new(Verb::Ntfy, TransactionId(0), endpoint)
            .with(Param::RequestIdentifier(request_id))
            .with(Param::ObservedEvents(items));
        if let Ok(tid) = self.tx.send_command(now, to, cmd) {
            if let Some(ctl) = self.lines.get_mut(line) {
                ctl.ntfy = Some(tid);
            }
            self.push(Event::Notified { line });
        }
    }

    pub(crate) fn push(&mut self, ev: Event) {
        push_event(&mut self.events, ev);
    }

    pub(crate) fn report_status(&mut self) {
        self.app.status(self.security.status());
    }
}

fn push_event(events: &mut VecDeque<Event>, ev: Event) {
    if events.len() == MAX_EVENTS {
        events.pop_front();
    }
    events.push_back(ev);
}

pub(crate) fn push_key_event(events: &mut VecDeque<Event>, change: KeyChange) {
    let ev = match change {
        KeyChange::Installed(conn, fingerprint) => Event::KeyInstalled { conn, fingerprint },
        KeyChange::Wiped(conn, reason) => Event::KeyWiped { conn, reason },
    };
    push_event(events, ev);
}
