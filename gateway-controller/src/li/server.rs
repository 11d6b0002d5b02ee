//! The LI listener: TCP, then a mutual-TLS handshake that only a
//! certificate of the head-end CA passes, then HTTP/1.1 into [`Api`].
//! A refused handshake is audited like any other refusal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::api::{Api, Client};
use super::identity::Identity;
use super::LiError;
use crate::escrow::EscrowStore;
use cablekey_keyfile::tls::{load_certs, load_key};

/// Longest a client may take to finish the handshake or send a request head.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// Most connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// The server side of mutual TLS: our certificate and key, and the CA
/// that every client certificate must chain to (with the clientAuth use).
pub fn server_config(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, LiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c).map_err(|e| LiError::Tls {
            what: format!("CA certificate {}", ca.display()),
            error: e,
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| LiError::Verifier(e.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LiError::Tls {
            what: "protocol versions".into(),
            error: e,
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| LiError::Tls {
            what: format!("certificate {} and key {}", cert.display(), key.display()),
            error: e,
        })?;
    Ok(Arc::new(config))
}

/// Accepts connections until the task is aborted.
pub async fn serve<S: EscrowStore>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    api: Arc<Api<S>>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("LI accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, api) = (acceptor.clone(), api.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, "LI handshake refused: {e}");
                    return api.handshake_refused(peer, &format!("TLS: {e}")).await;
                }
                Err(_) => {
                    return api
                        .handshake_refused(peer, "TLS: handshake timed out")
                        .await;
                }
            };
            // The verifier demands a certificate, so a finished handshake has one.
            let cert = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                Some(cert) => Identity::of(cert),
                None => {
                    return api
                        .handshake_refused(peer, "TLS: no client certificate")
                        .await
                }
            };
            let who = Client {
                identity: cert.to_string(),
                peer,
                cert: Some(cert),
            };
            let service = service_fn(move |req| {
                let (api, who) = (api.clone(), who.clone());
                async move { Ok::<_, std::convert::Infallible>(api.handle(who, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_LIMIT)
                .serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "LI connection: {e}");
            }
        });
    }
}
