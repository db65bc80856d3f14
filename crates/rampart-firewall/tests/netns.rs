//! The firewall state against real nftables in network namespaces this
//! test creates (root only; SKIPPED otherwise, a failure with
//! RAMPART_REQUIRE_ROOT_TESTS=1): the kernel's element timeout limit, and
//! the seeded property test of the model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../rampart-nft/tests/common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::rng::Rng;
use common::{Lab, can_run};
use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_firewall::{
    Change, EXPIRY_TOLERANCE_SECS, Expiry, Kernel, Layout, MAX_TIMEOUT_SECS, Mirror, Segment,
    apply_change, diff, segments,
};
use rampart_nft::{Element, Firewall, NftFirewall, SetChange, SetList};
use rampart_store::{Kind, NewEntry, Origin, Removal, Store};

fn wall() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn kernel_timeout_limit_is_what_we_refuse_beyond() {
    if !can_run("kernel_timeout_limit_is_what_we_refuse_beyond") {
        return;
    }
    let lab = Lab::new("fwlimit");
    lab.srv.run(|| {
        let mut fw = NftFirewall::new().unwrap();
        fw.apply(&rampart_nft::Ruleset::default()).unwrap();
        let add = |fw: &mut NftFirewall, t: Duration| {
            fw.transact(&[SetChange {
                list: SetList::Deny,
                delete: vec![],
                add: vec![Element::temporary("192.0.2.77".parse().unwrap(), t)],
            }])
        };
        add(&mut fw, Duration::from_secs(MAX_TIMEOUT_SECS)).expect("the limit itself is accepted");
        // 2^64 ns, in milliseconds: the first value the kernel refuses
        let over = Duration::from_millis(u64::MAX / 1_000_000);
        let e = add(&mut fw, over).expect_err("beyond the limit the kernel refuses");
        assert!(e.to_string().contains("out of range"), "{e}");
    });
}

/// Client addresses: 203.0.113.2-61 and 2001:db8::102-13d, inside the
/// ranges the test denies and allows (203.0.113.0/26, 2001:db8::100/122).
fn clients() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = (2..=61)
        .map(|i| format!("203.0.113.{i}").parse().unwrap())
        .collect();
    v.extend((0x102..=0x13d).map(|i| format!("2001:db8::{i:x}").parse::<IpAddr>().unwrap()));
    v
}

fn random_net(r: &mut Rng) -> Net {
    if r.below(2) == 0 {
        let prefix = 26 + r.below(7) as u8;
        let a = r.below(64);
        Net::containing(format!("203.0.113.{a}").parse().unwrap(), prefix)
    } else {
        let prefix = 122 + r.below(7) as u8;
        let a = 0x100 + r.below(64);
        Net::containing(format!("2001:db8::{a:x}").parse().unwrap(), prefix)
    }
}

fn random_expiry(r: &mut Rng, now: i64) -> Option<i64> {
    match r.below(4) {
        0 => None,
        1 => Some(now + 600),
        2 => Some(now + 3600),
        _ => Some(now + 60 + r.below(86_400) as i64),
    }
}

/// The store's verdict, by SQL (independent of the segment model):
/// dropped when a deny entry covers the address and no allow entry does.
fn store_drops(store: &Store, ip: IpAddr, now: i64) -> bool {
    let covering = store.covering(ip, now).unwrap();
    covering.iter().any(|e| e.kind == Kind::Deny) && !covering.iter().any(|e| e.kind == Kind::Allow)
}

struct World {
    cli: Store,
    daemon: Store,
    kernel: Kernel,
    mirror: Mirror,
    now: i64,
    table: bool,
}

impl World {
    fn step(&mut self, r: &mut Rng) -> String {
        let now = self.now;
        let add = |kind, r: &mut Rng| {
            let net = random_net(r);
            Change::Add(NewEntry::new(
                kind,
                net,
                Origin::Manual,
                "manual",
                now,
                random_expiry(r, now),
            ))
        };
        let change = match r.below(100) {
            0..=24 => add(Kind::Deny, r),
            25..=34 => add(Kind::Allow, r),
            35..=49 => Change::Unblock {
                target: self.some_target(Kind::Deny, r),
                removal: Removal::default(),
            },
            50..=54 => Change::Remove {
                kinds: vec![Kind::Allow],
                target: self.some_target(Kind::Allow, r),
                removal: Removal::default(),
            },
            55..=64 => {
                self.now += r.below(7200) as i64;
                Change::Expire
            }
            65..=67 => Change::Flush,
            68..=72 => Change::Apply,
            _ => return self.daemon_ban(r),
        };
        let text = format!("{change:?}").chars().take(160).collect();
        apply_change(&mut self.cli, &mut self.kernel, &change, self.now)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        self.table = !matches!(change, Change::Flush);
        text
    }

    /// A target of a live entry of `kind` (or a random range).
    fn some_target(&self, kind: Kind, r: &mut Rng) -> Net {
        let live: Vec<Net> = self
            .cli
            .active(self.now)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == kind)
            .map(|a| a.target)
            .collect();
        if live.is_empty() || r.below(5) == 0 {
            random_net(r)
        } else {
            *r.pick(&live)
        }
    }

    /// The daemon's path: kernel first through the mirror, then the store.
    fn daemon_ban(&mut self, r: &mut Rng) -> String {
        let now = self.now;
        let bans: Vec<(Net, Option<i64>)> = (0..1 + r.below(3))
            .map(|_| (random_net(r), random_expiry(r, now)))
            .collect();
        if self.mirror.is_stale(&self.daemon).unwrap() {
            self.mirror
                .resync(&mut self.daemon, &mut self.kernel, now)
                .unwrap();
        }
        if self.mirror.ban(&mut self.kernel, &bans, now).is_err() {
            self.mirror
                .resync(&mut self.daemon, &mut self.kernel, now)
                .unwrap();
            self.mirror.ban(&mut self.kernel, &bans, now).unwrap();
        }
        let entries: Vec<NewEntry> = bans
            .iter()
            .map(|(n, e)| NewEntry::new(Kind::Deny, *n, Origin::Detector, "sshd", now, *e))
            .collect();
        self.daemon.add_many(&entries).unwrap();
        self.mirror
            .recorded(&bans.iter().map(|b| b.0).collect::<Vec<_>>());
        self.table = true;
        format!("daemon ban {bans:?}")
    }

    /// After every step: each kernel set equals the merged store.
    fn check_sets(&mut self, step: usize, what: &str) {
        for (list, kind) in [(SetList::Allow, Kind::Allow), (SetList::Deny, Kind::Deny)] {
            let got = self.kernel.read(&list, self.now).unwrap();
            if !self.table {
                assert!(got.is_none(), "step {step} ({what}): the table was flushed");
                continue;
            }
            let spans: Vec<Segment> = self
                .cli
                .active(self.now)
                .unwrap()
                .into_iter()
                .filter(|a| a.kind == kind)
                .map(|a| Segment::of_net(a.target, Expiry::from_option(a.expires)))
                .collect();
            let want = segments(&spans, self.now);
            let got = got.unwrap_or_else(|| panic!("step {step} ({what}): no {list:?} set"));
            let d = diff(&got, &want, EXPIRY_TOLERANCE_SECS);
            assert!(
                d.is_empty(),
                "step {step} ({what}): kernel {list:?} != merged store: extra {:?}, missing {:?}",
                d.delete,
                d.add
            );
        }
    }

    /// The kernel's verdict from its sets (a cheap probe).
    fn kernel_drops(&mut self, ip: IpAddr) -> bool {
        let hit = |k: &mut Kernel, l: &SetList| k.lookup(l, ip, 0).unwrap().is_some();
        hit(&mut self.kernel, &SetList::Deny) && !hit(&mut self.kernel, &SetList::Allow)
    }
}

#[test]
fn property_kernel_sets_equal_the_merged_store_and_traffic_follows() {
    if !can_run("property_kernel_sets_equal_the_merged_store_and_traffic_follows") {
        return;
    }
    let seed: u64 = std::env::var("RAMPART_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7a11_5eed);
    let steps: usize = std::env::var("RAMPART_PROP_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    eprintln!("property test: seed {seed}, {steps} steps (RAMPART_PROP_SEED / RAMPART_PROP_STEPS)");
    let lab = Lab::new("fwprop");
    let _servers = lab.serve();
    lab.srv
        .exec(&["ip", "addr", "add", "203.0.113.1/24", "dev", "vs"]);
    let addrs = clients();
    for a in &addrs {
        let pfx = if a.is_ipv4() { 24 } else { 64 };
        lab.cli.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{a}/{pfx}"),
            "dev",
            "vc",
            "nodad",
        ]);
    }
    // every client reaches the server before anything is denied (neighbour
    // discovery of fresh addresses takes a moment)
    for a in &addrs {
        let dst = if a.is_ipv4() {
            "203.0.113.1"
        } else {
            common::SRV6
        };
        let ok = (0..25).any(|_| lab.tcp(&a.to_string(), dst, 8080));
        assert!(ok, "{a} never reached the server");
    }
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let (probes, connects) = lab.srv.run(|| {
        let mut cli = Store::open(dir.path().join("rampart.db")).unwrap();
        let mut daemon = Store::open(dir.path().join("rampart.db")).unwrap();
        let layout = Layout::load(&Config::default(), dir.path()).unwrap();
        let mut kernel = Kernel::nftables(layout).unwrap();
        let now = wall();
        apply_change(&mut cli, &mut kernel, &Change::Apply, now).unwrap();
        let mirror = Mirror::load(&mut daemon, &mut kernel, now).unwrap();
        let mut w = World {
            cli,
            daemon,
            kernel,
            mirror,
            now,
            table: true,
        };
        let mut r = Rng(seed | 1);
        let (mut probes, mut connects) = (0, 0);
        for step in 0..steps {
            let what = w.step(&mut r);
            w.check_sets(step, &what);
            for _ in 0..6 {
                let ip = *r.pick(&addrs);
                let want = w.table && store_drops(&w.cli, ip, w.now);
                let got = w.table && w.kernel_drops(ip);
                assert_eq!(got, want, "step {step} ({what}): kernel verdict for {ip}");
                probes += 1;
            }
            if step % 50 == 0 {
                connects += real_connects(&lab, &w, &addrs, &mut r, step);
            }
        }
        (probes, connects)
    });
    eprintln!(
        "property test: {steps} steps, {probes} kernel-set probes, {connects} real connections, {:?}",
        t0.elapsed()
    );
}

/// Real TCP connections from sampled client addresses (in parallel):
/// each is accepted exactly when the store says the address is not dropped.
fn real_connects(lab: &Lab, w: &World, addrs: &[IpAddr], r: &mut Rng, step: usize) -> usize {
    let sample: Vec<IpAddr> = (0..8).map(|_| *r.pick(addrs)).collect();
    let want: Vec<bool> = sample
        .iter()
        .map(|ip| !(w.table && store_drops(&w.cli, *ip, w.now)))
        .collect();
    let got: Vec<bool> = std::thread::scope(|s| {
        let hs: Vec<_> = sample
            .iter()
            .map(|ip| {
                s.spawn(move || {
                    let dst = if ip.is_ipv4() {
                        "203.0.113.1"
                    } else {
                        common::SRV6
                    };
                    lab.tcp(&ip.to_string(), dst, 8080)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((ip, g), wnt) in sample.iter().zip(&got).zip(&want) {
        assert_eq!(
            g, wnt,
            "step {step}: a real connection from {ip} (accepted?)"
        );
    }
    sample.len()
}
