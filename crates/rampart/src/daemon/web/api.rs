//! `/api/v1`: the CLI's commands over HTTP, with the CLI's `--json`
//! shapes ([`crate::views`]: one definition for both).
//!
//! Reading needs a token with the `read` scope (or a console session);
//! changing lists needs `write` (or a session and its CSRF token). Errors
//! are `{"ok": false, "error": "..."}` with a fitting status: 400 bad
//! input, 401 no or unknown credentials, 403 wrong scope or CSRF, 404
//! nothing there, 429 too many logins, 503 the daemon did not answer.

use super::Web;
use super::auth::{self, LoginError, ReadAccess, Session, csrf_token};
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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

/// The routes of `/api/v1`.
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/session", get(session).post(login).delete(logout))
}

/// A daemon answer, or 503 when it says it could not answer.
async fn ask(web: &Web, req: Value) -> Result<Value, ApiError> {
    let v = web.bridge.ask(req).await;
    if v["ok"] == false && v.get("error").is_some() && v.get("outcome").is_none() {
        let e = v["error"].as_str().unwrap_or("the daemon refused");
        return Err(ApiError::unavailable(e.to_string()));
    }
    Ok(v)
}

/// `GET /api/v1/status`: the running daemon's state (as `rampart status --json` shows it under `daemon`).
async fn status(State(web): State<Arc<Web>>, _a: ReadAccess) -> Result<Json<Value>, ApiError> {
    ask(&web, serde_json::json!({"cmd": "status"}))
        .await
        .map(Json)
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
    Json(form): Json<LoginForm>,
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
