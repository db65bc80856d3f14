//! Blocklist refresh: conditional downloads on a schedule, the previous
//! list kept on any failure.
//!
//! HTTP goes through `ureq` (blocking, rustls with the webpki roots, gzip):
//! the lightest maintained Rust client with rustls — `reqwest`'s blocking
//! client would bring tokio and hyper into a program that has no other use
//! for them.

use std::path::Path;
use std::time::Duration;

use rampart_core::time::Timestamp;
use rampart_lists::{Decision, Response, decide};
use rampart_store::Store;
use serde::Serialize;

use crate::blocklist::{ListDef, load_defs, save_cache, save_defs};
use crate::change::{Change, apply_change};
use crate::error::Result;
use crate::kernel::Kernel;

/// Largest body accepted (256 MiB).
const MAX_BODY: u64 = 256 << 20;

/// What one refresh of one list did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// The list.
    pub name: String,
    /// `loaded`, `not-modified`, `unchanged` or `failed`.
    pub outcome: &'static str,
    /// A human summary (the error for a failure).
    pub message: String,
}

impl RefreshReport {
    /// Whether the previous list stays because the refresh failed.
    pub fn failed(&self) -> bool {
        self.outcome == "failed"
    }
}

/// Fetches a list's source (its file, or its URL with `If-None-Match` /
/// `If-Modified-Since`) and decides what the response means. Returns the
/// decision and the body (to cache when it is loaded).
pub fn fetch(def: &ListDef) -> std::result::Result<(Decision, Vec<u8>), String> {
    let opts = def.parse_options();
    let validators = def.validators();
    if let Some(f) = &def.file {
        let body = std::fs::read(f).map_err(|e| format!("cannot read {f}: {e}"))?;
        let resp = Response {
            status: 200,
            etag: None,
            last_modified: None,
            content_length: None,
            body: &body,
        };
        let d = decide(&validators, &resp, &opts);
        return Ok((d, body));
    }
    let Some(url) = &def.url else {
        return Err("the list has no file and no URL".into());
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in validators.request_headers() {
        req = req.header(k, v);
    }
    let mut resp = req.call().map_err(|e| format!("download failed: {e}"))?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = resp.status().as_u16();
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    // a compressed transfer announces the compressed length
    let content_length = match header("content-encoding") {
        Some(_) => None,
        None => header("content-length").and_then(|l| l.parse().ok()),
    };
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| format!("download failed (the body was cut or too large): {e}"))?;
    let r = Response {
        status,
        etag: etag.as_deref(),
        last_modified: last_modified.as_deref(),
        content_length,
        body: &body,
    };
    let d = decide(&validators, &r, &opts);
    Ok((d, body))
}

/// Refreshes one list now: fetch, and when there is a new valid list, load
/// it ([`Change::LoadBlocklist`]) and cache its body. Any failure keeps the
/// previous list and is recorded in `def` (`failures`, `last_error`).
pub fn update_list(
    store: &mut Store,
    kernel: &mut Kernel,
    state_dir: &Path,
    def: &mut ListDef,
    now: Timestamp,
) -> RefreshReport {
    def.last_attempt = Some(now);
    let r = load(store, kernel, state_dir, def, now);
    let (outcome, message) = match r {
        Ok(x) => x,
        Err(msg) => {
            def.failures += 1;
            def.last_error = Some(msg.clone());
            return RefreshReport {
                name: def.name.clone(),
                outcome: "failed",
                message: msg,
            };
        }
    };
    def.failures = 0;
    def.last_error = None;
    def.updated = Some(now);
    RefreshReport {
        name: def.name.clone(),
        outcome,
        message,
    }
}

fn load(
    store: &mut Store,
    kernel: &mut Kernel,
    state_dir: &Path,
    def: &mut ListDef,
    now: Timestamp,
) -> std::result::Result<(&'static str, String), String> {
    let (decision, body) = fetch(def)?;
    match decision {
        Decision::NotModified => Ok((
            "not-modified",
            "not modified since the last download".into(),
        )),
        Decision::Unchanged { validators } => {
            set_validators(def, validators);
            Ok(("unchanged", "unchanged since the last download".into()))
        }
        Decision::KeepPrevious { reason } => Err(reason.to_string()),
        Decision::Replace { list, validators } => {
            let entries = list.stats.entries;
            let change = Change::LoadBlocklist {
                name: def.name.clone(),
                set: list.set,
            };
            let out = apply_change(store, kernel, &change, now).map_err(|e| e.to_string())?;
            save_cache(state_dir, &def.name, &body).map_err(|e| e.to_string())?;
            set_validators(def, validators);
            def.entries = entries;
            let (del, add) = out.plan.counts();
            Ok((
                "loaded",
                format!(
                    "{entries} entries ({} malformed lines skipped); kernel: {add} elements added, {del} removed",
                    list.stats.rejected
                ),
            ))
        }
    }
}

fn set_validators(def: &mut ListDef, v: rampart_lists::Validators) {
    def.etag = v.etag;
    def.last_modified = v.last_modified;
    def.body_hash = v.body_hash;
}

/// Seconds added to an interval so that many servers do not fetch a feed
/// at the same moment: up to a tenth of it (at most an hour), the same for
/// the same list and time.
fn jitter(name: &str, now: Timestamp, interval: u64) -> i64 {
    let span = (interval / 10).min(3600);
    if span == 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(now.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    i64::try_from(h % span).unwrap_or(0)
}

/// When to try again: the interval after a success; after failures, sooner
/// (5 minutes, doubling) but never later than the interval. The interval is
/// the one configured, however short (a local feed may change often).
fn next_due(def: &ListDef, now: Timestamp) -> Timestamp {
    let interval = def.refresh_secs.max(1);
    let wait = if def.failures == 0 {
        interval
    } else {
        (300u64 << def.failures.min(16).saturating_sub(1)).min(interval)
    };
    now + i64::try_from(wait).unwrap_or(i64::MAX / 4) + jitter(&def.name, now, wait)
}

/// Refreshes every list with a refresh interval whose time has come (a
/// list never refreshed is due), records each outcome and the next due
/// time in `STATE_DIR/blocklists.json`. The daemon calls this on a timer;
/// `now` is injected so the schedule can be tested.
pub fn refresh_due(
    store: &mut Store,
    kernel: &mut Kernel,
    state_dir: &Path,
    now: Timestamp,
) -> Result<Vec<RefreshReport>> {
    let mut defs = load_defs(state_dir)?;
    let mut reports = Vec::new();
    for def in defs.iter_mut() {
        if def.refresh_secs == 0 || def.next_due.is_some_and(|t| t > now) {
            continue;
        }
        reports.push(update_list(store, kernel, state_dir, def, now));
        def.next_due = Some(next_due(def, now));
    }
    if !reports.is_empty() {
        save_defs(state_dir, &defs)?;
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_with_jitter_and_backoff() {
        let mut d = ListDef::new("feed", 86400, "in");
        let t = next_due(&d, 1000);
        assert!((1000 + 86400..=1000 + 86400 + 3600).contains(&t), "{t}");
        d.failures = 1;
        let t = next_due(&d, 1000);
        assert!(
            (1300..=1330).contains(&t),
            "first retry after 5 minutes: {t}"
        );
        d.failures = 20;
        assert!(
            next_due(&d, 1000) <= 1000 + 86400 + 3600,
            "never later than the interval"
        );
        assert_ne!(jitter("a", 5, 86400), jitter("b", 5, 86400));
    }
}
