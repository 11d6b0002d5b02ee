//! The controller as a tokio service: the sans-IO [`Controller`] driven by
//! a UDP socket, the monotonic clock, the OS generator and the escrow
//! store. [`start`] binds and opens everything, then runs the driver task
//! on a thread of its own; [`Running::shutdown`] ends it gracefully.

pub mod batch;
pub mod config;
mod driver;
pub mod gateways;
mod http;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cablekey_protocol::escrow::EpochPolicy;
use cablekey_protocol::mgcp::TransactionId;
use getrandom::rand_core::{Rng, UnwrapErr};
use getrandom::SysRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::escrow::keyfile::{self, KeyFileError};
use crate::escrow::{self, Escrow, SledStore, StoreError};
use crate::Controller;
pub use config::{ConfigError, Settings};
pub use driver::InterceptCommand;
pub use metrics::{Histogram, Metrics};

/// Why the controller did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("law-enforcement public key {path}: {source} (create one with `cablekey keygen`)")]
    LeKey { path: PathBuf, source: KeyFileError },
    #[error("escrow store {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error("{0}")]
    Li(#[from] crate::li::LiError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the MGCP driver thread: {0}")]
    Driver(std::io::Error),
}

/// The escrow as the service runs it.
pub type ServiceEscrow = Escrow<SledStore>;

/// A running controller.
pub struct Running {
    /// Where it listens for MGCP.
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub escrow: Arc<ServiceEscrow>,
    /// Where `GET /metrics` is served, if configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the lawful-intercept API listens, if configured.
    pub li_addr: Option<SocketAddr>,
    li: Option<crate::li::Li>,
    stop: Option<oneshot::Sender<()>>,
    intercepts: mpsc::UnboundedSender<InterceptCommand>,
    /// Closed when the driver thread ends.
    stopped: oneshot::Receiver<()>,
    scrapes: Option<JoinHandle<()>>,
}

impl Running {
    /// Where intercept tasks enter the running core (the LI API's seam):
    /// each command becomes `Controller::set_intercept` / `clear_intercept`.
    pub fn intercepts(&self) -> mpsc::UnboundedSender<InterceptCommand> {
        self.intercepts.clone()
    }

    /// Stops taking work, finishes the transactions and escrows in flight
    /// (at most `grace`), wipes the epoch key and closes the store.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(grace + Duration::from_secs(5), &mut self.stopped).await;
        if let Some(s) = self.scrapes.take() {
            s.abort();
        }
        if let Some(li) = self.li.take() {
            li.stop();
        }
        self.escrow.end_epoch();
        self.escrow.store().close();
    }
}

/// The OS generator as the call core's key source. The OS failing to give
/// random bytes leaves nothing safe to do: the process stops.
pub fn os_keys(out: &mut [u8]) {
    UnwrapErr(SysRng).fill_bytes(out);
}

/// Checks the LE key, opens the store, binds the socket and starts the
/// driver. Nothing is sent before all of them succeed.
pub async fn start(settings: Settings, grace: Duration) -> Result<Running, StartError> {
    let le =
        keyfile::load_public_key(&settings.le_public_key).map_err(|source| StartError::LeKey {
            path: settings.le_public_key.clone(),
            source,
        })?;
    let store =
        SledStore::open(&settings.store_dir, escrow::Options::default()).map_err(|source| {
            StartError::Store {
                path: settings.store_dir.clone(),
                source,
            }
        })?;
    let policy = EpochPolicy {
        max_age: settings.epoch,
        ..EpochPolicy::default()
    };
    let escrow = Arc::new(Escrow::new(store, le, policy));
    // Bound here so a busy port fails `start`; registered with the
    // driver's own runtime on its thread.
    let bound = std::net::UdpSocket::bind(settings.listen).and_then(|s| {
        s.set_nonblocking(true)?;
        Ok(s)
    });
    let sock = match bound {
        Ok(s) => s,
        Err(source) => {
            escrow.store().close();
            return Err(StartError::Bind {
                addr: settings.listen,
                source,
            });
        }
    };
    let addr = sock.local_addr().map_err(|source| StartError::Bind {
        addr: settings.listen,
        source,
    })?;
    let scrape = match settings.metrics {
        Some(at) => match http::bind(at).await {
            Ok(l) => Some(l),
            Err(source) => {
                escrow.store().close();
                return Err(StartError::Bind { addr: at, source });
            }
        },
        None => None,
    };
    let (intercepts, intercept_rx) = mpsc::unbounded_channel();
    // The LI service refuses to start (and so does the controller) on a
    // missing or readable-by-others key, or a broken audit chain.
    let li = match &settings.li {
        Some(li) => {
            let tasks = settings.store_dir.join("li").join("tasks.json");
            match crate::li::start(li, tasks, escrow.clone(), Some(intercepts.clone())).await {
                Ok(l) => Some(l),
                Err(e) => {
                    escrow.store().close();
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    let mut core = settings.core;
    // Call ids must not repeat across restarts: start from the clock, far
    // ahead of the previous run's counter (4096 ids per millisecond).
    core.first_call_number = escrow::unix_ms() << 12;
    // Nor transaction ids: a gateway answers a repeated id from its cache
    // without executing it (osmo-mgw keeps one per endpoint, for ever).
    let mut seed = [0u8; 4];
    os_keys(&mut seed);
    core.transaction.first_tid = TransactionId(1 + u32::from_le_bytes(seed) % TransactionId::MAX);
    if core.key_mode == crate::KeyMode::Derived {
        let without = settings.registry.iter();
        let without = without.filter(|e| e.session_key.is_none()).count();
        if without > 0 {
            // Their calls are refused (NoSessionKey). A count, never a key.
            tracing::warn!(
                endpoints = without,
                "derived call keys: endpoints without a session key cannot call"
            );
        }
    }
    if let Some(a) = &core.anchor {
        tracing::info!(mgw = %a.mgw, domain = a.domain(), "media anchored at a media gateway");
    }
    let mut registry = settings.registry;
    let book = settings.store_dir.join(gateways::FILE);
    match gateways::load(&book) {
        Ok(entries) => {
            let taken = gateways::apply(&mut registry, &entries);
            tracing::info!(
                endpoints = taken,
                "addresses from the gateway book (RSIPs to the previous process)"
            );
        }
        // A cache of RSIPs: without it, those gateways are reached again
        // when they register. Not a reason to refuse calls.
        Err(e) => tracing::warn!("gateway book not used: {e}"),
    }
    let ctrl = Controller::new(core, registry, os_keys as fn(&mut [u8]));
    let metrics = Arc::new(Metrics::default());
    let (stop, stop_rx) = oneshot::channel();
    let (done, stopped) = oneshot::channel();
    let li_calls = li.as_ref().map(|l| l.calls.clone());
    let (escrow2, metrics2) = (escrow.clone(), metrics.clone());
    // The call core is one loop: on a current-thread runtime of its own,
    // its wake-ups (datagrams, escrow acknowledgements) stay on one thread
    // instead of hopping between the shared runtime's workers.
    let spawned = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            let sock = {
                let _in = rt.enter();
                UdpSocket::from_std(sock)?
            };
            let mut driver = driver::Driver::new(ctrl, sock, escrow2, metrics2, intercept_rx);
            driver.li = li_calls;
            driver.book = Some(gateways::Keeper::new(book));
            std::thread::Builder::new()
                .name("mgcp-driver".into())
                .spawn(move || {
                    rt.block_on(driver.run(stop_rx, grace));
                    let _ = done.send(());
                })
        });
    if let Err(e) = spawned {
        if let Some(li) = li {
            li.stop();
        }
        escrow.store().close();
        return Err(StartError::Driver(e));
    }
    tracing::info!(%addr, store = %settings.store_dir.display(), "controller listening");
    let metrics_addr = scrape.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(at) = metrics_addr {
        tracing::info!(%at, "metrics at http://{at}/metrics");
    }
    let scrapes = scrape.map(|l| tokio::spawn(http::serve(l, metrics.clone())));
    Ok(Running {
        addr,
        metrics,
        escrow,
        metrics_addr,
        li_addr: li.as_ref().map(|l| l.addr),
        li,
        stop: Some(stop),
        intercepts,
        stopped,
        scrapes,
    })
}
