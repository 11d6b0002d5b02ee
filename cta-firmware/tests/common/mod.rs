//! A fake platform and a scripted call agent for driving the gateway on a
//! virtual clock.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use cablekey_cta_firmware::{
    ConnId, Enrollment, Event, Gateway, MediaController, MediaError, MediaParams, SecurityApp,
    Signal, Surveillance, Terminal, TerminalEvent,
};
use cablekey_protocol::mgcp::{parse, Message};
use cablekey_protocol::secret::SecretBytes;
use cablekey_protocol::time::Instant;

pub const CA: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2727);
pub const DOMAIN: &str = "cta1.example";
/// 32 bytes, base64.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const KEY2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Holds contexts as real SRTP would: a copy of the key per connection.
#[derive(Default)]
pub struct FakeMedia {
    pub contexts: BTreeMap<ConnId, (SecretBytes, MediaParams)>,
    pub installs: Vec<ConnId>,
    pub wipes: Vec<ConnId>,
    /// Intercept changes of installed contexts, in order.
    pub surveils: Vec<(ConnId, Option<Surveillance>)>,
    /// Each installed context's intercept setting (absent: none).
    pub taps: BTreeMap<ConnId, Surveillance>,
    pub refuse: bool,
}

impl MediaController for FakeMedia {
    fn install(
        &mut self,
        conn: ConnId,
        key: &SecretBytes,
        p: &MediaParams,
    ) -> Result<(), MediaError> {
        if self.refuse {
            return Err(MediaError::NoResources);
        }
        self.installs.push(conn);
        self.taps.remove(&conn);
        self.contexts.insert(conn, (key.duplicate(), *p));
        Ok(())
    }

    fn wipe(&mut self, conn: ConnId) {
        self.wipes.push(conn);
        self.contexts.remove(&conn);
        self.taps.remove(&conn);
    }

    fn surveil(&mut self, conn: ConnId, s: Option<Surveillance>) {
        self.surveils.push((conn, s));
        match s {
            Some(s) if self.contexts.contains_key(&conn) => self.taps.insert(conn, s),
            _ => self.taps.remove(&conn),
        };
    }
}

#[derive(Default)]
pub struct FakeTerminal {
    pub playing: Vec<(usize, Signal)>,
    pub log: Vec<(usize, Signal, bool)>,
}

impl Terminal for FakeTerminal {
    fn signal(&mut self, line: usize, signal: Signal, on: bool) {
        self.log.push((line, signal, on));
        self.playing.retain(|p| *p != (line, signal));
        if on && signal.timeout().is_some() {
            self.playing.push((line, signal));
        }
    }
}

pub struct FakeApp {
    pub enrollment: Enrollment,
}

impl Default for FakeApp {
    fn default() -> Self {
        FakeApp {
            enrollment: Enrollment::Enrolled,
        }
    }
}

impl SecurityApp for FakeApp {
    fn enrollment(&self) -> Enrollment {
        self.enrollment
    }

    fn authenticate(&mut self, challenge: &[u8], out: &mut [u8; 64]) -> Option<usize> {
        // Not a MAC: a recognisable transform for the test.
        for (o, c) in out.iter_mut().zip(challenge) {
            *o = c ^ 0x5a;
        }
        Some(challenge.len().min(64))
    }
}

pub type Gw = Gateway<FakeMedia, FakeTerminal, FakeApp>;

pub struct Rig {
    pub gw: Gw,
    pub now: Instant,
    next_tid: u32,
    /// Everything the gateway sent, in order.
    pub sent: Vec<String>,
}

pub fn config() -> cablekey_cta_firmware::Config {
    let mut c =
        cablekey_cta_firmware::Config::new(DOMAIN, CA, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    c.lines = 2;
    c
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with(Gateway::new(
            config(),
            FakeMedia::default(),
            FakeTerminal::default(),
            FakeApp::default(),
        ))
    }

    pub fn with(gw: Gw) -> Rig {
        Rig {
            gw,
            now: Instant::from_micros(1_000_000),
            next_tid: 1000,
            sent: Vec::new(),
        }
    }

    /// Restarts and answers the RSIP: a registered gateway.
    pub fn registered() -> Rig {
        let mut r = Rig::new();
        r.gw.restart(r.now);
        let out = r.drain();
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with("RSIP "), "{}", out[0]);
        assert!(out[0].contains("RM: restart"), "{}", out[0]);
        r.answer(&out[0], 200);
        assert_eq!(
            r.gw.registration(),
            cablekey_cta_firmware::Registration::Registered
        );
        r
    }

    /// What the gateway has to send now, as text.
    pub fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(t) = self.gw.poll_transmit() {
            assert_eq!(t.to.ip(), CA.ip());
            let text = String::from_utf8(t.payload).expect("MGCP is text");
            self.sent.push(text.clone());
            out.push(text);
        }
        out
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.gw.poll_event()).collect()
    }

    /// Sends a command (`{tid}` is filled in) and returns the response.
    pub fn command(&mut self, text: &str) -> String {
        self.next_tid += 1;
        let text = text
            .replace("{tid}", &self.next_tid.to_string())
            .replace('\n', "\r\n");
        self.gw.handle_datagram(self.now, CA, text.as_bytes());
        let out = self.drain();
        let tid = self.next_tid.to_string();
        let resp = out
            .iter()
            .find(|m| {
                m.split_whitespace().nth(1) == Some(tid.as_str())
                    && !m.starts_with(char::is_alphabetic)
            })
            .unwrap_or_else(|| panic!("no response to {text}: {out:?}"))
            .clone();
        resp
    }

    /// The return code of the response to `text`.
    pub fn code(&mut self, text: &str) -> u16 {
        let r = self.command(text);
        r[..3].parse().unwrap()
    }

    /// Answers a command the gateway sent.
    pub fn answer(&mut self, sent: &str, code: u16) {
        let Ok(Message::Command(c)) = parse(sent.as_bytes()) else {
            panic!("not a command: {sent}");
        };
        let resp = format!("{code} {} OK\r\n", c.tid);
        self.gw.handle_datagram(self.now, CA, resp.as_bytes());
    }

    pub fn terminal(&mut self, line: usize, ev: TerminalEvent) -> Vec<String> {
        self.gw.handle_terminal(self.now, line, ev);
        self.drain()
    }

    pub fn dial(&mut self, line: usize, digits: &str) -> Vec<String> {
        let mut out = Vec::new();
        for c in digits.chars() {
            out.extend(self.terminal(line, TerminalEvent::Digit(c)));
        }
        out
    }

    /// Moves the clock by `ms`, running every timer that falls due on the way.
    pub fn advance(&mut self, ms: u64) -> Vec<String> {
        let end = Instant::from_micros(self.now.as_micros() + ms * 1000);
        let mut out = Vec::new();
        while let Some(at) = self.gw.poll_timeout().filter(|at| *at <= end) {
            self.now = at.max(self.now);
            self.gw.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    /// The connection id in a CRCX response.
    pub fn conn_id(resp: &str) -> String {
        resp.lines()
            .find_map(|l| l.strip_prefix("I: "))
            .expect("I: line")
            .trim()
            .to_string()
    }

    pub fn no_key_anywhere(&self) -> bool {
        self.gw.security().keys_held() == 0 && self.gw.media().contexts.is_empty()
    }
}
