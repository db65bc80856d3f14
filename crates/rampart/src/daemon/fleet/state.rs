//! What `rampart fleet status` shows: counters and the last decision per
//! node, shared by the fleet's two threads (publisher and subscriber) and
//! read by the detector thread when the control socket asks.

use rampart_core::time::format_rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A connection's state, as async-nats reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Not connected yet.
    #[default]
    Connecting,
    /// Connected.
    Connected,
    /// Lost; reconnecting.
    Disconnected,
}

/// The last decision heard from a node.
#[derive(Debug, Clone, Serialize)]
pub struct LastDecision {
    /// `ban` or `unban`.
    pub op: &'static str,
    /// The target.
    pub target: String,
    /// The reason code.
    pub reason: String,
    /// When the node decided it (RFC 3339).
    pub decided: String,
    /// Milliseconds from the decision to its arrival here.
    pub lag_ms: i64,
}

/// The fleet's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetStatus {
    /// This node.
    pub node: String,
    /// The publishing connection.
    pub publisher: Link,
    /// The subscribing connection.
    pub subscriber: Link,
    /// Every still-active decision applied at start.
    pub caught_up: bool,
    /// Decisions published (acknowledged by JetStream).
    pub published: u64,
    /// Decisions waiting in the outbox (NATS unreachable).
    pub queued: u64,
    /// Decisions dropped because the outbox was full.
    pub queue_dropped: u64,
    /// Failed publications (retried from the outbox).
    pub publish_errors: u64,
    /// Messages received.
    pub received: u64,
    /// Decisions passed to the detector.
    pub accepted: u64,
    /// Messages signed by keys not in `trusted_keys` (ignored).
    pub untrusted: u64,
    /// Bad signatures or malformed messages (ignored).
    pub invalid: u64,
    /// Decisions already expired when they arrived.
    pub expired: u64,
    /// Refused by the share policy (reason, minimum length).
    pub refused_by_policy: u64,
    /// Bans waiting for their quorum.
    pub awaiting_quorum: u64,
    /// This node's own decisions coming back.
    pub own: u64,
    /// Messages the stream still has for us.
    pub pending: u64,
    /// The last decision's delay from its node to here, milliseconds.
    pub lag_ms: Option<i64>,
    /// Peers' bans in the kernel here.
    pub applied: u64,
    /// Their delay from the peer's decision to this kernel, milliseconds,
    /// over the last ones applied.
    pub applied_lag_ms: Option<Percentiles>,
    /// The last decision of each node.
    pub nodes: BTreeMap<String, LastDecision>,
    #[serde(skip)]
    lags: Vec<u32>,
}

/// Percentiles of recent delays.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// How many the percentiles are over.
    pub n: usize,
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Maximum.
    pub max: u32,
}

/// Delays remembered for the percentiles.
const LAGS: usize = 8192;

/// The shared status.
#[derive(Debug, Default)]
pub struct Shared(Mutex<FleetStatus>);

impl Shared {
    /// A status for `node`.
    pub fn new(node: &str) -> Shared {
        Shared(Mutex::new(FleetStatus {
            node: node.to_string(),
            ..FleetStatus::default()
        }))
    }

    /// Changes the status.
    pub fn update(&self, f: impl FnOnce(&mut FleetStatus)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }

    /// A copy of the status.
    pub fn get(&self) -> FleetStatus {
        let mut s = self.0.lock().map(|s| s.clone()).unwrap_or_default();
        let mut lags = std::mem::take(&mut s.lags);
        lags.sort_unstable();
        let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
        s.applied_lag_ms = (!lags.is_empty()).then(|| Percentiles {
            n: lags.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        });
        s
    }

    /// A peer's ban reached the kernel `lag` after the peer decided it.
    pub fn applied(&self, lag: std::time::Duration) {
        self.update(|s| {
            let ms = lag.as_millis().min(u128::from(u32::MAX)) as u32;
            if s.lags.len() >= LAGS {
                let i = (s.applied % LAGS as u64) as usize;
                s.lags[i] = ms;
            } else {
                s.lags.push(ms);
            }
            s.applied += 1;
        });
    }
}

/// A decision's entry in `nodes`.
pub fn last(d: &super::wire::Decision, now_ms: i64) -> LastDecision {
    LastDecision {
        op: match d.op {
            super::wire::Op::Ban => "ban",
            super::wire::Op::Unban => "unban",
        },
        target: d.target.clone(),
        reason: d.reason.clone(),
        decided: format_rfc3339(d.decided_ms / 1000),
        lag_ms: now_ms - d.decided_ms,
    }
}
