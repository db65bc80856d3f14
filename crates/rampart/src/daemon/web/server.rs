//! The listener: TCP, optionally TLS (tokio-rustls), HTTP/1.1 (hyper),
//! and the axum [`Router`] of the API, metrics and console.
//!
//! Limits, because the listener may face the network: at most
//! [`MAX_CONNECTIONS`] connections at once (further ones wait in the
//! kernel's backlog), a TLS handshake and a request head must arrive
//! within [`HEAD_TIMEOUT`], request bodies are capped at [`MAX_BODY`]
//! (forms and JSON are small), and an idle keep-alive connection is closed
//! by hyper when the header timeout passes. The peer's address is put in
//! each request's extensions as axum's `ConnectInfo<SocketAddr>`, so
//! handlers and the login rate limiter know who asks.

use super::Web;
use anyhow::{Context, Result};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// A TLS handshake or a request head must be complete within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Loads `cert` and `key` (PEM) into a TLS acceptor (HTTP/1.1 only).
pub fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("[api] tls_cert {cert}: cannot read it"))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("[api] tls_cert {cert}: not a PEM certificate chain"))?;
    if certs.is_empty() {
        anyhow::bail!("[api] tls_cert {cert}: no certificate in it");
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("[api] tls_key {key}: cannot read a PEM private key from it"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("[api] tls_cert and tls_key do not make a usable certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until the runtime stops, each served on its own task.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, web: Arc<Web>) {
    let router = super::router(web);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // out of descriptors and the like: wait instead of spinning
                tracing::warn!("api: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            connection(stream, peer, tls, router).await;
            drop(permit);
        });
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, tls: Option<TlsAcceptor>, router: Router) {
    let _ = stream.set_nodelay(true);
    match tls {
        Some(acceptor) => match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(s)) => http(TokioIo::new(s), peer, router).await,
            Ok(Err(e)) => tracing::debug!("api: TLS handshake with {peer} failed: {e}"),
            Err(_) => tracing::debug!("api: TLS handshake with {peer} timed out"),
        },
        None => http(TokioIo::new(stream), peer, router).await,
    }
}

async fn http<I>(io: I, peer: SocketAddr, router: Router)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(io, svc);
    if let Err(e) = conn.await {
        tracing::debug!("api: connection from {peer}: {e}");
    }
}
