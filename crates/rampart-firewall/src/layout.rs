//! What the configuration and the blocklist definitions make of the
//! kernel: the ruleset skeleton, which lists exist, and the contents of
//! the lists that do not come from the store (blocklists, countries).

use std::path::{Path, PathBuf};

use rampart_core::config::Config;
use rampart_lists::{CountryCode, CountryDb, IntervalSet};
use rampart_nft::{
    AdvancedFilter, Blocklist, CountryAllow, Limits, Mode, PortPolicy, Ports, Ruleset, SetList,
    parse_ports,
};

use crate::blocklist::{self, ListDef};
use crate::error::{Error, Result};
use crate::segment::{Expiry, Segment};

/// The kernel layout: everything but the store's entries.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The skeleton of `table inet rampart`.
    pub ruleset: Ruleset,
    /// The blocklist definitions.
    pub blocklists: Vec<ListDef>,
    /// The state directory (blocklist caches).
    pub state_dir: PathBuf,
    /// The country database, if configured.
    pub country_database: Option<String>,
    /// `[country] deny`.
    pub country_deny: Vec<String>,
    /// `[country] allow`.
    pub country_allow: Vec<String>,
}

impl Layout {
    /// The layout of a configuration and the blocklists defined in
    /// `state_dir`.
    pub fn load(config: &Config, state_dir: &Path) -> Result<Layout> {
        let blocklists = blocklist::load_defs(state_dir)?;
        Ok(Layout {
            ruleset: ruleset(config, &blocklists)?,
            blocklists,
            state_dir: state_dir.to_path_buf(),
            country_database: config.country.database.clone(),
            country_deny: config.country.deny.clone(),
            country_allow: config.country.allow.clone(),
        })
    }

    /// Every list, in the order a rebuild loads them: allow first (so an
    /// allowed admin is never locked out mid-way), deny, blocklists,
    /// countries.
    pub fn lists(&self) -> Vec<SetList> {
        let mut v = vec![SetList::Allow, SetList::Deny];
        v.extend(
            self.blocklists
                .iter()
                .map(|d| SetList::Blocklist(d.name.clone())),
        );
        v.push(SetList::CountryDeny);
        v.push(SetList::CountryAllow);
        v
    }

    /// The contents of a list that does not come from the store: a
    /// blocklist's cached body, a country selection. Empty for the store's
    /// lists.
    pub fn static_contents(&self, list: &SetList) -> Result<Vec<Segment>> {
        let set = match list {
            SetList::Allow | SetList::Deny | SetList::Page => return Ok(Vec::new()),
            SetList::Blocklist(name) => {
                let Some(def) = self.blocklists.iter().find(|d| &d.name == name) else {
                    return Ok(Vec::new());
                };
                blocklist::cached_set(&self.state_dir, def)?.unwrap_or_default()
            }
            SetList::CountryDeny => self.countries(&self.country_deny)?,
            SetList::CountryAllow => self.countries(&self.country_allow)?,
        };
        Ok(set_segments(&set))
    }

    fn countries(&self, codes: &[String]) -> Result<IntervalSet> {
        if codes.is_empty() {
            return Ok(IntervalSet::new());
        }
        let Some(db) = country_db(self.country_database.as_deref())? else {
            return Ok(IntervalSet::new());
        };
        let codes: Vec<CountryCode> = codes.iter().filter_map(|c| c.parse().ok()).collect();
        db.ranges_for(&codes)
            .map_err(|e| Error::Layout(format!("country database: {e}")))
    }
}

/// The permanent segments of an interval set (already merged).
pub fn set_segments(set: &IntervalSet) -> Vec<Segment> {
    let v4 = set.v4_raw().iter().map(|&(a, b)| Segment {
        family: rampart_nft::Family::V4,
        first: u128::from(a),
        last: u128::from(b),
        expiry: Expiry::Never,
    });
    let v6 = set.v6_raw().iter().map(|&(a, b)| Segment {
        family: rampart_nft::Family::V6,
        first: a,
        last: b,
        expiry: Expiry::Never,
    });
    v4.chain(v6).collect()
}

/// Opens the country database (`.mmdb`, or a DB-IP / IP2Location CSV).
pub fn country_db(path: Option<&str>) -> Result<Option<CountryDb>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let db = if path.ends_with(".mmdb") {
        CountryDb::open_mmdb(path)
    } else {
        let f = std::fs::File::open(path)
            .map_err(Error::io(format!("cannot open country database {path}")))?;
        CountryDb::from_csv(std::io::BufReader::new(f))
    };
    db.map(Some)
        .map_err(|e| Error::Layout(format!("country database {path}: {e}")))
}

fn ports(s: &str, what: &str) -> Result<Vec<rampart_nft::PortRange>> {
    parse_ports(s).map_err(|e| Error::Layout(format!("{what}: {e}")))
}

fn mode(config: &Config) -> Result<Mode> {
    let f = &config.firewall;
    if !f.strict {
        return Ok(Mode::BanOnly);
    }
    Ok(Mode::Strict(PortPolicy {
        inbound: Ports {
            tcp: ports(&f.tcp_in, "firewall.tcp_in")?,
            udp: ports(&f.udp_in, "firewall.udp_in")?,
        },
        icmp_in: f.icmp_in,
        ssh_port: f.ssh_port.unwrap_or_else(detect_ssh_port),
        outbound: match &f.tcp_out {
            Some(t) => Some(Ports {
                tcp: ports(t, "firewall.tcp_out")?,
                udp: ports(f.udp_out.as_deref().unwrap_or(""), "firewall.udp_out")?,
            }),
            None => None,
        },
        icmp_out: f.icmp_out,
    }))
}

fn filters(list: &[String], key: &str) -> Result<Vec<AdvancedFilter>> {
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse::<AdvancedFilter>()
                .map_err(|e| Error::Layout(format!("firewall.{key}[{i}] {t:?}: {e}")))
        })
        .collect()
}

/// The skeleton of a configuration with these blocklists.
pub fn ruleset(config: &Config, lists: &[ListDef]) -> Result<Ruleset> {
    let country_allow = if config.country.allow.is_empty() {
        None
    } else {
        Some(CountryAllow {
            ports: match &config.country.allow_ports {
                Some(p) => Some(Ports {
                    tcp: ports(p, "country.allow_ports")?,
                    udp: ports(p, "country.allow_ports")?,
                }),
                None => None,
            },
        })
    };
    let rs = Ruleset {
        mode: mode(config)?,
        blocklists: lists
            .iter()
            .map(|d| Blocklist {
                name: d.name.clone(),
                direction: d.list_direction(),
            })
            .collect(),
        country_allow,
        allow_filters: filters(&config.firewall.allow_filters, "allow_filters")?,
        deny_filters: filters(&config.firewall.deny_filters, "deny_filters")?,
        scan_log: config
            .portscan
            .enabled
            .then(|| rampart_nft::ScanLog::new(config.portscan.nflog_group)),
        limits: limits(config)?,
        messenger: messenger(config),
    };
    rs.validate().map_err(|e| Error::Layout(e.to_string()))?;
    Ok(rs)
}

/// `[messenger]` as the kernel's redirect (`None` when it is off).
pub fn messenger(config: &Config) -> Option<rampart_nft::Messenger> {
    let m = &config.messenger;
    m.enabled.then(|| rampart_nft::Messenger {
        web_ports: m.web_ports.clone(),
        text_ports: m.text_ports().iter().map(|t| t.port).collect(),
        page_port: m.page_port,
        text_port: m.text_port,
        rate: m.kernel_rate,
        connections: m.kernel_connections,
        ipv6_prefix: config.ipv6_prefix,
    })
}

fn num(s: &str, what: &str) -> Result<u32> {
    s.trim()
        .parse()
        .map_err(|_| Error::Layout(format!("limits.{what}: {s:?} is not a number")))
}

fn port(s: &str, what: &str) -> Result<u16> {
    u16::try_from(num(s, what)?)
        .map_err(|_| Error::Layout(format!("limits.{what}: {s:?} is not a port")))
}

/// `[limits]` as the kernel rules it becomes (CSF's formats).
pub fn limits(config: &Config) -> Result<Limits> {
    let l = &config.limits;
    let mut out = Limits {
        log_group: Some(config.portscan.nflog_group),
        ipv6_prefix: config.ipv6_prefix,
        ..Limits::default()
    };
    for c in &l.conn {
        let (p, limit) = c.split_once(';').ok_or_else(|| {
            Error::Layout(format!(
                "limits.conn: {c:?}: expected \"PORT;LIMIT\" (e.g. \"80;50\")"
            ))
        })?;
        out.conn.push(rampart_nft::ConnLimit {
            port: port(p, "conn")?,
            limit: num(limit, "conn")?,
        });
    }
    for p in &l.portflood {
        let f: Vec<&str> = p.split(';').collect();
        let [pt, proto, hits, secs] = f.as_slice() else {
            return Err(Error::Layout(format!(
                "limits.portflood: {p:?}: expected \"PORT;tcp|udp;HITS;SECONDS\" (e.g. \"22;tcp;5;300\")"
            )));
        };
        let protocol = match *proto {
            "tcp" => rampart_nft::Protocol::Tcp,
            "udp" => rampart_nft::Protocol::Udp,
            other => {
                return Err(Error::Layout(format!(
                    "limits.portflood: {p:?}: protocol {other:?}: expected tcp or udp"
                )));
            }
        };
        out.port_flood.push(rampart_nft::PortFlood {
            port: port(pt, "portflood")?,
            protocol,
            hits: num(hits, "portflood")?,
            seconds: num(secs, "portflood")?,
        });
    }
    if let Some(sf) = &l.synflood {
        let (rate, burst) = sf.split_once('/').ok_or_else(|| {
            Error::Layout(format!(
                "limits.synflood: {sf:?}: expected \"RATE/BURST\" (e.g. \"50/100\")"
            ))
        })?;
        out.syn_flood = Some(rampart_nft::SynFlood {
            rate_per_second: num(rate, "synflood")?,
            burst: num(burst, "synflood")?,
        });
    }
    Ok(out)
}

/// The SSH port from sshd_config, else 22.
pub fn detect_ssh_port() -> u16 {
    std::fs::read_to_string("/etc/ssh/sshd_config")
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("Port ").and_then(|p| p.trim().parse().ok()))
        })
        .unwrap_or(22)
}
