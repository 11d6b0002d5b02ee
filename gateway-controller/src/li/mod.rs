//! The lawful-intercept service (`docs/li.md`): an HTTP API over mutual
//! TLS through which the CALEA server provisions intercept tasks and gets
//! the sealed escrow records of a target's calls in three modes.
//!
//! Logic without I/O: [`task`] (the task book and every check), [`route`]
//! (which operation a request is), [`audit`] (the hash chain),
//! [`identity`] (who a certificate names). I/O: [`files`] (task book and
//! audit log), [`api`] (the handler), [`server`] (TLS and HTTP), and
//! [`calls`], the feed from the call driver.

pub mod api;
pub mod audit;
pub mod calls;
pub mod clients;
pub mod files;
pub mod identity;
pub mod route;
pub mod server;
pub mod task;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::escrow::{Escrow, EscrowStore};
use crate::service::InterceptCommand;
pub use calls::Calls;

/// The `[li]` section of the controller's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiSettings {
    pub listen: SocketAddr,
    /// The head-end CA's certificate: client certificates must chain to it.
    pub ca_cert: PathBuf,
    /// The controller's certificate (PEM, with its chain) and key (mode 0600).
    pub cert: PathBuf,
    pub key: PathBuf,
    pub audit_log: PathBuf,
    /// Client certificates allowed (empty: any of the CA's).
    pub allowed_clients: Vec<clients::ClientId>,
    /// The revocation list file, reloaded when it changes.
    pub revoked_clients: Option<PathBuf>,
}

/// Why the LI service did not start.
#[derive(Debug, thiserror::Error)]
pub enum LiError {
    #[error("LI TLS file: {0}")]
    File(#[from] cablekey_keyfile::tls::TlsFileError),
    #[error("LI TLS: {what}: {error}")]
    Tls { what: String, error: rustls::Error },
    #[error("LI TLS: client certificate verifier: {0}")]
    Verifier(String),
    #[error("LI: {0}")]
    Files(#[from] files::FileError),
    #[error("LI: {0}")]
    Clients(#[from] clients::ListError),
    #[error("LI: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running LI service.
pub struct Li {
    pub addr: SocketAddr,
    pub calls: Arc<Calls>,
    task: JoinHandle<()>,
    media: Option<JoinHandle<()>>,
}

impl Li {
    pub fn stop(&self) {
        self.task.abort();
        if let Some(m) = &self.media {
            m.abort();
        }
    }
}

/// Loads the TLS files (refusing loose key permissions), the task book
/// (`tasks_path`) and the audit log (refusing a broken chain), then listens.
///
/// With `intercepts`, the tasks' media side reaches the call core through
/// it ([`api::Api::media_taps`]): the target's calls are copied to the
/// task's collector while the task is in force.
pub async fn start<S: EscrowStore>(
    settings: &LiSettings,
    tasks_path: PathBuf,
    escrow: Arc<Escrow<S>>,
    intercepts: Option<mpsc::UnboundedSender<InterceptCommand>>,
) -> Result<Li, LiError> {
    let tls = server::server_config(&settings.ca_cert, &settings.cert, &settings.key)?;
    let clients = clients::Clients::new(
        settings.allowed_clients.clone(),
        settings.revoked_clients.clone(),
    )?;
    let book = files::load_tasks(&tasks_path)?;
    let audit = files::AuditLog::open(&settings.audit_log)?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| LiError::Bind {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| LiError::Bind {
        addr: settings.listen,
        source,
    })?;
    let calls = Arc::new(Calls::default());
    let api = Arc::new(api::Api::new(
        book,
        tasks_path,
        audit,
        escrow,
        calls.clone(),
        clients,
    ));
    let media = intercepts.map(|tx| tokio::spawn(api.clone().media_taps(tx)));
    let task = tokio::spawn(server::serve(listener, tls, api));
    tracing::info!(%addr, "lawful-intercept API listening (mutual TLS)");
    Ok(Li {
        addr,
        calls,
        task,
        media,
    })
}
