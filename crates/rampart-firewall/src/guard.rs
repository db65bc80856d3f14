//! Checks at the edge, before anything is written: ranges that must not be
//! denied without `--force` (loopback, link-local, ...), and ranges so wide
//! that allowing or ignoring them needs `--force` too.

use rampart_core::addr::Net;

/// Networks a deny must not touch without `--force`: the machine talks to
/// itself and its link neighbours there.
const PROTECTED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
    ("169.254.0.0/16", "IPv4 link-local (169.254.0.0/16)"),
    ("224.0.0.0/4", "IPv4 multicast (224.0.0.0/4)"),
    ("255.255.255.255/32", "the IPv4 broadcast address"),
    ("::/128", "the IPv6 unspecified address (::)"),
    ("::1/128", "IPv6 loopback (::1)"),
    ("fe80::/10", "IPv6 link-local (fe80::/10)"),
    ("ff00::/8", "IPv6 multicast (ff00::/8)"),
];

/// Whether two networks share an address.
pub fn overlaps(a: Net, b: Net) -> bool {
    a.contains(b.addr) || b.contains(a.addr)
}

/// The protected network `net` overlaps (loopback, link-local,
/// multicast, ...), described for a refusal message.
pub fn protected_overlap(net: Net) -> Option<&'static str> {
    PROTECTED.iter().find_map(|(p, what)| {
        let p = Net::parse(p)?;
        overlaps(net, p).then_some(*what)
    })
}

/// IPv4 networks shorter than this prefix (more than 65,536 addresses)
/// and IPv6 networks shorter than [`WIDE_V6`] are "very wide".
pub const WIDE_V4: u8 = 16;
/// See [`WIDE_V4`].
pub const WIDE_V6: u8 = 32;

/// When `net` is very wide, what it means (for a refusal without
/// `--force` and the warning with it).
pub fn wide(net: Net) -> Option<String> {
    let (limit, bits) = if net.addr.is_ipv4() {
        (WIDE_V4, 32u32)
    } else {
        (WIDE_V6, 128u32)
    };
    if net.prefix >= limit {
        return None;
    }
    Some(if net.prefix == 0 {
        format!(
            "{net} is every {} address on the Internet",
            if bits == 32 { "IPv4" } else { "IPv6" }
        )
    } else {
        format!(
            "{net} is 2^{} addresses ({} of the {} address space)",
            bits - u32::from(net.prefix),
            share(net.prefix),
            if bits == 32 { "IPv4" } else { "IPv6" }
        )
    })
}

fn share(prefix: u8) -> String {
    match prefix {
        1 => "half".into(),
        2 => "a quarter".into(),
        p => format!("1/{}", 1u128 << p.min(127)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        Net::parse(s).expect("net")
    }

    #[test]
    fn protected_ranges_and_their_supernets() {
        assert!(protected_overlap(n("127.0.0.1")).is_some());
        assert!(
            protected_overlap(n("0.0.0.0/1")).is_some(),
            "holds loopback"
        );
        assert!(protected_overlap(n("0.0.0.0/0")).is_some());
        assert!(protected_overlap(n("fe80::/10")).is_some());
        assert!(protected_overlap(n("::/0")).is_some());
        assert!(protected_overlap(n("::1")).is_some());
        assert!(protected_overlap(n("198.51.100.0/24")).is_none());
        assert!(protected_overlap(n("2001:db8::/32")).is_none());
        assert!(
            protected_overlap(n("128.0.0.0/1")).is_some(),
            "holds multicast"
        );
    }

    #[test]
    fn wide_ranges() {
        assert!(wide(n("0.0.0.0/0")).is_some_and(|w| w.contains("every IPv4")));
        assert!(wide(n("::/0")).is_some_and(|w| w.contains("every IPv6")));
        assert!(wide(n("10.0.0.0/8")).is_some());
        assert!(wide(n("198.51.100.0/24")).is_none());
        assert!(wide(n("2001:db8::/32")).is_none());
        assert!(wide(n("2000::/3")).is_some());
    }
}
