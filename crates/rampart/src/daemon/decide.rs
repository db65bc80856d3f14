//! From the core's decisions to the bans the enforcer applies: the
//! detector's `BanDecision`s and the kernel detectors' reports become
//! [`Ban`]s; escalation across restarts (the store remembers earlier
//! bans) and CSF's NETBLOCK are applied to each pass's bans.

use super::events::{Ban, BanOrigin, FleetDecision};
use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_core::detect::Detector;
use rampart_core::time::Timestamp;
use rampart_core::tracker::BanDecision;
use rampart_store::Store;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// A detector ban.
pub fn from_decision(
    det: &Detector,
    d: &BanDecision,
    offender: std::net::IpAddr,
    now: Timestamp,
    read_at: Instant,
) -> Ban {
    let group = &det.tracker().groups()[usize::from(d.group)];
    Ban {
        target: d.target,
        reason: group.reason.clone(),
        rule: det.rule(d.rule).id.clone(),
        summary: det.summary(d),
        evidence: d.evidence.clone(),
        len: d.until.map(|u| (u - d.last_seen).max(1)),
        level: d.earlier_bans,
        base_len: Some(group.ban_secs.map(|s| s as i64)),
        origin: BanOrigin::Detector,
        decided: now,
        read_at,
        offender,
    }
}

/// A peer's ban, as this node applies it: `why` shows "banned on NODE
/// for REASON: SUMMARY"; the length is what is left of the peer's ban.
pub fn from_fleet(d: FleetDecision, now: Timestamp) -> Ban {
    // `read_at` is when the peer decided: the applied event then carries
    // the decision's whole journey (the fleet sink measures it)
    let age = super::fleet::conn::now_ms()
        .saturating_sub(d.decided_ms)
        .max(0);
    let read_at = Instant::now()
        .checked_sub(std::time::Duration::from_millis(age as u64))
        .unwrap_or_else(Instant::now);
    Ban {
        target: d.target,
        summary: format!("banned on {} for {}: {}", d.node, d.reason, d.summary),
        reason: d.reason,
        rule: d.rule,
        evidence: d.evidence,
        len: d.expires.map(|e| (e - now).max(1)),
        level: 0,
        base_len: None,
        origin: BanOrigin::Fleet { node: d.node },
        decided: now,
        read_at,
        offender: d.target.addr,
    }
}

/// What a kernel-side detector (port scan, limits) or the netblock rule
/// reports.
pub struct KernelHit {
    /// Whom to ban.
    pub target: Net,
    /// The reason code.
    pub reason: &'static str,
    /// The detector's id (`kernel.portscan`).
    pub rule: String,
    /// The CSF-style summary.
    pub summary: String,
    /// The report.
    pub evidence: String,
}

/// A kernel-side ban, with the reason's configured length (no escalation).
pub fn from_kernel(det: &Detector, hit: KernelHit, origin: BanOrigin, now: Timestamp) -> Ban {
    let offender = hit.target.addr;
    let len = det
        .tracker()
        .groups()
        .iter()
        .find(|g| g.name == hit.reason)
        .map_or(Some(3600), |g| g.ban_secs)
        .map(|s| s as i64);
    Ban {
        target: hit.target,
        reason: hit.reason.to_string(),
        rule: hit.rule,
        summary: hit.summary,
        evidence: vec![hit.evidence],
        len,
        level: 0,
        base_len: None,
        origin,
        decided: now,
        read_at: Instant::now(),
        offender,
    }
}

/// Escalation across restarts: a detector ban's length counts the
/// target's earlier bans in the store (the in-memory history starts empty
/// after a restart). The Nth ban within the history window is permanent
/// (CSF's LF_PERMBLOCK).
pub fn escalate_from_store(store: &Store, det: &Detector, bans: &mut [Ban], now: Timestamp) {
    let policy = det.tracker().policy();
    let since = now - policy.history_secs as i64;
    for b in bans.iter_mut() {
        let Some(base) = b.base_len else { continue };
        let earlier = match store.bans_in_window(b.target, since) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("escalation: cannot read earlier bans of {}: {e}", b.target);
                0
            }
        };
        if earlier > b.level {
            b.level = earlier;
            b.len = policy
                .length(base.map(|l| l as u64), earlier)
                .map(|l| l as i64);
        }
        if b.len.is_none() && base.is_some() {
            b.summary = format!(
                "(PERMBLOCK) {} has had {} temp blocks in the last {} secs; latest: {}",
                b.target, b.level, policy.history_secs, b.summary
            );
        }
    }
}

/// CSF's LF_NETBLOCK: after `netblock_after` bans inside one /24 (IPv4) or
/// /48 (IPv6) within the history window, the whole network is banned —
/// never one that holds a protected address (own, allowed, ignored).
#[derive(Default)]
pub struct Netblocks {
    seen: HashMap<Net, Vec<i64>>,
    banned: HashSet<Net>,
}

impl Netblocks {
    /// Adds the netblock bans this pass's `bans` lead to.
    pub fn add(
        &mut self,
        det: &Detector,
        config: &Config,
        protected: &[Net],
        bans: &mut Vec<Ban>,
        now: Timestamp,
    ) {
        let after = config.netblock_after as usize;
        if after == 0 {
            return;
        }
        let horizon = now - config.ban_history_secs as i64;
        let mut new = Vec::new();
        // this node's own bans only: a peer's count on its own
        let local = |b: &&Ban| !matches!(b.origin, BanOrigin::Netblock | BanOrigin::Fleet { .. });
        for b in bans.iter().filter(local) {
            let prefix = if b.target.addr.is_ipv4() { 24 } else { 48 };
            if b.target.prefix <= prefix {
                continue;
            }
            let net = Net::containing(b.target.addr, prefix);
            let times = self.seen.entry(net).or_default();
            times.retain(|t| *t > horizon);
            times.push(now);
            let guarded = protected
                .iter()
                .any(|p| net.contains(p.addr) || p.contains(net.addr));
            if times.len() >= after && !guarded && self.banned.insert(net) {
                let hit = KernelHit {
                    target: net,
                    reason: "netblock",
                    rule: "daemon.netblock".into(),
                    summary: format!(
                        "(NETBLOCK) {net} has had {} blocks in the last {} secs",
                        times.len(),
                        config.ban_history_secs
                    ),
                    evidence: format!("{} bans inside {net}", times.len()),
                };
                new.push(from_kernel(det, hit, BanOrigin::Netblock, now));
            }
        }
        bans.extend(new);
    }

    /// Forgets a network that was unblocked.
    pub fn forget(&mut self, ip: std::net::IpAddr) {
        self.banned.retain(|n| !n.contains(ip));
        self.seen.retain(|n, _| !n.contains(ip));
    }
}

/// Keeps bans off protected addresses (the host's own, loopback, allowed,
/// ignored): a ban whose target (an IPv6 /64, a netblock) covers one is
/// narrowed to the widest prefix of the offender's address that does not
/// (`narrow_to_exclude`), and said so; one that cannot be narrowed (the
/// offender itself is protected) is dropped.
pub fn keep_off_protected(bans: &mut Vec<Ban>, protected: &[Net]) {
    bans.retain_mut(|b| {
        match rampart_core::addr::narrow_to_exclude(b.target, b.offender, protected) {
            None => {
                tracing::warn!(
                    "not banning {}: it would cover a protected address",
                    b.target
                );
                false
            }
            Some(n) if n != b.target => {
                tracing::info!(
                    "ban of {} narrowed to {n}: the wider one covers a protected address",
                    b.target
                );
                b.summary = format!(
                    "{} (narrowed from {} to keep a protected address out)",
                    b.summary, b.target
                );
                b.target = n;
                true
            }
            Some(_) => true,
        }
    });
}
