//! The admin console at `/`: server-rendered pages over the same data and
//! the same change path as the API.
//!
//! # One definition of every shape and every change
//!
//! A page reads what the API reads, through the same functions: the
//! address page is [`why_of`](crate::commands::lists::why_of) (the
//! `WhyView` of `rampart why --json` and `GET /api/v1/why`), the lists
//! are [`EntryView`](crate::views::EntryView)s, rules are
//! [`rule_views`](crate::commands::rules::rule_views), and so on. A form
//! that changes a list goes through the API's own handlers' core
//! (`api::add_entry`, `api::unblock_entry`, `api::send_change`), so
//! lockout protection, the enforcer (the one writer of store and kernel),
//! the detectors' `forget` and the history's "who" are the API's.
//!
//! # Pages
//!
//! Templates (minijinja, [`render`]) and the stylesheet and the live
//! feed's one small script are embedded in the binary (`include_str!`);
//! nothing is loaded from elsewhere, and the Content-Security-Policy says
//! so to the browser. Plots are inline SVG drawn on the server
//! ([`plot`]), so they need no script either. Every page works without
//! JavaScript; the live feed falls back to the latest events the console
//! kept.
//!
//! # Who may do what
//!
//! Every page but the login page needs a console session ([`Viewer`]);
//! without one the browser is sent to `/login`. Every form that changes
//! something is a POST carrying the session's CSRF token, checked by
//! [`Posted`] before anything else (403 without it). Changes take two
//! steps: the form leads to a confirmation page that says what will
//! happen, and only its button posts the change.

pub mod address;
pub mod lists;
pub mod login;
pub mod overview;
pub mod pages;
pub mod plot;
pub mod render;

use super::Web;
use super::auth::{Session, verify_csrf};
use crate::daemon::sinks::feed::FeedEvent;
use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use render::PageError;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Latest feed events kept for the live page without JavaScript.
pub const RECENT_EVENTS: usize = 100;

/// What the console keeps between requests: the latest feed events and
/// the last sample of each source's line count (for lines per second).
#[derive(Default)]
pub struct State {
    recent: Mutex<VecDeque<FeedEvent>>,
    lines: Mutex<Option<(Instant, HashMap<String, u64>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl State {
    /// The latest events, newest first.
    pub fn recent(&self) -> Vec<FeedEvent> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    fn remember(&self, ev: FeedEvent) {
        let mut q = lock(&self.recent);
        if q.len() >= RECENT_EVENTS {
            q.pop_front();
        }
        q.push_back(ev);
    }

    /// Lines per second of each source since the previous call (at least
    /// a second ago; `None` for a source on the first call).
    pub fn line_rates(&self, now: &HashMap<String, u64>) -> HashMap<String, f64> {
        let mut last = lock(&self.lines);
        let rates = match &*last {
            Some((at, before)) => {
                let secs = at.elapsed().as_secs_f64().max(1e-3);
                now.iter()
                    .filter_map(|(k, n)| {
                        let b = before.get(k)?;
                        Some((k.clone(), n.saturating_sub(*b) as f64 / secs))
                    })
                    .collect()
            }
            None => HashMap::new(),
        };
        if last
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed().as_secs() >= 1)
        {
            *last = Some((Instant::now(), now.clone()));
        }
        rates
    }
}

/// Keeps the latest feed events for the live page (runs on the web
/// runtime until the feed closes).
pub async fn keep_recent(web: Arc<Web>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = web.feed.subscribe();
    loop {
        match rx.recv().await {
            Ok(ev) => {
                let mut ev = ev.event.clone();
                // events without their own time are stamped on arrival
                ev.time = ev
                    .time
                    .or_else(|| Some(rampart_core::time::format_rfc3339(crate::settings::now())));
                web.console.remember(ev);
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// The console's routes.
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/", get(overview::handler))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/address", get(address::handler))
        .route("/act", get(address::confirm).post(address::act))
        .route("/lists", get(lists::handler))
        .route("/live", get(pages::live))
        .route("/blocklists", get(pages::blocklists))
        .route("/rules", get(pages::rules))
        .route("/rules/test", post(pages::rules_test))
        .route("/config", get(pages::config))
        .route("/static/console.css", get(css))
        .route("/static/live.js", get(live_js))
}

async fn css() -> Response {
    render::asset(render::CSS, "text/css; charset=utf-8")
}

async fn live_js() -> Response {
    render::asset(render::LIVE_JS, "text/javascript; charset=utf-8")
}

/// A logged-in console user; anyone else is sent to the login page.
#[derive(Debug, Clone)]
pub struct Viewer(pub Session);

impl FromRequestParts<Arc<Web>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        match <Session as OptionalFromRequestParts<Arc<Web>>>::from_request_parts(parts, web).await
        {
            Ok(Some(s)) => Ok(Viewer(s)),
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// The `csrf` field every console form carries.
#[derive(Debug, serde::Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// A form posted by a logged-in user with the session's CSRF token: the
/// token is checked first (403 without it or with another), then the
/// form is read as `T`.
#[derive(Debug, Clone)]
pub struct Posted<T>(pub Session, pub T);

impl<T: DeserializeOwned + Send> FromRequest<Arc<Web>> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, web: &Arc<Web>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Viewer(session) = Viewer::from_request_parts(&mut parts, web).await?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), web)
            .await
            .map_err(IntoResponse::into_response)?;
        let again = |p: &Parts| Request::from_parts(p.clone(), bytes.clone().into());
        let Form(c) = Form::<CsrfField>::from_request(again(&parts), web)
            .await
            .map_err(|e| PageError::bad_request(e.body_text()).into_response())?;
        verify_csrf(&session, c.csrf.as_deref()).map_err(|e| PageError::from(e).into_response())?;
        let Form(t) = Form::<T>::from_request(again(&parts), web)
            .await
            .map_err(|e| PageError::bad_request(e.body_text()).into_response())?;
        Ok(Posted(session, t))
    }
}
