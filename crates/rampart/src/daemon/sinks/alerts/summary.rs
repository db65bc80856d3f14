//! The daily summary: what the day's events added up to (bans by reason,
//! the busiest networks and addresses, permanent bans, unblocks, source
//! trouble, reloads), sent once a day at `summary_at` (UTC). Counting is
//! done from every event the sink receives, whatever storm control did
//! with the messages; memory is bounded (at most [`MAX_KEYS`] networks and
//! addresses are counted by name, the rest in `other`).

use super::kinds::network_of;
use crate::daemon::events::Event;
use rampart_core::time::{Timestamp, format_rfc3339};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Networks (and addresses) counted by name.
pub const MAX_KEYS: usize = 10_000;
const TOP: usize = 10;

/// The day so far.
#[derive(Debug, Default)]
pub struct Day {
    since: Option<Timestamp>,
    bans: u64,
    permanent: u64,
    by_reason: BTreeMap<String, u64>,
    networks: HashMap<String, u64>,
    addresses: HashMap<String, u64>,
    other: u64,
    unblocks: u64,
    self_unblocks: u64,
    source_problems: Vec<String>,
    changes: Vec<String>,
}

/// A finished day, as the template sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// From (RFC 3339).
    pub since: String,
    /// To (RFC 3339).
    pub until: String,
    /// Bans applied.
    pub bans: u64,
    /// Of which permanent (or netblocks).
    pub permanent: u64,
    /// Bans per reason, largest first.
    pub by_reason: Vec<(String, u64)>,
    /// The busiest networks.
    pub top_networks: Vec<(String, u64)>,
    /// Addresses banned more than once.
    pub repeat_addresses: Vec<(String, u64)>,
    /// Entries lifted.
    pub unblocks: u64,
    /// Blocked people who unblocked themselves.
    pub self_unblocks: u64,
    /// Sources that stopped (at most 20).
    pub source_problems: Vec<String>,
    /// What changed: reloads, refused reloads, refresh failures (at most 20).
    pub changes: Vec<String>,
}

fn bump(map: &mut HashMap<String, u64>, key: String, other: &mut u64) {
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
    } else if map.len() < MAX_KEYS {
        map.insert(key, 1);
    } else {
        *other += 1;
    }
}

fn push_bounded(v: &mut Vec<String>, s: String) {
    if v.len() < 20 {
        v.push(s);
    }
}

impl Day {
    /// Counts one event at `now`.
    pub fn add(&mut self, ev: &Event, now: Timestamp) {
        self.since.get_or_insert(now);
        let esc = |s: &str| rampart_core::text::escape_controls(s).into_owned();
        match ev {
            Event::BanApplied(b) => {
                self.bans += 1;
                self.permanent += u64::from(
                    b.len.is_none() || b.origin == crate::daemon::events::BanOrigin::Netblock,
                );
                *self.by_reason.entry(b.reason.clone()).or_default() += 1;
                let net = network_of(b.target).to_string();
                bump(&mut self.networks, net, &mut self.other);
                bump(&mut self.addresses, b.target.to_string(), &mut self.other);
            }
            Event::Unblocked { .. } => self.unblocks += 1,
            Event::SelfUnblock { .. } => self.self_unblocks += 1,
            Event::Source(n) if n.error => push_bounded(
                &mut self.source_problems,
                format!("{}: {}", esc(&n.source), esc(&n.message)),
            ),
            Event::Lifecycle(s) if s == "reloaded" => push_bounded(
                &mut self.changes,
                format!("{}: configuration reloaded", format_rfc3339(now)),
            ),
            Event::ReloadRefused(_) => push_bounded(
                &mut self.changes,
                format!("{}: a reload was refused", format_rfc3339(now)),
            ),
            Event::RefreshFailed { what, .. } => push_bounded(
                &mut self.changes,
                format!("{}: {} refresh failed", format_rfc3339(now), esc(what)),
            ),
            _ => {}
        }
    }

    /// The day's summary; counting starts over.
    pub fn take(&mut self, now: Timestamp) -> Summary {
        let d = std::mem::take(self);
        let top = |m: HashMap<String, u64>, min: u64| {
            let mut v: Vec<_> = m.into_iter().filter(|(_, n)| *n >= min).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(TOP);
            v
        };
        let mut by_reason: Vec<_> = d.by_reason.into_iter().collect();
        by_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Summary {
            since: format_rfc3339(d.since.unwrap_or(now)),
            until: format_rfc3339(now),
            bans: d.bans,
            permanent: d.permanent,
            by_reason,
            top_networks: top(d.networks, 1),
            repeat_addresses: top(d.addresses, 2),
            unblocks: d.unblocks,
            self_unblocks: d.self_unblocks,
            source_problems: d.source_problems,
            changes: d.changes,
        }
    }
}

/// The next time of day `at_min` (minutes after midnight UTC) after `now`.
pub fn next_at(now: Timestamp, at_min: u32) -> Timestamp {
    let day = now.div_euclid(86400) * 86400;
    let t = day + i64::from(at_min) * 60;
    if t > now { t } else { t + 86400 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::events::{Ban, BanOrigin};
    use rampart_core::addr::Net;
    use std::sync::Arc;

    fn ban(ip: &str, reason: &str, len: Option<i64>) -> Event {
        Event::BanApplied(Arc::new(Ban {
            target: Net::parse(ip).expect("address"),
            reason: reason.into(),
            rule: String::new(),
            summary: String::new(),
            evidence: Vec::new(),
            len,
            level: 0,
            base_len: None,
            origin: BanOrigin::Detector,
            decided: 0,
            read_at: std::time::Instant::now(),
            offender: std::net::IpAddr::from([198, 51, 100, 7]),
        }))
    }

    #[test]
    fn a_day_adds_up() {
        let mut d = Day::default();
        d.add(&ban("198.51.100.7", "sshd", Some(3600)), 100);
        d.add(&ban("198.51.100.7", "sshd", None), 200);
        d.add(&ban("198.51.100.8", "smtpauth", Some(3600)), 300);
        d.add(&ban("203.0.113.9", "sshd", Some(3600)), 300);
        d.add(&Event::Lifecycle("reloaded".into()), 400);
        let s = d.take(86_400);
        assert_eq!((s.bans, s.permanent), (4, 1));
        assert_eq!(
            s.by_reason,
            vec![("sshd".into(), 3), ("smtpauth".into(), 1)]
        );
        assert_eq!(s.top_networks[0], ("198.51.100.0/24".into(), 3));
        assert_eq!(s.repeat_addresses, vec![("198.51.100.7".into(), 2)]);
        assert_eq!(s.changes.len(), 1);
        assert_eq!(s.since, "1970-01-01T00:01:40Z");
        assert_eq!(d.take(90_000).bans, 0, "counting starts over");
    }

    #[test]
    fn next_time_of_day() {
        assert_eq!(next_at(0, 0), 86_400);
        assert_eq!(next_at(10, 6 * 60), 6 * 3600);
        assert_eq!(next_at(6 * 3600, 6 * 60), 86_400 + 6 * 3600);
    }
}
