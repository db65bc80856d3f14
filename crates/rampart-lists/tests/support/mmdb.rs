//! A tiny MaxMind DB writer for tests: only what a few networks need.
//!
//! Format (MaxMind DB 2.0): a binary search tree of `node_count` nodes with
//! two 24-bit records each (left = bit 0, right = bit 1; a record is a node
//! index, `node_count` for "no data", or `node_count + 16 + offset` pointing
//! into the data section), 16 zero bytes, the data section, then
//! `\xAB\xCD\xEFMaxMind.com` and the metadata map.

use std::net::IpAddr;

/// A value of the MaxMind DB data format (the subset the tests use).
pub enum V {
    /// UTF-8 string.
    Str(String),
    /// uint16.
    U16(u16),
    /// uint32.
    U32(u32),
    /// uint64.
    U64(u64),
    /// Map with string keys.
    Map(Vec<(String, V)>),
    /// Array.
    Arr(Vec<V>),
}

fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        let s = (size - 285) as u16;
        (30, s.to_be_bytes().to_vec())
    } else {
        let s = (size - 65_821) as u32;
        (31, s.to_be_bytes()[1..].to_vec())
    };
    if ty <= 7 {
        out.push((ty << 5) | bits);
    } else {
        out.push(bits); // extended type
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    ctrl(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Encodes a value.
pub fn encode(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Str(s) => {
            ctrl(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::U16(n) => uint(out, 5, u64::from(*n)),
        V::U32(n) => uint(out, 6, u64::from(*n)),
        V::U64(n) => uint(out, 9, *n),
        V::Map(m) => {
            ctrl(out, 7, m.len());
            for (k, v) in m {
                encode(&V::Str(k.clone()), out);
                encode(v, out);
            }
        }
        V::Arr(a) => {
            ctrl(out, 11, a.len());
            for v in a {
                encode(v, out);
            }
        }
    }
}

/// Shorthand for a map.
pub fn map(entries: Vec<(&str, V)>) -> V {
    V::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Shorthand for a string.
pub fn s(v: &str) -> V {
    V::Str(v.to_string())
}

/// A GeoIP2-Country-shaped record.
pub fn country(code: &str, name: &str) -> V {
    let c = || {
        map(vec![
            ("iso_code", s(code)),
            ("names", map(vec![("en", s(name))])),
        ])
    };
    map(vec![
        ("continent", map(vec![("code", s("EU"))])),
        ("country", c()),
        ("registered_country", c()),
    ])
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// Builds a database.
pub struct Writer {
    ip_version: u16,
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Writer {
    /// An IPv6 (`ip_version` 6, IPv4 under `::/96`) or IPv4-only database.
    pub fn new(ip_version: u16) -> Writer {
        Writer {
            ip_version,
            nodes: vec![[Rec::Empty, Rec::Empty]],
            data: Vec::new(),
        }
    }

    /// Stores a value in the data section, returning its offset (share it
    /// between networks like real databases do).
    pub fn value(&mut self, v: &V) -> usize {
        let off = self.data.len();
        encode(v, &mut self.data);
        off
    }

    /// Points `net/prefix` at the value at `offset`.
    pub fn insert(&mut self, net: &str, offset: usize) {
        let (addr, prefix) = net.split_once('/').expect("CIDR");
        let ip: IpAddr = addr.parse().expect("address");
        let prefix: u32 = prefix.parse().expect("prefix");
        let width = if self.ip_version == 6 { 128 } else { 32 };
        let (bits, prefix) = match ip {
            IpAddr::V4(a) if width == 128 => (u128::from(u32::from(a)), prefix + 96),
            IpAddr::V4(a) => (u128::from(u32::from(a)), prefix),
            IpAddr::V6(a) => {
                assert_eq!(width, 128, "IPv6 network in an IPv4 database");
                (u128::from(a), prefix)
            }
        };
        assert!(prefix > 0);
        let mut node = 0usize;
        for i in 0..prefix {
            let bit = ((bits >> (width - 1 - i)) & 1) as usize;
            if i == prefix - 1 {
                self.nodes[node][bit] = Rec::Data(offset);
                return;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n,
                other => {
                    // split a data record (or fill an empty one) into a node
                    let fill = match other {
                        Rec::Data(d) => Rec::Data(d),
                        _ => Rec::Empty,
                    };
                    self.nodes.push([fill, fill]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Rec::Node(n);
                    n
                }
            };
        }
    }

    /// Makes `::ffff:0:0/96` and `2002::/16` point at the IPv4 subtree, as
    /// MaxMind's own writers do (call after inserting IPv4 networks).
    pub fn alias_ipv4(&mut self) {
        let mut v4root = 0usize;
        for _ in 0..96 {
            match self.nodes[v4root][0] {
                Rec::Node(n) => v4root = n,
                _ => panic!("no IPv4 subtree"),
            }
        }
        for (bits, prefix) in [(0xffffu128 << 32, 96u32), (0x2002u128 << 112, 16)] {
            let mut node = 0usize;
            for i in 0..prefix {
                let bit = ((bits >> (127 - i)) & 1) as usize;
                if i == prefix - 1 {
                    self.nodes[node][bit] = Rec::Node(v4root);
                    break;
                }
                node = match self.nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        self.nodes.push([Rec::Empty, Rec::Empty]);
                        let n = self.nodes.len() - 1;
                        self.nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }

    /// The finished file.
    pub fn finish(&self) -> Vec<u8> {
        let n = self.nodes.len();
        let mut out = Vec::new();
        let val = |r: Rec| -> u32 {
            let v = match r {
                Rec::Empty => n,
                Rec::Node(i) => i,
                Rec::Data(off) => n + 16 + off,
            };
            assert!(v < (1 << 24), "too big for 24-bit records");
            v as u32
        };
        for [l, r] in &self.nodes {
            out.extend_from_slice(&val(*l).to_be_bytes()[1..]);
            out.extend_from_slice(&val(*r).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let meta = map(vec![
            ("binary_format_major_version", V::U16(2)),
            ("binary_format_minor_version", V::U16(0)),
            ("build_epoch", V::U64(1_700_000_000)),
            ("database_type", s("Rampart-Test-Country")),
            ("description", map(vec![("en", s("test database"))])),
            ("ip_version", V::U16(self.ip_version)),
            ("languages", V::Arr(vec![s("en")])),
            ("node_count", V::U32(n as u32)),
            ("record_size", V::U16(24)),
        ]);
        encode(&meta, &mut out);
        out
    }
}
