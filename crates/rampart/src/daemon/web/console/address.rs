//! The address page (`GET /address?addr=…`: everything `rampart why`
//! says) and the two-step changes every page leads to: `GET /act` shows
//! what a change will do and asks for confirmation, `POST /act` (with the
//! CSRF token) makes it through the API's own change path and sends the
//! browser back to where it came from.

use super::render::{self, PageError};
use super::{Posted, Viewer};
use crate::daemon::web::Web;
use crate::daemon::web::api::{self, AddBody, UnblockBody};
use crate::daemon::web::auth::{Principal, Session};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use rampart_core::addr::Net;
use rampart_firewall::Change;
use rampart_store::{Kind, Removal, Scope};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The address page's query.
#[derive(Debug, Deserialize)]
pub struct AddressQuery {
    /// The address (or CIDR: its first address is looked up).
    addr: Option<String>,
    /// The change just made (a banner says so).
    done: Option<String>,
}

/// The principal a console session acts as (history records
/// `api:user:NAME` as who made a change).
pub fn principal(s: &Session) -> Principal {
    Principal {
        who: format!("user:{}", s.user),
        scope: Scope::Write,
        session: Some(s.clone()),
    }
}

/// `GET /address?addr=ADDR`: the `why` of an address, and its actions.
pub async fn handler(
    State(web): State<Arc<Web>>,
    Viewer(s): Viewer,
    Query(q): Query<AddressQuery>,
) -> Result<Response, PageError> {
    let raw = q.addr.as_deref().map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return render::page(Some(&s), "address.html", "address", minijinja::context! {});
    }
    let ip = match api::addr(raw) {
        Ok(n) => n.addr,
        Err(e) => {
            let data = minijinja::context! { query => raw, error => e.message };
            return render::page_with_status(
                Some(&s),
                "address.html",
                "address",
                data,
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let why = render::blocking(&web, move |w| w.why(ip)).await?;
    let has_deny = why.entries.iter().any(|e| e.kind == Kind::Deny);
    let data = minijinja::context! { query => raw, why => render::val(&why),
    has_deny => has_deny, done => q.done };
    render::page(Some(&s), "address.html", "address", data)
}

/// A change the console makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Lift the deny entries and forget the counts.
    Unblock,
    /// Add a deny entry.
    Deny,
    /// Add an allow entry.
    Allow,
    /// Add an ignore entry.
    Ignore,
    /// Remove exactly one list's entry for the target.
    Remove,
}

/// A change's fields (the confirmation page's query, then its form).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ActForm {
    /// What to do.
    pub action: Action,
    /// The address or CIDR.
    pub addr: String,
    /// The list, for `remove`.
    pub kind: Option<String>,
    /// How long, for `deny` and `allow` (empty: permanent).
    pub duration: Option<String>,
    /// Why (kept as the comment).
    pub reason: Option<String>,
    /// Add even what lockout protection refuses (`on`).
    pub force: Option<String>,
    /// Where to go afterwards: `lists` or the address page.
    pub back: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn list_kind(s: Option<&str>) -> Result<Kind, PageError> {
    s.and_then(Kind::parse)
        .ok_or_else(|| PageError::bad_request("which list? (kind: deny, allow or ignore)"))
}

/// `GET /act?action=…&addr=…`: what will happen, and the button that
/// makes it happen.
pub async fn confirm(Viewer(s): Viewer, Query(f): Query<ActForm>) -> Result<Response, PageError> {
    let net = api::addr(f.addr.trim())?;
    if f.action == Action::Remove {
        list_kind(f.kind.as_deref())?;
    }
    let data = minijinja::context! {
        form => render::val(&f),
        target => net.to_string(),
        duration => nonempty(&f.duration),
        reason => nonempty(&f.reason),
    };
    render::page(Some(&s), "confirm.html", "address", data)
}

/// `POST /act`: makes the change, then back to the address page (or the
/// lists) with a banner.
pub async fn act(
    State(web): State<Arc<Web>>,
    Posted(s, f): Posted<ActForm>,
) -> Result<Response, PageError> {
    let p = principal(&s);
    let net = api::addr(f.addr.trim())?;
    match f.action {
        Action::Unblock => {
            let b = UnblockBody {
                addr: net.to_string(),
                comment: nonempty(&f.reason),
            };
            api::unblock_entry(&web, &p, b).await?;
        }
        Action::Deny | Action::Allow | Action::Ignore => add(&web, p, &f, net).await?,
        Action::Remove => remove(&web, &p, &f, net).await?,
    }
    let action = serde_json::to_value(f.action).unwrap_or_default();
    let done = action.as_str().unwrap_or("");
    let to = match f.back.as_deref() {
        Some("lists") => format!("/lists?done={done}"),
        _ => format!("/address?addr={}&done={done}", net.addr),
    };
    Ok(Redirect::to(&to).into_response())
}

async fn add(web: &Arc<Web>, p: Principal, f: &ActForm, net: Net) -> Result<(), PageError> {
    let kind = match f.action {
        Action::Allow => Kind::Allow,
        Action::Ignore => Kind::Ignore,
        _ => Kind::Deny,
    };
    let b = AddBody {
        addr: net.to_string(),
        duration: nonempty(&f.duration).filter(|_| kind != Kind::Ignore),
        reason: nonempty(&f.reason),
        force: f.force.is_some(),
    };
    api::add_entry(Arc::clone(web), p, kind, b).await?;
    Ok(())
}

async fn remove(web: &Web, p: &Principal, f: &ActForm, net: Net) -> Result<(), PageError> {
    let kind = list_kind(f.kind.as_deref())?;
    let c = Change::Remove {
        kinds: vec![kind],
        target: net,
        removal: Removal::by(p.by(), nonempty(&f.reason)),
    };
    let out = api::change(web, &c).await?;
    tracing::info!("console: remove {} {net} by {}", kind.as_str(), p.who);
    if out.removed.is_empty() {
        return Err(PageError {
            status: StatusCode::NOT_FOUND,
            message: format!("{net} was not on the {} list", kind.as_str()),
        });
    }
    Ok(())
}
