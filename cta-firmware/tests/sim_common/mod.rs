//! For the simulator tests: a minimal call agent over real UDP, a media
//! relay that can lose and reorder packets, and a Goertzel tone detector.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cablekey_cta_firmware::sim::{Config, Cta};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// The 32-byte call key K, base64 and hex.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const CALL: &str = "A3C47F21456789F0";
const WAIT: Duration = Duration::from_secs(5);

pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Plays the call agent: answers RSIP, sends commands, collects NTFYs.
pub struct Agent {
    pub sock: UdpSocket,
    tid: u32,
    /// Commands the CTAs sent that no one has looked at yet.
    pub inbox: VecDeque<(String, SocketAddr)>,
}

impl Agent {
    pub async fn bind() -> Agent {
        Agent {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            tid: 5000,
            inbox: VecDeque::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    async fn recv(&self) -> (String, SocketAddr) {
        let mut buf = vec![0u8; 8192];
        let (n, from) = timeout(WAIT, self.sock.recv_from(&mut buf))
            .await
            .expect("the CTA said nothing")
            .unwrap();
        (String::from_utf8(buf[..n].to_vec()).unwrap(), from)
    }

    /// Waits for a command from a CTA starting with `verb` and answers 200.
    pub async fn expect(&mut self, verb: &str) -> (String, SocketAddr) {
        let (text, from) = match self.inbox.iter().position(|(t, _)| t.starts_with(verb)) {
            Some(i) => self.inbox.remove(i).unwrap(),
            None => loop {
                let (t, f) = self.recv().await;
                if t.starts_with(verb) {
                    break (t, f);
                }
                self.inbox.push_back((t, f));
            },
        };
        let tid = text.split_whitespace().nth(1).unwrap();
        let ok = format!("200 {tid} OK\r\n");
        self.sock.send_to(ok.as_bytes(), from).await.unwrap();
        (text, from)
    }

    /// Sends a command (`{tid}` filled in, `\n` made CRLF) and returns the response.
    pub async fn command(&mut self, to: SocketAddr, text: &str) -> String {
        self.tid += 1;
        let tid = self.tid.to_string();
        let text = text.replace("{tid}", &tid).replace('\n', "\r\n");
        self.sock.send_to(text.as_bytes(), to).await.unwrap();
        loop {
            let (t, f) = self.recv().await;
            if t.split_whitespace().nth(1) == Some(tid.as_str()) && t.starts_with(char::is_numeric)
            {
                return t;
            }
            self.inbox.push_back((t, f));
        }
    }
}

/// The RTP address in an SDP body (`c=` and `m=audio`).
pub fn media_addr(sdp: &str) -> SocketAddr {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap()
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap();
    format!("{ip}:{port}").parse().unwrap()
}

pub fn sdp_for(addr: SocketAddr) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP 0\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

/// Starts a CTA on `ip` (any MGCP port) and registers it with the agent.
pub async fn start_cta(agent: &mut Agent, domain: &str, ip: &str, console: bool) -> Cta {
    let mut config = Config::new(domain, format!("{ip}:0").parse().unwrap(), agent.addr());
    config.console = console;
    let cta = Cta::start(config).await.unwrap();
    let (rsip, _) = agent.expect("RSIP").await;
    assert!(rsip.contains(&format!("aaln/*@{domain}")), "{rsip}");
    cta
}

/// How the relay treats packets: seeded, so a run can be repeated.
#[derive(Clone, Copy)]
pub struct Impairment {
    pub loss: f64,
    /// Share of packets held back and sent after the next one or two.
    pub reorder: f64,
    pub seed: u64,
}

impl Impairment {
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        reorder: 0.0,
        seed: 1,
    };
}

/// What one direction of the relay did.
#[derive(Default)]
pub struct Tally {
    pub forwarded: u64,
    pub dropped: u64,
    pub reordered: u64,
    /// The first packets seen, as sent.
    pub sample: Vec<Vec<u8>>,
}

/// splitmix64: a tiny seeded generator for the relay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Receives on its own socket and forwards to `to`, impaired.
pub struct Relay {
    pub addr: SocketAddr,
    pub tally: Arc<Mutex<Tally>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(to: SocketAddr, imp: Impairment) -> Relay {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let t = tally.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng(imp.seed);
            let mut buf = vec![0u8; 2048];
            let mut held: Option<(Vec<u8>, u32)> = None;
            while let Ok((n, _)) = sock.recv_from(&mut buf).await {
                let packet = buf[..n].to_vec();
                {
                    let mut t = t.lock().unwrap();
                    if t.sample.len() < 50 {
                        t.sample.push(packet.clone());
                    }
                }
                let r = rng.next();
                if r < imp.loss {
                    t.lock().unwrap().dropped += 1;
                } else if r < imp.loss + imp.reorder && held.is_none() {
                    let after = if rng.next() < 0.5 { 1 } else { 2 };
                    held = Some((packet, after));
                    t.lock().unwrap().reordered += 1;
                    continue;
                } else {
                    let _ = sock.send_to(&packet, to).await;
                    t.lock().unwrap().forwarded += 1;
                }
                if let Some((p, left)) = held.take() {
                    if left <= 1 {
                        let _ = sock.send_to(&p, to).await;
                        t.lock().unwrap().forwarded += 1;
                    } else {
                        held = Some((p, left - 1));
                    }
                }
            }
        });
        Relay { addr, tally, task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// Shared with the CALEA server's tests; not every test measures tones.
#[allow(unused_imports)]
pub use cablekey_audio::tone::{dominance_db, power, rms};
