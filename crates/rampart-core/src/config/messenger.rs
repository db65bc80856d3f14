//! `[messenger]`: what a blocked address is told, and whether it may lift
//! its own block (see `docs/messenger.md`).
//!
//! Validation only, like every other section (file, line, key, the bad
//! value and what is accepted; every error at once). Whether the
//! certificate files exist is the daemon's business at start; here only
//! the shape of the values and how they fit together are checked. The
//! pure decisions the messenger makes from this configuration (does a ban
//! get the page, may it be lifted by its owner) live here too, so they
//! are tested without a network.

use super::{Ctx, Val, join};
use std::fmt;

/// A plain-text protocol the messenger answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextProto {
    /// SMTP: `554 5.7.1 …`.
    Smtp,
    /// POP3: `-ERR …`.
    Pop3,
    /// IMAP: `* BYE …`.
    Imap,
    /// FTP: `421 …`.
    Ftp,
}

impl TextProto {
    /// The protocol's name (`smtp`, `pop3`, `imap`, `ftp`).
    pub fn name(self) -> &'static str {
        match self {
            TextProto::Smtp => "smtp",
            TextProto::Pop3 => "pop3",
            TextProto::Imap => "imap",
            TextProto::Ftp => "ftp",
        }
    }
}

/// One port the protocol messages are given on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextPort {
    /// The port clients connect to.
    pub port: u16,
    /// The protocol spoken there.
    pub proto: TextProto,
    /// TLS from the first byte (465, 993, 995, 990): needs a certificate.
    pub tls: bool,
}

/// The well-known ports: plain ones first, then implicit TLS.
const KNOWN: [(u16, TextProto, bool); 9] = [
    (25, TextProto::Smtp, false),
    (587, TextProto::Smtp, false),
    (110, TextProto::Pop3, false),
    (143, TextProto::Imap, false),
    (21, TextProto::Ftp, false),
    (465, TextProto::Smtp, true),
    (993, TextProto::Imap, true),
    (995, TextProto::Pop3, true),
    (990, TextProto::Ftp, true),
];

/// The names accepted after `PORT/` for a port that is not a well-known one.
const PROTO_NAMES: &str = "smtp, smtps, pop3, pop3s, imap, imaps, ftp, ftps";

impl TextPort {
    /// A well-known port's protocol (`25` is SMTP, `993` IMAP over TLS).
    pub fn known(port: u16) -> Option<TextPort> {
        KNOWN
            .iter()
            .find(|k| k.0 == port)
            .map(|&(port, proto, tls)| TextPort { port, proto, tls })
    }

    /// `"2525/smtp"`, `"2993/imaps"`.
    pub fn parse(s: &str) -> Option<TextPort> {
        let (p, name) = s.split_once('/')?;
        let port: u16 = p.trim().parse().ok().filter(|p| *p > 0)?;
        let name = name.trim();
        let (base, tls) = match name.strip_suffix('s') {
            Some(b) => (b, true),
            None => (name, false),
        };
        let proto = match base {
            "smtp" => TextProto::Smtp,
            "pop3" => TextProto::Pop3,
            "imap" => TextProto::Imap,
            "ftp" => TextProto::Ftp,
            _ => return None,
        };
        Some(TextPort { port, proto, tls })
    }
}

impl fmt::Display for TextPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.tls { "s" } else { "" };
        write!(f, "{}/{}{s}", self.port, self.proto.name())
    }
}

/// A certificate and its key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate chain (leaf first).
    pub cert: String,
    /// The private key.
    pub key: String,
}

/// Who the blocked person can turn to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// Free text shown under the heading (`contact`).
    pub text: Option<String>,
    /// The provider's name.
    pub name: Option<String>,
    /// The support site.
    pub url: Option<String>,
    /// The support address.
    pub email: Option<String>,
    /// A logo URL (an `https://` or site-relative address; never fetched
    /// by Rampart).
    pub logo: Option<String>,
}

/// `[messenger]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerConfig {
    /// Off by default.
    pub enabled: bool,
    /// Web ports redirected to the page (plain HTTP or TLS, told apart by
    /// the first byte).
    pub web_ports: Vec<u16>,
    /// Ports given a protocol message; `None`: the default (see
    /// [`MessengerConfig::text_ports`]).
    pub text_ports: Option<Vec<TextPort>>,
    /// Whether the page offers "unblock me" for self-unblockable reasons.
    pub self_unblock: bool,
    /// Who to contact.
    pub contact: Contact,
    /// Bans for these reasons get neither page nor message (a scanner
    /// learns nothing from us).
    pub silent_reasons: Vec<String>,
    /// Reasons that may be lifted by their owner; `None`: the catalogue's
    /// marks (`self_unblock = true` in `reasons.toml`).
    pub self_unblock_reasons: Option<Vec<String>>,
    /// Certificate files.
    pub certificates: Vec<CertFiles>,
    /// Directories in the Let's Encrypt (`*/fullchain.pem` +
    /// `*/privkey.pem`) or cPanel (`*/combined`) layout.
    pub certificate_dirs: Vec<String>,
    /// Leading zero bits the browser's proof of work must find.
    pub pow_difficulty: u8,
    /// One self-unblock per address per this many seconds; a ban within
    /// it after a self-unblock is not self-unblockable.
    pub self_unblock_period_secs: u64,
    /// Self-unblocks allowed per hour, all addresses together.
    pub self_unblock_per_hour: u32,
    /// The local port of the page server (web ports are redirected there).
    pub page_port: u16,
    /// The local port of the protocol-message server.
    pub text_port: u16,
    /// The page's address named in protocol messages; `None`:
    /// `http://ADDRESS-THE-CLIENT-CONNECTED-TO/`.
    pub page_url: Option<String>,
    /// Requests per second per source the page server answers (burst:
    /// twice as many); beyond that a tiny 429.
    pub rate: u32,
    /// New redirected connections per second per source the kernel lets
    /// through (burst: twice as many).
    pub kernel_rate: u32,
    /// Concurrent redirected connections per source the kernel allows.
    pub kernel_connections: u32,
    /// The language used when the browser asks for none we have.
    pub language: String,
    /// Extra message catalogues (`LANG.toml`) besides the built-in English.
    pub languages_dir: Option<String>,
}

impl Default for MessengerConfig {
    fn default() -> Self {
        MessengerConfig {
            enabled: false,
            web_ports: vec![80, 443],
            text_ports: None,
            self_unblock: true,
            contact: Contact::default(),
            silent_reasons: vec!["portscan".into()],
            self_unblock_reasons: None,
            certificates: Vec::new(),
            certificate_dirs: Vec::new(),
            pow_difficulty: 18,
            self_unblock_period_secs: 86400,
            self_unblock_per_hour: 30,
            page_port: 8701,
            text_port: 8702,
            page_url: None,
            rate: 5,
            kernel_rate: 10,
            kernel_connections: 8,
            language: "en".into(),
            languages_dir: None,
        }
    }
}

impl MessengerConfig {
    /// Whether any certificate is configured.
    pub fn has_certificates(&self) -> bool {
        !self.certificates.is_empty() || !self.certificate_dirs.is_empty()
    }

    /// The ports given protocol messages: as configured, or the plain
    /// mail/FTP ports (25, 587, 110, 143, 21) plus their TLS ports (465,
    /// 993, 995, 990) when a certificate is configured.
    pub fn text_ports(&self) -> Vec<TextPort> {
        if let Some(t) = &self.text_ports {
            return t.clone();
        }
        let tls = self.has_certificates();
        KNOWN
            .iter()
            .filter(|k| tls || !k.2)
            .map(|&(port, proto, tls)| TextPort { port, proto, tls })
            .collect()
    }

    /// The text port a connection to `port` was redirected from.
    pub fn text_port_for(&self, port: u16) -> Option<TextPort> {
        self.text_ports().into_iter().find(|t| t.port == port)
    }

    /// Whether a ban for `reason` gets the page and the messages.
    pub fn gets_page(&self, reason: &str) -> bool {
        !self.silent_reasons.iter().any(|r| r == reason)
    }

    /// Whether a ban may be lifted by its owner: self-unblock on, the
    /// reason self-unblockable (`catalogue_mark` is the catalogue's
    /// default for it), the ban temporary and not escalated (`level` 1),
    /// and no self-unblock of the address within the period
    /// (`self_unblocked_recently`).
    pub fn self_unblockable(&self, ban: &BanFacts<'_>, catalogue_mark: bool) -> bool {
        let reason_ok = match &self.self_unblock_reasons {
            Some(list) => list.iter().any(|r| r == ban.reason),
            None => catalogue_mark,
        };
        self.self_unblock
            && self.gets_page(ban.reason)
            && reason_ok
            && !ban.permanent
            && ban.level.unwrap_or(1) <= 1
            && !ban.self_unblocked_recently
    }
}

/// What [`MessengerConfig::self_unblockable`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanFacts<'a> {
    /// The reason code.
    pub reason: &'a str,
    /// No expiry.
    pub permanent: bool,
    /// The escalation level (1: a first ban; `None`: not a detector ban).
    pub level: Option<u32>,
    /// The address lifted a block itself within the period.
    pub self_unblocked_recently: bool,
}

/// Known keys of `[messenger]`.
const MESSENGER: &[&str] = &[
    "enabled",
    "web_ports",
    "text_ports",
    "self_unblock",
    "contact",
    "contact_name",
    "contact_url",
    "contact_email",
    "contact_logo",
    "silent_reasons",
    "self_unblock_reasons",
    "certificates",
    "certificate_dirs",
    "pow_difficulty",
    "self_unblock_period",
    "self_unblock_per_hour",
    "page_port",
    "text_port",
    "page_url",
    "rate",
    "kernel_rate",
    "kernel_connections",
    "language",
    "languages_dir",
];

/// Parses `[messenger]` (`v` is its table) into `m`; `reasons` are the
/// known reason codes.
pub(super) fn parse(cx: &mut Ctx<'_>, v: &Val<'_>, reasons: &[&str], m: &mut MessengerConfig) {
    let Some(t) = cx.table("messenger", v) else {
        return;
    };
    for (k, v2) in t.iter() {
        let ks = k.get_ref().as_ref();
        let full = join("messenger", ks);
        if !scalar(cx, ks, &full, v2, m) && !list(cx, ks, &full, v2, reasons, m) {
            cx.unknown(k.span().start, "messenger", ks, MESSENGER);
        }
    }
    check(cx, v, m);
}

/// The scalar keys; `false` when `key` is not one.
fn scalar(cx: &mut Ctx<'_>, key: &str, full: &str, v: &Val<'_>, m: &mut MessengerConfig) -> bool {
    let int = |cx: &mut Ctx<'_>, min, max| cx.int(full, v, min, max);
    let text = |cx: &mut Ctx<'_>| cx.string(full, v).map(str::to_string);
    match key {
        "enabled" => m.enabled = cx.boolean(full, v).unwrap_or(m.enabled),
        "self_unblock" => m.self_unblock = cx.boolean(full, v).unwrap_or(m.self_unblock),
        "contact" => m.contact.text = text(cx),
        "contact_name" => m.contact.name = text(cx),
        "contact_url" => m.contact.url = url(cx, full, v),
        "contact_email" => m.contact.email = email(cx, full, v),
        "contact_logo" => m.contact.logo = url(cx, full, v),
        "page_url" => m.page_url = url(cx, full, v),
        "languages_dir" => m.languages_dir = text(cx),
        "language" => m.language = language(cx, full, v).unwrap_or_else(|| m.language.clone()),
        "pow_difficulty" => m.pow_difficulty = int(cx, 8, 28).map_or(m.pow_difficulty, |n| n as u8),
        "self_unblock_per_hour" => {
            m.self_unblock_per_hour =
                int(cx, 0, 100_000).map_or(m.self_unblock_per_hour, |n| n as u32)
        }
        "page_port" => m.page_port = int(cx, 1, 65535).map_or(m.page_port, |n| n as u16),
        "text_port" => m.text_port = int(cx, 1, 65535).map_or(m.text_port, |n| n as u16),
        "rate" => m.rate = int(cx, 1, 10_000).map_or(m.rate, |n| n as u32),
        "kernel_rate" => m.kernel_rate = int(cx, 1, 10_000).map_or(m.kernel_rate, |n| n as u32),
        "kernel_connections" => {
            m.kernel_connections = int(cx, 1, 10_000).map_or(m.kernel_connections, |n| n as u32)
        }
        "self_unblock_period" => {
            if let Some(Some(n)) = cx.duration(full, v, false) {
                m.self_unblock_period_secs = n;
            }
        }
        _ => return false,
    }
    true
}

/// The list keys; `false` when `key` is not one.
fn list(
    cx: &mut Ctx<'_>,
    key: &str,
    full: &str,
    v: &Val<'_>,
    reasons: &[&str],
    m: &mut MessengerConfig,
) -> bool {
    match key {
        "web_ports" => m.web_ports = ports(cx, full, v),
        "text_ports" => m.text_ports = Some(text_ports(cx, full, v)),
        "silent_reasons" => m.silent_reasons = reason_list(cx, full, v, reasons),
        "self_unblock_reasons" => m.self_unblock_reasons = Some(reason_list(cx, full, v, reasons)),
        "certificates" => m.certificates = certificates(cx, full, v),
        "certificate_dirs" => m.certificate_dirs = cx.strings(full, v),
        _ => return false,
    }
    true
}

fn url(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<String> {
    let s = cx.string(key, v)?;
    let ok = ["https://", "http://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|r| !r.is_empty()))
        || (s.starts_with('/') && !s.starts_with("//"));
    if ok && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(s.to_string());
    }
    cx.bad(
        v,
        key,
        "an http:// or https:// URL (or a path starting with /)",
    );
    None
}

fn email(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<String> {
    let s = cx.string(key, v)?;
    let ok = s.split_once('@').is_some_and(|(a, b)| {
        !a.is_empty() && b.contains('.') && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        return Some(s.to_string());
    }
    cx.bad(v, key, "an e-mail address like \"support@example.net\"");
    None
}

/// Whether `s` is a language tag we can name a file after (`en`, `pt-br`).
pub fn language_ok(s: &str) -> bool {
    (2..=12).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && !s.starts_with('-')
}

fn language(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Option<String> {
    let s = cx.string(key, v)?.to_ascii_lowercase();
    if language_ok(&s) {
        return Some(s);
    }
    cx.bad(v, key, "a language tag like \"en\" or \"pt-br\"");
    None
}

fn ports(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<u16> {
    let toml::de::DeValue::Array(a) = v.get_ref() else {
        cx.bad(v, key, "a list of ports, e.g. [80, 443]");
        return Vec::new();
    };
    a.iter()
        .filter_map(|item| cx.int(key, item, 1, 65535).map(|n| n as u16))
        .collect()
}

fn text_ports(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<TextPort> {
    let toml::de::DeValue::Array(a) = v.get_ref() else {
        cx.bad(v, key, "a list like [25, 587, 110, 143, 21, \"2525/smtp\"]");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in a.iter() {
        let parsed = match item.get_ref() {
            toml::de::DeValue::Integer(i) => {
                i.as_str().parse::<u16>().ok().and_then(TextPort::known)
            }
            toml::de::DeValue::String(s) => TextPort::parse(s),
            _ => None,
        };
        match parsed {
            Some(p) => out.push(p),
            None => {
                let shown = cx.shown(item);
                let known: Vec<String> = KNOWN.iter().map(|k| k.0.to_string()).collect();
                cx.err(item.span().start, key, format!(
                    "bad value {shown}: expected a well-known mail or FTP port ({}) or \"PORT/PROTOCOL\" with PROTOCOL one of {PROTO_NAMES}",
                    known.join(", ")
                ));
            }
        }
    }
    out
}

fn reason_list(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>, reasons: &[&str]) -> Vec<String> {
    let list = cx.strings(key, v);
    for r in &list {
        if !reasons.contains(&r.as_str()) {
            let hint = super::suggest(r, reasons)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            cx.err(
                v.span().start,
                key,
                format!("unknown reason code {r:?}{hint} (see `rampart show-rules`)"),
            );
        }
    }
    list
}

fn certificates(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<CertFiles> {
    let toml::de::DeValue::Array(a) = v.get_ref() else {
        cx.bad(v, key, "a list of { cert = \"...\", key = \"...\" } tables");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in a.iter() {
        let Some(t) = cx.table(key, item) else {
            continue;
        };
        let (mut cert, mut k) = (None, None);
        for (k2, v2) in t.iter() {
            match k2.get_ref().as_ref() {
                "cert" => cert = cx.string(key, v2).map(str::to_string),
                "key" => k = cx.string(key, v2).map(str::to_string),
                other => cx.unknown(k2.span().start, key, other, &["cert", "key"]),
            }
        }
        match (cert, k) {
            (Some(cert), Some(key)) => out.push(CertFiles { cert, key }),
            _ => cx.err(
                item.span().start,
                key,
                "each certificate needs both `cert` and `key` (PEM files)".into(),
            ),
        }
    }
    out
}

/// How the values fit together.
fn check(cx: &mut Ctx<'_>, v: &Val<'_>, m: &MessengerConfig) {
    let at = v.span().start;
    if m.page_port == m.text_port {
        cx.err(
            at,
            "messenger.text_port",
            format!(
                "{} is also page_port: the two servers need their own ports",
                m.text_port
            ),
        );
    }
    let text = m.text_ports();
    for p in [m.page_port, m.text_port] {
        if m.web_ports.contains(&p) || text.iter().any(|t| t.port == p) {
            cx.err(
                at,
                "messenger",
                format!("port {p} is both a redirected port and a local server's port"),
            );
        }
    }
    for w in &m.web_ports {
        if text.iter().any(|t| t.port == *w) {
            cx.err(
                at,
                "messenger.text_ports",
                format!("port {w} is also in web_ports"),
            );
        }
    }
    if !m.has_certificates()
        && let Some(t) = text.iter().find(|t| t.tls)
    {
        cx.err(at, "messenger.text_ports", format!(
            "{t} needs a certificate: set `certificates` or `certificate_dirs`, or leave the TLS ports out"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn p(text: &str) -> Result<MessengerConfig, Vec<String>> {
        parse(
            "rampart.toml",
            text,
            &["sshd", "smtpauth", "portscan", "ftpd"],
            &[],
            &crate::config::FixedZonesOnly,
        )
        .map(|c| c.messenger)
        .map_err(|d| d.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_are_off_with_the_plain_ports() {
        let m = p("").expect("valid");
        assert!(!m.enabled);
        assert_eq!(m.web_ports, vec![80, 443]);
        let ports: Vec<u16> = m.text_ports().iter().map(|t| t.port).collect();
        assert_eq!(ports, vec![25, 587, 110, 143, 21]);
        assert!(m.gets_page("sshd") && !m.gets_page("portscan"));
    }

    #[test]
    fn tls_ports_join_with_a_certificate() {
        let m = p("[messenger]\nenabled = true\ncertificate_dirs = [\"/etc/letsencrypt/live\"]\n")
            .expect("valid");
        let ports: Vec<String> = m.text_ports().iter().map(ToString::to_string).collect();
        assert_eq!(
            ports,
            [
                "25/smtp",
                "587/smtp",
                "110/pop3",
                "143/imap",
                "21/ftp",
                "465/smtps",
                "993/imaps",
                "995/pop3s",
                "990/ftps"
            ]
        );
    }

    #[test]
    fn a_full_section() {
        let m = p(r#"
[messenger]
enabled = true
web_ports = [80, 443, 2083]
text_ports = [25, "2525/smtp", "2995/pop3s"]
self_unblock = false
contact = "Call us."
contact_name = "Example Hosting"
contact_url = "https://support.example.net/"
contact_email = "support@example.net"
contact_logo = "/logo.png"
silent_reasons = ["portscan", "sshd"]
self_unblock_reasons = ["smtpauth"]
certificates = [{ cert = "/etc/ssl/a.pem", key = "/etc/ssl/a.key" }]
pow_difficulty = 20
self_unblock_period = "12h"
page_port = 9001
text_port = 9002
language = "de"
"#)
        .expect("valid");
        assert!(m.enabled && !m.self_unblock);
        assert_eq!(
            m.text_port_for(2525).map(|t| t.proto),
            Some(TextProto::Smtp)
        );
        assert_eq!(
            m.text_port_for(2995).map(|t| (t.proto, t.tls)),
            Some((TextProto::Pop3, true))
        );
        assert_eq!(m.self_unblock_period_secs, 43200);
        assert_eq!(m.contact.email.as_deref(), Some("support@example.net"));
        assert_eq!(m.certificates.len(), 1);
        assert!(!m.gets_page("sshd"));
    }

    #[test]
    fn errors_name_line_key_value_and_what_is_accepted() {
        let e = p(r#"
[messenger]
web_ports = [80, 70000]
text_ports = [25, 8025, "993/imaps"]
silent_reasons = ["portscna"]
contact_url = "ftp://x"
contact_email = "nobody"
pow_difficulty = 40
page_port = 25
colour = "red"
"#)
        .expect_err("invalid");
        let all = e.join("\n");
        for want in [
            "rampart.toml:3: messenger.web_ports: bad value 70000: expected an integer from 1 to 65535",
            "rampart.toml:4: messenger.text_ports: bad value 8025: expected a well-known mail or FTP port",
            "unknown reason code \"portscna\"; did you mean \"portscan\"?",
            "messenger.contact_url: bad value \"ftp://x\"",
            "messenger.contact_email: bad value \"nobody\"",
            "messenger.pow_difficulty: bad value 40: expected an integer from 8 to 28",
            "port 25 is both a redirected port and a local server's port",
            "993/imaps needs a certificate",
            "rampart.toml:10: messenger.colour: unknown key",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }

    #[test]
    fn who_may_unblock_themselves() {
        let m = MessengerConfig::default();
        let first = BanFacts {
            reason: "smtpauth",
            permanent: false,
            level: Some(1),
            self_unblocked_recently: false,
        };
        assert!(m.self_unblockable(&first, true));
        assert!(
            !m.self_unblockable(&first, false),
            "not marked in the catalogue"
        );
        for worse in [
            BanFacts {
                permanent: true,
                ..first
            },
            BanFacts {
                level: Some(2),
                ..first
            },
            BanFacts {
                self_unblocked_recently: true,
                ..first
            },
            BanFacts {
                reason: "portscan",
                ..first
            },
        ] {
            assert!(!m.self_unblockable(&worse, true), "{worse:?}");
        }
        let off = MessengerConfig {
            self_unblock: false,
            ..MessengerConfig::default()
        };
        assert!(!off.self_unblockable(&first, true));
        let listed = MessengerConfig {
            self_unblock_reasons: Some(vec!["sshd".into()]),
            ..MessengerConfig::default()
        };
        assert!(listed.self_unblockable(
            &BanFacts {
                reason: "sshd",
                ..first
            },
            false
        ));
        assert!(!listed.self_unblockable(&first, true));
    }
}
