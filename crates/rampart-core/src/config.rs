//! Configuration: `rampart.toml`, validated in one pass that reports every
//! error at once.
//!
//! Every setting has a built-in default, so an empty file (or none) is a
//! valid configuration. Errors name the file and line, the key, the bad
//! value and what is accepted, with a "did you mean" for misspelt keys.
//! Reading the file is the caller's job; this module only sees text.

pub mod alerts;
mod api;
mod fleet;
pub mod messenger;

pub use fleet::{FleetConfig, SharePolicy};
pub use messenger::MessengerConfig;

use crate::addr::Net;
use crate::duration;
pub use alerts::AlertsConfig;
pub use api::{ApiConfig, DEFAULT_LISTEN as DEFAULT_API_LISTEN};
use jiff::tz::TimeZone;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file it is in.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key (`detect.ipv6_prefix`), empty for syntax errors.
    pub key: String,
    /// What is wrong, the bad value and what is accepted.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Per-reason (or per-rule) overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `false` turns the reason's (or rule's) detection off.
    pub enabled: Option<bool>,
    /// Events that trigger a ban.
    pub threshold: Option<u32>,
    /// The counting window, seconds.
    pub window_secs: Option<u64>,
    /// The first ban: `Some(None)` is permanent.
    pub ban_secs: Option<Option<u64>>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `log_timezone` as written (`"UTC"`, `"+01:00"`, `"local"`,
    /// `"Europe/Berlin"`).
    pub log_timezone: String,
    /// The zone naive log timestamps are read in (loaded by the shell's
    /// [`ZoneSource`]; pass it to [`crate::time::TimeContext::in_zone`]).
    pub log_zone: TimeZone,
    /// Directory of user rule files.
    pub rules_dir: String,
    /// IPv6 addresses are counted per network of this many bits.
    pub ipv6_prefix: u8,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Net>,
    /// Private addresses count as trusted proxies too (default true).
    pub trust_private_proxies: bool,
    /// Never counted or banned by detectors.
    pub ignore: Vec<Net>,
    /// Upper bound on tracked (group, address) keys.
    pub max_tracked: usize,
    /// Per reason code.
    pub reasons: BTreeMap<String, Tuning>,
    /// Per rule id.
    pub rules: BTreeMap<String, Tuning>,
    /// Escalation factor for repeat bans.
    pub escalation_factor: u64,
    /// Longest temporary ban, seconds.
    pub max_ban_secs: u64,
    /// The Nth ban within `ban_history_secs` is permanent (0: never).
    pub permanent_after: u32,
    /// How far back earlier bans count.
    pub ban_history_secs: u64,
    /// Ban the whole /24 (IPv4) or /48 (IPv6) after this many bans inside
    /// it within `ban_history_secs` (CSF's LF_NETBLOCK; 0: off, the default).
    pub netblock_after: u32,
    /// Distributed-attack detection.
    pub distributed_enabled: bool,
    /// Failures against one account that trigger it.
    pub distributed_threshold: u32,
    /// Distinct addresses needed.
    pub distributed_min_addresses: u32,
    /// Suricata alerts of this severity or more severe (lower number) count.
    pub ids_max_severity: u8,
    /// The packet filter.
    pub firewall: FirewallConfig,
    /// Country blocking.
    pub country: CountryConfig,
    /// Live port-scan detection (the daemon).
    pub portscan: PortscanConfig,
    /// Per-source connection limits (the daemon and the kernel).
    pub limits: LimitsConfig,
    /// What the daemon follows.
    pub sources: SourcesConfig,
    /// Alerts: e-mail, webhooks, storm control.
    pub alerts: AlertsConfig,
    /// Sharing bans across servers (`[fleet]`; `None`: off).
    pub fleet: Option<FleetConfig>,
    /// What blocked addresses are told (`[messenger]`; off by default).
    pub messenger: MessengerConfig,
    /// The HTTP API, metrics and console (`[api]`).
    pub api: ApiConfig,
}

/// `[sources]`: what `rampart run` follows when no `--watch` is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcesConfig {
    /// Log files or globs (default: the standard logs that exist).
    pub files: Vec<String>,
    /// `[[sources.file]]` entries: files or globs with per-file settings.
    pub file: Vec<SourceFile>,
    /// Follow the journal: `Some(true)`/`Some(false)`; `None`: only when no
    /// syslog file exists.
    pub journal: Option<bool>,
}

/// One `[[sources.file]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFile {
    /// The file or glob.
    pub path: String,
    /// The program whose output the file is (`"dropbear"`): lines without
    /// a syslog header are read as that program's messages
    /// (`Detector::process_as`). `None`: lines are read as usual.
    pub program: Option<String>,
}

/// `[portscan]`: CSF's PS_LIMIT / PS_INTERVAL / PS_DIVERSITY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortscanConfig {
    /// Log new connection attempts to closed ports and ban scanners.
    pub enabled: bool,
    /// More than this many hits within `interval_secs` is a scan.
    pub limit: u32,
    /// The window.
    pub interval_secs: u64,
    /// At least this many distinct ports.
    pub diversity: u32,
    /// The NFLOG group the kernel logs to.
    pub nflog_group: u16,
}

impl Default for PortscanConfig {
    fn default() -> Self {
        PortscanConfig {
            enabled: true,
            limit: 10,
            interval_secs: 300,
            diversity: 1,
            nflog_group: 5,
        }
    }
}

/// `[limits]`: CSF's CONNLIMIT, PORTFLOOD, SYNFLOOD (in the kernel, per
/// source) and CT_LIMIT (from conntrack).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `"PORT;LIMIT"`: concurrent connections per source (CONNLIMIT).
    pub conn: Vec<String>,
    /// `"PORT;tcp|udp;HITS;SECONDS"`: new connections per source (PORTFLOOD).
    pub portflood: Vec<String>,
    /// `"RATE/BURST"` new TCP connections per second per source (SYNFLOOD).
    pub synflood: Option<String>,
    /// More than this many conntrack entries from one source bans it (0: off).
    pub ct_limit: u32,
    /// How often conntrack is counted.
    pub ct_interval_secs: u64,
}

/// `[firewall]`: the port policy and advanced filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// `false` (default): ban-only, no port policy. `true`: default-deny
    /// inbound with `tcp_in`/`udp_in` open (CSF's TCP_IN...).
    pub strict: bool,
    /// Inbound TCP ports (`"22,80,443,2077:2083"`).
    pub tcp_in: String,
    /// Inbound UDP ports.
    pub udp_in: String,
    /// Outbound TCP ports; `None` leaves outbound open.
    pub tcp_out: Option<String>,
    /// Outbound UDP ports (with `tcp_out`).
    pub udp_out: Option<String>,
    /// Accept inbound ping.
    pub icmp_in: bool,
    /// Allow outbound ping (with `tcp_out`).
    pub icmp_out: bool,
    /// The SSH port kept open in strict mode (default: detected, else 22).
    pub ssh_port: Option<u16>,
    /// CSF-style allow filters (`tcp|in|d=22|s=198.51.100.0/24`).
    pub allow_filters: Vec<String>,
    /// CSF-style deny filters.
    pub deny_filters: Vec<String>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            strict: false,
            tcp_in: "20,21,22,25,53,80,110,143,443,465,587,853,993,995".into(),
            udp_in: "53,853".into(),
            tcp_out: None,
            udp_out: None,
            icmp_in: true,
            icmp_out: true,
            ssh_port: None,
            allow_filters: Vec::new(),
            deny_filters: Vec::new(),
        }
    }
}

/// `[country]`: CSF's CC_DENY / CC_ALLOW / CC_ALLOW_PORTS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryConfig {
    /// A MaxMind-format `.mmdb`, or a DB-IP / IP2Location lite CSV.
    pub database: Option<String>,
    /// Countries denied (ISO codes).
    pub deny: Vec<String>,
    /// If set, only these countries may connect.
    pub allow: Vec<String>,
    /// With `allow`: restrict only these ports (`"22,2083"`).
    pub allow_ports: Option<String>,
}

/// Checks a CSF-style port list: `22,80,2077:2083` (or `2077-2083`).
pub fn valid_ports(s: &str) -> bool {
    s.trim().is_empty()
        || s.split(',').all(|p| {
            let p = p.trim();
            let mut it = p.splitn(2, [':', '-']);
            let ok = |x: Option<&str>| x.is_some_and(|x| x.parse::<u16>().is_ok_and(|n| n > 0));
            match (it.next(), it.next()) {
                (a, None) => ok(a),
                (a, b) => ok(a) && ok(b),
            }
        })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            log_timezone: "UTC".into(),
            log_zone: TimeZone::UTC,
            rules_dir: "/etc/rampart/rules.d".into(),
            ipv6_prefix: 64,
            trusted_proxies: Vec::new(),
            trust_private_proxies: true,
            ignore: Vec::new(),
            max_tracked: 4_000_000,
            reasons: BTreeMap::new(),
            rules: BTreeMap::new(),
            escalation_factor: 4,
            max_ban_secs: 7 * 86400,
            permanent_after: 4,
            ban_history_secs: 7 * 86400,
            netblock_after: 0,
            distributed_enabled: false,
            distributed_threshold: 10,
            distributed_min_addresses: 3,
            ids_max_severity: 2,
            firewall: FirewallConfig::default(),
            country: CountryConfig::default(),
            portscan: PortscanConfig::default(),
            sources: SourcesConfig::default(),
            alerts: AlertsConfig::default(),
            limits: LimitsConfig {
                ct_interval_secs: 30,
                ..LimitsConfig::default()
            },
            fleet: None,
            messenger: MessengerConfig::default(),
            api: ApiConfig::default(),
        }
    }
}

/// Known keys per table, for unknown-key errors and suggestions.
const FIREWALL: &[&str] = &[
    "strict",
    "tcp_in",
    "udp_in",
    "tcp_out",
    "udp_out",
    "icmp_in",
    "icmp_out",
    "ssh_port",
    "allow_filters",
    "deny_filters",
];
const COUNTRY: &[&str] = &["database", "deny", "allow", "allow_ports"];
const PORTSCAN: &[&str] = &["enabled", "limit", "interval", "diversity", "nflog_group"];
const LIMITS: &[&str] = &["conn", "portflood", "synflood", "ct_limit", "ct_interval"];
const SOURCES: &[&str] = &["files", "file", "journal"];
const SOURCE_FILE: &[&str] = &["path", "program"];
const TOP: &[&str] = &[
    "log_timezone",
    "rules_dir",
    "detect",
    "reasons",
    "rules",
    "ban",
    "distributed",
    "ids",
    "firewall",
    "country",
    "portscan",
    "limits",
    "sources",
    "alerts",
    "fleet",
    "messenger",
    "api",
];
const DETECT: &[&str] = &[
    "ipv6_prefix",
    "trusted_proxies",
    "trust_private_proxies",
    "ignore",
    "max_tracked",
];
const TUNING: &[&str] = &["enabled", "threshold", "window", "ban"];
const BAN: &[&str] = &[
    "escalation_factor",
    "max_ban",
    "permanent_after",
    "history",
    "netblock_after",
];
const DISTRIBUTED: &[&str] = &["enabled", "threshold", "min_addresses"];
const IDS: &[&str] = &["max_severity"];

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

struct Ctx<'t> {
    file: &'t str,
    text: &'t str,
    diags: Vec<Diagnostic>,
}

type Val<'i> = Spanned<DeValue<'i>>;

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
    fn err(&mut self, span_start: usize, key: &str, message: String) {
        let line = Some(self.line_of(span_start));
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line,
            key: key.to_string(),
            message,
        });
    }
    /// `key`'s value `v` is not accepted: "bad value V: expected …".
    fn bad(&mut self, v: &Val<'_>, key: &str, expected: &str) {
        let shown = self.shown(v);
        self.err(
            v.span().start,
            key,
            format!("bad value {shown}: expected {expected}"),
        );
    }
    fn shown(&self, v: &Val<'_>) -> String {
        let s = &self.text[v.span().start.min(self.text.len())..v.span().end.min(self.text.len())];
        let s: String = s.chars().take(80).collect();
        s
    }
    fn unknown(&mut self, start: usize, prefix: &str, key: &str, known: &[&str]) {
        let hint = match suggest(key, known) {
            Some(s) => format!("; did you mean `{s}`?"),
            None => String::new(),
        };
        self.err(
            start,
            &join(prefix, key),
            format!("unknown key{hint} (accepted here: {})", known.join(", ")),
        );
    }
    fn table<'a, 'i>(&mut self, key: &str, v: &'a Val<'i>) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                let shown = self.shown(v);
                self.err(
                    v.span().start,
                    key,
                    format!("bad value {shown}: expected a table ([{key}])"),
                );
                None
            }
        }
    }
    fn boolean(&mut self, key: &str, v: &Val<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                let shown = self.shown(v);
                self.err(
                    v.span().start,
                    key,
                    format!("bad value {shown}: expected true or false"),
                );
                None
            }
        }
    }
    fn int(&mut self, key: &str, v: &Val<'_>, min: i64, max: i64) -> Option<i64> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let shown = self.shown(v);
                self.err(
                    v.span().start,
                    key,
                    format!("bad value {shown}: expected an integer from {min} to {max}"),
                );
                None
            }
        }
    }
    fn string<'a>(&mut self, key: &str, v: &'a Val<'_>) -> Option<&'a str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s),
            _ => {
                let shown = self.shown(v);
                self.err(
                    v.span().start,
                    key,
                    format!("bad value {shown}: expected a string"),
                );
                None
            }
        }
    }
    /// A duration ([`crate::duration`]): seconds, or `90s`/`1h30m`/`7d`/`1w`;
    /// `permanent` when allowed. Zero is refused.
    fn duration(&mut self, key: &str, v: &Val<'_>, permanent_ok: bool) -> Option<Option<u64>> {
        let r = match v.get_ref() {
            DeValue::Integer(i) => i.as_str().replace('_', "").parse::<u64>().ok().map(Some),
            DeValue::String(s) if permanent_ok => duration::parse_ban(s).ok(),
            DeValue::String(s) => duration::parse(s).ok().map(Some),
            _ => None,
        };
        match r {
            Some(None) => Some(None),
            Some(Some(n)) if n > 0 => Some(Some(n)),
            _ => {
                let shown = self.shown(v);
                let or_permanent = if permanent_ok {
                    ", or \"permanent\""
                } else {
                    ""
                };
                self.err(
                    v.span().start,
                    key,
                    format!(
                        "bad value {shown}: expected a positive duration: {}{or_permanent}",
                        duration::ACCEPTED
                    ),
                );
                None
            }
        }
    }
    fn strings(&mut self, key: &str, v: &Val<'_>) -> Vec<String> {
        let DeValue::Array(a) = v.get_ref() else {
            let shown = self.shown(v);
            self.err(
                v.span().start,
                key,
                format!("bad value {shown}: expected a list of strings"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in a.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push(s.to_string()),
                None => {
                    let shown = self.shown(item);
                    self.err(
                        item.span().start,
                        key,
                        format!("bad value {shown}: expected a string"),
                    );
                }
            }
        }
        out
    }
    fn nets(&mut self, key: &str, v: &Val<'_>) -> Vec<Net> {
        let DeValue::Array(a) = v.get_ref() else {
            let shown = self.shown(v);
            self.err(v.span().start, key, format!("bad value {shown}: expected a list of addresses or CIDRs, e.g. [\"192.0.2.10\", \"2001:db8::/48\"]"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in a.iter() {
            match item.get_ref().as_str().and_then(Net::parse) {
                Some(n) => out.push(n),
                None => {
                    let shown = self.shown(item);
                    self.err(item.span().start, key, format!("bad value {shown}: expected an IPv4 or IPv6 address or CIDR (192.0.2.10, 198.51.100.0/24, 2001:db8::/48)"));
                }
            }
        }
        out
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Where time zones come from. The core reads no files: the shell
/// implements this with the system's zone database, `TZ` and
/// `/etc/localtime`.
pub trait ZoneSource {
    /// The system's zone (`log_timezone = "local"`).
    ///
    /// # Errors
    /// Why it cannot be determined.
    fn local(&self) -> Result<TimeZone, String>;
    /// An IANA zone by name (`Europe/Berlin`).
    ///
    /// # Errors
    /// Why it is unknown (with a suggestion when one is close).
    fn named(&self, name: &str) -> Result<TimeZone, String>;
}

/// A [`ZoneSource`] without a zone database: `log_timezone` may only be
/// UTC or a fixed offset (tests, fuzzing, tools that read no logs).
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedZonesOnly;

impl ZoneSource for FixedZonesOnly {
    fn local(&self) -> Result<TimeZone, String> {
        Err("no zone database here".into())
    }
    fn named(&self, _name: &str) -> Result<TimeZone, String> {
        Err("no zone database here".into())
    }
}

/// What `log_timezone` accepts, for error messages.
const ZONE_FORMS: &str = "\"UTC\", \"local\" (the system's zone), an IANA zone name like \"Europe/Berlin\", or a fixed offset like \"+01:00\" or \"-0500\"";

/// Pass as `rule_ids` to accept any `[rules."ID"]` (commands that do not
/// load rules; `rampart config check` validates the ids).
pub const ANY_RULE: &[&str] = &["*"];

/// Parses `UTC`, `Z`, `+01:00`, `-0530`.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// A `log_timezone` value: a fixed offset here, `local` and names from `zones`.
fn resolve_zone(s: &str, zones: &dyn ZoneSource) -> Result<TimeZone, String> {
    if let Some(o) = parse_utc_offset(s) {
        return jiff::tz::Offset::from_seconds(o)
            .map(TimeZone::fixed)
            .map_err(|e| e.to_string());
    }
    let t = s.trim();
    if t.eq_ignore_ascii_case("local") {
        return zones
            .local()
            .map_err(|e| format!("cannot determine the system's time zone ({e})"));
    }
    let plausible = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
    if !plausible {
        return Err("not a time zone".into());
    }
    zones.named(t)
}

/// Parses and validates a configuration. `reason_codes` and `rule_ids`
/// are the known names, for checking `[reasons.X]` and `[rules."X"]`;
/// `zones` loads `log_timezone` zones ([`FixedZonesOnly`] when there is
/// no zone database).
pub fn parse(
    file: &str,
    text: &str,
    reason_codes: &[&str],
    rule_ids: &[&str],
    zones: &dyn ZoneSource,
) -> Result<Config, Vec<Diagnostic>> {
    let mut cx = Ctx {
        file,
        text,
        diags: Vec::new(),
    };
    let (root, errors) = DeTable::parse_recoverable(text);
    for e in errors {
        let line = e.span().map(|s| cx.line_of(s.start));
        cx.diags.push(Diagnostic {
            file: file.to_string(),
            line,
            key: String::new(),
            message: format!("TOML syntax error: {}", e.message()),
        });
    }
    let mut c = Config::default();
    if !cx.diags.is_empty() {
        // Values next to a syntax error are unreliable: report the syntax first.
        return Err(cx.diags);
    }
    for (k, v) in root.get_ref().iter() {
        let key = k.get_ref().as_ref();
        let start = k.span().start;
        match key {
            "log_timezone" => {
                if let Some(s) = cx.string(key, v) {
                    match resolve_zone(s, zones) {
                        Ok(z) => {
                            c.log_timezone = s.to_string();
                            c.log_zone = z;
                        }
                        Err(why) => {
                            let shown = cx.shown(v);
                            cx.err(
                                v.span().start,
                                key,
                                format!("bad value {shown}: {why}; expected {ZONE_FORMS}"),
                            );
                        }
                    }
                }
            }
            "rules_dir" => {
                if let Some(s) = cx.string(key, v) {
                    c.rules_dir = s.to_string();
                }
            }
            "detect" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("detect", k2s);
                    match k2s {
                        "ipv6_prefix" => {
                            if let Some(n) = cx.int(&full, v2, 16, 128) {
                                c.ipv6_prefix = n as u8;
                            }
                        }
                        "trusted_proxies" => c.trusted_proxies = cx.nets(&full, v2),
                        "trust_private_proxies" => {
                            if let Some(b) = cx.boolean(&full, v2) {
                                c.trust_private_proxies = b;
                            }
                        }
                        "ignore" => c.ignore = cx.nets(&full, v2),
                        "max_tracked" => {
                            if let Some(n) = cx.int(&full, v2, 1000, 100_000_000) {
                                c.max_tracked = n as usize;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "detect", k2s, DETECT),
                    }
                }
            }
            "reasons" | "rules" => {
                let Some(t) = cx.table(key, v) else { continue };
                let known: &[&str] = if key == "reasons" {
                    reason_codes
                } else {
                    rule_ids
                };
                for (name, body) in t.iter() {
                    let n = name.get_ref().as_ref();
                    let prefix = format!("{key}.{n}");
                    let any = key == "rules" && known == ANY_RULE;
                    if !any && !known.contains(&n) {
                        let hint = suggest(n, known)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        let what = if key == "reasons" {
                            "reason code"
                        } else {
                            "rule id (see `rampart rules list`)"
                        };
                        cx.err(name.span().start, &prefix, format!("unknown {what}{hint}"));
                        continue;
                    }
                    let Some(bt) = cx.table(&prefix, body) else {
                        continue;
                    };
                    let mut tu = Tuning::default();
                    for (k3, v3) in bt.iter() {
                        let k3s = k3.get_ref().as_ref();
                        let full = join(&prefix, k3s);
                        match k3s {
                            "enabled" => tu.enabled = cx.boolean(&full, v3),
                            "threshold" => {
                                tu.threshold = cx.int(&full, v3, 1, 100_000).map(|n| n as u32)
                            }
                            "window" => tu.window_secs = cx.duration(&full, v3, false).flatten(),
                            "ban" => tu.ban_secs = cx.duration(&full, v3, true),
                            _ => cx.unknown(k3.span().start, &prefix, k3s, TUNING),
                        }
                    }
                    if key == "reasons" {
                        c.reasons.insert(n.to_string(), tu);
                    } else {
                        c.rules.insert(n.to_string(), tu);
                    }
                }
            }
            "ban" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("ban", k2s);
                    match k2s {
                        "escalation_factor" => {
                            if let Some(n) = cx.int(&full, v2, 1, 100) {
                                c.escalation_factor = n as u64;
                            }
                        }
                        "max_ban" => {
                            if let Some(Some(n)) = cx.duration(&full, v2, false) {
                                c.max_ban_secs = n;
                            }
                        }
                        "permanent_after" => {
                            if let Some(n) = cx.int(&full, v2, 0, 1000) {
                                c.permanent_after = n as u32;
                            }
                        }
                        "netblock_after" => {
                            if let Some(n) = cx.int(&full, v2, 0, 100_000) {
                                c.netblock_after = n as u32;
                            }
                        }
                        "history" => {
                            if let Some(Some(n)) = cx.duration(&full, v2, false) {
                                c.ban_history_secs = n;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "ban", k2s, BAN),
                    }
                }
            }
            "distributed" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("distributed", k2s);
                    match k2s {
                        "enabled" => {
                            if let Some(b) = cx.boolean(&full, v2) {
                                c.distributed_enabled = b;
                            }
                        }
                        "threshold" => {
                            if let Some(n) = cx.int(&full, v2, 2, 100_000) {
                                c.distributed_threshold = n as u32;
                            }
                        }
                        "min_addresses" => {
                            if let Some(n) = cx.int(&full, v2, 2, 100_000) {
                                c.distributed_min_addresses = n as u32;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "distributed", k2s, DISTRIBUTED),
                    }
                }
            }
            "ids" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    match k2s {
                        "max_severity" => {
                            if let Some(n) = cx.int(&join("ids", k2s), v2, 1, 4) {
                                c.ids_max_severity = n as u8;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "ids", k2s, IDS),
                    }
                }
            }
            "firewall" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("firewall", k2s);
                    let f = &mut c.firewall;
                    match k2s {
                        "strict" => f.strict = cx.boolean(&full, v2).unwrap_or(f.strict),
                        "icmp_in" => f.icmp_in = cx.boolean(&full, v2).unwrap_or(f.icmp_in),
                        "icmp_out" => f.icmp_out = cx.boolean(&full, v2).unwrap_or(f.icmp_out),
                        "ssh_port" => f.ssh_port = cx.int(&full, v2, 1, 65535).map(|n| n as u16),
                        "tcp_in" | "udp_in" | "tcp_out" | "udp_out" => {
                            let Some(p) = cx.string(&full, v2) else {
                                continue;
                            };
                            if !valid_ports(p) {
                                let shown = cx.shown(v2);
                                cx.err(v2.span().start, &full, format!("bad value {shown}: expected ports and ranges like \"22,80,443,2077:2083\""));
                                continue;
                            }
                            let p = p.to_string();
                            match k2s {
                                "tcp_in" => f.tcp_in = p,
                                "udp_in" => f.udp_in = p,
                                "tcp_out" => f.tcp_out = Some(p),
                                _ => f.udp_out = Some(p),
                            }
                        }
                        "allow_filters" | "deny_filters" => {
                            let list = cx.strings(&full, v2);
                            if k2s == "allow_filters" {
                                f.allow_filters = list;
                            } else {
                                f.deny_filters = list;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "firewall", k2s, FIREWALL),
                    }
                }
            }
            "country" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("country", k2s);
                    match k2s {
                        "database" => c.country.database = cx.string(&full, v2).map(str::to_string),
                        "allow_ports" => {
                            if let Some(p) = cx.string(&full, v2) {
                                if valid_ports(p) {
                                    c.country.allow_ports = Some(p.to_string());
                                } else {
                                    let shown = cx.shown(v2);
                                    cx.err(v2.span().start, &full, format!("bad value {shown}: expected ports and ranges like \"22,2083\""));
                                }
                            }
                        }
                        "deny" | "allow" => {
                            let mut codes = Vec::new();
                            for code in cx.strings(&full, v2) {
                                if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())
                                {
                                    codes.push(code.to_ascii_uppercase());
                                } else {
                                    cx.err(v2.span().start, &full, format!("bad value {code:?}: expected two-letter ISO country codes like \"CN\", \"RU\""));
                                }
                            }
                            if k2s == "deny" {
                                c.country.deny = codes;
                            } else {
                                c.country.allow = codes;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "country", k2s, COUNTRY),
                    }
                }
            }
            "portscan" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("portscan", k2s);
                    let p = &mut c.portscan;
                    match k2s {
                        "enabled" => p.enabled = cx.boolean(&full, v2).unwrap_or(p.enabled),
                        "limit" => {
                            p.limit = cx.int(&full, v2, 1, 100_000).map_or(p.limit, |n| n as u32)
                        }
                        "diversity" => {
                            p.diversity = cx
                                .int(&full, v2, 1, 65535)
                                .map_or(p.diversity, |n| n as u32)
                        }
                        "nflog_group" => {
                            p.nflog_group = cx
                                .int(&full, v2, 0, 65535)
                                .map_or(p.nflog_group, |n| n as u16)
                        }
                        "interval" => {
                            if let Some(Some(n)) = cx.duration(&full, v2, false) {
                                p.interval_secs = n;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "portscan", k2s, PORTSCAN),
                    }
                }
            }
            "limits" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("limits", k2s);
                    match k2s {
                        "conn" => c.limits.conn = cx.strings(&full, v2),
                        "portflood" => c.limits.portflood = cx.strings(&full, v2),
                        "synflood" => c.limits.synflood = cx.string(&full, v2).map(str::to_string),
                        "ct_limit" => {
                            c.limits.ct_limit =
                                cx.int(&full, v2, 0, 1_000_000).map_or(0, |n| n as u32)
                        }
                        "ct_interval" => {
                            if let Some(Some(n)) = cx.duration(&full, v2, false) {
                                c.limits.ct_interval_secs = n;
                            }
                        }
                        _ => cx.unknown(k2.span().start, "limits", k2s, LIMITS),
                    }
                }
            }
            "sources" => {
                let Some(t) = cx.table(key, v) else { continue };
                for (k2, v2) in t.iter() {
                    let k2s = k2.get_ref().as_ref();
                    let full = join("sources", k2s);
                    match k2s {
                        "files" => c.sources.files = cx.strings(&full, v2),
                        "file" => c.sources.file = source_files(&mut cx, &full, v2),
                        "journal" => c.sources.journal = cx.boolean(&full, v2),
                        _ => cx.unknown(k2.span().start, "sources", k2s, SOURCES),
                    }
                }
            }
            "alerts" => alerts::parse(&mut cx, v, &mut c.alerts),
            "fleet" => c.fleet = fleet::parse(&mut cx, v),
            "messenger" => messenger::parse(&mut cx, v, reason_codes, &mut c.messenger),
            "api" => api::parse(&mut cx, v, &mut c.api),
            _ => cx.unknown(start, "", key, TOP),
        }
    }
    cx.diags.sort_by_key(|d| d.line);
    if cx.diags.is_empty() {
        Ok(c)
    } else {
        Err(cx.diags)
    }
}

/// `[[sources.file]]`: a list of tables with `path` (required) and
/// `program` (a syslog-tag-like name).
fn source_files(cx: &mut Ctx<'_>, key: &str, v: &Val<'_>) -> Vec<SourceFile> {
    let DeValue::Array(a) = v.get_ref() else {
        let shown = cx.shown(v);
        cx.err(
            v.span().start,
            key,
            format!("bad value {shown}: expected [[{key}]] tables with path = \"...\""),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in a.iter() {
        let Some(t) = cx.table(key, item) else {
            continue;
        };
        let mut f = SourceFile::default();
        for (k, val) in t.iter() {
            let ks = k.get_ref().as_ref();
            let full = join(key, ks);
            match ks {
                "path" => f.path = cx.string(&full, val).unwrap_or_default().to_string(),
                "program" => {
                    let Some(p) = cx.string(&full, val) else {
                        continue;
                    };
                    let ok = !p.is_empty()
                        && p.len() <= 64
                        && p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_./@".contains(&b));
                    if ok {
                        f.program = Some(p.to_string());
                    } else {
                        let shown = cx.shown(val);
                        cx.err(val.span().start, &full, format!("bad value {shown}: expected a program name as syslog tags it, like \"dropbear\" or \"sshd\""));
                    }
                }
                _ => cx.unknown(k.span().start, key, ks, SOURCE_FILE),
            }
        }
        if f.path.is_empty() {
            cx.err(
                item.span().start,
                &join(key, "path"),
                "missing: each [[sources.file]] needs path = \"/var/log/FILE\"".into(),
            );
            continue;
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Config, Vec<Diagnostic>> {
        parse(
            "rampart.toml",
            text,
            &["sshd", "smtpauth"],
            &["sshd.invalid_user"],
            &FixedZonesOnly,
        )
    }

    #[test]
    fn empty_is_defaults() {
        assert_eq!(p("").unwrap(), Config::default());
    }

    #[test]
    fn values() {
        let c = p(r#"
log_timezone = "+01:00"
[detect]
ipv6_prefix = 56
ignore = ["192.0.2.0/24", "2001:db8::1"]
[reasons.sshd]
threshold = 3
window = "10m"
ban = "permanent"
[rules."sshd.invalid_user"]
enabled = false
[ban]
permanent_after = 0
[distributed]
enabled = true
"#)
        .unwrap();
        assert_eq!(c.log_timezone, "+01:00");
        assert_eq!(
            c.log_zone.to_fixed_offset().map(|o| o.seconds()).ok(),
            Some(3600)
        );
        assert_eq!(c.ipv6_prefix, 56);
        assert_eq!(c.ignore.len(), 2);
        let t = &c.reasons["sshd"];
        assert_eq!(
            (t.threshold, t.window_secs, t.ban_secs),
            (Some(3), Some(600), Some(None))
        );
        assert_eq!(c.rules["sshd.invalid_user"].enabled, Some(false));
        assert_eq!(c.permanent_after, 0);
        assert!(c.distributed_enabled);
    }

    #[test]
    fn reports_every_error_with_line_key_value_and_hint() {
        let errs = p(r#"
[detect]
ipv6_prefx = 64
ignore = ["192.0.2.0/24", "not-an-ip"]
[reasons.sshd]
threshold = 0
window = "5x"
[reasons.smtpath]
threshold = 5
"#)
        .unwrap_err();
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let text = all.join("\n");
        assert_eq!(errs.len(), 5, "{text}");
        assert!(
            text.contains(
                "rampart.toml:3: detect.ipv6_prefx: unknown key; did you mean `ipv6_prefix`?"
            ),
            "{text}"
        );
        assert!(
            text.contains("rampart.toml:4: detect.ignore: bad value \"not-an-ip\""),
            "{text}"
        );
        assert!(text.contains("rampart.toml:6: reasons.sshd.threshold: bad value 0: expected an integer from 1 to 100000"), "{text}");
        assert!(
            text.contains("rampart.toml:7: reasons.sshd.window: bad value \"5x\""),
            "{text}"
        );
        assert!(
            text.contains("reasons.smtpath: unknown reason code; did you mean `smtpauth`?"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let errs = p("[detect]\nipv6_prefix = = 3\n").unwrap_err();
        assert_eq!(errs[0].line, Some(2), "{:?}", errs);
    }

    #[test]
    fn firewall_and_country() {
        let c = p("[firewall]\nstrict = true\ntcp_in = \"22,80,2077:2083\"\nallow_filters = [\"tcp|in|d=22|s=198.51.100.0/24\"]\n[country]\ndeny = [\"cn\"]\n").unwrap();
        assert!(c.firewall.strict);
        assert_eq!(c.firewall.tcp_in, "22,80,2077:2083");
        assert_eq!(c.firewall.allow_filters.len(), 1);
        assert_eq!(c.country.deny, vec!["CN"]);
        let e = p("[firewall]\ntcp_in = \"22,http\"\n[country]\ndeny = [\"China\"]\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].to_string()
                .contains("firewall.tcp_in: bad value \"22,http\""),
            "{}",
            e[0]
        );
        assert!(
            e[1].to_string()
                .contains("country.deny: bad value \"China\""),
            "{}",
            e[1]
        );
    }

    #[test]
    fn source_files_with_programs() {
        let c = p("[sources]\nfiles = [\"/var/log/auth.log\"]\n[[sources.file]]\npath = \"/var/log/messages\"\nprogram = \"dropbear\"\n[[sources.file]]\npath = \"/srv/app/*.log\"\n").unwrap();
        assert_eq!(c.sources.files, vec!["/var/log/auth.log"]);
        assert_eq!(
            c.sources.file,
            vec![
                SourceFile {
                    path: "/var/log/messages".into(),
                    program: Some("dropbear".into())
                },
                SourceFile {
                    path: "/srv/app/*.log".into(),
                    program: None
                }
            ]
        );
        let e = p("[[sources.file]]\nprogram = \"drop bear\"\npth = \"x\"\n").unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        let text = text.join("\n");
        assert_eq!(e.len(), 3, "{text}");
        assert!(
            text.contains("rampart.toml:2: sources.file.program: bad value \"drop bear\""),
            "{text}"
        );
        assert!(
            text.contains("rampart.toml:3: sources.file.pth: unknown key; did you mean `path`?"),
            "{text}"
        );
        assert!(text.contains("sources.file.path: missing"), "{text}");
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_utc_offset("UTC"), Some(0));
        assert_eq!(parse_utc_offset("-0530"), Some(-19800));
        assert_eq!(parse_utc_offset("+01:00"), Some(3600));
        assert_eq!(parse_utc_offset("Europe/Paris"), None);
    }
}
