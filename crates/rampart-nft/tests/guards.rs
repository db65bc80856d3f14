//! Kernel guards end to end, with real traffic between two network
//! namespaces: port-scan logging to NFLOG (received by `NflogReceiver`),
//! CONNLIMIT / PORTFLOOD / SYNFLOOD per source, and conntrack counts.
//! Root only: skipped with a message otherwise, failing instead when
//! `RAMPART_REQUIRE_ROOT_TESTS=1`.

mod common;
mod fixtures;

use std::collections::BTreeSet;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Lab, SRV4, SRV6, can_run};
use rampart_nft::{
    ConnLimit, CtFilter, Firewall, IPPROTO_TCP, IPPROTO_UDP, Limits, LogKind, LoggedPacket, Mode,
    NflogReceiver, NftFirewall, PortFlood, PortPolicy, Ports, Protocol, Ruleset, ScanLog, SynFlood,
    TcpState, count_by_source, dump_conntrack, parse_ports,
};

const SCAN_GROUP: u16 = 5;
const LIMIT_GROUP: u16 = 6;

fn setup(tag: &str, rs: &Ruleset) -> (Lab, common::Servers) {
    let lab = Lab::new(tag);
    let servers = lab.serve();
    let mut fw = lab.srv.run(|| NftFirewall::new().expect("open netlink"));
    lab.srv.run(|| fw.apply(rs).expect("apply"));
    (lab, servers)
}

fn bind(lab: &Lab, group: u16) -> NflogReceiver {
    lab.srv
        .run(|| NflogReceiver::bind(group).expect("bind NFLOG group"))
}

/// Receive until `want` packets arrived (or `max` passed), then keep
/// listening a little to catch packets that should not be there.
fn collect(rx: &mut NflogReceiver, want: usize, max: Duration) -> Vec<LoggedPacket> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < max {
        got.extend(rx.recv(Duration::from_millis(100)).expect("recv"));
    }
    got.extend(rx.recv(Duration::from_millis(300)).expect("recv"));
    got
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A TCP connection from `src` in the client namespace, kept open while
/// the returned socket lives; `None` when not established within 400 ms.
fn hold(lab: &Lab, src: &str, dst: &str, port: u16) -> Option<OwnedFd> {
    let (src, dst) = (ip(src), ip(dst));
    lab.cli.run(|| {
        use rustix::net::{AddressFamily, SocketType, bind, connect, socket, sockopt};
        let fam = if src.is_ipv4() {
            AddressFamily::INET
        } else {
            AddressFamily::INET6
        };
        let fd = socket(fam, SocketType::STREAM, None).expect("socket");
        bind(&fd, &SocketAddr::new(src, 0)).expect("bind");
        sockopt::set_socket_timeout(
            &fd,
            sockopt::Timeout::Send,
            Some(Duration::from_millis(400)),
        )
        .expect("timeout");
        connect(&fd, &SocketAddr::new(dst, port)).ok().map(|()| fd)
    })
}

/// A dual-stack TCP server in the server namespace that keeps every
/// connection open until the peer closes it.
struct Holder {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Holder {
    fn new(lab: &Lab, port: u16) -> Holder {
        let l = lab
            .srv
            .run(|| TcpListener::bind(SocketAddr::new(ip("::"), port)).expect("bind holder"));
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = thread::spawn(move || {
            let mut conns: Vec<TcpStream> = Vec::new();
            while !s.load(Ordering::SeqCst) {
                if let Ok((c, _)) = l.accept() {
                    c.set_nonblocking(true).expect("nonblocking");
                    conns.push(c);
                }
                let mut b = [0u8; 64];
                conns.retain_mut(|c| !matches!(c.read(&mut b), Ok(0)));
                thread::sleep(Duration::from_millis(5));
            }
        });
        Holder {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn keys(v: &[LoggedPacket]) -> BTreeSet<(String, u8, u16)> {
    v.iter()
        .map(|p| (p.src.to_string(), p.proto, p.dport.unwrap_or(0)))
        .collect()
}

#[test]
fn scan_log_ban_only_reports_closed_ports_only() {
    if !can_run("scan_log_ban_only_reports_closed_ports_only") {
        return;
    }
    let rs = Ruleset {
        scan_log: Some(ScanLog::new(SCAN_GROUP)),
        ..Ruleset::default()
    };
    let (lab, _srv) = setup("scan", &rs);
    let mut rx = bind(&lab, SCAN_GROUP);
    // A second socket cannot take the same group.
    let err = lab
        .srv
        .run(|| NflogReceiver::bind(SCAN_GROUP))
        .expect_err("double bind");
    assert!(err.to_string().contains("another socket"), "{err}");

    // One SYN to a closed port arrives at once (queue-threshold 1).
    let t0 = Instant::now();
    assert!(!lab.tcp("192.0.2.2", SRV4, 1000), "closed port answered");
    let first = collect(&mut rx, 1, Duration::from_secs(2));
    let latency = t0.elapsed();
    assert_eq!(first.len(), 1, "{first:?}");
    let p = &first[0];
    assert_eq!(p.src, ip("192.0.2.2"));
    assert_eq!(p.dst, ip(SRV4));
    assert_eq!((p.proto, p.dport), (IPPROTO_TCP, Some(1000)));
    assert!(p.sport.is_some_and(|s| s >= 1024));
    assert_eq!(p.kind(), LogKind::Scan);
    assert!(
        latency < Duration::from_millis(800),
        "logged packet took {latency:?} (batching not disabled?)"
    );

    // A real scan: SYNs to 20 closed ports, IPv4 and IPv6, and UDP.
    for port in 1001..1011 {
        assert!(!lab.tcp("192.0.2.2", SRV4, port));
    }
    for port in [3000, 3001, 3002] {
        assert!(!lab.tcp("2001:db8::2", SRV6, port));
    }
    assert!(!lab.udp("192.0.2.4", SRV4, 6000));
    assert!(!lab.udp("2001:db8::4", SRV6, 6001));
    // Open ports (listening sockets) never count, TCP or UDP.
    for _ in 0..3 {
        assert!(lab.reaches("192.0.2.3"));
        assert!(lab.reaches("2001:db8::3"));
        assert!(lab.tcp("192.0.2.3", SRV4, 80));
    }
    // Connections the server starts: the answers are established, never
    // new. The classic false positive: a DNS answer arriving late, after
    // the resolver gave up and closed its socket — the port is closed,
    // but conntrack still knows the flow.
    let dns = lab
        .cli
        .run(|| UdpSocket::bind(SocketAddr::new(ip("192.0.2.5"), 53)).expect("client dns bind"));
    let dns_thread = thread::spawn(move || {
        dns.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut b = [0u8; 64];
        let mut answered = 0;
        for _ in 0..5 {
            if let Ok((n, from)) = dns.recv_from(&mut b) {
                thread::sleep(Duration::from_millis(100));
                if dns.send_to(&b[..n], from).is_ok() {
                    answered += 1;
                }
            }
        }
        answered
    });
    lab.srv.run(|| {
        for _ in 0..5 {
            let s = UdpSocket::bind(SocketAddr::new(ip(SRV4), 0)).expect("bind");
            s.send_to(b"query", SocketAddr::new(ip("192.0.2.5"), 53))
                .expect("send");
            // closed before the answer comes
        }
    });
    assert_eq!(dns_thread.join().expect("dns thread"), 5);
    let client_listener = lab.cli.run(|| {
        TcpListener::bind(SocketAddr::new(ip("192.0.2.6"), 7000)).expect("client listener")
    });
    let out = lab.srv.run(|| {
        TcpStream::connect_timeout(
            &SocketAddr::new(ip("192.0.2.6"), 7000),
            Duration::from_millis(500),
        )
    });
    assert!(out.is_ok(), "outgoing TCP connection failed");
    drop(client_listener);

    let got = collect(&mut rx, 15, Duration::from_secs(3));
    let mut want: BTreeSet<(String, u8, u16)> = (1001..1011)
        .map(|p| ("192.0.2.2".to_string(), IPPROTO_TCP, p))
        .collect();
    for p in [3000, 3001, 3002] {
        want.insert(("2001:db8::2".into(), IPPROTO_TCP, p));
    }
    want.insert(("192.0.2.4".into(), IPPROTO_UDP, 6000));
    want.insert(("2001:db8::4".into(), IPPROTO_UDP, 6001));
    assert_eq!(keys(&got), want, "logged packets: {got:?}");
    assert_eq!(got.len(), 15, "duplicates: {got:?}");
    assert!(got.iter().all(|p| p.kind() == LogKind::Scan));
    assert_eq!(rx.overflows(), 0);
}

#[test]
fn scan_log_strict_reports_unlisted_ports_even_with_a_listener() {
    if !can_run("scan_log_strict_reports_unlisted_ports_even_with_a_listener") {
        return;
    }
    let rs = Ruleset {
        mode: Mode::Strict(PortPolicy {
            inbound: Ports {
                tcp: parse_ports("80").expect("tcp"),
                udp: parse_ports("5353").expect("udp"),
            },
            icmp_in: true,
            ssh_port: 2222,
            outbound: None,
            icmp_out: false,
        }),
        scan_log: Some(ScanLog::new(SCAN_GROUP)),
        ..Ruleset::default()
    };
    let (lab, _srv) = setup("scanstrict", &rs);
    let mut rx = bind(&lab, SCAN_GROUP);
    assert!(lab.tcp("192.0.2.2", SRV4, 80));
    assert!(lab.udp("192.0.2.2", SRV4, 5353));
    assert!(lab.tcp("2001:db8::2", SRV6, 2222));
    // 8080 has a listener but is not in the policy: dropped and logged.
    assert!(!lab.tcp("192.0.2.2", SRV4, 8080));
    assert!(!lab.tcp("2001:db8::2", SRV6, 4444));
    assert!(!lab.udp("192.0.2.3", SRV4, 80));
    let got = collect(&mut rx, 3, Duration::from_secs(3));
    let want: BTreeSet<(String, u8, u16)> = [
        ("192.0.2.2".to_string(), IPPROTO_TCP, 8080),
        ("2001:db8::2".to_string(), IPPROTO_TCP, 4444),
        ("192.0.2.3".to_string(), IPPROTO_UDP, 80),
    ]
    .into_iter()
    .collect();
    // A dropped SYN is retransmitted after a second; lab.tcp gives up after
    // 400 ms, so each attempt is one packet.
    assert_eq!(keys(&got), want, "{got:?}");
    assert_eq!(got.len(), 3, "{got:?}");
}

#[test]
fn connlimit_drops_excess_per_source_and_conntrack_counts_them() {
    if !can_run("connlimit_drops_excess_per_source_and_conntrack_counts_them") {
        return;
    }
    let rs = Ruleset {
        limits: Limits {
            log_group: Some(LIMIT_GROUP),
            conn: vec![ConnLimit {
                port: 9000,
                limit: 3,
            }],
            ..Limits::default()
        },
        ..Ruleset::default()
    };
    let (lab, _srv) = setup("connlimit", &rs);
    let _holder = Holder::new(&lab, 9000);
    let mut rx = bind(&lab, LIMIT_GROUP);

    let held: Vec<OwnedFd> = (0..3)
        .map(|i| hold(&lab, "192.0.2.2", SRV4, 9000).unwrap_or_else(|| panic!("connection {i}")))
        .collect();
    assert!(
        hold(&lab, "192.0.2.2", SRV4, 9000).is_none(),
        "a 4th concurrent connection was admitted"
    );
    // Other ports and other sources are not affected.
    assert!(lab.tcp("192.0.2.2", SRV4, 8080));
    let other: Vec<OwnedFd> = (0..3)
        .map(|_| hold(&lab, "192.0.2.3", SRV4, 9000).expect("another source"))
        .collect();

    // IPv6 counts per /64: ::2 and ::3 share one budget.
    let v6: Vec<OwnedFd> = (0..3)
        .map(|_| hold(&lab, "2001:db8::2", SRV6, 9000).expect("v6"))
        .collect();
    assert!(
        hold(&lab, "2001:db8::3", SRV6, 9000).is_none(),
        "the /64 budget was not shared"
    );

    let got = collect(&mut rx, 2, Duration::from_secs(3));
    let srcs: BTreeSet<String> = got.iter().map(|p| p.src.to_string()).collect();
    assert_eq!(
        srcs,
        ["192.0.2.2", "2001:db8::3"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "{got:?}"
    );
    assert!(
        got.iter()
            .all(|p| p.kind() == LogKind::ConnLimit && p.dport == Some(9000)),
        "{got:?}"
    );

    // conntrack (netlink dump) sees the held connections per source.
    let entries = lab.srv.run(|| dump_conntrack().expect("dump conntrack"));
    let filter = CtFilter {
        states: vec![TcpState::Established],
        ports: vec![9000],
        ..CtFilter::default()
    };
    let counts = count_by_source(&entries, &filter);
    assert_eq!(counts.get(&ip("192.0.2.2")), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&ip("192.0.2.3")), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&ip("2001:db8::2")), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&ip("2001:db8::3")), None, "{counts:?}");

    // Closing connections frees the budget.
    drop(held);
    thread::sleep(Duration::from_millis(300));
    assert!(
        hold(&lab, "192.0.2.2", SRV4, 9000).is_some(),
        "closed connections still counted"
    );
    drop((other, v6));
}

#[test]
fn portflood_limits_new_connections_per_source_and_port() {
    if !can_run("portflood_limits_new_connections_per_source_and_port") {
        return;
    }
    let rs = Ruleset {
        limits: Limits {
            log_group: Some(LIMIT_GROUP),
            port_flood: vec![
                PortFlood {
                    port: 8080,
                    protocol: Protocol::Tcp,
                    hits: 4,
                    seconds: 60,
                },
                PortFlood {
                    port: 5353,
                    protocol: Protocol::Udp,
                    hits: 2,
                    seconds: 60,
                },
            ],
            ..Limits::default()
        },
        ..Ruleset::default()
    };
    let (lab, _srv) = setup("portflood", &rs);
    let mut rx = bind(&lab, LIMIT_GROUP);
    for i in 0..4 {
        assert!(lab.tcp("192.0.2.2", SRV4, 8080), "connection {i} refused");
    }
    assert!(
        !lab.tcp("192.0.2.2", SRV4, 8080),
        "5th new connection passed"
    );
    assert!(lab.tcp("192.0.2.2", SRV4, 80), "another port limited");
    assert!(lab.tcp("192.0.2.3", SRV4, 8080), "another source limited");
    for i in 0..4 {
        assert!(lab.tcp("2001:db8::2", SRV6, 8080), "v6 connection {i}");
    }
    assert!(!lab.tcp("2001:db8::5", SRV6, 8080), "same /64 not limited");
    // UDP: each new flow (new source port) counts.
    assert!(lab.udp("192.0.2.4", SRV4, 5353));
    assert!(lab.udp("192.0.2.4", SRV4, 5353));
    assert!(!lab.udp("192.0.2.4", SRV4, 5353), "3rd UDP flow passed");

    let got = collect(&mut rx, 3, Duration::from_secs(3));
    let want: BTreeSet<(String, u8, u16)> = [
        ("192.0.2.2".to_string(), IPPROTO_TCP, 8080),
        ("2001:db8::5".to_string(), IPPROTO_TCP, 8080),
        ("192.0.2.4".to_string(), IPPROTO_UDP, 5353),
    ]
    .into_iter()
    .collect();
    assert_eq!(keys(&got), want, "{got:?}");
    assert!(got.iter().all(|p| p.kind() == LogKind::PortFlood));
}

#[test]
fn synflood_limits_syns_per_source_not_globally() {
    if !can_run("synflood_limits_syns_per_source_not_globally") {
        return;
    }
    let rs = Ruleset {
        limits: Limits {
            log_group: Some(LIMIT_GROUP),
            syn_flood: Some(SynFlood {
                rate_per_second: 1,
                burst: 3,
            }),
            ..Limits::default()
        },
        ..Ruleset::default()
    };
    let (lab, _srv) = setup("synflood", &rs);
    let mut rx = bind(&lab, LIMIT_GROUP);
    let t0 = Instant::now();
    for i in 0..3 {
        assert!(lab.tcp("192.0.2.2", SRV4, 8080), "SYN {i} dropped");
    }
    assert!(!lab.tcp("192.0.2.2", SRV4, 80), "4th SYN in a burst passed");
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "too slow for the bucket"
    );
    // Per source: another address still connects, UDP is not concerned.
    for _ in 0..3 {
        assert!(lab.tcp("192.0.2.3", SRV4, 8080), "other source limited");
    }
    assert!(lab.udp("192.0.2.2", SRV4, 5353));
    // The bucket refills at the rate.
    thread::sleep(Duration::from_millis(1300));
    assert!(lab.tcp("192.0.2.2", SRV4, 8080), "bucket did not refill");
    let got = collect(&mut rx, 1, Duration::from_secs(3));
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|p| p.kind() == LogKind::SynFlood && p.src == ip("192.0.2.2")),
        "{got:?}"
    );
}

#[test]
fn guard_rulesets_load_and_reload_in_the_kernel() {
    if !can_run("guard_rulesets_load_and_reload_in_the_kernel") {
        return;
    }
    let ns = common::Netns::new(format!("rampart-t-{}-guards", std::process::id()));
    let mut fw = ns.run(|| NftFirewall::new().expect("open"));
    for rs in [
        fixtures::ban_only_guards(),
        fixtures::ban_only_guards(),
        fixtures::strict_guards(),
        fixtures::ban_only(),
        fixtures::strict_guards(),
    ] {
        ns.run(|| fw.apply(&rs).expect("apply"));
        let sets = ns.run(|| fw.existing_sets().expect("sets"));
        let mut want = rs.set_names().expect("names");
        want.extend(rs.limit_set_names());
        want.sort();
        let mut sets = sets;
        sets.sort();
        assert_eq!(sets, want);
    }
}
