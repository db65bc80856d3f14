//! The test harness shared by the end-to-end tests: a lab of network
//! namespaces (`common`, from rampart-nft's tests) with the `rampart`
//! binary run in its server namespace, and helpers for daemons and logs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../rampart-nft/tests/common/mod.rs"]
pub mod common;

pub use common::{Lab, can_run};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The `rampart` binary run inside the lab's server namespace with its own
/// state directory and configuration.
pub struct Host {
    pub lab: Lab,
    pub state: PathBuf,
    pub config: PathBuf,
    _servers: Option<common::Servers>,
}

impl Host {
    pub fn new(tag: &str, config: &str) -> Host {
        let mut h = Host::bare(tag, config);
        h._servers = Some(h.lab.serve());
        h
    }

    /// As [`Host::new`], without the lab's listeners (the test brings its
    /// own servers, on any port).
    pub fn bare(tag: &str, config: &str) -> Host {
        let lab = Lab::new(tag);
        let dir = std::env::temp_dir().join(format!("rampart-fw-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("rampart.toml");
        std::fs::write(&config_path, config).unwrap();
        Host {
            lab,
            state: dir.join("state"),
            config: config_path,
            _servers: None,
        }
    }

    /// `rampart --state-dir .. --config ..` inside the server namespace.
    pub fn cmd(&self) -> Command {
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

    /// A program run inside the server namespace.
    pub fn cmd_in_ns(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.lab.srv.name]).args(args);
        c
    }

    pub fn rampart(&self, args: &[&str]) -> (i32, String, String) {
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
    pub fn over_ssh(&self, client: &str, args: &[&str]) -> String {
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

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.rampart(args);
        assert_eq!(code, 0, "rampart {args:?} failed: {out}{err}");
        out
    }

    /// `why ADDR --json`: exit status 0 exactly when the kernel blocks it.
    pub fn why(&self, addr: &str) -> serde_json::Value {
        let (code, out, err) = self.rampart(&["why", addr, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("why {addr}: {e}: {out}{err}"));
        let blocked = v["blocked"] == true;
        assert_eq!(code, if blocked { 0 } else { 1 }, "why {addr}: {v}");
        v
    }

    pub fn nft(&self, args: &[&str]) -> String {
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

/// `rampart ARGS` (a daemon) in the server namespace, stderr to a file;
/// returns once it logged `watching` `files` times.
pub fn spawn_daemon(
    h: &Host,
    args: &[&std::ffi::OsStr],
    errlog: &std::path::Path,
    files: usize,
) -> Daemon {
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
    Daemon(child)
}

/// A daemon process, killed when dropped (a failing test leaves none behind).
pub struct Daemon(pub std::process::Child);

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rampart run --watch LOG`.
pub fn spawn_run(h: &Host, log: &std::path::Path, errlog: &std::path::Path) -> Daemon {
    spawn_daemon(
        h,
        &["run".as_ref(), "--watch".as_ref(), log.as_os_str()],
        errlog,
        1,
    )
}

pub fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(std::process::Stdio::null())
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

pub fn fail_lines(ip: &str, n: usize, pid0: usize) -> String {
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

pub fn append(p: &std::path::Path, s: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

pub fn wait_blocked(h: &Host, ip: &str) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        if !h.lab.tcp(ip, common::SRV4, 8080) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Latency (ms) from a failure line appended to `log` to its address in
/// the kernel's deny set, for `n` bans of `PREFIX1`, `PREFIX2`, … (IPv6,
/// with `threshold = 1` and `ipv6_prefix = 128`), one at a time.
pub fn ban_latencies(h: &Host, log: &std::path::Path, n: usize, prefix: &str) -> Vec<f64> {
    h.lab.srv.run(|| {
        let mut fw = rampart_nft::NftFirewall::new().unwrap();
        use rampart_nft::Firewall;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let ip: std::net::IpAddr = format!("{prefix}{:x}", i + 1).parse().unwrap();
            let t0 = Instant::now();
            append(
                log,
                &format!(
                    "web1 sshd[{}]: Failed password for root from {ip} port 4000 ssh2\n",
                    1000 + i
                ),
            );
            loop {
                let set = fw.list(&rampart_nft::SetList::Deny).unwrap();
                // adjacent bans of equal expiry are one range
                if set.iter().any(|e| e.range.contains(ip)) {
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
    })
}

/// `p50 … ms, p90 … ms, p99 … ms, max … ms`.
pub fn percentiles(mut lat: Vec<f64>) -> String {
    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p(0.5),
        p(0.9),
        p(0.99),
        lat[lat.len() - 1]
    )
}
