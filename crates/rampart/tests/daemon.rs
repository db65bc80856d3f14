//! End-to-end tests of the daemon (`rampart run`) with real log files,
//! real nftables and real traffic in network namespaces this test creates.
//! Root only: they print SKIPPED without root, and fail instead when
//! RAMPART_REQUIRE_ROOT_TESTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod host;

use host::common::rng::Rng;
use host::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn run_blocks_live_across_rotation_and_restart() {
    if !can_run("run_blocks_live_across_rotation_and_restart") {
        return;
    }
    let h = Host::new("run", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "web1 sshd[1]: Server listening on 0.0.0.0 port 22.\n");
    let mut child = spawn_run(&h, &log, &errlog);
    // 3 failures, a rename rotation, 2 more: none lost, none counted twice
    append(&log, &fail_lines("198.51.100.7", 3, 100));
    std::thread::sleep(Duration::from_millis(100));
    std::fs::rename(&log, dir.join("auth.log.1")).unwrap();
    append(&log, &fail_lines("198.51.100.7", 1, 200));
    assert!(
        h.lab.tcp("198.51.100.7", common::SRV4, 8080),
        "4 failures: not banned yet"
    );
    append(&log, &fail_lines("198.51.100.7", 1, 300));
    assert!(
        wait_blocked(&h, "198.51.100.7"),
        "banned live after the 5th failure: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(
        h.lab.tcp("198.51.100.8", common::SRV4, 8080),
        "another address still connects"
    );
    // a restart in the middle keeps the counts
    append(&log, &fail_lines("198.51.100.6", 3, 400));
    std::thread::sleep(Duration::from_millis(300));
    stop(&mut child);
    let mut child = spawn_run(&h, &log, &errlog);
    append(&log, &fail_lines("198.51.100.6", 2, 500));
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "3 before + 2 after the restart ban: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    stop(&mut child);
    // the ban is recorded with its reason and evidence
    let v: serde_json::Value = h.why("198.51.100.6");
    assert_eq!(v["blocked"], true);
    assert_eq!(v["entries"][0]["origin"], "detector");
    assert_eq!(v["entries"][0]["reason"], "sshd");
    assert!(
        v["entries"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("(sshd) Failed SSH login from 198.51.100.6"),
        "{v}"
    );
    assert!(!v["entries"][0]["evidence"].as_array().unwrap().is_empty());
    assert_eq!(v["explanations"][0]["title"], "Failed SSH login");
}

#[test]
fn run_answers_on_the_control_socket_and_reloads() {
    if !can_run("run_answers_on_the_control_socket_and_reloads") {
        return;
    }
    let h = Host::new("ctl", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    append(&log, &fail_lines("198.51.100.9", 2, 100));
    std::thread::sleep(Duration::from_millis(300));
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["daemon"]["ok"], true, "{st}");
    assert_eq!(st["daemon"]["events"], 2, "{st}");
    let why: serde_json::Value = h.why("198.51.100.9");
    assert_eq!(why["blocked"], false);
    assert_eq!(why["detector_counts"][0]["count"], 2, "{why}");
    // a reload keeps the counters: with a threshold of 3, one more line bans
    std::fs::write(&h.config, "[reasons.sshd]\nthreshold = 3\n").unwrap();
    let out = h.ok(&["reload"]);
    assert!(out.contains("reloaded"), "{out}");
    append(&log, &fail_lines("198.51.100.9", 1, 200));
    assert!(
        wait_blocked(&h, "198.51.100.9"),
        "2 counted before the reload + 1 after = the new threshold"
    );
    // a bad configuration is refused and the running one stays
    std::fs::write(&h.config, "[reasons.sshd]\nthreshold = 0\n").unwrap();
    let (code, out, _) = h.rampart(&["reload"]);
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("refused"), "{out}");
    // SIGHUP reloads too
    std::fs::write(&h.config, "").unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::fs::read_to_string(&errlog)
            .unwrap()
            .contains("SIGHUP: reloaded")
    );
    // unblock makes the daemon forget the address's counts
    append(&log, &fail_lines("198.51.100.8", 2, 300));
    std::thread::sleep(Duration::from_millis(300));
    let (_, out, _) = h.rampart(&["unblock", "198.51.100.8"]);
    assert!(out.contains("counts for 198.51.100.8 were reset"), "{out}");
    let why: serde_json::Value = h.why("198.51.100.8");
    assert_eq!(
        why["detector_counts"].as_array().map(Vec::len),
        Some(0),
        "{why}"
    );
    stop(&mut child);
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert!(st["daemon"].is_null(), "stopped: {st}");
}

/// Benchmark (not run by default): latency from a line appended to a
/// watched log to the address being in the kernel set, over 1,000 bans.
/// With `RAMPART_TEST_STALL_SINK=1` in the environment the daemon runs a
/// sink that never returns.
///     cargo test --release -p rampart --test daemon -- --ignored bench_ban_latency --nocapture
#[test]
#[ignore = "benchmark"]
fn bench_ban_latency() {
    if !can_run("bench_ban_latency") {
        return;
    }
    let h = Host::new(
        "lat",
        "[reasons.sshd]\nthreshold = 1\n[detect]\nipv6_prefix = 128\n",
    );
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    let n = 1000;
    let lat = ban_latencies(&h, &log, n, "2001:db8:1::");
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    println!("sink queues: {}", st["daemon"]["sinks"]);
    stop(&mut child);
    println!(
        "line appended -> address in the kernel set, {n} bans: {}",
        percentiles(lat)
    );
}

fn proc_stat(pid: u32) -> (u64, f64) {
    // (RSS KiB, CPU seconds)
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (rss, (ticks(11) + ticks(12)) as f64 / 100.0)
}

/// Benchmark (not run by default): RAMPART_BENCH_RATE (default 400,000)
/// lines/s appended for RAMPART_BENCH_SECS (default 60) seconds, 10%
/// attacks from 50,000 addresses; checks no line is lost and reports
/// memory and CPU.
///     cargo test --release -p rampart --test daemon -- --ignored bench_sustained_load --nocapture
#[test]
#[ignore = "benchmark"]
fn bench_sustained_load() {
    if !can_run("bench_sustained_load") {
        return;
    }
    let secs: u64 = std::env::var("RAMPART_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let h = Host::new("load", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    let pid = child.id();
    // lines per second (default 400,000), written every 10 ms
    let rate: usize = std::env::var("RAMPART_BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400_000);
    let per_tick = rate / 100;
    let mut written = 0u64;
    let mut samples = Vec::new();
    let t0 = Instant::now();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut tick = 0u64;
    while t0.elapsed() < Duration::from_secs(secs) {
        use std::io::Write;
        let mut buf = String::with_capacity(per_tick * 100);
        for _ in 0..per_tick {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(10) {
                let a = (x >> 8) % 50_000;
                buf.push_str(&format!(
                    "web1 sshd[{}]: Failed password for root from 2001:db8:{:x}:{:x}::1 port 4000 ssh2\n",
                    x % 60000,
                    a / 256,
                    a % 256
                ));
            } else {
                buf.push_str(&format!("web1 sshd[{}]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)\n", x % 60000));
            }
        }
        f.write_all(buf.as_bytes()).unwrap();
        written += per_tick as u64;
        tick += 1;
        if tick.is_multiple_of(100) {
            samples.push(proc_stat(pid));
        }
        if tick.is_multiple_of(1000) {
            // memory should follow the state (bans, tracked addresses), not the lines
            let st: serde_json::Value =
                serde_json::from_str(&h.ok(&["status", "--json"])).unwrap_or_default();
            println!(
                "t={:>3}s RSS {:>7} KiB, bans {}, tracked {}",
                tick / 100,
                proc_stat(pid).0,
                st["daemon"]["bans"],
                st["daemon"]["tracked"]
            );
        }
        let next = Duration::from_millis(10 * tick);
        if let Some(wait) = next.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let wrote_for = t0.elapsed();
    // wait for the daemon to catch up
    let mut read = 0;
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(30) {
        let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
        read = st["daemon"]["lines"].as_u64().unwrap_or(0);
        if read >= written {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (rss_end, cpu) = proc_stat(pid);
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    stop(&mut child);
    let rss: Vec<u64> = samples.iter().map(|s| s.0).collect();
    let quarters: Vec<String> = (1..=4)
        .filter_map(|q| rss.get(rss.len() * q / 4 - 1).map(|r| format!("{} KiB", r)))
        .collect();
    println!("RSS at each quarter of the run: {}", quarters.join(", "));
    println!(
        "sustained load: {written} lines in {:.1}s ({:.0} lines/s); daemon read {read}; events {}; bans {}; tracked {}; \
         RSS min {} KiB, max {} KiB, end {rss_end} KiB; CPU {cpu:.1}s ({:.0}% of one core)",
        wrote_for.as_secs_f64(),
        written as f64 / wrote_for.as_secs_f64(),
        st["daemon"]["events"],
        st["daemon"]["bans"],
        st["daemon"]["tracked"],
        rss.iter().min().unwrap_or(&0),
        rss.iter().max().unwrap_or(&0),
        100.0 * cpu / wrote_for.as_secs_f64()
    );
    assert_eq!(read, written, "no line lost");
}

#[test]
fn run_follows_the_journal() {
    if !can_run("run_follows_the_journal") {
        return;
    }
    let h = Host::new("journal", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    // a stand-in journalctl: five sshd failures from a trusted sshd, and a
    // forged one from `logger -t sshd` run by a user, then it waits
    let fake = dir.join("journalctl");
    let mut script = String::from("#!/bin/sh\n");
    for i in 0..5 {
        script.push_str(&format!(
            "echo '{{\"__CURSOR\":\"c{i}\",\"__REALTIME_TIMESTAMP\":\"1795780800000000\",\"_HOSTNAME\":\"web1\",\"SYSLOG_IDENTIFIER\":\"sshd\",\"_COMM\":\"sshd\",\"_PID\":\"{}\",\"_UID\":\"0\",\"MESSAGE\":\"Failed password for root from 198.51.100.4 port 4000 ssh2\"}}'\n",
            700 + i
        ));
    }
    for i in 0..5 {
        script.push_str(&format!(
            "echo '{{\"__CURSOR\":\"f{i}\",\"__REALTIME_TIMESTAMP\":\"1795780800000000\",\"_HOSTNAME\":\"web1\",\"SYSLOG_IDENTIFIER\":\"sshd\",\"_COMM\":\"logger\",\"_PID\":\"{}\",\"_UID\":\"1000\",\"MESSAGE\":\"Failed password for root from 198.51.100.5 port 4000 ssh2\"}}'\n",
            800 + i
        ));
    }
    script.push_str("exec sleep 30\n");
    std::fs::write(&fake, script).unwrap();
    Command::new("chmod")
        .args(["+x"])
        .arg(&fake)
        .status()
        .unwrap();
    let log = dir.join("empty.log");
    append(&log, "");
    let errlog = dir.join("run.err");
    let mut child = spawn_daemon(
        &h,
        &[
            "run".as_ref(),
            "--journal".as_ref(),
            "--journalctl".as_ref(),
            fake.as_os_str(),
            "--watch".as_ref(),
            log.as_os_str(),
        ],
        &errlog,
        1,
    );
    assert!(
        wait_blocked(&h, "198.51.100.4"),
        "journal entries ban: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(
        h.lab.tcp("198.51.100.5", common::SRV4, 8080),
        "a user's `logger -t sshd` is not believed"
    );
    std::thread::sleep(Duration::from_millis(1200));
    stop(&mut child);
    let store = rampart_store::Store::open(h.state.join("rampart.db")).unwrap();
    let cursor = store.positions().unwrap();
    assert!(
        cursor
            .iter()
            .any(|(k, v)| k == "journal" && v.contains("f4")),
        "the cursor is saved with the bans: {cursor:?}"
    );
}

/// A TCP connection from `src` held open (the fd), or None if refused/dropped.
fn hold(h: &Host, src: &str, dst: &str, port: u16) -> Option<std::os::fd::OwnedFd> {
    let src: std::net::IpAddr = src.parse().unwrap();
    let dst: std::net::IpAddr = dst.parse().unwrap();
    h.lab.cli.run(|| {
        use rustix::net::{AddressFamily, SocketType, bind, connect, socket, sockopt};
        let fd = socket(AddressFamily::INET, SocketType::STREAM, None).ok()?;
        bind(&fd, &std::net::SocketAddr::new(src, 0)).ok()?;
        sockopt::set_socket_timeout(
            &fd,
            sockopt::Timeout::Send,
            Some(Duration::from_millis(400)),
        )
        .ok()?;
        connect(&fd, &std::net::SocketAddr::new(dst, port)).ok()?;
        Some(fd)
    })
}

#[test]
fn run_bans_a_real_port_scan() {
    if !can_run("run_bans_a_real_port_scan") {
        return;
    }
    let h = Host::new("scan", "[portscan]\nlimit = 5\ninterval = \"60s\"\n");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // an open port is never counted
    for _ in 0..8 {
        assert!(h.lab.tcp("198.51.100.8", common::SRV4, 8080));
    }
    // real SYNs to closed ports
    for port in 7001..7010 {
        let _ = h.lab.tcp("198.51.100.7", common::SRV4, port);
    }
    assert!(
        wait_blocked(&h, "198.51.100.7"),
        "the scanner is banned: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(
        h.lab.tcp("198.51.100.8", common::SRV4, 8080),
        "a client of open ports is not"
    );
    stop(&mut child);
    let v: serde_json::Value = h.why("198.51.100.7");
    assert_eq!(v["entries"][0]["reason"], "portscan", "{v}");
    assert!(
        v["entries"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("*Port Scan* detected from 198.51.100.7"),
        "{v}"
    );
}

#[test]
fn run_bans_a_client_holding_too_many_connections() {
    if !can_run("run_bans_a_client_holding_too_many_connections") {
        return;
    }
    let h = Host::new(
        "ct",
        "[portscan]\nenabled = false\n[limits]\nct_limit = 3\nct_interval = \"1s\"\n",
    );
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    // a server that keeps every connection open
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &h.lab.srv.name, "python3", "-c",
            "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',9090))\ns.listen(100)\nc=[]\nwhile True:\n    c.append(s.accept())\n"])
        .spawn()
        .unwrap();
    // wait until the listener accepts (python starts slowly on a busy machine)
    let t0 = Instant::now();
    while !h.lab.tcp("198.51.100.5", common::SRV4, 9090) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = spawn_run(&h, &log, &errlog);
    let held: Vec<_> = (0..6)
        .filter_map(|_| hold(&h, "198.51.100.6", common::SRV4, 9090))
        .collect();
    assert_eq!(held.len(), 6, "the connections open");
    let other = hold(&h, "198.51.100.5", common::SRV4, 9090);
    assert!(other.is_some());
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "more than 3 connections: banned: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(
        h.lab.tcp("198.51.100.5", common::SRV4, 8080),
        "a client with one connection is not"
    );
    stop(&mut child);
    let _ = holder.kill();
    let _ = holder.wait();
    let v: serde_json::Value = h.why("198.51.100.6");
    assert_eq!(v["entries"][0]["reason"], "ct_limit", "{v}");
    drop(held);
}

#[test]
fn run_never_bans_allowed_or_ignored_addresses() {
    if !can_run("run_never_bans_allowed_or_ignored_addresses") {
        return;
    }
    let h = Host::new("protect", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    h.ok(&["ignore", "198.51.100.2"]);
    std::thread::sleep(Duration::from_millis(2500));
    append(&log, &fail_lines("198.51.100.2", 8, 100));
    append(&log, &fail_lines("198.51.100.3", 5, 200));
    assert!(
        wait_blocked(&h, "198.51.100.3"),
        "an ordinary attacker is banned"
    );
    assert!(
        h.lab.tcp("198.51.100.2", common::SRV4, 8080),
        "an ignored address is never banned by the daemon"
    );
    stop(&mut child);
    let v: serde_json::Value = h.why("198.51.100.2");
    assert_eq!(v["blocked"], false, "{v}");
}

#[test]
fn run_follows_the_configured_sources() {
    if !can_run("run_follows_the_configured_sources") {
        return;
    }
    let base = std::env::temp_dir().join(format!("rampart-src-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let (a, b) = (base.join("mail.log"), base.join("secure.log"));
    append(&a, "");
    append(&b, "");
    let h = Host::new(
        "sources",
        &format!(
            "[sources]\nfiles = [\"{}/*.log\", \"/nonexistent/rampart-*.log\"]\njournal = false\n",
            base.display()
        ),
    );
    let errlog = base.join("run.err");
    let mut child = spawn_daemon(&h, &["run".as_ref()], &errlog, 2);
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(
        err.contains(
            "no file matches yet (followed as soon as one appears): /nonexistent/rampart-*.log"
        ),
        "{err}"
    );
    append(&b, &fail_lines("198.51.100.4", 5, 100));
    assert!(
        wait_blocked(&h, "198.51.100.4"),
        "{}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    // a new virtual host's log under the glob is followed without a restart
    let t0 = Instant::now();
    append(
        &base.join("newsite.log"),
        &fail_lines("198.51.100.5", 5, 200),
    );
    assert!(
        wait_blocked(&h, "198.51.100.5"),
        "a file created under a watched glob is followed"
    );
    eprintln!(
        "new file under the glob: banned {:?} after its creation",
        t0.elapsed()
    );
    stop(&mut child);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn run_escalates_to_permanent_across_restarts_and_blocks_netblocks() {
    if !can_run("run_escalates_to_permanent_across_restarts_and_blocks_netblocks") {
        return;
    }
    let h = Host::new(
        "escal",
        "[reasons.sshd]\nthreshold = 1\nban = \"2s\"\n[ban]\npermanent_after = 2\nnetblock_after = 3\n",
    );
    // a network of attackers that holds none of the server's addresses
    for a in [
        "203.0.113.5/24",
        "203.0.113.6/24",
        "203.0.113.7/24",
        "203.0.113.9/24",
    ] {
        h.lab.cli.exec(&["ip", "addr", "add", a, "dev", "vc"]);
    }
    h.lab
        .srv
        .exec(&["ip", "route", "add", "203.0.113.0/24", "dev", "vs"]);
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    // first ban: temporary (2 s)
    let mut child = spawn_run(&h, &log, &errlog);
    append(&log, &fail_lines("198.51.100.7", 1, 100));
    assert!(wait_blocked(&h, "198.51.100.7"));
    stop(&mut child);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        h.lab.tcp("198.51.100.7", common::SRV4, 8080),
        "the first ban expired"
    );
    // after a restart, the second ban is permanent: the store remembers the first
    let mut child = spawn_run(&h, &log, &errlog);
    append(&log, &fail_lines("198.51.100.7", 1, 200));
    assert!(wait_blocked(&h, "198.51.100.7"));
    let v: serde_json::Value = h.why("198.51.100.7");
    assert_eq!(v["entries"][0]["permanent"], true, "{v}");
    assert!(
        v["entries"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("(PERMBLOCK) 198.51.100.7 has had 1 temp blocks"),
        "{v}"
    );
    // three attackers in one /24: the whole network goes
    for (i, ip) in ["203.0.113.5", "203.0.113.6", "203.0.113.7"]
        .iter()
        .enumerate()
    {
        append(&log, &fail_lines(ip, 1, 300 + i));
    }
    assert!(
        wait_blocked(&h, "203.0.113.9"),
        "a neighbour that never attacked is inside the banned /24: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    let v: serde_json::Value = h.why("203.0.113.9");
    assert_eq!(v["entries"][0]["reason"], "netblock", "{v}");
    assert_eq!(v["entries"][0]["target"], "203.0.113.0/24");
    // the server's own networks are never netblocked
    for (i, ip) in ["198.51.100.2", "198.51.100.3", "198.51.100.4"]
        .iter()
        .enumerate()
    {
        append(&log, &fail_lines(ip, 1, 400 + i));
    }
    assert!(wait_blocked(&h, "198.51.100.4"));
    assert!(
        h.lab.tcp("198.51.100.8", common::SRV4, 8080),
        "no netblock over the server's own /24"
    );
    stop(&mut child);
}

#[test]
fn run_logs_json_lines_when_asked() {
    if !can_run("run_logs_json_lines_when_asked") {
        return;
    }
    let h = Host::new("jsonlog", "[portscan]\nenabled = false\n");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    append(&log, "");
    let errlog = dir.join("run.err");
    let mut child = spawn_daemon(
        &h,
        &[
            "run".as_ref(),
            "--log-format".as_ref(),
            "json".as_ref(),
            "--watch".as_ref(),
            log.as_os_str(),
        ],
        &errlog,
        1,
    );
    append(&log, &fail_lines("198.51.100.3", 5, 10));
    assert!(wait_blocked(&h, "198.51.100.3"));
    stop(&mut child);
    let text = std::fs::read_to_string(&errlog).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|v| v["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("banned 198.51.100.3")),
        "{text}"
    );
    assert!(lines.iter().all(|v| v["level"].is_string()), "{text}");
}

/// Test attackers: IPv4 from two documentation ranges (never the lab's
/// own or client addresses) and IPv6 each in its own /64.
fn attackers() -> Vec<String> {
    let mut v: Vec<String> = (10..=250)
        .filter(|i| *i != 20)
        .flat_map(|i| [format!("198.51.100.{i}"), format!("203.0.113.{i}")])
        .collect();
    v.extend((0..1500).map(|n| format!("2001:db8:100:{n:x}::7")));
    v
}

/// What the store and the kernel say about `ip`: (ban entries covering
/// it with their levels, whether the kernel's deny set holds it).
fn crash_truth(h: &Host, ip: &str) -> (Vec<Option<u32>>, Vec<usize>) {
    let store = rampart_store::Store::open(h.state.join("rampart.db")).unwrap();
    let addr: std::net::IpAddr = ip.parse().unwrap();
    let now = rampart::settings::now();
    let levels = store
        .covering(addr, now)
        .unwrap()
        .iter()
        .filter(|e| e.kind == rampart_store::Kind::Deny)
        .map(|e| e.level)
        .collect();
    let history = store.history_for(addr).unwrap().len();
    (levels, vec![history])
}

#[test]
fn kill_9_at_random_instants_neither_repeats_nor_loses_a_ban() {
    if !can_run("kill_9_at_random_instants_neither_repeats_nor_loses_a_ban") {
        return;
    }
    let h = Host::new("crash", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let seed = std::env::var("RAMPART_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    let mut rng = Rng(seed);
    let who = attackers();
    let counts: Vec<u64> = who.iter().map(|_| 1 + rng.below(7)).collect();
    let mut lines: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(i, c)| std::iter::repeat_n(i, *c as usize))
        .collect();
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // the writer: ~1,000 lines/s in small appends, while the daemon is
    // killed and restarted
    let total = lines.len();
    let wlog = log.clone();
    let wwho = who.clone();
    let writer = std::thread::spawn(move || {
        for (n, chunk) in lines.chunks(10).enumerate() {
            let t = rampart_core::time::format_rfc3339(rampart::settings::now());
            let text: String = chunk
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    let pid = 10_000 + n * 10 + k;
                    format!("{t} web1 sshd[{pid}]: Failed password for root from {} port 4{k:04} ssh2\n", wwho[*i])
                })
                .collect();
            append(&wlog, &text);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut kills = 0;
    while !writer.is_finished() || kills < 10 {
        let mut child = spawn_run(&h, &log, &errlog);
        std::thread::sleep(Duration::from_millis(150 + rng.below(500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    writer.join().unwrap();
    let mut child = spawn_run(&h, &log, &errlog);
    std::thread::sleep(Duration::from_secs(3));
    stop(&mut child);
    eprintln!("{total} lines, {kills} kills with SIGKILL, seed {seed:#x}");
    let kernel: Vec<rampart_nft::ListedElement> = h.lab.srv.run(|| {
        use rampart_nft::Firewall;
        let mut fw = rampart_nft::NftFirewall::new().unwrap();
        fw.list(&rampart_nft::SetList::Deny).unwrap()
    });
    let mut wrong = Vec::new();
    for (ip, c) in who.iter().zip(&counts) {
        let (levels, history) = crash_truth(&h, ip);
        let addr: std::net::IpAddr = ip.parse().unwrap();
        let in_kernel = kernel.iter().any(|e| e.range.contains(addr));
        let want = *c >= 5;
        let ok = if want {
            levels == vec![Some(0)] && history == vec![0] && in_kernel
        } else {
            levels.is_empty() && !in_kernel
        };
        if !ok {
            wrong.push(format!("{ip}: {c} failures, store levels {levels:?}, history {history:?}, kernel {in_kernel}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} addresses wrong after {kills} kills (seed {seed:#x}):\n{}",
        wrong.len(),
        who.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

/// Holds a write lock on the store (another writer's transaction) for
/// `secs`, from a separate process; returns once the lock is taken.
fn lock_store(h: &Host, secs: f64) -> std::process::Child {
    let db = h.state.join("rampart.db");
    let script = format!(
        "import sqlite3,sys,time\nc=sqlite3.connect({:?},isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked',flush=True)\ntime.sleep({secs})\nc.execute('ROLLBACK')\n",
        db.display().to_string()
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

fn deny_levels(h: &Host, ip: &str) -> Vec<Option<u32>> {
    crash_truth(h, ip).0
}

#[test]
fn a_locked_store_never_swallows_a_ban() {
    if !can_run("a_locked_store_never_swallows_a_ban") {
        return;
    }
    let h = Host::new("locked", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // enforced at once while the store is locked, recorded when it frees up
    let mut lock = lock_store(&h, 4.0);
    append(&log, &fail_lines("198.51.100.6", 5, 100));
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "the kernel ban does not wait for the store"
    );
    assert!(
        deny_levels(&h, "198.51.100.6").is_empty(),
        "not recorded while locked"
    );
    lock.wait().unwrap();
    let t0 = Instant::now();
    while deny_levels(&h, "198.51.100.6").is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        deny_levels(&h, "198.51.100.6"),
        vec![Some(0)],
        "recorded once the lock is gone"
    );
    // killed while a ban is only in the kernel: the restart decides it again
    let mut lock = lock_store(&h, 3.0);
    append(&log, &fail_lines("198.51.100.7", 5, 200));
    assert!(wait_blocked(&h, "198.51.100.7"));
    child.kill().unwrap();
    child.wait().unwrap();
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(
        err.contains("enforced in the kernel, and recording is retried"),
        "{err}"
    );
    lock.wait().unwrap();
    let mut child = spawn_run(&h, &log, &errlog);
    let t0 = Instant::now();
    while deny_levels(&h, "198.51.100.7").is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        deny_levels(&h, "198.51.100.7"),
        vec![Some(0)],
        "recovered after the restart"
    );
    assert!(wait_blocked(&h, "198.51.100.7"));
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["daemon"]["enforcer"]["store_pending"], 0, "{st}");
    stop(&mut child);
}

#[test]
fn a_line_cut_at_a_stop_or_written_before_the_first_save_is_read_whole() {
    if !can_run("a_line_cut_at_a_stop_or_written_before_the_first_save_is_read_whole") {
        return;
    }
    let h = Host::new("partial", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "old line\n");
    // killed right after the very first start: what is written while it is
    // down is read after the restart
    let mut child = spawn_run(&h, &log, &errlog);
    child.kill().unwrap();
    child.wait().unwrap();
    append(&log, &fail_lines("198.51.100.8", 5, 100));
    let mut child = spawn_run(&h, &log, &errlog);
    assert!(wait_blocked(&h, "198.51.100.8"), "lines written while down");
    // 4 failures and half of the 5th at a stop
    let five = fail_lines("198.51.100.9", 5, 200);
    let cut = five.len() - 20;
    append(&log, &five[..cut]);
    std::thread::sleep(Duration::from_millis(300));
    stop(&mut child);
    append(&log, &five[cut..]);
    let mut child = spawn_run(&h, &log, &errlog);
    assert!(
        wait_blocked(&h, "198.51.100.9"),
        "the cut line is read whole"
    );
    stop(&mut child);
    assert_eq!(deny_levels(&h, "198.51.100.9"), vec![Some(0)]);
}

#[test]
fn a_sink_that_never_returns_delays_no_ban_and_its_drops_are_counted() {
    if !can_run("a_sink_that_never_returns_delays_no_ban_and_its_drops_are_counted") {
        return;
    }
    let h = Host::new(
        "stall",
        "[reasons.sshd]\nthreshold = 1\n[detect]\nipv6_prefix = 128\n",
    );
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let child = h
        .cmd()
        .args(["run".as_ref(), "--watch".as_ref(), log.as_os_str()])
        .env("RAMPART_TEST_STALL_SINK", "1")
        .stderr(std::fs::File::create(&errlog).unwrap())
        .spawn()
        .unwrap();
    let mut child = Daemon(child);
    std::thread::sleep(Duration::from_millis(500));
    let n = 300;
    let ips: Vec<std::net::IpAddr> = (1..=n)
        .map(|i| format!("2001:db8:2::{i:x}").parse().unwrap())
        .collect();
    for (i, ip) in ips.iter().enumerate() {
        append(
            &log,
            &format!(
                "web1 sshd[{}]: Failed password for root from {ip} port 4000 ssh2\n",
                1000 + i
            ),
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let t0 = Instant::now();
    let missing = loop {
        let set = h.lab.srv.run(|| {
            use rampart_nft::Firewall;
            rampart_nft::NftFirewall::new()
                .unwrap()
                .list(&rampart_nft::SetList::Deny)
                .unwrap()
        });
        let missing = ips
            .iter()
            .filter(|ip| !set.iter().any(|e| e.range.contains(**ip)))
            .count();
        if missing == 0 || t0.elapsed() > Duration::from_secs(10) {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(missing, 0, "every ban is in the kernel while a sink hangs");
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    let stall = st["daemon"]["sinks"]
        .as_array()
        .and_then(|a| a.iter().find(|q| q["sink"] == "stall"))
        .cloned()
        .unwrap_or_default();
    assert!(
        stall["dropped"].as_u64().unwrap_or(0) > 0,
        "drops are counted: {st}"
    );
    assert_eq!(
        stall["depth"], 64,
        "the hung sink's queue is full, not growing: {stall}"
    );
    stop(&mut child.0);
}

/// Context switches of every thread of `pid` (voluntary + involuntary):
/// each one is a wake-up.
fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("status")).unwrap_or_default())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Benchmark (not run by default): what an idle daemon costs — 20 watched
/// files, nothing written for `RAMPART_IDLE_SECS` (default 60) seconds.
///     cargo test --release -p rampart --test daemon -- --ignored bench_idle --nocapture
#[test]
#[ignore = "benchmark"]
fn bench_idle() {
    if !can_run("bench_idle") {
        return;
    }
    let h = Host::new("idle", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let errlog = dir.join("run.err");
    let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
    for i in 0..20 {
        let f = dir.join(format!("site{i}.log"));
        append(&f, "");
        args.push("--watch".into());
        args.push(f.into());
    }
    let argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut child = spawn_daemon(&h, &argv, &errlog, 20);
    std::thread::sleep(Duration::from_secs(3));
    let secs: u64 = std::env::var("RAMPART_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let pid = child.id();
    let (w0, (_, cpu0)) = (wakeups(pid), proc_stat(pid));
    std::thread::sleep(Duration::from_secs(secs));
    let (w1, (rss, cpu1)) = (wakeups(pid), proc_stat(pid));
    stop(&mut child);
    println!(
        "idle {secs} s, 20 files: {} wake-ups ({:.1}/s), CPU {:.2} s ({:.3}% of a core), RSS {} KiB",
        w1 - w0,
        (w1 - w0) as f64 / secs as f64,
        cpu1 - cpu0,
        (cpu1 - cpu0) / secs as f64 * 100.0,
        rss
    );
}

#[test]
fn a_fifo_a_device_or_a_directory_at_a_watched_path_stops_nothing() {
    if !can_run("a_fifo_a_device_or_a_directory_at_a_watched_path_stops_nothing") {
        return;
    }
    let h = Host::new("odd", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let (fifo, zero, sub, log) = (
        dir.join("fifo.log"),
        dir.join("zero.log"),
        dir.join("dir.log"),
        dir.join("auth.log"),
    );
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    std::fs::create_dir(&sub).unwrap();
    append(&log, "");
    let errlog = dir.join("run.err");
    let args: Vec<&std::ffi::OsStr> = vec![
        "run".as_ref(),
        "--watch".as_ref(),
        fifo.as_os_str(),
        "--watch".as_ref(),
        zero.as_os_str(),
        "--watch".as_ref(),
        sub.as_os_str(),
        "--watch".as_ref(),
        log.as_os_str(),
    ];
    let mut child = spawn_daemon(&h, &args, &errlog, 4);
    append(&log, &fail_lines("198.51.100.6", 5, 100));
    assert!(wait_blocked(&h, "198.51.100.6"), "the regular file is read");
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["daemon"]["ok"], true, "the control socket answers: {st}");
    let (_, cpu) = proc_stat(child.id());
    assert!(cpu < 5.0, "/dev/zero is not read ({cpu} s of CPU)");
    // the directory becomes a file: read from then on
    std::fs::remove_dir(&sub).unwrap();
    append(&sub, &fail_lines("198.51.100.7", 5, 200));
    assert!(
        wait_blocked(&h, "198.51.100.7"),
        "a path that becomes a file is read"
    );
    let t0 = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    while child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_some(),
        "SIGTERM ends it (not killed)"
    );
    eprintln!("stopped by SIGTERM in {:?}", t0.elapsed());
    let err = std::fs::read_to_string(&errlog).unwrap();
    let warnings = err.lines().filter(|l| l.contains("dir.log")).count();
    assert!(
        warnings < 10,
        "rate-limited warnings, not a flood: {warnings}\n{err}"
    );
}

#[test]
fn a_log_rotated_while_stopped_loses_no_line_and_no_count() {
    if !can_run("a_log_rotated_while_stopped_loses_no_line_and_no_count") {
        return;
    }
    let h = Host::new("rotstop", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // 2 failures read before the stop, 1 written while stopped, then the
    // log rotates and the new one gets 2 more: 5 in all
    append(&log, &fail_lines("198.51.100.6", 2, 100));
    std::thread::sleep(Duration::from_millis(300));
    stop(&mut child);
    append(&log, &fail_lines("198.51.100.6", 1, 200));
    std::fs::rename(&log, dir.join("auth.log.1")).unwrap();
    append(&log, &fail_lines("198.51.100.6", 2, 300));
    let mut child = spawn_run(&h, &log, &errlog);
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "counted across the rotation: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    stop(&mut child);
    // counts before a rotation that happened while running survive a restart
    append(&log, &fail_lines("198.51.100.7", 3, 400));
    let mut child = spawn_run(&h, &log, &errlog);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::rename(&log, dir.join("auth.log.1")).unwrap();
    append(&log, &fail_lines("198.51.100.7", 1, 500));
    std::thread::sleep(Duration::from_millis(300));
    stop(&mut child);
    let mut child = spawn_run(&h, &log, &errlog);
    append(&log, &fail_lines("198.51.100.7", 1, 600));
    assert!(
        wait_blocked(&h, "198.51.100.7"),
        "the rotated file's part of the window is replayed: {}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    stop(&mut child);
}

#[test]
fn list_changes_go_through_the_running_daemon_one_writer_one_truth() {
    if !can_run("list_changes_go_through_the_running_daemon_one_writer_one_truth") {
        return;
    }
    let h = Host::new("onewriter", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    h.ok(&["deny", "198.51.100.6", "--for", "1h"]);
    assert!(
        !h.lab.tcp("198.51.100.6", common::SRV4, 8080),
        "denied through the daemon"
    );
    // an allowed address is never banned by the detectors, at once
    h.ok(&["allow", "198.51.100.7"]);
    append(&log, &fail_lines("198.51.100.7", 6, 100));
    std::thread::sleep(Duration::from_millis(500));
    assert!(h.lab.tcp("198.51.100.7", common::SRV4, 8080));
    // deny and unblock of one address at the same moment, 20 times: store
    // and kernel agree after each
    for i in 0..20 {
        let ip = "198.51.100.8";
        let mut deny = h
            .cmd()
            .args(["deny", ip])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut unblock = h
            .cmd()
            .args(["unblock", ip])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        deny.wait().unwrap();
        unblock.wait().unwrap();
        let v = h.why(ip); // asserts exit status == kernel verdict
        let in_store = v["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "deny"));
        assert_eq!(
            v["blocked"] == true,
            in_store,
            "round {i}: kernel and store disagree: {v}"
        );
        if in_store {
            h.ok(&["unblock", ip]);
        }
    }
    stop(&mut child);
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(
        err.contains("deny 198.51.100.6/32 from the control socket: applied")
            || err.contains("deny 198.51.100.6 from the control socket: applied"),
        "{err}"
    );
}

#[test]
fn the_daemon_refreshes_blocklists_on_their_schedule() {
    if !can_run("the_daemon_refreshes_blocklists_on_their_schedule") {
        return;
    }
    let h = Host::new("refresh", "");
    let www = h.state.parent().unwrap().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("list.txt"), "192.0.2.4\n").unwrap();
    let server = h
        .cmd_in_ns(&[
            "python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "18081",
            "--directory",
        ])
        .arg(&www)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _server = Daemon(server);
    let url = "http://127.0.0.1:18081/list.txt";
    let mut added = false;
    for _ in 0..50 {
        let r = h.rampart(&[
            "blocklist",
            "add",
            "web",
            "--url",
            url,
            "--format",
            "plain",
            "--refresh",
            "2s",
        ]);
        if r.0 == 0 {
            added = true;
            break;
        }
        let _ = h.rampart(&["blocklist", "remove", "web"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(added, "the list loads from the local web server");
    assert!(!h.lab.reaches("192.0.2.4"));
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // the list changes on the server: picked up on schedule
    std::fs::write(www.join("list.txt"), "192.0.2.5\n").unwrap();
    let t0 = Instant::now();
    while !h.lab.reaches("192.0.2.4") && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        h.lab.reaches("192.0.2.4"),
        "{}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(!h.lab.reaches("192.0.2.5"), "the new list is enforced");
    // the server fails: the list stays, the failure shows
    std::fs::remove_file(www.join("list.txt")).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !h.lab.reaches("192.0.2.5"),
        "a failed refresh keeps the list"
    );
    stop(&mut child);
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(err.contains("blocklist web: failed"), "{err}");
}

#[test]
fn a_second_daemon_on_one_state_directory_is_refused() {
    if !can_run("a_second_daemon_on_one_state_directory_is_refused") {
        return;
    }
    let h = Host::new("twice", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    append(&log, "");
    for trial in 0..5 {
        // both started at the same moment: exactly one runs
        let spawn = |n: usize| {
            h.cmd()
                .args(["run".as_ref(), "--watch".as_ref(), log.as_os_str()])
                .stderr(std::fs::File::create(dir.join(format!("err{n}"))).unwrap())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(0), spawn(1));
        let (mut a, mut b) = (Daemon(a), Daemon(b));
        std::thread::sleep(Duration::from_millis(1500));
        let running = [
            a.try_wait().unwrap().is_none(),
            b.try_wait().unwrap().is_none(),
        ];
        assert_eq!(
            running.iter().filter(|r| **r).count(),
            1,
            "trial {trial}: {running:?}"
        );
        let loser = if running[0] { 1 } else { 0 };
        let err = std::fs::read_to_string(dir.join(format!("err{loser}"))).unwrap();
        assert!(err.contains("another rampart daemon is running"), "{err}");
        stop(&mut a);
        stop(&mut b);
    }
}

#[test]
fn bans_never_cover_own_addresses_even_ones_added_while_running() {
    if !can_run("bans_never_cover_own_addresses_even_ones_added_while_running") {
        return;
    }
    let h = Host::new("ownaddr", "");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // an IPv6 attacker inside the server's own /64: the ban is narrowed
    append(&log, &fail_lines("2001:db8::99", 6, 100));
    let t0 = Instant::now();
    let narrowed = "2001:db8::80/121";
    let mut v = h.why("2001:db8::99");
    while v["blocked"] != true && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        v = h.why("2001:db8::99");
    }
    assert_eq!(v["blocked"], true, "{v}");
    assert_eq!(v["entries"][0]["target"], narrowed, "{v}");
    assert!(
        h.lab.tcp("2001:db8::2", common::SRV6, 8080),
        "the rest of the /64 is not banned"
    );
    assert_eq!(
        h.why("2001:db8::1")["blocked"],
        false,
        "the server's own address"
    );
    // an address added to the host now is protected at once
    h.lab
        .srv
        .exec(&["ip", "addr", "add", "203.0.113.77/32", "dev", "lo"]);
    std::thread::sleep(Duration::from_millis(500));
    append(&log, &fail_lines("203.0.113.77", 8, 200));
    append(&log, &fail_lines("203.0.113.78", 5, 300));
    let t0 = Instant::now();
    while h.why("203.0.113.78")["blocked"] != true && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        h.why("203.0.113.78")["blocked"],
        true,
        "its neighbour is banned"
    );
    assert_eq!(
        h.why("203.0.113.77")["blocked"],
        false,
        "a new own address is never banned"
    );
    stop(&mut child);
}

#[test]
fn a_source_declared_as_a_program_has_its_headerless_lines_read_as_that_programs() {
    if !can_run("a_source_declared_as_a_program_has_its_headerless_lines_read_as_that_programs") {
        return;
    }
    let base = std::env::temp_dir().join(format!("rampart-prog-{}", std::process::id()));
    std::fs::create_dir_all(&base).unwrap();
    let (db, plain) = (base.join("dropbear.log"), base.join("plain.log"));
    append(&db, "");
    append(&plain, "");
    let h = Host::new(
        "program",
        &format!(
            "[sources]\njournal = false\n[[sources.file]]\npath = \"{}\"\nprogram = \"dropbear\"\n[[sources.file]]\npath = \"{}\"\n",
            db.display(),
            plain.display()
        ),
    );
    let errlog = base.join("run.err");
    let mut child = spawn_daemon(&h, &["run".as_ref()], &errlog, 2);
    let lines = |ip: &str| -> String {
        (0..6)
            .map(|i| format!("Bad password attempt for 'root' from {ip}:{}\n", 40000 + i))
            .collect()
    };
    // the same headerless text in an undeclared file is never believed
    append(&plain, &lines("198.51.100.7"));
    append(&db, &lines("198.51.100.6"));
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "{}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
    );
    assert!(
        h.lab.tcp("198.51.100.7", common::SRV4, 8080),
        "not from an undeclared file"
    );
    stop(&mut child);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn a_full_tracker_says_so_and_keeps_banning() {
    if !can_run("a_full_tracker_says_so_and_keeps_banning") {
        return;
    }
    let h = Host::new("full", "[detect]\nmax_tracked = 1000\n");
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // 3,000 one-off addresses fill the tracker three times over
    let noise: String = (0..3000)
        .map(|i| {
            format!(
                "web1 sshd[{}]: Failed password for root from 2001:db8:7:{i:x}::1 port 4000 ssh2\n",
                100 + i
            )
        })
        .collect();
    append(&log, &noise);
    append(&log, &fail_lines("198.51.100.6", 5, 1000));
    assert!(
        wait_blocked(&h, "198.51.100.6"),
        "a new attacker is still banned"
    );
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert!(
        st["daemon"]["evicted_full"].as_u64().unwrap_or(0) > 0,
        "evictions are counted: {st}"
    );
    std::thread::sleep(Duration::from_millis(1500)); // the once-a-second tick logs it
    stop(&mut child);
    let err = std::fs::read_to_string(&errlog).unwrap();
    assert!(err.contains("the tracker is full"), "{err}");
}
