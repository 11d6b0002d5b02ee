//! The CALEA server's client of the controller's LI API (`docs/li.md`):
//! mutual TLS with a certificate of the head-end CA, HTTP/1.1, one
//! connection per request. [`intake`](crate::intake) checks and stores
//! what it receives.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cablekey_keyfile::tls::{load_certs, load_key, TlsFileError};
use cablekey_protocol::li::{ApiError, Line, Mode, Task, TaskSpec};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest line of an answer (a record and its epoch record are < 1 KiB).
const MAX_LINE: usize = 1 << 20;
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// Response header with the controller's audit chain head (docs/li.md).
pub const AUDIT_HEAD: &str = "cablekey-audit-head";

/// Where the controller's LI API is and which files prove who we are.
#[derive(Debug, Clone)]
pub struct Conn {
    pub controller: SocketAddr,
    /// Name the controller's certificate must carry; its IP address if `None`.
    pub server_name: Option<String>,
    pub ca_cert: PathBuf,
    /// Our certificate and key (mode 0600); `None` presents none (tests).
    pub identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    File(#[from] TlsFileError),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot reach the controller's LI API at {addr}: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("LI API at {addr}: {why}")]
    Http { addr: SocketAddr, why: String },
    /// The controller refused, with its reason.
    #[error("refused by the controller ({status} {}): {}", .error.error, .error.message)]
    Refused { status: u16, error: ApiError },
    #[error("unexpected answer from the controller: {0}")]
    BadAnswer(String),
}

impl ClientError {
    /// The controller's refusal code (`task_revoked`, …), if it refused.
    pub fn refusal_code(&self) -> Option<&str> {
        match self {
            ClientError::Refused { error, .. } => Some(&error.error),
            _ => None,
        }
    }
}

/// A key request.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    pub case_id: String,
    pub mode: Mode,
    pub target: String,
    /// Historical: start times `[from, to)`, Unix milliseconds.
    pub window: Option<(u64, u64)>,
}

pub struct Client {
    tls: TlsConnector,
    addr: SocketAddr,
    name: ServerName<'static>,
}

/// An answer read line by line (a future-mode stream lasts until the task ends).
pub struct Lines {
    body: Incoming,
    buf: Vec<u8>,
    addr: SocketAddr,
    /// The controller's audit chain head after our request was audited.
    pub audit_head: Option<String>,
}

impl Lines {
    /// The next line, or `None` when the answer ends.
    pub async fn next(&mut self) -> Result<Option<Line>, ClientError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let rest = self.buf.split_off(end + 1);
                let line = std::mem::replace(&mut self.buf, rest);
                let parsed = serde_json::from_slice(&line[..end])
                    .map_err(|e| ClientError::BadAnswer(format!("line: {e}")))?;
                return Ok(Some(parsed));
            }
            if self.buf.len() > MAX_LINE {
                return Err(ClientError::BadAnswer("line too long".into()));
            }
            match self.body.frame().await {
                None => {
                    return match self.buf.is_empty() {
                        true => Ok(None),
                        false => Err(ClientError::BadAnswer("answer cut short".into())),
                    }
                }
                Some(Err(e)) => {
                    return Err(ClientError::Http {
                        addr: self.addr,
                        why: e.to_string(),
                    })
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.buf.extend_from_slice(data);
                    }
                }
            }
        }
    }
}

/// An error and its causes: hyper's "connection error" alone hides the
/// TLS alert that explains it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out += &format!(": {c}");
        cause = c.source();
    }
    out
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    pub fn new(conn: &Conn) -> Result<Client, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in load_certs(&conn.ca_cert)? {
            roots.add(c).map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &conn.identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
                .map_err(|e| ClientError::Tls(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        let name = match &conn.server_name {
            Some(n) => ServerName::try_from(n.clone())
                .map_err(|_| ClientError::Tls(format!("bad server name {n:?}")))?,
            None => ServerName::IpAddress(conn.controller.ip().into()),
        };
        Ok(Client {
            tls: TlsConnector::from(Arc::new(config)),
            addr: conn.controller,
            name,
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let addr = self.addr;
        let connect = |why: String| ClientError::Connect { addr, why };
        let http = |e: &dyn std::error::Error| ClientError::Http {
            addr,
            why: chain(e),
        };
        let tls = tokio::time::timeout(CONNECT_LIMIT, async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| connect(e.to_string()))?;
            self.tls
                .connect(self.name.clone(), tcp)
                .await
                .map_err(|e| connect(format!("TLS: {e}")))
        })
        .await
        .map_err(|_| connect("timed out".into()))??;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| http(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "cablekey-li")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| http(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http(&e))?
            .to_bytes();
        let error = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
            error: "unknown".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        Err(ClientError::Refused { status, error })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let resp = self.send(method, path, body).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http {
                addr: self.addr,
                why: e.to_string(),
            })?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    /// Provisions (or re-provisions, idempotently) an intercept task.
    pub async fn provision(&self, spec: &TaskSpec) -> Result<Task, ClientError> {
        let body = serde_json::to_vec(spec).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        self.json("POST", "/v1/tasks", Some(body)).await
    }

    pub async fn revoke(&self, case_id: &str) -> Result<Task, ClientError> {
        let path = format!("/v1/tasks/{}", query_escape(case_id));
        self.json("DELETE", &path, None).await
    }

    pub async fn list(&self) -> Result<Vec<Task>, ClientError> {
        self.json("GET", "/v1/tasks", None).await
    }

    /// Asks for keys; the answer is read with [`Lines::next`].
    pub async fn keys(&self, q: &KeyQuery) -> Result<Lines, ClientError> {
        let mut path = format!(
            "/v1/tasks/{}/{}?target={}",
            query_escape(&q.case_id),
            q.mode.name(),
            query_escape(&q.target)
        );
        if let Some((from, to)) = q.window {
            path += &format!("&from={from}&to={to}");
        }
        let resp = self.send("GET", &path, None).await?;
        let audit_head = resp
            .headers()
            .get(AUDIT_HEAD)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Lines {
            body: resp.into_body(),
            buf: Vec::new(),
            addr: self.addr,
            audit_head,
        })
    }
}
