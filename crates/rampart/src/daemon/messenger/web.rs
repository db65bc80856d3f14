//! The page server: plain HTTP and HTTPS on one port (a TLS handshake is
//! recognised by its first byte), axum routes over hyper's HTTP/1.
//!
//! Hardening: a cap on connections, the per-source bucket before any
//! work, no keep-alive (each page is one request; and a browser that was
//! just unblocked must open a new connection, which the kernel no longer
//! redirects), 8 KiB of headers read within 5 s, 2 KiB of body, 10 s per
//! connection in all, two routes and no file serving, escaped output and a
//! strict Content-Security-Policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::Shared;
use super::i18n::text;
use super::lookup::View;
use super::render::Offer;
use crate::daemon::events::Event;
use crate::settings::now;

/// The self-unblock form's target.
pub const UNBLOCK_PATH: &str = "/rampart-unblock";
const CONNECTION_TIME: Duration = Duration::from_secs(10);
const HEADER_TIME: Duration = Duration::from_secs(5);
const TLS_RECORD: u8 = 0x16;

/// Accepts connections until the runtime ends.
pub async fn serve(listener: TcpListener, sh: Arc<Shared>) {
    let app = routes(Arc::clone(&sh));
    loop {
        let (stream, peer, slot) = sh.next_admitted(&listener).await;
        let (sh, app) = (Arc::clone(&sh), app.clone());
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_TIME, connection(stream, peer, sh, app)).await;
            drop(slot);
        });
    }
}

/// One connection: TLS or not, then HTTP/1 without keep-alive.
async fn connection(stream: TcpStream, peer: SocketAddr, sh: Arc<Shared>, app: Router) {
    let mut first = [0u8; 1];
    let tls = match tokio::time::timeout(HEADER_TIME, stream.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == TLS_RECORD,
        _ => return,
    };
    if !tls {
        return http(stream, peer, app).await;
    }
    let Some(acceptor) = &sh.tls else { return };
    // no certificate for the name asked: the handshake fails and closes
    if let Ok(Ok(s)) = tokio::time::timeout(HEADER_TIME, acceptor.accept(stream)).await {
        http(s, peer, app).await;
    }
}

async fn http<S>(io: S, peer: SocketAddr, app: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(8192)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIME)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

fn routes(sh: Arc<Shared>) -> Router {
    Router::new()
        .route(UNBLOCK_PATH, post(unblock))
        .fallback(page)
        .layer(DefaultBodyLimit::max(2048))
        .with_state(sh)
}

/// Runs a blocking store lookup off the runtime thread.
async fn view_of(sh: &Arc<Shared>, peer: SocketAddr) -> Option<View> {
    let sh = Arc::clone(sh);
    tokio::task::spawn_blocking(move || sh.view(peer.ip()))
        .await
        .ok()
        .flatten()
}

/// Every path and method but the unblock form: the page.
async fn page(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(view) = view_of(&sh, peer).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable.\n",
        )
            .into_response();
    };
    sh.stats.pages.fetch_add(1, Ordering::Relaxed);
    let (lang, t) = sh.catalogue.pick(accept_language(&headers));
    let offer = view.can_unblock.then(|| Offer {
        challenge: sh.pow.issue(peer.ip(), now()),
        difficulty: sh.pow.difficulty(),
    });
    let body = sh.pages.page(lang, t, &view, offer.as_ref());
    let status = if view.blocked() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    html(status, body)
}

/// The self-unblock form.
#[derive(Debug, serde::Deserialize)]
struct UnblockForm {
    challenge: String,
    answer: String,
}

async fn unblock(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<UnblockForm>,
) -> Response {
    let (lang, t) = sh.catalogue.pick(accept_language(&headers));
    let refuse = |key: &str, reference: Option<&str>| {
        sh.stats.refused.fetch_add(1, Ordering::Relaxed);
        html(
            StatusCode::FORBIDDEN,
            sh.pages.result(lang, t, false, text(t, key), reference),
        )
    };
    if let Err(e) = sh.pow.verify(&f.challenge, &f.answer, peer.ip(), now()) {
        tracing::info!("messenger: self-unblock of {} refused: {e}", peer.ip());
        return refuse("refused_proof", None);
    }
    let Some(view) = view_of(&sh, peer).await else {
        return refuse("refused_busy", None);
    };
    let reference = view.headline().map(|b| b.reference.clone());
    if !view.can_unblock {
        tracing::info!(
            "messenger: self-unblock of {} refused: not self-unblockable",
            peer.ip()
        );
        return refuse("refused_text", reference.as_deref());
    }
    if !sh.budget.take(std::time::Instant::now()) {
        tracing::warn!(
            "messenger: self-unblock of {} refused: the hourly budget is spent",
            peer.ip()
        );
        return refuse("refused_busy", reference.as_deref());
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match lift(&sh, &view, peer, ua).await {
        Ok(()) => {
            let body = sh.pages.result(
                lang,
                t,
                true,
                text(t, "unblocked_text"),
                reference.as_deref(),
            );
            html(StatusCode::OK, body)
        }
        Err(e) => {
            tracing::warn!("messenger: self-unblock of {} failed: {e}", peer.ip());
            refuse("refused_busy", reference.as_deref())
        }
    }
}

/// The unblock itself, and the event the alerts see.
async fn lift(sh: &Arc<Shared>, view: &View, peer: SocketAddr, ua: String) -> Result<(), String> {
    let (s, targets) = (Arc::clone(sh), view.targets.clone());
    tokio::task::spawn_blocking(move || super::unblock::lift(&s.feed, &targets, peer.ip(), &ua))
        .await
        .map_err(|e| e.to_string())??;
    sh.stats.unblocks.fetch_add(1, Ordering::Relaxed);
    for (target, b) in view.targets.iter().zip(&view.blocks) {
        sh.bus.publish(Event::SelfUnblock {
            target: *target,
            reason: b.reason.clone(),
        });
    }
    tracing::info!(
        "messenger: {} lifted its own block ({})",
        peer.ip(),
        view.blocks
            .iter()
            .map(|b| b.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn accept_language(h: &HeaderMap) -> Option<&str> {
    h.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src https: 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
