//! Benchmark (not run by default): memory per tracked address.
//!     cargo test --release -p rampart --test memory -- --ignored --nocapture
#![allow(clippy::unwrap_used)]

use rampart_core::tracker::{BanPolicy, DistributedPolicy, GroupPolicy, Observation, Tracker};
use std::net::{IpAddr, Ipv4Addr};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
#[ignore = "benchmark"]
fn memory_per_tracked_address() {
    let n: u32 = 1_000_000;
    let group = GroupPolicy {
        name: "sshd".into(),
        reason: "sshd".into(),
        threshold: 5,
        window_secs: 3600,
        ban_secs: Some(3600),
        ports: vec![],
    };
    let mut t = Tracker::new(
        vec![group],
        BanPolicy::default(),
        DistributedPolicy::default(),
        64,
    );
    let line = b"Nov 27 08:15:00 web1 sshd[4242]: Failed password for root from 198.51.100.7 port 52144 ssh2";
    let before = rss_kib();
    for i in 0..n {
        // two failures each: tracked, below the threshold
        for k in 0..2 {
            t.observe(&Observation {
                group: 0,
                ip: IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)),
                time: i64::from(k),
                count: 1,
                user: Some(b"root"),
                line,
                rule: 0,
                rule_id: None,
            });
        }
    }
    let after = rss_kib();
    assert_eq!(t.tracked(), n as usize);
    println!(
        "{n} tracked addresses (2 failures and 2 evidence lines of {} bytes each): RSS +{} MiB = {} bytes per address",
        line.len(),
        (after - before) / 1024,
        (after - before) * 1024 / u64::from(n)
    );
}
