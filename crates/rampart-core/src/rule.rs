//! Detection rules as data.
//!
//! A rule file is TOML with one `[[rule]]` table per rule. The built-in
//! pack lives in `crates/rampart-core/rules/*.toml` and is embedded in the
//! binary; users add files of the same shape in `/etc/rampart/rules.d/`.
//!
//! ```toml
//! [[rule]]
//! id = "sshd.failed_password"          # unique, service.name
//! reason = "sshd"                      # reason code: explanation, defaults
//! service = "OpenSSH"                  # for humans
//! description = "Failed password authentication"
//! programs = ["sshd", "sshd-session"]  # syslog tags whose messages it reads
//! line = false                         # also read non-syslog lines (own log files)
//! literals = ["Failed "]               # cheap prefilter: one must occur
//! regex = '''^Failed password for (?P<user>.+?) from (?P<ip>\S+) port \d+'''
//! # optional: threshold = 5, window = "1h", ban = "1h", enabled = false,
//! #           count_by = "address" | "account", ports = [22], group = "sshd"
//! [[rule.match]]                       # test vectors that must match ...
//! line = "Nov 27 08:15:00 web1 sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2"
//! ip = "198.51.100.7"
//! user = "root"
//! [[rule.nomatch]]                     # ... and lines that must not
//! line = "..."
//! ```
//!
//! Named captures: `ip` (required, the only place an address is taken
//! from), and optionally `user`, `port`, `count` (the line reports N
//! failures), `rule_id` (mod_security), `host`, `time` (a timestamp inside
//! the line), `forwarded` (an `X-Forwarded-For` value, believed only when
//! `ip` is a trusted proxy) and `svc` (selects the reason through
//! `reason_map`).

use serde::Deserialize;
use std::collections::BTreeMap;

/// One rule as written in a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique id, `service.what`.
    pub id: String,
    /// Reason code (see [`crate::explain`]).
    pub reason: String,
    /// The service, for humans.
    #[serde(default)]
    pub service: String,
    /// What the rule recognises, for humans.
    #[serde(default)]
    pub description: String,
    /// Syslog program tags whose messages the rule reads.
    #[serde(default)]
    pub programs: Vec<String>,
    /// Whether the rule also reads lines that are not syslog (the service's own log file).
    #[serde(default)]
    pub line: bool,
    /// Literal strings, one of which must occur for the regex to run.
    #[serde(default)]
    pub literals: Vec<String>,
    /// The pattern, with named captures.
    pub regex: String,
    /// Disabled rules are compiled and tested but never produce events.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A line this rule matches produces nothing (fail2ban's ignoreregex):
    /// for harmless or ambiguous shapes that a later rule would take.
    #[serde(default)]
    pub ignore: bool,
    /// The rule only records the connection's address for its process
    /// (`sshd[4242]: Connection from 198.51.100.7 port 1 on ...`), for later
    /// lines of the same process that do not repeat it. Not an event.
    #[serde(default)]
    pub session: bool,
    /// The line carries no address: blame the one last recorded for the
    /// same host, program and process id (syslog lines with a `[pid]`).
    #[serde(default)]
    pub ip_from_session: bool,
    /// The line closes the process's connection: forget its session
    /// address after using it (a later process reusing the pid starts clean).
    #[serde(default)]
    pub ends_session: bool,
    /// The line reports an attempt that other lines of the same session
    /// (host, program and `[pid]`) also report (PAM's summary, the
    /// disconnect after failed logins, "maximum authentication attempts
    /// exceeded"): it counts only when nothing was counted for that session
    /// and address yet; otherwise it is an event that is not counted again.
    #[serde(default)]
    pub once_per_session: bool,
    /// What is counted: each line (default), or `"port"`: only lines naming
    /// a destination port the address has not hit yet within the window, so
    /// the threshold is a number of distinct ports (port scans seen in
    /// firewall logs, where a blocked client retrying one port is no scan).
    pub distinct: Option<Distinct>,
    /// Overrides the reason's threshold.
    pub threshold: Option<u32>,
    /// Overrides the reason's window (`90s`, `15m`, `1h`, or seconds).
    pub window: Option<DurationValue>,
    /// Overrides the reason's ban duration (`permanent` allowed).
    pub ban: Option<DurationValue>,
    /// The counting group; rules of one group share a window. Defaults to the reason.
    pub group: Option<String>,
    /// Ports the ban is limited to (empty: all ports).
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Maps the lower-cased `svc` capture to a reason code.
    #[serde(default)]
    pub reason_map: BTreeMap<String, String>,
    /// This rule is a cheap one-pass form of another rule's most common
    /// shape, placed before it: same meaning, same counting. The other
    /// rule's vectors may be taken by this one.
    pub shortcut_for: Option<String>,
    /// Whether the rule comes from the built-in pack (set by the loader;
    /// built-in rules are compiled by the test suite, so lazily at run time).
    #[serde(skip)]
    pub builtin: bool,
    /// Lines that must match, with the expected captures.
    #[serde(default, rename = "match")]
    pub must_match: Vec<MatchVector>,
    /// Lines that must not match.
    #[serde(default, rename = "nomatch")]
    pub must_not_match: Vec<NoMatchVector>,
}

fn yes() -> bool {
    true
}

/// What a rule counts distinctly.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Distinct {
    /// Destination ports (the `port` capture).
    Port,
}

/// A duration as written in TOML: seconds, or a string like `15m` or `permanent`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum DurationValue {
    /// Seconds.
    Secs(u64),
    /// `90s`, `15m`, `2h`, `7d`, `1w`, or `permanent`.
    Text(String),
}

/// A line that must match, and what it must capture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchVector {
    /// Lines fed first (for rules that take the address from the session).
    #[serde(default)]
    pub before: Vec<String>,
    /// The lines come from a source declared to be this program's output
    /// (lines without a syslog header; see `Engine::match_as`).
    pub program: Option<String>,
    /// The raw log line.
    pub line: String,
    /// The address it blames (normalised form); for `session` rules the
    /// address recorded; empty for `ignore` rules.
    #[serde(default)]
    pub ip: String,
    /// Expected `user`.
    pub user: Option<String>,
    /// Expected `count` (default 1).
    pub count: Option<u32>,
    /// Expected `port`.
    pub port: Option<u16>,
    /// Expected `rule_id`.
    pub rule_id: Option<String>,
    /// Expected reason when `reason_map` applies.
    pub reason: Option<String>,
    /// Why this vector exists (documentation).
    pub note: Option<String>,
}

/// A line that must not produce an event from this rule (nor any other,
/// unless `other_rule` names the rule that legitimately takes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoMatchVector {
    /// Lines fed first.
    #[serde(default)]
    pub before: Vec<String>,
    /// The lines come from a source declared to be this program's output.
    pub program: Option<String>,
    /// The raw log line.
    pub line: String,
    /// Why it must not match.
    pub note: Option<String>,
    /// A rule that may match this line instead (e.g. a sibling rule with the right address).
    pub other_rule: Option<String>,
    /// When another rule takes the line, the only address it may blame.
    pub ip: Option<String>,
}

/// A rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rules.
    #[serde(default)]
    pub rule: Vec<RuleDef>,
}

/// A rule file that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct RuleFileError {
    /// Where the rules came from (a path or `builtin:NAME`).
    pub origin: String,
    /// What is wrong, with the line and the key.
    pub message: String,
}

/// Parses a rule file's text. `origin` names it in errors.
pub fn parse_rule_file(origin: &str, text: &str) -> Result<Vec<RuleDef>, RuleFileError> {
    toml::from_str::<RuleFile>(text)
        .map(|f| f.rule)
        .map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            RuleFileError {
                origin: match line {
                    Some(l) => format!("{origin}:{l}"),
                    None => origin.to_string(),
                },
                message: e.message().to_string(),
            }
        })
}

/// Parses a ban length or window: [`crate::duration::parse_ban`]
/// (`90s`, `1h30m`, `7d`, `1w`, plain seconds; `permanent` is `None`),
/// with the error as text.
pub fn parse_duration(s: &str) -> Result<Option<u64>, String> {
    crate::duration::parse_ban(s).map_err(|e| e.to_string())
}

impl DurationValue {
    /// Seconds, or `None` for permanent.
    pub fn secs(&self) -> Result<Option<u64>, String> {
        match self {
            DurationValue::Secs(n) => Ok(Some(*n)),
            DurationValue::Text(t) => parse_duration(t),
        }
    }
}

/// The names a rule's regex may capture.
pub const CAPTURE_NAMES: &[&str] = &[
    "ip",
    "ipport",
    "user",
    "port",
    "count",
    "rule_id",
    "host",
    "time",
    "forwarded",
    "svc",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Some(90)));
        assert_eq!(parse_duration("15m"), Ok(Some(900)));
        assert_eq!(parse_duration("2h"), Ok(Some(7200)));
        assert_eq!(parse_duration("7d"), Ok(Some(604800)));
        assert_eq!(parse_duration("3600"), Ok(Some(3600)));
        assert_eq!(parse_duration("permanent"), Ok(None));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn rule_file_errors_name_the_line() {
        let e = parse_rule_file(
            "x.toml",
            "[[rule]]\nid = \"a\"\nreason = \"sshd\"\nregex = \"x\"\nbogus = 1\n",
        )
        .unwrap_err();
        assert!(e.origin.starts_with("x.toml:"), "{e}");
        assert!(e.message.contains("bogus"), "{e}");
    }
}
