//! `GET /`: the overview. Bans in force by reason, the timeline of deny
//! decisions (24 h or 7 d, [`super::plot`]), the top services, countries
//! and networks (/24 for IPv4, /64 for IPv6) among the bans in force,
//! and the health of each source (lines read, lines per second since the
//! previous look, errors, unread bytes behind the end of a followed
//! file), from the daemon's own status.

use super::Viewer;
use super::plot::{self, Plot, Range};
use super::render::{self, PageError};
use crate::daemon::web::Web;
use axum::extract::{Query, State};
use axum::response::Response;
use rampart_core::addr::Net;
use rampart_store::DenyBrief;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Rows in each top list.
pub const TOP: usize = 10;

/// One row of a top list.
#[derive(Debug, Clone, Serialize)]
pub struct Top {
    /// What is counted (a reason, service, country or network).
    pub name: String,
    /// A title for it (reasons), when known.
    pub title: Option<String>,
    /// Bans in force.
    pub count: u64,
}

/// One source's health.
#[derive(Debug, Clone, Serialize)]
pub struct SourceHealth {
    /// Its name (a path, `journal`, ...).
    pub name: String,
    /// Lines read since the daemon started.
    pub lines: u64,
    /// Lines per second since the previous look (`None` on the first).
    pub rate: Option<String>,
    /// Errors reported.
    pub errors: u64,
    /// Bytes written to the file after the committed read position.
    pub lag_bytes: Option<i64>,
    /// The last error or notice.
    pub last_notice: Option<String>,
}

/// Everything the overview shows.
#[derive(Debug, Clone, Serialize)]
pub struct OverviewData {
    /// The timeline.
    pub plot: Plot,
    /// Bans in force.
    pub deny_total: usize,
    /// Bans in force per reason.
    pub by_reason: Vec<Top>,
    /// Per service (the rule's service; the reason for manual bans).
    pub services: Vec<Top>,
    /// Per country (those with a known country).
    pub countries: Vec<Top>,
    /// Per /24 or /64.
    pub networks: Vec<Top>,
    /// The sources.
    pub sources: Vec<SourceHealth>,
    /// The daemon's figures (`null` when it did not answer).
    pub daemon: Option<Value>,
}

/// The overview's query.
#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    /// `24h` (default) or `7d`.
    range: Option<String>,
}

/// Counts `keys` and keeps the [`TOP`] most frequent.
fn top(keys: impl Iterator<Item = String>, titles: &HashMap<String, String>) -> Vec<Top> {
    let mut n: HashMap<String, u64> = HashMap::new();
    for k in keys {
        *n.entry(k).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = n.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter()
        .take(TOP)
        .map(|(name, count)| Top {
            title: titles.get(&name).cloned(),
            name,
            count,
        })
        .collect()
}

/// The /24 (IPv4) or /64 (IPv6) holding a ban's target (a wider ban is
/// its own network).
pub fn network_of(t: Net) -> Net {
    let p = if t.addr.is_ipv4() { 24 } else { 64 };
    if t.prefix >= p {
        Net::containing(t.addr, p)
    } else {
        t
    }
}

/// What the store and the rules say (read on a blocking thread).
struct Stored {
    deny: Vec<DenyBrief>,
    timeline: Vec<rampart_store::BucketCount>,
    services: HashMap<String, String>,
    lag: HashMap<String, i64>,
}

fn read_stored(w: &Web, range: Range, now: i64) -> anyhow::Result<Stored> {
    let start = range.start(now);
    let (deny, timeline) = w.with_store(|s| {
        Ok((
            s.deny_brief(now)?,
            s.deny_timeline(start, range.bucket_secs())?,
        ))
    })?;
    // a configuration that does not load leaves the services unnamed
    let services = crate::commands::rules::rule_views(&w.global, &w.rules)
        .map(|v| v.into_iter().map(|r| (r.id, r.service)).collect())
        .unwrap_or_default();
    let lag = crate::daemon::web::metrics::tailer_lag(w)
        .into_iter()
        .filter_map(|(l, n)| Some((l.into_iter().next()?.1, n)))
        .collect();
    Ok(Stored {
        deny,
        timeline,
        services,
        lag,
    })
}

fn sources(web: &Web, status: &Value, lag: &HashMap<String, i64>) -> Vec<SourceHealth> {
    let list = status["sources"].as_array().cloned().unwrap_or_default();
    let lines: HashMap<String, u64> = list
        .iter()
        .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["lines"].as_u64()?)))
        .collect();
    let rates = web.console.line_rates(&lines);
    list.iter()
        .filter_map(|s| {
            let name = s["name"].as_str()?.to_string();
            Some(SourceHealth {
                lines: s["lines"].as_u64().unwrap_or(0),
                rate: rates.get(&name).map(|r| format!("{r:.1}")),
                errors: s["errors"].as_u64().unwrap_or(0),
                lag_bytes: lag.get(&name).copied(),
                last_notice: s["last_notice"].as_str().map(str::to_string),
                name,
            })
        })
        .collect()
}

/// Reason codes and their titles.
fn reason_titles() -> HashMap<String, String> {
    rampart_core::explain::builtin()
        .into_iter()
        .map(|r| (r.code, r.title))
        .collect()
}

fn assemble(web: &Web, range: Range, now: i64, st: Stored, status: &Value) -> OverviewData {
    let none = HashMap::new();
    let d = &st.deny;
    let service = |b: &DenyBrief| {
        b.rule
            .as_ref()
            .and_then(|r| st.services.get(r).cloned())
            .unwrap_or_else(|| b.reason.clone())
    };
    let daemon = (status["ok"] == true).then(|| {
        serde_json::json!({
            "pid": status["pid"], "uptime_secs": status["uptime_secs"], "lines": status["lines"],
            "events": status["events"], "bans": status["bans"], "tracked": status["tracked"],
        })
    });
    OverviewData {
        plot: plot::layout(range, range.start(now), &st.timeline),
        deny_total: d.len(),
        by_reason: top(d.iter().map(|b| b.reason.clone()), &reason_titles()),
        services: top(d.iter().map(service), &none),
        countries: top(d.iter().filter_map(|b| b.country.clone()), &none),
        networks: top(d.iter().map(|b| network_of(b.target).to_string()), &none),
        sources: sources(web, status, &st.lag),
        daemon,
    }
}

/// `GET /?range=24h|7d`.
pub async fn handler(
    State(web): State<Arc<Web>>,
    Viewer(s): Viewer,
    Query(q): Query<OverviewQuery>,
) -> Result<Response, PageError> {
    let range = Range::parse(q.range.as_deref());
    let now = crate::settings::now();
    let status = web.bridge.ask(serde_json::json!({"cmd": "status"})).await;
    let st = render::blocking(&web, move |w| read_stored(w, range, now)).await?;
    let data = assemble(&web, range, now, st, &status);
    render::page(Some(&s), "overview.html", "overview", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_64() {
        let n = |s: &str| network_of(Net::parse(s).unwrap()).to_string();
        assert_eq!(n("198.51.100.7"), "198.51.100.0/24");
        assert_eq!(n("203.0.113.0/20"), "203.0.112.0/20");
        assert_eq!(n("2001:db8:1:2:3::7"), "2001:db8:1:2::/64");
    }

    #[test]
    fn top_lists_are_most_frequent_first_and_short() {
        let keys = (0..30).map(|i| format!("k{}", i % 12));
        let t = top(keys, &HashMap::new());
        assert_eq!(t.len(), TOP);
        assert!(t[0].count >= t[TOP - 1].count);
        assert_eq!(t[0].count, 3);
    }
}
