//! Rate limits in the servers, behind the kernel's per-source meters: a
//! token bucket per source (IPv6 per /64) in a bounded table, and one
//! global bucket for self-unblocks. A source over its limit costs a table
//! lookup and a few bytes of answer; a full table refuses unknown sources
//! rather than grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Sources tracked at most.
const MAX_SOURCES: usize = 16_384;

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-source token buckets.
pub struct PerSource {
    rate: f64,
    burst: f64,
    table: Mutex<HashMap<IpAddr, Bucket>>,
}

impl PerSource {
    /// `rate` per second, bursts of `burst`.
    pub fn new(rate: u32, burst: u32) -> PerSource {
        PerSource {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may have one more request now.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let key = source_key(ip);
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if t.len() >= MAX_SOURCES && !t.contains_key(&key) {
            // forget the sources whose buckets are full again
            let idle = self.burst / self.rate;
            t.retain(|_, b| now.saturating_duration_since(b.at).as_secs_f64() < idle);
            if t.len() >= MAX_SOURCES {
                return false;
            }
        }
        let b = t.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.take(self.rate, self.burst, now)
    }

    /// Sources in the table.
    pub fn tracked(&self) -> usize {
        self.table.lock().map_or(0, |t| t.len())
    }
}

/// A global budget: `per_hour` events per hour, all sources together.
pub struct Budget {
    per_hour: u32,
    bucket: Mutex<Bucket>,
}

impl Budget {
    /// `per_hour` a full hour's worth available at once.
    pub fn new(per_hour: u32, now: Instant) -> Budget {
        Budget {
            per_hour,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(per_hour),
                at: now,
            }),
        }
    }

    /// Takes one, if any is left.
    pub fn take(&self, now: Instant) -> bool {
        let rate = f64::from(self.per_hour) / 3600.0;
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.take(rate, f64::from(self.per_hour), now)
    }
}

/// IPv4 sources one by one, IPv6 per /64 (one customer's network).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_source_gets_its_burst_then_its_rate_and_others_are_unaffected() {
        let l = PerSource::new(2, 4);
        let t0 = Instant::now();
        let a: IpAddr = "198.51.100.7".parse().expect("ip");
        let b: IpAddr = "198.51.100.8".parse().expect("ip");
        assert_eq!((0..10).filter(|_| l.allow(a, t0)).count(), 4);
        assert!(l.allow(b, t0));
        assert!(l.allow(a, t0 + Duration::from_millis(600)));
        assert!(!l.allow(a, t0 + Duration::from_millis(600)));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = PerSource::new(1, 1);
        let t0 = Instant::now();
        assert!(l.allow("2001:db8::1".parse().expect("ip"), t0));
        assert!(!l.allow("2001:db8::2".parse().expect("ip"), t0));
        assert!(l.allow("2001:db8:0:1::1".parse().expect("ip"), t0));
    }

    #[test]
    fn the_table_is_bounded() {
        let l = PerSource::new(1, 1);
        let t0 = Instant::now();
        for i in 0..MAX_SOURCES as u32 + 10 {
            let _ = l.allow(IpAddr::V4(i.into()), t0);
        }
        assert!(l.tracked() <= MAX_SOURCES);
    }

    #[test]
    fn the_global_budget_refills_per_hour() {
        let t0 = Instant::now();
        let b = Budget::new(2, t0);
        assert!(b.take(t0) && b.take(t0) && !b.take(t0));
        assert!(b.take(t0 + Duration::from_secs(1800)));
    }
}
