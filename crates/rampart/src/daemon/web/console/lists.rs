//! `GET /lists`: the deny, allow and ignore entries in force (the
//! [`EntryView`]s of `rampart list --json` and `GET /api/v1/list`), with
//! a filter, a form to add an entry and, per row, the way to remove it —
//! both through the confirmation page ([`super::address`]).

use super::Viewer;
use super::render::{self, PageError};
use crate::daemon::web::Web;
use crate::views::EntryView;
use axum::extract::{Query, State};
use axum::response::Response;
use rampart_store::Kind;
use serde::Deserialize;
use std::sync::Arc;

/// Rows shown at most (the filter narrows a longer list).
pub const MAX_ROWS: usize = 500;

/// The lists page's query.
#[derive(Debug, Deserialize)]
pub struct ListsQuery {
    /// `deny` (default), `allow` or `ignore`.
    kind: Option<String>,
    /// Words every shown entry contains (address, reason, summary,
    /// comment, country, origin, rule), case-insensitively.
    q: Option<String>,
    /// Only temporary entries (`on`).
    temp: Option<String>,
    /// The change just made.
    done: Option<String>,
}

/// Whether `e` contains every word of `filter`.
pub fn matches(e: &EntryView, filter: &str) -> bool {
    let hay = [
        e.target.as_str(),
        e.reason.as_str(),
        e.summary.as_str(),
        e.comment.as_deref().unwrap_or(""),
        e.country.as_deref().unwrap_or(""),
        e.origin.as_str(),
        e.rule.as_deref().unwrap_or(""),
    ]
    .join(" ")
    .to_lowercase();
    filter
        .to_lowercase()
        .split_whitespace()
        .all(|w| hay.contains(w))
}

/// `GET /lists?kind=…&q=…`.
pub async fn handler(
    State(web): State<Arc<Web>>,
    Viewer(s): Viewer,
    Query(q): Query<ListsQuery>,
) -> Result<Response, PageError> {
    let kind = q
        .kind
        .as_deref()
        .and_then(Kind::parse)
        .unwrap_or(Kind::Deny);
    let temp = q.temp.is_some();
    let filter = q.q.clone().unwrap_or_default();
    let (entries, counts) = render::blocking(&web, move |w| {
        let now = crate::settings::now();
        w.with_store_any(|st| {
            let list = crate::commands::lists::entries(st, &[kind], temp, now)?;
            Ok((EntryView::all(&list, now), st.counts(now)?))
        })
    })
    .await?;
    let shown: Vec<&EntryView> = entries.iter().filter(|e| matches(e, &filter)).collect();
    let total = |c: &rampart_store::KindCounts| c.temporary + c.permanent;
    let data = minijinja::context! {
        kind => kind.as_str(),
        q => filter,
        temp => temp,
        done => q.done,
        matching => shown.len(),
        entries => render::val(&shown[..shown.len().min(MAX_ROWS)]),
        max_rows => MAX_ROWS,
        counts => minijinja::context! {
            deny => total(&counts.deny), allow => total(&counts.allow), ignore => total(&counts.ignore)
        },
    };
    render::page(Some(&s), "lists.html", "lists", data)
}
