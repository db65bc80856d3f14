//! The host's own addresses from rtnetlink, in a network namespace of our
//! own: the dump lists what is configured, and the watcher reports an
//! address added and removed after it started (issue 8: an address added
//! after the daemon started was banned).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{Netns, can_run, reap_stale};
use rampart_nft::{AddrChange, AddrWatcher, HostAddr, dump_addresses};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Collects changes until `want` has been seen (bounded: 20 s).
fn wait_for(w: &mut AddrWatcher, want: impl Fn(&AddrChange) -> bool) -> Vec<AddrChange> {
    let mut seen = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        let mut fds = [rustix::event::PollFd::new(w, rustix::event::PollFlags::IN)];
        let _ = rustix::event::poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            }),
        );
        seen.extend(w.changes().unwrap());
        if seen.iter().any(&want) {
            return seen;
        }
    }
    panic!("never reported; saw {seen:?}");
}

#[test]
fn dump_and_watch_addresses_in_a_namespace() {
    if !can_run("dump_and_watch_addresses_in_a_namespace") {
        return;
    }
    reap_stale("rampart-a-");
    let ns = Netns::new(format!("rampart-a-{}-addr", std::process::id()));
    ns.exec(&[
        "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1",
    ]);
    ns.exec(&["ip", "link", "set", "d0", "up"]);
    ns.exec(&["ip", "addr", "add", "198.51.100.1/24", "dev", "d0"]);
    ns.run(|| {
        let mut w = AddrWatcher::new().unwrap();
        let before = dump_addresses().unwrap();
        let addrs: Vec<IpAddr> = before.iter().map(|a| a.addr).collect();
        assert!(addrs.contains(&ip("127.0.0.1")), "{before:?}");
        assert!(addrs.contains(&ip("198.51.100.1")), "{before:?}");
        let d0 = before
            .iter()
            .find(|a| a.addr == ip("198.51.100.1"))
            .unwrap();
        assert_eq!(d0.prefix_len, 24);
        assert!(!addrs.contains(&ip("2001:db8::77")));
        assert!(w.changes().unwrap().is_empty(), "nothing changed yet");

        ns.exec(&["ip", "addr", "add", "192.0.2.77/24", "dev", "d0"]);
        ns.exec(&["ip", "addr", "add", "2001:db8::77/64", "dev", "d0", "nodad"]);
        let added = |a: &str| {
            let a = ip(a);
            move |c: &AddrChange| matches!(c, AddrChange::Added(h) if h.addr == a)
        };
        let seen = wait_for(&mut w, added("192.0.2.77"));
        let v4 = seen
            .iter()
            .find_map(|c| match c {
                AddrChange::Added(h) if h.addr == ip("192.0.2.77") => Some(*h),
                _ => None,
            })
            .unwrap();
        assert_eq!(v4.prefix_len, 24);
        assert_eq!(v4.ifindex, d0.ifindex);
        if !seen.iter().any(added("2001:db8::77")) {
            wait_for(&mut w, added("2001:db8::77"));
        }
        let now: Vec<HostAddr> = dump_addresses().unwrap();
        assert!(
            now.iter()
                .any(|a| a.addr == ip("2001:db8::77") && a.prefix_len == 64)
        );

        ns.exec(&["ip", "addr", "del", "192.0.2.77/24", "dev", "d0"]);
        wait_for(
            &mut w,
            |c| matches!(c, AddrChange::Removed(h) if h.addr == ip("192.0.2.77")),
        );
        assert!(
            !dump_addresses()
                .unwrap()
                .iter()
                .any(|a| a.addr == ip("192.0.2.77"))
        );
    });
}
