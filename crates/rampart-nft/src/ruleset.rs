//! The ruleset model of `table inet rampart` and its deterministic
//! rendering as one `nft -f` transaction.
//!
//! Rampart owns only `table inet rampart`. Loading re-declares the table,
//! every set (a no-op for a set that exists, so its elements survive) and
//! the three base chains, flushes the chains and adds the rules again — all
//! in one transaction, so there is no moment with a half-loaded ruleset.
//! Sets that belong to lists no longer configured are deleted in the same
//! transaction (after the flush that drops the rules referring to them).

use std::fmt::Write as _;

use crate::addr::Family;
use crate::error::NftError;
use crate::filter::{AdvancedFilter, Direction, PortRange, render_ports};
use crate::guard::{Limits, ScanLog};
use crate::messenger::{self, Messenger};

/// The only table Rampart touches (family `inet`).
pub const TABLE: &str = "rampart";

/// The chain priority: `filter - 5`, before the usual filter chains of
/// other tables (a drop here is final; an accept lets the other tables
/// still decide).
pub const PRIORITY: &str = "filter - 5";

/// Which set pair a dynamic operation addresses. Each list is a pair of
/// interval+timeout sets, one per family (`allow4`/`allow6`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SetList {
    /// `allow4`/`allow6`: accepted before any deny (and opened by the port
    /// policy).
    Allow,
    /// `deny4`/`deny6`: manual and detector bans, permanent or temporary.
    Deny,
    /// `bl4_NAME`/`bl6_NAME`: one blocklist (validated name).
    Blocklist(String),
    /// `ccdeny4`/`ccdeny6`: the ranges of all denied countries.
    CountryDeny,
    /// `ccallow4`/`ccallow6`: the ranges of the only countries allowed
    /// (used when [`Ruleset::country_allow`] is set).
    CountryAllow,
    /// `page4`/`page6`: the bans told why (see [`crate::messenger`]); kept
    /// by the daemon's messenger, declared only when it is on.
    Page,
}

impl SetList {
    /// A blocklist's set pair, after checking its name: 1 to 32 characters
    /// of `a-z`, `0-9`, `_` and `-`.
    pub fn blocklist(name: &str) -> Result<SetList, NftError> {
        validate_list_name(name)?;
        Ok(SetList::Blocklist(name.to_string()))
    }

    /// The kernel set holding this list's addresses of `family`.
    pub fn set_name(&self, family: Family) -> Result<String, NftError> {
        let s = family.suffix();
        Ok(match self {
            SetList::Allow => format!("allow{s}"),
            SetList::Deny => format!("deny{s}"),
            SetList::Blocklist(n) => {
                validate_list_name(n)?;
                format!("bl{s}_{n}")
            }
            SetList::CountryDeny => format!("ccdeny{s}"),
            SetList::CountryAllow => format!("ccallow{s}"),
            SetList::Page => format!("page{s}"),
        })
    }
}

fn validate_list_name(name: &str) -> Result<(), NftError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NftError::SetName(format!(
            "{name} (a list name is 1-32 characters of a-z, 0-9, '_' and '-')"
        )))
    }
}

/// Which traffic a blocklist blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListDirection {
    /// Connections from the listed addresses (input and forward, by source).
    In,
    /// Connections to the listed addresses (output and forward, by
    /// destination).
    Out,
    /// Both.
    Both,
}

impl ListDirection {
    fn inbound(self) -> bool {
        matches!(self, ListDirection::In | ListDirection::Both)
    }
    fn outbound(self) -> bool {
        matches!(self, ListDirection::Out | ListDirection::Both)
    }
}

/// A configured blocklist (its elements are loaded separately, over
/// netlink).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Blocklist {
    /// The list name (`a-z0-9_-`, at most 32 characters).
    pub name: String,
    /// What it blocks.
    pub direction: ListDirection,
}

/// Ports for TCP and UDP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Ports {
    /// TCP ports and ranges.
    pub tcp: Vec<PortRange>,
    /// UDP ports and ranges.
    pub udp: Vec<PortRange>,
}

/// CSF's TCP_IN/UDP_IN/ICMP_IN (and optionally TCP_OUT/UDP_OUT/ICMP_OUT):
/// default-deny with the listed ports open, the same for IPv4 and IPv6.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortPolicy {
    /// Inbound ports open to everyone (TCP_IN, UDP_IN).
    pub inbound: Ports,
    /// Accept ICMP echo requests (ping) inbound (ICMP_IN).
    pub icmp_in: bool,
    /// The SSH port, always open inbound whatever `inbound` says.
    pub ssh_port: u16,
    /// Outbound restriction (TCP_OUT, UDP_OUT); `None` leaves outbound
    /// traffic open.
    pub outbound: Option<Ports>,
    /// Allow ICMP echo requests outbound (ICMP_OUT; only with `outbound`).
    pub icmp_out: bool,
}

/// Country-allow mode (CSF's CC_ALLOW_FILTER / CC_ALLOW_PORTS): only
/// addresses in `ccallow4`/`ccallow6` may open new connections — to every
/// port, or only to `ports` when given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountryAllow {
    /// Restrict only these ports (CC_ALLOW_PORTS); `None` restricts all.
    pub ports: Option<Ports>,
}

/// The filtering mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Default: only drop denied addresses; no port policy, policy accept.
    #[default]
    BanOnly,
    /// Default-deny inbound with the listed ports open.
    Strict(PortPolicy),
}

/// Everything the static skeleton of `table inet rampart` depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ruleset {
    /// Ban-only or strict.
    pub mode: Mode,
    /// Configured blocklists, one set pair each.
    pub blocklists: Vec<Blocklist>,
    /// Only allowed countries may connect (needs `ccallow*` loaded).
    pub country_allow: Option<CountryAllow>,
    /// Advanced allow filters (accepted right after the allow sets).
    pub allow_filters: Vec<AdvancedFilter>,
    /// Advanced deny filters (dropped right after the deny sets).
    pub deny_filters: Vec<AdvancedFilter>,
    /// Port-scan logging to NFLOG (see [`crate::guard`]'s documentation).
    pub scan_log: Option<ScanLog>,
    /// Per-source connection limits enforced in the kernel.
    pub limits: Limits,
    /// Blocked addresses redirected to the messenger (`None`: off).
    pub messenger: Option<Messenger>,
}

impl Ruleset {
    /// Every set list this ruleset declares, in declaration order.
    pub fn lists(&self) -> Vec<SetList> {
        let mut v = vec![SetList::Allow, SetList::Deny];
        v.extend(
            self.blocklists
                .iter()
                .map(|b| SetList::Blocklist(b.name.clone())),
        );
        v.push(SetList::CountryDeny);
        v.push(SetList::CountryAllow);
        v
    }

    /// Every kernel set name this ruleset declares.
    pub fn set_names(&self) -> Result<Vec<String>, NftError> {
        let mut v = Vec::new();
        for l in self.lists().into_iter().chain(self.extra_lists()) {
            v.push(l.set_name(Family::V4)?);
            v.push(l.set_name(Family::V6)?);
        }
        Ok(v)
    }

    /// The dynamic sets of the kernel limits (per-source meters; their
    /// contents are the kernel's, never loaded by Rampart).
    pub fn limit_set_names(&self) -> Vec<String> {
        self.limit_sets().into_iter().map(|(n, _)| n).collect()
    }

    /// The dynamic sets with their declarations: the limits' and the
    /// messenger's meters.
    fn limit_sets(&self) -> Vec<(String, String)> {
        let mut v = self.limits.sets();
        if let Some(m) = &self.messenger {
            v.extend(m.sets());
        }
        v
    }

    /// The set lists declared besides [`Ruleset::lists`]: the page sets
    /// when the messenger is on.
    fn extra_lists(&self) -> Vec<SetList> {
        match self.messenger {
            Some(_) => vec![SetList::Page],
            None => Vec::new(),
        }
    }

    /// Check names, duplicates and ports.
    pub fn validate(&self) -> Result<(), NftError> {
        self.limits.validate()?;
        if let Some(m) = &self.messenger {
            m.validate()?;
        }
        if let Some(s) = &self.scan_log {
            s.validate()?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in &self.blocklists {
            validate_list_name(&b.name)?;
            if !seen.insert(&b.name) {
                return Err(NftError::Ruleset(format!(
                    "blocklist {:?} is listed twice",
                    b.name
                )));
            }
        }
        if let Mode::Strict(p) = &self.mode
            && p.ssh_port == 0
        {
            return Err(NftError::Ruleset("the SSH port must be 1-65535".into()));
        }
        Ok(())
    }

    /// Render the whole load transaction (for `nft -f -`). `existing_sets`
    /// are the sets the table has now: those this ruleset no longer
    /// declares are deleted. The output is deterministic: the same ruleset
    /// and sets give the same bytes.
    pub fn render(&self, existing_sets: &[String]) -> Result<String, NftError> {
        self.validate()?;
        let mut o = String::new();
        let t = format!("inet {TABLE}");
        o.push_str("# Rampart ruleset: generated, do not edit (rampart apply rewrites it)\n");
        let _ = writeln!(o, "add table {t}");
        let mut names = self.set_names()?;
        names.extend(self.limit_set_names());
        for list in self.lists().into_iter().chain(self.extra_lists()) {
            for (fam, ty) in [(Family::V4, "ipv4_addr"), (Family::V6, "ipv6_addr")] {
                let name = list.set_name(fam)?;
                let _ = writeln!(
                    o,
                    "add set {t} {name} {{ type {ty}; flags interval, timeout; }}"
                );
            }
        }
        for (name, decl) in self.limit_sets() {
            let _ = writeln!(o, "add set {t} {name} {decl}");
        }
        let strict = match &self.mode {
            Mode::Strict(p) => Some(p),
            Mode::BanOnly => None,
        };
        let in_policy = if strict.is_some() { "drop" } else { "accept" };
        let out_policy = if strict.is_some_and(|p| p.outbound.is_some()) {
            "drop"
        } else {
            "accept"
        };
        for (chain, hook, policy) in [
            ("input", "input", in_policy),
            ("forward", "forward", "accept"),
            ("output", "output", out_policy),
        ] {
            let _ = writeln!(
                o,
                "add chain {t} {chain} {{ type filter hook {hook} priority {PRIORITY}; policy {policy}; }}"
            );
        }
        let mut helpers = self.limits.chains();
        if let Some(s) = &self.scan_log {
            helpers.push(("scan", s.chain_rules(strict.is_some())));
        }
        for (chain, _) in &helpers {
            let _ = writeln!(o, "add chain {t} {chain}");
        }
        if self.messenger.is_some() {
            let (c, decl) = (messenger::CHAIN, Messenger::chain_decl());
            let _ = writeln!(o, "add chain {t} {c} {decl}");
            let _ = writeln!(o, "flush chain {t} {c}");
        }
        for chain in ["input", "forward", "output"]
            .into_iter()
            .chain(helpers.iter().map(|(c, _)| *c))
        {
            let _ = writeln!(o, "flush chain {t} {chain}");
        }
        let mut stale: Vec<&String> = existing_sets
            .iter()
            .filter(|s| !names.contains(s))
            .collect();
        stale.sort();
        stale.dedup();
        if self.messenger.is_none() && stale.iter().any(|s| *s == "page4") {
            o.push_str(&Messenger::removal(&t));
        }
        for s in stale {
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(NftError::SetName(s.clone()));
            }
            let _ = writeln!(o, "delete set {t} {s}");
        }
        for (chain, rules) in [
            ("input", self.input_rules(strict)?),
            ("forward", self.forward_rules()?),
            ("output", self.output_rules(strict)?),
        ]
        .into_iter()
        .chain(helpers)
        .chain(
            self.messenger
                .iter()
                .map(|m| (messenger::CHAIN, m.nat_rules())),
        ) {
            for r in rules {
                let _ = writeln!(o, "add rule {t} {chain} {r}");
            }
        }
        Ok(o)
    }

    /// The transaction that removes our table (and nothing else), whether
    /// it exists or not.
    pub fn render_flush() -> String {
        format!("add table inet {TABLE}\ndelete table inet {TABLE}\n")
    }

    fn input_rules(&self, strict: Option<&PortPolicy>) -> Result<Vec<String>, NftError> {
        let mut r = vec!["iif \"lo\" accept".to_string()];
        pair(&mut r, "saddr", &SetList::Allow, "accept")?;
        filters(&mut r, &self.allow_filters, Direction::In, "accept");
        if let Some(m) = &self.messenger {
            r.extend(m.input_rules());
        }
        pair(&mut r, "saddr", &SetList::Deny, "counter drop")?;
        filters(&mut r, &self.deny_filters, Direction::In, "drop");
        for b in self.blocklists.iter().filter(|b| b.direction.inbound()) {
            pair(
                &mut r,
                "saddr",
                &SetList::Blocklist(b.name.clone()),
                "counter drop",
            )?;
        }
        pair(&mut r, "saddr", &SetList::CountryDeny, "counter drop")?;
        if let Some(ca) = &self.country_allow {
            for fam in [Family::V4, Family::V6] {
                let (p, set) = (ip_word(fam), SetList::CountryAllow.set_name(fam)?);
                let base = format!("ct state new {p} saddr != @{set}");
                match &ca.ports {
                    None => r.push(format!("{base} counter drop")),
                    Some(ports) => {
                        if !ports.tcp.is_empty() {
                            r.push(format!(
                                "{base} tcp dport {} counter drop",
                                render_ports(&ports.tcp)
                            ));
                        }
                        if !ports.udp.is_empty() {
                            r.push(format!(
                                "{base} udp dport {} counter drop",
                                render_ports(&ports.udp)
                            ));
                        }
                    }
                }
            }
        }
        r.extend(self.limits.input_rules());
        if let Some(p) = strict {
            r.push("ct state established,related accept".into());
            r.push("ct state invalid counter drop".into());
            r.push(ICMP4_ESSENTIAL.into());
            r.push(ICMP6_ESSENTIAL.into());
            if p.icmp_in {
                r.push("icmp type echo-request accept".into());
                r.push("icmpv6 type echo-request accept".into());
            }
            let mut tcp = p.inbound.tcp.clone();
            tcp.push(PortRange::one(p.ssh_port));
            tcp.sort_unstable();
            tcp.dedup();
            r.push(format!("tcp dport {} accept", render_ports(&tcp)));
            if !p.inbound.udp.is_empty() {
                r.push(format!("udp dport {} accept", render_ports(&p.inbound.udp)));
            }
        }
        if self.scan_log.is_some() {
            r.push(ScanLog::input_rule().to_string());
        }
        Ok(r)
    }

    fn forward_rules(&self) -> Result<Vec<String>, NftError> {
        let mut r = Vec::new();
        pair(&mut r, "saddr", &SetList::Allow, "accept")?;
        pair(&mut r, "daddr", &SetList::Allow, "accept")?;
        pair(&mut r, "saddr", &SetList::Deny, "counter drop")?;
        pair(&mut r, "daddr", &SetList::Deny, "counter drop")?;
        for b in &self.blocklists {
            let l = SetList::Blocklist(b.name.clone());
            if b.direction.inbound() {
                pair(&mut r, "saddr", &l, "counter drop")?;
            }
            if b.direction.outbound() {
                pair(&mut r, "daddr", &l, "counter drop")?;
            }
        }
        pair(&mut r, "saddr", &SetList::CountryDeny, "counter drop")?;
        Ok(r)
    }

    fn output_rules(&self, strict: Option<&PortPolicy>) -> Result<Vec<String>, NftError> {
        let mut r = vec!["oif \"lo\" accept".to_string()];
        pair(&mut r, "daddr", &SetList::Allow, "accept")?;
        filters(&mut r, &self.allow_filters, Direction::Out, "accept");
        // Replies to connections the input chain admitted (say an allow
        // filter for a denied address) must leave; outbound denies are
        // about connections this host opens.
        r.push("ct direction reply accept".into());
        pair(&mut r, "daddr", &SetList::Deny, "counter drop")?;
        filters(&mut r, &self.deny_filters, Direction::Out, "drop");
        for b in self.blocklists.iter().filter(|b| b.direction.outbound()) {
            pair(
                &mut r,
                "daddr",
                &SetList::Blocklist(b.name.clone()),
                "counter drop",
            )?;
        }
        if let Some(p) = strict
            && let Some(out) = &p.outbound
        {
            r.push("ct state established,related accept".into());
            r.push(ICMP4_ESSENTIAL.into());
            r.push(ICMP6_ESSENTIAL.into());
            if p.icmp_out {
                r.push("icmp type echo-request accept".into());
                r.push("icmpv6 type echo-request accept".into());
            }
            if !out.tcp.is_empty() {
                r.push(format!("tcp dport {} accept", render_ports(&out.tcp)));
            }
            if !out.udp.is_empty() {
                r.push(format!("udp dport {} accept", render_ports(&out.udp)));
            }
        }
        Ok(r)
    }
}

/// ICMP errors needed for path MTU discovery and error reporting.
const ICMP4_ESSENTIAL: &str =
    "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept";
/// ICMPv6 without which IPv6 breaks (neighbour discovery, PMTU, MLD).
const ICMP6_ESSENTIAL: &str = "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, mld-listener-report, mld2-listener-report } accept";

fn ip_word(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

fn pair(r: &mut Vec<String>, field: &str, list: &SetList, verdict: &str) -> Result<(), NftError> {
    for fam in [Family::V4, Family::V6] {
        r.push(format!(
            "{} {field} @{} {verdict}",
            ip_word(fam),
            list.set_name(fam)?
        ));
    }
    Ok(())
}

fn filters(r: &mut Vec<String>, fs: &[AdvancedFilter], dir: Direction, verdict: &str) {
    for f in fs.iter().filter(|f| f.direction == dir) {
        r.extend(f.render(verdict));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names() {
        assert_eq!(
            SetList::blocklist("spamhaus_drop")
                .and_then(|l| l.set_name(Family::V6))
                .expect("name"),
            "bl6_spamhaus_drop"
        );
        assert!(SetList::blocklist("Bad Name").is_err());
        assert!(SetList::blocklist("").is_err());
        assert!(
            SetList::Blocklist("x;y".into())
                .set_name(Family::V4)
                .is_err()
        );
    }

    #[test]
    fn render_is_deterministic_and_drops_stale_sets() {
        let rs = Ruleset::default();
        let a = rs
            .render(&["bl4_old".into(), "deny4".into()])
            .expect("render");
        let b = rs
            .render(&["deny4".into(), "bl4_old".into()])
            .expect("render");
        assert_eq!(a, b);
        assert!(a.contains("delete set inet rampart bl4_old\n"));
        assert!(!a.contains("delete set inet rampart deny4"));
        let dup = Ruleset {
            blocklists: vec![
                Blocklist {
                    name: "x".into(),
                    direction: ListDirection::In,
                },
                Blocklist {
                    name: "x".into(),
                    direction: ListDirection::Out,
                },
            ],
            ..Ruleset::default()
        };
        assert!(dup.render(&[]).is_err());
    }
}
