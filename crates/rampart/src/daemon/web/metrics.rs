//! `GET /metrics`: Prometheus' text format through `prometheus-client`.
//!
//! Two kinds of figures:
//!
//! - **counted as events happen** by the metrics sink
//!   ([`crate::daemon::sinks::metrics`]) into [`Metrics`]: attacks per
//!   rule and reason, bans per reason and origin, the line→kernel latency
//!   histogram, unblocks, self-unblocks, console logins;
//! - **read at scrape time** into a registry built for that scrape: the
//!   daemon's own counters through the bridge (lines read per source,
//!   tracked addresses, sink queues, alert deliveries), the store (entries
//!   per list), the blocklists' state, tailer lag (file size minus the
//!   committed read position) and the process's memory.
//!
//! Names follow Prometheus' conventions: `rampart_` prefix, base units
//! (seconds, bytes), counters ending in `_total`.
//!
//! Authentication: none on a loopback listener unless `[api]
//! metrics_token` is set; off loopback, the `metrics_token` or any API
//! token (read scope is enough).

use super::Web;
use super::api::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The figures counted as events happen (shared by the sink and the
/// endpoint).
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    bans: Family<Labels, Counter>,
    ban_failures: Family<Labels, Counter>,
    unblocks: Counter,
    self_unblocks: Counter,
    console_logins: Counter,
    latency: Histogram,
}

/// Latency buckets, seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 10.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty counters, registered.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("rampart");
        let m = Metrics {
            events: Family::default(),
            bans: Family::default(),
            ban_failures: Family::default(),
            unblocks: Counter::default(),
            self_unblocks: Counter::default(),
            console_logins: Counter::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            registry: Registry::default(),
        };
        r.register(
            "events",
            "Attack lines recognised, by rule and reason",
            m.events.clone(),
        );
        r.register(
            "bans",
            "Bans put in the kernel, by reason and origin (detector, kernel, netblock, fleet)",
            m.bans.clone(),
        );
        r.register(
            "ban_failures",
            "Bans the kernel refused (retried), by reason",
            m.ban_failures.clone(),
        );
        r.register(
            "unblocks",
            "Entries lifted (CLI, API, console, fleet, self-unblock)",
            m.unblocks.clone(),
        );
        r.register(
            "self_unblocks",
            "Blocks lifted by the blocked person (the blocked person's page)",
            m.self_unblocks.clone(),
        );
        r.register(
            "console_logins",
            "Successful console logins",
            m.console_logins.clone(),
        );
        r.register_with_unit(
            "ban_latency",
            "Time from reading the line that triggered a ban to the ban being in the kernel",
            Unit::Seconds,
            m.latency.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// An attack line.
    pub fn attack(&self, rule: &str, reason: &str) {
        self.events
            .get_or_create(&labels(&[("rule", rule), ("reason", reason)]))
            .inc();
    }

    /// A ban in the kernel, `latency` after its line was read.
    pub fn ban(&self, reason: &str, origin: &str, latency: Duration) {
        self.bans
            .get_or_create(&labels(&[("reason", reason), ("origin", origin)]))
            .inc();
        if origin != "fleet" {
            self.latency.observe(latency.as_secs_f64());
        }
    }

    /// A ban the kernel refused.
    pub fn ban_failed(&self, reason: &str) {
        self.ban_failures
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    /// An unblock, by `by`.
    pub fn unblocked(&self, by: &str) {
        self.unblocks.inc();
        if by == "self-unblock" {
            self.self_unblocks.inc();
        }
    }

    /// A console login.
    pub fn console_login(&self) {
        self.console_logins.inc();
    }

    /// Events counted per rule (for the console's rules page).
    pub fn events_of(&self, rule: &str, reason: &str) -> u64 {
        self.events
            .get_or_create(&labels(&[("rule", rule), ("reason", reason)]))
            .get()
    }
}

/// Whether the request may read the metrics.
async fn allowed(
    web: &Arc<Web>,
    headers: &HeaderMap,
    parts_peer: std::net::IpAddr,
) -> Result<(), ApiError> {
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let (Some(want), Some(got)) = (&web.config.metrics_token, sent)
        && super::auth::same(want, got)
    {
        return Ok(());
    }
    if web.config.metrics_token.is_none() && web.config.loopback() {
        return Ok(());
    }
    match sent {
        Some(t) if web.config.metrics_token.is_none() => {
            super::auth::token_principal(web, t, parts_peer)
                .await
                .map(|_| ())
        }
        Some(_) => Err(ApiError::forbidden("wrong metrics token")),
        None => Err(ApiError::unauthorized()),
    }
}

/// `GET /metrics`.
pub async fn handler(
    State(web): State<Arc<Web>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    allowed(&web, &headers, peer.ip()).await?;
    let status = web.bridge.ask(serde_json::json!({"cmd": "status"})).await;
    let w = Arc::clone(&web);
    let snapshot = tokio::task::spawn_blocking(move || scrape(&w, &status))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = String::new();
    encode_registry(&mut out, &web.metrics.registry)
        .and_then(|()| encode_registry(&mut out, &snapshot))
        .and_then(|()| encode_eof(&mut out))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        return Ok(([(header::CONTENT_TYPE, ct)], out).into_response());
    }
    let ct = "text/plain; version=0.0.4; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, ct)], classic_text(&out)).into_response())
}

/// OpenMetrics text → Prometheus' classic text format (what `promtool
/// check metrics` and older scrapers read): a counter's HELP and TYPE name
/// its `_total` sample, and the `# UNIT` and `# EOF` lines go.
fn classic_text(open: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in open.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(open.len());
    for l in open.lines() {
        if l.starts_with("# UNIT ") || l == "# EOF" {
            continue;
        }
        let meta = l.strip_prefix("# HELP ").map(|r| ("# HELP ", r));
        let meta = meta.or_else(|| l.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match meta {
            Some((tag, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{tag}{name}{suffix} {tail}"));
            }
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

fn gauge_family(
    r: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    rows: &[(Labels, i64)],
) {
    let f = Family::<Labels, Gauge>::default();
    for (l, v) in rows {
        f.get_or_create(l).set(*v);
    }
    match unit {
        Some(u) => r.register_with_unit(name, help, u, f),
        None => r.register(name, help, f),
    }
}

fn counter_family(
    r: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    rows: &[(Labels, u64)],
) {
    let f = Family::<Labels, Counter>::default();
    for (l, v) in rows {
        f.get_or_create(l).inc_by(*v);
    }
    match unit {
        Some(u) => r.register_with_unit(name, help, u, f),
        None => r.register(name, help, f),
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn i(v: &Value) -> i64 {
    i64::try_from(u(v)).unwrap_or(i64::MAX)
}

/// Everything read at scrape time.
fn scrape(web: &Web, status: &Value) -> Registry {
    let mut r = Registry::with_prefix("rampart");
    daemon_figures(&mut r, status);
    store_figures(&mut r, web);
    let lag = tailer_lag(web);
    gauge_family(
        &mut r,
        "tailer_lag",
        "Bytes written to a followed file after the committed read position",
        Some(Unit::Bytes),
        &lag,
    );
    let rss = process_rss();
    gauge_family(
        &mut r,
        "process_resident_memory",
        "The daemon's resident memory",
        Some(Unit::Bytes),
        &[(Vec::new(), rss)],
    );
    r
}

fn daemon_figures(r: &mut Registry, st: &Value) {
    let sources = st["sources"].as_array().cloned().unwrap_or_default();
    let per_source = |k: &str| -> Vec<(Labels, u64)> {
        sources
            .iter()
            .map(|s| {
                (
                    labels(&[("source", s["name"].as_str().unwrap_or(""))]),
                    u(&s[k]),
                )
            })
            .collect()
    };
    counter_family(
        r,
        "lines_read",
        "Lines read, per source",
        None,
        &per_source("lines"),
    );
    counter_family(
        r,
        "read",
        "Bytes read, per source",
        Some(Unit::Bytes),
        &per_source("bytes"),
    );
    counter_family(
        r,
        "source_errors",
        "Errors reported, per source",
        None,
        &per_source("errors"),
    );
    gauge_family(
        r,
        "tracked_addresses",
        "Addresses the detectors are counting against",
        None,
        &[(Vec::new(), i(&st["tracked"]))],
    );
    gauge_family(
        r,
        "tracked_addresses_max",
        "The most addresses the detectors track ([detect] max_tracked)",
        None,
        &[(Vec::new(), i(&st["max_tracked"]))],
    );
    counter_family(
        r,
        "tracker_evictions",
        "Tracked addresses forgotten to make room while the tracker was full",
        None,
        &[(Vec::new(), u(&st["evicted_full"]))],
    );
    let sinks = st["sinks"].as_array().cloned().unwrap_or_default();
    let per_sink = |k: &str| -> Vec<(Labels, i64)> {
        sinks
            .iter()
            .map(|s| {
                (
                    labels(&[("sink", s["sink"].as_str().unwrap_or(""))]),
                    i(&s[k]),
                )
            })
            .collect()
    };
    gauge_family(
        r,
        "sink_queue_depth",
        "Events waiting in a sink's queue",
        None,
        &per_sink("depth"),
    );
    gauge_family(
        r,
        "sink_queue_capacity",
        "A sink queue's capacity",
        None,
        &per_sink("capacity"),
    );
    let dropped: Vec<(Labels, u64)> = per_sink("dropped")
        .into_iter()
        .map(|(l, v)| (l, v.max(0) as u64))
        .collect();
    counter_family(
        r,
        "sink_dropped",
        "Events lost because a sink's queue was full",
        None,
        &dropped,
    );
    let channels = st["alerts"]["channels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let per_channel = |k: &str| -> Vec<(Labels, u64)> {
        channels
            .iter()
            .map(|c| {
                (
                    labels(&[("channel", c["name"].as_str().unwrap_or(""))]),
                    u(&c[k]),
                )
            })
            .collect()
    };
    counter_family(
        r,
        "alert_deliveries",
        "Alert messages delivered, per channel",
        None,
        &per_channel("sent"),
    );
    counter_family(
        r,
        "alert_failures",
        "Alert messages given up on after their retries, per channel",
        None,
        &per_channel("failed"),
    );
    gauge_family(
        r,
        "up",
        "1 when the detector answered this scrape",
        None,
        &[(Vec::new(), i64::from(st["ok"] == true))],
    );
}

fn store_figures(r: &mut Registry, web: &Web) {
    let now = crate::settings::now();
    let counts = web.with_store(|s| s.counts(now)).ok();
    let rows: Vec<(Labels, i64)> = counts
        .iter()
        .flat_map(|c| {
            [
                ("deny", &c.deny),
                ("allow", &c.allow),
                ("ignore", &c.ignore),
            ]
            .map(|(k, n)| {
                (
                    labels(&[("list", k)]),
                    i64::try_from(n.temporary + n.permanent).unwrap_or(i64::MAX),
                )
            })
        })
        .collect();
    gauge_family(
        r,
        "entries",
        "Entries in force, per list (deny, allow, ignore)",
        None,
        &rows,
    );
    let defs = rampart_firewall::blocklist::load_defs(&web.global.state_dir).unwrap_or_default();
    let entries: Vec<(Labels, i64)> = defs
        .iter()
        .map(|d| {
            (
                labels(&[("blocklist", &d.name)]),
                i64::try_from(d.entries).unwrap_or(i64::MAX),
            )
        })
        .collect();
    gauge_family(
        r,
        "blocklist_entries",
        "Entries of a blocklist loaded",
        None,
        &entries,
    );
    let age: Vec<(Labels, i64)> = defs
        .iter()
        .filter_map(|d| {
            d.updated
                .map(|t| (labels(&[("blocklist", &d.name)]), (now - t).max(0)))
        })
        .collect();
    gauge_family(
        r,
        "blocklist_refresh_age",
        "Time since a blocklist's last successful refresh",
        Some(Unit::Seconds),
        &age,
    );
    let failures: Vec<(Labels, i64)> = defs
        .iter()
        .map(|d| (labels(&[("blocklist", &d.name)]), i64::from(d.failures)))
        .collect();
    gauge_family(
        r,
        "blocklist_refresh_failures",
        "Failed refreshes of a blocklist since its last success",
        None,
        &failures,
    );
}

/// Per followed file: its size minus the committed read position of the
/// file now at that path (the whole file when it was not started yet).
pub(super) fn tailer_lag(web: &Web) -> Vec<(Labels, i64)> {
    use std::os::unix::fs::MetadataExt;
    let saved = web
        .with_store(|s| s.positions())
        .ok()
        .and_then(|p| {
            p.into_iter()
                .find(|(k, _)| k == crate::daemon::sources::files::CHECKPOINT_KEY)
        })
        .map(|(_, v)| v);
    let cp = crate::daemon::sources::files::saved(saved.as_ref());
    cp.iter()
        .filter_map(|(path, files)| {
            let m = std::fs::metadata(path).ok()?;
            let read = files
                .iter()
                .find(|p| p.dev == m.dev() && p.ino == m.ino())
                .map_or(0, |p| p.offset);
            let lag = i64::try_from(m.len().saturating_sub(read)).unwrap_or(i64::MAX);
            Some((labels(&[("file", &path.display().to_string())]), lag))
        })
        .collect()
}

/// Resident memory (`VmRSS` of `/proc/self/status`), bytes.
pub fn process_rss() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let kb = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            kb.trim().trim_end_matches("kB").trim().parse::<i64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}
