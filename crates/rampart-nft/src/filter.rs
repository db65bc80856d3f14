//! CSF-style advanced filters: `tcp|in|d=22|s=198.51.100.0/24`.
//!
//! Fields are separated by `|`: an optional protocol (`tcp`, the default,
//! `udp` or `icmp`), an optional direction (`in`, the default, or `out`),
//! a port `s=PORTS`/`d=PORTS` (a comma list of ports and `a_b` ranges; for
//! ICMP the type: `ping`, `pong`, a name or a number), an address
//! `s=IP`/`d=IP` (address or CIDR) and an owner `u=UID`/`g=GID` (outbound
//! only). Empty fields are skipped, as in CSF.

use std::fmt;
use std::str::FromStr;

use crate::addr::{Family, IpRange};
use crate::error::NftError;

/// The protocol a filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (ICMPv6 for IPv6 addresses).
    Icmp,
}

/// The direction of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Inbound (the `input` chain).
    In,
    /// Outbound (the `output` chain).
    Out,
}

/// Which end of a packet a port or an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `s=`: the sender.
    Source,
    /// `d=`: the receiver.
    Destination,
}

impl Side {
    fn word(self) -> &'static str {
        match self {
            Side::Source => "s",
            Side::Destination => "d",
        }
    }
}

/// An inclusive port range (`first == last` for one port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port, inclusive.
    pub last: u16,
}

impl PortRange {
    /// One port.
    pub fn one(port: u16) -> PortRange {
        PortRange {
            first: port,
            last: port,
        }
    }
}

impl fmt::Display for PortRange {
    /// nft syntax: `22` or `2000-3000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Parse a port list: `22`, `22,80,443`, `2000_3000` or `2000-3000`
/// (also `2000:3000`, as in CSF's TCP_IN), comma-separated. Ports are
/// 1..=65535.
pub fn parse_ports(text: &str) -> Result<Vec<PortRange>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("empty port in {text:?}"));
        }
        let (a, b) = match part.split_once(['_', '-', ':']) {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let port = |s: &str| -> Result<u16, String> {
            match s.trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(format!("{s:?} is not a port (1-65535)")),
            }
        };
        let (first, last) = (port(a)?, port(b)?);
        if first > last {
            return Err(format!("port range {part:?} runs backwards"));
        }
        out.push(PortRange { first, last });
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Render a port list as an nft expression operand: `22` or `{ 22, 80 }`.
pub fn render_ports(ports: &[PortRange]) -> String {
    if let [one] = ports {
        return one.to_string();
    }
    let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
    format!("{{ {} }}", list.join(", "))
}

/// An ICMP type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpType {
    /// Echo request (`ping`).
    EchoRequest,
    /// Echo reply (`pong`).
    EchoReply,
    /// Destination unreachable.
    DestinationUnreachable,
    /// Time exceeded.
    TimeExceeded,
    /// A numeric type (the same number for ICMP and ICMPv6 — numbers differ
    /// between the two, so it is meant for one family).
    Number(u8),
}

impl IcmpType {
    fn parse(s: &str) -> Option<IcmpType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "ping" | "echo-request" => IcmpType::EchoRequest,
            "pong" | "echo-reply" => IcmpType::EchoReply,
            "destination-unreachable" => IcmpType::DestinationUnreachable,
            "time-exceeded" => IcmpType::TimeExceeded,
            n => IcmpType::Number(n.parse().ok()?),
        })
    }

    fn render(self) -> String {
        match self {
            IcmpType::EchoRequest => "echo-request".into(),
            IcmpType::EchoReply => "echo-reply".into(),
            IcmpType::DestinationUnreachable => "destination-unreachable".into(),
            IcmpType::TimeExceeded => "time-exceeded".into(),
            IcmpType::Number(n) => n.to_string(),
        }
    }
}

/// What the port field of a filter says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// TCP/UDP ports on one side.
    Ports(Side, Vec<PortRange>),
    /// An ICMP type.
    Icmp(IcmpType),
}

/// A socket owner match (outbound only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// `u=UID`.
    Uid(u32),
    /// `g=GID`.
    Gid(u32),
}

/// A parsed advanced filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdvancedFilter {
    /// The protocol (default TCP).
    pub protocol: Protocol,
    /// The direction (default in; out when an owner is given).
    pub direction: Direction,
    /// The port or ICMP type, if any.
    pub port: Option<PortMatch>,
    /// The address and its side, if any.
    pub address: Option<(Side, IpRange)>,
    /// The owner, if any.
    pub owner: Option<Owner>,
    text: String,
}

impl AdvancedFilter {
    /// The filter as it was written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The base chain the filter goes in.
    pub fn chain(&self) -> &'static str {
        match self.direction {
            Direction::In => "input",
            Direction::Out => "output",
        }
    }

    /// Render the nft rules (one, or one per family for ICMP without an
    /// address) with the given verdict (`accept` or `drop`).
    pub fn render(&self, verdict: &str) -> Vec<String> {
        let families: Vec<Option<Family>> = match (&self.address, self.protocol) {
            (Some((_, r)), _) => vec![Some(r.family())],
            (None, Protocol::Icmp) => vec![Some(Family::V4), Some(Family::V6)],
            (None, _) => vec![None],
        };
        let mut rules = Vec::new();
        for fam in families {
            let mut parts: Vec<String> = Vec::new();
            if let Some((side, range)) = &self.address {
                let proto = if range.family() == Family::V4 {
                    "ip"
                } else {
                    "ip6"
                };
                let field = if *side == Side::Source {
                    "saddr"
                } else {
                    "daddr"
                };
                parts.push(format!("{proto} {field} {range}"));
            }
            match (self.protocol, &self.port) {
                (Protocol::Tcp | Protocol::Udp, Some(PortMatch::Ports(side, ports))) => {
                    let p = if self.protocol == Protocol::Tcp {
                        "tcp"
                    } else {
                        "udp"
                    };
                    let field = if *side == Side::Source {
                        "sport"
                    } else {
                        "dport"
                    };
                    parts.push(format!("{p} {field} {}", render_ports(ports)));
                }
                (Protocol::Tcp, _) => parts.push("meta l4proto tcp".into()),
                (Protocol::Udp, _) => parts.push("meta l4proto udp".into()),
                (Protocol::Icmp, port) => {
                    let v6 = fam == Some(Family::V6);
                    match port {
                        Some(PortMatch::Icmp(t)) => {
                            let p = if v6 { "icmpv6" } else { "icmp" };
                            parts.push(format!("{p} type {}", t.render()));
                        }
                        _ => parts.push(if v6 {
                            "meta l4proto ipv6-icmp".into()
                        } else {
                            "meta l4proto icmp".into()
                        }),
                    }
                }
            }
            match self.owner {
                Some(Owner::Uid(u)) => parts.push(format!("meta skuid {u}")),
                Some(Owner::Gid(g)) => parts.push(format!("meta skgid {g}")),
                None => {}
            }
            parts.push("counter".into());
            parts.push(verdict.to_string());
            if self.text.len() <= 120 {
                parts.push(format!("comment \"{}\"", self.text));
            }
            rules.push(parts.join(" "));
        }
        rules
    }
}

impl fmt::Display for AdvancedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for AdvancedFilter {
    type Err = NftError;

    fn from_str(input: &str) -> Result<AdvancedFilter, NftError> {
        let text = input.trim();
        let err = |reason: String| NftError::Filter {
            input: text.to_string(),
            reason,
        };
        if !text.contains('|') && !text.contains('=') {
            return Err(err(
                "not an advanced filter (expected fields separated by '|', like tcp|in|d=22|s=198.51.100.0/24)".into(),
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "|=.:/_,-".contains(*c)))
        {
            return Err(err(format!("unexpected character {c:?}")));
        }
        let mut protocol = None;
        let mut direction = None;
        let mut port_text: Option<(Side, &str, usize)> = None;
        let mut address = None;
        let mut owner = None;
        for (i, field) in text.split('|').enumerate() {
            let n = i + 1;
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            let lower = field.to_ascii_lowercase();
            match lower.as_str() {
                "tcp" | "udp" | "icmp" => {
                    if protocol.is_some() || direction.is_some() || port_text.is_some() {
                        return Err(err(format!(
                            "field {n} {field:?}: the protocol must come first and only once"
                        )));
                    }
                    protocol = Some(match lower.as_str() {
                        "tcp" => Protocol::Tcp,
                        "udp" => Protocol::Udp,
                        _ => Protocol::Icmp,
                    });
                    continue;
                }
                "in" | "out" => {
                    if direction.is_some() || port_text.is_some() || address.is_some() {
                        return Err(err(format!(
                            "field {n} {field:?}: the direction must come before ports and addresses, and only once"
                        )));
                    }
                    direction = Some(if lower == "in" {
                        Direction::In
                    } else {
                        Direction::Out
                    });
                    continue;
                }
                _ => {}
            }
            let Some((key, value)) = field.split_once('=') else {
                return Err(err(format!(
                    "field {n} {field:?}: expected tcp/udp/icmp, in/out, s=PORT, d=PORT, s=IP, d=IP, u=UID or g=GID"
                )));
            };
            let side = match key.to_ascii_lowercase().as_str() {
                "s" => Side::Source,
                "d" => Side::Destination,
                "u" | "g" => {
                    let id: u32 = value.parse().map_err(|_| {
                        err(format!(
                            "field {n} {field:?}: {value:?} is not a numeric id"
                        ))
                    })?;
                    if owner.is_some() {
                        return Err(err(format!("field {n} {field:?}: only one owner allowed")));
                    }
                    owner = Some(if key.eq_ignore_ascii_case("u") {
                        Owner::Uid(id)
                    } else {
                        Owner::Gid(id)
                    });
                    continue;
                }
                _ => {
                    return Err(err(format!(
                        "field {n} {field:?}: unknown key {key:?} (expected s=, d=, u= or g=)"
                    )));
                }
            };
            if value.is_empty() {
                return Err(err(format!("field {n} {field:?}: empty value")));
            }
            let parsed = value.parse::<IpRange>();
            let looks_like_ip = parsed.is_ok()
                || value.contains('.')
                || value.contains('/')
                || value.matches(':').count() >= 2;
            if looks_like_ip {
                if address.is_some() {
                    return Err(err(format!(
                        "field {n} {field:?}: only one address allowed"
                    )));
                }
                let range: IpRange = parsed.map_err(|e| match e {
                    NftError::Address { reason, .. } => {
                        err(format!("field {n} {field:?}: {reason}"))
                    }
                    other => other,
                })?;
                address = Some((side, range));
            } else {
                if port_text.is_some() {
                    return Err(err(format!(
                        "field {n} {field:?}: only one port field allowed"
                    )));
                }
                if address.is_some() {
                    return Err(err(format!(
                        "field {n} {field:?}: the port must come before the address"
                    )));
                }
                port_text = Some((side, value, n));
            }
        }
        let protocol = protocol.unwrap_or(Protocol::Tcp);
        if owner.is_some() && direction == Some(Direction::In) {
            return Err(err("u=/g= (owner) only works outbound; use out".into()));
        }
        let direction = if owner.is_some() {
            Direction::Out
        } else {
            direction.unwrap_or(Direction::In)
        };
        let port = match port_text {
            None => None,
            Some((side, value, n)) => Some(if protocol == Protocol::Icmp {
                PortMatch::Icmp(IcmpType::parse(value).ok_or_else(|| {
                    err(format!(
                        "field {n}: {value:?} is not an ICMP type (ping, pong, echo-request, echo-reply, destination-unreachable, time-exceeded or 0-255)"
                    ))
                })?)
            } else {
                PortMatch::Ports(
                    side,
                    parse_ports(value).map_err(|e| err(format!("field {n}: {e}")))?,
                )
            }),
        };
        if let (Some(PortMatch::Icmp(IcmpType::Number(_))), None) = (&port, &address) {
            return Err(err(
                "a numeric ICMP type needs an address (ICMP and ICMPv6 numbers differ)".into(),
            ));
        }
        if port.is_none() && address.is_none() && owner.is_none() {
            return Err(err(
                "the filter matches no port, address or owner: it would match everything".into(),
            ));
        }
        Ok(AdvancedFilter {
            protocol,
            direction,
            port,
            address,
            owner,
            text: text.to_string(),
        })
    }
}

impl AdvancedFilter {
    /// A canonical CSF spelling (all defaults written out).
    pub fn canonical(&self) -> String {
        let mut f = vec![
            match self.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Icmp => "icmp",
            }
            .to_string(),
            match self.direction {
                Direction::In => "in",
                Direction::Out => "out",
            }
            .to_string(),
        ];
        match &self.port {
            Some(PortMatch::Ports(side, ports)) => {
                let p: Vec<String> = ports
                    .iter()
                    .map(|r| {
                        if r.first == r.last {
                            r.first.to_string()
                        } else {
                            format!("{}_{}", r.first, r.last)
                        }
                    })
                    .collect();
                f.push(format!("{}={}", side.word(), p.join(",")));
            }
            Some(PortMatch::Icmp(t)) => f.push(format!("d={}", t.render())),
            None => {}
        }
        if let Some((side, r)) = &self.address {
            f.push(format!("{}={r}", side.word()));
        }
        match self.owner {
            Some(Owner::Uid(u)) => f.push(format!("u={u}")),
            Some(Owner::Gid(g)) => f.push(format!("g={g}")),
            None => {}
        }
        f.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AdvancedFilter {
        s.parse().expect("test filter")
    }

    fn e(s: &str) -> String {
        match s.parse::<AdvancedFilter>() {
            Ok(f) => panic!("{s} parsed as {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn csf_examples() {
        let f = p("tcp|in|d=3306|s=192.0.2.10");
        assert_eq!(f.chain(), "input");
        assert_eq!(
            f.render("accept"),
            vec![
                "ip saddr 192.0.2.10 tcp dport 3306 counter accept comment \"tcp|in|d=3306|s=192.0.2.10\""
            ]
        );
        let f = p("tcp|out|d=22|d=198.51.100.5");
        assert_eq!(f.chain(), "output");
        assert_eq!(f.canonical(), "tcp|out|d=22|d=198.51.100.5");
        assert!(f.render("drop")[0].starts_with("ip daddr 198.51.100.5 tcp dport 22 counter drop"));
        let f = p("d=22,80,443|s=203.0.113.7");
        assert_eq!(f.canonical(), "tcp|in|d=22,80,443|s=203.0.113.7");
        assert!(f.render("drop")[0].starts_with("ip saddr 203.0.113.7 tcp dport { 22, 80, 443 }"));
        let f = p("tcp|out|d=80||u=99");
        assert_eq!(f.owner, Some(Owner::Uid(99)));
        assert!(f.render("accept")[0].starts_with("tcp dport 80 meta skuid 99"));
        let f = p("icmp|in|d=ping|s=192.0.2.10");
        assert!(f.render("accept")[0].starts_with("ip saddr 192.0.2.10 icmp type echo-request"));
        let f = p("icmp|in|d=ping");
        let r = f.render("drop");
        assert_eq!(r.len(), 2);
        assert!(r[1].starts_with("icmpv6 type echo-request"));
        let f = p("udp|in|d=2000_3000|s=2001:db8::/32");
        assert!(f.render("accept")[0].starts_with("ip6 saddr 2001:db8::/32 udp dport 2000-3000"));
        let f = p("tcp|in|s=198.51.100.0/24");
        assert!(f.render("drop")[0].starts_with("ip saddr 198.51.100.0/24 meta l4proto tcp"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(e("tpc|in|d=22").contains("field 1 \"tpc\""));
        assert!(e("tcp|in|d=99999").contains("not a port"));
        assert!(e("tcp|in|d=22|s=198.51.100.0/40").contains("prefix length"));
        assert!(e("tcp|in|d=22|d=23").contains("only one port"));
        assert!(e("tcp|in|u=0").contains("only works outbound"));
        assert!(e("tcp|in").contains("match everything"));
        assert!(e("in|tcp|d=22").contains("protocol must come first"));
        assert!(e("tcp|in|d=22;rm").contains("unexpected character"));
        assert!(e("icmp|in|d=bogus|s=192.0.2.1").contains("not an ICMP type"));
        assert!(e("192.0.2.1").contains("not an advanced filter"));
        assert!(e("tcp|in|d=3000_2000").contains("backwards"));
    }

    #[test]
    fn port_lists() {
        assert_eq!(
            parse_ports("443,22,80:81").expect("ports"),
            vec![
                PortRange::one(22),
                PortRange {
                    first: 80,
                    last: 81
                },
                PortRange::one(443)
            ]
        );
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("22,,80").is_err());
    }
}
