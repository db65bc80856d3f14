//! Counting and deciding: sliding windows per (group, address), per-account
//! counting for distributed attacks, and the ban policy with escalation.
//!
//! Memory is bounded: each key keeps a ring of at most `threshold`
//! timestamps and a few evidence lines; idle keys are evicted by
//! [`Tracker::evict_idle`], and no more than `max_keys` keys are tracked.
//! IPv6 addresses are counted per network (`/64` by default), so an
//! attacker rotating through its own /64 is still one key.
//!
//! The tracker never reads a clock: every observation carries its time.

use crate::addr::{Net, is_never_blockable};
use crate::fxhash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// A counting group's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPolicy {
    /// The group's name (a reason code, or a rule's own group).
    pub name: String,
    /// The reason code bans carry.
    pub reason: String,
    /// Events within `window_secs` that trigger a ban.
    pub threshold: u32,
    /// The window, seconds.
    pub window_secs: u64,
    /// The first ban's length; `None` is permanent.
    pub ban_secs: Option<u64>,
    /// Ports the ban is limited to (empty: all).
    pub ports: Vec<u16>,
}

/// How bans escalate for repeat offenders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanPolicy {
    /// Each further ban within `history_secs` lasts this many times longer.
    pub escalation_factor: u64,
    /// The longest temporary ban.
    pub max_ban_secs: u64,
    /// The Nth ban within `history_secs` is permanent (0: never).
    pub permanent_after: u32,
    /// How far back earlier bans count.
    pub history_secs: u64,
}

impl Default for BanPolicy {
    fn default() -> Self {
        BanPolicy {
            escalation_factor: 4,
            max_ban_secs: 7 * 86400,
            permanent_after: 4,
            history_secs: 7 * 86400,
        }
    }
}

impl BanPolicy {
    /// The length of a ban given the base length and how many bans the
    /// target already had within the history window. `None` is permanent.
    pub fn length(&self, base: Option<u64>, earlier: u32) -> Option<u64> {
        let base = base?;
        if self.permanent_after > 0 && earlier + 1 >= self.permanent_after {
            return None;
        }
        let mut len = base;
        for _ in 0..earlier {
            len = len.saturating_mul(self.escalation_factor.max(1));
        }
        Some(len.min(self.max_ban_secs.max(base)))
    }
}

/// Per-account counting of distributed attacks (CSF's LF_DISTATTACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedPolicy {
    /// Off by default, as in CSF.
    pub enabled: bool,
    /// Failures against one account within the group's window that trigger.
    pub threshold: u32,
    /// Distinct addresses (networks) needed among them.
    pub min_addresses: u32,
}

impl Default for DistributedPolicy {
    fn default() -> Self {
        DistributedPolicy {
            enabled: false,
            threshold: 10,
            min_addresses: 3,
        }
    }
}

/// Index of a group in the tracker.
pub type GroupId = u16;

/// One observed event.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Its counting group.
    pub group: GroupId,
    /// Whom it blames.
    pub ip: IpAddr,
    /// When it happened.
    pub time: i64,
    /// How many failures it reports.
    pub count: u32,
    /// The account attacked, if known.
    pub user: Option<&'a [u8]>,
    /// The log line (kept as evidence).
    pub line: &'a [u8],
    /// The rule that recognised it.
    pub rule: u32,
    /// The service's own rule id (mod_security), if any.
    pub rule_id: Option<&'a [u8]>,
}

/// A decision to ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanDecision {
    /// The address or network to ban.
    pub target: Net,
    /// The group that triggered.
    pub group: GroupId,
    /// The last rule that matched.
    pub rule: u32,
    /// The service's rule id (mod_security), if any.
    pub rule_id: Option<String>,
    /// Events counted in the window.
    pub count: u64,
    /// First event in the window.
    pub first_seen: i64,
    /// The event that triggered.
    pub last_seen: i64,
    /// When the ban ends; `None` is permanent.
    pub until: Option<i64>,
    /// How many earlier bans the target had within the history window.
    pub earlier_bans: u32,
    /// The account, for distributed attacks.
    pub account: Option<String>,
    /// The lines that led to the ban, oldest first.
    pub evidence: Vec<String>,
}

/// What an observation led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Counted; below the threshold.
    Counted,
    /// The address is protected (loopback, own, allowed, ignored): not counted.
    Protected,
    /// Already banned: the ban's target, for updating its record.
    AlreadyBanned(Net),
    /// Too many keys tracked: not counted.
    Full,
    /// Recognised but not counted again: the line repeats an attempt its
    /// session already counted, or hits a port its source already hit
    /// (rules counting distinct ports). Decided by the detector.
    Repeat,
    /// One or more bans.
    Banned(Vec<BanDecision>),
}

#[derive(Debug)]
struct Entry {
    ring: VecDeque<i64>,
    evidence: VecDeque<Box<[u8]>>,
    last_seen: i64,
    banned_until: Option<i64>,
}

/// Evidence lines kept per key.
pub const EVIDENCE_LINES: usize = 5;
const EVIDENCE_BYTES: usize = 1024;

fn evidence(line: &[u8]) -> Box<[u8]> {
    line[..line.len().min(EVIDENCE_BYTES)].into()
}

/// Evidence as text: lossy UTF-8, NUL bytes replaced.
fn evidence_text(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.into_owned()
    }
}

/// Recent failures against one account: (time, source network).
type AccountRing = VecDeque<(i64, Net)>;

/// The owner of all counting state.
#[derive(Debug)]
pub struct Tracker {
    groups: Vec<GroupPolicy>,
    policy: BanPolicy,
    distributed: DistributedPolicy,
    ipv6_prefix: u8,
    protected: Vec<Net>,
    keys: FxHashMap<(GroupId, Net), Entry>,
    accounts: FxHashMap<(GroupId, Box<[u8]>), AccountRing>,
    history: FxHashMap<Net, Vec<i64>>,
    max_keys: usize,
}

impl Tracker {
    /// A tracker for these groups.
    pub fn new(
        groups: Vec<GroupPolicy>,
        policy: BanPolicy,
        distributed: DistributedPolicy,
        ipv6_prefix: u8,
    ) -> Tracker {
        Tracker {
            groups,
            policy,
            distributed,
            ipv6_prefix,
            protected: Vec::new(),
            keys: FxHashMap::default(),
            accounts: FxHashMap::default(),
            history: FxHashMap::default(),
            max_keys: 4_000_000,
        }
    }

    /// Addresses never counted or banned (allow, ignore, the host's own).
    pub fn set_protected(&mut self, nets: Vec<Net>) {
        self.protected = nets;
    }

    /// Caps the number of tracked keys.
    pub fn set_max_keys(&mut self, n: usize) {
        self.max_keys = n;
    }

    /// The ban policy (escalation, permanent after N).
    pub fn policy(&self) -> &BanPolicy {
        &self.policy
    }

    /// The groups.
    pub fn groups(&self) -> &[GroupPolicy] {
        &self.groups
    }

    /// Number of (group, address) keys currently tracked.
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }

    /// Whether an address is protected from detector bans.
    pub fn is_protected(&self, ip: IpAddr) -> bool {
        is_never_blockable(ip) || self.protected.iter().any(|n| n.contains(ip))
    }

    /// The counting key of an address.
    pub fn key_of(&self, ip: IpAddr) -> Net {
        if ip.is_ipv6() {
            Net::containing(ip, self.ipv6_prefix)
        } else {
            Net::host(ip)
        }
    }

    /// Events currently counted against an address, per group: `(group, count, last_seen)`.
    pub fn counts_for(&self, ip: IpAddr) -> Vec<(GroupId, usize, i64)> {
        let key = self.key_of(ip);
        let mut v: Vec<_> = self
            .keys
            .iter()
            .filter(|((_, n), _)| *n == key)
            .map(|((g, _), e)| (*g, e.ring.len(), e.last_seen))
            .collect();
        v.sort_unstable();
        v
    }

    /// Counts one observation and decides.
    pub fn observe(&mut self, o: &Observation<'_>) -> Outcome {
        if self.is_protected(o.ip) {
            return Outcome::Protected;
        }
        let Some(g) = self.groups.get(usize::from(o.group)) else {
            return Outcome::Counted;
        };
        let (threshold, window) = (g.threshold.max(1) as usize, g.window_secs as i64);
        let key = self.key_of(o.ip);
        if !self.keys.contains_key(&(o.group, key)) && self.keys.len() >= self.max_keys {
            return Outcome::Full;
        }
        let e = self.keys.entry((o.group, key)).or_insert_with(|| Entry {
            ring: VecDeque::with_capacity(threshold.min(16)),
            evidence: VecDeque::with_capacity(EVIDENCE_LINES.min(threshold)),
            last_seen: o.time,
            banned_until: None,
        });
        e.last_seen = e.last_seen.max(o.time);
        if let Some(until) = e.banned_until {
            if o.time < until {
                return Outcome::AlreadyBanned(key);
            }
            e.banned_until = None;
        }
        for _ in 0..o.count.min(threshold as u32) {
            if e.ring.len() == threshold {
                e.ring.pop_front();
            }
            e.ring.push_back(o.time);
        }
        if e.evidence.len() == EVIDENCE_LINES {
            e.evidence.pop_front();
        }
        e.evidence.push_back(evidence(o.line));
        let mut bans = Vec::new();
        let oldest = e.ring.front().copied().unwrap_or(o.time);
        if e.ring.len() >= threshold && o.time - oldest <= window {
            let first_seen = oldest;
            let count = e.ring.len() as u64;
            let ev: Vec<String> = e.evidence.drain(..).map(|l| evidence_text(&l)).collect();
            e.ring.clear();
            let d = self.ban(key, o, count, first_seen, ev, None);
            if let Some(e) = self.keys.get_mut(&(o.group, key)) {
                e.banned_until = Some(d.until.unwrap_or(i64::MAX));
            }
            bans.push(d);
        }
        if self.distributed.enabled
            && let Some(user) = o.user
        {
            self.observe_account(o, user, key, window, &mut bans);
        }
        if bans.is_empty() {
            Outcome::Counted
        } else {
            Outcome::Banned(bans)
        }
    }

    fn observe_account(
        &mut self,
        o: &Observation<'_>,
        user: &[u8],
        key: Net,
        window: i64,
        bans: &mut Vec<BanDecision>,
    ) {
        let threshold = self.distributed.threshold.max(2) as usize;
        let ring = self.accounts.entry((o.group, user.into())).or_default();
        ring.push_back((o.time, key));
        while ring.len() > threshold || ring.front().is_some_and(|(t, _)| o.time - t > window) {
            ring.pop_front();
        }
        if ring.len() < threshold {
            return;
        }
        let mut nets: Vec<Net> = ring.iter().map(|(_, n)| *n).collect();
        nets.sort_unstable();
        nets.dedup();
        if nets.len() < self.distributed.min_addresses as usize {
            return;
        }
        let first = ring.front().map_or(o.time, |(t, _)| *t);
        let count = ring.len() as u64;
        ring.clear();
        let account = String::from_utf8_lossy(user).into_owned();
        for n in nets {
            let already = bans.iter().any(|b| b.target == n)
                || self
                    .keys
                    .get(&(o.group, n))
                    .and_then(|e| e.banned_until)
                    .is_some_and(|u| o.time < u);
            if already {
                continue;
            }
            let ev = vec![evidence_text(evidence(o.line).as_ref())];
            let d = self.ban(n, o, count, first, ev, Some(account.clone()));
            if let Some(e) = self.keys.get_mut(&(o.group, n)) {
                e.banned_until = Some(d.until.unwrap_or(i64::MAX));
            }
            bans.push(d);
        }
    }

    fn ban(
        &mut self,
        target: Net,
        o: &Observation<'_>,
        count: u64,
        first_seen: i64,
        evidence: Vec<String>,
        account: Option<String>,
    ) -> BanDecision {
        let g = &self.groups[usize::from(o.group)];
        let hist = self.history.entry(target).or_default();
        let horizon = o.time - self.policy.history_secs as i64;
        hist.retain(|t| *t > horizon);
        let earlier = hist.len() as u32;
        hist.push(o.time);
        let until = self
            .policy
            .length(g.ban_secs, earlier)
            .map(|len| o.time.saturating_add(len as i64));
        BanDecision {
            target,
            group: o.group,
            rule: o.rule,
            rule_id: o.rule_id.map(|r| String::from_utf8_lossy(r).into_owned()),
            count,
            first_seen,
            last_seen: o.time,
            until,
            earlier_bans: earlier,
            account,
            evidence,
        }
    }

    /// Forgets everything counted against an address (an administrator
    /// unblocked it); its ban history, which escalation uses, is kept.
    pub fn forget(&mut self, ip: IpAddr) -> usize {
        let key = self.key_of(ip);
        let before = self.keys.len();
        self.keys.retain(|(_, n), _| *n != key);
        before - self.keys.len()
    }

    /// Takes over the counting state of the tracker this one replaces (a
    /// configuration reload): keys move to the group of the same name;
    /// groups that no longer exist are dropped.
    pub fn adopt(&mut self, old: Tracker) {
        let map: Vec<Option<GroupId>> = old
            .groups
            .iter()
            .map(|g| {
                self.groups
                    .iter()
                    .position(|n| n.name == g.name)
                    .map(|i| i as GroupId)
            })
            .collect();
        for ((g, net), e) in old.keys {
            if let Some(Some(ng)) = map.get(usize::from(g)) {
                self.keys.insert((*ng, net), e);
            }
        }
        for ((g, user), ring) in old.accounts {
            if let Some(Some(ng)) = map.get(usize::from(g)) {
                self.accounts.insert((*ng, user), ring);
            }
        }
        self.history = old.history;
    }

    /// Forgets keys idle for longer than their window (and not banned),
    /// account rings and ban history older than the history window.
    pub fn evict_idle(&mut self, now: i64) {
        let groups = &self.groups;
        self.keys.retain(|(g, _), e| {
            let window = groups
                .get(usize::from(*g))
                .map_or(0, |g| g.window_secs as i64);
            e.banned_until.is_some_and(|u| u > now) || now - e.last_seen <= window
        });
        self.accounts.retain(|(g, _), r| {
            let window = groups
                .get(usize::from(*g))
                .map_or(0, |g| g.window_secs as i64);
            r.back().is_some_and(|(t, _)| now - t <= window)
        });
        let horizon = now - self.policy.history_secs as i64;
        self.history
            .retain(|_, h| h.last().is_some_and(|t| *t > horizon));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(threshold: u32, window: u64, ban: Option<u64>) -> GroupPolicy {
        GroupPolicy {
            name: "sshd".into(),
            reason: "sshd".into(),
            threshold,
            window_secs: window,
            ban_secs: ban,
            ports: vec![],
        }
    }

    fn obs(ip: &str, t: i64) -> Observation<'static> {
        Observation {
            group: 0,
            ip: ip.parse().unwrap(),
            time: t,
            count: 1,
            user: None,
            line: b"line",
            rule: 0,
            rule_id: None,
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(
            vec![group(3, 60, Some(100))],
            BanPolicy::default(),
            DistributedPolicy::default(),
            64,
        )
    }

    fn banned(o: Outcome) -> Vec<BanDecision> {
        match o {
            Outcome::Banned(b) => b,
            other => panic!("expected a ban, got {other:?}"),
        }
    }

    #[test]
    fn threshold_within_window() {
        let mut t = tracker();
        assert_eq!(t.observe(&obs("198.51.100.7", 0)), Outcome::Counted);
        assert_eq!(t.observe(&obs("198.51.100.7", 30)), Outcome::Counted);
        // the first event slides out of the window
        assert_eq!(t.observe(&obs("198.51.100.7", 61)), Outcome::Counted);
        let b = banned(t.observe(&obs("198.51.100.7", 62)));
        assert_eq!(b[0].target.to_string(), "198.51.100.7");
        assert_eq!(
            (b[0].count, b[0].first_seen, b[0].until),
            (3, 30, Some(162))
        );
        assert_eq!(b[0].evidence.len(), 4);
        let k = Net::host("198.51.100.7".parse().unwrap());
        assert_eq!(
            t.observe(&obs("198.51.100.7", 63)),
            Outcome::AlreadyBanned(k)
        );
    }

    #[test]
    fn escalation_then_permanent() {
        let mut t = tracker();
        let mut lens = vec![];
        let mut now = 0;
        for _ in 0..4 {
            let mut b = None;
            for _ in 0..3 {
                now += 1;
                if let Outcome::Banned(d) = t.observe(&obs("203.0.113.5", now)) {
                    b = Some(d);
                }
            }
            let d = b.expect("a ban").remove(0);
            lens.push(d.until.map(|u| u - now));
            now = d.until.unwrap_or(now) + 1;
        }
        assert_eq!(lens, vec![Some(100), Some(400), Some(1600), None]);
    }

    #[test]
    fn ipv6_counted_per_64() {
        let mut t = tracker();
        t.observe(&obs("2001:db8:1:2::1", 0));
        t.observe(&obs("2001:db8:1:2::2", 1));
        let b = banned(t.observe(&obs("2001:db8:1:2::3", 2)));
        assert_eq!(b[0].target.to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn protected_never_counted() {
        let mut t = tracker();
        t.set_protected(vec![Net::parse("192.0.2.0/24").unwrap()]);
        for i in 0..10 {
            assert_eq!(t.observe(&obs("192.0.2.9", i)), Outcome::Protected);
            assert_eq!(t.observe(&obs("127.0.0.1", i)), Outcome::Protected);
            assert_eq!(t.observe(&obs("::1", i)), Outcome::Protected);
        }
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn count_capture_counts_n() {
        let mut t = tracker();
        let mut o = obs("198.51.100.8", 0);
        o.count = 5;
        let b = banned(t.observe(&o));
        assert_eq!(b[0].count, 3);
    }

    #[test]
    fn distributed_attack_on_one_account() {
        let mut t = Tracker::new(
            vec![group(100, 3600, Some(100))],
            BanPolicy::default(),
            DistributedPolicy {
                enabled: true,
                threshold: 4,
                min_addresses: 3,
            },
            64,
        );
        let ips = [
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.1",
        ];
        let mut out = vec![];
        for (i, ip) in ips.iter().enumerate() {
            let mut o = obs(ip, i as i64);
            o.user = Some(b"alice");
            out.push(t.observe(&o));
        }
        let b = banned(out.pop().unwrap());
        assert_eq!(b.len(), 3);
        assert!(b.iter().all(|d| d.account.as_deref() == Some("alice")));
    }

    #[test]
    fn forget_and_adopt_keep_or_drop_counts() {
        let mut t = tracker();
        t.observe(&obs("198.51.100.1", 0));
        t.observe(&obs("198.51.100.1", 1));
        let mut t2 = tracker();
        t2.adopt(t);
        // the third event bans: the two before the reload still count
        assert!(matches!(
            t2.observe(&obs("198.51.100.1", 2)),
            Outcome::Banned(_)
        ));
        t2.observe(&obs("198.51.100.2", 3));
        assert_eq!(t2.forget("198.51.100.2".parse().unwrap()), 1);
        assert_eq!(t2.counts_for("198.51.100.2".parse().unwrap()), vec![]);
    }

    #[test]
    fn eviction_bounds_memory() {
        let mut t = tracker();
        t.set_max_keys(2);
        t.observe(&obs("198.51.100.1", 0));
        t.observe(&obs("198.51.100.2", 0));
        assert_eq!(t.observe(&obs("198.51.100.3", 0)), Outcome::Full);
        t.evict_idle(1000);
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.observe(&obs("198.51.100.3", 1000)), Outcome::Counted);
    }
}
