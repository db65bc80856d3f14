//! The detector: matching ([`Engine`]) plus counting ([`Tracker`]) wired
//! to the configuration and the explanation catalogue. One call per line:
//! [`Detector::process`] returns the attack event the line carries (if
//! any) and what counting it led to.

use crate::addr::Net;
use crate::config::{Config, Tuning};
use crate::distinct::DistinctPorts;
use crate::engine::{CompileError, Engine, JsonOptions, Miss, Scratch};
use crate::explain::{self, Reason};
use crate::fxhash::FxHashMap;
use crate::rule::Distinct;
use crate::rule::RuleDef;
use crate::time::{TimeContext, Timestamp};
use crate::tracker::{
    BanDecision, BanPolicy, DistributedPolicy, GroupId, GroupPolicy, Observation, Outcome, Tracker,
};
use std::collections::HashMap;
use std::net::IpAddr;

/// An attack event: a line a rule recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// Index of the rule (see [`Detector::rule`]).
    pub rule: u32,
    /// The rule's id.
    pub rule_name: &'a str,
    /// The reason code.
    pub reason: &'a str,
    /// Whom it blames.
    pub ip: IpAddr,
    /// The account, when named (raw bytes from the line).
    pub user: Option<&'a [u8]>,
    /// The port, when named.
    pub port: Option<u16>,
    /// Failures the line reports.
    pub count: u32,
    /// The time the line carries, if any.
    pub time: Option<Timestamp>,
    /// The service's own rule id (mod_security, Suricata sid).
    pub rule_id: Option<&'a [u8]>,
}

/// Counters of what the detector saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines processed.
    pub lines: u64,
    /// Lines that produced an event.
    pub events: u64,
    /// Lines skipped for being longer than the limit.
    pub oversized: u64,
    /// Lines a rule matched but whose address did not parse.
    pub bad_address: u64,
    /// Lines from a trusted proxy naming no client.
    pub trusted_proxy: u64,
    /// Lines taken by `ignore` rules.
    pub ignored: u64,
    /// Lines whose rule needed a session address that was not recorded.
    pub no_session: u64,
    /// Events against protected addresses (not counted).
    pub protected: u64,
    /// Events dropped because the tracker may track nothing (`max_tracked = 0`).
    pub dropped_full: u64,
    /// Tracked addresses forgotten to make room for new ones while the
    /// tracker was full (`max_tracked`): each time, the one farthest from
    /// its threshold among a random sample goes, so attackers close to a
    /// ban, and every new attacker, are still counted and banned. Worth a
    /// log line and a place in `status` when it grows.
    pub evicted_full: u64,
    /// Bans decided.
    pub bans: u64,
    /// Events not counted again: repeats of an attempt their session
    /// already counted, hits on a port their source already hit.
    pub repeats: u64,
}

/// An error building the detector.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A rule failed to compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A rule names a reason code the catalogue does not have.
    #[error("rule {rule}: unknown reason {reason:?} (known: {known})")]
    UnknownReason {
        /// Rule id.
        rule: String,
        /// The bad code.
        reason: String,
        /// Known codes.
        known: String,
    },
    /// A rule's duration is malformed.
    #[error("rule {rule}: {message}")]
    Duration {
        /// Rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// Counts why a recognised line gave no event.
fn count_miss(s: &mut Stats, miss: Miss) {
    match miss {
        Miss::NoMatch | Miss::SessionOnly(..) => {}
        Miss::Ignored(_) => s.ignored += 1,
        Miss::NoSession | Miss::Contradicts => s.no_session += 1,
        Miss::BadAddress => s.bad_address += 1,
        Miss::TrustedProxy => s.trusted_proxy += 1,
    }
}

/// Matching and counting, configured.
#[derive(Debug)]
pub struct Detector {
    engine: Engine,
    tracker: Tracker,
    reasons: Vec<Reason>,
    rule_group: Vec<Option<GroupId>>,
    /// Per rule: it counts distinct ports (`distinct = "port"`).
    rule_distinct: Vec<bool>,
    distinct: DistinctPorts,
    reason_group: FxHashMap<String, GroupId>,
    json: JsonOptions,
    scratch: Scratch,
    buf: Vec<u8>,
    /// What the detector saw so far.
    pub stats: Stats,
}

fn merged(base: &Tuning, over: Option<&Tuning>) -> Tuning {
    let Some(o) = over else { return base.clone() };
    Tuning {
        enabled: o.enabled.or(base.enabled),
        threshold: o.threshold.or(base.threshold),
        window_secs: o.window_secs.or(base.window_secs),
        ban_secs: o.ban_secs.or(base.ban_secs),
    }
}

impl Detector {
    /// Builds a detector. `own` are the host's own addresses: never banned,
    /// and the inside of IDS alerts.
    pub fn new(
        mut defs: Vec<RuleDef>,
        config: &Config,
        reasons: Vec<Reason>,
        own: Vec<Net>,
    ) -> Result<Detector, BuildError> {
        let known: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
        let mut groups: Vec<GroupPolicy> = Vec::new();
        let mut reason_group = FxHashMap::default();
        for r in &reasons {
            let t = config.reasons.get(&r.code).cloned().unwrap_or_default();
            let window = t
                .window_secs
                .unwrap_or_else(|| r.window.secs().ok().flatten().unwrap_or(3600));
            let ban = t
                .ban_secs
                .unwrap_or_else(|| r.ban.secs().unwrap_or(Some(3600)));
            reason_group.insert(r.code.clone(), groups.len() as GroupId);
            groups.push(GroupPolicy {
                name: r.code.clone(),
                reason: r.code.clone(),
                threshold: t.threshold.unwrap_or(r.threshold),
                window_secs: window,
                ban_secs: ban,
                ports: Vec::new(),
            });
        }
        let mut rule_group = Vec::with_capacity(defs.len());
        let mut named_groups: HashMap<String, GroupId> = HashMap::new();
        for d in &mut defs {
            for code in std::iter::once(&d.reason).chain(d.reason_map.values()) {
                if !known.contains(&code.as_str()) {
                    return Err(BuildError::UnknownReason {
                        rule: d.id.clone(),
                        reason: code.clone(),
                        known: known.join(", "),
                    });
                }
            }
            let dur = |v: &Option<crate::rule::DurationValue>| -> Result<Option<Option<u64>>, BuildError> {
                v.as_ref()
                    .map(|v| v.secs())
                    .transpose()
                    .map_err(|message| BuildError::Duration { rule: d.id.clone(), message })
            };
            let own_tuning = Tuning {
                enabled: None,
                threshold: d.threshold,
                window_secs: dur(&d.window)?.flatten(),
                ban_secs: dur(&d.ban)?,
            };
            let reason_cfg = config.reasons.get(&d.reason);
            let t = merged(&own_tuning, config.rules.get(&d.id));
            let reason_off = reason_cfg.and_then(|t| t.enabled) == Some(false);
            d.enabled = t.enabled.unwrap_or(d.enabled && !reason_off);
            let special = t.threshold.is_some()
                || t.window_secs.is_some()
                || t.ban_secs.is_some()
                || d.group.is_some()
                || !d.ports.is_empty();
            if !special {
                rule_group.push(None);
                continue;
            }
            let name = d.group.clone().unwrap_or_else(|| d.id.clone());
            if let Some(&g) = named_groups.get(&name) {
                rule_group.push(Some(g));
                continue;
            }
            let base = &groups[usize::from(reason_group[&d.reason])];
            let g = GroupPolicy {
                name: name.clone(),
                reason: d.reason.clone(),
                threshold: t.threshold.unwrap_or(base.threshold),
                window_secs: t.window_secs.unwrap_or(base.window_secs),
                ban_secs: t.ban_secs.unwrap_or(base.ban_secs),
                ports: d.ports.clone(),
            };
            let id = groups.len() as GroupId;
            groups.push(g);
            named_groups.insert(name, id);
            rule_group.push(Some(id));
        }
        let rule_distinct = defs
            .iter()
            .map(|d| d.distinct == Some(Distinct::Port))
            .collect();
        let mut engine = Engine::new(defs, config.trusted_proxies.clone())?;
        engine.trust_private_proxies = config.trust_private_proxies;
        engine.max_line_bytes = 64 * 1024;
        let policy = BanPolicy {
            escalation_factor: config.escalation_factor,
            max_ban_secs: config.max_ban_secs,
            permanent_after: config.permanent_after,
            history_secs: config.ban_history_secs,
        };
        let distributed = DistributedPolicy {
            enabled: config.distributed_enabled,
            threshold: config.distributed_threshold,
            min_addresses: config.distributed_min_addresses,
        };
        let mut tracker = Tracker::new(groups, policy, distributed, config.ipv6_prefix);
        let mut protected = config.ignore.clone();
        protected.extend(own.iter().copied());
        tracker.set_protected(protected);
        tracker.set_max_keys(config.max_tracked);
        let scratch = engine.scratch();
        Ok(Detector {
            engine,
            tracker,
            reasons,
            rule_group,
            rule_distinct,
            distinct: DistinctPorts::new(config.max_tracked),
            reason_group,
            json: JsonOptions {
                max_severity: config.ids_max_severity,
                own,
            },
            scratch,
            buf: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// A rule's definition by index.
    pub fn rule(&self, idx: u32) -> &RuleDef {
        &self.engine.rules()[idx as usize].def
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The tracker (counts, groups).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The reason record for a code.
    pub fn reason(&self, code: &str) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.code == code)
    }

    /// The explanation catalogue.
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The admin summary of a ban.
    pub fn summary(&self, ban: &BanDecision) -> String {
        let g = &self.tracker.groups()[usize::from(ban.group)];
        let target = ban.target.to_string();
        match self.reason(&g.reason) {
            Some(r) => match &ban.account {
                Some(acc) => format!(
                    "({}) {target}, {} distributed {} attacks on account [{acc}] in the last {} secs",
                    r.code, ban.count, r.code, g.window_secs
                ),
                None => explain::summary(
                    r,
                    &target,
                    None,
                    ban.count,
                    g.window_secs,
                    ban.rule_id.as_deref(),
                ),
            },
            None => format!("({}) {target}: {} events", g.reason, ban.count),
        }
    }

    /// Processes one line (without its newline). `fallback_time` is used
    /// when the line carries no time of its own, and (in a zone with DST)
    /// decides which occurrence of a repeated local time the line means:
    /// pass the previous event's time when reading a file, now when
    /// following a live log (see [`crate::time`]).
    pub fn process<'a>(
        &'a mut self,
        line: &'a [u8],
        ctx: &TimeContext,
        fallback_time: Timestamp,
    ) -> Option<(Event<'a>, Outcome)> {
        self.process_line(None, line, ctx, fallback_time)
    }

    /// Processes one line of a source declared to be `program`'s output
    /// (`[[sources.file]] program = "dropbear"`): lines without a syslog
    /// header are read as that program's messages (see
    /// [`Engine::match_as`]). JSON lines are not decoded.
    pub fn process_as<'a>(
        &'a mut self,
        program: &'a [u8],
        line: &'a [u8],
        ctx: &TimeContext,
        fallback_time: Timestamp,
    ) -> Option<(Event<'a>, Outcome)> {
        self.process_line(Some(program), line, ctx, fallback_time)
    }

    fn process_line<'a>(
        &'a mut self,
        program: Option<&'a [u8]>,
        line: &'a [u8],
        ctx: &TimeContext,
        fallback_time: Timestamp,
    ) -> Option<(Event<'a>, Outcome)> {
        self.stats.lines += 1;
        if line.len() > self.engine.max_line_bytes {
            self.stats.oversized += 1;
            return None;
        }
        let near;
        let ctx = if ctx.has_rules() && ctx.near != fallback_time {
            near = ctx.with_near(fallback_time);
            &near
        } else {
            ctx
        };
        let matched = match program {
            Some(p) => self.engine.match_as(p, line, ctx, &mut self.scratch),
            None => self
                .engine
                .match_any(line, ctx, &self.json, &mut self.scratch, &mut self.buf),
        };
        let hit = match matched {
            Ok(h) => h,
            Err(miss) => {
                count_miss(&mut self.stats, miss);
                return None;
            }
        };
        self.stats.events += 1;
        let group = self.rule_group[hit.rule as usize]
            .or_else(|| self.reason_group.get(hit.reason).copied())
            .unwrap_or(0);
        let time = hit.time.unwrap_or(fallback_time);
        let ev = Event {
            rule: hit.rule,
            rule_name: &self.engine.rules()[hit.rule as usize].def.id,
            reason: hit.reason,
            ip: hit.ip,
            user: hit.user,
            port: hit.port,
            count: hit.count,
            time: hit.time,
            rule_id: hit.rule_id,
        };
        let seen_port = self.rule_distinct[hit.rule as usize]
            && hit.port.is_some_and(|p| {
                let window = self.tracker.groups()[usize::from(group)].window_secs;
                let src = self.tracker.key_of(hit.ip);
                !self.distinct.first_hit(group, src, p, time, window)
            });
        if hit.repeat || seen_port {
            self.stats.repeats += 1;
            return Some((ev, Outcome::Repeat));
        }
        let outcome = self.tracker.observe(&Observation {
            group,
            ip: hit.ip,
            time,
            count: hit.count,
            user: hit.user,
            line,
            rule: hit.rule,
            rule_id: hit.rule_id,
        });
        match &outcome {
            Outcome::Protected => self.stats.protected += 1,
            Outcome::Full => self.stats.dropped_full += 1,
            Outcome::Banned(b) => self.stats.bans += b.len() as u64,
            _ => {}
        }
        self.stats.evicted_full = self.tracker.evictions();
        Some((ev, outcome))
    }

    /// Takes over the counting state and statistics of the detector this
    /// one replaces (configuration reload: counters are not lost).
    pub fn adopt_state(&mut self, old: Detector) {
        self.stats = old.stats.clone();
        self.distinct = old.distinct;
        self.tracker.adopt(old.tracker);
    }

    /// Replaces the addresses never counted or banned (the configuration's
    /// `ignore`, the host's own addresses, and the store's allow and ignore
    /// entries, which change while the daemon runs).
    pub fn set_protected(&mut self, nets: Vec<Net>) {
        self.tracker.set_protected(nets);
    }

    /// Forgets what was counted against an address.
    pub fn forget(&mut self, ip: IpAddr) -> usize {
        self.distinct.forget(ip);
        self.tracker.forget(ip)
    }

    /// Forgets idle counting state (call periodically with the current time).
    pub fn evict_idle(&mut self, now: Timestamp) {
        let longest = self.tracker.groups().iter().map(|g| g.window_secs).max();
        self.distinct.evict(now, longest.unwrap_or(3600));
        self.tracker.evict_idle(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        let rules = crate::builtin::rules().unwrap();
        Detector::new(rules, &Config::default(), explain::builtin(), Vec::new()).unwrap()
    }

    /// What each line led to: (event?, counted?, banned?).
    fn feed(d: &mut Detector, program: Option<&str>, lines: &[&str]) -> Vec<(bool, bool)> {
        let ctx = TimeContext::utc(1_795_780_800);
        lines
            .iter()
            .map(|l| {
                let r = match program {
                    Some(p) => d.process_as(p.as_bytes(), l.as_bytes(), &ctx, 0),
                    None => d.process(l.as_bytes(), &ctx, 0),
                };
                match r {
                    None => (false, false),
                    Some((_, o)) => (true, !matches!(o, Outcome::Repeat)),
                }
            })
            .collect()
    }

    #[test]
    fn one_ssh_attempt_counts_once_per_session() {
        let mut d = detector();
        let got = feed(
            &mut d,
            None,
            &[
                "Nov 27 08:15:00 h sshd[7]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root",
                "Nov 27 08:15:01 h sshd[7]: Failed password for root from 198.51.100.7 port 4000 ssh2",
                "Nov 27 08:15:02 h sshd[7]: Connection closed by authenticating user root 198.51.100.7 port 4000 [preauth]",
                "Nov 27 08:15:02 h sshd[7]: PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root",
                // the disconnect alone is one attempt of its own session
                "Nov 27 08:15:03 h sshd[8]: Disconnected from authenticating user root 198.51.100.7 port 4001 [preauth]",
                // another address under a pid that already counted: not believed
                "Nov 27 08:15:04 h sshd[7]: Disconnected from authenticating user root 203.0.113.9 port 4002 [preauth]",
            ],
        );
        assert_eq!(
            got,
            vec![
                (false, false),
                (true, true),
                (true, false),
                (false, false),
                (true, true),
                (false, false)
            ]
        );
        assert_eq!(d.stats.repeats, 1);
    }

    #[test]
    fn injected_user_name_counts_against_the_session_address() {
        let mut d = detector();
        let mut lines = Vec::new();
        for pid in 0..5 {
            // sshd names the invalid user first, its address last (unambiguous)
            lines.push(format!("Nov 27 08:15:0{pid} h sshd[10{pid}]: Invalid user x from 192.0.2.1 port 1 ssh2: from 203.0.113.66 port 4{pid}"));
            lines.push(format!("Nov 27 08:15:0{pid} h sshd[10{pid}]: Failed password for invalid user x from 192.0.2.1 port 1 ssh2: from 203.0.113.66 port 4{pid} ssh2"));
        }
        let ctx = TimeContext::utc(1_795_780_800);
        let mut banned = Vec::new();
        for l in &lines {
            if let Some((ev, o)) = d.process(l.as_bytes(), &ctx, 0) {
                assert_eq!(ev.ip.to_string(), "203.0.113.66", "{l}");
                if let Outcome::Banned(b) = o {
                    banned.extend(b.iter().map(|b| b.target.to_string()));
                }
            }
        }
        assert_eq!(banned, vec!["203.0.113.66"]);
    }

    #[test]
    fn firewall_lines_count_distinct_ports() {
        let mut d = detector();
        let line = |port: u16| {
            format!(
                "Nov 27 08:15:00 h kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=198.51.100.40 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=239 ID=1 PROTO=TCP SPT=43211 DPT={port} WINDOW=1024 RES=0x00 SYN URGP=0"
            )
        };
        let ctx = TimeContext::utc(1_795_780_800);
        // one port retried 50 times: no scan
        for _ in 0..50 {
            let l = line(22);
            let r = d.process(l.as_bytes(), &ctx, 0);
            assert!(!matches!(r, Some((_, Outcome::Banned(_)))));
        }
        // ten distinct ports: a scan (portscan: 10 in 5 minutes)
        let banned = (1..=9u16)
            .filter_map(|p| {
                let l = line(1000 + p);
                match d.process(l.as_bytes(), &ctx, 0) {
                    Some((_, Outcome::Banned(b))) => Some(b[0].target.to_string()),
                    _ => None,
                }
            })
            .collect::<Vec<_>>();
        assert_eq!(banned, vec!["198.51.100.40"]);
    }

    #[test]
    fn headerless_lines_only_for_a_declared_program() {
        let mut d = detector();
        let line = "Bad password attempt for 'root' from 198.51.100.7:40000";
        assert_eq!(feed(&mut d, None, &[line]), vec![(false, false)]);
        assert_eq!(feed(&mut d, Some("dropbear"), &[line]), vec![(true, true)]);
        assert_eq!(feed(&mut d, Some("nginx"), &[line]), vec![(false, false)]);
    }
}
