//! Alerts against real peers: an SMTP server (Python's aiosmtpd, with
//! STARTTLS and implicit TLS under a certificate made by `openssl` here,
//! and AUTH), a webhook receiver (Python's http.server, checking HMAC
//! signatures with Python's own hmac), and servers that accept and then
//! hang. The first tests drive the alert sink directly on loopback; the
//! last ones run the daemon in network namespaces (root) with its peers
//! inside them.
//!
//! Needs python3 with aiosmtpd (`.ci/run` installs it) and openssl: the
//! tests print SKIPPED without them, and fail instead when
//! RAMPART_REQUIRE_ROOT_TESTS=1 (CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod host;

use rampart::daemon::events::{Ban, BanOrigin, Event, SourceNotice};
use rampart::daemon::sinks::Sink;
use rampart::daemon::sinks::alerts::{AlertSink, AlertsHandle};
use rampart_core::addr::Net;
use rampart_core::config::{ANY_RULE, Config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/alerts");

/// A python3 that has aiosmtpd, and openssl; `None` (with SKIPPED) when
/// missing, a panic when RAMPART_REQUIRE_ROOT_TESTS=1.
fn tools(test: &str) -> Option<String> {
    let has = |py: &str| {
        Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let py = ["python3", "/usr/bin/python3"].into_iter().find(|p| has(p));
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    match (py, openssl) {
        (Some(p), true) => Some(p.to_string()),
        _ if std::env::var("RAMPART_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") => {
            panic!("{test}: needs python3 with aiosmtpd and openssl (.ci/run installs them)")
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: needs python3 with aiosmtpd (pip install aiosmtpd) and openssl"
            );
            None
        }
    }
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-alerts-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer process (a Python script), killed when dropped; what it
/// received is in `dir` as numbered JSON files.
struct Peer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Peer {
    /// `python3 SCRIPT PORT-or-MODE… OUTDIR…` on loopback, or inside `netns`.
    fn start(
        py: &str,
        script: &str,
        args: &[String],
        dir: PathBuf,
        port: u16,
        netns: Option<&str>,
    ) -> Peer {
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, py]);
                c
            }
            None => Command::new(py),
        };
        let child = cmd
            .arg(Path::new(DATA).join(script))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let mut p = Peer { child, dir, port };
        let t0 = Instant::now();
        while !p.dir.join("ready").exists() {
            if t0.elapsed() > Duration::from_secs(15) || p.child.try_wait().unwrap().is_some() {
                panic!(
                    "{script} did not start: {}",
                    std::fs::read_to_string(p.dir.join("stderr")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    fn smtp(
        py: &str,
        mode: &str,
        dir: PathBuf,
        certs: Option<&Certs>,
        netns: Option<&str>,
        port: u16,
    ) -> Peer {
        let mut args = vec![
            mode.to_string(),
            port.to_string(),
            dir.display().to_string(),
        ];
        if let Some(c) = certs {
            args.push(c.cert.display().to_string());
            args.push(c.key.display().to_string());
        }
        Peer::start(py, "smtp_server.py", &args, dir, port, netns)
    }

    fn http(
        py: &str,
        dir: PathBuf,
        status: u16,
        secret: Option<&str>,
        netns: Option<&str>,
        port: u16,
    ) -> Peer {
        let mut args = vec![
            port.to_string(),
            dir.display().to_string(),
            status.to_string(),
        ];
        args.extend(secret.map(str::to_string));
        Peer::start(py, "http_receiver.py", &args, dir, port, netns)
    }

    fn hang(py: &str, dir: PathBuf, netns: Option<&str>, port: u16) -> Peer {
        let args = vec![port.to_string(), dir.display().to_string()];
        Peer::start(py, "hang_server.py", &args, dir, port, netns)
    }

    fn records(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certs(dir: &Path) -> Certs {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Rampart test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

fn config(text: &str) -> Config {
    let reasons = rampart_core::explain::builtin();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    rampart_core::config::parse(
        "test.toml",
        text,
        &codes,
        ANY_RULE,
        &rampart::settings::SystemZones,
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn ban(target: &str, reason: &str, len: Option<i64>) -> Event {
    Event::BanApplied(Arc::new(Ban {
        target: Net::parse(target).unwrap(),
        reason: reason.into(),
        rule: format!("{reason}.failed_password"),
        summary: format!("({reason}) Failed SSH login from {target}: 5 in the last 3600 secs"),
        evidence: vec![format!(
            "web1 sshd[9]: Failed password for <root> from {target} port 4000 ssh2"
        )],
        len,
        level: 0,
        base_len: None,
        origin: BanOrigin::Detector,
        decided: 0,
        read_at: Instant::now(),
        offender: std::net::IpAddr::from([198, 51, 100, 7]),
    }))
}

/// Feeds `events` to a sink for `cfg`, then the daemon's "stopping", and
/// waits until everything is delivered; returns the status report.
fn run_sink(cfg: &Config, events: &[Event]) -> Value {
    let (mut sink, handle): (AlertSink, AlertsHandle) = AlertSink::new(cfg).unwrap();
    for e in events {
        sink.handle(e);
    }
    sink.handle(&Event::Lifecycle("stopping".into()));
    handle.drain(Duration::from_secs(60));
    handle.report()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn email_over_starttls_with_auth_reaches_a_real_smtp_server() {
    let Some(py) = tools("email_over_starttls_with_auth_reaches_a_real_smtp_server") else {
        return;
    };
    let dir = scratch("starttls");
    let c = certs(&dir);
    let smtp = Peer::smtp(
        &py,
        "starttls",
        dir.join("smtp"),
        Some(&c),
        None,
        free_port(),
    );
    let cfg = config(&format!(
        "[alerts]\nhostname = \"web1\"\n[alerts.email]\nsmtp = \"smtp://alerts:s3cret@127.0.0.1:{}\"\nca_file = \"{}\"\nfrom = \"Rampart <rampart@example.net>\"\nto = [\"admin@example.net\", \"ops@example.net\"]\n",
        smtp.port,
        c.ca.display()
    ));
    let st = run_sink(
        &cfg,
        &[
            ban("198.51.100.7", "sshd", Some(3600)),
            ban("203.0.113.9", "sshd", None),
        ],
    );
    let got = smtp.records();
    assert_eq!(got.len(), 3, "two bans and the stop: {got:?} {st}");
    let m = &got[0];
    assert_eq!(m["tls"], true, "STARTTLS was used: {m}");
    assert_eq!(m["auth"], "alerts", "authenticated: {m}");
    assert_eq!(m["mail_from"], "rampart@example.net");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["admin@example.net", "ops@example.net"])
    );
    assert_eq!(m["from"], "Rampart <rampart@example.net>");
    assert_eq!(m["kind"], "temp_ban");
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .starts_with("rampart on web1: blocked 198.51.100.7 ("),
        "{m}"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    for h in ["date", "message_id"] {
        assert!(
            m[h].as_str().is_some_and(|d| !d.is_empty() && d != "None"),
            "{h}: {m}"
        );
    }
    let text = m["parts"]["text/plain"].as_str().unwrap();
    for want in [
        "Reason:   Failed SSH login (sshd, rule sshd.failed_password)",
        "Summary:  (sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs",
        "Blocked:  for 1h\r\n\r\nLog lines:\r\n  web1 sshd[9]: Failed password for <root> from 198.51.100.7 port 4000 ssh2\r\n",
        "To lift it:  rampart unblock 198.51.100.7",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    let html = m["parts"]["text/html"].as_str().unwrap();
    assert!(
        html.contains("for &lt;root&gt;") && !html.contains("<root>"),
        "{html}"
    );
    assert_eq!(got[1]["kind"], "perm_ban");
    assert!(
        got[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with("rampart on web1: blocked 203.0.113.9 permanently (")
    );
    assert_eq!(got[2]["subject"], "rampart on web1: daemon stopping");
    assert_eq!(st["channels"][0]["sent"], 3, "{st}");
    assert_eq!(st["failing"], false, "{st}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn email_over_implicit_tls_and_a_relay_without_starttls() {
    let Some(py) = tools("email_over_implicit_tls_and_a_relay_without_starttls") else {
        return;
    };
    let dir = scratch("smtps");
    let c = certs(&dir);
    let smtps = Peer::smtp(&py, "smtps", dir.join("smtps"), Some(&c), None, free_port());
    let cfg = config(&format!(
        "[alerts.email]\nsmtp = \"smtps://alerts:s3cret@127.0.0.1:{}\"\nca_file = \"{}\"\nfrom = \"rampart@example.net\"\nto = \"admin@example.net\"\n",
        smtps.port,
        c.ca.display()
    ));
    run_sink(&cfg, &[ban("198.51.100.7", "sshd", Some(3600))]);
    let got = smtps.records();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (&got[0]["tls"], &got[0]["auth"]),
        (&Value::Bool(true), &Value::from("alerts"))
    );
    // a plain relay: refused while STARTTLS is required, used with "never"
    let plain = Peer::smtp(&py, "plain", dir.join("plain"), None, None, free_port());
    let mut text = format!(
        "[alerts.email]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"rampart@example.net\"\nto = \"admin@example.net\"\n",
        plain.port
    );
    let st = run_sink(&config(&text), &[ban("198.51.100.7", "sshd", Some(3600))]);
    assert!(plain.records().is_empty(), "no message in the clear");
    assert_eq!(st["failing"], true, "{st}");
    assert_eq!(st["channels"][0]["failed"], 2, "{st}");
    text.push_str("starttls = \"never\"\n");
    run_sink(&config(&text), &[ban("198.51.100.7", "sshd", Some(3600))]);
    let got = plain.records();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["tls"], false);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn webhooks_carry_signed_json_and_the_chat_formats() {
    let Some(py) = tools("webhooks_carry_signed_json_and_the_chat_formats") else {
        return;
    };
    let dir = scratch("hooks");
    let rx = Peer::http(&py, dir.join("rx"), 200, Some("s3cret"), None, free_port());
    let mut text = "[alerts]\nhostname = \"web1\"\n".to_string();
    for f in ["json", "slack", "discord", "teams", "ntfy"] {
        text.push_str(&format!(
            "[[alerts.webhook]]\nurl = \"http://127.0.0.1:{}/{f}\"\nformat = \"{f}\"\nsecret = \"s3cret\"\nkinds = [\"temp_ban\"]\n",
            rx.port
        ));
    }
    run_sink(&config(&text), &[ban("198.51.100.7", "sshd", Some(3600))]);
    let got = rx.records();
    assert_eq!(
        got.len(),
        5,
        "one per format, the stop is not routed here: {got:?}"
    );
    let by = |path: &str| {
        got.iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("{path}: {got:?}"))
    };
    for r in &got {
        assert_eq!(r["signature_ok"], true, "{r}");
        assert_eq!(r["headers"]["x-rampart-event"], "temp_ban");
    }
    let j: Value = serde_json::from_str(by("/json")["body"].as_str().unwrap()).unwrap();
    assert_eq!(j["version"], 1);
    assert_eq!(j["kind"], "temp_ban");
    assert_eq!(j["host"], "web1");
    assert_eq!(j["ban"]["address"], "198.51.100.7");
    assert_eq!(j["ban"]["reason_title"], "Failed SSH login");
    assert_eq!(j["ban"]["length_secs"], 3600);
    assert_eq!(j["ban"]["unblock"], "rampart unblock 198.51.100.7");
    assert!(
        j["ban"]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("Failed password")
    );
    assert!(
        j["subject"]
            .as_str()
            .unwrap()
            .starts_with("rampart on web1: blocked 198.51.100.7")
    );
    let s: Value = serde_json::from_str(by("/slack")["body"].as_str().unwrap()).unwrap();
    assert!(
        s["text"].as_str().unwrap().contains("for &lt;root&gt;"),
        "{s}"
    );
    let d: Value = serde_json::from_str(by("/discord")["body"].as_str().unwrap()).unwrap();
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(
        d["content"]
            .as_str()
            .unwrap()
            .starts_with("**rampart on web1: blocked 198.51.100.7")
    );
    let t: Value = serde_json::from_str(by("/teams")["body"].as_str().unwrap()).unwrap();
    assert_eq!(t["attachments"][0]["content"]["type"], "AdaptiveCard");
    let n = by("/ntfy");
    assert!(
        n["headers"]["title"]
            .as_str()
            .unwrap()
            .starts_with("rampart on web1: blocked 198.51.100.7")
    );
    assert!(
        n["body"]
            .as_str()
            .unwrap()
            .contains("To lift it:  rampart unblock 198.51.100.7")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_webhook_is_retried_a_bounded_number_of_times_and_reported() {
    let Some(py) = tools("a_failing_webhook_is_retried_a_bounded_number_of_times_and_reported")
    else {
        return;
    };
    let dir = scratch("fail");
    let rx = Peer::http(&py, dir.join("rx"), 503, None, None, free_port());
    let cfg = config(&format!(
        "[[alerts.webhook]]\nurl = \"http://127.0.0.1:{}/x\"\nretries = 1\nkinds = [\"perm_ban\"]\n",
        rx.port
    ));
    let st = run_sink(&cfg, &[ban("198.51.100.7", "sshd", None)]);
    assert_eq!(rx.records().len(), 2, "one attempt and one retry");
    let ch = &st["channels"][0];
    assert_eq!(
        (&ch["failed"], &ch["retried"], &ch["failing"]),
        (&Value::from(1), &Value::from(1), &Value::Bool(true)),
        "{st}"
    );
    assert_eq!(ch["last_error"], "HTTP 503");
    assert_eq!(
        ch["name"],
        format!("webhook json http://127.0.0.1:{}/…", rx.port)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sums what a receiver got: (messages, bans sent one by one, bans in digests).
fn tally(records: &[Value], kind: &str) -> (u64, u64, u64) {
    let (mut n, mut single, mut folded) = (0, 0, 0);
    for r in records {
        let j: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        if j["kind"] != kind {
            continue;
        }
        n += 1;
        if j["ban"].is_object() {
            single += 1;
        } else {
            folded += j["digest"]["count"].as_u64().unwrap();
        }
    }
    (n, single, folded)
}

#[test]
fn ten_thousand_bans_in_a_minute_fold_into_digests_that_count_every_ban() {
    let Some(py) = tools("ten_thousand_bans_in_a_minute_fold_into_digests_that_count_every_ban")
    else {
        return;
    };
    let dir = scratch("flood");
    let rx = Peer::http(&py, dir.join("rx"), 200, None, None, free_port());
    let cfg = config(&format!(
        "[alerts]\ndigest_after = 5\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:{}/\"\n",
        rx.port
    ));
    let events: Vec<Event> = (0..10_000u32)
        .map(|i| {
            let reason = if i % 10 == 0 { "smtpauth" } else { "sshd" };
            ban(
                &format!("2001:db8:{:x}::{:x}", i / 100, i % 100 + 1),
                reason,
                Some(3600),
            )
        })
        .collect();
    let st = run_sink(&cfg, &events);
    let got = rx.records();
    let (n, single, folded) = tally(&got, "temp_ban");
    assert_eq!(single + folded, 10_000, "every ban accounted for: {st}");
    assert!(
        n <= 6,
        "at most digest_after + 1 = 6 messages for 10,000 bans, got {n}"
    );
    assert_eq!(st["folded"], 10_000 - single);
    let digest = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap())
        .find(|j| j["digest"].is_object())
        .unwrap();
    assert!(
        digest["text"].as_str().unwrap().contains(&format!(
            "{folded} more temporary bans in the last 10 minutes: "
        )),
        "{digest}"
    );
    assert_eq!(
        digest["digest"]["top_networks"].as_array().unwrap().len(),
        10
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn source_trouble_is_deduplicated_and_a_refused_reload_carries_its_errors() {
    let Some(py) = tools("source_trouble_is_deduplicated_and_a_refused_reload_carries_its_errors")
    else {
        return;
    };
    let dir = scratch("notice");
    let rx = Peer::http(&py, dir.join("rx"), 200, None, None, free_port());
    let cfg = config(&format!(
        "[alerts]\ntemp_ban = false\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:{}/\"\n",
        rx.port
    ));
    let gone = Event::Source(SourceNotice {
        source: "/var/log/auth.log".into(),
        message: "deleted".into(),
        error: true,
    });
    let refused = Event::ReloadRefused("rampart.toml:3: alerts.digest_after: bad value -1".into());
    let st = run_sink(
        &cfg,
        &[
            gone.clone(),
            gone,
            refused,
            ban("198.51.100.7", "sshd", Some(60)),
        ],
    );
    let bodies: Vec<Value> = rx
        .records()
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["source_stopped", "lifecycle", "lifecycle", "source_stopped"],
        "{bodies:?}"
    );
    assert_eq!(
        bodies[0]["notice"]["title"],
        "source stopped: /var/log/auth.log"
    );
    assert_eq!(
        bodies[1]["notice"]["lines"][0],
        "rampart.toml:3: alerts.digest_after: bad value -1"
    );
    assert_eq!(
        bodies[3]["digest"]["duplicates"], 1,
        "the repeat is counted in the last digest"
    );
    assert_eq!(st["duplicates"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reload_moves_alerts_to_the_new_channels() {
    let Some(py) = tools("a_reload_moves_alerts_to_the_new_channels") else {
        return;
    };
    let dir = scratch("reload");
    let old = Peer::http(&py, dir.join("old"), 200, None, None, free_port());
    let new = Peer::http(&py, dir.join("new"), 200, None, None, free_port());
    let hook = |p: &Peer| {
        config(&format!(
            "[[alerts.webhook]]\nurl = \"http://127.0.0.1:{}/\"\nkinds = [\"temp_ban\"]\n",
            p.port
        ))
    };
    let (mut sink, handle) = AlertSink::new(&hook(&old)).unwrap();
    sink.handle(&ban("198.51.100.7", "sshd", Some(60)));
    handle.reconfigure(hook(&new).alerts);
    sink.handle(&Event::Lifecycle("reloaded".into()));
    sink.handle(&ban("198.51.100.8", "sshd", Some(60)));
    sink.handle(&Event::Lifecycle("stopping".into()));
    handle.drain(Duration::from_secs(30));
    wait_for("the old channel's message", 10, || old.records().len() == 1);
    let got = new.records();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0]["body"].as_str().unwrap().contains("198.51.100.8"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sendmail_gets_the_message_and_a_hung_one_is_killed_at_the_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("sendmail");
    // a stand-in for the local MTA: records its arguments and the message
    let fake = dir.join("sendmail");
    std::fs::write(&fake, format!("#!/bin/sh\necho \"$@\" > {0}/args\ncat > {0}/msg\n[ -e {0}/hang ] && exec sleep 30\nexit 0\n", dir.display())).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = config(&format!(
        "[alerts]\ntimeout = \"1s\"\n[alerts.email]\nsendmail = \"{}\"\nfrom = \"Rampart <rampart@example.net>\"\nto = [\"admin@example.net\"]\nkinds = [\"perm_ban\"]\n",
        fake.display()
    ));
    let st = run_sink(&cfg, &[ban("198.51.100.7", "sshd", None)]);
    assert_eq!(st["channels"][0]["sent"], 1, "{st}");
    let args = std::fs::read_to_string(dir.join("args")).unwrap();
    assert_eq!(
        args.trim(),
        "-i -f rampart@example.net -- admin@example.net"
    );
    let msg = std::fs::read_to_string(dir.join("msg")).unwrap();
    assert!(
        msg.contains("Subject: rampart on ") && msg.contains("X-Rampart-Kind: perm_ban"),
        "{msg}"
    );
    std::fs::write(dir.join("hang"), "").unwrap();
    let st = run_sink(&cfg, &[ban("198.51.100.8", "sshd", None)]);
    let ch = &st["channels"][0];
    assert_eq!(ch["failing"], true, "{st}");
    assert!(
        ch["last_error"]
            .as_str()
            .unwrap()
            .contains("did not finish within 1s"),
        "{st}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the daemon, end to end, in network namespaces (root) ----

use host::{Host, append, can_run, spawn_run, stop};

const DAEMON_BASE: &str = "[reasons.sshd]\nthreshold = 1\n[detect]\nipv6_prefix = 128\n";

/// The daemon's `/metrics` (the API on its default loopback address, in
/// the daemon's namespace).
fn metrics(ns: &str) -> String {
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-s", "-m", "5"])
        .arg("http://127.0.0.1:9767/metrics")
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of the sample named exactly `name` (with its labels), or 0.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .find_map(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

fn status(h: &Host) -> Value {
    serde_json::from_str(&h.ok(&["status", "--json"])).unwrap()
}

/// Addresses of the deny set inside the lab's server namespace.
/// The kernel's deny set (adjacent bans of equal expiry are one range).
struct Denied(Vec<rampart_nft::IpRange>);

impl Denied {
    fn contains(&self, ip: &std::net::IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(*ip))
    }
}

fn denied(h: &Host) -> Denied {
    h.lab.srv.run(|| {
        use rampart_nft::Firewall;
        let set = rampart_nft::NftFirewall::new()
            .unwrap()
            .list(&rampart_nft::SetList::Deny)
            .unwrap();
        Denied(set.iter().map(|e| e.range).collect())
    })
}

fn fail_line(i: usize, ip: &str) -> String {
    format!(
        "web1 sshd[{}]: Failed password for root from {ip} port 4000 ssh2\n",
        1000 + i
    )
}

/// The number in "rampart on web1: 9995 more temporary bans …".
fn digest_count(subject: &str) -> Option<u64> {
    let (n, rest) = subject.split(": ").nth(1)?.split_once(' ')?;
    rest.starts_with("more temporary bans")
        .then(|| n.parse().ok())
        .flatten()
}

#[test]
fn the_daemon_sends_a_handful_of_messages_for_ten_thousand_bans_and_bans_them_all() {
    let test = "the_daemon_sends_a_handful_of_messages_for_ten_thousand_bans_and_bans_them_all";
    if !can_run(test) {
        return;
    }
    let Some(py) = tools(test) else { return };
    let cfg = format!(
        "{DAEMON_BASE}[alerts]\nhostname = \"web1\"\ndigest_after = 5\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:2525\"\nstarttls = \"never\"\nfrom = \"rampart@example.net\"\nto = \"admin@example.net\"\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:8025/hook\"\nsecret = \"s3cret\"\n"
    );
    let h = Host::new("alflood", &cfg);
    let dir = h.state.parent().unwrap().to_path_buf();
    let ns = Some(h.lab.srv.name.as_str());
    let smtp = Peer::smtp(&py, "plain", dir.join("smtp"), None, ns, 2525);
    let hook = Peer::http(&py, dir.join("hook"), 200, Some("s3cret"), ns, 8025);
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    // 10,000 attackers within a minute, one line each (threshold 1)
    let n = 10_000;
    let ips: Vec<String> = (0..n)
        .map(|i| format!("2001:db8:5:{:x}::{:x}", i / 100, i % 100 + 1))
        .collect();
    for chunk in 0..10 {
        let lines: String = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| fail_line(i, &ips[i]))
            .collect();
        append(&log, &lines);
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for("10,000 bans decided", 120, || {
        status(&h)["daemon"]["bans"].as_u64() >= Some(n as u64)
    });
    let set = denied(&h);
    let missing = ips
        .iter()
        .filter(|ip| !set.contains(&ip.parse().unwrap()))
        .count();
    assert_eq!(missing, 0, "every ban is in the kernel");
    let st = status(&h);
    let queue = st["daemon"]["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["sink"] == "alerts")
        .cloned()
        .unwrap();
    assert_eq!(queue["dropped"], 0, "the alert sink kept up: {queue}");
    stop(&mut child);
    // every ban accounted for, by e-mail and by webhook, in a few messages
    let mails = smtp.records();
    let (mut single, mut folded, mut bans_msgs) = (0, 0, 0);
    for m in &mails {
        let subject = m["subject"].as_str().unwrap();
        if m["kind"] == "temp_ban" {
            bans_msgs += 1;
            match digest_count(subject) {
                Some(c) => folded += c,
                None => single += 1,
            }
        }
    }
    assert_eq!(
        single + folded,
        n as u64,
        "e-mail: every ban accounted for: {mails:?}"
    );
    assert!(
        bans_msgs <= 6,
        "e-mail: at most digest_after + 1 = 6 ban messages, got {bans_msgs}"
    );
    assert!(
        mails.len() <= 8,
        "e-mail: 6 + started + stopping at most, got {}",
        mails.len()
    );
    let hooks = hook.records();
    assert!(hooks.iter().all(|r| r["signature_ok"] == true));
    let (msgs, single, folded) = tally(&hooks, "temp_ban");
    assert_eq!(
        single + folded,
        n as u64,
        "webhook: every ban accounted for"
    );
    assert!(msgs <= 6, "webhook: at most 6 ban messages, got {msgs}");
    println!(
        "10,000 bans: {} e-mails, {} webhook requests",
        mails.len(),
        hooks.len()
    );
}

#[test]
fn a_hung_smtp_server_and_a_webhook_that_times_out_delay_no_ban() {
    let test = "a_hung_smtp_server_and_a_webhook_that_times_out_delay_no_ban";
    if !can_run(test) {
        return;
    }
    let Some(py) = tools(test) else { return };
    let cfg = format!(
        "{DAEMON_BASE}[alerts]\ntimeout = \"2s\"\ndigest_after = 1000\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:2526\"\nstarttls = \"never\"\nfrom = \"rampart@example.net\"\nto = \"admin@example.net\"\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:2527/hook\"\nretries = 1\n"
    );
    let h = Host::new("alhang", &cfg);
    let dir = h.state.parent().unwrap().to_path_buf();
    let ns = Some(h.lab.srv.name.as_str());
    let smtp = Peer::hang(&py, dir.join("smtp"), ns, 2526);
    let hook = Peer::hang(&py, dir.join("hook"), ns, 2527);
    let log = dir.join("auth.log");
    let errlog = dir.join("run.err");
    append(&log, "");
    let mut child = spawn_run(&h, &log, &errlog);
    let n = 300;
    let ips: Vec<String> = (1..=n).map(|i| format!("2001:db8:6::{i:x}")).collect();
    for (i, ip) in ips.iter().enumerate() {
        append(&log, &fail_line(i, ip));
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut missing = n;
    wait_for("300 bans in the kernel", 20, || {
        let set = denied(&h);
        missing = ips
            .iter()
            .filter(|ip| !set.contains(&ip.parse().unwrap()))
            .count();
        missing == 0
    });
    // the peers really hang: connections were accepted and never answered
    for p in [&smtp, &hook] {
        let accepted = std::fs::read_to_string(p.dir.join("accepted")).unwrap_or_default();
        assert!(
            accepted.trim().parse::<u32>().unwrap_or(0) >= 1,
            "{accepted:?}"
        );
    }
    wait_for("the failures in status", 30, || {
        status(&h)["daemon"]["alerts"]["failing"] == true
    });
    // and in the metrics: each channel's given-up messages
    wait_for("the failures in the metrics", 30, || {
        let m = metrics(&h.lab.srv.name);
        [
            "email smtp://127.0.0.1:2526",
            "webhook json http://127.0.0.1:2527/…",
        ]
        .iter()
        .all(|c| {
            metric(
                &m,
                &format!("rampart_alert_failures_total{{channel=\"{c}\"}}"),
            ) > 0.0
        })
    });
    let st = status(&h);
    let alerts = &st["daemon"]["alerts"];
    for ch in alerts["channels"].as_array().unwrap() {
        assert!(
            ch["last_error"]
                .as_str()
                .is_some_and(|e| e.to_lowercase().contains("time")),
            "a timeout: {ch}"
        );
        assert!(
            ch["dropped"].as_u64().unwrap() > 0,
            "a full channel queue drops and counts: {ch}"
        );
        assert!(ch["queued"].as_u64().unwrap() <= 65, "bounded: {ch}");
    }
    let names: Vec<&str> = alerts["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "email smtp://127.0.0.1:2526",
            "webhook json http://127.0.0.1:2527/…"
        ]
    );
    stop(&mut child);
}

/// Benchmark (not run by default): line→kernel latency over 1,000 bans
/// with alerts going to a hung SMTP server and a webhook that times out,
/// against the same daemon without alerts.
///     cargo test --release -p rampart --test alerts -- --ignored bench_ban_latency_with_hung_alerts --nocapture
#[test]
#[ignore = "benchmark"]
fn bench_ban_latency_with_hung_alerts() {
    let test = "bench_ban_latency_with_hung_alerts";
    if !can_run(test) {
        return;
    }
    let Some(py) = tools(test) else { return };
    let hung = format!(
        "{DAEMON_BASE}[alerts]\ntimeout = \"5s\"\ndigest_after = 10000\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:2526\"\nstarttls = \"never\"\nfrom = \"rampart@example.net\"\nto = \"admin@example.net\"\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:2527/hook\"\n"
    );
    for (name, cfg) in [
        ("no alerts", DAEMON_BASE.to_string()),
        ("hung SMTP + webhook", hung),
    ] {
        let h = Host::new("albench", &cfg);
        let dir = h.state.parent().unwrap().to_path_buf();
        let ns = Some(h.lab.srv.name.as_str());
        let _smtp = Peer::hang(&py, dir.join("smtp"), ns, 2526);
        let _hook = Peer::hang(&py, dir.join("hook"), ns, 2527);
        let log = dir.join("auth.log");
        append(&log, "");
        let mut child = spawn_run(&h, &log, &dir.join("run.err"));
        let lat = host::ban_latencies(&h, &log, 1000, "2001:db8:7::");
        println!("{name}: status alerts {}", status(&h)["daemon"]["alerts"]);
        stop(&mut child);
        println!(
            "{name}: line appended -> address in the kernel set, 1000 bans: {}",
            host::percentiles(lat)
        );
    }
}
