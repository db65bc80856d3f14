//! The console's other pages: the live feed, blocklists and countries,
//! rules (with the events each counted and a "test a line" box), and the
//! configuration with its check result. Each reads what the matching API
//! endpoint reads, through the same functions.

use super::render::{self, PageError};
use super::{Posted, Viewer};
use crate::daemon::web::Web;
use crate::daemon::web::auth::Session;
use crate::views::{BlocklistView, CountriesView, LineTestView};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `GET /live`: the latest events (kept by the console), updated by the
/// script from `/api/v1/events` when JavaScript runs.
pub async fn live(State(web): State<Arc<Web>>, Viewer(s): Viewer) -> Result<Response, PageError> {
    let events = web.console.recent();
    let data = minijinja::context! { events => render::val(&events) };
    render::page(Some(&s), "live.html", "live", data)
}

/// A blocklist's row: its refresh state and where it comes from.
#[derive(Debug, Serialize)]
pub struct BlocklistRow {
    /// Name, entries, last refresh, failures, next refresh.
    #[serde(flatten)]
    pub status: BlocklistView,
    /// The URL or file.
    pub source: Option<String>,
    /// Seconds between refreshes (0: by hand).
    pub refresh_secs: u64,
    /// `in`, `out` or `both`.
    pub direction: String,
}

/// `GET /blocklists`: blocklists and country blocking.
pub async fn blocklists(
    State(web): State<Arc<Web>>,
    Viewer(s): Viewer,
) -> Result<Response, PageError> {
    let (rows, countries) = render::blocking(&web, |w| {
        let defs = rampart_firewall::blocklist::load_defs(&w.global.state_dir)?;
        let rows: Vec<BlocklistRow> = defs
            .iter()
            .map(|d| BlocklistRow {
                status: BlocklistView::status(d),
                source: d.url.clone().or_else(|| d.file.clone()),
                refresh_secs: d.refresh_secs,
                direction: d.direction.clone(),
            })
            .collect();
        let c = crate::settings::load_config_only(&w.global)?.country;
        Ok((rows, CountriesView::new(&c)))
    })
    .await?;
    let data = minijinja::context! {
        lists => render::val(&rows),
        countries => render::val(&countries),
    };
    render::page(Some(&s), "blocklists.html", "blocklists", data)
}

/// Renders the rules page, with the result of a test when there is one.
async fn rules_page(
    web: &Arc<Web>,
    s: &Session,
    filter: &str,
    input: &str,
    tested: Option<Vec<LineTestView>>,
) -> Result<Response, PageError> {
    let views = render::blocking(web, |w| {
        crate::commands::rules::rule_views(&w.global, &w.rules)
    })
    .await?;
    let filter = filter.to_lowercase();
    let mut rows: Vec<serde_json::Value> = views
        .iter()
        .filter(|r| {
            let hay = format!("{} {} {} {}", r.id, r.service, r.reason, r.description);
            filter
                .split_whitespace()
                .all(|w| hay.to_lowercase().contains(w))
        })
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["hits"] = web.metrics.events_of(&r.id, &r.reason).into();
            v
        })
        .collect();
    // the rules that recognised something first
    rows.sort_by_key(|r| std::cmp::Reverse(r["hits"].as_u64().unwrap_or(0)));
    let data = minijinja::context! {
        rules => render::val(&rows),
        total => views.len(),
        q => filter,
        input => input.lines().map(str::to_string).collect::<Vec<_>>(),
        tested => tested.map(|t| render::val(&t)),
    };
    render::page(Some(s), "rules.html", "rules", data)
}

/// The rules page's query.
#[derive(Debug, Deserialize)]
pub struct RulesQuery {
    /// Words every shown rule contains (id, service, reason, description).
    q: Option<String>,
}

/// `GET /rules?q=…`: the rules, those with hits first.
pub async fn rules(
    State(web): State<Arc<Web>>,
    Viewer(s): Viewer,
    Query(q): Query<RulesQuery>,
) -> Result<Response, PageError> {
    rules_page(&web, &s, q.q.as_deref().unwrap_or(""), "", None).await
}

/// The "test a line" form.
#[derive(Debug, Deserialize)]
pub struct TestForm {
    /// Log lines, one per line.
    lines: String,
}

/// Lines tested at once at most (as the API).
pub const MAX_TEST_LINES: usize = 1000;

/// `POST /rules/test`: what the rules make of the lines (nothing is
/// counted or banned).
pub async fn rules_test(
    State(web): State<Arc<Web>>,
    Posted(s, f): Posted<TestForm>,
) -> Result<Response, PageError> {
    let lines: Vec<String> = f
        .lines
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if lines.len() > MAX_TEST_LINES {
        return Err(PageError::bad_request(format!(
            "at most {MAX_TEST_LINES} lines at once"
        )));
    }
    let tested = render::blocking(&web, move |w| {
        let loaded = crate::settings::load(&w.global, &w.rules)?;
        crate::commands::rules::test_lines(&loaded, &lines)
    })
    .await?;
    rules_page(&web, &s, "", &f.lines, Some(tested)).await
}

/// Keys whose values the configuration page does not show.
const SECRET_WORDS: [&str; 4] = ["password", "secret", "token", "key"];

/// The configuration file's text with secret values replaced.
pub fn masked(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once('=') {
            Some((k, _)) if !k.trim_start().starts_with('#') && is_secret(k) => {
                format!("{k}= \"(hidden)\"")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_secret(key: &str) -> bool {
    let k = key.trim().to_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w))
}

/// `GET /config`: the file, its check (as `rampart config check`), and
/// its text with secrets hidden.
pub async fn config(State(web): State<Arc<Web>>, Viewer(s): Viewer) -> Result<Response, PageError> {
    let (check, text) = render::blocking(&web, |w| {
        let path = crate::settings::config_path(&w.global).0;
        if !path.exists() {
            return Ok((crate::settings::check_view(&path, &[]), None));
        }
        let diags = crate::settings::check_file(&path)?;
        let text = std::fs::read_to_string(&path)
            .ok()
            .map(|t| masked(&t).lines().map(str::to_string).collect::<Vec<_>>());
        Ok((crate::settings::check_view(&path, &diags), text))
    })
    .await?;
    let data = minijinja::context! {
        check => render::val(&check),
        text => text,
    };
    render::page(Some(&s), "config.html", "config", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_kept() {
        let t = "[alerts.smtp]\nhost = \"mail\"\npassword = \"hunter2\"\n# token = \"x\"\n\
                 [api]\nmetrics_token = \"abc\"\n";
        let m = masked(t);
        assert!(!m.contains("hunter2") && !m.contains("abc"), "{m}");
        assert!(
            m.contains("host = \"mail\"") && m.contains("# token = \"x\""),
            "{m}"
        );
    }
}
