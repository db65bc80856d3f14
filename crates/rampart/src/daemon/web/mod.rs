//! The administrators' HTTP side: the API under `/api/v1`, Prometheus
//! metrics at `/metrics` and the console at `/` — one listener
//! (`[api] listen`, loopback by default; TLS required for any other
//! address).
//!
//! # Where it runs, and why the detector never waits for it
//!
//! [`start`] binds the listener and starts a thread, `web`, with a tokio
//! runtime of its own (current-thread, plus tokio's blocking pool for
//! store reads, argon2 and waits on the daemon). Nothing on the detection
//! path touches this runtime:
//!
//! - requests reach the detector through the [`bridge`]: the same
//!   [`Input::Control`](crate::daemon::events::Input::Control) messages
//!   the control socket sends, on the sources' bounded channel. A flood
//!   of API requests queues there like any source's lines, and each
//!   waits on a blocking thread, so the detector answers at its pace;
//! - the live feed and the metrics' counters come from bus sinks
//!   (`sinks::feed`, `sinks::metrics`) behind drop-newest queues: a stuck
//!   browser loses feed events (counted), it never slows a ban;
//! - reads of the store use the web's own SQLite connection (WAL: readers
//!   never block the enforcer's writes), and `why` keeps its firewall
//!   context for a few seconds ([`Web::why`]): opening a connection per
//!   request delayed the enforcer's writes;
//! - the web threads run under `SCHED_IDLE` (falling back to nice 10
//!   where that is refused) with at most [`BLOCKING_THREADS`] blocking
//!   jobs at once: clients hammering the API (`why` and the rules cost
//!   real CPU) cannot take the CPU from the detector — a waking detector
//!   or enforcer thread preempts an idle-class thread at once, where a
//!   niced one can keep the core for the rest of its slice. The cost
//!   benchmark (`tests/api.rs`, `bench_api_cost`) measures it.
//!
//! # Modules
//!
//! - [`server`]: TCP, TLS (rustls), HTTP/1.1, limits and timeouts.
//! - [`auth`]: tokens, console users, sessions, CSRF, the login limiter;
//!   failed logins are sent to the detector (reason `console`).
//! - [`api`]: `/api/v1`, the JSON types being the CLI's `--json` ones
//!   ([`crate::views`]).
//! - [`metrics`]: `/metrics` (prometheus-client).
//! - [`openapi`]: `/api/v1/openapi.json`, checked against the router by a
//!   test.
//! - [`console`]: the admin console's pages at `/`, built on the same
//!   state ([`Web`]), sessions and bridge, reading through the API's
//!   functions and changing through its change path.

pub mod api;
pub mod auth;
pub mod bridge;
pub mod console;
pub mod metrics;
pub mod openapi;
pub mod server;

use crate::cli::{Global, RuleSources};
use crate::daemon::bus::Bus;
use crate::daemon::events::Event;
use crate::daemon::sinks::feed::FeedSender;
use crate::daemon::sources::Feed;
use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use rampart_core::config::ApiConfig;
use rampart_store::{Store, TokenInfo};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the web runtime shares with every handler.
pub struct Web {
    /// Requests to the detector (status, counts, list changes).
    pub bridge: bridge::Bridge,
    /// Sessions and the login limiter.
    pub auth: auth::Auth,
    /// `[api]` as the daemon started with it.
    pub config: ApiConfig,
    /// The configuration file and state directory (for `config check`,
    /// `why` and the blocklists).
    pub global: Global,
    /// Extra rule files given to `rampart run` (for the rules endpoints).
    pub rules: RuleSources,
    /// Where the listener is bound.
    pub addr: SocketAddr,
    /// The counters the metrics sink keeps.
    pub metrics: Arc<metrics::Metrics>,
    /// The live feed (subscribe for server-sent events).
    pub feed: FeedSender,
    /// What the console keeps between requests.
    pub console: console::State,
    store_path: PathBuf,
    store: Mutex<Option<Store>>,
    why: Mutex<Option<(std::time::Instant, crate::fw::Ctx)>>,
    bus: Arc<Bus>,
}

/// What the daemon hands the web side at start.
pub struct Parts {
    /// A clone of the sources' feed into the detector.
    pub feed: Feed,
    /// The event bus (the web publishes console logins on it).
    pub bus: Arc<Bus>,
    /// Configuration file and state directory.
    pub global: Global,
    /// `rampart run`'s extra rule files.
    pub rules: RuleSources,
    /// The store's database file.
    pub store_path: PathBuf,
    /// The counters the metrics sink keeps.
    pub metrics: Arc<metrics::Metrics>,
    /// The live feed's channel (the feed sink sends into it).
    pub events: FeedSender,
}

impl Web {
    /// Runs `f` on the web's own store connection (opened at first use).
    /// Call it from a blocking thread (`spawn_blocking`).
    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> rampart_store::Result<T>,
    ) -> Result<T> {
        let mut guard = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let opts = rampart_store::Options {
                busy_timeout: Duration::from_secs(2),
            };
            *guard = Some(
                Store::open_with(&self.store_path, opts).context("cannot open the ban store")?,
            );
        }
        let Some(store) = guard.as_mut() else {
            anyhow::bail!("the ban store is not open");
        };
        Ok(f(store)?)
    }

    /// Like [`Web::with_store`], for functions with `anyhow` errors.
    pub fn with_store_any<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut out = None;
        self.with_store(|s| {
            out = Some(f(s));
            Ok(())
        })?;
        out.unwrap_or_else(|| Err(anyhow::anyhow!("the ban store is not open")))
    }

    /// Everything `rampart why ADDR` says about `ip`, from a firewall
    /// context (configuration, store connection, netlink socket) kept for
    /// [`WHY_CONTEXT_LIFE`] instead of opened per request: opening one
    /// (the database, its WAL index) delays the enforcer's next write,
    /// which hammered `why` requests made visible in ban latency. Call it
    /// from a blocking thread.
    pub fn why(&self, ip: IpAddr) -> Result<crate::views::WhyView> {
        let mut guard = self.why.lock().unwrap_or_else(|e| e.into_inner());
        let kept = guard
            .take()
            .filter(|(t, _)| t.elapsed() <= WHY_CONTEXT_LIFE);
        let (opened, mut ctx) = match kept {
            Some(c) => c,
            None => (
                std::time::Instant::now(),
                crate::fw::Ctx::open(&self.global, false)?,
            ),
        };
        let why = crate::commands::lists::why_of(&mut ctx, ip);
        if why.is_ok() {
            *guard = Some((opened, ctx));
        }
        why
    }

    /// The API token whose secret hashes to `hash`.
    fn token(&self, hash: &str) -> Result<Option<TokenInfo>> {
        self.with_store(|s| s.token_by_hash(hash))
    }

    /// Tells the sinks (alerts) that `user` logged in to the console.
    fn bus_login(&self, user: &str, from: IpAddr) {
        self.bus.publish(Event::ConsoleLogin {
            user: user.to_string(),
            from: Some(from),
        });
    }
}

/// Every route: the API, metrics, and (from the console module) the pages.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(console::routes())
        .route("/metrics", axum::routing::get(metrics::handler))
        .layer(DefaultBodyLimit::max(server::MAX_BODY))
        .with_state(web)
}

/// How long `why` keeps its firewall context: a configuration change
/// (the sets' layout) is seen at most this late.
const WHY_CONTEXT_LIFE: Duration = Duration::from_secs(10);

/// Blocking threads of the web runtime: store reads, `why`, rule
/// loading, argon2 — at most this many at once, whatever the clients do.
const BLOCKING_THREADS: usize = 4;

/// The web runtime's nice value where `SCHED_IDLE` is refused (some
/// container runtimes filter `sched_setscheduler`).
const WEB_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority (Linux: the policy and nice
/// are per thread): `SCHED_IDLE`, so that on a busy machine the detector
/// and the enforcer (`SCHED_OTHER`, nice 0) always get the CPU first and
/// API clients cannot slow a ban; nice 10 if that is refused.
fn yield_cpu() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let min = thread_priority::ThreadPriority::Min;
    if set_thread_priority_and_policy(thread_native_id(), min, idle).is_ok() {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(None, WEB_NICE) {
        tracing::debug!("api: cannot lower the web threads' priority: {e}");
    }
}

/// Binds `[api] listen` and starts the web runtime on its own thread.
/// Returns where it listens, or `None` when `[api]` is off. A listener
/// that cannot be bound (the port is taken) or a certificate that cannot
/// be loaded is an error the caller logs: the firewall runs on without
/// its API.
pub fn start(config: &ApiConfig, parts: Parts) -> Result<Option<SocketAddr>> {
    if !config.enabled {
        return Ok(None);
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(server::tls_acceptor(c, k)?),
        _ => None,
    };
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {} ([api] listen)", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let web = Arc::new(Web {
        bridge: bridge::Bridge::new(parts.feed),
        auth: auth::Auth::new(Duration::from_secs(config.session_idle_secs)),
        config: config.clone(),
        global: parts.global,
        rules: parts.rules,
        addr,
        store_path: parts.store_path,
        metrics: parts.metrics,
        feed: parts.events,
        console: console::State::default(),
        store: Mutex::new(None),
        why: Mutex::new(None),
        bus: parts.bus,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("web-blocking")
        .on_thread_start(yield_cpu)
        .build()
        .context("cannot start the web runtime")?;
    std::thread::Builder::new()
        .name("web".into())
        .spawn(move || {
            yield_cpu();
            runtime.block_on(async move {
                tokio::spawn(console::keep_recent(Arc::clone(&web)));
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => server::serve(l, tls, web).await,
                    Err(e) => tracing::error!("api: cannot use the listener: {e}"),
                }
            });
        })
        .context("cannot start the web thread")?;
    Ok(Some(addr))
}
