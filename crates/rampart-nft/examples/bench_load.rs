//! Benchmark: load N non-overlapping IPv4 CIDRs (a /24, /28, /32 mix), each
//! with its own 2 h timeout, into an interval+timeout set over netlink.
//!
//! Runs as root inside a network namespace it creates and deletes (the
//! host's ruleset is never touched):
//!
//! ```text
//! cargo run --release -p rampart-nft --example bench_load -- 100000
//! cargo run --release -p rampart-nft --example bench_load -- 1000000
//! ```
//!
//! Prints the time of `replace` (flush + add, one transaction when it fits)
//! into an empty set, of `add` into another empty set, and the process's
//! peak RSS (VmHWM); with `--list`, also the time to list the set back.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use rampart_nft::{
    Blocklist, Element, Firewall, IpRange, ListDirection, NftFirewall, Ruleset, SetList,
};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// N non-overlapping, non-adjacent CIDRs: block i is the /24 at
/// 1.0.0.0 + i*256; it holds the whole /24, a /28 at offset 16 or a /32 at
/// offset 1, in turn.
fn cidrs(n: usize) -> Vec<Element> {
    (0..n as u32)
        .map(|i| {
            let base = 0x0100_0000u32 + i * 256;
            let (addr, prefix) = match i % 3 {
                0 => (base, 24),
                1 => (base + 16, 28),
                _ => (base + 1, 32),
            };
            let range = IpRange::cidr(IpAddr::V4(Ipv4Addr::from(addr)), prefix)
                .unwrap_or_else(|_| IpRange::single(IpAddr::V4(Ipv4Addr::from(addr))));
            Element::temporary(range, Duration::from_secs(7200))
        })
        .collect()
}

/// Delete `rampart-bench-PID` namespaces of runs that were killed.
fn reap_stale() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("rampart-bench-")
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

fn run(n: usize, list: bool) -> Result<(), String> {
    reap_stale();
    let ns = Ns(format!("rampart-bench-{}", std::process::id()));
    let st = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .map_err(|e| format!("ip netns add: {e}"))?;
    if !st.success() {
        return Err("ip netns add failed (root needed)".into());
    }
    let f = File::open(format!("/run/netns/{}", ns.0)).map_err(|e| e.to_string())?;
    move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(|e| format!("setns: {e}"))?;

    let mut fw = NftFirewall::new().map_err(|e| e.to_string())?;
    let rs = Ruleset {
        blocklists: ["bench_replace", "bench_add"]
            .iter()
            .map(|n| Blocklist {
                name: n.to_string(),
                direction: ListDirection::In,
            })
            .collect(),
        ..Ruleset::default()
    };
    fw.apply(&rs).map_err(|e| e.to_string())?;
    let elems = cidrs(n);
    println!(
        "{n} CIDRs generated; peak RSS so far {:.1} MiB; SO_SNDBUFFORCE {}",
        peak_rss_mib(),
        if fw.buffer_forced() { "ok" } else { "refused" }
    );

    let l = SetList::blocklist("bench_replace").map_err(|e| e.to_string())?;
    let t = Instant::now();
    let s = fw.replace(&l, &elems).map_err(|e| e.to_string())?;
    let replace = t.elapsed();
    println!(
        "replace: {:.3} s  ({} elements, {} transaction(s), {:.1} MiB sent, atomic {})",
        replace.as_secs_f64(),
        s.elements,
        s.batches,
        s.bytes as f64 / 1048576.0,
        s.atomic
    );

    let l2 = SetList::blocklist("bench_add").map_err(|e| e.to_string())?;
    let t = Instant::now();
    let s = fw.add(&l2, &elems).map_err(|e| e.to_string())?;
    println!(
        "add:     {:.3} s  ({} elements, {} transaction(s))",
        t.elapsed().as_secs_f64(),
        s.elements,
        s.batches
    );

    println!("peak RSS: {:.1} MiB", peak_rss_mib());
    if list {
        // The kernel restarts its tree walk for every 32 KiB dump chunk:
        // listing is quadratic (about 1 s for 100k, 2 minutes for 1M).
        let t = Instant::now();
        let listed = fw.list(&l).map_err(|e| e.to_string())?;
        println!(
            "list:    {:.3} s  ({} elements back)",
            t.elapsed().as_secs_f64(),
            listed.len()
        );
        if listed.len() != n {
            return Err(format!("listed {} elements, loaded {n}", listed.len()));
        }
    }
    drop(fw);
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let list = args.iter().any(|a| a == "--list");
    args.retain(|a| a != "--list");
    let n = match args.first().map(|a| a.parse::<usize>()) {
        None => 100_000,
        Some(Ok(n)) if n > 0 && n <= 4_000_000 && args.len() == 1 => n,
        _ => {
            eprintln!("usage: bench_load [N] [--list]  (N 1..=4000000, default 100000)");
            return ExitCode::from(2);
        }
    };
    match run(n, list) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_load: {e}");
            ExitCode::FAILURE
        }
    }
}
