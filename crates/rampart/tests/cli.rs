//! End-to-end tests of the `rampart` binary: scan, rules, config check.
//! They run the real binary on fixture logs in `tests/data/`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
    // an empty configuration and no rules.d: built-in defaults only
    c.env("RAMPART_CONFIG", data("empty.toml"));
    c.env_remove("RAMPART_STATE_DIR");
    c
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn events(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn scan_events_report_line_rule_reason_and_ip() {
    let o = run(&["scan", "--events", data("auth.log").to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev = events(&o);
    let by_line: Vec<(u64, &str, &str)> = ev
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["ip"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    // line 2: failed password; line 3: invalid user
    assert!(
        by_line.contains(&(2, "198.51.100.7", "sshd")),
        "{by_line:?}"
    );
    assert!(
        by_line.contains(&(3, "198.51.100.7", "sshd")),
        "{by_line:?}"
    );
    // benign lines and another program's forged line produce nothing
    for n in [1, 4, 8] {
        assert!(
            !by_line.iter().any(|(l, ..)| *l == n),
            "line {n} must not be an event: {by_line:?}"
        );
    }
    // log injection: the fake address in the user name is never blamed
    assert!(
        !by_line.iter().any(|(_, ip, _)| *ip == "192.0.2.99"),
        "{by_line:?}"
    );
    assert!(
        !by_line.iter().any(|(_, ip, _)| *ip == "203.0.113.77"),
        "{by_line:?}"
    );
    // IPv6
    assert!(
        by_line.iter().any(|(_, ip, _)| *ip == "2001:db8::7"),
        "{by_line:?}"
    );
    let first = &ev[0];
    assert_eq!(first["source"].as_str(), data("auth.log").to_str());
    assert_eq!(first["rule"], "sshd.failed_auth_plain");
    assert_eq!(first["user"], "root");
    assert_eq!(first["count"], 1);
    assert!(
        first["time"]
            .as_str()
            .unwrap()
            .ends_with("-11-27T08:00:02Z"),
        "{first}"
    );
}

#[test]
fn scan_json_bans_with_evidence_and_summary() {
    let o = run(&["scan", "--json", data("auth.log").to_str().unwrap()]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bans = v["bans"].as_array().unwrap();
    // 198.51.100.7 has 6 failures (threshold 5); 127.0.0.1 has 5 but is never banned
    let ips: Vec<&str> = bans.iter().map(|b| b["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, vec!["198.51.100.7"], "{v}");
    let b = &bans[0];
    assert_eq!(b["reason"], "sshd");
    assert_eq!(b["count"], 6, "count includes events after the ban: {b}");
    assert!(b["first_seen"].as_str().unwrap().ends_with("T08:00:02Z"));
    assert!(b["last_seen"].as_str().unwrap().ends_with("T08:00:10Z"));
    assert_eq!(
        b["summary"],
        "(sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs"
    );
    assert!(!b["evidence"].as_array().unwrap().is_empty());
    assert_eq!(b["ban_secs"], 3600);
    assert_eq!(v["summary"]["lines"], 16);
    let ex = &v["explanations"]["sshd"];
    assert_eq!(ex["title"], "Failed SSH login");
    assert!(ex["remedy"].as_str().unwrap().contains("password"), "{ex}");
    assert_eq!(v["summary"]["skipped"]["protected_addresses"], 5);
}

#[test]
fn scan_human_report_explains() {
    let o = run(&["scan", data("auth.log").to_str().unwrap()]);
    assert!(o.status.success());
    let s = stdout(&o);
    assert!(
        s.contains("(sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs"),
        "{s}"
    );
    assert!(s.contains("By reason:"), "{s}");
    assert!(
        s.contains("What to do: Check the user name, password or key"),
        "{s}"
    );
    assert!(
        s.contains("| Nov 27 08:00:02 web1 sshd[1002]: Failed password"),
        "{s}"
    );
}

#[test]
fn scan_reads_gzip_stdin_and_globs_oldest_first() {
    let dir = tmpdir("gz");
    let text = std::fs::read(data("auth.log")).unwrap();
    let gz = dir.join("auth.log.2.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&text).unwrap();
    enc.finish().unwrap();
    let o = run(&["scan", "--events", gz.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(
        events(&o).len(),
        events(&run(&[
            "scan",
            "--events",
            data("auth.log").to_str().unwrap()
        ]))
        .len()
    );

    // stdin
    let mut child = bin()
        .args(["scan", "--events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let o = child.wait_with_output().unwrap();
    let ev = events(&o);
    assert!(!ev.is_empty());
    assert_eq!(ev[0]["source"], "-");

    // a glob expands to its matches
    std::fs::write(dir.join("auth.log"), &text).unwrap();
    let pat = format!("{}/auth.log*", dir.display());
    let o = run(&["scan", "--json", &pat]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["inputs"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_is_counted_never_fatal() {
    let dir = tmpdir("bad");
    let huge = dir.join("huge.log");
    let mut f = std::fs::File::create(&huge).unwrap();
    // a 1 MiB line, then a normal one, then binary garbage without a newline
    writeln!(
        f,
        "Nov 27 08:01:02 web1 sshd[3]: Failed password for {} from 203.0.113.9 port 3 ssh2",
        "A".repeat(1 << 20)
    )
    .unwrap();
    f.write_all(
        b"Nov 27 08:01:03 web1 sshd[4]: Failed password for root from 203.0.113.9 port 4 ssh2\n",
    )
    .unwrap();
    f.write_all(&(0..=255u8).cycle().take(10_000).collect::<Vec<u8>>())
        .unwrap();
    drop(f);
    let o = run(&[
        "scan",
        "--json",
        huge.to_str().unwrap(),
        data("garbage.log").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["skipped"]["oversized_lines"], 1, "{v}");
    // the normal line after the huge one, and the good lines around garbage, are read
    assert_eq!(v["summary"]["events"], 3, "{v}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_input_is_reported_and_others_still_scanned() {
    let o = run(&[
        "scan",
        "--events",
        "/nonexistent/rampart.log",
        data("auth.log").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/rampart.log"));
    assert!(!events(&o).is_empty());
}

#[test]
fn rules_test_shows_the_match_and_exit_codes() {
    let line = "Nov 27 08:15:00 web1 sshd[1]: Invalid user admin from 198.51.100.7 port 4242";
    let o = run(&["rules", "test", "--json", line]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["rule"], "sshd.invalid_user_plain");
    assert_eq!(v[0]["ip"], "198.51.100.7");
    assert_eq!(v[0]["user"], "admin");
    let o = run(&["rules", "test", "hello world"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no rule matched"));
}

#[test]
fn rules_test_runs_all_builtin_vectors() {
    let o = run(&["rules", "test", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(o.status.success(), "{v}");
    assert!(v["vectors"].as_u64().unwrap() > 500);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0);
}

#[test]
fn user_rules_are_loaded_and_their_vectors_checked() {
    let dir = tmpdir("userrules");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        r#"
[[rule]]
id = "myapp.login_failed"
reason = "custom"
line = true
literals = ["LOGIN FAILED"]
regex = '^myapp: LOGIN FAILED user=(?P<user>\S+) ip=(?P<ip>\S+)$'
[[rule.match]]
line = "myapp: LOGIN FAILED user=bob ip=198.51.100.20"
ip = "198.51.100.20"
user = "bob"
[[rule.nomatch]]
line = "myapp: LOGIN OK user=bob ip=198.51.100.20"
"#,
    )
    .unwrap();
    let o = run(&[
        "rules",
        "test",
        "--rules",
        good.to_str().unwrap(),
        "myapp: LOGIN FAILED user=eve ip=203.0.113.3",
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("rule myapp.login_failed (reason custom): ip=203.0.113.3"));
    // a failing vector makes `rules test` fail and names the rule
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("ip = \"198.51.100.20\"", "ip = \"198.51.100.21\""),
    )
    .unwrap();
    let o = run(&[
        "rules",
        "test",
        "--no-builtin",
        "--rules",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o)
            .contains("FAIL rule myapp.login_failed: blamed 198.51.100.20, expected 198.51.100.21"),
        "{}",
        stdout(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_check_reports_every_error_with_location() {
    let dir = tmpdir("cfg");
    let cfg = dir.join("rampart.toml");
    std::fs::write(
        &cfg,
        "[detect]\nipv6_prefx = 64\n\n[reasons.sshd]\nthreshold = -1\nwindow = \"soon\"\n",
    )
    .unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let s = stdout(&o);
    let p = cfg.display();
    assert!(
        s.contains(&format!(
            "{p}:2: detect.ipv6_prefx: unknown key; did you mean `ipv6_prefix`?"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "{p}:5: reasons.sshd.threshold: bad value -1: expected an integer from 1 to 100000"
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!("{p}:6: reasons.sshd.window: bad value \"soon\"")),
        "{s}"
    );
    // the same file given to scan is refused with the config exit code
    let o = bin()
        .env("RAMPART_CONFIG", &cfg)
        .args(["scan", data("auth.log").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(78));
    // a good file passes
    std::fs::write(&cfg, "[reasons.sshd]\nthreshold = 3\n").unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_changes_thresholds() {
    let dir = tmpdir("cfg2");
    let cfg = dir.join("rampart.toml");
    std::fs::write(&cfg, "[reasons.sshd]\nthreshold = 20\n").unwrap();
    let o = bin()
        .env("RAMPART_CONFIG", &cfg)
        .args(["scan", "--json", data("auth.log").to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["bans"].as_array().unwrap().len(), 0, "{v}");
    std::fs::write(&cfg, "[detect]\nignore = [\"198.51.100.0/24\"]\n").unwrap();
    let o = bin()
        .env("RAMPART_CONFIG", &cfg)
        .args(["scan", "--json", data("auth.log").to_str().unwrap()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["bans"].as_array().unwrap().len(),
        0,
        "ignored addresses are never banned: {v}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_is_complete() {
    let o = run(&["--help"]);
    let s = stdout(&o);
    for needle in [
        "scan",
        "rules",
        "config",
        "EXIT STATUS",
        "RAMPART_CONFIG",
        "/etc/rampart/rampart.toml",
    ] {
        assert!(s.contains(needle), "--help lacks {needle}: {s}");
    }
}

/// A log whose user names carry an ANSI colour sequence, BEL and CR
/// (issue 8: they reached the terminal raw).
fn hostile_user_log(dir: &Path) -> PathBuf {
    let p = dir.join("hostile.log");
    let mut f = std::fs::File::create(&p).unwrap();
    for (i, user) in ["\x1b[31mroot\x1b[0m", "bell\x07", "over\rwrite"]
        .iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        writeln!(
            f,
            "Nov 27 08:00:{:02} web1 sshd[1{i}]: Failed password for {user} from 198.51.100.7 port 4000{i} ssh2",
            i + 1
        )
        .unwrap();
    }
    p
}

fn assert_no_raw_controls(what: &str, out: &str) {
    for c in ['\x1b', '\x07', '\r'] {
        assert!(
            !out.contains(c),
            "{what}: raw {c:?} reached the terminal:\n{out:?}"
        );
    }
}

#[test]
fn scan_text_escapes_control_characters_json_keeps_them() {
    let d = tmpdir("controls-scan");
    let log = hostile_user_log(&d);
    let o = run(&["scan", "--evidence", "6", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert_no_raw_controls("scan", &out);
    assert!(out.contains("for \\x1b[31mroot\\x1b[0m from"), "{out}");
    assert!(out.contains("bell\\x07"), "{out}");
    assert!(out.contains("over\\rwrite"), "{out}");
    // JSON is data, already safe: the exact characters, JSON-escaped
    let o = run(&["scan", "--json", log.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let evidence = v["bans"][0]["evidence"].to_string();
    assert!(evidence.contains("\\u001b[31mroot"), "{evidence}");
    let first = v["bans"][0]["evidence"][0].as_str().unwrap();
    assert!(first.contains("\x1b[31mroot"), "{first:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn rules_test_escapes_control_characters() {
    let line = "Nov 27 08:00:01 web1 sshd[1]: Failed password for \x1b[31mx\x07y\rz from 198.51.100.7 port 4000 ssh2";
    let o = run(&["rules", "test", line]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert_no_raw_controls("rules test", &out);
    assert!(out.contains("user=\\x1b[31mx\\x07y\\rz"), "{out}");
}

/// Five failures 20 minutes apart in real time, written in Berlin local
/// time across a DST change (`stamps`), scanned with `log_timezone`.
fn scan_across_dst(
    tag: &str,
    zone: &str,
    stamps: &[&str],
    tz_env: Option<&str>,
) -> serde_json::Value {
    let d = tmpdir(tag);
    let cfg = d.join("rampart.toml");
    std::fs::write(
        &cfg,
        format!("log_timezone = \"{zone}\"\n[reasons.sshd]\nthreshold = 5\nwindow = \"30m\"\n"),
    )
    .unwrap();
    let log = d.join("auth.log");
    let mut f = std::fs::File::create(&log).unwrap();
    for (i, t) in stamps.iter().enumerate() {
        writeln!(
            f,
            "{t} web1 sshd[10{i}]: Failed password for root from 198.51.100.7 port 4000{i} ssh2"
        )
        .unwrap();
    }
    let mut c = bin();
    c.env("RAMPART_CONFIG", &cfg);
    if let Some(tz) = tz_env {
        c.env("TZ", tz);
    }
    let o = c
        .args(["scan", "--json", log.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&d);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ban_span(v: &serde_json::Value) -> Vec<(String, String)> {
    v["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["first_seen"].as_str().unwrap().to_string(),
                b["last_seen"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn log_timezone_reads_a_log_across_the_spring_dst_change() {
    // 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST. Real times
    // 00:50Z..01:10Z: five failures in 20 minutes.
    let stamps = [
        "2026-03-29T01:50:00",
        "2026-03-29T01:55:00",
        "2026-03-29T03:00:00",
        "2026-03-29T03:05:00",
        "2026-03-29T03:10:00",
    ];
    let v = scan_across_dst("dst-spring", "Europe/Berlin", &stamps, None);
    assert_eq!(
        ban_span(&v),
        vec![("2026-03-29T00:50:00Z".into(), "2026-03-29T01:10:00Z".into())]
    );
    // a fixed offset gets one side wrong by an hour: no ban
    let v = scan_across_dst("dst-spring-fixed", "+01:00", &stamps, None);
    assert_eq!(ban_span(&v), vec![]);
}

#[test]
fn log_timezone_reads_the_repeated_autumn_hour_in_order() {
    // 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:50 and
    // 02:55 are the first pass (summer time), 02:00-02:10 the second.
    let stamps = [
        "2026-10-25T02:50:00",
        "2026-10-25T02:55:00",
        "2026-10-25T02:00:00",
        "2026-10-25T02:05:00",
        "2026-10-25T02:10:00",
    ];
    let want = vec![("2026-10-25T00:50:00Z".into(), "2026-10-25T01:10:00Z".into())];
    let v = scan_across_dst("dst-autumn", "Europe/Berlin", &stamps, None);
    assert_eq!(ban_span(&v), want);
    // "local": the system's zone, here from TZ
    let v = scan_across_dst("dst-autumn-local", "local", &stamps, Some("Europe/Berlin"));
    assert_eq!(ban_span(&v), want);
    // a fixed offset reads the second pass an hour early (the evidence
    // then runs backwards)
    let v = scan_across_dst("dst-autumn-fixed", "+02:00", &stamps, None);
    assert_ne!(ban_span(&v), want);
}

#[test]
fn config_check_names_bad_zones_and_durations_with_the_accepted_forms() {
    let d = tmpdir("zone-errors");
    let cfg = d.join("rampart.toml");
    std::fs::write(
        &cfg,
        "log_timezone = \"Europe/Berln\"\n[reasons.sshd]\nwindow = \"7dyas\"\nban = \"1h30m\"\n[ban]\nmax_ban = \"2w\"\n",
    )
    .unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let f = cfg.display();
    assert!(
        out.contains(&format!(
            "{f}:1: log_timezone: bad value \"Europe/Berln\": unknown time zone; did you mean `Europe/Berlin`?"
        )) && out.contains("\"local\" (the system's zone)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{f}:3: reasons.sshd.window: bad value \"7dyas\""))
            && out.contains("1h30m"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "1h30m and 2w are fine: {out}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn scan_program_reads_headerless_lines_as_that_program() {
    let d = tmpdir("program");
    let f = d.join("dropbear.log");
    std::fs::write(
        &f,
        "Bad password attempt for 'root' from 198.51.100.7:40000\n\
         [825] Nov 27 08:15:01 Bad PAM password attempt for 'x' from 192.0.2.1:1' from 203.0.113.9:52289\n",
    )
    .unwrap();
    let path = f.to_str().unwrap();
    // without a declaration the lines belong to no program: never believed
    let o = run(&["scan", "--events", path]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(events(&o).is_empty(), "{}", stdout(&o));
    let o = run(&["scan", "--events", "--program", "dropbear", path]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ips: Vec<String> = events(&o)
        .iter()
        .map(|e| e["ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips, vec!["198.51.100.7", "203.0.113.9"]);
    let o = run(&["scan", "--program", "drop bear", path]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
}
