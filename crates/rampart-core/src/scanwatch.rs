//! Port-scan and connection-limit decisions from kernel observations.
//!
//! The shell feeds [`PortScanTracker`] with the packets the kernel logged
//! to NFLOG (new connection attempts to closed ports: source, destination
//! port, protocol, time) and [`check_conn_counts`] with per-source
//! conntrack counts; [`LimitReports`] turns the drops the kernel's own
//! limits report (CONNLIMIT, PORTFLOOD, SYNFLOOD) into one decision per
//! offender. Nothing here reads a clock or does I/O: times are passed in
//! (seconds, as everywhere in the core).
//!
//! # Port scans (CSF's PS_LIMIT, PS_INTERVAL, PS_DIVERSITY)
//!
//! A source is reported when it made **more than** `limit` hits within
//! `interval_secs` touching at least `diversity` distinct ports. Unlike
//! CSF, whose counters are all cleared every PS_INTERVAL (a tumbling
//! window a scan can straddle), the window slides. Each source keeps a
//! ring of at most `max(limit + 1, diversity)` hits; IPv6 sources are
//! counted per `/64` (configurable) like the log tracker; protected
//! addresses (loopback, multicast, the host's own and allowed networks)
//! are never counted. A report clears the source's ring, so the next
//! report needs a fresh set of hits. At most `max_sources` sources are
//! tracked: when full, sources idle for longer than the interval are
//! evicted; when none is idle, new sources are not tracked until room
//! appears ([`PortScanTracker::refused`] counts them).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::addr::{Net, is_never_blockable};

/// Reason code of port-scan bans (`data/reasons.toml`).
pub const REASON_PORTSCAN: &str = "portscan";
/// Reason code of conntrack-count bans (CSF's CT_LIMIT).
pub const REASON_CT_LIMIT: &str = "ct_limit";
/// Reason code of CONNLIMIT bans.
pub const REASON_CONNLIMIT: &str = "connlimit";
/// Reason code of PORTFLOOD bans.
pub const REASON_PORTFLOOD: &str = "portflood";
/// Reason code of SYNFLOOD bans.
pub const REASON_SYNFLOOD: &str = "synflood";

/// Port-scan detection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPolicy {
    /// PS_LIMIT: report when the hits within the interval are more than
    /// this.
    pub limit: u32,
    /// PS_INTERVAL: the sliding window, seconds.
    pub interval_secs: u64,
    /// PS_DIVERSITY: at least this many distinct destination ports.
    pub diversity: u32,
    /// IPv6 sources are counted per network of this many bits.
    pub ipv6_prefix: u8,
    /// Most sources tracked at once.
    pub max_sources: usize,
}

impl Default for ScanPolicy {
    /// CSF's defaults (PS_LIMIT 10, PS_DIVERSITY 1) with the suggested
    /// 300 s interval; IPv6 per /64; 100,000 sources.
    fn default() -> Self {
        ScanPolicy {
            limit: 10,
            interval_secs: 300,
            diversity: 1,
            ipv6_prefix: 64,
            max_sources: 100_000,
        }
    }
}

/// A port scan worth a ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortScan {
    /// The source (an IPv6 source is its network).
    pub src: Net,
    /// The last address seen (inside `src`).
    pub addr: IpAddr,
    /// Hits within the window.
    pub hits: usize,
    /// Distinct destination ports hit, ascending.
    pub ports: Vec<u16>,
    /// Time of the first counted hit.
    pub first: i64,
    /// Time of the last hit.
    pub last: i64,
}

impl PortScan {
    /// CSF's summary: `*Port Scan* detected from ADDR. N hits in the last S
    /// seconds` (followed by the ports).
    pub fn summary(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        format!(
            "*Port Scan* detected from {}. {} hits in the last {} seconds (ports {})",
            self.src,
            self.hits,
            (self.last - self.first).max(0),
            ports.join(",")
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Hit {
    time: i64,
    port: u16,
}

#[derive(Debug)]
struct Source {
    ring: VecDeque<Hit>,
    addr: IpAddr,
}

/// Sliding-window port-scan counting per source.
#[derive(Debug)]
pub struct PortScanTracker {
    policy: ScanPolicy,
    sources: HashMap<Net, Source>,
    protected: Vec<Net>,
    refused: u64,
    last_sweep: i64,
}

impl PortScanTracker {
    /// A tracker with a policy.
    pub fn new(policy: ScanPolicy) -> Self {
        PortScanTracker {
            policy,
            sources: HashMap::default(),
            protected: Vec::new(),
            refused: 0,
            last_sweep: i64::MIN,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &ScanPolicy {
        &self.policy
    }

    /// Networks never counted (the host's own addresses, allowed and
    /// ignored ones); loopback, multicast and link-local always are.
    pub fn set_protected(&mut self, nets: Vec<Net>) {
        self.sources.retain(|k, s| {
            !nets
                .iter()
                .any(|n| n.contains(k.addr) || n.contains(s.addr))
        });
        self.protected = nets;
    }

    /// Sources tracked now.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Hits of new sources not tracked because the table was full of
    /// active sources.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The counting key of an address.
    pub fn key_of(&self, ip: IpAddr) -> Net {
        if ip.is_ipv6() {
            Net::containing(ip, self.policy.ipv6_prefix)
        } else {
            Net::host(ip)
        }
    }

    fn capacity(&self) -> usize {
        (self.policy.limit as usize + 1).max(self.policy.diversity as usize)
    }

    /// Count one logged connection attempt (`proto` is the IP protocol
    /// number; it does not separate ports: TCP 53 and UDP 53 are one port,
    /// as in CSF). Returns a decision when the source crosses the limit.
    pub fn observe(&mut self, src: IpAddr, dport: u16, proto: u8, time: i64) -> Option<PortScan> {
        let _ = proto;
        let src = crate::addr::normalise(src);
        if is_never_blockable(src) || self.protected.iter().any(|n| n.contains(src)) {
            return None;
        }
        let key = self.key_of(src);
        let window = i64::try_from(self.policy.interval_secs).unwrap_or(i64::MAX);
        if !self.sources.contains_key(&key) && self.sources.len() >= self.policy.max_sources {
            // Sweep at most once per second of event time.
            if time != self.last_sweep {
                self.last_sweep = time;
                self.evict_idle(time);
            }
            if self.sources.len() >= self.policy.max_sources {
                self.refused += 1;
                return None;
            }
        }
        let cap = self.capacity();
        let s = self.sources.entry(key).or_insert_with(|| Source {
            ring: VecDeque::with_capacity(cap.min(64)),
            addr: src,
        });
        s.addr = src;
        let horizon = time.saturating_sub(window);
        while s.ring.front().is_some_and(|h| h.time <= horizon) {
            s.ring.pop_front();
        }
        if s.ring.len() >= cap {
            s.ring.pop_front();
        }
        s.ring.push_back(Hit { time, port: dport });
        let hits = s.ring.len();
        if hits <= self.policy.limit as usize {
            return None;
        }
        let mut ports: Vec<u16> = s.ring.iter().map(|h| h.port).collect();
        ports.sort_unstable();
        ports.dedup();
        if ports.len() < self.policy.diversity as usize {
            return None;
        }
        let first = s.ring.front().map_or(time, |h| h.time);
        let addr = s.addr;
        self.sources.remove(&key);
        Some(PortScan {
            src: key,
            addr,
            hits,
            ports,
            first,
            last: time,
        })
    }

    /// Forget sources whose last hit is older than the interval.
    pub fn evict_idle(&mut self, now: i64) {
        let window = i64::try_from(self.policy.interval_secs).unwrap_or(i64::MAX);
        let horizon = now.saturating_sub(window);
        self.sources
            .retain(|_, s| s.ring.back().is_some_and(|h| h.time > horizon));
    }

    /// Forget a source (it was unblocked or allowed).
    pub fn forget(&mut self, ip: IpAddr) {
        let key = self.key_of(crate::addr::normalise(ip));
        self.sources.remove(&key);
    }

    /// Take over the counts of the tracker this one replaces (a reload);
    /// rings are trimmed to the new capacity.
    pub fn adopt(&mut self, old: PortScanTracker) {
        let cap = self.capacity();
        for (k, mut s) in old.sources {
            if self.sources.len() >= self.policy.max_sources {
                break;
            }
            while s.ring.len() > cap {
                s.ring.pop_front();
            }
            let key = self.key_of(s.addr);
            if key == k {
                self.sources.insert(k, s);
            }
        }
    }
}

/// A source over a connection limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnFlood {
    /// The source (an IPv6 source is its network).
    pub src: Net,
    /// Connections counted.
    pub count: usize,
    /// The limit it is over.
    pub limit: usize,
}

impl ConnFlood {
    /// CSF's summary: `(CT) IP ADDR found to have N connections`.
    pub fn summary(&self) -> String {
        format!(
            "(CT) IP {} found to have {} connections (limit {})",
            self.src, self.count, self.limit
        )
    }
}

/// CSF's CT_LIMIT: sources with **more than** `limit` connections (counts
/// from a conntrack dump, already filtered by state and port). IPv6
/// counts are summed per `ipv6_prefix` network; protected and
/// never-blockable sources are skipped. Sorted by count, largest first.
pub fn check_conn_counts(
    counts: impl IntoIterator<Item = (IpAddr, usize)>,
    limit: usize,
    ipv6_prefix: u8,
    protected: &[Net],
) -> Vec<ConnFlood> {
    let mut per: HashMap<Net, usize> = HashMap::default();
    for (ip, n) in counts {
        let ip = crate::addr::normalise(ip);
        if is_never_blockable(ip) || protected.iter().any(|p| p.contains(ip)) {
            continue;
        }
        let key = if ip.is_ipv6() {
            Net::containing(ip, ipv6_prefix)
        } else {
            Net::host(ip)
        };
        *per.entry(key).or_insert(0) += n;
    }
    let mut out: Vec<ConnFlood> = per
        .into_iter()
        .filter(|(_, n)| *n > limit)
        .map(|(src, count)| ConnFlood { src, count, limit })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.src.cmp(&b.src)));
    out
}

/// Which kernel limit dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// Concurrent connections per source and port.
    ConnLimit,
    /// New connections per source and port in a period.
    PortFlood,
    /// SYN rate per source.
    SynFlood,
}

impl LimitKind {
    /// The reason code of the ban.
    pub fn reason(self) -> &'static str {
        match self {
            LimitKind::ConnLimit => REASON_CONNLIMIT,
            LimitKind::PortFlood => REASON_PORTFLOOD,
            LimitKind::SynFlood => REASON_SYNFLOOD,
        }
    }
}

/// A kernel limit fired for a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// Which limit.
    pub kind: LimitKind,
    /// The source (an IPv6 source is its network).
    pub src: Net,
    /// The destination port of the dropped packet.
    pub port: u16,
    /// When.
    pub time: i64,
}

impl LimitHit {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        let r = self.kind.reason();
        match self.kind {
            LimitKind::ConnLimit => format!(
                "({r}) too many concurrent connections to port {} from {}",
                self.port, self.src
            ),
            LimitKind::PortFlood => format!(
                "({r}) too many new connections to port {} from {}",
                self.port, self.src
            ),
            LimitKind::SynFlood => {
                format!(
                    "({r}) SYN flood from {} (last port {})",
                    self.src, self.port
                )
            }
        }
    }
}

/// Turns the stream of limit drops the kernel logs (up to dozens per
/// second per offender) into one decision per (limit, source) per
/// `quiet_secs`. Bounded by `max_sources` entries (idle ones evicted).
#[derive(Debug)]
pub struct LimitReports {
    quiet_secs: i64,
    ipv6_prefix: u8,
    max_sources: usize,
    protected: Vec<Net>,
    seen: HashMap<(LimitKind, Net), i64>,
}

impl LimitReports {
    /// One decision per source and limit per `quiet_secs`.
    pub fn new(quiet_secs: u64, ipv6_prefix: u8, max_sources: usize) -> Self {
        LimitReports {
            quiet_secs: i64::try_from(quiet_secs).unwrap_or(i64::MAX),
            ipv6_prefix,
            max_sources: max_sources.max(1),
            protected: Vec::new(),
            seen: HashMap::default(),
        }
    }

    /// Networks never reported.
    pub fn set_protected(&mut self, nets: Vec<Net>) {
        self.protected = nets;
    }

    /// A dropped packet of `kind` from `src` to `port` at `time`.
    pub fn observe(
        &mut self,
        kind: LimitKind,
        src: IpAddr,
        port: u16,
        time: i64,
    ) -> Option<LimitHit> {
        let src = crate::addr::normalise(src);
        if is_never_blockable(src) || self.protected.iter().any(|n| n.contains(src)) {
            return None;
        }
        let key = if src.is_ipv6() {
            Net::containing(src, self.ipv6_prefix)
        } else {
            Net::host(src)
        };
        if let Some(&t) = self.seen.get(&(kind, key))
            && time.saturating_sub(t) < self.quiet_secs
        {
            return None;
        }
        if self.seen.len() >= self.max_sources {
            let horizon = time.saturating_sub(self.quiet_secs);
            self.seen.retain(|_, t| *t > horizon);
            if self.seen.len() >= self.max_sources {
                // Full of fresh reports: still decide, without remembering.
                return Some(LimitHit {
                    kind,
                    src: key,
                    port,
                    time,
                });
            }
        }
        self.seen.insert((kind, key), time);
        Some(LimitHit {
            kind,
            src: key,
            port,
            time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn policy(limit: u32, interval: u64, diversity: u32) -> ScanPolicy {
        ScanPolicy {
            limit,
            interval_secs: interval,
            diversity,
            ..ScanPolicy::default()
        }
    }

    #[test]
    fn more_than_limit_within_interval() {
        let mut t = PortScanTracker::new(policy(3, 60, 1));
        for (i, port) in [1, 2, 3].into_iter().enumerate() {
            assert_eq!(t.observe(ip("203.0.113.5"), port, 6, i as i64), None);
        }
        let d = t.observe(ip("203.0.113.5"), 4, 6, 10).expect("scan");
        assert_eq!(d.src.to_string(), "203.0.113.5");
        assert_eq!((d.hits, d.first, d.last), (4, 0, 10));
        assert_eq!(d.ports, vec![1, 2, 3, 4]);
        assert!(d.summary().contains("4 hits in the last 10 seconds"));
        // The ring was cleared: the next hit starts afresh.
        assert_eq!(t.observe(ip("203.0.113.5"), 5, 6, 11), None);
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn window_slides() {
        let mut t = PortScanTracker::new(policy(3, 60, 1));
        // 4 hits spread over 90 s: never 4 within 60 s.
        for (time, port) in [(0, 1), (30, 2), (59, 3), (61, 4), (91, 5)] {
            assert_eq!(t.observe(ip("198.51.100.7"), port, 6, time), None, "{time}");
        }
        // A hit at 100 makes 4 within (40, 100]: 59, 61, 91, 100.
        let d = t.observe(ip("198.51.100.7"), 6, 17, 100).expect("scan");
        assert_eq!((d.hits, d.first), (4, 59));
        // A CSF tumbling window cleared at 60 would have seen 3 then 1.
    }

    #[test]
    fn diversity_needs_distinct_ports() {
        let mut t = PortScanTracker::new(policy(3, 60, 3));
        // Hammering one closed port (a misconfigured client) is no scan.
        for i in 0..20 {
            assert_eq!(t.observe(ip("192.0.2.9"), 25, 6, i), None);
        }
        assert_eq!(t.observe(ip("192.0.2.9"), 26, 6, 21), None);
        let d = t.observe(ip("192.0.2.9"), 27, 6, 22).expect("3 ports");
        assert_eq!(d.ports, vec![25, 26, 27]);
        assert_eq!(d.hits, 4);
    }

    #[test]
    fn diversity_larger_than_limit() {
        let mut t = PortScanTracker::new(policy(1, 60, 5));
        for p in 1..5 {
            assert_eq!(t.observe(ip("192.0.2.9"), p, 6, 0), None);
        }
        let d = t.observe(ip("192.0.2.9"), 5, 6, 1).expect("5 ports");
        assert_eq!(d.ports.len(), 5);
    }

    #[test]
    fn ipv6_per_64_and_protected() {
        let mut t = PortScanTracker::new(policy(2, 60, 1));
        assert_eq!(t.observe(ip("2001:db8:1:2::1"), 1, 6, 0), None);
        assert_eq!(t.observe(ip("2001:db8:1:2::2"), 2, 6, 1), None);
        let d = t.observe(ip("2001:db8:1:2::3"), 3, 6, 2).expect("/64");
        assert_eq!(d.src.to_string(), "2001:db8:1:2::/64");
        assert_eq!(d.addr, ip("2001:db8:1:2::3"));
        // IPv4-mapped is IPv4.
        assert_eq!(t.observe(ip("::ffff:192.0.2.1"), 1, 6, 0), None);
        assert_eq!(t.key_of(ip("192.0.2.1")).to_string(), "192.0.2.1");
        t.set_protected(vec![Net::parse("192.0.2.0/24").expect("net")]);
        assert_eq!(t.tracked(), 0, "protected source forgotten");
        for i in 0..10 {
            assert_eq!(t.observe(ip("192.0.2.1"), i, 6, 3), None);
            assert_eq!(t.observe(ip("127.0.0.1"), i, 6, 3), None);
            assert_eq!(t.observe(ip("ff02::1"), i, 17, 3), None);
        }
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = PortScanTracker::new(ScanPolicy {
            max_sources: 100,
            ..policy(1000, 60, 1)
        });
        // One source: its ring holds at most limit + 1 hits.
        for i in 0..5000 {
            let _ = t.observe(ip("203.0.113.1"), (i % 100) as u16, 6, 0);
        }
        assert!(t.sources.values().all(|s| s.ring.len() <= 1001));
        // Many sources: at most max_sources; new ones refused while all
        // are active, admitted once the old ones are idle.
        for i in 0..300u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            let _ = t.observe(IpAddr::V4(a), 1, 6, 10);
        }
        assert_eq!(t.tracked(), 100);
        assert_eq!(t.refused(), 201);
        assert!(t.observe(ip("198.51.100.1"), 1, 6, 100).is_none());
        assert_eq!(t.tracked(), 1, "idle sources evicted");
        t.evict_idle(1000);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn reload_adopts_counts() {
        let mut old = PortScanTracker::new(policy(5, 60, 1));
        for p in 0..4 {
            let _ = old.observe(ip("203.0.113.9"), p, 6, 0);
        }
        let mut new = PortScanTracker::new(policy(3, 60, 1));
        new.adopt(old);
        assert!(new.observe(ip("203.0.113.9"), 9, 6, 1).is_some());
        new.forget(ip("203.0.113.9"));
        assert_eq!(new.tracked(), 0);
    }

    #[test]
    fn conn_counts_over_limit() {
        let counts = vec![
            (ip("192.0.2.1"), 300),
            (ip("192.0.2.2"), 301),
            (ip("2001:db8::1"), 200),
            (ip("2001:db8::2"), 200),
            (ip("127.0.0.1"), 5000),
            (ip("198.51.100.1"), 999),
        ];
        let own = [Net::parse("198.51.100.1").expect("net")];
        let d = check_conn_counts(counts, 300, 64, &own);
        let shown: Vec<String> = d.iter().map(|c| format!("{} {}", c.src, c.count)).collect();
        assert_eq!(shown, vec!["2001:db8::/64 400", "192.0.2.2 301"]);
        assert!(
            d[1].summary()
                .starts_with("(CT) IP 192.0.2.2 found to have 301")
        );
    }

    #[test]
    fn limit_reports_once_per_quiet_period() {
        let mut r = LimitReports::new(60, 64, 2);
        let a = r
            .observe(LimitKind::ConnLimit, ip("192.0.2.2"), 22, 0)
            .expect("first");
        assert_eq!(a.kind.reason(), "connlimit");
        assert!(
            a.summary().contains("port 22 from 192.0.2.2"),
            "{}",
            a.summary()
        );
        assert!(
            r.observe(LimitKind::ConnLimit, ip("192.0.2.2"), 22, 30)
                .is_none()
        );
        // Another limit for the same source is its own decision.
        assert!(
            r.observe(LimitKind::SynFlood, ip("192.0.2.2"), 80, 30)
                .is_some()
        );
        // Full: still decides for a new source.
        assert!(
            r.observe(LimitKind::PortFlood, ip("2001:db8::5"), 80, 31)
                .is_some_and(|h| h.src.to_string() == "2001:db8::/64")
        );
        assert!(
            r.observe(LimitKind::ConnLimit, ip("192.0.2.2"), 22, 61)
                .is_some()
        );
        r.set_protected(vec![Net::parse("192.0.2.0/24").expect("net")]);
        assert!(
            r.observe(LimitKind::ConnLimit, ip("192.0.2.3"), 22, 200)
                .is_none()
        );
    }
}
