//! Two measurements of the follower (numbers go to BENCHMARKS.md):
//!
//! - idle: 20 watched files, nothing written, for `IDLE_SECS` (default 10):
//!   context switches of the following thread (from `/proc/self/status`)
//!   and CPU time; the same with a 5 ms polling loop over the same files,
//!   as the daemon did before, for comparison;
//! - throughput: one `MB`-MiB file (default 512) of 100-byte lines read
//!   from its start in batches of `BUDGET` bytes (default 4 MiB).
//!
//! `cargo run --release -p rampart-tail --example bench [idle|read]`

#![allow(clippy::unwrap_used)]

use rampart_tail::{Checkpoint, Follower, Options, Spec, StartAt};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Voluntary + involuntary context switches of the main thread.
fn switches() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// User + system CPU time of the process, in clock ticks (1/100 s).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-tail-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idle() {
    let secs = env("IDLE_SECS", 10);
    let d = dir("idle");
    let paths: Vec<PathBuf> = (0..20).map(|i| d.join(format!("f{i}.log"))).collect();
    for p in &paths {
        std::fs::write(p, "x\n").unwrap();
    }
    let specs = paths.iter().map(Spec::new).collect();
    let mut f = Follower::new(specs, Options::default(), &Checkpoint::new()).unwrap();
    f.read(4 << 20, &mut |_| {});
    let (s0, c0, t0) = (switches(), cpu_ticks(), Instant::now());
    let end = t0 + Duration::from_secs(secs);
    let mut wakeups = 0u64;
    while Instant::now() < end {
        f.wait(Some(end.saturating_duration_since(Instant::now())));
        f.read(4 << 20, &mut |_| {});
        wakeups += 1;
    }
    println!(
        "inotify follower, 20 idle files, {secs} s: {} context switches, {} loop passes, {} CPU ticks",
        switches() - s0,
        wakeups,
        cpu_ticks() - c0
    );
    let (s0, c0) = (switches(), cpu_ticks());
    let end = Instant::now() + Duration::from_secs(secs);
    let mut passes = 0u64;
    while Instant::now() < end {
        for p in &paths {
            let _ = std::fs::metadata(p);
        }
        std::thread::sleep(Duration::from_millis(5));
        passes += 1;
    }
    println!(
        "5 ms polling loop (before), 20 idle files, {secs} s: {} context switches, {passes} loop passes, {} CPU ticks",
        switches() - s0,
        cpu_ticks() - c0
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn write_big(p: &Path, mib: u64) -> u64 {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p).unwrap());
    let mut lines = 0u64;
    let mut written = 0u64;
    while written < mib << 20 {
        let l = format!(
            "Jan  1 00:00:00 host sshd[1234]: Failed password for root from 192.0.2.{} port {} ssh2\n",
            lines % 250,
            10_000 + lines % 50_000
        );
        let pad = 100usize.saturating_sub(l.len());
        w.write_all(&l.as_bytes()[..l.len() - 1]).unwrap();
        w.write_all(&b"                                        "[..pad.min(40)])
            .unwrap();
        w.write_all(b"\n").unwrap();
        written += (l.len() + pad.min(40)) as u64;
        lines += 1;
    }
    w.flush().unwrap();
    lines
}

fn read() {
    let mib = env("MB", 512);
    let budget = env("BUDGET", 4 << 20) as usize;
    let d = dir("read");
    let p = d.join("big.log");
    let lines = write_big(&p, mib);
    let opts = Options {
        start_existing: StartAt::Beginning,
        ..Options::default()
    };
    let mut f = Follower::new(vec![Spec::new(&p)], opts, &Checkpoint::new()).unwrap();
    let mut cp = Checkpoint::new();
    let (mut got, mut bytes, mut batches, mut calls) = (0u64, 0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let c0 = cpu_ticks();
    while got < lines {
        let r = f.read(budget, &mut |b| {
            got += b.lines;
            bytes += b.data.len() as u64;
            batches += 1;
            cp.record(&b);
        });
        calls += 1;
        if !r.more && got < lines {
            f.wait(Some(Duration::from_millis(100)));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "read {got} lines ({:.0} MiB) in {secs:.3} s: {:.2} M lines/s, {:.0} MiB/s, \
         {batches} batches in {calls} read calls (budget {budget} B), {} CPU ticks",
        bytes as f64 / 1048576.0,
        got as f64 / secs / 1e6,
        bytes as f64 / 1048576.0 / secs,
        cpu_ticks() - c0
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("idle") => idle(),
        Some("read") => read(),
        _ => {
            idle();
            read();
        }
    }
}
