//! `[alerts]`: where the daemon's alerts go (e-mail, webhooks), which
//! kinds are sent, and storm control (`digest_after`, `digest_interval`).
//!
//! Validation only: addresses, URLs and choices are checked here (pure,
//! with the file/line/key errors of the rest of the configuration); the
//! daemon's alert sink builds the transports from the validated values.

use super::{Ctx, DeTable, DeValue, Val, join};
use std::fmt;

/// The kinds of alert, each switched on or off and routed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// A temporary ban.
    TempBan,
    /// A permanent ban, an escalation to permanent (PERMBLOCK) or a
    /// netblock.
    PermBan,
    /// A blocklist or country-database refresh failed.
    RefreshFailed,
    /// A source stopped (log gone, journal died, NFLOG unavailable).
    SourceStopped,
    /// The daemon started, stopped, reloaded or refused a reload.
    Lifecycle,
    /// Someone logged in to the console.
    ConsoleLogin,
    /// A blocked person unblocked themselves.
    SelfUnblock,
    /// The daily summary.
    DailySummary,
}

impl AlertKind {
    /// Every kind, in a stable order.
    pub const ALL: [AlertKind; 8] = [
        AlertKind::TempBan,
        AlertKind::PermBan,
        AlertKind::RefreshFailed,
        AlertKind::SourceStopped,
        AlertKind::Lifecycle,
        AlertKind::ConsoleLogin,
        AlertKind::SelfUnblock,
        AlertKind::DailySummary,
    ];

    /// The name in `rampart.toml`, templates and webhook bodies.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::TempBan => "temp_ban",
            AlertKind::PermBan => "perm_ban",
            AlertKind::RefreshFailed => "refresh_failed",
            AlertKind::SourceStopped => "source_stopped",
            AlertKind::Lifecycle => "lifecycle",
            AlertKind::ConsoleLogin => "console_login",
            AlertKind::SelfUnblock => "self_unblock",
            AlertKind::DailySummary => "daily_summary",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSet([bool; 8]);

impl KindSet {
    /// Every kind.
    pub const ALL: KindSet = KindSet([true; 8]);

    /// Whether `k` is in the set.
    pub fn contains(&self, k: AlertKind) -> bool {
        self.0[k.index()]
    }

    /// Adds or removes `k`.
    pub fn set(&mut self, k: AlertKind, on: bool) {
        self.0[k.index()] = on;
    }
}

impl Default for KindSet {
    fn default() -> Self {
        KindSet::ALL
    }
}

/// How `smtp://` uses STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// The server must offer it (the default).
    Required,
    /// Used when offered.
    Opportunistic,
    /// Never (a relay on loopback).
    Never,
}

/// An SMTP server from `smtp = "smtp://[USER:PASS@]HOST[:PORT]"` (or
/// `smtps://`, implicit TLS).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// `smtps://`: TLS from the first byte (port 465 by default);
    /// otherwise STARTTLS per `starttls` (port 587 by default).
    pub implicit_tls: bool,
    /// Host name or address (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, percent-decoded.
    pub user: Option<String>,
    /// Password, percent-decoded.
    pub password: Option<String>,
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpServer")
            .field("implicit_tls", &self.implicit_tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How e-mail leaves the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// An SMTP server.
    Smtp(SmtpServer),
    /// The local `sendmail` binary at this path.
    Sendmail(String),
}

/// `[alerts.email]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// `smtp` or `sendmail`.
    pub transport: MailTransport,
    /// The sender (`rampart@example.net` or `Rampart <rampart@example.net>`).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// STARTTLS policy for `smtp://`.
    pub starttls: StartTls,
    /// A PEM file of extra trusted certificates (a private CA).
    pub ca_file: Option<String>,
    /// The kinds sent by e-mail.
    pub kinds: KindSet,
}

/// A webhook's body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Rampart's own versioned JSON (docs/alerts.md).
    Json,
    /// Slack and Mattermost incoming webhooks.
    Slack,
    /// Discord webhooks.
    Discord,
    /// Microsoft Teams (message card).
    Teams,
    /// ntfy (plain text with Title/Priority/Tags headers).
    Ntfy,
}

impl WebhookFormat {
    const NAMES: &[&str] = &["json", "slack", "discord", "teams", "ntfy"];

    /// The name in `rampart.toml`.
    pub fn name(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Ntfy => "ntfy",
        }
    }

    fn from_name(s: &str) -> Option<WebhookFormat> {
        Some(match s {
            "json" => WebhookFormat::Json,
            "slack" | "mattermost" => WebhookFormat::Slack,
            "discord" => WebhookFormat::Discord,
            "teams" => WebhookFormat::Teams,
            "ntfy" => WebhookFormat::Ntfy,
            _ => return None,
        })
    }
}

/// One `[[alerts.webhook]]`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Body format.
    pub format: WebhookFormat,
    /// HMAC-SHA256 key: the request carries `X-Rampart-Signature`.
    pub secret: Option<String>,
    /// Further attempts after a failed one (with backoff).
    pub retries: u32,
    /// The kinds sent to this webhook.
    pub kinds: KindSet,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("retries", &self.retries)
            .field("kinds", &self.kinds)
            .finish()
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    /// E-mail, when configured.
    pub email: Option<EmailConfig>,
    /// Webhooks.
    pub webhooks: Vec<WebhookConfig>,
    /// Kinds switched on (all by default).
    pub kinds: KindSet,
    /// Messages of one kind sent one by one per `digest_interval`; past
    /// that, they are folded into a digest (0: digests only).
    pub digest_after: u32,
    /// The digest interval, seconds.
    pub digest_interval_secs: u64,
    /// Directory of template overrides.
    pub templates: String,
    /// The host name shown in messages (default: the system's).
    pub hostname: Option<String>,
    /// Time allowed to one delivery attempt (connect, TLS, send), seconds.
    pub timeout_secs: u64,
    /// When the daily summary is sent, minutes after midnight UTC.
    pub summary_at_min: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            email: None,
            webhooks: Vec::new(),
            kinds: KindSet::ALL,
            digest_after: 5,
            digest_interval_secs: 600,
            templates: "/etc/rampart/templates".into(),
            hostname: None,
            timeout_secs: 10,
            summary_at_min: 0,
        }
    }
}

impl AlertsConfig {
    /// Whether any channel is configured.
    pub fn active(&self) -> bool {
        self.email.is_some() || !self.webhooks.is_empty()
    }
}

const ALERTS: &[&str] = &[
    "email",
    "webhook",
    "digest_after",
    "digest_interval",
    "templates",
    "hostname",
    "timeout",
    "summary_at",
    "temp_ban",
    "perm_ban",
    "refresh_failed",
    "source_stopped",
    "lifecycle",
    "console_login",
    "self_unblock",
    "daily_summary",
];
const EMAIL: &[&str] = &[
    "smtp", "sendmail", "from", "to", "starttls", "ca_file", "kinds",
];
const WEBHOOK: &[&str] = &["url", "format", "secret", "retries", "kinds"];

/// Parses `[alerts]` into `out`.
pub(super) fn parse(cx: &mut Ctx<'_>, v: &Val<'_>, out: &mut AlertsConfig) {
    let Some(t) = cx.table("alerts", v) else {
        return;
    };
    for (k, v) in t.iter() {
        let key = k.get_ref().as_ref();
        let full = join("alerts", key);
        if let Some(kind) = AlertKind::from_name(key) {
            if let Some(b) = cx.boolean(&full, v) {
                out.kinds.set(kind, b);
            }
            continue;
        }
        match key {
            "email" => out.email = email(cx, v),
            "webhook" => out.webhooks = webhooks(cx, v),
            "digest_after" => {
                if let Some(n) = cx.int(&full, v, 0, 10_000) {
                    out.digest_after = n as u32;
                }
            }
            "digest_interval" => {
                if let Some(Some(n)) = cx.duration(&full, v, false) {
                    out.digest_interval_secs = n;
                }
            }
            "timeout" => {
                if let Some(Some(n)) = cx.duration(&full, v, false) {
                    out.timeout_secs = n.min(300);
                }
            }
            "templates" => {
                if let Some(s) = cx.string(&full, v) {
                    out.templates = s.to_string();
                }
            }
            "hostname" => out.hostname = cx.string(&full, v).map(str::to_string),
            "summary_at" => out.summary_at_min = summary_at(cx, &full, v).unwrap_or(0),
            _ => cx.unknown(k.span().start, "alerts", key, ALERTS),
        }
    }
}

fn summary_at(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<u32> {
    let s = cx.string(key, v)?;
    let parsed = s.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
    });
    if parsed.is_none() {
        cx.bad(v, key, "a time of day \"HH:MM\" (UTC), e.g. \"06:00\"");
    }
    parsed
}

fn email(cx: &mut Ctx<'_>, v: &Val<'_>) -> Option<EmailConfig> {
    let t = cx.table("alerts.email", v)?;
    let mut transport = None;
    let (mut from, mut to) = (None, Vec::new());
    let mut e = EmailConfig {
        transport: MailTransport::Sendmail(String::new()),
        from: String::new(),
        to: Vec::new(),
        starttls: StartTls::Required,
        ca_file: None,
        kinds: KindSet::ALL,
    };
    for (k, v2) in t.iter() {
        let key = k.get_ref().as_ref();
        let full = join("alerts.email", key);
        match key {
            "smtp" | "sendmail" => {
                if transport.is_some() {
                    cx.err(
                        k.span().start,
                        &full,
                        "give either `smtp` or `sendmail`, not both".into(),
                    );
                } else if key == "smtp" {
                    transport = smtp_url(cx, &full, v2).map(MailTransport::Smtp);
                } else if let Some(p) = cx.string(&full, v2) {
                    transport = absolute_path(cx, &full, v2, p).map(MailTransport::Sendmail);
                }
            }
            "from" => from = cx.string(&full, v2).and_then(|s| mailbox(cx, &full, v2, s)),
            "to" => to = recipients(cx, &full, v2),
            "starttls" => e.starttls = starttls(cx, &full, v2).unwrap_or(e.starttls),
            "ca_file" => {
                e.ca_file = cx
                    .string(&full, v2)
                    .and_then(|p| absolute_path(cx, &full, v2, p))
            }
            "kinds" => e.kinds = kind_list(cx, &full, v2),
            _ => cx.unknown(k.span().start, "alerts.email", key, EMAIL),
        }
    }
    let start = v.span().start;
    let missing = |cx: &mut Ctx<'_>, what: &str, hint: &str| {
        cx.err(
            start,
            "alerts.email",
            format!("`{what}` is required ({hint})"),
        );
    };
    match transport {
        Some(t) => e.transport = t,
        None => missing(
            cx,
            "smtp` or `sendmail",
            "smtp = \"smtp://mail.example.net:587\" or sendmail = \"/usr/sbin/sendmail\"",
        ),
    }
    match from {
        Some(f) => e.from = f,
        None => missing(cx, "from", "from = \"rampart@example.net\""),
    }
    if to.is_empty() {
        missing(cx, "to", "to = [\"admin@example.net\"]");
    }
    e.to = to;
    Some(e)
}

fn starttls(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<StartTls> {
    let s = cx.string(key, v)?;
    let r = match s {
        "required" => Some(StartTls::Required),
        "opportunistic" => Some(StartTls::Opportunistic),
        "never" => Some(StartTls::Never),
        _ => None,
    };
    if r.is_none() {
        cx.bad(v, key, "\"required\", \"opportunistic\" or \"never\"");
    }
    r
}

fn absolute_path(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>, p: &str) -> Option<String> {
    if p.starts_with('/') {
        return Some(p.to_string());
    }
    cx.bad(v, key, "an absolute path");
    None
}

/// `smtp://[USER[:PASS]@]HOST[:PORT]` or `smtps://…`; IPv6 hosts in brackets.
pub fn parse_smtp_url(s: &str) -> Result<SmtpServer, String> {
    let (implicit_tls, rest) = if let Some(r) = s.strip_prefix("smtps://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("smtp://") {
        (false, r)
    } else {
        return Err("expected smtp://HOST:PORT or smtps://HOST:PORT".into());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = split_host_port(hostport)?;
    let port = port.unwrap_or(if implicit_tls { 465 } else { 587 });
    let (user, password) = match userinfo {
        Some(u) => {
            let (name, pass) = match u.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (u, None),
            };
            (
                Some(percent_decode(name)?),
                pass.map(percent_decode).transpose()?,
            )
        }
        None => (None, None),
    };
    Ok(SmtpServer {
        implicit_tls,
        host,
        port,
        user,
        password,
    })
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("unclosed [ in the host")?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || ".-_:".contains(c);
    if host.is_empty() || !host.chars().all(valid) || (host.contains(':') && !s.starts_with('[')) {
        return Err("expected a host name or address".into());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|n| *n > 0).ok_or("bad port")?),
        None => None,
    };
    Ok((host.to_string(), port))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "%-escapes are not UTF-8".into())
}

fn smtp_url(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<SmtpServer> {
    let s = cx.string(key, v)?;
    match parse_smtp_url(s) {
        Ok(u) => Some(u),
        Err(e) => {
            let shown = cx.shown(v);
            cx.err(v.span().start, key, format!("bad value {shown}: {e} (e.g. \"smtp://mail.example.net:587\", \"smtps://user:pass@mail.example.net\")"));
            None
        }
    }
}

/// Whether `s` looks like `local@domain` or `Name <local@domain>`.
pub fn valid_mailbox(s: &str) -> bool {
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(i), Some(inner)) => &inner[i + 1..],
        (None, None) => s,
        _ => return false,
    };
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_graphic() && !"<>()[],;:\\\"@".contains(c))
    };
    !s.chars().any(char::is_control) && addr.split_once('@').is_some_and(|(l, d)| ok(l) && ok(d))
}

fn mailbox(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>, s: &str) -> Option<String> {
    if valid_mailbox(s) {
        return Some(s.to_string());
    }
    cx.err(
        v.span().start,
        key,
        format!("bad value {s:?}: expected an e-mail address like \"admin@example.net\" or \"Admin <admin@example.net>\""),
    );
    None
}

fn recipients(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<String> {
    let list = match v.get_ref() {
        DeValue::String(s) => vec![s.to_string()],
        _ => cx.strings(key, v),
    };
    list.into_iter()
        .filter_map(|s| mailbox(cx, key, v, &s))
        .collect()
}

fn kind_list(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> KindSet {
    let mut set = KindSet([false; 8]);
    for name in cx.strings(key, v) {
        match AlertKind::from_name(&name) {
            Some(k) => set.set(k, true),
            None => {
                let names: Vec<&str> = AlertKind::ALL.iter().map(|k| k.name()).collect();
                let hint = super::suggest(&name, &names)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                cx.err(
                    v.span().start,
                    key,
                    format!(
                        "bad value {name:?}: unknown alert kind{hint} (accepted: {})",
                        names.join(", ")
                    ),
                );
            }
        }
    }
    set
}

fn webhooks(cx: &mut Ctx<'_>, v: &Val<'_>) -> Vec<WebhookConfig> {
    match v.get_ref() {
        DeValue::Array(a) => a.iter().filter_map(|item| webhook(cx, item)).collect(),
        DeValue::Table(_) => webhook(cx, v).into_iter().collect(),
        _ => {
            cx.bad(v, "alerts.webhook", "[[alerts.webhook]] tables");
            Vec::new()
        }
    }
}

fn webhook(cx: &mut Ctx<'_>, v: &Val<'_>) -> Option<WebhookConfig> {
    let t: &DeTable<'_> = cx.table("alerts.webhook", v)?;
    let mut w = WebhookConfig {
        url: String::new(),
        format: WebhookFormat::Json,
        secret: None,
        retries: 3,
        kinds: KindSet::ALL,
    };
    for (k, v2) in t.iter() {
        let key = k.get_ref().as_ref();
        let full = join("alerts.webhook", key);
        match key {
            "url" => {
                if let Some(u) = cx.string(&full, v2) {
                    if valid_http_url(u) {
                        w.url = u.to_string();
                    } else {
                        let shown = cx.shown(v2);
                        cx.err(
                            v2.span().start,
                            &full,
                            format!("bad value {shown}: expected an http:// or https:// URL"),
                        );
                    }
                }
            }
            "format" => {
                if let Some(s) = cx.string(&full, v2) {
                    match WebhookFormat::from_name(s) {
                        Some(f) => w.format = f,
                        None => {
                            let hint = super::suggest(s, WebhookFormat::NAMES)
                                .map(|s| format!("; did you mean `{s}`?"))
                                .unwrap_or_default();
                            let shown = cx.shown(v2);
                            cx.err(
                                v2.span().start,
                                &full,
                                format!(
                                    "bad value {shown}{hint}: expected one of {}",
                                    WebhookFormat::NAMES.join(", ")
                                ),
                            );
                        }
                    }
                }
            }
            "secret" => w.secret = cx.string(&full, v2).map(str::to_string),
            "retries" => w.retries = cx.int(&full, v2, 0, 10).map_or(w.retries, |n| n as u32),
            "kinds" => w.kinds = kind_list(cx, &full, v2),
            _ => cx.unknown(k.span().start, "alerts.webhook", key, WEBHOOK),
        }
    }
    if w.url.is_empty() && !t.contains_key("url") {
        cx.err(v.span().start, "alerts.webhook", "`url` is required".into());
    }
    (!w.url.is_empty()).then_some(w)
}

/// Whether `s` is an `http://` or `https://` URL with a host.
pub fn valid_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Diagnostic, parse};
    use super::*;

    fn p(text: &str) -> Result<Config, Vec<Diagnostic>> {
        parse(
            "rampart.toml",
            text,
            &["sshd"],
            &[],
            &crate::config::FixedZonesOnly,
        )
    }

    #[test]
    fn the_interface_of_the_issue() {
        let c = p(r#"
[alerts]
temp_ban = false
digest_after = 3
digest_interval = "5m"
[alerts.email]
smtp = "smtps://alerts%40example.net:p%3Ass@mail.example.net"
from = "Rampart <rampart@example.net>"
to = ["admin@example.net", "ops@example.net"]
kinds = ["perm_ban", "lifecycle"]
[[alerts.webhook]]
url = "https://hooks.example.net/T/B/X"
format = "slack"
[[alerts.webhook]]
url = "http://127.0.0.1:9000/hook"
secret = "s3cret"
"#)
        .unwrap();
        let a = &c.alerts;
        assert!(!a.kinds.contains(AlertKind::TempBan));
        assert!(a.kinds.contains(AlertKind::PermBan));
        assert_eq!((a.digest_after, a.digest_interval_secs), (3, 300));
        let e = a.email.as_ref().unwrap();
        let MailTransport::Smtp(s) = &e.transport else {
            panic!("{e:?}")
        };
        assert!(s.implicit_tls);
        assert_eq!((s.host.as_str(), s.port), ("mail.example.net", 465));
        assert_eq!(s.user.as_deref(), Some("alerts@example.net"));
        assert_eq!(s.password.as_deref(), Some("p:ss"));
        assert_eq!(e.to.len(), 2);
        assert!(e.kinds.contains(AlertKind::PermBan) && !e.kinds.contains(AlertKind::TempBan));
        assert_eq!(a.webhooks.len(), 2);
        assert_eq!(a.webhooks[0].format, WebhookFormat::Slack);
        assert_eq!(a.webhooks[1].secret.as_deref(), Some("s3cret"));
        assert!(
            !format!("{:?}", a).contains("s3cret"),
            "secrets stay out of debug output"
        );
    }

    #[test]
    fn sendmail_and_defaults() {
        let c = p("[alerts.email]\nsendmail = \"/usr/sbin/sendmail\"\nfrom = \"root@h.example\"\nto = \"admin@example.net\"\n").unwrap();
        let e = c.alerts.email.unwrap();
        assert_eq!(
            e.transport,
            MailTransport::Sendmail("/usr/sbin/sendmail".into())
        );
        assert_eq!(e.to, vec!["admin@example.net"]);
        assert_eq!(c.alerts.digest_after, 5);
        assert!(!Config::default().alerts.active());
    }

    #[test]
    fn every_error_with_line_and_key() {
        let errs = p(r#"
[alerts]
temp_bans = false
digest_interval = "10x"
summary_at = "25:00"
[alerts.email]
smtp = "http://mail.example.net"
from = "not an address"
kinds = ["perm_bans"]
[[alerts.webhook]]
url = "ftp://x"
format = "slak"
"#)
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        for want in [
            "rampart.toml:3: alerts.temp_bans: unknown key; did you mean `temp_ban`?",
            "rampart.toml:4: alerts.digest_interval: bad value \"10x\"",
            "rampart.toml:5: alerts.summary_at: bad value \"25:00\"",
            "rampart.toml:6: alerts.email: `to` is required",
            "rampart.toml:7: alerts.email.smtp: bad value \"http://mail.example.net\"",
            "rampart.toml:8: alerts.email.from: bad value \"not an address\"",
            "rampart.toml:9: alerts.email.kinds: bad value \"perm_bans\": unknown alert kind; did you mean `perm_ban`?",
            "rampart.toml:11: alerts.webhook.url: bad value \"ftp://x\"",
            "rampart.toml:12: alerts.webhook.format: bad value \"slak\"; did you mean `slack`?",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn smtp_urls() {
        let u = parse_smtp_url("smtp://[2001:db8::25]:2525").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.implicit_tls),
            ("2001:db8::25", 2525, false)
        );
        assert_eq!(parse_smtp_url("smtp://127.0.0.1").unwrap().port, 587);
        assert!(parse_smtp_url("smtp://").is_err());
        assert!(parse_smtp_url("smtp://h:0").is_err());
        assert!(parse_smtp_url("smtp://2001:db8::1").is_err());
        assert!(valid_mailbox("a@b.example"));
        assert!(valid_mailbox("Ops Team <a@b.example>"));
        assert!(!valid_mailbox("a@b.example\r\nBcc: x@y"));
        assert!(!valid_mailbox("@b"));
    }
}
