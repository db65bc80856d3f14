//! What an alert says: the daemon's [`Event`]s classified into alert kinds
//! and turned into [`Alert`]s, the data the templates and the JSON webhook
//! body are made of (`docs/alerts.md` documents its fields).
//!
//! Everything that came from a log line or a peer (evidence, user names,
//! messages) has its control characters escaped here, once, so no channel
//! can be driven by them (a CR/LF in a subject, an escape sequence in a
//! terminal mail reader).

use super::storm::{Digest, Item};
use crate::daemon::events::{Ban, BanOrigin, Event};
use rampart_core::addr::Net;
use rampart_core::config::alerts::AlertKind;
use rampart_core::explain::Reason;
use rampart_core::text::escape_controls;
use rampart_core::time::{Timestamp, format_rfc3339};
use serde::Serialize;

/// One alert, ready for templates.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// The kind's name (`temp_ban`, …).
    pub kind: &'static str,
    /// The host the daemon runs on.
    pub host: String,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// For ban kinds.
    pub ban: Option<BanAlert>,
    /// For digests.
    pub digest: Option<DigestAlert>,
    /// For the other kinds: a title and detail lines.
    pub notice: Option<Notice>,
    /// For the daily summary.
    pub summary: Option<super::summary::Summary>,
}

/// A ban, with what `rampart why` shows.
#[derive(Debug, Clone, Serialize)]
pub struct BanAlert {
    /// The address or network.
    pub address: String,
    /// Whether it is a network (netblock) rather than one address.
    pub network: bool,
    /// Reverse DNS, when known.
    pub rdns: Option<String>,
    /// Country code, when a country database is configured.
    pub country_code: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// lfd's "iptick": `CC/Country/rDNS`, `-` for unknown parts.
    pub tick: String,
    /// The reason code.
    pub reason: String,
    /// The reason's title ("Failed SSH login").
    pub reason_title: String,
    /// The rule that triggered.
    pub rule: String,
    /// The CSF-style summary.
    pub summary: String,
    /// The evidence lines.
    pub evidence: Vec<String>,
    /// Seconds; `None` when permanent.
    pub length_secs: Option<i64>,
    /// `1h`, `4h`, `permanent`.
    pub length: String,
    /// Whether permanent.
    pub permanent: bool,
    /// Earlier bans of the target within the history window.
    pub level: u32,
    /// `detector`, `kernel` or `netblock`.
    pub origin: &'static str,
    /// The command that lifts it.
    pub unblock: String,
}

/// A digest, with display-ready parts.
#[derive(Debug, Clone, Serialize)]
pub struct DigestAlert {
    /// What was folded: `temporary bans`, `permanent bans`, …
    pub what: &'static str,
    /// The window in words: `10 minutes`.
    pub window: String,
    /// The window's start (RFC 3339).
    pub from: String,
    /// The window's end (RFC 3339).
    pub to: String,
    /// Messages sent one by one per window before folding.
    pub after: u32,
    /// The digest's counts.
    #[serde(flatten)]
    pub digest: Digest,
}

/// A notice: source stopped, refresh failed, lifecycle, console login,
/// self-unblock.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// One line, for the subject.
    pub title: String,
    /// Detail lines.
    pub lines: Vec<String>,
}

/// Which kind an event is, if it is an alert at all.
pub fn kind_of(ev: &Event) -> Option<AlertKind> {
    Some(match ev {
        // an administrator's own deny is not news to them
        Event::BanApplied(b) if b.origin == BanOrigin::Manual => return None,
        Event::BanApplied(b) if is_permanent(b) => AlertKind::PermBan,
        Event::BanApplied(_) => AlertKind::TempBan,
        Event::Source(n) if n.error => AlertKind::SourceStopped,
        Event::Lifecycle(_) | Event::ReloadRefused(_) => AlertKind::Lifecycle,
        Event::RefreshFailed { .. } => AlertKind::RefreshFailed,
        Event::ConsoleLogin { .. } => AlertKind::ConsoleLogin,
        Event::SelfUnblock { .. } => AlertKind::SelfUnblock,
        _ => return None,
    })
}

/// Permanent bans, escalations to permanent (PERMBLOCK) and netblocks.
fn is_permanent(b: &Ban) -> bool {
    b.len.is_none() || b.origin == BanOrigin::Netblock
}

/// What storm control needs of an event of `kind`.
pub fn storm_item(ev: &Event) -> Item {
    match ev {
        Event::BanApplied(b) => Item {
            key: Some(format!("{} {}", b.target, b.reason)),
            category: b.reason.clone(),
            network: Some(network_of(b.target).to_string()),
            sample: Some(b.target.to_string()),
        },
        Event::Source(n) => Item {
            key: Some(format!("{}\n{}", n.source, n.message)),
            category: n.source.clone(),
            ..Item::default()
        },
        Event::RefreshFailed { what, error } => Item {
            key: Some(format!("{what}\n{error}")),
            category: what.clone(),
            ..Item::default()
        },
        Event::ConsoleLogin { user, .. } => Item {
            category: user.clone(),
            ..Item::default()
        },
        Event::SelfUnblock { target, reason } => Item {
            key: Some(target.to_string()),
            category: reason.clone(),
            network: Some(network_of(*target).to_string()),
            sample: Some(target.to_string()),
        },
        Event::Lifecycle(s) => Item {
            category: s.clone(),
            ..Item::default()
        },
        _ => Item {
            category: ev.kind().to_string(),
            ..Item::default()
        },
    }
}

/// The /24 (IPv4) or /48 (IPv6) a target counts under in digests.
pub fn network_of(target: Net) -> Net {
    let prefix = if target.addr.is_ipv4() { 24 } else { 48 };
    if target.prefix <= prefix {
        target
    } else {
        Net::containing(target.addr, prefix)
    }
}

/// What the resolver found out about an address.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Reverse DNS.
    pub rdns: Option<String>,
    /// Country code and name.
    pub country: Option<(String, Option<String>)>,
}

/// Everything an alert is built with besides the event.
pub struct Context<'a> {
    /// The host name.
    pub host: &'a str,
    /// The reason catalogue.
    pub reasons: &'a [Reason],
    /// Now.
    pub now: Timestamp,
}

impl Context<'_> {
    fn alert(&self, kind: AlertKind) -> Alert {
        Alert {
            kind: kind.name(),
            host: self.host.to_string(),
            time: format_rfc3339(self.now),
            ban: None,
            digest: None,
            notice: None,
            summary: None,
        }
    }

    /// The alert for `ev` (of `kind`), with what the resolver found.
    pub fn build(&self, kind: AlertKind, ev: &Event, lookup: &Lookup) -> Alert {
        let mut a = self.alert(kind);
        match ev {
            Event::BanApplied(b) => a.ban = Some(self.ban(b, lookup)),
            _ => a.notice = Some(notice(ev)),
        }
        a
    }

    /// The alert carrying a digest.
    pub fn digest(&self, d: Digest, interval_secs: u64, after: u32) -> Alert {
        let mut a = self.alert(d.kind);
        let what = match d.kind {
            AlertKind::TempBan => "temporary bans",
            AlertKind::PermBan => "permanent bans",
            AlertKind::SourceStopped => "source problems",
            AlertKind::RefreshFailed => "refresh failures",
            AlertKind::Lifecycle => "daemon events",
            AlertKind::ConsoleLogin => "console logins",
            AlertKind::SelfUnblock => "self-unblocks",
            AlertKind::DailySummary => "summaries",
        };
        a.digest = Some(DigestAlert {
            what,
            window: words(interval_secs),
            from: format_rfc3339(d.since),
            to: format_rfc3339(d.until),
            after,
            digest: d,
        });
        a
    }

    /// The daily summary's alert.
    pub fn summary(&self, s: super::summary::Summary) -> Alert {
        let mut a = self.alert(AlertKind::DailySummary);
        a.summary = Some(s);
        a
    }

    fn ban(&self, b: &Ban, lookup: &Lookup) -> BanAlert {
        let reason_title = self
            .reasons
            .iter()
            .find(|r| r.code == b.reason)
            .map_or_else(|| b.reason.clone(), |r| r.title.clone());
        let (cc, country) = lookup.country.clone().unzip();
        let country = country.flatten();
        let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        let rdns = lookup
            .rdns
            .as_deref()
            .map(|s| escape_controls(s).into_owned());
        BanAlert {
            address: b.target.to_string(),
            network: !b.target.is_host(),
            tick: format!("{}/{}/{}", dash(&cc), dash(&country), dash(&rdns)),
            rdns,
            country_code: cc,
            country,
            reason: b.reason.clone(),
            reason_title,
            rule: b.rule.clone(),
            summary: escape_controls(&b.summary).into_owned(),
            evidence: b
                .evidence
                .iter()
                .map(|l| escape_controls(l).into_owned())
                .collect(),
            length_secs: b.len,
            length: b
                .len
                .map_or_else(|| "permanent".into(), |s| short_duration(s.max(0) as u64)),
            permanent: b.len.is_none(),
            level: b.level,
            origin: b.origin.kind(),
            unblock: format!("rampart unblock {}", b.target),
        }
    }
}

fn notice(ev: &Event) -> Notice {
    let esc = |s: &str| escape_controls(s).into_owned();
    let (title, lines) = match ev {
        Event::Source(n) => (
            format!("source stopped: {}", esc(&n.source)),
            vec![esc(&n.message)],
        ),
        Event::Lifecycle(s) => (format!("daemon {}", esc(s)), Vec::new()),
        Event::ReloadRefused(e) => (
            "reload refused, the running configuration stays".into(),
            e.lines().map(esc).collect(),
        ),
        Event::RefreshFailed { what, error } => (
            format!("{} refresh failed", esc(what)),
            vec![esc(error), "the previous data stays in force".into()],
        ),
        Event::ConsoleLogin { user, from } => (
            format!(
                "console login by {}{}",
                esc(user),
                from.map(|a| format!(" from {a}")).unwrap_or_default()
            ),
            Vec::new(),
        ),
        Event::SelfUnblock { target, reason } => (
            format!("{target} unblocked itself"),
            vec![format!("it was blocked for: {}", esc(reason))],
        ),
        other => (other.kind().to_string(), Vec::new()),
    };
    Notice { title, lines }
}

/// `90s`, `15m`, `2h`, `7d`.
pub fn short_duration(s: u64) -> String {
    match s {
        s if s % 86400 == 0 && s > 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `10 minutes`, `1 hour`, `90 seconds`.
pub fn words(s: u64) -> String {
    let (n, unit) = match s {
        s if s % 86400 == 0 && s > 0 => (s / 86400, "day"),
        s if s % 3600 == 0 && s > 0 => (s / 3600, "hour"),
        s if s % 60 == 0 && s > 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn ban(target: &str, len: Option<i64>, origin: BanOrigin) -> Ban {
        Ban {
            target: Net::parse(target).expect("test address"),
            reason: "sshd".into(),
            rule: "sshd.failed_password".into(),
            summary: "(sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs".into(),
            evidence: vec!["sshd[1]: Failed password for ro\x1b[31mot".into()],
            len,
            level: 0,
            base_len: None,
            origin,
            decided: 0,
            read_at: std::time::Instant::now(),
            offender: std::net::IpAddr::from([198, 51, 100, 7]),
        }
    }

    #[test]
    fn kinds_and_what_a_ban_alert_carries() {
        let temp = Event::BanApplied(Arc::new(ban(
            "198.51.100.7",
            Some(3600),
            BanOrigin::Detector,
        )));
        let perm = Event::BanApplied(Arc::new(ban("198.51.100.7", None, BanOrigin::Detector)));
        let net = Event::BanApplied(Arc::new(ban(
            "198.51.100.0/24",
            Some(86400),
            BanOrigin::Netblock,
        )));
        assert_eq!(kind_of(&temp), Some(AlertKind::TempBan));
        assert_eq!(kind_of(&perm), Some(AlertKind::PermBan));
        assert_eq!(kind_of(&net), Some(AlertKind::PermBan));
        assert_eq!(
            kind_of(&Event::Lifecycle("started".into())),
            Some(AlertKind::Lifecycle)
        );
        let reasons = rampart_core::explain::builtin();
        let cx = Context {
            host: "web1",
            reasons: &reasons,
            now: 0,
        };
        let lookup = Lookup {
            rdns: Some("host.example.net".into()),
            country: Some(("US".into(), Some("United States".into()))),
        };
        let a = cx.build(AlertKind::TempBan, &temp, &lookup);
        let b = a.ban.expect("a ban");
        assert_eq!(b.tick, "US/United States/host.example.net");
        assert_eq!(b.reason_title, "Failed SSH login");
        assert_eq!(
            (b.length.as_str(), b.unblock.as_str()),
            ("1h", "rampart unblock 198.51.100.7")
        );
        assert_eq!(b.evidence[0], "sshd[1]: Failed password for ro\\x1b[31mot");
        let b = cx
            .build(AlertKind::PermBan, &net, &Lookup::default())
            .ban
            .expect("a ban");
        assert_eq!(
            (b.tick.as_str(), b.network, b.origin),
            ("-/-/-", true, "netblock")
        );
    }

    #[test]
    fn digests_count_under_networks() {
        let n = |s: &str| network_of(Net::parse(s).expect("net")).to_string();
        assert_eq!(n("198.51.100.7"), "198.51.100.0/24");
        assert_eq!(n("2001:db8:1:2::5"), "2001:db8:1::/48");
        assert_eq!(n("198.51.0.0/16"), "198.51.0.0/16");
        assert_eq!(words(600), "10 minutes");
        assert_eq!(words(3600), "1 hour");
    }
}
