//! Rulesets shared by the golden tests and the namespace tests.
#![allow(dead_code)]

use rampart_nft::{
    AdvancedFilter, Blocklist, ConnLimit, CountryAllow, Limits, ListDirection, Mode, PortFlood,
    PortPolicy, Ports, Protocol, Ruleset, ScanLog, SynFlood, parse_ports,
};

fn ports(s: &str) -> Vec<rampart_nft::PortRange> {
    parse_ports(s).expect("fixture ports")
}

fn filters(list: &[&str]) -> Vec<AdvancedFilter> {
    list.iter()
        .map(|f| f.parse().expect("fixture filter"))
        .collect()
}

/// The default: ban-only, no blocklists.
pub fn ban_only() -> Ruleset {
    Ruleset::default()
}

/// Ban-only with blocklists of every direction, filters and country-allow
/// on some ports.
pub fn ban_only_lists() -> Ruleset {
    Ruleset {
        mode: Mode::BanOnly,
        blocklists: vec![
            Blocklist {
                name: "spamhaus_drop".into(),
                direction: ListDirection::Both,
            },
            Blocklist {
                name: "dshield".into(),
                direction: ListDirection::In,
            },
            Blocklist {
                name: "egress-c2".into(),
                direction: ListDirection::Out,
            },
        ],
        country_allow: Some(CountryAllow {
            ports: Some(Ports {
                tcp: ports("22,2083"),
                udp: vec![],
            }),
        }),
        allow_filters: filters(&[
            "tcp|in|d=3306|s=192.0.2.10",
            "icmp|in|d=ping|s=2001:db8::/32",
        ]),
        deny_filters: filters(&["tcp|in|d=25|s=198.51.100.0/24", "tcp|out|d=25||u=1001"]),
        ..Ruleset::default()
    }
}

/// CSF's generic strict policy with egress rules.
pub fn strict_csf() -> Ruleset {
    Ruleset {
        mode: Mode::Strict(PortPolicy {
            inbound: Ports {
                tcp: ports("20,21,22,25,53,853,80,110,143,443,465,587,993,995"),
                udp: ports("20,21,53,853,80,443"),
            },
            icmp_in: true,
            ssh_port: 2222,
            outbound: Some(Ports {
                tcp: ports("20,21,22,25,53,853,80,110,113,443,587,993,995"),
                udp: ports("20,21,53,853,113,123"),
            }),
            icmp_out: true,
        }),
        blocklists: vec![Blocklist {
            name: "firehol_level1".into(),
            direction: ListDirection::In,
        }],
        country_allow: None,
        allow_filters: filters(&["tcp|in|d=8443|s=203.0.113.0/24"]),
        deny_filters: vec![],
        ..Ruleset::default()
    }
}

/// Ban-only with port-scan logging and every kind of kernel limit.
pub fn ban_only_guards() -> Ruleset {
    Ruleset {
        scan_log: Some(ScanLog::new(5)),
        limits: Limits {
            log_group: Some(5),
            conn: vec![
                ConnLimit { port: 22, limit: 5 },
                ConnLimit {
                    port: 80,
                    limit: 20,
                },
            ],
            port_flood: vec![
                PortFlood {
                    port: 22,
                    protocol: Protocol::Tcp,
                    hits: 5,
                    seconds: 300,
                },
                PortFlood {
                    port: 53,
                    protocol: Protocol::Udp,
                    hits: 20,
                    seconds: 5,
                },
            ],
            syn_flood: Some(SynFlood {
                rate_per_second: 100,
                burst: 150,
            }),
            ipv6_prefix: 64,
        },
        ..Ruleset::default()
    }
}

/// CSF's strict policy with port-scan logging and an unlogged limit.
pub fn strict_guards() -> Ruleset {
    Ruleset {
        scan_log: Some(ScanLog {
            group: 7,
            rate_per_second: 30,
        }),
        limits: Limits {
            conn: vec![ConnLimit {
                port: 2222,
                limit: 3,
            }],
            ipv6_prefix: 128,
            ..Limits::default()
        },
        ..strict_csf()
    }
}

/// Ban-only with the messenger on (web and mail/FTP ports redirected).
pub fn ban_only_messenger() -> Ruleset {
    Ruleset {
        messenger: Some(rampart_nft::Messenger {
            web_ports: vec![80, 443],
            text_ports: vec![25, 587, 110, 143, 21],
            page_port: 8701,
            text_port: 8702,
            rate: 10,
            connections: 8,
            ipv6_prefix: 64,
        }),
        ..Ruleset::default()
    }
}
