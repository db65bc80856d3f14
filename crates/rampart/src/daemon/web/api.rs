//! `/api/v1`: the CLI's commands over HTTP, with the CLI's `--json`
//! shapes ([`crate::views`]: one definition for both).
//!
//! Reading needs a token with the `read` scope (or a console session);
//! changing lists needs `write` (or a session and its CSRF token). Errors
//! are `{"ok": false, "error": "..."}` with a fitting status: 400 bad
//! input, 401 no or unknown credentials, 403 wrong scope or CSRF, 404
//! nothing there, 429 too many logins, 503 the daemon did not answer.

use super::Web;
use super::auth::{self, LoginError, Principal, ReadAccess, Session, WriteAccess, csrf_token};
use crate::views::{
    AddView, ConfigCheckView, CountriesView, EntryView, LineTestView, RemovedView, RuleView,
    WhyView,
};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rampart_core::addr::Net;
use rampart_firewall::{Change, Outcome};
use rampart_store::{Kind, Removal};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// An error answer: a status and `{"ok": false, "error": message}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize)]
pub struct ErrorView {
    /// Always false.
    pub ok: bool,
    /// What went wrong.
    pub error: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    /// 401: no credentials, or unknown ones.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "authentication required: send `Authorization: Bearer TOKEN` (`rampart api token add`) or log in to the console".into(),
        }
    }
    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    /// 500 (logged).
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::warn!("api: {message}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
        }
    }
    /// 503: the daemon did not answer.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorView {
            ok: false,
            error: self.message,
        });
        let mut r = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

/// A JSON body; a malformed one is answered like every other error
/// (`{"ok": false, "error"}` with 400, 415 or 422), not in axum's plain text.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| ApiError {
                status: e.status(),
                message: e.body_text(),
            })
    }
}

/// A query string, its errors answered as JSON (400).
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The routes of `/api/v1` (each is in the OpenAPI document, and the
/// document has no other: `openapi::tests`).
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/list", get(list))
        .route("/api/v1/why/{addr}", get(why))
        .route("/api/v1/deny", post(deny))
        .route("/api/v1/allow", post(allow))
        .route("/api/v1/ignore", post(ignore))
        .route("/api/v1/unblock", post(unblock))
        .route("/api/v1/blocklists", get(blocklists))
        .route("/api/v1/countries", get(countries))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/test", post(rules_test))
        .route("/api/v1/config/check", get(config_check))
        .route("/api/v1/events", get(events))
        .route("/api/v1/openapi.json", get(super::openapi::handler))
        .route("/api/v1/session", get(session).post(login).delete(logout))
}

/// Runs `f` on a blocking thread; a usage error (bad address, duration)
/// is 400, anything else 500.
pub(super) async fn blocking<T: Send + 'static>(
    web: &Arc<Web>,
    f: impl FnOnce(&Web) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let w = Arc::clone(web);
    tokio::task::spawn_blocking(move || f(&w))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            if e.downcast_ref::<crate::fw::Usage>().is_some() {
                ApiError::bad_request(format!("{e:#}"))
            } else {
                ApiError::internal(format!("{e:#}"))
            }
        })
}

/// `GET /api/v1/status`: as `rampart status --json`.
async fn status(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
) -> Result<Json<crate::commands::firewall::StatusView>, ApiError> {
    blocking(&web, |w| {
        let mut ctx = crate::fw::Ctx::open(&w.global, false)?;
        crate::commands::firewall::status_view(&mut ctx)
    })
    .await
    .map(Json)
}

/// `GET /api/v1/list`'s query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `deny`, `allow` or `ignore` (all when absent).
    pub kind: Option<String>,
    /// Only temporary entries.
    #[serde(default)]
    pub temp: bool,
}

fn kind_of(s: &str) -> Result<Kind, ApiError> {
    match s {
        "deny" => Ok(Kind::Deny),
        "allow" => Ok(Kind::Allow),
        "ignore" => Ok(Kind::Ignore),
        _ => Err(ApiError::bad_request(format!(
            "kind {s:?}: expected deny, allow or ignore"
        ))),
    }
}

/// `GET /api/v1/list`: the entries in force (as `rampart list --json`).
async fn list(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
    Params(q): Params<ListQuery>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let kinds: Vec<Kind> = q
        .kind
        .as_deref()
        .map(kind_of)
        .transpose()?
        .into_iter()
        .collect();
    blocking(&web, move |w| {
        let now = crate::settings::now();
        let list = w.with_store_any(|s| crate::commands::lists::entries(s, &kinds, q.temp, now))?;
        Ok(EntryView::all(&list, now))
    })
    .await
    .map(Json)
}

pub(super) fn addr(s: &str) -> Result<Net, ApiError> {
    Net::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{s:?} is not an IPv4/IPv6 address or CIDR (e.g. 198.51.100.7, 203.0.113.0/24)"
        ))
    })
}

/// `GET /api/v1/why/{addr}`: everything `rampart why ADDR --json` says.
async fn why(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
    Path(a): Path<String>,
) -> Result<Json<WhyView>, ApiError> {
    let ip = addr(&a)?.addr;
    blocking(&web, move |w| w.why(ip)).await.map(Json)
}

/// The body of `POST /api/v1/deny`, `allow` and `ignore`.
#[derive(Debug, Deserialize)]
pub struct AddBody {
    /// Address or CIDR.
    pub addr: String,
    /// How long (`90s`, `2h`, `7d`); permanent when absent.
    pub duration: Option<String>,
    /// Why (kept as the entry's comment and in its summary).
    pub reason: Option<String>,
    /// Add even what lockout protection refuses.
    #[serde(default)]
    pub force: bool,
}

async fn deny(
    State(web): State<Arc<Web>>,
    WriteAccess(p): WriteAccess,
    Body(b): Body<AddBody>,
) -> Result<Json<AddView>, ApiError> {
    add_entry(web, p, Kind::Deny, b).await.map(Json)
}

async fn allow(
    State(web): State<Arc<Web>>,
    WriteAccess(p): WriteAccess,
    Body(b): Body<AddBody>,
) -> Result<Json<AddView>, ApiError> {
    add_entry(web, p, Kind::Allow, b).await.map(Json)
}

async fn ignore(
    State(web): State<Arc<Web>>,
    WriteAccess(p): WriteAccess,
    Body(b): Body<AddBody>,
) -> Result<Json<AddView>, ApiError> {
    add_entry(web, p, Kind::Ignore, b).await.map(Json)
}

/// An add, as the CLI's: parsed and checked here (lockout protection;
/// 409 without `force`), applied by the daemon's enforcer. The console's
/// forms add through this too.
pub(super) async fn add_entry(
    web: Arc<Web>,
    p: Principal,
    kind: Kind,
    b: AddBody,
) -> Result<AddView, ApiError> {
    if kind == Kind::Ignore && b.duration.is_some() {
        return Err(ApiError::bad_request("ignore entries take no duration"));
    }
    let now = crate::settings::now();
    let (req, refusal) = blocking(&web, move |w| {
        let (d, t) = (b.duration.as_deref(), b.reason.as_deref());
        let req = crate::commands::lists::parse_add(kind, &b.addr, d, t, now)?;
        let ctx = crate::fw::Ctx::open(&w.global, true)?;
        let why = crate::commands::lists::refusal(&ctx, kind, req.net, now)?;
        Ok((req, why.filter(|_| !b.force)))
    })
    .await?;
    if let Some(why) = refusal {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "refusing to {} {}: {why}; send \"force\": true if you really mean it",
                kind.as_str(),
                req.net
            ),
        });
    }
    let out = change(&web, &req.change).await?;
    tracing::info!("api: {} {} by {}", kind.as_str(), req.net, p.who);
    AddView::new(&out, now).ok_or_else(|| ApiError::internal("the daemon reported no entry added"))
}

/// Sends a change to the daemon's enforcer; its outcome.
pub(super) async fn change(web: &Web, c: &Change) -> Result<Outcome, ApiError> {
    let c = serde_json::to_value(c).map_err(|e| ApiError::internal(e.to_string()))?;
    let reply = web
        .bridge
        .ask(serde_json::json!({"cmd": "change", "change": c}))
        .await;
    if reply["ok"] != true {
        let e = reply["error"].as_str().unwrap_or("unknown error");
        return Err(ApiError::unavailable(format!(
            "the daemon refused the change: {e}"
        )));
    }
    serde_json::from_value(reply["outcome"].clone())
        .map_err(|e| ApiError::internal(format!("the daemon's answer was not understood: {e}")))
}

/// The body of `POST /api/v1/unblock`.
#[derive(Debug, Deserialize)]
pub struct UnblockBody {
    /// Address or CIDR, as it was denied.
    pub addr: String,
    /// A comment kept in the history.
    pub comment: Option<String>,
}

/// `POST /api/v1/unblock`: lifts deny entries and makes the detectors
/// forget the address's counts (404 when nothing was denied).
async fn unblock(
    State(web): State<Arc<Web>>,
    WriteAccess(p): WriteAccess,
    Body(b): Body<UnblockBody>,
) -> Result<Json<RemovedView>, ApiError> {
    unblock_entry(&web, &p, b).await.map(Json)
}

/// An unblock (the API's and the console's): the deny entries lifted by
/// the enforcer, then the detectors' counts forgotten.
pub(super) async fn unblock_entry(
    web: &Web,
    p: &Principal,
    b: UnblockBody,
) -> Result<RemovedView, ApiError> {
    let net = addr(&b.addr)?;
    let c = Change::Unblock {
        target: net,
        removal: Removal::by(p.by(), b.comment),
    };
    let out = change(web, &c).await?;
    let req = serde_json::json!({"cmd": "forget", "addr": net.to_string(), "by": p.by()});
    let forgot = web.bridge.ask(req).await["forgotten"]
        .as_u64()
        .is_some_and(|n| n > 0);
    tracing::info!("api: unblock {net} by {}", p.who);
    let v = RemovedView::new(&out, forgot, crate::settings::now());
    if v.removed.is_empty() {
        return Err(ApiError::not_found(format!(
            "{net} was not on the deny list"
        )));
    }
    Ok(v)
}

/// `GET /api/v1/blocklists`: the definitions and refresh state (as
/// `rampart blocklist list --json`).
async fn blocklists(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
) -> Result<Json<Vec<rampart_firewall::blocklist::ListDef>>, ApiError> {
    blocking(&web, |w| {
        Ok(rampart_firewall::blocklist::load_defs(&w.global.state_dir)?)
    })
    .await
    .map(Json)
}

/// `GET /api/v1/countries`.
async fn countries(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
) -> Result<Json<CountriesView>, ApiError> {
    blocking(&web, |w| {
        let c = crate::settings::load_config_only(&w.global)?.country;
        Ok(CountriesView::new(&c))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/rules`: as `rampart rules list --json`.
async fn rules(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    blocking(&web, |w| {
        crate::commands::rules::rule_views(&w.global, &w.rules)
    })
    .await
    .map(Json)
}

/// The body of `POST /api/v1/rules/test`.
#[derive(Debug, Deserialize)]
pub struct TestBody {
    /// Log lines to test (nothing is counted or banned).
    pub lines: Vec<String>,
}

/// `POST /api/v1/rules/test`: as `rampart rules test LINE... --json`.
/// Changes nothing, so the read scope is enough.
async fn rules_test(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
    Body(b): Body<TestBody>,
) -> Result<Json<Vec<LineTestView>>, ApiError> {
    if b.lines.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 lines per request"));
    }
    blocking(&web, move |w| {
        let loaded = crate::settings::load(&w.global, &w.rules)?;
        crate::commands::rules::test_lines(&loaded, &b.lines)
    })
    .await
    .map(Json)
}

/// `GET /api/v1/config/check`: the configuration file as `rampart config
/// check --json` sees it now (a missing file means the defaults: OK).
async fn config_check(
    State(web): State<Arc<Web>>,
    _a: ReadAccess,
) -> Result<Json<ConfigCheckView>, ApiError> {
    blocking(&web, |w| {
        let path = crate::settings::config_path(&w.global).0;
        if !path.exists() {
            return Ok(crate::settings::check_view(&path, &[]));
        }
        let diags = crate::settings::check_file(&path)?;
        Ok(crate::settings::check_view(&path, &diags))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/events`: the live feed as server-sent events (`event:`
/// the kind, `data:` a [`FeedEvent`](crate::daemon::sinks::feed::FeedEvent));
/// a client that fell behind gets an `event: lagged` with the number of
/// events it missed.
async fn events(State(web): State<Arc<Web>>, _a: ReadAccess) -> impl IntoResponse {
    use axum::response::sse::{Event as Sse, KeepAlive};
    use tokio::sync::broadcast::error::RecvError;
    let rx = web.feed.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = match rx.recv().await {
            Ok(ev) => Sse::default().event(ev.event.kind).data(ev.json()),
            Err(RecvError::Lagged(n)) => Sse::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(item), rx))
    });
    axum::response::sse::Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `POST /api/v1/session`'s body.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The console user.
    pub user: String,
    /// The password.
    pub password: String,
}

/// A console session as the API shows it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Always true.
    pub ok: bool,
    /// The console user.
    pub user: String,
    /// The CSRF token to send back (`X-CSRF-Token`, or the form field
    /// `csrf`) with every change.
    pub csrf: String,
}

impl SessionView {
    fn of(s: &Session) -> SessionView {
        SessionView {
            ok: true,
            user: s.user.clone(),
            csrf: csrf_token(s).to_string(),
        }
    }
}

/// `GET /api/v1/session`: who is logged in, and the CSRF token.
async fn session(s: Session) -> Json<SessionView> {
    Json(SessionView::of(&s))
}

/// `POST /api/v1/session`: logs in; the session cookie comes back.
async fn login(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(form): Body<LoginForm>,
) -> Result<Response, ApiError> {
    match auth::login(&web, peer.ip(), &form.user, &form.password).await {
        Ok(s) => {
            let cookie = web.auth.cookie(&s);
            Ok(([(header::SET_COOKIE, cookie)], Json(SessionView::of(&s))).into_response())
        }
        Err(LoginError::Wrong) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "wrong user name or password".into(),
        }),
        Err(LoginError::TooMany) => Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "too many login attempts from this address; wait a minute".into(),
        }),
        Err(LoginError::Unavailable) => {
            Err(ApiError::unavailable("the user database cannot be read"))
        }
    }
}

/// `DELETE /api/v1/session`: logs out (CSRF token required).
async fn logout(
    State(web): State<Arc<Web>>,
    s: Session,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    auth::verify_csrf(&s, sent)?;
    web.auth.close(&s);
    let body = Json(serde_json::json!({"ok": true}));
    Ok(([(header::SET_COOKIE, web.auth.clear_cookie())], body).into_response())
}
