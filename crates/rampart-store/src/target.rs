//! How targets are stored: the canonical text (`198.51.100.0/24`,
//! `2001:db8::1`) is the key; the family and the first and last address
//! as fixed-length big-endian blobs allow range queries (entries inside a
//! network). Covering lookups use the canonical text of every network
//! that can contain an address (33 for IPv4, 129 for IPv6).

use std::net::{IpAddr, Ipv6Addr};

use rampart_core::addr::{Net, normalise};

/// Clears host bits and maps IPv4-mapped IPv6 (`::ffff:a.b.c.d/120`) to IPv4.
pub(crate) fn canonical(net: Net) -> Net {
    match net.addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if net.prefix >= 96 => Net::containing(IpAddr::V4(v4), net.prefix - 96),
            Some(_) => {
                let p = net.prefix.min(128);
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                Net {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix: p,
                }
            }
            None => Net::containing(net.addr, net.prefix),
        },
        IpAddr::V4(_) => Net::containing(net.addr, net.prefix),
    }
}

/// 4 or 6.
pub(crate) fn family(net: &Net) -> i64 {
    if net.addr.is_ipv4() { 4 } else { 6 }
}

/// First and last address of the network, as 4- or 16-byte big-endian blobs.
pub(crate) fn bounds(net: &Net) -> (Vec<u8>, Vec<u8>) {
    match net.addr {
        IpAddr::V4(v4) => {
            let start = u32::from(v4);
            let host = if net.prefix >= 32 {
                0
            } else {
                u32::MAX >> net.prefix
            };
            (
                start.to_be_bytes().to_vec(),
                (start | host).to_be_bytes().to_vec(),
            )
        }
        IpAddr::V6(v6) => {
            let start = u128::from(v6);
            let host = if net.prefix >= 128 {
                0
            } else {
                u128::MAX >> net.prefix
            };
            (
                start.to_be_bytes().to_vec(),
                (start | host).to_be_bytes().to_vec(),
            )
        }
    }
}

/// The canonical text of every network containing `ip`, most specific first.
pub(crate) fn containing_keys(ip: IpAddr) -> Vec<String> {
    let ip = normalise(ip);
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    (0..=max)
        .rev()
        .map(|p| Net::containing(ip, p).to_string())
        .collect()
}

/// Whether `inner` lies inside `outer` (or equals it).
pub(crate) fn within(inner: &Net, outer: &Net) -> bool {
    outer.prefix <= inner.prefix && outer.contains(inner.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        Net::parse(s).expect("test net")
    }

    #[test]
    fn canonical_forms() {
        let raw = Net {
            addr: "198.51.100.9".parse().expect("ip"),
            prefix: 24,
        };
        assert_eq!(canonical(raw).to_string(), "198.51.100.0/24");
        let mapped = Net {
            addr: "::ffff:198.51.100.9".parse().expect("ip"),
            prefix: 120,
        };
        assert_eq!(canonical(mapped).to_string(), "198.51.100.0/24");
        let mapped_host = Net {
            addr: "::ffff:198.51.100.9".parse().expect("ip"),
            prefix: 128,
        };
        assert_eq!(canonical(mapped_host).to_string(), "198.51.100.9");
        assert_eq!(
            canonical(n("2001:db8:1:2::77/64")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn bounds_and_keys() {
        let (s, e) = bounds(&n("198.51.100.0/24"));
        assert_eq!(s, vec![198, 51, 100, 0]);
        assert_eq!(e, vec![198, 51, 100, 255]);
        let (s, e) = bounds(&n("0.0.0.0/0"));
        assert_eq!((s, e), (vec![0; 4], vec![255; 4]));
        let (s, e) = bounds(&n("2001:db8::/32"));
        assert_eq!(s.len(), 16);
        assert_eq!(e[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert!(e[4..].iter().all(|&b| b == 0xff));
        let keys = containing_keys("198.51.100.7".parse().expect("ip"));
        assert_eq!(keys.len(), 33);
        assert_eq!(keys[0], "198.51.100.7");
        assert!(keys.contains(&"198.51.100.0/24".to_string()));
        assert_eq!(keys[32], "0.0.0.0/0");
        assert_eq!(
            containing_keys("2001:db8::1".parse().expect("ip")).len(),
            129
        );
        assert!(within(&n("198.51.100.7"), &n("198.51.100.0/24")));
        assert!(!within(&n("198.51.0.0/16"), &n("198.51.100.0/24")));
        assert!(!within(&n("::1"), &n("0.0.0.0/0")));
    }
}
