//! End-to-end tests with real traffic between two network namespaces.
//! Root only: they print a skip message otherwise, and fail instead when
//! `RAMPART_REQUIRE_ROOT_TESTS=1`. Run:
//! `sudo -E cargo test -p rampart-nft --test netns` (or as root).

mod common;
mod fixtures;

use std::time::Duration;

use common::{Lab, SRV4, SRV6, can_run};
use rampart_nft::{
    Blocklist, Element, Firewall, IpRange, ListDirection, Mode, NftFirewall, PortPolicy, Ports,
    Ruleset, SetList, parse_ports,
};

fn el(s: &str) -> Element {
    s.parse().expect("element")
}

fn range(s: &str) -> IpRange {
    s.parse().expect("range")
}

fn temp(s: &str, secs: u64) -> Element {
    Element::temporary(range(s), Duration::from_secs(secs))
}

/// A lab with the ruleset loaded and listeners running.
fn setup(tag: &str, rs: &Ruleset) -> (Lab, common::Servers, NftFirewall) {
    let lab = Lab::new(tag);
    let servers = lab.serve();
    let mut fw = lab.srv.run(|| NftFirewall::new().expect("open netlink"));
    lab.srv.run(|| fw.apply(rs).expect("apply"));
    (lab, servers, fw)
}

#[test]
fn deny_blocks_tcp_udp_cidr_ipv6_and_allow_wins() {
    if !can_run("deny_blocks_tcp_udp_cidr_ipv6_and_allow_wins") {
        return;
    }
    let (lab, _srv, mut fw) = setup("deny", &Ruleset::default());
    for a in ["192.0.2.2", "192.0.2.3", "198.51.100.5", "2001:db8::2"] {
        assert!(lab.reaches(a), "{a} must connect before any deny");
    }

    // One address, IPv4 and IPv6, plus CIDRs of both families.
    let stats = lab.srv.run(|| {
        fw.add(
            &SetList::Deny,
            &[
                el("192.0.2.2"),
                el("2001:db8::2"),
                el("198.51.100.0/29"),
                el("2001:db8::8/125"),
            ],
        )
        .expect("add")
    });
    assert_eq!(stats.elements, 4);
    assert!(stats.atomic);
    assert!(!lab.reaches("192.0.2.2"), "denied address connects");
    assert!(
        lab.reaches("192.0.2.3"),
        "another address must still connect"
    );
    assert!(
        !lab.reaches("198.51.100.5"),
        "address in denied /29 connects"
    );
    assert!(
        !lab.reaches("198.51.100.2"),
        "address in denied /29 connects"
    );
    assert!(
        lab.reaches("198.51.100.20"),
        "address outside the /29 blocked"
    );
    assert!(!lab.reaches("2001:db8::2"), "denied IPv6 address connects");
    assert!(
        !lab.reaches("2001:db8::9"),
        "address in denied IPv6 /125 connects"
    );
    assert!(lab.reaches("2001:db8::3"), "other IPv6 address blocked");
    assert!(lab.reaches("2001:db8::20"), "IPv6 outside the /125 blocked");

    // Listing over netlink gives back what was loaded.
    let listed = lab.srv.run(|| fw.list(&SetList::Deny).expect("list"));
    let shown: Vec<String> = listed.iter().map(|e| e.range.to_string()).collect();
    assert_eq!(
        shown,
        [
            "192.0.2.2",
            "198.51.100.0/29",
            "2001:db8::2",
            "2001:db8::8/125"
        ]
    );
    assert!(listed.iter().all(|e| e.timeout.is_none()));

    // Re-adding the same element is not an error.
    lab.srv
        .run(|| fw.add(&SetList::Deny, &[el("192.0.2.2")]).expect("re-add"));

    // Allow beats deny, for both families.
    lab.srv.run(|| {
        fw.add(&SetList::Allow, &[el("192.0.2.2"), el("2001:db8::9")])
            .expect("allow")
    });
    assert!(lab.reaches("192.0.2.2"), "allowed + denied address blocked");
    assert!(lab.reaches("2001:db8::9"), "allowed + denied IPv6 blocked");
    assert!(
        !lab.reaches("2001:db8::8"),
        "rest of the /125 must stay denied"
    );

    // Delete: exact elements; a missing one is ignored.
    lab.srv.run(|| {
        fw.delete(&SetList::Allow, &[range("192.0.2.2"), range("2001:db8::9")])
            .expect("delete allow");
        fw.delete(
            &SetList::Deny,
            &[range("198.51.100.0/29"), range("203.0.113.9")],
        )
        .expect("delete deny")
    });
    assert!(!lab.reaches("192.0.2.2"), "deny must apply again");
    assert!(lab.reaches("198.51.100.5"), "deleted CIDR still blocks");

    // An overlapping element in a later add is refused with a clear error.
    let err = lab
        .srv
        .run(|| fw.add(&SetList::Deny, &[el("192.0.2.0/30")]))
        .expect_err("overlap must be refused");
    assert!(err.to_string().contains("overlaps"), "{err}");
}

#[test]
fn temporary_elements_expire_and_refresh_restarts_the_timeout() {
    if !can_run("temporary_elements_expire_and_refresh_restarts_the_timeout") {
        return;
    }
    let (lab, _srv, mut fw) = setup("expire", &Ruleset::default());
    let added = std::time::Instant::now();
    lab.srv.run(|| {
        fw.add(
            &SetList::Deny,
            &[
                temp("192.0.2.4", 4),
                temp("192.0.2.5", 4),
                temp("2001:db8::4", 4),
            ],
        )
        .expect("add temporary")
    });
    let listed = lab.srv.run(|| fw.list(&SetList::Deny).expect("list"));
    assert_eq!(listed.len(), 3);
    for e in &listed {
        assert_eq!(e.timeout, Some(Duration::from_secs(4)));
        assert!(e.expires.is_some_and(|x| x <= Duration::from_secs(4)));
    }
    // 192.0.2.4 and .5 are adjacent: they stay separate elements.
    // Extend 192.0.2.5 to a minute (delete + add in one transaction).
    lab.srv.run(|| {
        fw.refresh(&SetList::Deny, &[temp("192.0.2.5", 60)])
            .expect("refresh")
    });
    assert!(!lab.reaches("192.0.2.4"));
    assert!(!lab.reaches("2001:db8::4"));
    assert!(
        added.elapsed() < Duration::from_millis(3500),
        "too slow to check before expiry"
    );
    std::thread::sleep(Duration::from_millis(4300).saturating_sub(added.elapsed()));
    assert!(lab.reaches("192.0.2.4"), "temporary ban did not lift");
    assert!(
        lab.reaches("2001:db8::4"),
        "temporary IPv6 ban did not lift"
    );
    assert!(!lab.reaches("192.0.2.5"), "refreshed ban lifted too early");
    let listed = lab.srv.run(|| fw.list(&SetList::Deny).expect("list"));
    let shown: Vec<String> = listed.iter().map(|e| e.range.to_string()).collect();
    assert_eq!(shown, ["192.0.2.5"]);
}

fn strict(tcp: &str, udp: &str) -> Ruleset {
    Ruleset {
        mode: Mode::Strict(PortPolicy {
            inbound: Ports {
                tcp: parse_ports(tcp).expect("tcp"),
                udp: parse_ports(udp).expect("udp"),
            },
            icmp_in: true,
            ssh_port: 2222,
            outbound: None,
            icmp_out: false,
        }),
        ..Ruleset::default()
    }
}

#[test]
fn strict_mode_admits_only_listed_ports() {
    if !can_run("strict_mode_admits_only_listed_ports") {
        return;
    }
    let (lab, _srv, mut fw) = setup("strict", &strict("80", "5353"));
    for (src, dst) in [("192.0.2.2", SRV4), ("2001:db8::2", SRV6)] {
        assert!(lab.tcp(src, dst, 80), "{src}: listed TCP port 80 closed");
        assert!(lab.tcp(src, dst, 2222), "{src}: SSH port closed");
        assert!(!lab.tcp(src, dst, 8080), "{src}: unlisted TCP 8080 open");
        assert!(lab.udp(src, dst, 5353), "{src}: listed UDP 5353 closed");
        assert!(!lab.udp(src, dst, 80), "{src}: unlisted UDP 80 open");
    }
    // Allowed addresses pass the port policy; denied ones lose listed ports.
    lab.srv.run(|| {
        fw.add(&SetList::Allow, &[el("192.0.2.3")]).expect("allow");
        fw.add(&SetList::Deny, &[el("192.0.2.4")]).expect("deny");
    });
    assert!(lab.tcp("192.0.2.3", SRV4, 8080), "allowed address blocked");
    assert!(
        !lab.tcp("192.0.2.4", SRV4, 80),
        "denied address reaches port 80"
    );
    // Back to ban-only: the policy switches to accept in the same reload.
    lab.srv
        .run(|| fw.apply(&Ruleset::default()).expect("apply"));
    assert!(
        lab.tcp("192.0.2.2", SRV4, 8080),
        "ban-only still filters ports"
    );
    assert!(!lab.tcp("192.0.2.4", SRV4, 80), "reload lost the deny set");
}

#[test]
fn advanced_filters_allow_and_deny() {
    if !can_run("advanced_filters_allow_and_deny") {
        return;
    }
    let rs = Ruleset {
        allow_filters: vec!["tcp|in|d=8080|s=192.0.2.6".parse().expect("filter")],
        deny_filters: vec![
            "tcp|in|d=8080|s=192.0.2.7".parse().expect("filter"),
            "udp|in|d=5353|s=2001:db8::/125".parse().expect("filter"),
        ],
        ..Ruleset::default()
    };
    let (lab, _srv, mut fw) = setup("filters", &rs);
    assert!(!lab.tcp("192.0.2.7", SRV4, 8080), "deny filter port open");
    assert!(
        lab.tcp("192.0.2.7", SRV4, 80),
        "deny filter blocks other ports"
    );
    assert!(!lab.udp("2001:db8::2", SRV6, 5353), "IPv6 UDP deny filter");
    assert!(lab.tcp("2001:db8::2", SRV6, 8080), "UDP filter blocks TCP");
    lab.srv
        .run(|| fw.add(&SetList::Deny, &[el("192.0.2.6")]).expect("deny"));
    assert!(
        lab.tcp("192.0.2.6", SRV4, 8080),
        "allow filter must beat deny"
    );
    assert!(
        !lab.tcp("192.0.2.6", SRV4, 80),
        "allow filter opened other ports"
    );
}

#[test]
fn blocklist_and_country_sets_block_and_replace_atomically() {
    if !can_run("blocklist_and_country_sets_block_and_replace_atomically") {
        return;
    }
    let rs = Ruleset {
        blocklists: vec![Blocklist {
            name: "test-list".into(),
            direction: ListDirection::In,
        }],
        ..Ruleset::default()
    };
    let (lab, _srv, mut fw) = setup("lists", &rs);
    let bl = SetList::blocklist("test-list").expect("name");
    // Overlapping input is merged before loading.
    let stats = lab.srv.run(|| {
        fw.replace(
            &bl,
            &[
                el("198.51.100.0/30"),
                el("198.51.100.2-198.51.100.6"),
                el("2001:db8::3"),
            ],
        )
        .expect("replace")
    });
    assert_eq!(stats.elements, 2);
    assert!(stats.atomic);
    assert!(!lab.reaches("198.51.100.5"));
    assert!(!lab.reaches("2001:db8::3"));
    assert!(lab.reaches("198.51.100.7"));
    let stats = lab.srv.run(|| {
        fw.replace(&bl, &[el("198.51.100.7"), el("2001:db8::5")])
            .expect("replace")
    });
    assert!(stats.atomic);
    assert!(lab.reaches("198.51.100.5"), "replace kept an old element");
    assert!(
        lab.reaches("2001:db8::3"),
        "replace kept an old IPv6 element"
    );
    assert!(!lab.reaches("198.51.100.7"));
    assert!(!lab.reaches("2001:db8::5"));

    lab.srv.run(|| {
        fw.replace(&SetList::CountryDeny, &[el("192.0.2.8-192.0.2.9")])
            .expect("country")
    });
    assert!(!lab.reaches("192.0.2.8"), "country range does not block");
    assert!(lab.reaches("192.0.2.7"));

    // A set of 30,000 ranges round-trips through netlink listing.
    let many: Vec<Element> = (0..30_000u32)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(0x0a00_0000u32 + i * 4);
            Element::temporary(
                IpRange::cidr(a.into(), 31).expect("cidr"),
                Duration::from_secs(3600),
            )
        })
        .collect();
    let stats = lab.srv.run(|| fw.replace(&bl, &many).expect("big replace"));
    assert_eq!(stats.elements, 30_000);
    let listed = lab.srv.run(|| fw.list(&bl).expect("list"));
    assert_eq!(listed.len(), 30_000);
    assert_eq!(listed[1].range.to_string(), "10.0.0.4/31");
    assert!(lab.reaches("198.51.100.7"), "replace kept an old element");
}

#[test]
fn reload_and_flush_leave_other_tables_untouched() {
    if !can_run("reload_and_flush_leave_other_tables_untouched") {
        return;
    }
    let lab = Lab::new("others");
    let _srv = lab.serve();
    // A stand-in for Docker's table, with a chain, a rule and a set.
    let docker = "table ip fakedocker {\n\
        set published { type ipv4_addr; elements = { 192.0.2.99 }; }\n\
        chain DOCKER { type filter hook forward priority filter; policy accept; ip daddr @published tcp dport 8080 counter accept; }\n\
        chain nat { type nat hook prerouting priority dstnat; policy accept; tcp dport 18080 counter dnat to 192.0.2.99:8080; }\n\
        }\n";
    let list_docker = || lab.srv.exec(&["nft", "list", "table", "ip", "fakedocker"]);
    lab.srv.run(|| {
        let mut c = std::process::Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write as _;
        c.stdin
            .take()
            .expect("stdin")
            .write_all(docker.as_bytes())
            .expect("write");
        assert!(c.wait().expect("wait").success());
    });
    let before = list_docker();

    let rs = fixtures::ban_only_lists();
    let mut fw = lab.srv.run(|| NftFirewall::new().expect("open"));
    lab.srv.run(|| fw.apply(&rs).expect("apply"));
    lab.srv
        .run(|| fw.add(&SetList::Deny, &[el("192.0.2.2")]).expect("deny"));
    assert!(!lab.reaches("192.0.2.2"));
    // Reload with fewer blocklists: sets of removed lists go, deny stays.
    let mut smaller = rs.clone();
    smaller.blocklists.truncate(1);
    lab.srv.run(|| fw.apply(&smaller).expect("reload"));
    lab.srv.run(|| fw.apply(&smaller).expect("reload twice"));
    assert!(
        !lab.reaches("192.0.2.2"),
        "reload lost the deny set's contents"
    );
    let sets = lab.srv.run(|| fw.existing_sets().expect("sets"));
    assert!(sets.contains(&"bl4_spamhaus_drop".to_string()));
    assert!(!sets.iter().any(|s| s.contains("dshield")), "{sets:?}");
    assert_eq!(list_docker(), before, "reload changed another table");
    let shown = lab.srv.run(|| fw.show().expect("show"));
    assert!(shown.contains("chain input"), "{shown}");

    lab.srv.run(|| fw.flush().expect("flush"));
    lab.srv.run(|| fw.flush().expect("flush again (no table)"));
    assert!(lab.reaches("192.0.2.2"), "flush left the deny in place");
    assert_eq!(list_docker(), before, "flush changed another table");
    let all = lab.srv.exec(&["nft", "list", "tables"]);
    assert_eq!(all.trim(), "table ip fakedocker");
}

#[test]
fn golden_rulesets_load_in_the_kernel() {
    if !can_run("golden_rulesets_load_in_the_kernel") {
        return;
    }
    let ns = common::Netns::new(format!("rampart-t-{}-golden", std::process::id()));
    let mut fw = ns.run(|| NftFirewall::new().expect("open"));
    for rs in [
        fixtures::ban_only(),
        fixtures::ban_only_lists(),
        fixtures::strict_csf(),
        fixtures::ban_only(),
    ] {
        ns.run(|| fw.apply(&rs).expect("apply"));
        let sets = ns.run(|| fw.existing_sets().expect("sets"));
        assert_eq!(sets.len(), rs.set_names().expect("names").len());
    }
}
