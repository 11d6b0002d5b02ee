//! The POTS gateway on real sockets (`cablekey pots`): the CTA simulator's
//! driver (UDP MGCP, SRTP media, G.711 frames) runs the trunk endpoints,
//! with [`Pstn`] on the far side of them. Each trunk's PSTN PCM is a tone
//! generator and a recorder (`play tone HZ line N`, `record FILE line N`
//! through [`PotsGateway::command`]).
//!
//! Nothing here prints a key or a called number.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use cablekey_cta_firmware::sim::{self, Cta, FarEnd, Snapshot};
use cablekey_cta_firmware::{LineView, TerminalEvent};
use cablekey_protocol::secret::Fingerprint;
use cablekey_protocol::time::Instant;

use crate::pstn::{self, Pstn};
use crate::TRUNK_PREFIX;

/// How to run one POTS gateway.
#[derive(Clone, Debug)]
pub struct Config {
    /// Its domain: trunks are `ds/ds1-1/N@<domain>`.
    pub domain: String,
    /// Where it listens for MGCP; its IP is also its media address.
    pub mgcp: SocketAddr,
    pub call_agent: SocketAddr,
    /// Trunks, 1 to 24.
    pub trunks: usize,
    pub rtp_base_port: u16,
    pub pstn: pstn::Config,
    /// Open a serial console on a pseudo-terminal (the CTA console's
    /// commands, `line N` naming the trunk).
    pub console: bool,
}

impl Config {
    pub fn new(domain: &str, mgcp: SocketAddr, call_agent: SocketAddr) -> Config {
        Config {
            domain: domain.into(),
            mgcp,
            call_agent,
            trunks: 4,
            rtp_base_port: 20000,
            pstn: pstn::Config::default(),
            console: false,
        }
    }
}

/// The PSTN model as the simulator's far end. Text requests:
/// `call NUMBER` (answers `ok: trunk N`), `hangup N`, `answer N`, `status`.
struct Network {
    name: String,
    pstn: Pstn,
    /// The lines as last seen, for picking a free trunk.
    seen: Vec<LineView>,
}

impl Network {
    fn log_events(&mut self) {
        while let Some(ev) = self.pstn.poll_event() {
            tracing::info!(gateway = %self.name, "pstn: {ev:?}");
        }
    }
}

impl FarEnd for Network {
    fn step(&mut self, now: Instant, lines: &[LineView], out: &mut Vec<(usize, TerminalEvent)>) {
        self.seen = lines.to_vec();
        self.pstn.step(now, lines, out);
        self.log_events();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pstn.poll_timeout()
    }

    fn command(&mut self, _now: Instant, text: &str) -> String {
        let words: Vec<&str> = text.split_whitespace().collect();
        let trunk = |n: &str| {
            n.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .map(|n| n - 1)
                .ok_or_else(|| format!("error: not a trunk number: {n}"))
        };
        let answer = match words.as_slice() {
            ["call", number] => self
                .pstn
                .call(number, &self.seen)
                .map(|t| format!("ok: trunk {}", t + 1)),
            ["hangup", n] => match trunk(n) {
                Ok(t) => self
                    .pstn
                    .hang_up(t)
                    .map(|()| format!("ok: trunk {n} released")),
                Err(e) => return e,
            },
            ["answer", n] => match trunk(n) {
                Ok(t) => self
                    .pstn
                    .answer(t)
                    .map(|()| format!("ok: trunk {n} answers")),
                Err(e) => return e,
            },
            ["status"] => Ok((0..self.pstn.trunks())
                .filter_map(|t| Some(format!("trunk {}: {}", t + 1, self.pstn.describe(t)?)))
                .collect::<Vec<_>>()
                .join("\n")),
            _ => return "error: call NUMBER | hangup N | answer N | status".into(),
        };
        self.log_events();
        answer.unwrap_or_else(|e| format!("error: {e}"))
    }
}

/// A running POTS gateway.
pub struct PotsGateway {
    pub domain: String,
    cta: Cta,
}

impl PotsGateway {
    /// Binds the MGCP socket and starts the gateway, which announces its
    /// trunks with `RSIP ds/ds1-1/*@<domain>`. Call within a tokio runtime.
    pub async fn start(config: Config) -> io::Result<PotsGateway> {
        let trunks = config
            .trunks
            .clamp(1, cablekey_cta_firmware::gateway::MAX_ENDPOINTS);
        let mut sc = sim::Config::new(&config.domain, config.mgcp, config.call_agent);
        sc.endpoint_prefix = TRUNK_PREFIX.into();
        sc.lines = trunks;
        sc.rtp_base_port = config.rtp_base_port;
        sc.console = config.console;
        let network = Network {
            name: config.domain.clone(),
            pstn: Pstn::new(config.pstn, trunks),
            seen: Vec::new(),
        };
        let cta = Cta::start_with(sc, Some(Box::new(network))).await?;
        Ok(PotsGateway {
            domain: config.domain,
            cta,
        })
    }

    /// The simulator under it (snapshots, consoles, keys received).
    pub fn cta(&self) -> &Cta {
        &self.cta
    }

    pub fn mgcp(&self) -> SocketAddr {
        self.cta.mgcp
    }

    /// The name of trunk `i` (0-based).
    pub fn trunk(&self, i: usize) -> String {
        crate::trunk_name(&self.domain, i)
    }

    /// A call from the network to `number` (reverse origination): returns
    /// the trunk (0-based) it seized.
    pub async fn call(&self, number: &str) -> Result<usize, String> {
        let answer = self.cta.far_end(&format!("call {number}")).await;
        answer
            .strip_prefix("ok: trunk ")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .map(|n| n - 1)
            .ok_or(answer)
    }

    /// The network party on trunk `i` (0-based) hangs up.
    pub async fn hang_up(&self, i: usize) -> Result<(), String> {
        let answer = self.cta.far_end(&format!("hangup {}", i + 1)).await;
        if answer.starts_with("ok") {
            Ok(())
        } else {
            Err(answer)
        }
    }

    /// A simulator console command (`play tone 440 0.5 line 2`,
    /// `record FILE line 2`, `status`, ...).
    pub async fn command(&self, text: &str) -> String {
        self.cta.command(text).await
    }

    /// A request to the network model (`call`, `hangup`, `answer`, `status`).
    pub async fn network(&self, text: &str) -> String {
        self.cta.far_end(text).await
    }

    pub async fn snapshot(&self) -> Option<Snapshot> {
        self.cta.snapshot().await
    }

    /// Every call key a trunk installed, as fingerprints, oldest first.
    pub fn keys_received(&self) -> Vec<Fingerprint> {
        self.cta.keys_received()
    }

    /// Waits until the controller answered the RSIP, for up to `limit`.
    pub async fn registered(&self, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            match self.cta.snapshot().await {
                Some(s) if s.registered => return true,
                Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                None => return false,
            }
        }
        false
    }

    pub async fn stop(self) {
        self.cta.stop().await;
    }
}
