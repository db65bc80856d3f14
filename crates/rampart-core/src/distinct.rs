//! Distinct ports per source, for rules that count ports rather than lines
//! (`distinct = "port"`).
//!
//! A firewall log line is written for every dropped packet: a client whose
//! connection to one closed port is retried, or a forgotten service polling
//! the same port, writes many lines that are no scan. A port scan touches
//! many *different* ports. Before an event of such a rule reaches the
//! tracker, [`DistinctPorts::first_hit`] says whether its port is new for
//! the source within the counting window; only new ports are counted, so
//! the group's threshold becomes a number of distinct ports.
//!
//! Memory is bounded: at most [`MAX_PORTS`] ports per source (a source that
//! reached that many has long crossed any threshold) and `max_keys`
//! sources; when full, sources idle for longer than their window are
//! evicted, and if none is, a new source's hit is counted as new (the
//! detector then counts lines, as rules without `distinct` do).

use crate::addr::Net;
use crate::fxhash::FxHashMap;
use crate::tracker::GroupId;

/// Ports remembered per source.
pub const MAX_PORTS: usize = 256;

/// Recently hit ports per (group, source), each with its last hit time.
#[derive(Debug)]
pub struct DistinctPorts {
    seen: FxHashMap<(GroupId, Net), Vec<(u16, i64)>>,
    max_keys: usize,
}

impl DistinctPorts {
    /// An empty set tracking at most `max_keys` sources.
    pub fn new(max_keys: usize) -> Self {
        DistinctPorts {
            seen: FxHashMap::default(),
            max_keys,
        }
    }

    /// Records a hit on `port` at `time`; returns whether the source had
    /// not hit that port within the last `window` seconds.
    pub fn first_hit(
        &mut self,
        group: GroupId,
        src: Net,
        port: u16,
        time: i64,
        window: u64,
    ) -> bool {
        let window = i64::try_from(window).unwrap_or(i64::MAX);
        if self.seen.len() >= self.max_keys && !self.seen.contains_key(&(group, src)) {
            self.evict_idle(time, window);
            if self.seen.len() >= self.max_keys {
                return true;
            }
        }
        let ports = self.seen.entry((group, src)).or_default();
        ports.retain(|&(_, t)| time.saturating_sub(t) < window);
        if let Some(p) = ports.iter_mut().find(|(p, _)| *p == port) {
            p.1 = p.1.max(time);
            return false;
        }
        if ports.len() >= MAX_PORTS {
            ports.remove(0);
        }
        ports.push((port, time));
        true
    }

    fn evict_idle(&mut self, now: i64, window: i64) {
        self.seen
            .retain(|_, ports| ports.iter().any(|&(_, t)| now.saturating_sub(t) < window));
    }

    /// Forgets sources with no hit within `window` seconds of `now`.
    pub fn evict(&mut self, now: i64, window: u64) {
        self.evict_idle(now, i64::try_from(window).unwrap_or(i64::MAX));
    }

    /// Forgets everything about sources inside `net`'s address.
    pub fn forget(&mut self, ip: std::net::IpAddr) {
        self.seen.retain(|(_, src), _| !src.contains(ip));
    }

    /// Sources tracked.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Net {
        Net::parse(s).unwrap()
    }

    #[test]
    fn counts_each_port_once_per_window() {
        let mut d = DistinctPorts::new(10);
        let a = net("198.51.100.7");
        assert!(d.first_hit(0, a, 22, 100, 300));
        assert!(!d.first_hit(0, a, 22, 110, 300));
        assert!(d.first_hit(0, a, 23, 120, 300));
        // another source, another group: their own sets
        assert!(d.first_hit(0, net("203.0.113.9"), 22, 120, 300));
        assert!(d.first_hit(1, a, 22, 120, 300));
        // the retry at 110 kept port 22 fresh; after the window it is new again
        assert!(!d.first_hit(0, a, 22, 400, 300));
        assert!(d.first_hit(0, a, 22, 800, 300));
        d.forget("198.51.100.7".parse().unwrap());
        assert_eq!(d.tracked(), 1);
    }

    #[test]
    fn bounded() {
        let mut d = DistinctPorts::new(2);
        assert!(d.first_hit(0, net("192.0.2.1"), 1, 0, 10));
        assert!(d.first_hit(0, net("192.0.2.2"), 1, 0, 10));
        // full and nobody idle: counted as new, not tracked
        assert!(d.first_hit(0, net("192.0.2.3"), 1, 5, 10));
        assert!(d.first_hit(0, net("192.0.2.3"), 1, 5, 10));
        assert_eq!(d.tracked(), 2);
        // once the others are idle, room is made
        assert!(d.first_hit(0, net("192.0.2.3"), 1, 50, 10));
        assert!(!d.first_hit(0, net("192.0.2.3"), 1, 51, 10));
        for p in 0..1000u16 {
            d.first_hit(0, net("192.0.2.3"), p, 52, 10);
        }
        assert!(d.seen.values().all(|v| v.len() <= MAX_PORTS));
    }
}
