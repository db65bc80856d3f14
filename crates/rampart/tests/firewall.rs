//! End-to-end tests of the firewall commands with real nftables and real
//! traffic, in network namespaces this test creates (never the host's own
//! ruleset). Root only: they print SKIPPED without root, and fail instead
//! when RAMPART_REQUIRE_ROOT_TESTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../rampart-nft/tests/common/mod.rs"]
mod common;

use common::{Lab, can_run};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `rampart` binary run inside the lab's server namespace with its own
/// state directory and configuration.
struct Host {
    lab: Lab,
    state: PathBuf,
    config: PathBuf,
    _servers: common::Servers,
}

impl Host {
    fn new(tag: &str, config: &str) -> Host {
        let lab = Lab::new(tag);
        let servers = lab.serve();
        let dir = std::env::temp_dir().join(format!("rampart-fw-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("rampart.toml");
        std::fs::write(&config_path, config).unwrap();
        Host {
            lab,
            state: dir.join("state"),
            config: config_path,
            _servers: servers,
        }
    }

    /// `rampart --state-dir .. --config ..` inside the server namespace.
    fn cmd(&self) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.lab.srv.name,
            env!("CARGO_BIN_EXE_rampart"),
        ])
        .arg("--state-dir")
        .arg(&self.state)
        .arg("--config")
        .arg(&self.config);
        c
    }

    fn rampart(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .cmd()
            .args(args)
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// As `rampart`, run from an SSH session of `client`.
    fn over_ssh(&self, client: &str, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .env("SSH_CONNECTION", format!("{client} 50000 192.0.2.1 22"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.rampart(args);
        assert_eq!(code, 0, "rampart {args:?} failed: {out}{err}");
        out
    }

    /// `why ADDR --json`: exit status 0 exactly when the kernel blocks it.
    fn why(&self, addr: &str) -> serde_json::Value {
        let (code, out, err) = self.rampart(&["why", addr, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("why {addr}: {e}: {out}{err}"));
        let blocked = v["blocked"] == true;
        assert_eq!(code, if blocked { 0 } else { 1 }, "why {addr}: {v}");
        v
    }

    fn nft(&self, args: &[&str]) -> String {
        let mut v = vec!["nft"];
        v.extend_from_slice(args);
        self.lab.srv.exec(&v)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(d) = self.state.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn deny_blocks_tcp_and_udp_cidr_ipv6_and_allow_beats_deny() {
    if !can_run("deny_blocks_tcp_and_udp_cidr_ipv6_and_allow_beats_deny") {
        return;
    }
    let h = Host::new("deny", "");
    assert!(h.lab.reaches("198.51.100.7"));
    let t0 = Instant::now();
    h.ok(&["deny", "198.51.100.7", "--reason", "test"]);
    let took = t0.elapsed();
    assert!(
        !h.lab.reaches("198.51.100.7"),
        "a denied address must not connect (TCP and UDP)"
    );
    assert!(
        h.lab.reaches("198.51.100.8"),
        "another address still connects"
    );
    eprintln!("rampart deny, process start to kernel (incl. ip netns exec): {took:?}");
    // a CIDR covers its range
    h.ok(&["deny", "192.0.2.4/30"]);
    for a in ["192.0.2.4", "192.0.2.7"] {
        assert!(!h.lab.reaches(a), "{a} is inside 192.0.2.4/30");
    }
    assert!(h.lab.reaches("192.0.2.3"));
    assert!(h.lab.reaches("192.0.2.9"));
    // a CIDR holding this host's own address is refused without --force
    let (code, _, err) = h.rampart(&["deny", "192.0.2.0/29"]);
    assert_eq!(code, 1, "{err}");
    // IPv6 the same
    h.ok(&["deny", "2001:db8::5"]);
    assert!(!h.lab.reaches("2001:db8::5"));
    assert!(h.lab.reaches("2001:db8::6"));
    // allow beats deny
    h.ok(&["allow", "192.0.2.5"]);
    assert!(h.lab.reaches("192.0.2.5"), "allow beats a covering deny");
    assert!(!h.lab.reaches("192.0.2.4"));
    // unblock lifts it
    h.ok(&["unblock", "198.51.100.7"]);
    assert!(h.lab.reaches("198.51.100.7"));
    // why explains
    let v = h.why("192.0.2.4");
    assert_eq!(v["blocked"], true, "{v}");
    assert_eq!(v["entries"][0]["target"], "192.0.2.4/30");
    let (code, why, _) = h.rampart(&["why", "198.51.100.7"]);
    assert_eq!(code, 1, "like grep: 1 when the kernel does not block it");
    assert!(why.contains("is not blocked"), "{why}");
    assert!(
        why.contains("unblocked"),
        "history shows the earlier entry: {why}"
    );
    // list
    let list: serde_json::Value =
        serde_json::from_str(&h.ok(&["list", "--deny", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn lockout_protection_refuses_without_force() {
    if !can_run("lockout_protection_refuses_without_force") {
        return;
    }
    let h = Host::new("lockout", "");
    let (code, _, err) = h.rampart(&["deny", "127.0.0.1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("loopback"), "{err}");
    let (code, _, err) = h.rampart(&["deny", "192.0.2.1"]);
    assert_eq!(code, 1);
    assert!(err.contains("own address"), "{err}");
    h.ok(&["ignore", "198.51.100.9"]);
    let (code, _, err) = h.rampart(&["deny", "198.51.100.9"]);
    assert_eq!(code, 1);
    assert!(err.contains("ignore"), "{err}");
    // the SSH client running the command
    let out = h
        .cmd()
        .args(["deny", "198.51.100.16/28"])
        .env("SSH_CONNECTION", "198.51.100.20 50000 192.0.2.1 22")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SSH client"));
    // --force overrides
    h.ok(&["deny", "198.51.100.9", "--force"]);
    assert!(!h.lab.reaches("198.51.100.9"));
}

#[test]
fn temporary_ban_lifts_by_itself() {
    if !can_run("temporary_ban_lifts_by_itself") {
        return;
    }
    let h = Host::new("temp", "");
    h.ok(&["deny", "198.51.100.5", "--for", "2s"]);
    assert!(!h.lab.reaches("198.51.100.5"));
    std::thread::sleep(Duration::from_millis(3000));
    assert!(
        h.lab.reaches("198.51.100.5"),
        "the kernel expired the element by itself"
    );
}

#[test]
fn apply_restores_after_divergence_and_flush_spares_other_tables() {
    if !can_run("apply_restores_after_divergence_and_flush_spares_other_tables") {
        return;
    }
    let h = Host::new("apply", "");
    // a stand-in for Docker's table
    h.nft(&["add", "table", "ip", "fakedocker"]);
    h.nft(&[
        "add",
        "chain",
        "ip",
        "fakedocker",
        "DOCKER",
        "{ type filter hook forward priority 0; }",
    ]);
    h.nft(&[
        "add",
        "rule",
        "ip",
        "fakedocker",
        "DOCKER",
        "tcp",
        "dport",
        "9999",
        "accept",
    ]);
    let docker_before = h.nft(&["list", "table", "ip", "fakedocker"]);
    h.ok(&["deny", "198.51.100.6"]);
    h.ok(&["deny", "198.51.100.4", "--for", "1s"]);
    assert!(!h.lab.reaches("198.51.100.6"));
    // someone deletes our element by hand
    h.nft(&[
        "delete",
        "element",
        "inet",
        "rampart",
        "deny4",
        "{ 198.51.100.6 }",
    ]);
    assert!(h.lab.reaches("198.51.100.6"));
    // the table is flushed (our table only)
    h.ok(&["flush"]);
    assert_eq!(
        h.nft(&["list", "table", "ip", "fakedocker"]),
        docker_before,
        "flush must not touch other tables"
    );
    std::thread::sleep(Duration::from_millis(1500));
    // apply: the permanent ban comes back, the expired one does not
    let out = h.ok(&["apply"]);
    assert!(out.contains("expired"), "{out}");
    assert!(
        !h.lab.reaches("198.51.100.6"),
        "apply restored the deleted ban"
    );
    assert!(
        h.lab.reaches("198.51.100.4"),
        "an expired ban is not restored"
    );
    assert_eq!(
        h.nft(&["list", "table", "ip", "fakedocker"]),
        docker_before,
        "apply must not touch other tables"
    );
    let status: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["table_loaded"], true);
    assert_eq!(status["store"]["deny"]["permanent"], 1, "{status}");
    assert!(h.ok(&["show-rules"]).contains("table inet rampart"));
}

#[test]
fn blocklist_and_country_entries_block() {
    if !can_run("blocklist_and_country_entries_block") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rampart-fw-geo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // a tiny DB-IP style CSV: 198.51.100.0/28 is "XA", the rest "XB"
    let csv = dir.join("country.csv");
    std::fs::write(&csv, "198.51.100.0,198.51.100.15,XA\n198.51.100.16,198.51.100.255,XB\n192.0.2.0,192.0.2.255,XB\n").unwrap();
    let h = Host::new(
        "lists",
        &format!(
            "[country]\ndatabase = \"{}\"\ndeny = [\"XA\"]\n",
            csv.display()
        ),
    );
    let list = dir.join("bad.txt");
    let mut text = String::from("# known bad\n192.0.2.6\n192.0.2.7 ; comment\nnot-an-address\n");
    for i in 0..10 {
        text.push_str(&format!("203.0.113.{i}\n"));
    }
    std::fs::write(&list, text).unwrap();
    let out = h.ok(&["blocklist", "add", "bad", "--file", list.to_str().unwrap()]);
    assert!(out.contains("12 entries"), "{out}");
    assert!(out.contains("1 malformed"), "{out}");
    assert!(!h.lab.reaches("192.0.2.6"), "a blocklist entry blocks");
    assert!(h.lab.reaches("192.0.2.8"));
    h.ok(&["apply"]);
    assert!(!h.lab.reaches("198.51.100.5"), "a denied country blocks");
    assert!(h.lab.reaches("198.51.100.20"), "other countries pass");
    let v: serde_json::Value = h.why("192.0.2.6");
    assert_eq!(v["blocked"], true);
    assert_eq!(v["blocklists"][0], "bad");
    let v: serde_json::Value = h.why("198.51.100.5");
    assert_eq!(v["country_blocked"], true, "{v}");
    // a bad update keeps the previous list
    std::fs::write(&list, "<html>error</html>\n").unwrap();
    let (code, _, err) = h.rampart(&["blocklist", "update", "bad"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("previous list stays"), "{err}");
    assert!(!h.lab.reaches("192.0.2.6"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn strict_mode_admits_only_listed_ports() {
    if !can_run("strict_mode_admits_only_listed_ports") {
        return;
    }
    let h = Host::new(
        "strict",
        "[firewall]\nstrict = true\ntcp_in = \"8080\"\nudp_in = \"5353\"\nssh_port = 2222\n",
    );
    h.ok(&["apply"]);
    assert!(h.lab.tcp("198.51.100.2", common::SRV4, 8080));
    assert!(
        h.lab.tcp("198.51.100.2", common::SRV4, 2222),
        "the SSH port stays open"
    );
    assert!(
        !h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "an unlisted port is closed"
    );
    assert!(h.lab.tcp("2001:db8::2", common::SRV6, 8080));
    assert!(
        !h.lab.tcp("2001:db8::2", common::SRV6, 80),
        "IPv6 has the same policy"
    );
    // applied from an SSH session: that client stays allowed everywhere
    let out = h.over_ssh("198.51.100.3", &["apply"]);
    assert!(out.contains("SSH client 198.51.100.3"), "{out}");
    assert!(
        h.lab.tcp("198.51.100.3", common::SRV4, 80),
        "the admin's SSH client keeps access"
    );
    assert!(!h.lab.tcp("198.51.100.2", common::SRV4, 80));
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert!(
        st["listening"]["tcp"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == 8080),
        "{st}"
    );
}

#[test]
fn apply_confirm_rolls_back_unless_confirmed() {
    if !can_run("apply_confirm_rolls_back_unless_confirmed") {
        return;
    }
    let h = Host::new("confirm", "");
    h.ok(&["apply"]);
    assert!(h.lab.tcp("198.51.100.2", common::SRV4, 80));
    // a risky change: strict mode with only 8080 open
    std::fs::write(
        &h.config,
        "[firewall]\nstrict = true\ntcp_in = \"8080\"\nssh_port = 2222\n",
    )
    .unwrap();
    let out = h.ok(&["apply", "--confirm", "2"]);
    assert!(out.contains("rampart confirm"), "{out}");
    assert!(
        !h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "the new policy is in force"
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "not confirmed: the previous ruleset came back"
    );
    // confirmed in time: it stays
    h.ok(&["apply", "--confirm", "2"]);
    h.ok(&["confirm"]);
    std::thread::sleep(Duration::from_millis(3000));
    assert!(
        !h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "confirmed: the new policy stays"
    );
    let (code, _, _) = h.rampart(&["confirm"]);
    assert_eq!(code, 1, "nothing left to confirm");
}

#[test]
fn blocklist_from_url_downloads_conditionally() {
    if !can_run("blocklist_from_url_downloads_conditionally") {
        return;
    }
    let h = Host::new("url", "");
    let dir = h.state.parent().unwrap().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let body: String = (2..=9)
        .map(|i| format!("192.0.2.{i}\n"))
        .collect::<String>()
        + "203.0.113.0/24\n";
    std::fs::write(dir.join("list.txt"), body).unwrap();
    // a web server on loopback inside the server namespace
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &h.lab.srv.name,
            "python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "18080",
            "--directory",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = "http://127.0.0.1:18080/list.txt";
    let mut added = None;
    for _ in 0..50 {
        let r = h.rampart(&["blocklist", "add", "web", "--url", url, "--format", "plain"]);
        if r.0 == 0 {
            added = Some(r.1);
            break;
        }
        let _ = h.rampart(&["blocklist", "remove", "web"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = added.expect("the blocklist loads from the local web server");
    assert!(out.contains("9 entries"), "{out}");
    assert!(!h.lab.reaches("192.0.2.4"));
    // unchanged on the server: a conditional request, nothing reloaded
    let out = h.ok(&["blocklist", "update", "web"]);
    assert!(out.contains("not modified"), "{out}");
    // the server fails: the previous list stays
    std::fs::remove_file(dir.join("list.txt")).unwrap();
    let (code, _, err) = h.rampart(&["blocklist", "update", "web"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    assert!(
        !h.lab.reaches("192.0.2.4"),
        "a failed download keeps the previous list"
    );
    let list: serde_json::Value =
        serde_json::from_str(&h.ok(&["blocklist", "list", "--json"])).unwrap();
    assert_eq!(list[0]["entries"], 9);
    let _ = server.kill();
    let _ = server.wait();
}

/// `rampart ARGS` (a daemon) in the server namespace, stderr to a file;
/// returns once it logged `watching` `files` times.
fn spawn_daemon(
    h: &Host,
    args: &[&std::ffi::OsStr],
    errlog: &std::path::Path,
    files: usize,
) -> std::process::Child {
    let child = h
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(errlog).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::fs::read_to_string(errlog)
        .unwrap_or_default()
        .matches("watching")
        .count()
        < files
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rampart run did not start: {}",
            std::fs::read_to_string(errlog).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `rampart run --watch LOG`.
fn spawn_run(h: &Host, log: &std::path::Path, errlog: &std::path::Path) -> std::process::Child {
    spawn_daemon(
        h,
        &["run".as_ref(), "--watch".as_ref(), log.as_os_str()],
        errlog,
        1,
    )
}

fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn fail_lines(ip: &str, n: usize, pid0: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "web1 sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
                pid0 + i,
                40000 + i
            )
        })
        .collect()
}

fn append(p: &std::path::Path, s: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn wait_blocked(h: &Host, ip: &str) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        if !h.lab.tcp(ip, common::SRV4, 8080) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

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
///     cargo test --release -p rampart --test firewall -- --ignored bench_ban_latency --nocapture
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
    let mut lat: Vec<f64> = h.lab.srv.run(|| {
        let mut fw = rampart_nft::NftFirewall::new().unwrap();
        use rampart_nft::Firewall;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ip: std::net::IpAddr = format!("2001:db8:1::{:x}", i + 1).parse().unwrap();
            let t0 = Instant::now();
            append(
                &log,
                &format!(
                    "web1 sshd[{}]: Failed password for root from {ip} port 4000 ssh2\n",
                    1000 + i
                ),
            );
            loop {
                let set = fw.list(&rampart_nft::SetList::Deny).unwrap();
                if set
                    .iter()
                    .any(|e| e.range == rampart_nft::IpRange::single(ip))
                {
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(5),
                    "ban {i} never arrived"
                );
            }
            out.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        out
    });
    stop(&mut child);
    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "line appended -> address in the kernel set, {n} bans: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p(0.5),
        p(0.9),
        p(0.99),
        lat[lat.len() - 1]
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

/// Benchmark (not run by default): 200,000 lines/s appended for
/// RAMPART_BENCH_SECS (default 60) seconds, 10% attacks from 50,000
/// addresses; checks no line is lost and reports memory and CPU.
///     cargo test --release -p rampart --test firewall -- --ignored bench_sustained_load --nocapture
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
    let per_tick = 2000; // every 10 ms: 200,000 lines/s
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
    let cursor = std::fs::read_to_string(h.state.join("journal.cursor")).unwrap_or_default();
    assert!(cursor.contains("f4"), "the cursor is saved: {cursor:?}");
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
    std::thread::sleep(Duration::from_millis(300));
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
        err.contains("not found (not followed): /nonexistent/rampart-*.log"),
        "{err}"
    );
    append(&b, &fail_lines("198.51.100.4", 5, 100));
    assert!(
        wait_blocked(&h, "198.51.100.4"),
        "{}",
        std::fs::read_to_string(&errlog).unwrap_or_default()
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

// ---- issue 7: the firewall state admins can trust. Each "What was seen"
// case, with real traffic. Extra client addresses live in 203.0.113.0/24
// (the server gets 203.0.113.1).

/// Gives the client these extra addresses (and the server 203.0.113.1).
fn more_clients(h: &Host, addrs: &[&str]) {
    let _ = h
        .lab
        .srv
        .exec(&["ip", "addr", "replace", "203.0.113.1/24", "dev", "vs"]);
    for a in addrs {
        h.lab
            .cli
            .exec(&["ip", "addr", "add", &format!("{a}/24"), "dev", "vc"]);
    }
}

#[test]
fn issue7_a_wider_deny_over_a_denied_address_blocks_all_of_it_and_expires_by_parts() {
    if !can_run("issue7_a_wider_deny_over_a_denied_address_blocks_all_of_it_and_expires_by_parts") {
        return;
    }
    let h = Host::new("i7overlap", "");
    more_clients(&h, &["203.0.113.130", "203.0.113.131", "203.0.113.200"]);
    h.ok(&["deny", "203.0.113.131", "--for", "1h"]);
    // before: "File exists", recorded anyway, .130 still connected
    let t0 = Instant::now();
    let (code, out, err) = h.rampart(&["deny", "203.0.113.128/25", "--for", "8s"]);
    assert_eq!(code, 0, "{out}{err}");
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["agree"], true, "{st}");
    for a in ["203.0.113.130", "203.0.113.131", "203.0.113.200"] {
        assert!(!h.lab.reaches(a), "{a} is inside the denied /25");
        assert_eq!(
            h.rampart(&["why", a]).0,
            0,
            "why {a} exits 0: the kernel blocks it"
        );
    }
    // the kernel times out the /25's parts by itself; the /32 stays
    std::thread::sleep(Duration::from_millis(9500).saturating_sub(t0.elapsed()));
    assert!(h.lab.reaches("203.0.113.130"), "the short ban ended");
    assert!(h.lab.reaches("203.0.113.200"));
    assert!(!h.lab.reaches("203.0.113.131"), "the longer ban stays");
    // denying the range again works over what the kernel left behind
    h.ok(&["deny", "203.0.113.128/25", "--for", "1h"]);
    assert!(!h.lab.reaches("203.0.113.130"));
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["agree"], true, "{st}");
}

#[test]
fn issue7_a_change_after_flush_rebuilds_the_allow_entries_first() {
    if !can_run("issue7_a_change_after_flush_rebuilds_the_allow_entries_first") {
        return;
    }
    let h = Host::new(
        "i7flush",
        "[firewall]\nstrict = true\ntcp_in = \"8080\"\nudp_in = \"5353\"\nssh_port = 2222\n",
    );
    h.ok(&["apply"]);
    h.ok(&["allow", "198.51.100.3"]);
    assert!(
        h.lab.tcp("198.51.100.3", common::SRV4, 80),
        "the admin is allowed everywhere"
    );
    assert!(!h.lab.tcp("198.51.100.2", common::SRV4, 80));
    h.ok(&["flush"]);
    assert!(
        h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "no table, no policy"
    );
    // before: the table came back with only this entry; the admin was out
    h.ok(&["deny", "198.51.100.5"]);
    assert!(
        h.lab.tcp("198.51.100.3", common::SRV4, 80),
        "the allowlisted admin is accepted again"
    );
    assert!(
        !h.lab.tcp("198.51.100.2", common::SRV4, 80),
        "strict mode is back"
    );
    assert!(!h.lab.reaches("198.51.100.5"));
}

#[test]
fn issue7_deny_everything_with_force_blocks_every_client() {
    if !can_run("issue7_deny_everything_with_force_blocks_every_client") {
        return;
    }
    let h = Host::new("i7all", "");
    let (code, _, err) = h.rampart(&["deny", "0.0.0.0/0"]);
    assert_eq!(code, 1, "refused without --force: {err}");
    assert!(err.contains("overlaps"), "{err}");
    let (code, _, err) = h.rampart(&["deny", "0.0.0.0/1"]);
    assert_eq!(code, 1, "0.0.0.0/1 holds loopback too: {err}");
    h.ok(&["deny", "0.0.0.0/0", "--force"]);
    for a in ["192.0.2.2", "198.51.100.20", "198.51.100.9"] {
        assert!(!h.lab.reaches(a), "{a}: every IPv4 client is denied");
    }
    assert!(h.lab.reaches("2001:db8::2"), "IPv6 is another family");
    h.ok(&["deny", "::/0", "--force"]);
    assert!(!h.lab.reaches("2001:db8::2"));
    h.ok(&["allow", "192.0.2.5"]);
    assert!(h.lab.reaches("192.0.2.5"), "allow still beats deny");
    let st: serde_json::Value = serde_json::from_str(&h.ok(&["status", "--json"])).unwrap();
    assert_eq!(st["agree"], true, "{st}");
}

#[test]
fn issue7_a_duration_beyond_the_kernel_limit_is_refused_before_writing() {
    if !can_run("issue7_a_duration_beyond_the_kernel_limit_is_refused_before_writing") {
        return;
    }
    let h = Host::new("i7range", "");
    let (code, out, err) = h.rampart(&["deny", "198.51.100.7", "--for", "99999999d"]);
    assert_eq!(code, 2, "a usage error: {out}{err}");
    assert!(err.contains("kernel"), "{err}");
    let list: serde_json::Value = serde_json::from_str(&h.ok(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing stored: {list}");
    assert!(h.lab.reaches("198.51.100.7"));
    // --json: the error as JSON, same exit status
    let (code, out, _) = h.rampart(&["deny", "198.51.100.7", "--for", "7dayz", "--json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit"], 2);
    let (code, _, err) = h.rampart(&["deny", "198.51.100.300"]);
    assert_eq!(code, 2, "a bad address is a usage error: {err}");
    // the longest accepted duration is accepted by the kernel too
    h.ok(&["deny", "198.51.100.7", "--for", "213503d"]);
    assert!(!h.lab.reaches("198.51.100.7"));
}

#[test]
fn issue7_allow_and_ignore_entries_can_be_removed_and_wide_ones_need_force() {
    if !can_run("issue7_allow_and_ignore_entries_can_be_removed_and_wide_ones_need_force") {
        return;
    }
    let h = Host::new("i7remove", "");
    more_clients(&h, &["203.0.113.21", "203.0.113.22"]);
    for args in [
        &["allow", "0.0.0.0/0"][..],
        &["ignore", "::/0"],
        &["allow", "10.0.0.0/8"],
    ] {
        let (code, _, err) = h.rampart(args);
        assert_eq!(code, 1, "{args:?} needs --force: {err}");
        assert!(err.contains("--force"), "{err}");
    }
    h.ok(&["deny", "203.0.113.16/28"]);
    h.ok(&["allow", "203.0.113.21", "--comment", "office"]);
    assert!(h.lab.reaches("203.0.113.21"));
    assert!(!h.lab.reaches("203.0.113.22"));
    let out = h.ok(&["allow", "--remove", "203.0.113.21"]);
    assert!(
        out.contains("Removed 203.0.113.21 from the allow list"),
        "{out}"
    );
    assert!(!h.lab.reaches("203.0.113.21"), "no longer allowed");
    h.ok(&["ignore", "198.51.100.9"]);
    let out = h.ok(&["ignore", "--remove", "198.51.100.9", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["removed"][0]["kind"], "ignore", "{v}");
    let (code, _, _) = h.rampart(&["ignore", "--remove", "198.51.100.9"]);
    assert_eq!(code, 1, "nothing left to remove");
    // wide with --force: allowed, with a warning
    let (code, _, err) = h.rampart(&["allow", "0.0.0.0/0", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("every IPv4 address"), "{err}");
    assert!(
        h.lab.reaches("203.0.113.22"),
        "allow 0.0.0.0/0 opens everything"
    );
    h.ok(&["allow", "--remove", "0.0.0.0/0"]);
    assert!(!h.lab.reaches("203.0.113.22"));
    // `remove` takes an address out of every list it is in
    h.ok(&["deny", "198.51.100.8"]);
    h.ok(&["ignore", "198.51.100.8"]);
    let out = h.ok(&["remove", "198.51.100.8"]);
    assert!(
        out.contains("deny list") && out.contains("ignore list"),
        "{out}"
    );
}

#[test]
fn issue7_dry_run_changes_nothing_and_prints_the_operations() {
    if !can_run("issue7_dry_run_changes_nothing_and_prints_the_operations") {
        return;
    }
    let h = Host::new("i7dry", "");
    h.ok(&["apply"]);
    let out = h.ok(&["deny", "198.51.100.7", "--for", "1h", "--dry-run"]);
    assert!(
        out.contains("add element inet rampart deny4 { 198.51.100.7 timeout 3600s }"),
        "{out}"
    );
    let list: serde_json::Value = serde_json::from_str(&h.ok(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing stored: {list}");
    assert!(h.lab.reaches("198.51.100.7"));
    h.ok(&["apply"]);
    assert!(
        h.lab.reaches("198.51.100.7"),
        "and apply has nothing to enforce"
    );
    let out = h.ok(&["flush", "--dry-run"]);
    assert!(out.contains("delete table inet rampart"), "{out}");
    assert!(
        h.nft(&["list", "tables"]).contains("rampart"),
        "the table stays"
    );
}

#[test]
fn issue7_denying_again_for_less_says_what_actually_holds() {
    if !can_run("issue7_denying_again_for_less_says_what_actually_holds") {
        return;
    }
    let h = Host::new("i7shorter", "");
    h.ok(&["deny", "198.51.100.7", "--for", "1h"]);
    let out = h.ok(&["deny", "198.51.100.7", "--for", "5m"]);
    assert!(out.contains("already on the deny list"), "{out}");
    assert!(out.contains("kept"), "{out}");
    assert!(!out.contains("Denied 198.51.100.7 for 5m"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&h.ok(&["deny", "198.51.100.7", "--for", "5m", "--json"])).unwrap();
    assert_eq!(v["action"], "kept");
    assert!(v["entry"]["remaining_secs"].as_u64().unwrap() > 3000, "{v}");
    let why: serde_json::Value = h.why("198.51.100.7");
    assert_eq!(why["kernel"]["blocked"], true);
    assert_eq!(why["agree"], true, "{why}");
}

#[test]
fn issue7_without_root_says_so_once() {
    if !can_run("issue7_without_root_says_so_once") {
        return;
    }
    let h = Host::new("i7root", "");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_rampart"))
        .arg("--state-dir")
        .arg(&h.state)
        .args(["deny", "198.51.100.7"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert_eq!(err.trim(), "rampart: needs root (CAP_NET_ADMIN)");
}
