//! Who may ask: API tokens, console users and their sessions, CSRF
//! tokens, and the login rate limit.
//!
//! - **API tokens** (`Authorization: Bearer TOKEN`): 256 random bits,
//!   shown once by `rampart api token add`; the store keeps their SHA-256
//!   and a scope, `read` or `write`. A request with an unknown token is a
//!   failed login (see below).
//! - **Console users**: passwords hashed with argon2id (`rampart console
//!   user add`). A login makes a **session**: a random id in a cookie that
//!   is `Secure`, `HttpOnly` and `SameSite=Strict`, kept in memory only
//!   (a restart logs everyone out), ended after `[api] session_idle`
//!   without a request. Console sessions may write.
//! - **CSRF**: each session has its own random token; every form the
//!   console renders carries it ([`csrf_token`]) and every state-changing
//!   request made with a session must send it back, as a form field
//!   `csrf` or the `X-CSRF-Token` header ([`verify_csrf`]). Bearer-token
//!   requests need none (a browser never adds that header by itself).
//! - **Failed logins are an attack on Rampart itself**: each wrong
//!   password, unknown user or unknown token is sent to the detector
//!   ([`super::bridge::Bridge::login_failed`]), where it counts under
//!   reason `console` like a log line, so the normal ban path bans a
//!   guesser. Before that, a login rate limit per address
//!   ([`LOGIN_BURST`] attempts per [`LOGIN_PERIOD`]) answers 429 without
//!   checking the password; such attempts count as failures too.
//!
//! The extractors handlers use: [`ReadAccess`] and [`WriteAccess`] (a
//! token of that scope, or a session; 401 without credentials, 403 with a
//! read token on a write route or a session request without its CSRF
//! token), [`Session`] (a console session; `Option<Session>` for pages
//! that also serve visitors).

use super::Web;
use super::api::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rampart_store::Scope;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "rampart_session";
/// Login attempts an address may make per [`LOGIN_PERIOD`] before 429.
pub const LOGIN_BURST: u32 = 5;
/// The login rate limit's period.
pub const LOGIN_PERIOD: Duration = Duration::from_secs(60);
/// A token's prefix (so secret scanners and people recognise one).
pub const TOKEN_PREFIX: &str = "rampart_";
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 1024;
/// Addresses the login limiter remembers at most.
const MAX_LIMITED: usize = 65536;

/// `n` random bytes, base64url without padding.
pub fn random_b64(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; n];
    // the system RNG failing is a broken system: nothing safe to do but stop
    #[allow(clippy::expect_used)]
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(b)
}

/// A new API token's secret.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_b64(32))
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A password's argon2id PHC string (for `rampart console user add`).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(random_b64(16).as_bytes())?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `phc` (slow on purpose).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Compares two secrets in time independent of where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A console session, as handlers see it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The console user.
    pub user: String,
    id: String,
    csrf: String,
}

/// The CSRF token every form of `session`'s pages must carry (as the
/// hidden field `csrf`).
pub fn csrf_token(session: &Session) -> &str {
    &session.csrf
}

/// Checks a CSRF token sent back with a state-changing request: 403 when
/// it is missing or not the session's.
pub fn verify_csrf(session: &Session, sent: Option<&str>) -> Result<(), ApiError> {
    match sent {
        Some(t) if same(t, &session.csrf) => Ok(()),
        _ => Err(ApiError::forbidden(
            "missing or wrong CSRF token: reload the page and try again",
        )),
    }
}

struct SessionData {
    user: String,
    csrf: String,
    last_seen: Instant,
    created: Instant,
}

/// The in-memory state of authentication: sessions and the login limiter.
pub struct Auth {
    sessions: Mutex<HashMap<String, SessionData>>,
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    idle: Duration,
    secure_cookie: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Auth {
    /// Sessions end after `idle` without a request.
    pub fn new(idle: Duration) -> Auth {
        Auth {
            sessions: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            idle,
            secure_cookie: true,
        }
    }

    /// The session a cookie value names, if it is alive (and marks it used).
    fn session(&self, id: &str) -> Option<Session> {
        let mut all = lock(&self.sessions);
        let d = all.get_mut(id)?;
        if d.last_seen.elapsed() > self.idle {
            all.remove(id);
            return None;
        }
        d.last_seen = Instant::now();
        Some(Session {
            user: d.user.clone(),
            id: id.to_string(),
            csrf: d.csrf.clone(),
        })
    }

    /// Starts a session for `user`.
    fn open(&self, user: &str) -> Session {
        let mut all = lock(&self.sessions);
        let idle = self.idle;
        all.retain(|_, d| d.last_seen.elapsed() <= idle);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, d)| d.created)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        let s = Session {
            user: user.to_string(),
            id: random_b64(32),
            csrf: random_b64(24),
        };
        all.insert(
            s.id.clone(),
            SessionData {
                user: s.user.clone(),
                csrf: s.csrf.clone(),
                last_seen: Instant::now(),
                created: Instant::now(),
            },
        );
        s
    }

    /// Ends a session (logout).
    pub fn close(&self, session: &Session) {
        lock(&self.sessions).remove(&session.id);
    }

    /// Ends every session of `user` (removed, or a new password).
    pub fn close_user(&self, user: &str) {
        lock(&self.sessions).retain(|_, d| d.user != user);
    }

    /// Counts a login attempt from `ip`; `false` when it is over the limit.
    fn admit(&self, ip: IpAddr) -> bool {
        let mut all = lock(&self.attempts);
        if all.len() >= MAX_LIMITED {
            all.retain(|_, (start, _)| start.elapsed() < LOGIN_PERIOD);
        }
        let e = all.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= LOGIN_PERIOD {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        e.1 <= LOGIN_BURST
    }

    /// The `Set-Cookie` value that carries `session`.
    pub fn cookie(&self, session: &Session) -> HeaderValue {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        let v = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            session.id,
            self.idle.as_secs()
        );
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        HeaderValue::from_static(
            "rampart_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
        )
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong user or password (reported to the detector).
    Wrong,
    /// Too many attempts from the address (reported too; 429).
    TooMany,
    /// The store could not be read.
    Unavailable,
}

/// Checks a console login from `peer`: the rate limit, then the password
/// (on a blocking thread: argon2 is slow on purpose). A failure is sent to
/// the detector (reason `console`). On success, a new session: send
/// [`Auth::cookie`] of it in `Set-Cookie`.
pub async fn login(
    web: &Arc<Web>,
    peer: IpAddr,
    user: &str,
    password: &str,
) -> Result<Session, LoginError> {
    let name = Some(user.to_string());
    if !web.auth.admit(peer) {
        web.bridge.login_failed(peer, name, false);
        return Err(LoginError::TooMany);
    }
    let w = Arc::clone(web);
    let (u, p) = (user.to_string(), password.to_string());
    let ok = tokio::task::spawn_blocking(move || -> Result<bool, ()> {
        let phc = w.with_store(|s| s.user_password(&u)).map_err(|_| ())?;
        // an unknown user costs as much as a wrong password
        match phc {
            Some(phc) => Ok(verify_password(&p, &phc)),
            None => {
                let _ = verify_password(&p, &DUMMY_PHC);
                Ok(false)
            }
        }
    })
    .await
    .map_err(|_| LoginError::Unavailable)?
    .map_err(|()| LoginError::Unavailable)?;
    if !ok {
        web.bridge.login_failed(peer, name, false);
        return Err(LoginError::Wrong);
    }
    let s = web.auth.open(user);
    tracing::info!(
        "console: {} logged in from {peer}",
        rampart_core::text::escape_controls(user)
    );
    web.bus_login(user, peer);
    Ok(s)
}

/// The hash of a random password, verified against when the user does
/// not exist (so the answer takes as long as for a real user).
static DUMMY_PHC: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&random_b64(16)).unwrap_or_default());

/// Who is asking, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `token:NAME` or `user:NAME` (for history records and logs).
    pub who: String,
    /// What it may do.
    pub scope: Scope,
    /// The session, for console requests.
    pub session: Option<Session>,
}

impl Principal {
    /// The name the history records as who made a change.
    pub fn by(&self) -> String {
        format!("api:{}", self.who)
    }
}

/// The peer's address (from the connection).
pub fn peer(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (kind, token) = v.split_once(' ')?;
    kind.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates a request: a bearer token, else a session cookie.
async fn authenticate(parts: &Parts, web: &Arc<Web>) -> Result<Principal, ApiError> {
    if let Some(token) = bearer(&parts.headers) {
        return token_principal(web, token, peer(parts)).await;
    }
    if let Some(s) = cookie_value(&parts.headers, COOKIE).and_then(|id| web.auth.session(id)) {
        return Ok(Principal {
            who: format!("user:{}", s.user),
            scope: Scope::Write,
            session: Some(s),
        });
    }
    Err(ApiError::unauthorized())
}

pub(super) async fn token_principal(
    web: &Arc<Web>,
    token: &str,
    from: IpAddr,
) -> Result<Principal, ApiError> {
    let hash = token_hash(token);
    let w = Arc::clone(web);
    let found = tokio::task::spawn_blocking(move || w.token(&hash))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match found {
        Some(t) => Ok(Principal {
            who: format!("token:{}", t.name),
            scope: t.scope,
            session: None,
        }),
        None => {
            web.bridge.login_failed(from, None, true);
            Err(ApiError::unauthorized())
        }
    }
}

/// Whether a method changes state (and so needs CSRF with a session).
fn changes(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A request allowed to read: a read or write token, or a session.
#[derive(Debug, Clone)]
pub struct ReadAccess(pub Principal);

/// A request allowed to change lists: a write token, or a session with
/// its CSRF token in the `X-CSRF-Token` header (forms check the `csrf`
/// field themselves with [`verify_csrf`] and use [`Session`]).
#[derive(Debug, Clone)]
pub struct WriteAccess(pub Principal);

impl FromRequestParts<Arc<Web>> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, ApiError> {
        authenticate(parts, web).await.map(ReadAccess)
    }
}

impl FromRequestParts<Arc<Web>> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, ApiError> {
        let p = authenticate(parts, web).await?;
        if p.scope < Scope::Write {
            return Err(ApiError::forbidden(
                "this token has the read scope; changes need a token with --scope write",
            ));
        }
        if let Some(s) = &p.session
            && changes(&parts.method)
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            verify_csrf(s, sent)?;
        }
        Ok(WriteAccess(p))
    }
}

impl FromRequestParts<Arc<Web>> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, ApiError> {
        cookie_value(&parts.headers, COOKIE)
            .and_then(|id| web.auth.session(id))
            .ok_or_else(ApiError::unauthorized)
    }
}

impl OptionalFromRequestParts<Arc<Web>> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<Web>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(cookie_value(&parts.headers, COOKIE).and_then(|id| web.auth.session(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_the_dummy_is_a_real_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(argon2::password_hash::PasswordHash::new(&DUMMY_PHC).is_ok());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
    }

    #[test]
    fn the_limiter_admits_a_burst_per_address() {
        let a = Auth::new(Duration::from_secs(60));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..LOGIN_BURST {
            assert!(a.admit(ip));
        }
        assert!(!a.admit(ip));
        assert!(a.admit("203.0.113.10".parse().unwrap()), "per address");
    }

    #[test]
    fn sessions_carry_their_own_csrf_token() {
        let a = Auth::new(Duration::from_secs(60));
        let s = a.open("admin");
        let back = a.session(&s.id).unwrap();
        assert_eq!(back.user, "admin");
        assert!(verify_csrf(&back, Some(csrf_token(&s))).is_ok());
        assert!(verify_csrf(&back, Some("forged")).is_err());
        assert!(verify_csrf(&back, None).is_err());
        let c = a.cookie(&s);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        a.close(&back);
        assert!(a.session(&s.id).is_none());
    }
}
