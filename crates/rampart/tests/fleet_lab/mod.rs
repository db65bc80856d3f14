//! A fleet lab: a hub namespace with a bridge and the NATS server, three
//! Rampart nodes and an attacker namespace on that bridge, every address
//! in 192.0.2.0/24 — nothing on the host's own network or ruleset.
//!
//! ```text
//!   nodea 192.0.2.1 ─┐
//!   nodeb 192.0.2.2 ─┤ br0 (hub 192.0.2.254: nats-server -js)
//!   nodec 192.0.2.3 ─┤
//!   attacker .100-.249
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::host::common::{self, Netns, Servers, sh};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const HUB: &str = "192.0.2.254";
pub const NATS_PORT: u16 = 4222;
/// The attacker's addresses: 192.0.2.100 + i.
pub const ATTACKERS: usize = 150;

static N: AtomicUsize = AtomicUsize::new(0);

pub fn attacker(i: usize) -> String {
    format!("192.0.2.{}", 100 + i)
}

/// The nats-server binaries to test against: `RAMPART_NATS_SERVERS`
/// (colon-separated), else Debian's and the one on PATH, one per version.
pub fn nats_servers() -> Vec<(PathBuf, String)> {
    let listed: Vec<PathBuf> = match std::env::var("RAMPART_NATS_SERVERS") {
        Ok(v) if !v.is_empty() => v.split(':').map(PathBuf::from).collect(),
        _ => {
            let mut v = vec![PathBuf::from("/usr/sbin/nats-server")];
            if let Some(path) = std::env::var_os("PATH") {
                v.extend(std::env::split_paths(&path).map(|d| d.join("nats-server")));
            }
            v
        }
    };
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for bin in listed {
        let Ok(o) = Command::new(&bin).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !out.iter().any(|(_, v)| *v == version) {
            out.push((bin, version));
        }
    }
    out
}

/// nats-server with JetStream in the hub namespace, its store kept across
/// restarts; killed (by pid) on drop.
pub struct Nats {
    bin: PathBuf,
    ns: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nats {
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join("nats.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(&self.bin)
            .args(["-js", "-a", HUB, "-p", &NATS_PORT.to_string(), "-sd"])
            .arg(self.dir.join("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while !std::fs::read_to_string(self.dir.join("nats.log"))
            .unwrap_or_default()
            .contains("Server is ready")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One Rampart node: its namespace, files and daemon.
pub struct Node {
    pub name: String,
    pub ns: Netns,
    pub addr: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub public_key: String,
    daemon: Option<Child>,
    starts: usize,
    _servers: Option<Servers>,
}

impl Node {
    /// `rampart ARGS` in the node's namespace.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns.name,
            env!("CARGO_BIN_EXE_rampart"),
        ])
        .arg("--state-dir")
        .arg(self.dir.join("state"))
        .arg("--config")
        .arg(self.dir.join("rampart.toml"))
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_CLIENT");
        c
    }

    pub fn rampart(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self
            .cmd()
            .args(["fleet", "status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    pub fn errlog(&self) -> PathBuf {
        self.dir.join(format!("daemon-{}.log", self.starts))
    }

    /// Starts the daemon; returns once it is ready (logged `watching`),
    /// which with a fleet is after the catch-up.
    pub fn start(&mut self) {
        self.starts += 1;
        let errlog = self.errlog();
        let child = self
            .cmd()
            .args(["run", "--watch"])
            .arg(&self.log)
            .env("RAMPART_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errlog).unwrap())
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let t0 = Instant::now();
        while !std::fs::read_to_string(&errlog)
            .unwrap_or_default()
            .contains("watching")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{}: rampart run did not start: {}",
                self.name,
                std::fs::read_to_string(&errlog).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            crate::host::stop(&mut c);
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Appends `n` failed SSH logins from `ip` to the node's log.
    pub fn attack(&self, ip: &str, n: usize) {
        let p = N.fetch_add(n, Ordering::SeqCst) + 1000;
        crate::host::append(&self.log, &crate::host::fail_lines(ip, n, p));
    }

    /// The addresses (and networks) in the node's kernel deny sets.
    pub fn denied(&self) -> Denied {
        let mut out = Denied(Vec::new());
        for set in ["deny4", "deny6"] {
            let Ok(o) = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns.name,
                    "nft",
                    "list",
                    "set",
                    "inet",
                    "rampart",
                    set,
                ])
                .output()
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&o.stdout);
            let Some(body) = text.split("elements = {").nth(1) else {
                continue;
            };
            let body = body.split('}').next().unwrap_or("");
            for e in body.split(',') {
                if let Some(t) = e.split_whitespace().next() {
                    out.0.extend(Denied::range(t));
                }
            }
        }
        out
    }

    /// Whether the node's kernel deny set holds `ip`.
    pub fn denies(&self, ip: &str) -> bool {
        let set = if ip.contains(':') { "deny6" } else { "deny4" };
        let elem = format!("{{ {ip} }}");
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns.name,
                "nft",
                "get",
                "element",
                "inet",
                "rampart",
                set,
                &elem,
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lab.
pub struct FleetLab {
    pub nodes: Vec<Node>,
    pub attacker: Netns,
    pub nats: Nats,
    pub dir: PathBuf,
    hub: Netns,
}

fn link(hub: &Netns, ns: &Netns, i: usize, addrs: &[String]) {
    let h = format!("h{i}");
    sh(&[
        "ip", "-n", &hub.name, "link", "add", &h, "type", "veth", "peer", "name", "eth0", "netns",
        &ns.name,
    ]);
    sh(&[
        "ip", "-n", &hub.name, "link", "set", &h, "master", "br0", "up",
    ]);
    let batch: String = addrs
        .iter()
        .map(|a| format!("addr add {a}/24 dev eth0\n"))
        .collect();
    let mut c = Command::new("ip")
        .args(["-n", &ns.name, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), batch.as_bytes()).unwrap();
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
    sh(&["ip", "-n", &ns.name, "link", "set", "eth0", "up"]);
}

impl FleetLab {
    /// Hub, NATS (`nats` binary), three nodes (a, b, c) trusting each
    /// other, and the attacker. `extra` is appended to every node's config.
    pub fn new(tag: &str, nats: &Path, extra: &str) -> FleetLab {
        common::reap_stale("rampart-t-");
        let n = N.fetch_add(1, Ordering::SeqCst);
        let base = format!("rampart-t-{}-{n}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let hub = Netns::new(format!("{base}-hub"));
        hub.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
        hub.exec(&["ip", "addr", "add", &format!("{HUB}/24"), "dev", "br0"]);
        hub.exec(&["ip", "link", "set", "br0", "up"]);
        let attacker = Netns::new(format!("{base}-x"));
        let addrs: Vec<String> = (0..ATTACKERS).map(attacker_addr).collect();
        link(&hub, &attacker, 0, &addrs);
        let mut nodes = Vec::new();
        for (i, name) in ["nodea", "nodeb", "nodec"].into_iter().enumerate() {
            let ns = Netns::new(format!("{base}-{}", &name[4..]));
            let addr = format!("192.0.2.{}", i + 1);
            link(&hub, &ns, i + 1, std::slice::from_ref(&addr));
            let ndir = dir.join(name);
            std::fs::create_dir_all(&ndir).unwrap();
            let key = ndir.join("fleet.key");
            let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args(["fleet", "keygen", "--key"])
                .arg(&key)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "keygen: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let public_key = String::from_utf8(out.stdout).unwrap().trim().to_string();
            let servers = Some(common::serve_in(&ns));
            let log = ndir.join("auth.log");
            std::fs::write(&log, "").unwrap();
            nodes.push(Node {
                name: name.to_string(),
                ns,
                addr,
                dir: ndir,
                log,
                public_key,
                daemon: None,
                starts: 0,
                _servers: servers,
            });
        }
        let trusted: Vec<String> = nodes
            .iter()
            .map(|n| format!("{:?}", n.public_key))
            .collect();
        for node in &nodes {
            let config = format!(
                "[fleet]\nservers = [\"nats://{HUB}:{NATS_PORT}\"]\nnode = \"{}\"\nkey = {:?}\ntrusted_keys = [{}]\n{extra}",
                node.name,
                node.dir.join("fleet.key").display().to_string(),
                trusted.join(", ")
            );
            std::fs::write(node.dir.join("rampart.toml"), config).unwrap();
        }
        let mut nats = Nats {
            bin: nats.to_path_buf(),
            ns: hub.name.clone(),
            dir: dir.clone(),
            child: None,
        };
        nats.start();
        FleetLab {
            nodes,
            attacker,
            nats,
            dir,
            hub,
        }
    }

    /// Whether `src` (an attacker address) gets a TCP connection to `node`
    /// within `timeout`.
    pub fn reaches(&self, src: &str, node: usize, timeout: Duration) -> bool {
        common::tcp_from(&self.attacker, src, &self.nodes[node].addr, 8080, timeout)
    }

    /// Runs `f` on a thread in the hub namespace (to talk to NATS).
    pub fn in_hub<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.hub.run(f)
    }
}

fn attacker_addr(i: usize) -> String {
    attacker(i)
}

impl Drop for FleetLab {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.stop();
        }
        self.nats.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits up to `limit` for `f`; whether it became true.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// p-th percentile of sorted `v`.
pub fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A kernel deny set's elements as address ranges: adjacent bans of equal
/// expiry are one element (`198.51.100.10-198.51.100.12`), a network is
/// a prefix.
pub struct Denied(Vec<(u128, u128)>);

impl Denied {
    fn value(ip: std::net::IpAddr) -> u128 {
        match ip {
            std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) => u128::from(a),
        }
    }

    fn range(t: &str) -> Option<(u128, u128)> {
        if let Some((a, b)) = t.split_once('-') {
            return Some((Self::value(a.parse().ok()?), Self::value(b.parse().ok()?)));
        }
        let (addr, prefix) = t.split_once('/').unwrap_or((t, ""));
        let ip: std::net::IpAddr = addr.parse().ok()?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let p: u32 = prefix.parse().unwrap_or(bits);
        let span = if bits - p >= 128 {
            u128::MAX
        } else {
            (1u128 << (bits - p)) - 1
        };
        let v = Self::value(ip);
        Some((v, v | span))
    }

    /// Whether the set holds `ip`.
    pub fn contains(&self, ip: &str) -> bool {
        let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
            return false;
        };
        let v = Self::value(ip);
        self.0.iter().any(|(a, b)| *a <= v && v <= *b)
    }
}
