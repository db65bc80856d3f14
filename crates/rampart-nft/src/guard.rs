//! Kernel-side guards of the `input` chain: port-scan logging to NFLOG and
//! per-source connection limits (CSF's CONNLIMIT, PORTFLOOD and a
//! per-source SYNFLOOD), each reporting its drops to NFLOG with its own
//! prefix so the daemon can ban with the right reason.
//!
//! # Port-scan logging ([`ScanLog`])
//!
//! At the very end of `input`, `meta pkttype host ct state new jump scan`:
//! only unicast packets to this host that open a *new* conntrack entry get
//! there. Replies to connections this host started (a DNS answer arriving
//! on a high UDP port, a SYN-ACK) are `established` and never logged; nor
//! are `invalid` packets or TCP packets other than a bare SYN (an ACK to a
//! forgotten connection is not a scan). In the `scan` chain:
//!
//! - **strict mode**: everything reaching the end of `input` is about to be
//!   dropped by the policy — the port is closed by definition (even if a
//!   program listens on it), as CSF counts its `*_IN Blocked` lines;
//! - **ban-only mode** (policy accept, no port list): a port is closed when
//!   no socket would take the packet. `socket transparent { 0, 1 } return`
//!   does the kernel's own socket lookup (listening TCP sockets, bound UDP
//!   sockets; `nft_socket`, kernel >= 4.19): a packet for which a socket
//!   exists returns, the rest — which the kernel answers with a RST or an
//!   ICMP port-unreachable — is logged.
//!
//! Then `tcp flags & (fin|syn|rst|ack) == syn` and `meta l4proto udp`,
//! rate-limited (global, [`ScanLog::rate_per_second`], burst twice that),
//! are logged with prefix [`PREFIX_SCAN`] to the NFLOG group with
//! `queue-threshold 1` (no batching delay) and a short snaplen (headers
//! only). Scan packets are not dropped by this chain: the verdict is the
//! mode's (RST in ban-only mode, the drop policy in strict mode).
//!
//! # Limits ([`Limits`])
//!
//! Placed after the deny and country rules (allowed addresses are never
//! limited) and before strict mode's `established,related` accept; they
//! only look at `ct state new`:
//!
//! - SYNFLOOD: `tcp flags & (fin|syn|rst|ack) == syn ct state new update
//!   @sf4 { ip saddr limit rate over R/second burst B packets } jump
//!   synflood` — a token bucket *per source*, not CSF's global one;
//! - CONNLIMIT: `tcp dport P ct state new add @cl4_P { ip saddr ct count
//!   over N } jump connlimit` — concurrent conntrack entries per source
//!   and port;
//! - PORTFLOOD: `tcp dport P ct state new update @pf4_tcpP { ip saddr limit
//!   rate over H/period burst H packets } jump portflood` — new
//!   connections per source and port; the element's timeout equals the
//!   period and is refreshed by every packet, so the bucket is only
//!   forgotten after a quiet period.
//!
//! IPv6 sources are keyed per [`Limits::ipv6_prefix`] (`/64` by default:
//! `ip6 saddr & ffff:ffff:ffff:ffff::`), like the log tracker. Each
//! `connlimit`/`portflood`/`synflood` chain logs (rate-limited, to
//! [`Limits::log_group`] when set) with its prefix, then `counter drop`.
//! The dynamic sets are bounded (`size` [`METER_SIZE`]): when one is full
//! new sources are not limited (the kernel fails open), which the timeouts
//! and the conntrack garbage collection keep rare.

use std::fmt::Write as _;

use crate::error::NftError;
use crate::filter::Protocol;

/// NFLOG prefix of port-scan packets.
pub const PREFIX_SCAN: &str = "rampart scan ";
/// NFLOG prefix of packets dropped by a CONNLIMIT rule.
pub const PREFIX_CONNLIMIT: &str = "rampart connlimit ";
/// NFLOG prefix of packets dropped by a PORTFLOOD rule.
pub const PREFIX_PORTFLOOD: &str = "rampart portflood ";
/// NFLOG prefix of packets dropped by the SYNFLOOD rule.
pub const PREFIX_SYNFLOOD: &str = "rampart synflood ";

/// Bytes of each logged packet copied to userspace: network and transport
/// headers (an IPv4 header with options is at most 60 bytes).
pub const SNAPLEN: u16 = 96;

/// Maximum number of sources (keys) of each dynamic limit set.
pub const METER_SIZE: u32 = 65_535;

/// Rate limit of the NFLOG reports of limit drops (per chain, all sources).
const LIMIT_LOG_RATE: &str = "limit rate 50/second burst 100 packets";

/// What a logged packet was logged for, from its NFLOG prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// A new connection attempt to a closed port ([`PREFIX_SCAN`]).
    Scan,
    /// Dropped: too many concurrent connections to a port.
    ConnLimit,
    /// Dropped: too many new connections to a port in the period.
    PortFlood,
    /// Dropped: SYN rate of the source over the limit.
    SynFlood,
    /// Another prefix (not one of ours).
    Other,
}

impl LogKind {
    /// Classify an NFLOG prefix.
    pub fn from_prefix(prefix: &str) -> LogKind {
        match prefix {
            PREFIX_SCAN => LogKind::Scan,
            PREFIX_CONNLIMIT => LogKind::ConnLimit,
            PREFIX_PORTFLOOD => LogKind::PortFlood,
            PREFIX_SYNFLOOD => LogKind::SynFlood,
            _ => LogKind::Other,
        }
    }
}

/// Port-scan logging: new inbound connection attempts to closed ports are
/// sent to an NFLOG group (see the module documentation for what "closed"
/// means in each mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScanLog {
    /// The NFLOG group ([`crate::NflogReceiver::bind`] the same number).
    pub group: u16,
    /// At most this many packets per second are logged (all sources
    /// together; burst twice that). 0 is refused.
    pub rate_per_second: u32,
}

impl ScanLog {
    /// Logging to `group` at up to 200 packets per second.
    pub fn new(group: u16) -> ScanLog {
        ScanLog {
            group,
            rate_per_second: 200,
        }
    }
}

/// CSF's CONNLIMIT entry `port;limit`: at most `limit` concurrent TCP
/// connections per source to `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnLimit {
    /// The local TCP port.
    pub port: u16,
    /// Connections allowed at once; the next one is dropped.
    pub limit: u32,
}

/// CSF's PORTFLOOD entry `port;proto;hits;seconds`: at most `hits` new
/// connections per source to `port` in `seconds` (a token bucket of `hits`
/// refilled at `hits/seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortFlood {
    /// The local port.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// New connections allowed in the period.
    pub hits: u32,
    /// The period, in seconds.
    pub seconds: u32,
}

/// A per-source SYN rate limit (CSF's SYNFLOOD_RATE/SYNFLOOD_BURST, but per
/// source instead of global).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SynFlood {
    /// SYNs per second per source.
    pub rate_per_second: u32,
    /// Burst allowed above the rate.
    pub burst: u32,
}

/// Per-source limits enforced in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// NFLOG group the drops are reported to (rate-limited), with prefixes
    /// [`PREFIX_CONNLIMIT`], [`PREFIX_PORTFLOOD`], [`PREFIX_SYNFLOOD`];
    /// `None`: counted only.
    pub log_group: Option<u16>,
    /// CONNLIMIT entries (one per port).
    pub conn: Vec<ConnLimit>,
    /// PORTFLOOD entries (one per protocol and port).
    pub port_flood: Vec<PortFlood>,
    /// SYNFLOOD per source.
    pub syn_flood: Option<SynFlood>,
    /// IPv6 sources are counted per network of this many bits (64).
    pub ipv6_prefix: u8,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            log_group: None,
            conn: Vec::new(),
            port_flood: Vec::new(),
            syn_flood: None,
            ipv6_prefix: 64,
        }
    }
}

impl Limits {
    /// Whether no limit is configured.
    pub fn is_empty(&self) -> bool {
        self.conn.is_empty() && self.port_flood.is_empty() && self.syn_flood.is_none()
    }

    pub(crate) fn validate(&self) -> Result<(), NftError> {
        let bad = |m: String| Err(NftError::Ruleset(m));
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.conn {
            if c.port == 0 || c.limit == 0 {
                return bad(format!(
                    "connection limit {};{}: the port and the limit must be at least 1",
                    c.port, c.limit
                ));
            }
            if !seen.insert(c.port) {
                return bad(format!("connection limit for port {} given twice", c.port));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.port_flood {
            if p.port == 0 || p.hits == 0 || p.seconds == 0 {
                return bad(format!(
                    "port flood {};{};{}: port, hits and seconds must be at least 1",
                    p.port, p.hits, p.seconds
                ));
            }
            if p.protocol == Protocol::Icmp {
                return bad(format!("port flood {}: TCP or UDP only", p.port));
            }
            if !seen.insert((p.port, proto_word(p.protocol))) {
                return bad(format!("port flood for port {} given twice", p.port));
            }
        }
        if let Some(s) = &self.syn_flood
            && (s.rate_per_second == 0 || s.burst == 0)
        {
            return bad("SYN flood rate and burst must be at least 1".into());
        }
        if self.ipv6_prefix == 0 || self.ipv6_prefix > 128 {
            return bad("the IPv6 prefix of limits must be 1-128".into());
        }
        Ok(())
    }

    /// The dynamic sets: `(name, declaration)`.
    pub(crate) fn sets(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let decl = |ty: &str, timeout: Option<u32>| match timeout {
            None => format!("{{ type {ty}; size {METER_SIZE}; flags dynamic; }}"),
            Some(t) => {
                format!("{{ type {ty}; size {METER_SIZE}; flags dynamic, timeout; timeout {t}s; }}")
            }
        };
        if let Some(s) = &self.syn_flood {
            // Long enough for the bucket to refill completely.
            let t = s.burst.div_ceil(s.rate_per_second).max(10);
            v.push(("sf4".to_string(), decl("ipv4_addr", Some(t))));
            v.push(("sf6".to_string(), decl("ipv6_addr", Some(t))));
        }
        for c in &self.conn {
            v.push((format!("cl4_{}", c.port), decl("ipv4_addr", None)));
            v.push((format!("cl6_{}", c.port), decl("ipv6_addr", None)));
        }
        for p in &self.port_flood {
            let w = proto_word(p.protocol);
            v.push((
                format!("pf4_{w}{}", p.port),
                decl("ipv4_addr", Some(p.seconds)),
            ));
            v.push((
                format!("pf6_{w}{}", p.port),
                decl("ipv6_addr", Some(p.seconds)),
            ));
        }
        v
    }

    /// The regular chains this needs, with their rules.
    pub(crate) fn chains(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut v = Vec::new();
        let mut chain = |name: &'static str, prefix: &str| {
            let mut rules = Vec::new();
            if let Some(g) = self.log_group {
                rules.push(format!("{LIMIT_LOG_RATE} {}", log_stmt(prefix, g)));
            }
            rules.push("counter drop".to_string());
            v.push((name, rules));
        };
        if self.syn_flood.is_some() {
            chain("synflood", PREFIX_SYNFLOOD);
        }
        if !self.conn.is_empty() {
            chain("connlimit", PREFIX_CONNLIMIT);
        }
        if !self.port_flood.is_empty() {
            chain("portflood", PREFIX_PORTFLOOD);
        }
        v
    }

    fn key(&self, v6: bool) -> String {
        source_key(self.ipv6_prefix, v6)
    }

    /// The `input` rules jumping to the limit chains.
    pub(crate) fn input_rules(&self) -> Vec<String> {
        let mut r = Vec::new();
        let fams = [("4", false), ("6", true)];
        if let Some(s) = &self.syn_flood {
            for (f, v6) in fams {
                r.push(format!(
                    "{TCP_SYN} ct state new update @sf{f} {{ {} limit rate over {}/second burst {} packets }} jump synflood",
                    self.key(v6),
                    s.rate_per_second,
                    s.burst
                ));
            }
        }
        for c in &self.conn {
            for (f, v6) in fams {
                r.push(format!(
                    "tcp dport {} ct state new add @cl{f}_{} {{ {} ct count over {} }} jump connlimit",
                    c.port,
                    c.port,
                    self.key(v6),
                    c.limit
                ));
            }
        }
        for p in &self.port_flood {
            let w = proto_word(p.protocol);
            let (rate, unit) = bucket_rate(p.hits, p.seconds);
            for (f, v6) in fams {
                r.push(format!(
                    "{w} dport {} ct state new update @pf{f}_{w}{} {{ {} limit rate over {rate}/{unit} burst {} packets }} jump portflood",
                    p.port,
                    p.port,
                    self.key(v6),
                    p.hits
                ));
            }
        }
        r
    }
}

/// A bare SYN (no FIN, RST or ACK).
const TCP_SYN: &str = "tcp flags & (fin|syn|rst|ack) == syn";

/// The per-source meter key: the IPv4 source, or the IPv6 source's
/// network of `ipv6_prefix` bits.
pub(crate) fn source_key(ipv6_prefix: u8, v6: bool) -> String {
    if !v6 {
        return "ip saddr".into();
    }
    if ipv6_prefix >= 128 {
        return "ip6 saddr".into();
    }
    let mask = u128::MAX << (128 - u32::from(ipv6_prefix));
    format!("ip6 saddr & {}", std::net::Ipv6Addr::from(mask))
}

fn proto_word(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "udp",
        _ => "tcp",
    }
}

fn log_stmt(prefix: &str, group: u16) -> String {
    format!("log prefix \"{prefix}\" group {group} queue-threshold 1 snaplen {SNAPLEN}")
}

/// `hits` per `seconds` as an nft rate: the largest exact rate in the
/// smallest unit, rounded up in days when nothing is exact.
fn bucket_rate(hits: u32, seconds: u32) -> (u64, &'static str) {
    let (h, s) = (u64::from(hits), u64::from(seconds.max(1)));
    for (unit_secs, unit) in [
        (1u64, "second"),
        (60, "minute"),
        (3600, "hour"),
        (86_400, "day"),
    ] {
        let n = h * unit_secs;
        if n >= s && n % s == 0 {
            return (n / s, unit);
        }
    }
    ((h * 86_400).div_ceil(s).max(1), "day")
}

impl ScanLog {
    pub(crate) fn validate(&self) -> Result<(), NftError> {
        if self.rate_per_second == 0 {
            return Err(NftError::Ruleset(
                "the port-scan log rate must be at least 1 per second".into(),
            ));
        }
        Ok(())
    }

    /// The `scan` chain's rules; `strict`: the input policy drops.
    pub(crate) fn chain_rules(&self, strict: bool) -> Vec<String> {
        let mut r = Vec::new();
        if !strict {
            // A socket would take the packet: the port is open.
            r.push("socket transparent { 0, 1 } return".to_string());
        }
        let mut limit = String::new();
        let _ = write!(
            limit,
            "limit rate {}/second burst {} packets {}",
            self.rate_per_second,
            self.rate_per_second.saturating_mul(2),
            log_stmt(PREFIX_SCAN, self.group)
        );
        r.push(format!("{TCP_SYN} {limit}"));
        r.push(format!("meta l4proto udp {limit}"));
        r
    }

    /// The rule at the end of `input`.
    pub(crate) fn input_rule() -> &'static str {
        "meta pkttype host ct state new jump scan"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(bucket_rate(5, 1), (5, "second"));
        assert_eq!(bucket_rate(20, 5), (4, "second"));
        assert_eq!(bucket_rate(5, 300), (1, "minute"));
        assert_eq!(bucket_rate(4, 60), (4, "minute"));
        assert_eq!(bucket_rate(7, 3600), (7, "hour"));
        assert_eq!(bucket_rate(7, 7000), (87, "day"));
    }

    #[test]
    fn prefixes_classify() {
        assert_eq!(LogKind::from_prefix(PREFIX_SCAN), LogKind::Scan);
        assert_eq!(LogKind::from_prefix(PREFIX_SYNFLOOD), LogKind::SynFlood);
        assert_eq!(LogKind::from_prefix("other"), LogKind::Other);
    }

    #[test]
    fn validation() {
        let mut l = Limits {
            conn: vec![ConnLimit { port: 22, limit: 5 }],
            ..Limits::default()
        };
        assert!(l.validate().is_ok());
        l.conn.push(ConnLimit { port: 22, limit: 9 });
        assert!(l.validate().is_err());
        let l = Limits {
            port_flood: vec![PortFlood {
                port: 80,
                protocol: Protocol::Icmp,
                hits: 1,
                seconds: 1,
            }],
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            syn_flood: Some(SynFlood {
                rate_per_second: 0,
                burst: 1,
            }),
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        assert_eq!(
            Limits::default().key(true),
            "ip6 saddr & ffff:ffff:ffff:ffff::"
        );
        let l = Limits {
            ipv6_prefix: 128,
            ..Limits::default()
        };
        assert_eq!(l.key(true), "ip6 saddr");
    }
}
