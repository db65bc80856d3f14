//! The pure model: what a kernel set must hold, and the difference between
//! two states of a set.
//!
//! A list's entries may overlap (a /25 over a /32) and carry different
//! expiries, but an nft interval set holds disjoint elements. [`segments`]
//! splits the union of the entries' ranges into disjoint segments, each
//! with the *latest* expiry of the entries covering it (permanent wins),
//! and merges adjacent segments of equal expiry. A /25 for 5 minutes over a
//! /32 for an hour gives three elements: when the kernel times out the two
//! 5-minute ones by itself, the /32 remains — element timeouts keep working
//! with no daemon running.
//!
//! [`diff`] compares two segment lists and gives exactly the elements to
//! delete and to add (an element whose expiry changed is both), which is
//! what one netlink transaction sends.

use std::collections::BinaryHeap;
use std::net::IpAddr;

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rampart_nft::{Family, IpRange, addr_value};

/// When an element ends: at a time, or never. `Never` sorts after every
/// time, so the latest expiry is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expiry {
    /// At this Unix time (seconds).
    At(Timestamp),
    /// Permanent.
    Never,
}

impl Expiry {
    /// From an entry's `expires` (`None` is permanent).
    pub fn from_option(expires: Option<Timestamp>) -> Expiry {
        expires.map_or(Expiry::Never, Expiry::At)
    }

    /// As an entry's `expires`.
    pub fn as_option(self) -> Option<Timestamp> {
        match self {
            Expiry::At(t) => Some(t),
            Expiry::Never => None,
        }
    }

    /// Whether the two are the same within `tolerance` seconds (a kernel
    /// element's expiry, read back, is known to about a second).
    pub fn close_to(self, other: Expiry, tolerance: i64) -> bool {
        match (self, other) {
            (Expiry::Never, Expiry::Never) => true,
            (Expiry::At(a), Expiry::At(b)) => (a - b).abs() <= tolerance,
            _ => false,
        }
    }
}

/// A contiguous range of addresses of one family with one expiry: an
/// entry's contribution, or an element of a kernel set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    /// The family.
    pub family: Family,
    /// The first address, as an integer (IPv4 in the low 32 bits).
    pub first: u128,
    /// The last address (inclusive).
    pub last: u128,
    /// When it ends.
    pub expiry: Expiry,
}

fn ip_value(ip: IpAddr) -> u128 {
    addr_value(ip)
}

impl Segment {
    /// The segment of a range.
    pub fn of_range(range: IpRange, expiry: Expiry) -> Segment {
        Segment {
            family: range.family(),
            first: ip_value(range.start()),
            last: ip_value(range.end()),
            expiry,
        }
    }

    /// The segment of a network (an address or a CIDR).
    pub fn of_net(net: Net, expiry: Expiry) -> Segment {
        let family = Family::of(net.addr);
        let bits: u32 = if family == Family::V4 { 32 } else { 128 };
        let host = bits - u32::from(net.prefix.min(bits as u8));
        let mask = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        let first = ip_value(net.addr) & !mask;
        Segment {
            family,
            first,
            last: first | mask,
            expiry,
        }
    }

    /// The addresses as an nft range.
    pub fn range(&self) -> IpRange {
        IpRange::range(self.family.addr(self.first), self.family.addr(self.last))
            .expect("a segment's ends are of one family and in order")
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(ip) == self.family && (self.first..=self.last).contains(&ip_value(ip))
    }

    /// Seconds left at `now` for a kernel timeout (`None`: permanent). At
    /// least 1 for a live segment.
    pub fn timeout_secs(&self, now: Timestamp) -> Option<u64> {
        self.expiry
            .as_option()
            .map(|t| u64::try_from(t - now).unwrap_or(0).max(1))
    }

    pub(crate) fn key(&self) -> (Family, u128, u128) {
        (self.family, self.first, self.last)
    }
}

/// The disjoint segments of the union of `spans` alive at `now`, sorted by
/// family and address: each carries the latest expiry of the spans
/// covering it; adjacent segments of equal expiry are merged. Spans that
/// expired by `now` are left out.
pub fn segments(spans: &[Segment], now: Timestamp) -> Vec<Segment> {
    let mut live: Vec<Segment> = spans
        .iter()
        .copied()
        .filter(|s| s.first <= s.last && s.expiry > Expiry::At(now))
        .collect();
    live.sort_unstable_by_key(Segment::key);
    let mut out = Vec::with_capacity(live.len());
    let at = live.partition_point(|s| s.family == Family::V4);
    sweep(&live[..at], Family::V4, &mut out);
    sweep(&live[at..], Family::V6, &mut out);
    out
}

/// The sweep over one family's spans sorted by start: at every boundary
/// (a start, or one past an end) the covering span with the latest expiry
/// is the top of a max-heap from which ended spans are dropped lazily.
fn sweep(spans: &[Segment], family: Family, out: &mut Vec<Segment>) {
    let mut points: Vec<u128> = Vec::with_capacity(spans.len() * 2);
    for s in spans {
        points.push(s.first);
        if s.last < family.max() {
            points.push(s.last + 1);
        }
    }
    points.sort_unstable();
    points.dedup();
    let mut heap: BinaryHeap<(Expiry, u128)> = BinaryHeap::new();
    let mut next = 0;
    for (i, &p) in points.iter().enumerate() {
        while next < spans.len() && spans[next].first <= p {
            heap.push((spans[next].expiry, spans[next].last));
            next += 1;
        }
        while heap.peek().is_some_and(|&(_, last)| last < p) {
            heap.pop();
        }
        let Some(&(expiry, _)) = heap.peek() else {
            continue;
        };
        let last = points.get(i + 1).map_or(family.max(), |n| n - 1);
        push_merged(
            out,
            Segment {
                family,
                first: p,
                last,
                expiry,
            },
        );
    }
}

pub(crate) fn push_merged(out: &mut Vec<Segment>, s: Segment) {
    if let Some(prev) = out.last_mut()
        && prev.family == s.family
        && prev.expiry == s.expiry
        && prev.last.checked_add(1) == Some(s.first)
    {
        prev.last = s.last;
        return;
    }
    out.push(s);
}

/// What to send to turn one state of a set into another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Elements of the old state that are not in the new one (exactly, or
    /// with another expiry).
    pub delete: Vec<Segment>,
    /// Elements of the new state that are not in the old one.
    pub add: Vec<Segment>,
}

impl Diff {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

/// The difference between two sorted, disjoint segment lists (as
/// [`segments`] returns them, or as read from the kernel): an element that
/// is in both with the same range and an expiry within `tolerance`
/// seconds stays; every other old element is deleted and every other new
/// one added.
pub fn diff(old: &[Segment], new: &[Segment], tolerance: i64) -> Diff {
    let mut d = Diff::default();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.key() == n.key() => {
                if !o.expiry.close_to(n.expiry, tolerance) {
                    d.delete.push(*o);
                    d.add.push(*n);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.key() < n.key() => {
                d.delete.push(*o);
                i += 1;
            }
            (Some(_), Some(n)) | (None, Some(n)) => {
                d.add.push(*n);
                j += 1;
            }
            (Some(o), None) => {
                d.delete.push(*o);
                i += 1;
            }
            (None, None) => break,
        }
    }
    d
}

/// `old` with `d` applied: what the set holds after the transaction.
pub fn apply_diff(old: &[Segment], d: &Diff) -> Vec<Segment> {
    let mut out: Vec<Segment> = old
        .iter()
        .filter(|o| !d.delete.iter().any(|x| x.key() == o.key()))
        .copied()
        .collect();
    out.extend(d.add.iter().copied());
    out.sort_unstable_by_key(Segment::key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str, e: Expiry) -> Segment {
        Segment::of_range(s.parse().expect("range"), e)
    }

    fn show(v: &[Segment]) -> Vec<String> {
        v.iter()
            .map(|s| match s.expiry {
                Expiry::Never => s.range().to_string(),
                Expiry::At(t) => format!("{} @{t}", s.range()),
            })
            .collect()
    }

    const NOW: Timestamp = 1000;

    #[test]
    fn a_short_wide_ban_over_a_long_narrow_one_gives_three_elements() {
        let v = segments(
            &[
                seg("10.9.9.131", Expiry::At(NOW + 3600)),
                seg("10.9.9.128/25", Expiry::At(NOW + 300)),
            ],
            NOW,
        );
        assert_eq!(
            show(&v),
            [
                "10.9.9.128-10.9.9.130 @1300",
                "10.9.9.131 @4600",
                "10.9.9.132-10.9.9.255 @1300"
            ]
        );
        // when the short ones are gone, the long one stays as it was
        let later = segments(
            &[
                seg("10.9.9.131", Expiry::At(NOW + 3600)),
                seg("10.9.9.128/25", Expiry::At(NOW + 300)),
            ],
            NOW + 300,
        );
        assert_eq!(show(&later), ["10.9.9.131 @4600"]);
    }

    #[test]
    fn permanent_wins_adjacent_equal_merge_and_the_top_of_the_space() {
        let v = segments(
            &[
                seg("10.0.0.0/25", Expiry::At(NOW + 60)),
                seg("10.0.0.128/25", Expiry::At(NOW + 60)),
                seg("10.0.0.7", Expiry::Never),
                seg("255.255.255.0/24", Expiry::Never),
                seg("0.0.0.0/0", Expiry::At(NOW + 5)),
                seg("::/0", Expiry::Never),
                seg("2001:db8::/32", Expiry::At(NOW + 5)),
                seg("192.0.2.1", Expiry::At(NOW)), // expired
            ],
            NOW,
        );
        assert_eq!(
            show(&v),
            [
                "0.0.0.0-9.255.255.255 @1005",
                "10.0.0.0-10.0.0.6 @1060",
                "10.0.0.7",
                "10.0.0.8-10.0.0.255 @1060",
                "10.0.1.0-255.255.254.255 @1005",
                "255.255.255.0/24",
                "::/0",
            ]
        );
    }

    #[test]
    fn diff_sends_exactly_the_difference() {
        let old = segments(&[seg("10.9.9.131", Expiry::At(NOW + 3600))], NOW);
        let new = segments(
            &[
                seg("10.9.9.131", Expiry::At(NOW + 3600)),
                seg("10.9.9.128/25", Expiry::At(NOW + 300)),
            ],
            NOW,
        );
        let d = diff(&old, &new, 0);
        assert!(d.delete.is_empty(), "the /32 stays: {:?}", show(&d.delete));
        assert_eq!(show(&d.add).len(), 2);
        assert_eq!(apply_diff(&old, &d), new);
        // a changed expiry is a delete and an add of the same range
        let longer = segments(&[seg("10.9.9.131", Expiry::At(NOW + 7200))], NOW);
        let d = diff(&old, &longer, 2);
        assert_eq!((d.delete.len(), d.add.len()), (1, 1));
        // within the tolerance it is the same element
        let near = segments(&[seg("10.9.9.131", Expiry::At(NOW + 3601))], NOW);
        assert!(diff(&old, &near, 2).is_empty());
        assert_eq!(diff(&new, &[], 0).delete, new);
    }

    #[test]
    fn of_net_matches_of_range() {
        for s in [
            "198.51.100.0/24",
            "2001:db8::/33",
            "0.0.0.0/0",
            "::/0",
            "2001:db8::1",
        ] {
            let n = Net::parse(s).expect("net");
            assert_eq!(
                Segment::of_net(n, Expiry::Never),
                seg(s, Expiry::Never),
                "{s}"
            );
        }
    }
}
