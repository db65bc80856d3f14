//! Test lab: two network namespaces joined by a veth pair, created for one
//! test and deleted when it ends (even on panic). Nothing touches the
//! host's own ruleset: every `nft` and netlink call runs on a thread moved
//! into the lab's server namespace.
//!
//! Addresses: server `192.0.2.1`, `198.51.100.1`, `2001:db8::1`; client
//! `192.0.2.2-9`, `198.51.100.2-9` and `.20`, `2001:db8::2-9`, `2001:db8::20`.
#![allow(dead_code)]

pub mod rng;

use std::fs::File;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

/// Ports the server listens on (TCP and UDP each).
pub const PORTS: [u16; 4] = [80, 2222, 8080, 5353];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether the root-only tests can run. Without root they print a skip
/// message — unless `RAMPART_REQUIRE_ROOT_TESTS=1`, where they fail.
pub fn can_run(test: &str) -> bool {
    let required = std::env::var("RAMPART_REQUIRE_ROOT_TESTS").as_deref() == Ok("1");
    let problem = if !rustix::process::geteuid().is_root() {
        Some("needs root (network namespaces and nftables)".to_string())
    } else {
        [("nft", "--version"), ("ip", "-V")]
            .iter()
            .map(|(p, flag)| (*p, *flag))
            .find(|(p, flag)| {
                Command::new(p)
                    .arg(flag)
                    .output()
                    .map(|o| !o.status.success())
                    .unwrap_or(true)
            })
            .map(|(p, _)| format!("needs the {p:?} program (apt-get install nftables iproute2)"))
    };
    match problem {
        None => true,
        Some(why) if required => {
            panic!("{test}: {why}, and RAMPART_REQUIRE_ROOT_TESTS=1 forbids skipping")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}

/// Run a command, panicking with its output on failure.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Netns {
        // A leftover of a crashed run with the same name goes first.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Run a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Run `f` on a thread that has entered this namespace (sockets it
    /// opens and processes it starts belong to the namespace).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A server namespace and a client namespace joined by a veth pair.
pub struct Lab {
    pub srv: Netns,
    pub cli: Netns,
}

pub const SRV4: &str = "192.0.2.1";
pub const SRV6: &str = "2001:db8::1";

/// Delete namespaces named `PREFIX-PID-...` left by test processes that
/// died without cleaning up (a killed run).
pub fn reap_stale(prefix: &str) {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        reap_stale("rampart-t-");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("rampart-t-{}-{n}-{tag}", std::process::id());
        let srv = Netns::new(format!("{base}-s"));
        let cli = Netns::new(format!("{base}-c"));
        // The veth is created inside the server namespace, its peer moved
        // straight into the client's: no interface ever exists on the host.
        sh(&[
            "ip", "-n", &srv.name, "link", "add", "vs", "type", "veth", "peer", "name", "vc",
            "netns", &cli.name,
        ]);
        for a in ["192.0.2.1/24", "198.51.100.1/24"] {
            srv.exec(&["ip", "addr", "add", a, "dev", "vs"]);
        }
        srv.exec(&["ip", "addr", "add", "2001:db8::1/64", "dev", "vs", "nodad"]);
        let mut v4: Vec<String> = (2..=9).map(|i| format!("192.0.2.{i}/24")).collect();
        v4.extend((2..=9).map(|i| format!("198.51.100.{i}/24")));
        v4.push("198.51.100.20/24".into());
        for a in &v4 {
            cli.exec(&["ip", "addr", "add", a, "dev", "vc"]);
        }
        for i in (2..=9).map(|i| i.to_string()).chain(["20".to_string()]) {
            cli.exec(&[
                "ip",
                "addr",
                "add",
                &format!("2001:db8::{i}/64"),
                "dev",
                "vc",
                "nodad",
            ]);
        }
        srv.exec(&["ip", "link", "set", "vs", "up"]);
        cli.exec(&["ip", "link", "set", "vc", "up"]);
        Lab { srv, cli }
    }

    /// Start TCP and UDP echo listeners on [`PORTS`] in the server
    /// namespace (dual stack); they stop when the returned guard drops.
    pub fn serve(&self) -> Servers {
        serve_in(&self.srv)
    }

    /// Whether a TCP connection from `src` (a client address) to
    /// `dst:port` is established within 400 ms.
    pub fn tcp(&self, src: &str, dst: &str, port: u16) -> bool {
        tcp_from(&self.cli, src, dst, port, Duration::from_millis(400))
    }
}

/// Start TCP and UDP echo listeners on [`PORTS`] in `ns` (dual stack);
/// they stop when the returned guard drops.
pub fn serve_in(ns: &Netns) -> Servers {
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for port in PORTS {
        let (tcp, udp) = ns.run(|| {
            let addr: SocketAddr = format!("[::]:{port}").parse().expect("addr");
            (
                TcpListener::bind(addr).expect("tcp bind"),
                UdpSocket::bind(addr).expect("udp bind"),
            )
        });
        tcp.set_nonblocking(true).expect("nonblocking");
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let s = stop.clone();
        handles.push(thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match tcp.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_read_timeout(Some(Duration::from_millis(100)));
                        let mut b = [0u8; 16];
                        let _ = c.read(&mut b);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
        let s = stop.clone();
        handles.push(thread::spawn(move || {
            let mut b = [0u8; 64];
            while !s.load(Ordering::SeqCst) {
                if let Ok((n, from)) = udp.recv_from(&mut b) {
                    let _ = udp.send_to(&b[..n], from);
                }
            }
        }));
    }
    Servers { stop, handles }
}

/// Whether a TCP connection from `src` (an address of namespace `ns`) to
/// `dst:port` is established within `timeout`.
pub fn tcp_from(ns: &Netns, src: &str, dst: &str, port: u16, timeout: Duration) -> bool {
    let src: IpAddr = src.parse().expect("src");
    let dst: IpAddr = dst.parse().expect("dst");
    ns.run(|| {
        use rustix::net::{AddressFamily, SocketType, bind, connect, socket, sockopt};
        let fam = if src.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = socket(fam, SocketType::STREAM, None).expect("socket");
        bind(&fd, &SocketAddr::new(src, 0)).unwrap_or_else(|e| panic!("bind {src}: {e}"));
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(timeout)).expect("timeout");
        connect(&fd, &SocketAddr::new(dst, port)).is_ok()
    })
}

impl Lab {
    /// Whether a UDP datagram from `src` to `dst:port` is echoed within
    /// 400 ms.
    pub fn udp(&self, src: &str, dst: &str, port: u16) -> bool {
        let src: IpAddr = src.parse().expect("src");
        let dst: IpAddr = dst.parse().expect("dst");
        self.cli.run(|| {
            let s = UdpSocket::bind(SocketAddr::new(src, 0)).expect("udp bind");
            s.set_read_timeout(Some(Duration::from_millis(400)))
                .expect("timeout");
            s.send_to(b"ping", SocketAddr::new(dst, port))
                .expect("send");
            let mut b = [0u8; 16];
            matches!(s.recv_from(&mut b), Ok((4, _)))
        })
    }

    /// Both TCP and UDP from `src` to the server address of its family on
    /// port 8080/5353 (asserting they agree).
    pub fn reaches(&self, src: &str) -> bool {
        let dst = if src.contains(':') { SRV6 } else { SRV4 };
        let t = self.tcp(src, dst, 8080);
        let u = self.udp(src, dst, 5353);
        assert_eq!(t, u, "TCP ({t}) and UDP ({u}) disagree for {src}");
        t
    }
}

/// Listener threads; stopped on drop.
pub struct Servers {
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
