//! Storm control: per-kind rate limits, digests and deduplication. Pure:
//! the time is an argument (wall-clock seconds), so tests move it by hand.
//!
//! Each kind has a window of `interval` seconds that opens with its first
//! message. Within a window, the first `after` messages go out one by one;
//! the rest are folded into the kind's digest ("312 more bans in the last
//! 10 minutes: 280 sshd, 30 smtpauth …; top networks …"), sent when the
//! window closes. A window that overflowed (more than `after` messages)
//! puts the kind in **storm** mode: the next window folds everything, and
//! a storm window with at most `after` messages ends the storm. Repeats of the same thing (same key) within a
//! window are counted in the digest as duplicates, never sent again.
//!
//! Bound, per kind and per channel: at most `after + 1` messages per
//! interval, and while a storm lasts, one digest per interval. 10,000 bans
//! in one minute with the defaults (`after` 5, 10 minutes) are 5 messages
//! and 1 digest for temporary bans (plus as many for permanent ones).
//!
//! Memory is bounded too: a digest keeps counts per reason (a handful), at
//! most [`MAX_NETWORKS`] networks and [`MAX_SAMPLES`] addresses; the
//! dedup set is cleared with each window and capped at [`MAX_KEYS`].

use rampart_core::config::alerts::AlertKind;
use rampart_core::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Distinct networks a digest counts (more go to `other_networks`).
pub const MAX_NETWORKS: usize = 4096;
/// Addresses a digest lists by name.
pub const MAX_SAMPLES: usize = 20;
/// Dedup keys remembered per kind and window.
pub const MAX_KEYS: usize = 50_000;
/// Networks and reasons a digest shows.
const TOP: usize = 10;

/// What storm control needs to know of one message.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Repeats of the same key within a window are duplicates.
    pub key: Option<String>,
    /// The digest's category: a reason code, a source name.
    pub category: String,
    /// The network it counts under in a digest (`198.51.100.0/24`).
    pub network: Option<String>,
    /// The address (or other short name) a digest may list.
    pub sample: Option<String>,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it now.
    Send,
    /// Folded into the kind's digest.
    Folded,
    /// A repeat within the window: counted, not sent.
    Duplicate,
}

/// A digest: what was folded in one window.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Digest {
    /// The kind.
    #[serde(serialize_with = "kind_name")]
    pub kind: AlertKind,
    /// Messages folded.
    pub count: u64,
    /// Repeats suppressed.
    pub duplicates: u64,
    /// The window: from.
    pub since: Timestamp,
    /// The window: to.
    pub until: Timestamp,
    /// Counts per category, largest first.
    pub by_category: Vec<(String, u64)>,
    /// The busiest networks, largest first.
    pub top_networks: Vec<(String, u64)>,
    /// Folded messages in networks past [`MAX_NETWORKS`].
    pub other_networks: u64,
    /// Some of the addresses.
    pub samples: Vec<String>,
}

fn kind_name<S: serde::Serializer>(k: &AlertKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

#[derive(Debug, Default)]
struct Fold {
    count: u64,
    duplicates: u64,
    by_category: BTreeMap<String, u64>,
    networks: HashMap<String, u64>,
    other_networks: u64,
    samples: Vec<String>,
}

impl Fold {
    fn add(&mut self, item: &Item) {
        self.count += 1;
        *self.by_category.entry(item.category.clone()).or_default() += 1;
        if let Some(n) = &item.network {
            if let Some(c) = self.networks.get_mut(n) {
                *c += 1;
            } else if self.networks.len() < MAX_NETWORKS {
                self.networks.insert(n.clone(), 1);
            } else {
                self.other_networks += 1;
            }
        }
        if let Some(s) = &item.sample
            && self.samples.len() < MAX_SAMPLES
        {
            self.samples.push(s.clone());
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0 && self.duplicates == 0
    }

    fn into_digest(self, kind: AlertKind, since: Timestamp, until: Timestamp) -> Digest {
        Digest {
            kind,
            count: self.count,
            duplicates: self.duplicates,
            since,
            until,
            by_category: largest(self.by_category.into_iter(), usize::MAX),
            top_networks: largest(self.networks.into_iter(), TOP),
            other_networks: self.other_networks,
            samples: self.samples,
        }
    }
}

fn largest(it: impl Iterator<Item = (String, u64)>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<_> = it.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

#[derive(Debug, Default)]
struct KindState {
    /// When the current window opened (`None`: no window open).
    start: Option<Timestamp>,
    sent: u32,
    storming: bool,
    keys: HashSet<String>,
    fold: Fold,
}

/// Storm control for all kinds.
#[derive(Debug)]
pub struct Storm {
    after: u32,
    interval: i64,
    kinds: HashMap<AlertKind, KindState>,
}

impl Storm {
    /// `after` messages per kind per `interval_secs`, then digests.
    pub fn new(after: u32, interval_secs: u64) -> Storm {
        Storm {
            after,
            interval: i64::try_from(interval_secs.max(1)).unwrap_or(i64::MAX),
            kinds: HashMap::new(),
        }
    }

    /// Decides about one message of `kind` at `now`; digests of windows
    /// that closed by then come back too (send them first).
    pub fn offer(
        &mut self,
        kind: AlertKind,
        item: &Item,
        now: Timestamp,
    ) -> (Verdict, Vec<Digest>) {
        let due = self.due(now);
        let st = self.kinds.entry(kind).or_default();
        if st.start.is_none() {
            st.start = Some(now);
        }
        if let Some(k) = &item.key {
            if st.keys.contains(k) {
                st.fold.duplicates += 1;
                return (Verdict::Duplicate, due);
            }
            if st.keys.len() < MAX_KEYS {
                st.keys.insert(k.clone());
            }
        }
        if !st.storming && st.sent < self.after {
            st.sent += 1;
            return (Verdict::Send, due);
        }
        st.fold.add(item);
        (Verdict::Folded, due)
    }

    /// Digests of the windows closed at `now`.
    pub fn due(&mut self, now: Timestamp) -> Vec<Digest> {
        let mut out = Vec::new();
        for (kind, st) in &mut self.kinds {
            let Some(start) = st.start else { continue };
            if now < start.saturating_add(self.interval) {
                continue;
            }
            let fold = std::mem::take(&mut st.fold);
            // overflowed: more messages in the window than `after`
            st.storming = u64::from(st.sent) + fold.count > u64::from(self.after);
            st.start = None;
            st.sent = 0;
            st.keys.clear();
            if !fold.is_empty() {
                out.push(fold.into_digest(*kind, start, now));
            }
        }
        out.sort_by_key(|d| d.kind);
        out
    }

    /// When the next digest is due (for the sink's sleep).
    pub fn next_due(&self) -> Option<Timestamp> {
        self.kinds
            .values()
            .filter(|s| !s.fold.is_empty())
            .filter_map(|s| s.start.map(|t| t.saturating_add(self.interval)))
            .min()
    }

    /// Every pending digest now (at stop).
    pub fn flush(&mut self, now: Timestamp) -> Vec<Digest> {
        let mut out = Vec::new();
        for (kind, st) in &mut self.kinds {
            let fold = std::mem::take(&mut st.fold);
            if !fold.is_empty() {
                out.push(fold.into_digest(*kind, st.start.unwrap_or(now), now));
            }
        }
        out.sort_by_key(|d| d.kind);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(i: u32, reason: &str) -> Item {
        let addr = format!("198.51.{}.{}", i / 250, i % 250 + 1);
        Item {
            key: Some(format!("{addr} {reason}")),
            category: reason.into(),
            network: Some(format!("198.51.{}.0/24", i / 250)),
            sample: Some(addr),
        }
    }

    #[test]
    fn a_flood_is_a_few_messages_and_every_item_is_counted() {
        let mut s = Storm::new(5, 600);
        let t0 = 1_000_000;
        let (mut sent, mut digests) = (0u64, Vec::new());
        // 10,000 bans within one minute
        for i in 0..10_000u32 {
            let reason = if i % 10 == 0 { "smtpauth" } else { "sshd" };
            let (v, due) = s.offer(
                AlertKind::TempBan,
                &ban(i, reason),
                t0 + i64::from(i) * 60 / 10_000,
            );
            sent += u64::from(v == Verdict::Send);
            digests.extend(due);
        }
        assert_eq!(sent, 5);
        assert!(
            digests.is_empty(),
            "nothing is due before the window closes"
        );
        assert_eq!(s.next_due(), Some(t0 + 600));
        assert!(s.due(t0 + 599).is_empty());
        digests.extend(s.due(t0 + 600));
        assert_eq!(digests.len(), 1);
        let d = &digests[0];
        assert_eq!(d.count + sent, 10_000, "every ban accounted for");
        assert_eq!(d.by_category.iter().map(|c| c.1).sum::<u64>(), d.count);
        assert_eq!(d.by_category[0].0, "sshd");
        // ban 0 (smtpauth) was among the 5 sent one by one
        assert_eq!(d.by_category[1], ("smtpauth".to_string(), 999));
        assert_eq!(d.top_networks.len(), TOP);
        assert_eq!(d.top_networks[0].1, 250);
        assert_eq!(d.samples.len(), MAX_SAMPLES);
        assert_eq!((d.since, d.until), (t0, t0 + 600));
    }

    #[test]
    fn a_storm_stays_folded_until_a_quiet_window() {
        let mut s = Storm::new(2, 60);
        let k = AlertKind::TempBan;
        let four = |s: &mut Storm, from: u32, t: i64| -> Vec<Verdict> {
            (from..from + 4)
                .map(|i| s.offer(k, &ban(i, "sshd"), t).0)
                .collect()
        };
        use Verdict::{Folded as F, Send as S};
        assert_eq!(four(&mut s, 0, 0), [S, S, F, F]);
        // the next window is a storm: all folded; the first digest comes out
        let (v, due) = s.offer(k, &ban(100, "sshd"), 60);
        assert_eq!((v, due.len(), due[0].count), (F, 1, 2));
        assert_eq!(four(&mut s, 200, 61), [F, F, F, F]);
        assert_eq!(s.due(120)[0].count, 5);
        // a storm window within the limit (2 messages) ends the storm...
        assert_eq!(s.offer(k, &ban(300, "sshd"), 130).0, F);
        assert_eq!(s.offer(k, &ban(301, "sshd"), 131).0, F);
        assert_eq!(s.due(190)[0].count, 2);
        // ...and messages go out one by one again
        assert_eq!(four(&mut s, 400, 200), [S, S, F, F]);
    }

    #[test]
    fn repeats_are_counted_not_sent_and_kinds_are_separate() {
        let mut s = Storm::new(5, 600);
        let src = Item {
            key: Some("auth.log: gone".into()),
            category: "auth.log".into(),
            ..Item::default()
        };
        assert_eq!(s.offer(AlertKind::SourceStopped, &src, 0).0, Verdict::Send);
        assert_eq!(
            s.offer(AlertKind::SourceStopped, &src, 1).0,
            Verdict::Duplicate
        );
        assert_eq!(
            s.offer(AlertKind::PermBan, &ban(1, "sshd"), 2).0,
            Verdict::Send
        );
        let d = s.due(600);
        assert_eq!((d.len(), d[0].duplicates, d[0].count), (1, 1, 0));
        assert_eq!(
            s.offer(AlertKind::SourceStopped, &src, 601).0,
            Verdict::Send,
            "a new window"
        );
    }

    #[test]
    fn flush_at_stop_returns_everything_pending() {
        let mut s = Storm::new(0, 600);
        for i in 0..3 {
            assert_eq!(
                s.offer(AlertKind::PermBan, &ban(i, "sshd"), 10).0,
                Verdict::Folded
            );
        }
        let d = s.flush(20);
        assert_eq!(
            (d.len(), d[0].count, d[0].since, d[0].until),
            (1, 3, 10, 20)
        );
        assert!(s.flush(21).is_empty());
        assert_eq!(s.next_due(), None);
    }
}
