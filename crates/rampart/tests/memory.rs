//! Benchmarks (not run by default) of the tracker: memory per tracked
//! address, clustered against random addresses, the hash behind its
//! table, and ten million sources through the whole detector.
//!
//!     cargo test --release -p rampart --test memory -- --ignored --nocapture --test-threads 1
//!
//! Numbers go to BENCHMARKS.md; nothing here asserts a time.
#![allow(clippy::unwrap_used)]

use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_core::detect::Detector;
use rampart_core::time::TimeContext;
use rampart_core::tracker::{
    BanPolicy, DistributedPolicy, GroupPolicy, Observation, Outcome, Tracker,
};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn tracker(ipv6_prefix: u8) -> Tracker {
    let group = GroupPolicy {
        name: "sshd".into(),
        reason: "sshd".into(),
        threshold: 5,
        window_secs: 3600,
        ban_secs: Some(3600),
        ports: vec![],
    };
    Tracker::new(
        vec![group],
        BanPolicy::default(),
        DistributedPolicy::default(),
        ipv6_prefix,
    )
}

const LINE: &[u8] =
    b"Nov 27 08:15:00 web1 sshd[4242]: Failed password for root from 198.51.100.7 port 52144 ssh2";

/// Two failures per address (tracked, below the threshold of 5).
fn feed(t: &mut Tracker, ips: &[IpAddr]) {
    for k in 0..2 {
        for &ip in ips {
            t.observe(&Observation {
                group: 0,
                ip,
                time: k,
                count: 1,
                user: Some(b"root"),
                line: LINE,
                rule: 0,
                rule_id: None,
            });
        }
    }
}

/// A bijective scrambler of 32-bit words: distinct inputs, distinct
/// "random" outputs.
fn mix32(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9e37_79b1);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^ (x >> 13)
}

fn v4(x: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(x))
}

/// `n` distinct scattered IPv4 addresses, none of them loopback,
/// multicast or otherwise never counted.
fn random_v4(n: usize) -> Vec<IpAddr> {
    (0..=u32::MAX)
        .map(mix32)
        .filter(|&a| (0x0100_0000..0xe000_0000).contains(&a) && a >> 24 != 127)
        .take(n)
        .map(v4)
        .collect()
}

/// `n` distinct scattered IPv6 addresses in 2001:db8::/32.
fn random_v6(n: usize) -> Vec<IpAddr> {
    (0..n as u32)
        .map(|i| {
            let (a, b, c) = (mix32(i), mix32(i ^ 0x5555_5555), mix32(!i));
            let bits =
                0x2001_0db8_u128 << 96 | u128::from(a) << 64 | u128::from(b) << 32 | u128::from(c);
            IpAddr::V6(Ipv6Addr::from(bits))
        })
        .collect()
}

#[test]
#[ignore = "benchmark"]
fn memory_per_tracked_address() {
    let n: u32 = 1_000_000;
    let ips: Vec<IpAddr> = (0..n).map(|i| v4(0x0b00_0000 + i)).collect();
    let mut t = tracker(64);
    let before = rss_kib();
    feed(&mut t, &ips);
    let after = rss_kib();
    assert_eq!(t.tracked(), n as usize);
    println!(
        "{n} tracked addresses (2 failures and 2 evidence lines of {} bytes each): RSS +{} MiB = {} bytes per address",
        LINE.len(),
        (after - before) / 1024,
        (after - before) * 1024 / u64::from(n)
    );
}

/// This thread's CPU time so far, seconds (user + system, in clock ticks
/// of 10 ms: other processes on a shared machine do not inflate it as they
/// inflate wall-clock time).
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // fields after the parenthesised command name; utime and stime are the 14th and 15th
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// CPU seconds per event to track `ips` (two failures each) in fresh
/// trackers, repeated up to about 8M events so that the 10 ms clock ticks
/// do not matter.
fn time_tracker(ips: &[IpAddr], ipv6_prefix: u8) -> f64 {
    let reps = ((1 << 22) / ips.len()).max(1);
    let mut secs = 0.0;
    for _ in 0..reps {
        let mut t = tracker(ipv6_prefix);
        let start = cpu_secs();
        feed(&mut t, ips);
        secs += cpu_secs() - start;
        assert_eq!(t.tracked(), ips.len());
    }
    secs / (2 * reps * ips.len()) as f64
}

#[test]
#[ignore = "benchmark"]
fn clustered_addresses_cost_what_random_ones_cost() {
    let m: u32 = 1 << 20;
    let s: u32 = 1 << 16;
    let v6 = |bits: u128| IpAddr::V6(Ipv6Addr::from(bits));
    // (name, addresses, IPv6 prefix counted, index of the random workload to compare with)
    let workloads: Vec<(&str, Vec<IpAddr>, u8, usize)> = vec![
        ("1M random IPv4", random_v4(m as usize), 64, 0),
        (
            "1M sequential IPv4",
            (0..m).map(|i| v4(0x0b00_0000 + i)).collect(),
            64,
            0,
        ),
        (
            "1M random IPv6 (counted per address)",
            random_v6(m as usize),
            128,
            2,
        ),
        (
            "1M IPv6 addresses in one /48 (per address)",
            (0..m)
                .map(|i| v6(0x2001_0db8_0001_u128 << 80 | u128::from(i)))
                .collect(),
            128,
            2,
        ),
        ("1M random IPv6 /64s", random_v6(m as usize), 64, 4),
        (
            "1M IPv6 /64s in one /32",
            (0..m)
                .map(|i| v6(0x2001_0db8_u128 << 96 | u128::from(i) << 64))
                .collect(),
            64,
            4,
        ),
        ("64k random IPv4", random_v4(s as usize), 64, 6),
        (
            "64k IPv4: all of one /16",
            (0..s).map(|i| v4(0xcb00_0000 + i)).collect(),
            64,
            6,
        ),
        ("64k random IPv6 /64s", random_v6(s as usize), 64, 8),
        (
            "64k IPv6 /64s: all of one /48",
            (0..s)
                .map(|i| v6(0x2001_0db8_0001_u128 << 80 | u128::from(i) << 64))
                .collect(),
            64,
            8,
        ),
    ];
    let runs = 7;
    let mut times = vec![Vec::new(); workloads.len()];
    for _ in 0..runs {
        for (i, (_, ips, p, _)) in workloads.iter().enumerate() {
            times[i].push(time_tracker(ips, *p));
        }
    }
    let med: Vec<f64> = times
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    println!(
        "tracker, 2 failures per key, CPU time per event, median of {runs} runs taken in turn:"
    );
    for ((name, _, _, base), t) in workloads.iter().zip(&med) {
        println!(
            "  {name:<46} {:>5.0} ns/event  {:>+6.1}% vs {}",
            t * 1e9,
            (t / med[*base] - 1.0) * 100.0,
            workloads[*base].0
        );
    }
}

/// Rampart's Fx hasher before this change: `finish` returned the raw product.
#[derive(Default)]
struct OldFx(u64);

impl Hasher for OldFx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The same with rustc-hash 2's finish (rotate the product): today's
/// `rampart_core::fxhash::FxHasher`.
type RotFx = rampart_core::fxhash::FxHasher;

/// The old tracker's map key: (group, address or network).
type Key = (u16, Net);

/// Distinct buckets of a 2^21-bucket table the keys fall in.
fn buckets<S: BuildHasher + Default>(keys: &[Key]) -> usize {
    let s = S::default();
    let mut seen: Vec<bool> = vec![false; 1 << 21];
    for &k in keys {
        seen[(s.hash_one(k) & ((1 << 21) - 1)) as usize] = true;
    }
    seen.iter().filter(|b| **b).count()
}

/// Milliseconds to insert the keys into a `HashMap` with this hasher.
fn insert_ms<S: BuildHasher + Default>(keys: &[Key]) -> f64 {
    let start = Instant::now();
    let mut m: HashMap<Key, u32, S> = HashMap::with_hasher(S::default());
    for (i, &k) in keys.iter().enumerate() {
        m.insert(k, i as u32);
    }
    assert_eq!(m.len(), keys.len());
    start.elapsed().as_secs_f64() * 1e3
}

#[test]
#[ignore = "benchmark"]
fn hash_functions_on_clustered_keys() {
    let key = |ip: IpAddr| (0u16, Net::containing(ip, 64));
    let sets: Vec<(&str, Vec<Key>)> = vec![
        (
            "1M random IPv4",
            random_v4(1 << 20).into_iter().map(key).collect(),
        ),
        (
            "1M sequential IPv4",
            (0..1 << 20).map(|i| key(v4(0x0b00_0000 + i))).collect(),
        ),
        (
            "1M IPv6 /64s in a /32",
            (0..1u32 << 20)
                .map(|i| {
                    key(IpAddr::V6(Ipv6Addr::from(
                        0x2001_0db8_u128 << 96 | u128::from(i) << 64,
                    )))
                })
                .collect(),
        ),
        (
            "64k random IPv4",
            random_v4(1 << 16).into_iter().map(key).collect(),
        ),
        (
            "64k IPv4: one /16",
            (0..1 << 16).map(|i| key(v4(0xcb00_0000 + i))).collect(),
        ),
    ];
    type Old = BuildHasherDefault<OldFx>;
    type Rot = BuildHasherDefault<RotFx>;
    println!("distinct buckets of 2^21 the keys fall in (more is better); HashMap insert time");
    for (name, keys) in &sets {
        // the old hash on 1M clustered keys can take minutes: timed on 64k only
        let old_ms = if keys.len() <= 1 << 16 {
            format!("{:>8.1} ms", insert_ms::<Old>(keys))
        } else {
            "       –   ".into()
        };
        println!(
            "  {name:<20} old Fx {:>9} {old_ms} | Fx + rotate {:>9} {:>6.1} ms | SipHash-1-3 keyed {:>9} {:>6.1} ms",
            buckets::<Old>(keys),
            buckets::<Rot>(keys),
            insert_ms::<Rot>(keys),
            buckets::<RandomState>(keys),
            insert_ms::<RandomState>(keys),
        );
    }
}

/// Ten million distinct sources, one failure each, through the detector
/// with the built-in rule pack and the default configuration (at most
/// 4,000,000 tracked addresses; `RAMPART_BENCH_MAX_TRACKED` sets another
/// limit), and 1,000 attackers, each failing five
/// times in a row somewhere in the flood (most of them after the tracker
/// is full): every one of them must be banned.
#[test]
#[ignore = "benchmark"]
fn ten_million_sources_through_the_detector() {
    let flood: u32 = 10_000_000;
    let attackers: u32 = 1_000;
    let mut config = Config::default();
    if let Ok(n) = std::env::var("RAMPART_BENCH_MAX_TRACKED") {
        config.max_tracked = n.parse().unwrap();
    }
    let mut det = Detector::new(
        rampart_core::builtin::rules().unwrap(),
        &config,
        rampart_core::explain::builtin(),
        Vec::new(),
    )
    .unwrap();
    let ctx = TimeContext::utc(1_795_780_800);
    let before = rss_kib();
    let start = Instant::now();
    let mut line = Vec::with_capacity(128);
    let mut banned = std::collections::HashSet::new();
    let every = flood / attackers;
    for i in 0..flood {
        let ip = Ipv4Addr::from(0x0b00_0000 + i);
        line.clear();
        write!(
            line,
            "Nov 27 08:15:00 web1 sshd[4242]: Failed password for root from {ip} port 52144 ssh2"
        )
        .unwrap();
        det.process(&line, &ctx, ctx.reference).unwrap();
        if i % every == every / 2 {
            let ip = Ipv4Addr::from(0xcb00_0000 + i / every);
            for _ in 0..5 {
                line.clear();
                write!(
                    line,
                    "Nov 27 08:15:00 web1 sshd[4243]: Invalid user admin from {ip} port 40000"
                )
                .unwrap();
                if let Some((_, Outcome::Banned(d))) = det.process(&line, &ctx, ctx.reference) {
                    banned.extend(d.iter().map(|d| d.target));
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let after = rss_kib();
    let s = det.stats.clone();
    println!(
        "{} lines in {secs:.1} s ({:.2} M lines/s): {} events, {} tracked, {} evicted to make room, {} dropped, {} bans ({} of {attackers} attackers)",
        s.lines,
        s.lines as f64 / secs / 1e6,
        s.events,
        det.tracker().tracked(),
        s.evicted_full,
        s.dropped_full,
        s.bans,
        banned.len()
    );
    println!(
        "RSS {} MiB → {} MiB (+{} MiB; peak {} MiB)",
        before / 1024,
        after / 1024,
        (after - before) / 1024,
        status_kib("VmHWM:") / 1024
    );
    assert_eq!(s.events, u64::from(flood + 5 * attackers));
    assert_eq!(s.dropped_full, 0);
    assert_eq!(
        s.evicted_full + det.tracker().tracked() as u64,
        u64::from(flood + attackers)
    );
    assert_eq!(banned.len(), attackers as usize);
}
