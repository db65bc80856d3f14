//! Turning data into pages: the template environment (every template
//! embedded in the binary), the escaping rule, the page frame's context,
//! error pages, the security headers and the static assets.
//!
//! Escaping: every template is HTML-escaped automatically (minijinja's
//! auto-escape, forced on for all of them), and before that every string
//! has its control characters made visible
//! ([`rampart_core::text::escape_controls`]): a log line carrying
//! `<script>` or an escape sequence shows as text, never as markup or as
//! a terminal trick when copied.

use super::super::Web;
use super::super::api::ApiError;
use super::super::auth::{Session, csrf_token};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, State};
use serde::Serialize;
use std::sync::LazyLock;

/// The templates, by name (all HTML).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("plot.html", include_str!("templates/plot.html")),
    ("address.html", include_str!("templates/address.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("lists.html", include_str!("templates/lists.html")),
    ("live.html", include_str!("templates/live.html")),
    ("blocklists.html", include_str!("templates/blocklists.html")),
    ("rules.html", include_str!("templates/rules.html")),
    ("config.html", include_str!("templates/config.html")),
    ("error.html", include_str!("templates/error.html")),
];

/// The stylesheet.
pub const CSS: &str = include_str!("assets/console.css");
/// The live feed's script (the only script).
pub const LIVE_JS: &str = include_str!("assets/live.js");

/// The environment every page renders with (built once; a template that
/// does not parse is a bug caught by the tests).
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_formatter(escaping_formatter);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("console: template {name} does not parse: {e}");
        }
    }
    env
});

/// Control characters made visible, then HTML escaping.
fn escaping_formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if !value.is_safe() => {
            let shown = Value::from(rampart_core::text::escape_controls(s).into_owned());
            minijinja::escape_formatter(out, state, &shown)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// A short hash of the assets, in their URLs: a new build's browser
/// fetches them again although they are cached for a day.
pub static ASSETS_VERSION: LazyLock<String> = LazyLock::new(|| {
    let d = ring::digest::digest(&ring::digest::SHA256, format!("{CSS}{LIVE_JS}").as_bytes());
    d.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect()
});

/// A page that could not be shown: its status and a sentence.
#[derive(Debug, Clone)]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError {
            status: e.status,
            message: e.message,
        }
    }
}

impl PageError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ctx = minijinja::context! { status => self.status.as_u16(), message => self.message };
        let body = render_raw("error.html", ctx).unwrap_or_else(|| "error".into());
        let mut r = (self.status, Html(body)).into_response();
        secure_headers(&mut r);
        r
    }
}

/// Renders `name` with `ctx`; `None` (logged) when the template fails.
fn render_raw(name: &str, ctx: Value) -> Option<String> {
    let t = ENV.get_template(name).ok()?;
    t.render(ctx)
        .map_err(|e| tracing::error!("console: rendering {name}: {e:#}"))
        .ok()
}

/// Any serialisable value as a template value.
pub fn val<T: Serialize + ?Sized>(x: &T) -> Value {
    Value::from(minijinja::value::Serde(x))
}

/// The frame's context: who is logged in, the CSRF token for the forms,
/// which menu entry is current, the assets' version.
fn frame(session: Option<&Session>, active: &str) -> Value {
    minijinja::context! {
        user => session.map(|s| s.user.clone()),
        csrf => session.map(|s| csrf_token(s).to_string()),
        active => active,
        v => ASSETS_VERSION.as_str(),
    }
}

/// Renders page `name` (its menu entry `active`) with `data` for `session`.
pub fn page(
    session: Option<&Session>,
    name: &str,
    active: &str,
    data: impl Serialize,
) -> Result<Response, PageError> {
    page_with_status(session, name, active, data, StatusCode::OK)
}

/// [`page`] with another status than 200.
pub fn page_with_status(
    session: Option<&Session>,
    name: &str,
    active: &str,
    data: impl Serialize,
    status: StatusCode,
) -> Result<Response, PageError> {
    let ctx = minijinja::context! { ..frame(session, active), ..val(&data) };
    let body = render_raw(name, ctx).ok_or_else(|| PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the page {name} could not be rendered (see the daemon's log)"),
    })?;
    let mut r = (status, Html(body)).into_response();
    secure_headers(&mut r);
    Ok(r)
}

/// What every console page carries: no caching, no framing, no sniffing,
/// scripts and styles only from the console itself.
pub fn secure_headers(r: &mut Response) {
    const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";
    let h = r.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
}

/// An embedded asset with its type, cached by browsers for a day.
pub fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Runs `f` on a blocking thread (store, kernel and file reads), its
/// errors shown as pages.
pub async fn blocking<T: Send + 'static>(
    web: &std::sync::Arc<Web>,
    f: impl FnOnce(&Web) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, PageError> {
    super::super::api::blocking(web, f)
        .await
        .map_err(PageError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn strings_are_html_escaped_and_control_characters_shown() {
        let line = "sshd: <script>alert(1)</script> \u{1b}[31mred\u{7} & \"q\"";
        let html = ENV
            .render_str("{{ x }}", minijinja::context! { x => line })
            .unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            !html.contains('\u{1b}') && !html.contains('\u{7}'),
            "{html}"
        );
        assert!(html.contains("\\x1b[31mred\\x07"), "{html}");
        assert!(
            html.contains("&amp;") && html.contains("&quot;q&quot;"),
            "{html}"
        );
    }
}
