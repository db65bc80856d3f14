//! The HTTP API, metrics and console authentication (issue 13) against a
//! real daemon in network namespaces this test creates, with real nftables
//! and SQLite, spoken to with curl (and schemathesis, promtool) run inside
//! the namespaces. Root only: SKIPPED without root, a failure with
//! RAMPART_REQUIRE_ROOT_TESTS=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod host;

use host::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const API: &str = "http://127.0.0.1:9767";

/// `curl` in the server namespace: (status, body).
fn curl(
    h: &Host,
    method: &str,
    path: &str,
    headers: &[String],
    body: Option<&str>,
) -> (u16, String) {
    let url = format!("{API}{path}");
    let mut args: Vec<String> = [
        "curl",
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for hd in headers {
        args.push("-H".into());
        args.push(hd.clone());
    }
    if let Some(b) = body {
        args.extend([
            "-H".into(),
            "content-type: application/json".into(),
            "--data-binary".into(),
            b.into(),
        ]);
    }
    args.push(url);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = h.cmd_in_ns(&a).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn bearer(t: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {t}")]
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A daemon with the API on the namespace's loopback, and two tokens.
fn start(tag: &str, config: &str) -> (Host, Daemon, String, String) {
    start_with(tag, config, &[])
}

/// As [`start`], running the `rampart` commands `before` first.
fn start_with(tag: &str, config: &str, before: &[&[&str]]) -> (Host, Daemon, String, String) {
    let h = Host::new(tag, config);
    for args in before {
        h.ok(args);
    }
    let ro = h
        .ok(&["api", "token", "add", "ro", "--scope", "read"])
        .trim()
        .to_string();
    let rw = h
        .ok(&["api", "token", "add", "rw", "--scope", "write"])
        .trim()
        .to_string();
    let dir = h.state.parent().unwrap().to_path_buf();
    let log = dir.join("auth.log");
    append(&log, "");
    let d = spawn_run(&h, &log, &dir.join("run.err"));
    let t0 = Instant::now();
    while curl(&h, "GET", "/api/v1/openapi.json", &[], None).0 != 200 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the API never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (h, d, ro, rw)
}

/// Drops what differs between two reads of the same state a moment apart.
fn settle(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("remaining_secs");
            m.remove("daemon");
            for x in m.values_mut() {
                *x = settle(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = settle(x.take());
            }
        }
        _ => {}
    }
    v
}

#[test]
fn every_endpoint_answers_with_the_clis_shapes_and_refuses_whom_it_must() {
    if !can_run("api_endpoints") {
        return;
    }
    let (h, _d, ro, rw) = start("api", "");
    // nobody, an unknown token, the wrong scope
    assert_eq!(curl(&h, "GET", "/api/v1/status", &[], None).0, 401);
    assert_eq!(
        curl(&h, "GET", "/api/v1/status", &bearer("rampart_nope"), None).0,
        401
    );
    let deny = r#"{"addr": "198.51.100.7", "duration": "2h", "reason": "api test"}"#;
    assert_eq!(
        curl(&h, "POST", "/api/v1/deny", &bearer(&ro), Some(deny)).0,
        403
    );

    let (code, body) = curl(&h, "POST", "/api/v1/deny", &bearer(&rw), Some(deny));
    assert_eq!(code, 200, "{body}");
    let added = json(&body);
    assert_eq!(added["action"], "inserted");
    assert_eq!(added["entry"]["target"], "198.51.100.7");
    // the kernel holds it, and the API's why is the CLI's
    let cli_why = h.why("198.51.100.7");
    assert_eq!(cli_why["blocked"], true);
    let (code, body) = curl(&h, "GET", "/api/v1/why/198.51.100.7", &bearer(&ro), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(settle(json(&body)), settle(cli_why));
    assert_eq!(
        curl(&h, "GET", "/api/v1/why/not-an-address", &bearer(&ro), None).0,
        400
    );
    // list and status, as the CLI prints them
    let (code, body) = curl(&h, "GET", "/api/v1/list?kind=deny", &bearer(&ro), None);
    assert_eq!(code, 200);
    assert_eq!(
        settle(json(&body)),
        settle(json(&h.ok(&["list", "--deny", "--json"])))
    );
    assert_eq!(
        curl(&h, "GET", "/api/v1/list?kind=bogus", &bearer(&ro), None).0,
        400
    );
    let (code, body) = curl(&h, "GET", "/api/v1/status", &bearer(&ro), None);
    assert_eq!(code, 200, "{body}");
    let api_status = json(&body);
    assert_eq!(
        settle(api_status.clone()),
        settle(json(&h.ok(&["status", "--json"])))
    );
    assert!(
        api_status["daemon"]["sinks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["sink"] == "feed")
    );

    // lockout protection, as the CLI's
    let (code, body) = curl(
        &h,
        "POST",
        "/api/v1/deny",
        &bearer(&rw),
        Some(r#"{"addr": "127.0.0.1"}"#),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(
        curl(
            &h,
            "POST",
            "/api/v1/deny",
            &bearer(&rw),
            Some(r#"{"addr": "198.51.100.9", "duration": "3 months"}"#)
        )
        .0,
        400
    );
    for (path, addr) in [
        ("/api/v1/allow", "198.51.100.20"),
        ("/api/v1/ignore", "198.51.100.21"),
    ] {
        let (code, body) = curl(
            &h,
            "POST",
            path,
            &bearer(&rw),
            Some(&format!(r#"{{"addr": "{addr}"}}"#)),
        );
        assert_eq!(code, 200, "{path}: {body}");
    }
    assert_eq!(
        json(&h.ok(&["list", "--allow", "--json"]))[0]["target"],
        "198.51.100.20"
    );

    // the live feed sees the unblock
    let sse = h
        .cmd_in_ns(&[
            "curl",
            "-s",
            "-N",
            "--max-time",
            "4",
            "-H",
            &bearer(&ro)[0],
            &format!("{API}/api/v1/events"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (code, body) = curl(
        &h,
        "POST",
        "/api/v1/unblock",
        &bearer(&rw),
        Some(r#"{"addr": "198.51.100.7", "comment": "ok"}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["removed"][0]["target"], "198.51.100.7");
    assert_eq!(h.why("198.51.100.7")["blocked"], false);
    assert_eq!(
        curl(
            &h,
            "POST",
            "/api/v1/unblock",
            &bearer(&rw),
            Some(r#"{"addr": "198.51.100.7"}"#)
        )
        .0,
        404
    );
    let out = sse.wait_with_output().unwrap();
    let feed = String::from_utf8_lossy(&out.stdout);
    assert!(
        feed.contains("event: unblocked") && feed.contains("198.51.100.7"),
        "{feed}"
    );

    // blocklists, countries, rules, a line tested, the configuration
    for path in [
        "/api/v1/blocklists",
        "/api/v1/countries",
        "/api/v1/rules",
        "/api/v1/config/check",
    ] {
        let (code, body) = curl(&h, "GET", path, &bearer(&ro), None);
        assert_eq!(code, 200, "{path}: {body}");
        json(&body);
    }
    let rules = json(&curl(&h, "GET", "/api/v1/rules", &bearer(&ro), None).1);
    assert_eq!(rules, json(&h.ok(&["rules", "list", "--json"])));
    let line = "Nov 27 08:15:00 web1 sshd[1]: Invalid user admin from 198.51.100.7 port 4242";
    let (code, body) = curl(
        &h,
        "POST",
        "/api/v1/rules/test",
        &bearer(&ro),
        Some(&serde_json::json!({"lines": [line]}).to_string()),
    );
    assert_eq!(code, 200);
    assert_eq!(
        json(&body),
        json(&h.rampart(&["rules", "test", "--json", line]).1)
    );
    assert_eq!(
        json(&curl(&h, "GET", "/api/v1/config/check", &bearer(&ro), None).1)["ok"],
        true
    );
    assert_eq!(curl(&h, "GET", "/api/v1/openapi.json", &[], None).0, 200);
}

/// Each thread of `pid`: (name, scheduling policy, nice), from
/// `/proc/PID/task/TID/stat` (fields 41 and 19).
fn threads(pid: u32) -> Vec<(String, u32, i32)> {
    let mut out = vec![];
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap();
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_string();
        let f: Vec<&str> = tail.split_whitespace().collect();
        // `tail` starts at field 3
        out.push((name, f[41 - 3].parse().unwrap(), f[19 - 3].parse().unwrap()));
    }
    out
}

#[test]
fn the_web_threads_yield_the_cpu_to_detection_and_enforcement() {
    if !can_run("api_sched") {
        return;
    }
    const SCHED_OTHER: u32 = 0;
    const SCHED_IDLE: u32 = 5;
    let (h, d, ro, _rw) = start("prio", "");
    // a request, so that the runtime has run its handlers
    assert_eq!(curl(&h, "GET", "/api/v1/status", &bearer(&ro), None).0, 200);
    let all = threads(d.id());
    let policy = |name: &str| {
        all.iter()
            .find(|t| t.0 == name)
            .map(|t| (t.1, t.2))
            .unwrap_or_else(|| panic!("no thread {name:?} in {all:?}"))
    };
    assert_eq!(policy("web").0, SCHED_IDLE, "{all:?}");
    assert_eq!(policy("enforcer"), (SCHED_OTHER, 0), "{all:?}");
    for t in all.iter().filter(|t| t.0.starts_with("web")) {
        assert_eq!(t.1, SCHED_IDLE, "{t:?}");
    }
}

#[test]
fn console_sessions_need_their_csrf_token_to_change_anything() {
    if !can_run("api_sessions") {
        return;
    }
    let (h, _d, _ro, _rw) = start("ses", "");
    let add = h
        .cmd()
        .args(["console", "user", "add", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    add.stdin
        .as_ref()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    assert!(add.wait_with_output().unwrap().status.success());
    let users = json(&h.ok(&["console", "user", "list", "--json"]));
    assert_eq!(users[0]["name"], "admin");

    let login = r#"{"user": "admin", "password": "correct horse battery"}"#;
    let out = h
        .cmd_in_ns(&[
            "curl",
            "-s",
            "-i",
            "-H",
            "content-type: application/json",
            "--data-binary",
            login,
            &format!("{API}/api/v1/session"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let cookie_line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect(&text);
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(cookie_line.contains(attr), "{cookie_line}");
    }
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let session = json(text.rsplit("\r\n\r\n").next().unwrap());
    let csrf = session["csrf"].as_str().unwrap().to_string();
    let with_cookie = vec![format!("Cookie: {cookie}")];
    assert_eq!(curl(&h, "GET", "/api/v1/status", &with_cookie, None).0, 200);
    let deny = r#"{"addr": "198.51.100.30"}"#;
    assert_eq!(
        curl(&h, "POST", "/api/v1/deny", &with_cookie, Some(deny)).0,
        403,
        "no CSRF token"
    );
    let forged = vec![with_cookie[0].clone(), "X-CSRF-Token: forged".into()];
    assert_eq!(curl(&h, "POST", "/api/v1/deny", &forged, Some(deny)).0, 403);
    let good = vec![with_cookie[0].clone(), format!("X-CSRF-Token: {csrf}")];
    assert_eq!(curl(&h, "POST", "/api/v1/deny", &good, Some(deny)).0, 200);
    assert_eq!(h.why("198.51.100.30")["blocked"], true);
    assert_eq!(curl(&h, "DELETE", "/api/v1/session", &good, None).0, 200);
    assert_eq!(
        curl(&h, "GET", "/api/v1/status", &with_cookie, None).0,
        401,
        "logged out"
    );
    // a removed token is refused at once
    h.ok(&["api", "token", "remove", "ro"]);
    assert_eq!(
        curl(&h, "GET", "/api/v1/status", &bearer(&_ro), None).0,
        401
    );
}

#[test]
fn metrics_pass_promtool_and_count_what_happened() {
    if !can_run("api_metrics") {
        return;
    }
    if Command::new("promtool").arg("--version").output().is_err() {
        panic!("promtool (Debian package prometheus) is needed for this test");
    }
    // an alert channel (nobody listens on port 9) and a blocklist, so
    // every family of the dashboard has a sample
    let config =
        "[reasons.sshd]\nthreshold = 2\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\n";
    let list = std::env::temp_dir().join(format!("rampart-api-list-{}", std::process::id()));
    std::fs::write(&list, "203.0.113.0/24\n").unwrap();
    let (h, _d, _ro, _rw) = start_with(
        "met",
        config,
        &[&["blocklist", "add", "bad", "--file", list.to_str().unwrap()]],
    );
    let _ = std::fs::remove_file(&list);
    let log = h.state.parent().unwrap().join("auth.log");
    append(&log, &fail_lines("198.51.100.4", 2, 100));
    assert!(wait_blocked(&h, "198.51.100.4"));
    let t0 = Instant::now();
    let text = loop {
        let (code, text) = curl(&h, "GET", "/metrics", &[], None);
        assert_eq!(code, 200, "{text}");
        if text.contains("rampart_bans_total{") || t0.elapsed() > Duration::from_secs(5) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for name in [
        "rampart_lines_read_total{",
        "rampart_events_total{rule=\"sshd.",
        "rampart_bans_total{reason=\"sshd\",origin=\"detector\"} 1",
        "rampart_ban_latency_seconds_count 1",
        "rampart_entries{list=\"deny\"} 1",
        "rampart_sink_queue_depth{sink=\"metrics\"}",
        "rampart_tailer_lag_bytes{",
        "rampart_tracked_addresses ",
        "rampart_process_resident_memory_bytes ",
        "rampart_self_unblocks_total 0",
        "rampart_blocklist_entries{blocklist=\"bad\"} 1",
        "rampart_alert_deliveries_total{channel=",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // the Grafana dashboard uses only metrics that exist
    let dash = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dist/grafana-dashboard.json"
    ))
    .unwrap();
    for part in dash.split("rampart_").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let name = format!("rampart_{}", name.trim_end_matches("_bucket"));
        assert!(
            text.contains(&format!("{name} ")),
            "the dashboard uses {name}, which /metrics does not have"
        );
    }
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_answers_match_the_document() {
    if !can_run("api_schemathesis") {
        return;
    }
    let (h, _d, _ro, rw) = start("sch", "");
    let auth = format!("Authorization: Bearer {rw}");
    let out = h
        .cmd_in_ns(&[
            "schemathesis", "run", &format!("{API}/api/v1/openapi.json"), "-H", &auth,
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--exclude-path", "/api/v1/events", "--max-examples", "15", "--request-timeout", "20",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis (pip install schemathesis) is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
}

#[test]
fn twenty_wrong_console_passwords_get_the_guesser_banned() {
    if !can_run("api_console_ban") {
        return;
    }
    // off loopback only with TLS: a self-signed certificate
    let dir = std::env::temp_dir().join(format!("rampart-api-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=192.0.2.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let config = format!(
        "[api]\nlisten = \"192.0.2.1:9767\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let h = Host::new("gue", &config);
    let log = h.state.parent().unwrap().join("auth.log");
    append(&log, "");
    let _d = spawn_run(&h, &log, &h.state.parent().unwrap().join("run.err"));
    let guess = |pw: &str| -> String {
        let body = format!(r#"{{"user": "admin", "password": "{pw}"}}"#);
        // a banned guesser's curl times out: status 000, and curl fails
        let out = Command::new("ip")
            .args(["netns", "exec", &h.lab.cli.name])
            .args([
                "curl",
                "-sk",
                "--interface",
                "192.0.2.5",
                "--max-time",
                "2",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
                "https://192.0.2.1:9767/api/v1/session",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let t0 = Instant::now();
    while guess("warm-up") == "000" {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the TLS listener never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut codes = Vec::new();
    for i in 0..20 {
        codes.push(guess(&format!("guess{i}")));
    }
    assert!(
        codes.iter().any(|c| c == "401") && codes.iter().any(|c| c == "429"),
        "{codes:?}"
    );
    assert!(
        wait_blocked(&h, "192.0.2.5"),
        "the guesser can still connect"
    );
    let why = h.why("192.0.2.5");
    assert_eq!(why["blocked"], true);
    assert_eq!(why["entries"][0]["reason"], "console", "{why}");
    assert_eq!(why["entries"][0]["rule"], "rampart.console_login_failed");
    assert!(
        why["kernel"]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["list"] == "deny")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET` requests in a loop from the server namespace (a thread per
/// client) until `stop`; returns how many were answered.
fn hammer(h: &Host, token: &str, stop: &std::sync::atomic::AtomicBool) -> u64 {
    use std::io::{Read, Write};
    // RAMPART_BENCH_PATHS="/metrics,/api/v1/list" picks the requests
    let chosen = std::env::var("RAMPART_BENCH_PATHS")
        .unwrap_or_else(|_| "/api/v1/list,/metrics,/api/v1/why/198.51.100.7,/api/v1/rules".into());
    let paths: Vec<&str> = chosen.split(',').collect();
    h.lab.srv.run(|| {
        // clients would be remote; here they share the 2 cores, so they
        // get the web runtime's priority rather than outranking it
        // (RAMPART_BENCH_CLIENT_NICE=0 for clients at the detector's,
        // =idle for SCHED_IDLE clients: as if they ran on another machine)
        let nice = std::env::var("RAMPART_BENCH_CLIENT_NICE").unwrap_or_default();
        if nice == "idle" {
            use thread_priority::unix::*;
            let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle).unwrap();
        } else {
            let _ = rustix::process::setpriority_process(None, nice.parse().unwrap_or(10));
        }
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let path = paths[(n as usize) % paths.len()];
            let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:9767") else { continue };
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                n += u64::from(buf.starts_with(b"HTTP/1.1 200"));
            }
        }
        n
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Benchmark (not run by default): line→kernel latency over 500 bans with
/// the API idle, then over 500 more while 4 clients send requests to the
/// API as fast as it answers (at nice 10, as the web runtime); the daemon's RSS with the API off, idle,
/// and after the hammering.
///     cargo test --release -p rampart --test api -- --ignored bench_api_cost --nocapture
#[test]
#[ignore = "benchmark"]
fn bench_api_cost() {
    if !can_run("bench_api_cost") {
        return;
    }
    let cfg = "[reasons.sshd]\nthreshold = 1\n[detect]\nipv6_prefix = 128\n";
    let off = Host::new("off", &format!("{cfg}[api]\nenabled = false\n"));
    let off_log = off.state.parent().unwrap().join("auth.log");
    append(&off_log, "");
    let d_off = spawn_run(&off, &off_log, &off.state.parent().unwrap().join("run.err"));
    std::thread::sleep(Duration::from_secs(1));
    let rss_off = rss_kib(d_off.id());
    drop(d_off);
    let (h, d, ro, _rw) = start("cost", cfg);
    let log = h.state.parent().unwrap().join("auth.log");
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = rss_kib(d.id());
    let idle = ban_latencies(&h, &log, 500, "2001:db8:1::");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (busy, answered) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4).map(|_| s.spawn(|| hammer(&h, &ro, &stop))).collect();
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        let lat = ban_latencies(&h, &log, 500, "2001:db8:2::");
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let n: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        (lat, n as f64 / secs)
    });
    let rss_busy = rss_kib(d.id());
    println!("API idle:      {}", percentiles(idle));
    println!(
        "API hammered:  {} ({answered:.0} API answers/s)",
        percentiles(busy)
    );
    println!(
        "RSS: API off {rss_off} KiB, API on and idle {rss_idle} KiB, after the hammering {rss_busy} KiB"
    );
}
