//! Counting and deciding: sliding windows per (group, address), per-account
//! counting for distributed attacks, and the ban policy with escalation.
//!
//! Memory is bounded: each key is one fixed-size record with a ring of at
//! most `threshold` timestamps ([`crate::keytable`]), its evidence lines
//! are references into one bounded store shared by all keys
//! ([`crate::evidence`]); idle keys are evicted by [`Tracker::evict_idle`],
//! and no more than `max_keys` keys are tracked: when the table is full, a
//! new key takes the place of one far from its threshold (counted in
//! [`Tracker::evictions`]), so new attackers are still banned.
//! IPv6 addresses are counted per network (`/64` by default), so an
//! attacker rotating through its own /64 is still one key.
//!
//! The tracker never reads a clock: every observation carries its time.

use crate::addr::{Net, is_never_blockable};
use crate::evidence::{self, EvidenceStore};
use crate::keytable::{FOREVER, KeyTable, NOT_BANNED, Rel};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
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
    /// Not counted: the tracker may track no key at all (`max_keys` 0).
    /// A full tracker makes room instead ([`Tracker::evictions`]).
    Full,
    /// Recognised but not counted again: the line repeats an attempt its
    /// session already counted, or hits a port its source already hit
    /// (rules counting distinct ports). Decided by the detector.
    Repeat,
    /// One or more bans.
    Banned(Vec<BanDecision>),
}

/// Evidence lines kept per key.
pub const EVIDENCE_LINES: usize = 5;

/// Candidates examined when the table is full and a key must make room.
const EVICTION_SAMPLES: usize = 16;

/// Keys examined per [`Tracker::evict_idle`] call.
const EVICT_BATCH: usize = 1 << 16;

/// Evidence as text: lossy UTF-8, NUL bytes replaced.
fn evidence_text(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.into_owned()
    }
}

/// A network as (IPv6?, address bits, mask), IPv4 in the low 32 bits.
fn net_bits(n: &Net) -> (bool, u128, u128) {
    let (v6, bits, width) = match n.addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (true, u128::from(a), 128),
    };
    let host = width - u32::from(n.prefix.min(width as u8));
    let mask = if host >= 128 {
        0
    } else {
        ((u128::MAX >> (128 - width)) >> host) << host
    };
    (v6, bits & mask, mask)
}

/// Recent failures against one account: (time, source network).
type AccountRing = VecDeque<(i64, Net)>;

/// Per group: account name → its recent failures.
type Accounts = HashMap<Box<[u8]>, AccountRing, RandomState>;

/// The owner of all counting state.
#[derive(Debug)]
pub struct Tracker {
    groups: Vec<GroupPolicy>,
    policy: BanPolicy,
    distributed: DistributedPolicy,
    ipv6_prefix: u8,
    /// Protected networks as (IPv6?, network bits, mask): one comparison each.
    protected_bits: Vec<(bool, u128, u128)>,
    table: KeyTable,
    evidence: EvidenceStore,
    /// Relative times count seconds from here (set by the first observation).
    epoch: Option<i64>,
    accounts: Vec<Accounts>,
    history: HashMap<Net, Vec<i64>, RandomState>,
    max_keys: usize,
    evictions: u64,
    /// Where the next [`Tracker::evict_idle`] call resumes.
    sweep_at: usize,
    rng: u64,
}

impl Tracker {
    /// A tracker for these groups.
    pub fn new(
        groups: Vec<GroupPolicy>,
        policy: BanPolicy,
        distributed: DistributedPolicy,
        ipv6_prefix: u8,
    ) -> Tracker {
        let table = KeyTable::new(groups.iter().map(|g| g.threshold.max(1) as usize));
        let accounts = groups.iter().map(|_| Accounts::default()).collect();
        Tracker {
            groups,
            policy,
            distributed,
            ipv6_prefix,
            protected_bits: Vec::new(),
            table,
            evidence: EvidenceStore::default(),
            epoch: None,
            accounts,
            history: HashMap::default(),
            max_keys: 4_000_000,
            evictions: 0,
            sweep_at: 0,
            rng: RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }

    /// Addresses never counted or banned (allow, ignore, the host's own).
    pub fn set_protected(&mut self, nets: Vec<Net>) {
        self.protected_bits = nets.iter().map(net_bits).collect();
    }

    /// Caps the number of tracked keys.
    pub fn set_max_keys(&mut self, n: usize) {
        self.max_keys = n;
    }

    /// Bounds the memory kept for evidence lines (all keys together).
    pub fn set_evidence_bytes(&mut self, n: usize) {
        self.evidence = EvidenceStore::new(n);
        for i in 0..self.table.len() {
            self.table.get_mut(i).evidence = evidence::NONE;
        }
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
        self.table.len()
    }

    /// Keys forgotten so far to make room for new ones (the table was full).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Whether an address is protected from detector bans.
    pub fn is_protected(&self, ip: IpAddr) -> bool {
        if is_never_blockable(ip) {
            return true;
        }
        let (v6, bits, _) = net_bits(&Net::host(ip));
        self.protected_bits
            .iter()
            .any(|&(pv6, net, mask)| pv6 == v6 && bits & mask == net)
    }

    /// The counting key of an address.
    pub fn key_of(&self, ip: IpAddr) -> Net {
        if ip.is_ipv6() {
            Net::containing(ip, self.ipv6_prefix)
        } else {
            Net::host(ip)
        }
    }

    /// A time as seconds from the epoch (clamped to ±68 years around the
    /// first observation; 0 is kept for "not banned").
    fn rel(&mut self, t: i64) -> Rel {
        let epoch = *self.epoch.get_or_insert(t.saturating_sub(1 << 31));
        t.saturating_sub(epoch).clamp(1, i64::from(FOREVER - 1)) as Rel
    }

    fn abs(&self, r: Rel) -> i64 {
        self.epoch.unwrap_or(0) + i64::from(r)
    }

    /// Events currently counted against an address, per group: `(group, count, last_seen)`.
    pub fn counts_for(&self, ip: IpAddr) -> Vec<(GroupId, usize, i64)> {
        let key = self.key_of(ip);
        (0..self.groups.len() as GroupId)
            .filter_map(|g| {
                let r = self
                    .table
                    .get(self.table.find(self.table.hash(g, &key), g, &key)?);
                Some((g, usize::from(r.len), self.abs(r.last_seen)))
            })
            .collect()
    }

    /// Counts one observation and decides.
    pub fn observe(&mut self, o: &Observation<'_>) -> Outcome {
        if self.is_protected(o.ip) {
            return Outcome::Protected;
        }
        let Some(g) = self.groups.get(usize::from(o.group)) else {
            return Outcome::Counted;
        };
        let (threshold, window) = (g.threshold.max(1), g.window_secs as i64);
        let key = self.key_of(o.ip);
        let now = self.rel(o.time);
        let h = self.table.hash(o.group, &key);
        let i = match self.table.find(h, o.group, &key) {
            Some(i) => i,
            None => {
                while self.table.len() >= self.max_keys {
                    if self.max_keys == 0 || !self.make_room(now) {
                        return Outcome::Full;
                    }
                }
                self.table.insert(h, o.group, key, now)
            }
        };
        let r = self.table.get_mut(i);
        r.last_seen = r.last_seen.max(now);
        if r.banned_until != NOT_BANNED {
            if now < r.banned_until {
                return Outcome::AlreadyBanned(key);
            }
            r.banned_until = NOT_BANNED;
        }
        let prev = r.evidence;
        r.evidence = self.evidence.push(prev, o.line);
        for _ in 0..o.count.min(threshold) {
            self.table.push_time(i, now);
        }
        let mut bans = Vec::new();
        let oldest = self.table.oldest(i).unwrap_or(now);
        let r = *self.table.get(i);
        if u32::from(r.len) >= threshold && o.time - self.abs(oldest) <= window {
            let ev = self
                .evidence
                .chain(r.evidence, EVIDENCE_LINES)
                .into_iter()
                .map(evidence_text)
                .collect();
            let first_seen = self.abs(oldest);
            let d = self.ban(key, o, u64::from(r.len), first_seen, ev, None);
            let until = self.until_rel(d.until);
            let r = self.table.get_mut(i);
            (r.len, r.head, r.evidence, r.banned_until) = (0, 0, evidence::NONE, until);
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

    fn until_rel(&mut self, until: Option<i64>) -> Rel {
        until.map_or(FOREVER, |u| self.rel(u))
    }

    /// The table is full: forgets the key farthest from a ban among a few
    /// sampled at random (idle or with the fewest events for its
    /// threshold; keys under an active ban last). Sampling keeps this
    /// O(1) under a flood of new addresses while the keys closest to their
    /// threshold survive.
    fn make_room(&mut self, now: Rel) -> bool {
        let n = self.table.len();
        if n == 0 {
            return false;
        }
        let mut victim = None;
        for _ in 0..EVICTION_SAMPLES.min(n) {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let i = (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n;
            let score = self.keep_score(i, now);
            if victim.is_none_or(|(_, s)| score < s) {
                victim = Some((i, score));
            }
        }
        let Some((i, _)) = victim else { return false };
        self.table.remove(i);
        self.evictions += 1;
        true
    }

    /// How much a key is worth keeping: under an active ban first, then
    /// the share of its threshold reached within the window, then recency.
    fn keep_score(&self, i: usize, now: Rel) -> (bool, u32, Rel) {
        let r = self.table.get(i);
        let g = &self.groups[usize::from(r.group)];
        let banned = r.banned_until != NOT_BANNED && now < r.banned_until;
        let live = i64::from(now) - i64::from(r.last_seen) <= g.window_secs as i64;
        let share = if live {
            u32::from(r.len) * 1024 / g.threshold.max(1)
        } else {
            0
        };
        (banned, share, r.last_seen)
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
        let Some(accounts) = self.accounts.get_mut(usize::from(o.group)) else {
            return;
        };
        let ring = match accounts.get_mut(user) {
            Some(r) => r,
            None => accounts.entry(user.into()).or_default(),
        };
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
        let now = self.rel(o.time);
        for n in nets {
            let rec = self.table.find(self.table.hash(o.group, &n), o.group, &n);
            let already = bans.iter().any(|b| b.target == n)
                || rec.is_some_and(|i| now < self.table.get(i).banned_until);
            if already {
                continue;
            }
            let ev = vec![evidence_text(
                &o.line[..o.line.len().min(evidence::LINE_BYTES)],
            )];
            let d = self.ban(n, o, count, first, ev, Some(account.clone()));
            let until = self.until_rel(d.until);
            if let Some(i) = rec {
                self.table.get_mut(i).banned_until = until;
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
        let mut n = 0;
        for g in 0..self.groups.len() as GroupId {
            if let Some(i) = self.table.find(self.table.hash(g, &key), g, &key) {
                self.table.remove(i);
                n += 1;
            }
        }
        n
    }

    /// Takes over the counting state of the tracker this one replaces (a
    /// configuration reload): keys move to the group of the same name
    /// (their rings cut to the new threshold); groups that no longer exist
    /// are dropped.
    pub fn adopt(&mut self, mut old: Tracker) {
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
        // a fresh tracker takes the old evidence as it is; otherwise the
        // moved keys' lines are copied
        let take_store = self.table.len() == 0;
        if take_store {
            std::mem::swap(&mut self.evidence, &mut old.evidence);
        }
        self.table.reserve(old.table.len());
        for oi in 0..old.table.len() {
            let r = *old.table.get(oi);
            let Some(&Some(ng)) = map.get(usize::from(r.group)) else {
                continue;
            };
            let h = self.table.hash(ng, &r.net);
            if self.table.find(h, ng, &r.net).is_some() {
                continue;
            }
            let times: Vec<i64> = old.table.times(oi).map(|t| old.abs(t)).collect();
            let last_seen = self.rel(old.abs(r.last_seen));
            let i = self.table.insert(h, ng, r.net, last_seen);
            let keep = self.table.width(ng).min(times.len());
            for t in &times[times.len() - keep..] {
                let t = self.rel(*t);
                self.table.push_time(i, t);
            }
            let banned_until = match r.banned_until {
                NOT_BANNED | FOREVER => r.banned_until,
                u => self.rel(old.abs(u)),
            };
            let evidence = if take_store {
                r.evidence
            } else {
                let lines = old.evidence.chain(r.evidence, EVIDENCE_LINES);
                lines
                    .into_iter()
                    .fold(evidence::NONE, |prev, l| self.evidence.push(prev, l))
            };
            let rec = self.table.get_mut(i);
            (rec.banned_until, rec.evidence) = (banned_until, evidence);
        }
        for (og, accounts) in old.accounts.into_iter().enumerate() {
            if let Some(&Some(ng)) = map.get(og) {
                self.accounts[usize::from(ng)].extend(accounts);
            }
        }
        self.history = old.history;
        self.evictions += old.evictions;
    }

    /// Forgets keys idle for longer than their window (and not banned),
    /// account rings and ban history older than the history window.
    ///
    /// Keys are examined [`EVICT_BATCH`] at a time, each call resuming
    /// where the last one stopped: a call costs a few milliseconds however
    /// many keys are tracked, and a daemon calling this every second sweeps
    /// ten million keys in under three minutes.
    pub fn evict_idle(&mut self, now: i64) {
        let now_rel = self.rel(now);
        let mut i = self.sweep_at;
        for _ in 0..EVICT_BATCH {
            if i >= self.table.len() {
                i = 0;
                if self.table.len() == 0 {
                    break;
                }
            }
            let r = self.table.get(i);
            let window = self
                .groups
                .get(usize::from(r.group))
                .map_or(0, |g| g.window_secs as i64);
            let banned = r.banned_until != NOT_BANNED && now_rel < r.banned_until;
            if banned || now - self.abs(r.last_seen) <= window {
                i += 1;
            } else {
                // the last key moves here: look at position i again
                self.table.remove(i);
            }
        }
        self.sweep_at = i;
        for (g, accounts) in self.accounts.iter_mut().enumerate() {
            let window = self.groups.get(g).map_or(0, |g| g.window_secs as i64);
            accounts.retain(|_, r| r.back().is_some_and(|(t, _)| now - t <= window));
        }
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
        t.set_protected(vec![
            Net::parse("2001:db8:5::/48").unwrap(),
            Net::parse("203.0.113.9").unwrap(),
        ]);
        for (ip, protected) in [
            ("2001:db8:5:ffff::1", true),
            ("2001:db8:6::1", false),
            ("203.0.113.9", true),
            ("::ffff:203.0.113.9", true),
            ("203.0.113.8", false),
            ("192.0.2.9", false),
        ] {
            assert_eq!(t.is_protected(ip.parse().unwrap()), protected, "{ip}");
        }
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
    fn idle_keys_are_evicted() {
        let mut t = tracker();
        t.observe(&obs("198.51.100.1", 0));
        t.observe(&obs("198.51.100.2", 0));
        t.evict_idle(60);
        assert_eq!(t.tracked(), 2);
        t.evict_idle(1000);
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.observe(&obs("198.51.100.3", 1000)), Outcome::Counted);
    }

    #[test]
    fn a_full_tracker_keeps_the_keys_closest_to_a_ban_and_still_bans() {
        let mut t = tracker();
        t.set_max_keys(8);
        // one key two events from its threshold of three
        t.observe(&obs("203.0.113.1", 0));
        t.observe(&obs("203.0.113.1", 1));
        // a flood of one-off addresses through a full table
        for i in 0..1000 {
            let ip = format!("198.51.{}.{}", i / 256, i % 256);
            assert_eq!(t.observe(&obs(&ip, 2)), Outcome::Counted);
        }
        assert_eq!(t.tracked(), 8);
        assert_eq!(t.evictions(), 1001 - 8);
        // the near-threshold key survived and bans at once
        let b = banned(t.observe(&obs("203.0.113.1", 3)));
        assert_eq!((b[0].count, b[0].evidence.len()), (3, 3));
        // a newcomer is still banned when it reaches the threshold
        for s in 4..6 {
            t.observe(&obs("192.0.2.200", s));
        }
        assert!(matches!(
            t.observe(&obs("192.0.2.200", 6)),
            Outcome::Banned(_)
        ));
        t.set_max_keys(0);
        assert_eq!(t.observe(&obs("203.0.113.77", 7)), Outcome::Full);
    }
}
