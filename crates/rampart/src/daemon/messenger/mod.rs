//! The messenger: what a blocked person is told, and a safe way to lift
//! their own block.
//!
//! Without it, a blocked address learns nothing: its browser times out,
//! its mail app says "cannot connect", and its owner opens a ticket. With
//! `[messenger] enabled = true`, the kernel (see `rampart_nft::messenger`)
//! redirects new connections from banned addresses — only bans whose
//! reason gets the page, never port scans, blocklists or countries — to
//! two small servers of the daemon:
//!
//! - the **page server** ([`web`]): axum over hyper, on the web ports (80,
//!   443, …, plain HTTP or TLS told apart by the first byte). It looks up
//!   the connection's own peer address in the store ([`lookup`]) and shows
//!   what the catalogue says about its ban: reason, attempts, since and
//!   until (in the visitor's local time), the remedy, a reference code for
//!   `rampart why REF` ([`refcode`]), the provider's contact; translated
//!   ([`i18n`]), rendered from templates ([`render`]), no JavaScript
//!   needed except for the self-unblock proof of work ([`pow`]).
//! - the **text server** ([`text`]): on the mail and FTP ports, one
//!   protocol-correct error line naming the reason and the page
//!   (`554 5.7.1`, `-ERR`, `* BYE`, `421`), then close — what a phone's
//!   mail app shows.
//!
//! Self-unblock: reasons marked in the catalogue (password typos), a
//! first temporary ban, once per address per period, a global hourly
//! budget, behind a proof of work; it takes the path `rampart unblock`
//! takes ([`unblock`]) and is recorded with its origin.
//!
//! Both servers run on one small current-thread tokio runtime on a thread
//! of their own, with store lookups on a bounded blocking pool: the
//! detector and the enforcer never wait on them. The page sets are kept
//! by a sink ([`keeper`]). Floods are met in layers: per-source meters in
//! the kernel, a per-source token bucket here ([`limit`]), a cap on
//! connections, small request limits and timeouts ([`web`]).
//!
//! TLS ([`tls`]): certificates chosen by SNI from configured files or
//! Let's Encrypt / cPanel directories; no match closes the handshake.

pub mod accounts;
pub mod i18n;
pub mod keeper;
pub mod limit;
pub mod lookup;
pub mod pow;
pub mod refcode;
pub mod render;
pub mod text;
pub mod tls;
pub mod unblock;
pub mod web;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use rampart_core::config::{Config, MessengerConfig};
use rampart_core::explain::Reason;
use rampart_store::Store;

use super::bus::{Bus, FullPolicy};
use super::sources::Feed;
use crate::settings::now;

/// Connections served at once by both servers together; more are closed.
const MAX_CONNECTIONS: usize = 256;
/// Store lookups running at once.
const BLOCKING_THREADS: usize = 4;

/// Counters (`status`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Pages served.
    pub pages: AtomicU64,
    /// Protocol messages given.
    pub texts: AtomicU64,
    /// Connections refused by the per-source limit or the connection cap.
    pub limited: AtomicU64,
    /// Self-unblocks done.
    pub unblocks: AtomicU64,
    /// Self-unblocks refused.
    pub refused: AtomicU64,
}

impl Stats {
    /// The counters as `status` shows them.
    pub fn report(&self) -> serde_json::Value {
        let n = |a: &AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        serde_json::json!({
            "pages": n(&self.pages), "protocol_messages": n(&self.texts),
            "rate_limited": n(&self.limited), "self_unblocks": n(&self.unblocks),
            "self_unblocks_refused": n(&self.refused),
        })
    }
}

/// What both servers share.
pub struct Shared {
    /// `[messenger]`.
    pub cfg: MessengerConfig,
    reasons: Vec<Reason>,
    accounts: accounts::Accounts,
    store: Mutex<Store>,
    /// The message catalogue.
    pub catalogue: i18n::Catalogue,
    /// The page templates.
    pub pages: render::Pages,
    /// Self-unblock challenges.
    pub pow: pow::Pow,
    /// Per-source request limit.
    pub per_source: limit::PerSource,
    /// Self-unblocks per hour.
    pub budget: limit::Budget,
    /// The daemon's input (self-unblocks).
    pub feed: Feed,
    /// The sinks (self-unblock events).
    pub bus: Arc<Bus>,
    /// TLS, when certificates are configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Connections being served.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Counters.
    pub stats: Stats,
}

impl Shared {
    /// The view of `ip` (blocking: a store read); `None` when the store
    /// cannot be read (logged).
    pub fn view(&self, ip: IpAddr) -> Option<lookup::View> {
        let ip = rampart_core::addr::normalise(ip);
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match lookup::view(&store, &self.cfg, &self.reasons, ip, now()) {
            Ok(mut v) => {
                v.fill_accounts(&self.accounts, ip, now());
                Some(v)
            }
            Err(e) => {
                tracing::warn!("messenger: cannot read the store: {e}");
                None
            }
        }
    }

    /// The next connection to serve, from any source under its limit and
    /// while a connection slot is free (the slot is held until dropped);
    /// the others are closed at once and counted.
    pub async fn next_admitted(
        self: &Arc<Self>,
        listener: &tokio::net::TcpListener,
    ) -> (
        tokio::net::TcpStream,
        SocketAddr,
        tokio::sync::OwnedSemaphorePermit,
    ) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let peer = SocketAddr::new(rampart_core::addr::normalise(peer.ip()), peer.port());
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                self.stats
                    .limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            };
            if self.admit(peer) {
                return (stream, peer, slot);
            }
        }
    }

    /// Whether a new connection from `peer` is served (per-source limit).
    pub fn admit(&self, peer: SocketAddr) -> bool {
        let ok = self.per_source.allow(peer.ip(), Instant::now());
        if !ok {
            self.stats.limited.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

/// Registers the page-set keeper on the bus (before the bus is shared).
pub fn add_sinks(config: &Config, bus: &mut Bus, store: &Path) -> Result<()> {
    if !config.messenger.enabled {
        return Ok(());
    }
    let reader = Store::open(store).context("messenger: cannot open the ban store")?;
    let keeper = keeper::PageKeeper::new(config.messenger.clone(), reader)
        .context("messenger: cannot reach nftables for the page sets")?;
    let rx = bus.add("messenger", 4096, FullPolicy::DropNewest, keeper::wants);
    super::sinks::spawn(Box::new(keeper), rx)?;
    Ok(())
}

/// Starts the page and text servers on their own thread; `None` when the
/// messenger is off.
pub fn start(
    config: &Config,
    pack: (Vec<Reason>, accounts::Accounts),
    store: &Path,
    feed: Feed,
    bus: Arc<Bus>,
) -> Result<Option<Arc<Shared>>> {
    let m = &config.messenger;
    if !m.enabled {
        return Ok(None);
    }
    let shared = Arc::new(shared(m, pack, store, feed, bus)?);
    let (web, text) = (bind(m.page_port)?, bind(m.text_port)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("messenger: cannot start its runtime")?;
    let sh = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("messenger".into())
        .spawn(move || {
            rt.block_on(async move {
                let web = tokio::net::TcpListener::from_std(web);
                let text = tokio::net::TcpListener::from_std(text);
                match (web, text) {
                    (Ok(w), Ok(t)) => {
                        tokio::join!(web::serve(w, Arc::clone(&sh)), text::serve(t, sh));
                    }
                    (Err(e), _) | (_, Err(e)) => tracing::error!("messenger: {e}"),
                }
            });
        })?;
    tracing::info!(
        "messenger: page on port {}, protocol messages on port {}",
        m.page_port,
        m.text_port
    );
    Ok(Some(shared))
}

fn shared(
    m: &MessengerConfig,
    (reasons, accounts): (Vec<Reason>, accounts::Accounts),
    store: &Path,
    feed: Feed,
    bus: Arc<Bus>,
) -> Result<Shared> {
    let tls = if m.has_certificates() {
        let r = tls::SniResolver::load(m)?;
        tracing::info!("messenger: {} certificate(s) loaded", r.len());
        Some(tokio_rustls::TlsAcceptor::from(
            Arc::new(r).server_config()?,
        ))
    } else {
        None
    };
    let dir = m.languages_dir.as_deref().map(Path::new);
    Ok(Shared {
        cfg: m.clone(),
        reasons,
        accounts,
        store: Mutex::new(Store::open(store).context("messenger: cannot open the ban store")?),
        catalogue: i18n::Catalogue::load(dir, &m.language)?,
        pages: render::Pages::new(&m.contact)?,
        pow: pow::Pow::new(m.pow_difficulty),
        per_source: limit::PerSource::new(m.rate, 2 * m.rate),
        budget: limit::Budget::new(m.self_unblock_per_hour, Instant::now()),
        feed,
        bus,
        tls,
        slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        stats: Stats::default(),
    })
}

/// A listening socket on every address (the kernel's redirect goes to the
/// address the connection came in on), IPv6 and IPv4 together.
fn bind(port: u16) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(("::", port))
        .or_else(|_| std::net::TcpListener::bind(("0.0.0.0", port)))
        .with_context(|| format!("messenger: cannot listen on port {port}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}
