//! Address parsing and normalisation.
//!
//! Services write the peer's address in many shapes: `198.51.100.7`,
//! `[2001:db8::1]`, `[2001:db8::1]:443`, `198.51.100.7:55012`,
//! `::ffff:198.51.100.7`, `198.51.100.7.55012` (some FTP daemons). All of
//! them normalise to one [`IpAddr`]: IPv4-mapped IPv6 becomes IPv4, so a ban
//! and an allow entry for the same host always compare equal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The common case of [`parse_addr`] read straight from the line's bytes:
/// exactly a dotted quad (`198.51.100.7`: four decimal parts of one to
/// three digits, none above 255, no leading zeros, as `std` reads them).
/// `None` for anything else, which the caller then gives to
/// [`parse_addr`]; on `Some` the two always agree (a test checks it).
pub fn parse_dotted_quad(b: &[u8]) -> Option<IpAddr> {
    let mut c = crate::time::Cur::new(b);
    let mut octets = [0u8; 4];
    for (k, o) in octets.iter_mut().enumerate() {
        if k > 0 {
            c.byte(b'.')?;
        }
        let start = c.at();
        let n = c.digits(1, 3)?;
        if c.at() - start > 1 && b[start] == b'0' {
            return None; // a leading zero
        }
        *o = u8::try_from(n).ok()?;
    }
    // a fourth digit or anything else after the last part: not a plain quad
    (c.at() == b.len()).then_some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Parses an address as a service writes it, tolerating brackets, a port
/// suffix and IPv4-mapped IPv6. Returns `None` for anything that is not an
/// address (host names, empty strings, zone-scoped link-local addresses).
pub fn parse_addr(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    let s = s.trim_end_matches(['.', ',', ';', ')']);
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    // [v6] or [v6]:port or [v4]
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        return parse_plain(&rest[..end]);
    }
    if let Some(ip) = parse_plain(s) {
        return Some(ip);
    }
    // v4:port
    if let Some((host, port)) = s.rsplit_once(':')
        && !host.contains(':')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return host.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    // v4.port (pure-ftpd, some xinetd builds): five dotted parts
    if s.bytes().filter(|&b| b == b'.').count() == 4
        && let Some((host, port)) = s.rsplit_once('.')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return host.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// Parses an address that the service always writes followed by `:PORT`,
/// with IPv6 not bracketed: Apache 2.4's error log writes
/// `[client 2001:db8::1:51234]` and `[client ::1:37752]`. The last
/// `:DIGITS` group is the port. Text without such a group (no port after
/// all) is read as a whole; bracketed forms read as in [`parse_addr`].
pub fn parse_addr_port(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    if s.starts_with('[') {
        return parse_addr(s);
    }
    match s.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            parse_plain(host).or_else(|| parse_plain(s))
        }
        _ => parse_plain(s),
    }
}

fn parse_plain(s: &str) -> Option<IpAddr> {
    if s.contains('%') {
        // zone-scoped (fe80::1%eth0): link-local, never a remote attacker
        return None;
    }
    let s = s
        .strip_prefix("::ffff:")
        .filter(|v4| v4.contains('.'))
        .unwrap_or(s);
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(normalise_v6(v6)),
        v4 => Some(v4),
    }
}

fn normalise_v6(v6: Ipv6Addr) -> IpAddr {
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Normalises an address: IPv4-mapped IPv6 becomes IPv4.
pub fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => normalise_v6(v6),
        v4 => v4,
    }
}

/// An address or network prefix, used as a counting key and as a ban target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length in bits (32 or 128 for a single host).
    pub prefix: u8,
}

impl Net {
    /// A single host.
    pub fn host(ip: IpAddr) -> Net {
        let ip = normalise(ip);
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Net { addr: ip, prefix }
    }

    /// The network of `prefix` bits containing `ip` (clamped to the family's width).
    pub fn containing(ip: IpAddr, prefix: u8) -> Net {
        match normalise(ip) {
            IpAddr::V4(v4) => {
                let p = prefix.min(32);
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                Net {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix: p,
                }
            }
            IpAddr::V6(v6) => {
                let p = prefix.min(128);
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                Net {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix: p,
                }
            }
        }
    }

    /// Whether this is a single address rather than a network.
    pub fn is_host(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && Net::containing(ip, self.prefix).addr == self.addr
    }

    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Option<Net> {
        match s.split_once('/') {
            None => parse_plain(s.trim()).map(Net::host),
            Some((a, p)) => {
                let ip: IpAddr = a.trim().parse().ok()?;
                let p: u8 = p.trim().parse().ok()?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if p > max {
                    return None;
                }
                // ::ffff:a.b.c.d/120 maps to a.b.c.d/24
                if let IpAddr::V6(v6) = ip
                    && let Some(v4) = v6.to_ipv4_mapped()
                    && p >= 96
                {
                    return Some(Net::containing(IpAddr::V4(v4), p - 96));
                }
                Some(Net::containing(ip, p))
            }
        }
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Whether an address is private, loopback or link-local (RFC 1918,
/// 100.64/10 shared space, fc00::/7 unique-local, fe80::/10).
pub fn is_private(ip: IpAddr) -> bool {
    match normalise(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether an address can never be a remote attacker worth blocking:
/// loopback, unspecified, multicast and link-local addresses.
pub fn is_never_blockable(ip: IpAddr) -> bool {
    match normalise(ip) {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// `Net`s travel as their text (`192.0.2.0/24`, `2001:db8::1`).
impl serde::Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Net, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Net::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an address or network: {s:?}")))
    }
}

impl Net {
    /// Whether the two networks share any address (one contains the other).
    pub fn overlaps(&self, other: &Net) -> bool {
        let (wide, narrow) = if self.prefix <= other.prefix {
            (self, other)
        } else {
            (other, self)
        };
        wide.contains(narrow.addr)
    }
}

/// The widest network inside `target` that holds `offender` and shares no
/// address with any of `protected` (the host's own addresses, loopback,
/// allowed and ignored networks): what a detector bans instead of an
/// aggregate (an IPv6 /64, a netblock) that would cover a protected
/// address. `Some(target)` when nothing protected is inside it; `None` when
/// even the offender's own /32 or /128 is protected, or when `offender` is
/// not inside `target`.
///
/// The 2001:db8::/64 that holds the server's own 2001:db8::1 narrows, for
/// an attacker at 2001:db8::99, to 2001:db8::80/121: the widest prefix of
/// the attacker's address that stops short of ::1.
pub fn narrow_to_exclude(target: Net, offender: IpAddr, protected: &[Net]) -> Option<Net> {
    if !target.contains(offender) {
        return None;
    }
    let max = if target.addr.is_ipv4() { 32 } else { 128 };
    (target.prefix..=max)
        .map(|p| Net::containing(offender, p))
        .find(|candidate| !protected.iter().any(|n| n.overlaps(candidate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        parse_addr(s).map(|i| i.to_string())
    }

    #[test]
    fn a_dotted_quad_reads_as_parse_addr_reads_it_or_not_at_all() {
        let mut cases: Vec<String> = [
            "198.51.100.7",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            ".1.2.3",
            "1.2.3.4.",
            "1.2.3.4 ",
            "1.2.3.a",
            "1.2.3.-4",
            "1000.2.3.4",
            "203.0.113.05",
            "",
            "::ffff:1.2.3.4",
            "2001:db8::1",
            "1.2.3.4:22",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // every string of up to seven bytes over digits and dots, and more
        let alphabet = ['0', '1', '2', '5', '9', '.'];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 7 + (x % 9) as usize;
            let s: String = (0..len)
                .map(|k| alphabet[((x >> (3 * k)) % 6) as usize])
                .collect();
            cases.push(s);
        }
        for c in &cases {
            if let Some(ip) = parse_dotted_quad(c.as_bytes()) {
                assert_eq!(parse_addr(c), Some(ip), "{c:?}");
            } else if c.parse::<Ipv4Addr>().is_ok() {
                panic!("{c:?}: a plain dotted quad was left to the slow path");
            }
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(p("198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("198.51.100.7:55012").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("198.51.100.7.55012").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(p("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(p("::ffff:198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("::FFFF:198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("2001:DB8::A").as_deref(), Some("2001:db8::a"));
        assert_eq!(p("[198.51.100.7]").as_deref(), Some("198.51.100.7"));
        assert_eq!(p("fe80::1%eth0"), None);
        assert_eq!(p("example.com"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("999.1.1.1"), None);
    }

    #[test]
    fn apache_24_client_with_port() {
        let pp = |s: &str| parse_addr_port(s).map(|i| i.to_string());
        assert_eq!(pp("2001:db8::1:51234").as_deref(), Some("2001:db8::1"));
        assert_eq!(pp("2001:db8::1:4242").as_deref(), Some("2001:db8::1"));
        assert_eq!(pp("::1:37752").as_deref(), Some("::1"));
        assert_eq!(pp("2001:db8:::443").as_deref(), Some("2001:db8::"));
        assert_eq!(pp("198.51.100.7:53412").as_deref(), Some("198.51.100.7"));
        assert_eq!(pp("[2001:db8::7]:53412").as_deref(), Some("2001:db8::7"));
        // no port after all: the whole text
        assert_eq!(pp("198.51.100.7").as_deref(), Some("198.51.100.7"));
        assert_eq!(
            pp("2001:db8::80da:af6b:8b2c").as_deref(),
            Some("2001:db8::80da:af6b:8b2c")
        );
        assert_eq!(pp("2001:db8:"), None);
        assert_eq!(pp("x:80"), None);
    }

    #[test]
    fn nets() {
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let n = Net::containing(ip, 64);
        assert_eq!(n.to_string(), "2001:db8:1:2::/64");
        assert!(n.contains("2001:db8:1:2::9".parse().unwrap()));
        assert!(!n.contains("2001:db8:1:3::9".parse().unwrap()));
        assert_eq!(
            Net::parse("198.51.100.9/24").unwrap().to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            Net::parse("::ffff:198.51.100.0/120").unwrap().to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            Net::parse("198.51.100.9").unwrap().to_string(),
            "198.51.100.9"
        );
        assert!(Net::parse("198.51.100.9/33").is_none());
        assert!(
            !Net::parse("0.0.0.0/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            Net::parse("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.1".parse().unwrap())
        );
    }

    #[test]
    fn never_blockable() {
        assert!(is_never_blockable("127.0.0.2".parse().unwrap()));
        assert!(is_never_blockable("::1".parse().unwrap()));
        assert!(is_never_blockable("::ffff:127.0.0.1".parse().unwrap()));
        assert!(is_never_blockable("fe80::1".parse().unwrap()));
        assert!(!is_never_blockable("203.0.113.5".parse().unwrap()));
    }

    fn net(s: &str) -> Net {
        Net::parse(s).unwrap()
    }

    fn narrow(target: &str, offender: &str, protected: &[&str]) -> Option<String> {
        let protected: Vec<Net> = protected.iter().map(|s| net(s)).collect();
        narrow_to_exclude(net(target), offender.parse().unwrap(), &protected).map(|n| n.to_string())
    }

    #[test]
    fn narrowing_keeps_own_addresses_out_of_a_ban() {
        // issue 8: 6 failures from 2001:db8::99 banned the /64 holding ::1
        let n = narrow("2001:db8::/64", "2001:db8::99", &["2001:db8::1", "::1"]);
        assert_eq!(n.as_deref(), Some("2001:db8::80/121"));
        let n = net("2001:db8::80/121");
        assert!(n.contains("2001:db8::99".parse().unwrap()));
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        // the /120 would have held ::1
        assert!(net("2001:db8::/120").contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn nothing_protected_inside_keeps_the_target() {
        assert_eq!(
            narrow(
                "2001:db8:1::/64",
                "2001:db8:1::99",
                &["2001:db8::1", "127.0.0.0/8"]
            )
            .as_deref(),
            Some("2001:db8:1::/64")
        );
        assert_eq!(
            narrow("203.0.113.0/24", "203.0.113.7", &["198.51.100.0/24"]).as_deref(),
            Some("203.0.113.0/24")
        );
    }

    #[test]
    fn netblocks_narrow_around_protected_hosts_and_networks() {
        // own 203.0.113.1 inside the /24 netblock: the attacker's half of it
        assert_eq!(
            narrow("203.0.113.0/24", "203.0.113.200", &["203.0.113.1"]).as_deref(),
            Some("203.0.113.128/25")
        );
        // an allowed /28 (.64-.79) near the attacker at .100: .96/27
        assert_eq!(
            narrow("203.0.113.0/24", "203.0.113.100", &["203.0.113.64/28"]).as_deref(),
            Some("203.0.113.96/27")
        );
    }

    #[test]
    fn a_protected_offender_is_never_banned() {
        assert_eq!(
            narrow("2001:db8::/64", "2001:db8::1", &["2001:db8::1"]),
            None
        );
        // inside an ignored network: no prefix of it is free
        assert_eq!(
            narrow("198.51.100.0/24", "198.51.100.7", &["198.51.100.0/25"]),
            None
        );
        assert_eq!(
            narrow("198.51.100.7/32", "198.51.100.7", &["0.0.0.0/0"]),
            None
        );
        // not inside the target at all
        assert_eq!(narrow("198.51.100.0/24", "203.0.113.7", &[]), None);
    }

    #[test]
    fn families_do_not_mix() {
        assert_eq!(
            narrow("198.51.100.0/24", "198.51.100.7", &["::/0"]).as_deref(),
            Some("198.51.100.0/24")
        );
        // IPv4-mapped targets are IPv4: own .1 leaves the attacker .4/30
        assert_eq!(
            narrow("::ffff:198.51.100.0/120", "198.51.100.7", &["198.51.100.1"]).as_deref(),
            Some("198.51.100.4/30")
        );
    }
}
