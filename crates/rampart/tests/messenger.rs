//! The messenger end to end (issue 12), in network namespaces with real
//! clients: curl, openssl, Python's mail and FTP clients, headless Chromium
//! driven by selenium. The server namespace runs `rampart run` with
//! `[messenger]` on and a real web server (Python's http.server) on port
//! 80; the client namespace's first address (192.0.2.2, the one clients
//! that cannot choose use) is the one that gets banned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod host;

use host::{Daemon, Host, append, can_run, common, spawn_run};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BLOCKED: &str = "192.0.2.2";
const OTHER: &str = "192.0.2.6";
const SRV: &str = common::SRV4;

/// A process started in a namespace, killed (by its pid) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(extra: &str) -> String {
    format!(
        "[messenger]\nenabled = true\ncontact = \"Call the desk, we are nice.\"\ncontact_name = \"Example Hosting\"\ncontact_email = \"support@example.net\"\npow_difficulty = 12\n{extra}\n"
    )
}

/// The lab, the real web server on port 80 and the daemon following `log`.
struct Setup {
    h: Host,
    log: PathBuf,
    err: PathBuf,
    _web: Proc,
    daemon: Daemon,
}

fn setup(tag: &str, extra: &str) -> Setup {
    let h = Host::bare(tag, &config(extra));
    let dir = h.config.parent().unwrap().to_path_buf();
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "REAL WEB SERVER\n").unwrap();
    let web = h
        .cmd_in_ns(&[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            "::",
            "--directory",
        ])
        .arg(&site)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (log, err) = (dir.join("mainlog"), dir.join("daemon.err"));
    append(&log, "");
    let daemon = spawn_run(&h, &log, &err);
    let s = Setup {
        h,
        log,
        err,
        _web: Proc(web),
        daemon,
    };
    wait_for(&s, "the real web server", || {
        curl(&s.h, OTHER, "http://192.0.2.1/").contains("REAL WEB SERVER")
    });
    s
}

fn wait_for(s: &Setup, what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "waited in vain for {what}; daemon log:\n{}",
            std::fs::read_to_string(&s.err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn in_client(h: &Host, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &h.lab.cli.name])
        .args(args)
        .output()
        .unwrap()
}

fn curl(h: &Host, src: &str, url: &str) -> String {
    let o = in_client(h, &["curl", "-s", "-k", "-m", "5", "--interface", src, url]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `n` exim SMTP AUTH failures of `ip` for `user`, stamped now (UTC).
fn smtp_failures(ip: &str, user: &str, n: usize) -> String {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    (0..n)
        .map(|i| format!("{now} dovecot_login authenticator failed for (phone) [{ip}]:{}: 535 Incorrect authentication data (set_id={user})\n", 40000 + i))
        .collect()
}

fn ssh_failures(ip: &str, n: usize) -> String {
    host::fail_lines(ip, n, 100)
}

fn python(h: &Host, script: &str, args: &[&str]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/messenger")
        .join(script);
    let mut v = vec!["python3", path.to_str().unwrap()];
    v.extend_from_slice(args);
    let o = in_client(h, &v);
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{script}: {e}: {out}{}", String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn a_blocked_client_gets_the_page_and_the_protocol_errors_others_the_real_server() {
    if !can_run("messenger_page") {
        return;
    }
    let s = setup("msgpage", "");
    append(&s.log, &ssh_failures(BLOCKED, 5));
    wait_for(&s, "the page", || {
        curl(&s.h, BLOCKED, "http://192.0.2.1/").contains("Failed SSH login")
    });
    let page = curl(&s.h, BLOCKED, "http://192.0.2.1/any/path?x=1");
    for want in [
        "Your connection to this server is blocked",
        BLOCKED,
        "Failed SSH login",
        "Blocked until",
        "class=\"until\"",
        "RMP-",
        "Example Hosting",
        "support@example.net",
        "What you can do",
    ] {
        assert!(
            page.contains(want),
            "{want:?} missing from the page:\n{page}"
        );
    }
    assert!(
        !page.contains("unblock-button"),
        "sshd is not self-unblockable:\n{page}"
    );
    // the expiry the store has is on the page (UTC without JavaScript)
    let why = s.h.why(BLOCKED);
    let until = why["entries"][0]["expires"]
        .as_str()
        .unwrap()
        .replace('T', " ")
        .replace('Z', " UTC");
    assert!(page.contains(&until), "{until} missing");
    // someone else reaches the real server on the same port, and the
    // blocked address reaches nothing else
    assert!(curl(&s.h, OTHER, "http://192.0.2.1/").contains("REAL WEB SERVER"));
    assert!(
        !s.h.lab.tcp(BLOCKED, SRV, 2222),
        "only redirected ports pass"
    );
    assert!(
        !s.h.lab.tcp(OTHER, SRV, 8701),
        "the page server is reachable only through the redirect"
    );
    // the mail and FTP clients get their protocol's refusal naming the reason
    let got = python(&s.h, "clients.py", &[BLOCKED, SRV]);
    for (proto, code) in [
        ("smtp", "554"),
        ("submission", "554"),
        ("pop3", "-ERR"),
        ("imap", "BYE"),
        ("ftp", "421"),
    ] {
        let text = got[proto].as_str().unwrap_or_default();
        assert!(
            text.contains(code)
                && text.contains("Failed SSH login")
                && text.contains("http://192.0.2.1/"),
            "{proto}: {text}"
        );
    }
    // the reference code leads the support desk to this block
    let code = page
        .split("class=\"reference\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let (rc, out, err) = s.h.rampart(&["why", code]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{BLOCKED} is BLOCKED")) && out.contains("Failed SSH login"),
        "{out}"
    );
    let (rc, out, _) = s.h.rampart(&["why", "RMP-1-AAAAAA"]);
    assert_ne!(rc, 0, "a made-up code names nobody: {out}");
    drop(s.daemon);
}

fn openssl_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("fullchain.pem"), dir.join("privkey.pem"));
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name},DNS:www.{name}"),
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    (cert, key)
}

fn served_name(h: &Host, sni: Option<&str>) -> String {
    let mut args = vec!["openssl", "s_client", "-connect", "192.0.2.1:443", "-brief"];
    match sni {
        Some(n) => args.extend(["-servername", n]),
        None => args.push("-noservername"),
    }
    let o = Command::new("ip")
        .args(["netns", "exec", &h.lab.cli.name])
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    all.lines()
        .find(|l| l.contains("Peer certificate:"))
        .map(|l| l.replace(' ', ""))
        .unwrap_or_default()
}

#[test]
fn https_serves_the_certificate_the_client_names_and_closes_without_one() {
    if !can_run("messenger_tls") {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("rampart-msg-certs-{}", std::process::id()));
    let live = tmp.join("live");
    openssl_cert(&live.join("a.example"), "a.example");
    let (bc, bk) = openssl_cert(&tmp.join("b"), "b.example");
    let extra = format!(
        "certificate_dirs = [{:?}]\ncertificates = [{{ cert = {:?}, key = {:?} }}]\n",
        live.display().to_string(),
        bc.display().to_string(),
        bk.display().to_string()
    );
    let s = setup("msgtls", &extra);
    append(&s.log, &ssh_failures(BLOCKED, 5));
    wait_for(&s, "the page", || {
        curl(&s.h, BLOCKED, "http://192.0.2.1/").contains("Failed SSH login")
    });
    assert!(served_name(&s.h, Some("a.example")).contains("CN=a.example"));
    assert!(served_name(&s.h, Some("www.b.example")).contains("CN=b.example"));
    assert_eq!(
        served_name(&s.h, Some("c.example")),
        "",
        "no certificate for c.example: closed"
    );
    assert_eq!(served_name(&s.h, None), "", "no name: closed");
    let o = in_client(
        &s.h,
        &[
            "curl",
            "-s",
            "-k",
            "-m",
            "5",
            "--resolve",
            "a.example:443:192.0.2.1",
            "https://a.example/",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Failed SSH login"));
    let _ = std::fs::remove_dir_all(&tmp);
}
