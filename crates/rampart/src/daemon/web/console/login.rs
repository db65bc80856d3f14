//! Logging in and out.
//!
//! The login form has no session yet to take a CSRF token from, so it
//! uses a double-submit token: the form page sets a random token in a
//! cookie (`HttpOnly`, `SameSite=Strict`, for `/login` only) and in a
//! hidden field, and a login is only checked when both came back equal.
//! The password check itself is [`auth::login`]'s: rate limited per
//! address, and every wrong password is reported to the detector
//! (reason `console`), exactly as for the API's login.

use super::Posted;
use super::render::{self, PageError};
use crate::daemon::web::Web;
use crate::daemon::web::auth::{self, LoginError, Session};
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "rampart_login";

fn login_cookie(token: &str) -> HeaderValue {
    let v = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600; Secure"
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// Renders the form with a fresh token (and `error`, with `status`).
fn form_page(error: Option<&str>, user: &str, status: StatusCode) -> Response {
    let token = auth::random_b64(24);
    let data = minijinja::context! { login_csrf => token.clone(), error => error, name => user };
    let mut r = match render::page_with_status(None, "login.html", "login", data, status) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    r.headers_mut()
        .append(header::SET_COOKIE, login_cookie(&token));
    r
}

/// `GET /login`: the form (the overview for someone logged in).
pub async fn form(session: Option<Session>) -> Response {
    if session.is_some() {
        return Redirect::to("/").into_response();
    }
    form_page(None, "", StatusCode::OK)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginFields {
    user: String,
    password: String,
    csrf: Option<String>,
}

/// `POST /login`: checks the token pair, then the password; on success
/// the session cookie and the overview.
pub async fn submit(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginFields>,
) -> Response {
    let cookie = auth::cookie_value(&headers, LOGIN_COOKIE);
    let paired = matches!((cookie, f.csrf.as_deref()), (Some(c), Some(t)) if auth::same(c, t));
    if !paired {
        return PageError {
            status: StatusCode::FORBIDDEN,
            message: "the login form expired or did not come from this console: reload the \
                      login page and try again"
                .into(),
        }
        .into_response();
    }
    match auth::login(&web, peer.ip(), &f.user, &f.password).await {
        Ok(s) => {
            let mut r = Redirect::to("/").into_response();
            r.headers_mut()
                .append(header::SET_COOKIE, web.auth.cookie(&s));
            r
        }
        Err(LoginError::Wrong) => form_page(
            Some("Wrong user name or password."),
            &f.user,
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginError::TooMany) => form_page(
            Some("Too many login attempts from your address: wait a minute."),
            &f.user,
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(LoginError::Unavailable) => form_page(
            Some("The user database cannot be read: see the daemon's log."),
            &f.user,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    }
}

/// No fields but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// `POST /logout`: ends the session.
pub async fn logout(State(web): State<Arc<Web>>, Posted(s, _): Posted<Nothing>) -> Response {
    web.auth.close(&s);
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, web.auth.clear_cookie());
    r
}
