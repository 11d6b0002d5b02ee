//! The host simulator behind `cablekey cta`: CTAs as real UDP MGCP
//! endpoints with real SRTP media, audio from tones or WAV files, recording
//! to WAV, and a serial console per CTA on a pseudo-terminal.
//!
//! Only this module uses `std` (feature `sim`); the core stays `no_std`.
//! Nothing here prints key material: a call key shows as its fingerprint.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod audio;
mod console;
mod cta;
pub mod impair;
pub mod jitter;
mod media;
mod platform;

// G.711, WAV and tone checks are shared with the CALEA server.
pub use cablekey_audio::{g711, tone, wav};

use std::boxed::Box;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::string::String;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use console::HELP;
use console::{Ask, Request};
use media::{lock, SimMedia};
use platform::{Log, SimApp, SimTerminal};

use crate::gateway::Gateway;
use cablekey_protocol::secret::{Fingerprint, SecretBytes};

use crate::line::Phase;
use crate::ports::{Role, Suite};

/// How to run one simulated CTA. Not `Clone`: it may hold a secret.
/// `Debug` shows the session key's fingerprint only.
#[derive(Debug)]
pub struct Config {
    /// Its domain: endpoints are `aaln/N@<domain>`.
    pub domain: String,
    /// `aaln` (a CTA's lines) or a trunk gateway's `ds/ds1-1`
    /// ([`crate::Config::endpoint_prefix`]).
    pub endpoint_prefix: String,
    /// Where it listens for MGCP; its IP is also its media address.
    pub mgcp: SocketAddr,
    pub call_agent: SocketAddr,
    pub lines: usize,
    pub rtp_base_port: u16,
    pub default_suite: Suite,
    /// Open a serial console on a pseudo-terminal.
    pub console: bool,
    /// The signaling session key shared with the call agent, for derived
    /// call keys (`x-key:derived`). Provisioned here until registration
    /// establishes it; without one, derived requests are refused (532).
    pub session_key: Option<SecretBytes>,
}

impl Config {
    pub fn new(domain: &str, mgcp: SocketAddr, call_agent: SocketAddr) -> Config {
        Config {
            domain: domain.into(),
            endpoint_prefix: crate::gateway::LINE_PREFIX.into(),
            mgcp,
            call_agent,
            lines: 1,
            rtp_base_port: 16384,
            default_suite: Suite::AeadAes128Gcm,
            console: true,
            session_key: None,
        }
    }
}

/// What sits on the far side of a gateway's lines and acts on its own: the
/// PSTN behind a POTS gateway's trunks (`cablekey-pots-gateway`). Sans-IO:
/// the simulator calls [`FarEnd::step`] after everything the core does,
/// with what each line shows, and feeds the hook and digit events it asks
/// for back into the core, until it asks for none.
pub trait FarEnd: Send {
    /// React to the lines as they are at `now`; push `(line, event)` pairs.
    fn step(
        &mut self,
        now: cablekey_protocol::time::Instant,
        lines: &[crate::LineView],
        out: &mut Vec<(usize, crate::TerminalEvent)>,
    );
    /// When [`FarEnd::step`] wants to run again without any other input.
    fn poll_timeout(&self) -> Option<cablekey_protocol::time::Instant>;
    /// A request from the operator or a test ([`Cta::far_end`]).
    fn command(&mut self, now: cablekey_protocol::time::Instant, text: &str) -> String;
}

/// A CTA's state for programs (the lab, tests). Keys show as fingerprints.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub registered: bool,
    /// Each line's phase, line 1 first.
    pub phases: Vec<Phase>,
    pub connections: Vec<ConnSnapshot>,
}

/// One connection of a [`Snapshot`].
#[derive(Clone, Debug)]
pub struct ConnSnapshot {
    /// 0-based.
    pub line: usize,
    pub call_id: String,
    pub role: Role,
    /// The call key's fingerprint once SRTP is installed.
    pub key: Option<Fingerprint>,
    /// The key was derived here from the session key (`x-key:derived`),
    /// never received.
    pub derived: bool,
    pub packets_sent: u64,
    pub packets_received: u64,
    /// Packets that failed SRTP authentication or replay checks.
    pub rejected: u64,
    /// Lawful-intercept copies of sent packets (zero unless tapped).
    pub copies_sent: u64,
}

/// Call keys a CTA installed, shared between its task and its handle.
#[derive(Clone, Default)]
pub struct KeysReceived(Arc<Mutex<Vec<Fingerprint>>>);

impl KeysReceived {
    pub const CAP: usize = 1 << 20;

    fn record(&self, fp: Fingerprint) {
        let mut keys = lock(&self.0);
        // An MDCX re-installs the call's key: count each key once.
        if keys.len() < Self::CAP && keys.last() != Some(&fp) {
            keys.push(fp);
        }
    }
}

/// A running simulated CTA.
pub struct Cta {
    pub domain: String,
    pub mgcp: SocketAddr,
    /// The console's pty (`/dev/pts/N`), if one was opened.
    pub console: Option<PathBuf>,
    requests: mpsc::Sender<Ask>,
    live: Arc<AtomicUsize>,
    keys: KeysReceived,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Cta {
    /// Binds the MGCP socket, opens the console and starts the CTA, which
    /// announces itself with RSIP. Call from within a tokio runtime.
    pub async fn start(config: Config) -> io::Result<Cta> {
        Cta::start_with(config, None).await
    }

    /// Starts a gateway with `far_end` acting on the far side of its lines
    /// (the PSTN behind a trunk gateway): see [`FarEnd`].
    pub async fn start_with(
        mut config: Config,
        far_end: Option<Box<dyn FarEnd>>,
    ) -> io::Result<Cta> {
        let sock = UdpSocket::bind(config.mgcp).await?;
        let mgcp = sock.local_addr()?;
        let lines: media::Lines = (0..config.lines.clamp(1, crate::gateway::MAX_ENDPOINTS))
            .map(|_| Mutex::new(audio::LineAudio::default()))
            .collect();
        let media = SimMedia::new(mgcp.ip(), lines.clone());
        let live = media.live();
        let log = Log::new(&config.domain);
        let mut core = crate::Config::new(&config.domain, config.call_agent, mgcp.ip());
        core.lines = lines.len();
        core.endpoint_prefix = config.endpoint_prefix.clone();
        core.rtp_base_port = config.rtp_base_port;
        core.default_suite = config.default_suite;
        core.first_connection_id = first_connection_id();
        // A modem's 128 remembered transactions cover a phone's pace; a
        // simulator in a load test makes calls far faster than a person.
        core.transaction.max_history = 4096;
        let mut gw = Gateway::new(core, media, SimTerminal::new(log.clone()), SimApp);
        // Moved, not copied: the config keeps no second copy of the secret.
        gw.set_session_key(config.session_key.take());
        let (tx, rx) = mpsc::channel(16);
        let console = if config.console {
            Some(console::open(tx.clone())?)
        } else {
            None
        };
        if let Some(p) = &console {
            tracing::info!(cta = %config.domain, %mgcp, "console on {}", p.display());
        }
        let keys = KeysReceived::default();
        let runner = cta::Runner {
            name: config.domain.clone(),
            gw,
            sock,
            lines,
            log,
            console: console.clone(),
            keys: keys.clone(),
            far_end,
        };
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(runner.run(rx, stopped));
        Ok(Cta {
            domain: config.domain,
            mgcp,
            console,
            requests: tx,
            live,
            keys,
            stop: Some(stop),
            task,
        })
    }

    /// Runs a console command and returns its answer.
    pub async fn command(&self, text: &str) -> String {
        self.ask(text, Ask::Console).await
    }

    /// Hands `text` to the [`FarEnd`] and returns its answer.
    pub async fn far_end(&self, text: &str) -> String {
        self.ask(text, Ask::FarEnd).await
    }

    async fn ask(&self, text: &str, kind: fn(Request) -> Ask) -> String {
        let (reply, answer) = oneshot::channel();
        let req = Request {
            text: text.into(),
            reply,
        };
        if self.requests.send(kind(req)).await.is_err() {
            return "error: the CTA has stopped".into();
        }
        answer
            .await
            .unwrap_or_else(|_| "error: the CTA has stopped".into())
    }

    /// What the CTA is doing now; `None` once it has stopped.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Ask::Snapshot(reply)).await.ok()?;
        answer.await.ok()
    }

    /// The fingerprint of every call key this CTA has installed, oldest
    /// first (at most [`KeysReceived::CAP`]): what a crash test checks
    /// against the escrow.
    pub fn keys_received(&self) -> Vec<Fingerprint> {
        lock(&self.keys.0).clone()
    }

    /// SRTP sessions alive in the media controller (send and receive
    /// context each); zero when no call holds a key.
    pub fn srtp_sessions(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Stops the CTA: recordings are finished, keys wiped, sockets closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Seeds connection ids from the clock, so a restarted simulator does not
/// reuse ids the call agent still remembers.
fn first_connection_id() -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() as u32).wrapping_mul(1000) | 1
}

/// Lists the addresses `count` CTAs use: consecutive IPv4 addresses from
/// `base`, or one address with consecutive ports if it is IPv6.
pub fn addresses(base: IpAddr, port: u16, count: usize) -> Vec<SocketAddr> {
    (0..count)
        .map(|i| match base {
            IpAddr::V4(v4) => {
                let ip = u32::from(v4).wrapping_add(i as u32);
                SocketAddr::new(IpAddr::V4(ip.into()), port)
            }
            IpAddr::V6(_) => SocketAddr::new(base, port.wrapping_add(i as u16)),
        })
        .collect()
}
