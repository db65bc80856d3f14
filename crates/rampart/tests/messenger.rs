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
        "Account tried</dt><dd>root</dd>",
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
    let st: serde_json::Value = serde_json::from_str(&s.h.ok(&["status", "--json"])).unwrap();
    assert!(
        st["daemon"]["messenger"]["pages"].as_u64() >= Some(2),
        "status counts the pages served: {}",
        st["daemon"]["messenger"]
    );
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

/// The page's self-unblock challenge, if it offers one.
fn challenge(page: &str) -> Option<String> {
    let v = page.split("name=\"challenge\" value=\"").nth(1)?;
    Some(v.split('"').next()?.to_string())
}

/// Solves a challenge the way the browser does (SHA-256, leading zero bits).
fn solve(challenge: &str, bits: u32) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| {
            let d =
                ring::digest::digest(&ring::digest::SHA256, format!("{challenge}:{n}").as_bytes());
            let first =
                u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]);
            first.leading_zeros() >= bits
        })
        .unwrap()
}

fn post_unblock(h: &Host, src: &str, challenge: &str, answer: &str) -> String {
    let o = in_client(
        h,
        &[
            "curl",
            "-s",
            "-m",
            "10",
            "--interface",
            src,
            "-A",
            "rampart-test/1.0",
            "--data-urlencode",
            &format!("challenge={challenge}"),
            "--data-urlencode",
            &format!("answer={answer}"),
            "http://192.0.2.1/rampart-unblock",
        ],
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn abuse_forged_replayed_and_unliftable_unblocks_are_refused() {
    if !can_run("messenger_abuse") {
        return;
    }
    let s = setup("msgabuse", "");
    // 192.0.2.2: a port-scan-like silent reason would get nothing; an SSH
    // ban gets the page but no button
    append(&s.log, &ssh_failures(BLOCKED, 5));
    append(&s.log, &smtp_failures("192.0.2.3", "alice@example.com", 5));
    wait_for(&s, "both pages", || {
        curl(&s.h, BLOCKED, "http://192.0.2.1/").contains("Failed SSH login")
            && curl(&s.h, "192.0.2.3", "http://192.0.2.1/").contains("Failed SMTP AUTH login")
    });
    let ssh_page = curl(&s.h, BLOCKED, "http://192.0.2.1/");
    assert!(challenge(&ssh_page).is_none(), "no button for sshd");
    // a challenge issued to 192.0.2.3, answered from the SSH-banned address
    let mail_page = curl(&s.h, "192.0.2.3", "http://192.0.2.1/");
    let c = challenge(&mail_page).expect("smtpauth is self-unblockable");
    let n = solve(&c, 12);
    let r = post_unblock(&s.h, BLOCKED, &c, &n);
    assert!(
        r.contains("cannot be lifted") || r.contains("did not succeed"),
        "{r}"
    );
    // forged: the challenge altered
    let forged = c.replacen('.', ".x", 1);
    let r = post_unblock(&s.h, "192.0.2.3", &forged, &solve(&forged, 12));
    assert!(r.contains("did not succeed"), "forged: {r}");
    // a wrong answer
    let wrong = (0u64..)
        .map(|n| n.to_string())
        .find(|w| solve(&c, 12) != *w)
        .unwrap();
    let r = post_unblock(&s.h, "192.0.2.3", &c, &wrong);
    assert!(r.contains("did not succeed"), "wrong answer: {r}");
    assert!(s.h.why("192.0.2.3")["blocked"] == true);
    // the right one works once; the replay is refused
    let r = post_unblock(&s.h, "192.0.2.3", &c, &n);
    assert!(r.contains("You are unblocked"), "{r}");
    assert!(s.h.why("192.0.2.3")["blocked"] == false);
    let r = post_unblock(&s.h, "192.0.2.3", &c, &n);
    assert!(!r.contains("You are unblocked"), "replayed: {r}");
    // the history says who, and a second offence within the period shows no button
    let (_, why, _) = s.h.rampart(&["why", "192.0.2.3"]);
    assert!(
        why.contains("by self-unblock") && why.contains("rampart-test/1.0"),
        "{why}"
    );
    append(&s.log, &smtp_failures("192.0.2.3", "alice@example.com", 5));
    wait_for(&s, "the second page", || {
        curl(&s.h, "192.0.2.3", "http://192.0.2.1/").contains("Failed SMTP AUTH login")
    });
    assert!(
        challenge(&curl(&s.h, "192.0.2.3", "http://192.0.2.1/")).is_none(),
        "second offence within the period"
    );
    drop(s.daemon);
}

#[test]
fn the_whole_self_unblock_in_a_real_browser() {
    if !can_run("messenger_browser") {
        return;
    }
    let s = setup("msgbrowser", "");
    append(&s.log, &smtp_failures(BLOCKED, "alice@example.com", 5));
    wait_for(&s, "the page", || {
        curl(&s.h, BLOCKED, "http://192.0.2.1/").contains("Failed SMTP AUTH login")
    });
    // RAMPART_BLESS=1 refreshes the screenshots kept in docs/
    let docs = match std::env::var_os("RAMPART_BLESS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs"),
        None => s.h.config.parent().unwrap().to_path_buf(),
    };
    let (page_png, result_png) = (
        docs.join("messenger-page.png"),
        docs.join("messenger-unblocked.png"),
    );
    let profile = s.h.config.parent().unwrap().join("chromium-profile");
    let seen = python(
        &s.h,
        "selfunblock.py",
        &[
            "http://192.0.2.1/",
            page_png.to_str().unwrap(),
            result_png.to_str().unwrap(),
            profile.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["reason"], "Failed SMTP AUTH login", "{seen}");
    assert!(!seen["until"].as_str().unwrap_or("").is_empty(), "{seen}");
    assert_eq!(seen["result"], "You are unblocked", "{seen}");
    assert!(
        seen["after"]
            .as_str()
            .unwrap_or("")
            .contains("REAL WEB SERVER"),
        "the browser reaches the real site: {seen}"
    );
    assert!(page_png.exists() && result_png.exists());
    let why = s.h.why(BLOCKED);
    assert_eq!(why["blocked"], false, "{why}");
    assert_eq!(why["history"][0]["by"], "self-unblock", "{why}");
    assert!(
        why["history"][0]["comment"]
            .as_str()
            .unwrap_or("")
            .contains("Chrome"),
        "{why}"
    );
    // the detectors forgot the address: the daemon counts nothing against it
    assert_eq!(why["detector_counts"], serde_json::json!([]), "{why}");
    let log = std::fs::read_to_string(&s.err).unwrap();
    assert!(
        log.contains("unblocked 192.0.2.2 (self-unblock)"),
        "the typed Unblocked event reached the log sink:\n{log}"
    );
}

#[test]
fn a_flood_from_a_blocked_address_leaves_the_page_answering_others() {
    if !can_run("messenger_flood") {
        return;
    }
    let s = setup("msgflood", "");
    append(&s.log, &ssh_failures(BLOCKED, 5));
    append(&s.log, &ssh_failures("192.0.2.3", 5));
    wait_for(&s, "the pages", || {
        curl(&s.h, BLOCKED, "http://192.0.2.1/").contains("Failed SSH login")
            && curl(&s.h, "192.0.2.3", "http://192.0.2.1/").contains("Failed SSH login")
    });
    // as many requests as curl's parallel mode sends from one address
    let flood = Command::new("ip")
        .args([
            "netns",
            "exec",
            &s.h.lab.cli.name,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "1",
            "--parallel",
            "--parallel-max",
            "50",
            "--interface",
            BLOCKED,
        ])
        .args(std::iter::repeat_n("http://192.0.2.1/", 400))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut flood = Proc(flood);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        assert!(
            curl(&s.h, "192.0.2.3", "http://192.0.2.1/").contains("Failed SSH login"),
            "another blocked address still gets its page"
        );
        assert!(curl(&s.h, OTHER, "http://192.0.2.1/").contains("REAL WEB SERVER"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = flood.0.wait();
    let ct = s.h.nft(&["list", "set", "inet", "rampart", "msgrate4"]);
    assert!(
        ct.contains(BLOCKED),
        "the kernel meters the flooding source:\n{ct}"
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `cargo test --release -p rampart --test messenger -- --ignored bench_flood --nocapture`
/// (root): 1,000 requests/s from one blocked address for 10 s; another
/// blocked address's page latency and the daemon's memory meanwhile.
#[test]
#[ignore = "benchmark"]
fn bench_flood() {
    if !can_run("bench_messenger_flood") {
        return;
    }
    let s = setup("msgbench", "");
    append(&s.log, &ssh_failures(BLOCKED, 5));
    append(&s.log, &ssh_failures("192.0.2.3", 5));
    wait_for(&s, "the pages", || {
        curl(&s.h, "192.0.2.3", "http://192.0.2.1/").contains("Failed SSH login")
    });
    let pid = s.daemon.id();
    let rss0 = rss_kib(pid);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cli = &s.h.lab.cli;
    std::thread::scope(|sc| {
        for t in 0..20u64 {
            let (stop, sent) = (stop.clone(), sent.clone());
            // 20 threads x 50 requests/s = 1,000/s from 192.0.2.2
            sc.spawn(move || {
                cli.run(|| {
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    while t0.elapsed() < Duration::from_secs(10) {
                        let due = t0 + Duration::from_millis(n * 20 + t);
                        if let Some(w) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(w);
                        }
                        let _ = std::net::TcpStream::connect_timeout(
                            &"192.0.2.1:80".parse().unwrap(),
                            Duration::from_millis(15),
                        )
                        .map(|mut c| std::io::Write::write_all(&mut c, b"GET / HTTP/1.0\r\n\r\n"));
                        sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        n += 1;
                    }
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                })
            });
        }
        let mut lat = Vec::new();
        let mut rss = Vec::new();
        let mut failures = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let (ok, d) = s.h.lab.cli.run(|| {
                // from 192.0.2.3: bind explicitly
                use std::io::{Read, Write};
                let t0 = Instant::now();
                let sock = socket_from("192.0.2.3");
                let ok = sock.is_some_and(|mut c| {
                    let _ = c.write_all(b"GET / HTTP/1.0\r\n\r\n");
                    let mut b = Vec::new();
                    let _ = c.read_to_end(&mut b);
                    String::from_utf8_lossy(&b).contains("Failed SSH login")
                });
                (ok, t0.elapsed())
            });
            failures += usize::from(!ok);
            lat.push(d.as_secs_f64() * 1000.0);
            rss.push(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(200));
        }
        println!(
            "flood: {} attempts from {BLOCKED} in 10 s; other blocked address: {} probes, {failures} failed, latency {}; daemon RSS {} KiB before, max {} KiB during, {} KiB after",
            sent.load(std::sync::atomic::Ordering::Relaxed),
            lat.len(),
            host::percentiles(lat.clone()),
            rss0,
            rss.iter().max().copied().unwrap_or(0),
            rss_kib(pid)
        );
        assert_eq!(failures, 0);
    });
}

/// A connected TCP stream from `src` to the server's port 80 (in the
/// calling thread's namespace).
fn socket_from(src: &str) -> Option<std::net::TcpStream> {
    use rustix::net::{AddressFamily, SocketType, bind, connect, socket, sockopt};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).ok()?;
    bind(&fd, &std::net::SocketAddr::new(src.parse().ok()?, 0)).ok()?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(Duration::from_secs(2))).ok()?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(Duration::from_secs(2))).ok()?;
    connect(&fd, &"192.0.2.1:80".parse::<std::net::SocketAddr>().ok()?).ok()?;
    Some(std::net::TcpStream::from(fd))
}
