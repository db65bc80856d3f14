//! End-to-end tests of the firewall commands with real nftables and real
//! traffic, in network namespaces this test creates (never the host's own
//! ruleset). Root only: they print SKIPPED without root, and fail instead
//! when RAMPART_REQUIRE_ROOT_TESTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod host;

use host::{Host, can_run, common};
use std::process::Command;
use std::time::{Duration, Instant};
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
