//! Addresses, CIDRs and ranges as set elements, and the merge of
//! overlapping intervals (the kernel refuses overlapping intervals in one
//! set, so every load is merged first).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use crate::error::NftError;

/// The address family of an element or a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 (`ipv4_addr` sets, names ending in `4`).
    V4,
    /// IPv6 (`ipv6_addr` sets, names ending in `6`).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Key length in bytes (4 or 16).
    pub fn key_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    /// The largest address of the family as an integer.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    /// The suffix of set names of this family (`"4"` or `"6"`).
    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "4",
            Family::V6 => "6",
        }
    }

    /// Build an address of this family from its integer value.
    pub fn addr(self, value: u128) -> IpAddr {
        match self {
            // Truncation is intended: V4 values never exceed u32::MAX.
            Family::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

/// The integer value of an address (IPv4 in the low 32 bits).
pub fn addr_value(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// An inclusive range of addresses of one family: a single address, a CIDR
/// or an arbitrary `start-end` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    family: Family,
    start: u128,
    end: u128,
}

impl IpRange {
    /// One address.
    pub fn single(addr: IpAddr) -> IpRange {
        let v = addr_value(addr);
        IpRange {
            family: Family::of(addr),
            start: v,
            end: v,
        }
    }

    /// A CIDR; host bits of `addr` are cleared (`192.0.2.7/24` is
    /// `192.0.2.0/24`).
    pub fn cidr(addr: IpAddr, prefix: u8) -> Result<IpRange, NftError> {
        let family = Family::of(addr);
        let bits: u32 = if family == Family::V4 { 32 } else { 128 };
        if u32::from(prefix) > bits {
            return Err(NftError::Address {
                input: format!("{addr}/{prefix}"),
                reason: format!("prefix length must be 0..={bits}"),
            });
        }
        let host_bits = bits - u32::from(prefix);
        let host_mask: u128 = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let v = addr_value(addr);
        Ok(IpRange {
            family,
            start: v & !host_mask,
            end: (v & !host_mask) | host_mask,
        })
    }

    /// An inclusive range; both ends must be of the same family and
    /// `start <= end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Result<IpRange, NftError> {
        if Family::of(start) != Family::of(end) {
            return Err(NftError::Address {
                input: format!("{start}-{end}"),
                reason: "both ends must be of the same family".into(),
            });
        }
        let (s, e) = (addr_value(start), addr_value(end));
        if s > e {
            return Err(NftError::Address {
                input: format!("{start}-{end}"),
                reason: "start is after end".into(),
            });
        }
        Ok(IpRange {
            family: Family::of(start),
            start: s,
            end: e,
        })
    }

    pub(crate) fn from_values(family: Family, start: u128, end: u128) -> IpRange {
        IpRange { family, start, end }
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.family
    }
    /// The first address.
    pub fn start(&self) -> IpAddr {
        self.family.addr(self.start)
    }
    /// The last address (inclusive).
    pub fn end(&self) -> IpAddr {
        self.family.addr(self.end)
    }
    pub(crate) fn start_value(&self) -> u128 {
        self.start
    }
    pub(crate) fn end_value(&self) -> u128 {
        self.end
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: IpAddr) -> bool {
        Family::of(addr) == self.family && (self.start..=self.end).contains(&addr_value(addr))
    }

    /// The prefix length if the range is exactly one CIDR block.
    pub fn prefix_len(&self) -> Option<u8> {
        let size = self.end.wrapping_sub(self.start).wrapping_add(1);
        let bits: u32 = if self.family == Family::V4 { 32 } else { 128 };
        if size == 0 {
            // The whole IPv6 space (size overflowed to 0).
            return (self.start == 0 && self.end == u128::MAX).then_some(0);
        }
        if !size.is_power_of_two() || self.start & (size - 1) != 0 {
            return None;
        }
        let host_bits = size.trailing_zeros();
        u8::try_from(bits - host_bits).ok()
    }
}

impl fmt::Display for IpRange {
    /// `addr` for one address, `addr/len` for a CIDR block, else
    /// `start-end` (the nft syntax for all three).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = if self.family == Family::V4 { 32 } else { 128 };
        match self.prefix_len() {
            Some(p) if u32::from(p) == bits => write!(f, "{}", self.start()),
            Some(p) => write!(f, "{}/{}", self.start(), p),
            None => write!(f, "{}-{}", self.start(), self.end()),
        }
    }
}

impl FromStr for IpRange {
    type Err = NftError;

    /// Parses `192.0.2.7`, `198.51.100.0/24`, `2001:db8::/32` or
    /// `192.0.2.10-192.0.2.20`.
    fn from_str(s: &str) -> Result<IpRange, NftError> {
        let bad = |reason: &str| NftError::Address {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        if let Some((a, p)) = t.split_once('/') {
            let addr: IpAddr = a.parse().map_err(|_| bad("not an IP address before '/'"))?;
            let prefix: u8 = p
                .parse()
                .map_err(|_| bad("prefix length after '/' is not a number"))?;
            return IpRange::cidr(addr, prefix);
        }
        if let Some((a, b)) = t.split_once('-') {
            let start: IpAddr = a
                .trim()
                .parse()
                .map_err(|_| bad("range start is not an IP address"))?;
            let end: IpAddr = b
                .trim()
                .parse()
                .map_err(|_| bad("range end is not an IP address"))?;
            return IpRange::range(start, end);
        }
        let addr: IpAddr = t
            .parse()
            .map_err(|_| bad("expected an address, CIDR (a/len) or range (a-b)"))?;
        Ok(IpRange::single(addr))
    }
}

impl From<IpAddr> for IpRange {
    fn from(addr: IpAddr) -> IpRange {
        IpRange::single(addr)
    }
}

/// One set element: a range and an optional timeout (`None` = permanent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Element {
    /// The addresses covered.
    pub range: IpRange,
    /// How long the kernel keeps it; `None` keeps it until deleted.
    pub timeout: Option<Duration>,
}

impl Element {
    /// A permanent element.
    pub fn permanent(range: IpRange) -> Element {
        Element {
            range,
            timeout: None,
        }
    }

    /// An element that the kernel removes after `timeout`.
    pub fn temporary(range: IpRange, timeout: Duration) -> Element {
        Element {
            range,
            timeout: Some(timeout),
        }
    }
}

impl FromStr for Element {
    type Err = NftError;
    /// A permanent element from an address, CIDR or range.
    fn from_str(s: &str) -> Result<Element, NftError> {
        Ok(Element::permanent(s.parse()?))
    }
}

/// The longer of two timeouts, where `None` (permanent) is the longest.
fn longer(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        _ => None,
    }
}

/// Sort and merge elements so that no two intervals overlap, as the kernel
/// requires. Overlapping elements become one covering both, with the longer
/// timeout (permanent wins). Adjacent elements (`a..=b`, `b+1..=c`) stay
/// separate, so each can still be deleted on its own. Exact duplicates
/// collapse. The result is sorted by family then start address.
pub fn merge(mut elements: Vec<Element>) -> Vec<Element> {
    let key = |e: &Element| (e.range.family, e.range.start, e.range.end);
    if !elements.is_sorted_by_key(key) {
        elements.sort_unstable_by_key(key);
    }
    let mut out: Vec<Element> = Vec::with_capacity(elements.len());
    for e in elements {
        if let Some(last) = out.last_mut()
            && last.range.family == e.range.family
            && e.range.start <= last.range.end
        {
            last.range.end = last.range.end.max(e.range.end);
            last.timeout = longer(last.timeout, e.timeout);
            continue;
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> IpRange {
        s.parse().expect("test range")
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(r("192.0.2.7").to_string(), "192.0.2.7");
        assert_eq!(r("192.0.2.7/24").to_string(), "192.0.2.0/24");
        assert_eq!(r("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(r("2001:db8::1").to_string(), "2001:db8::1");
        assert_eq!(
            r("192.0.2.10-192.0.2.20").to_string(),
            "192.0.2.10-192.0.2.20"
        );
        assert_eq!(r("192.0.2.0-192.0.2.255").to_string(), "192.0.2.0/24");
        assert_eq!(r("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(r("::/0").to_string(), "::/0");
        assert!(r("::/0").contains("2001:db8::1".parse().expect("addr")));
        assert!("192.0.2.1/33".parse::<IpRange>().is_err());
        assert!("192.0.2.9-192.0.2.1".parse::<IpRange>().is_err());
        assert!("192.0.2.1-2001:db8::1".parse::<IpRange>().is_err());
        assert!("example.com".parse::<IpRange>().is_err());
    }

    #[test]
    fn merge_overlaps_and_adjacent() {
        let h = Duration::from_secs(3600);
        let es = vec![
            Element::temporary(r("198.51.100.0/25"), h),
            Element::permanent(r("2001:db8::/48")),
            Element::temporary(r("198.51.100.0/24"), Duration::from_secs(60)),
            Element::temporary(r("198.51.100.77"), h),
            Element::permanent(r("2001:db8:0:1::/64")),
            Element::temporary(r("192.0.2.0/25"), h),
            Element::temporary(r("192.0.2.128/25"), h),
            Element::temporary(r("203.0.113.0/25"), h),
            Element::permanent(r("203.0.113.128/25")),
        ];
        let m = merge(es);
        let shown: Vec<String> = m
            .iter()
            .map(|e| format!("{} {:?}", e.range, e.timeout.map(|d| d.as_secs())))
            .collect();
        assert_eq!(
            shown,
            vec![
                "192.0.2.0/25 Some(3600)",
                "192.0.2.128/25 Some(3600)",
                "198.51.100.0/24 Some(3600)",
                "203.0.113.0/25 Some(3600)",
                "203.0.113.128/25 None",
                "2001:db8::/48 None",
            ]
        );
    }
}
