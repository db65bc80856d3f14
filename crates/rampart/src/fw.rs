//! The firewall commands: deny, allow, ignore, unblock, list, why, apply,
//! confirm, flush, status, show-rules, blocklist. The store
//! (`STATE_DIR/rampart.db`) is the source of truth; the kernel (`table inet
//! rampart`) is made to match it.

use crate::cli::{
    AddrArgs, ApplyArgs, BlocklistAddArgs, BlocklistCmd, DenyArgs, Global, ListArgs, ReadArgs,
};
use crate::exit;
use crate::settings::{self, now};
use anyhow::{Context, Result, anyhow, bail};
use rampart_core::addr::{Net, is_never_blockable};
use rampart_core::config::Config;
use rampart_core::explain::{self, Reason};
use rampart_core::rule::parse_duration;
use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_lists::{CountryCode, CountryDb, IntervalSet, ParseOptions, parse_list};
use rampart_nft::{
    AdvancedFilter, Blocklist, CountryAllow, DryRunFirewall, Element, Firewall, IpRange,
    ListDirection, Mode, NftFirewall, PortPolicy, Ports, Ruleset, SetList, parse_ports,
};
use rampart_store::{Entry, Kind, ListFilter, NewEntry, Origin, Permanence, Removal, Store};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A blocklist definition (`rampart blocklist add`), kept in
/// `STATE_DIR/blocklists.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListDef {
    pub name: String,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    pub refresh_secs: u64,
    pub direction: String,
    #[serde(default)]
    pub max_entries: Option<usize>,
    /// HTTP validators of the last download.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub updated: Option<Timestamp>,
    #[serde(default)]
    pub entries: usize,
}

/// Everything a firewall command needs.
pub struct Ctx {
    pub config: Config,
    pub state_dir: PathBuf,
    pub store: Store,
    pub fw: Box<dyn Firewall>,
    dry: Option<DryRunView>,
}

/// In `--dry-run`, the operations are printed instead of executed.
struct DryRunView;

/// The state directory, created (0700) if missing and verified: owned by
/// root, not writable by others, no symlinks (`rampart_store::StateDir`).
fn state_dir(global: &Global) -> Result<PathBuf> {
    Ok(rampart_store::StateDir::open(&global.state_dir)?
        .path()
        .to_path_buf())
}

impl Ctx {
    pub fn open(global: &Global, dry_run: bool) -> Result<Ctx> {
        let config = settings::load_config_only(global)?;
        let dir = state_dir(global)?;
        let store = Store::open(dir.join("rampart.db")).context("cannot open the ban store")?;
        let fw: Box<dyn Firewall> = if dry_run {
            Box::new(DryRunFirewall::new())
        } else {
            let mut f = NftFirewall::new().context(
                "cannot reach nftables (is the nft program installed, and are you root?)",
            )?;
            if std::io::stderr().is_terminal() {
                f.set_progress(Some(Box::new(|done, total| {
                    if total > 10_000 {
                        eprint!("\rloading {done}/{total} elements");
                        if done == total {
                            eprintln!();
                        }
                    }
                })));
            }
            Box::new(f)
        };
        Ok(Ctx {
            config,
            state_dir: dir,
            store,
            fw,
            dry: dry_run.then_some(DryRunView),
        })
    }

    fn lists_path(&self) -> PathBuf {
        self.state_dir.join("blocklists.json")
    }

    fn list_defs(&self) -> Result<Vec<ListDef>> {
        match std::fs::read_to_string(self.lists_path()) {
            Ok(t) => serde_json::from_str(&t)
                .with_context(|| format!("{} is corrupt", self.lists_path().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).context("cannot read blocklist definitions"),
        }
    }

    fn save_list_defs(&self, defs: &[ListDef]) -> Result<()> {
        let tmp = self.lists_path().with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(defs)?)?;
        std::fs::rename(&tmp, self.lists_path())?;
        Ok(())
    }

    fn list_cache(&self, name: &str) -> PathBuf {
        self.state_dir
            .join("blocklists")
            .join(format!("{name}.list"))
    }

    /// The static skeleton from the configuration and the blocklist definitions.
    pub fn ruleset(&self) -> Result<Ruleset> {
        let f = &self.config.firewall;
        let ports =
            |s: &str, what: &str| parse_ports(s).map_err(|e| anyhow!("firewall.{what}: {e}"));
        let mode = if f.strict {
            Mode::Strict(PortPolicy {
                inbound: Ports {
                    tcp: ports(&f.tcp_in, "tcp_in")?,
                    udp: ports(&f.udp_in, "udp_in")?,
                },
                icmp_in: f.icmp_in,
                ssh_port: f.ssh_port.unwrap_or_else(detect_ssh_port),
                outbound: match &f.tcp_out {
                    Some(t) => Some(Ports {
                        tcp: ports(t, "tcp_out")?,
                        udp: ports(f.udp_out.as_deref().unwrap_or(""), "udp_out")?,
                    }),
                    None => None,
                },
                icmp_out: f.icmp_out,
            })
        } else {
            Mode::BanOnly
        };
        let filters = |list: &[String], key: &str| -> Result<Vec<AdvancedFilter>> {
            list.iter()
                .enumerate()
                .map(|(i, t)| {
                    t.parse::<AdvancedFilter>()
                        .map_err(|e| anyhow!("firewall.{key}[{i}] {t:?}: {e}"))
                })
                .collect()
        };
        let blocklists = self
            .list_defs()?
            .into_iter()
            .map(|d| Blocklist {
                name: d.name,
                direction: direction(&d.direction),
            })
            .collect();
        let country_allow = if self.config.country.allow.is_empty() {
            None
        } else {
            Some(CountryAllow {
                ports: match &self.config.country.allow_ports {
                    Some(p) => Some(Ports {
                        tcp: ports(p, "country.allow_ports")?,
                        udp: ports(p, "country.allow_ports")?,
                    }),
                    None => None,
                },
            })
        };
        let rs = Ruleset {
            mode,
            blocklists,
            country_allow,
            allow_filters: filters(&self.config.firewall.allow_filters, "allow_filters")?,
            deny_filters: filters(&self.config.firewall.deny_filters, "deny_filters")?,
            scan_log: self
                .config
                .portscan
                .enabled
                .then(|| rampart_nft::ScanLog::new(self.config.portscan.nflog_group)),
            limits: self.limits()?,
        };
        rs.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(rs)
    }

    /// `[limits]` as the kernel rules it becomes (CSF's formats).
    pub fn limits(&self) -> Result<rampart_nft::Limits> {
        let l = &self.config.limits;
        let num = |s: &str, what: &str| -> Result<u32> {
            s.trim()
                .parse()
                .map_err(|_| anyhow!("limits.{what}: {s:?} is not a number"))
        };
        let mut out = rampart_nft::Limits {
            log_group: Some(self.config.portscan.nflog_group),
            ipv6_prefix: self.config.ipv6_prefix,
            ..rampart_nft::Limits::default()
        };
        for c in &l.conn {
            let (port, limit) = c.split_once(';').ok_or_else(|| {
                anyhow!("limits.conn: {c:?}: expected \"PORT;LIMIT\" (e.g. \"80;50\")")
            })?;
            out.conn.push(rampart_nft::ConnLimit {
                port: num(port, "conn")? as u16,
                limit: num(limit, "conn")?,
            });
        }
        for p in &l.portflood {
            let f: Vec<&str> = p.split(';').collect();
            let [port, proto, hits, secs] = f.as_slice() else {
                bail!(
                    "limits.portflood: {p:?}: expected \"PORT;tcp|udp;HITS;SECONDS\" (e.g. \"22;tcp;5;300\")"
                );
            };
            let protocol = match *proto {
                "tcp" => rampart_nft::Protocol::Tcp,
                "udp" => rampart_nft::Protocol::Udp,
                other => bail!("limits.portflood: {p:?}: protocol {other:?}: expected tcp or udp"),
            };
            out.port_flood.push(rampart_nft::PortFlood {
                port: num(port, "portflood")? as u16,
                protocol,
                hits: num(hits, "portflood")?,
                seconds: num(secs, "portflood")?,
            });
        }
        if let Some(sf) = &l.synflood {
            let (rate, burst) = sf.split_once('/').ok_or_else(|| {
                anyhow!("limits.synflood: {sf:?}: expected \"RATE/BURST\" (e.g. \"50/100\")")
            })?;
            out.syn_flood = Some(rampart_nft::SynFlood {
                rate_per_second: num(rate, "synflood")?,
                burst: num(burst, "synflood")?,
            });
        }
        Ok(out)
    }

    /// Loads the skeleton (set contents are kept): after a set operation
    /// failed because our table is not in the kernel yet.
    fn ensure_table(&mut self) -> Result<()> {
        if self.dry.is_some() {
            return Ok(());
        }
        let rs = self.ruleset()?;
        self.fw.apply(&rs).context("cannot load the ruleset")
    }

    fn print_dry_run(&self) {
        if self.dry.is_some() {
            eprintln!("(dry run: the kernel was not changed)");
        }
    }
}

fn direction(s: &str) -> ListDirection {
    match s {
        "out" => ListDirection::Out,
        "both" => ListDirection::Both,
        _ => ListDirection::In,
    }
}

/// Ports with a listening socket on a non-loopback address, from /proc
/// (`/proc/net/tcp{,6}` state 0A; UDP: bound sockets): what strict mode
/// should probably keep open.
pub fn listening_ports() -> Ports {
    fn scan(path: &str, tcp: bool) -> Vec<u16> {
        let Ok(t) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        let mut v: Vec<u16> = t
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (local, state) = (f.get(1)?, f.get(3)?);
                if tcp && *state != "0A" {
                    return None;
                }
                let (addr, port) = local.split_once(':')?;
                // skip loopback-only listeners (127.x / ::1)
                let loopback = addr == "0100007F"
                    || addr == "00000000000000000000000001000000"
                    || addr.ends_with("7F");
                if loopback {
                    return None;
                }
                u16::from_str_radix(port, 16).ok().filter(|p| *p != 0)
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    let mut tcp = scan("/proc/net/tcp", true);
    tcp.extend(scan("/proc/net/tcp6", true));
    tcp.sort_unstable();
    tcp.dedup();
    let mut udp = scan("/proc/net/udp", false);
    udp.extend(scan("/proc/net/udp6", false));
    udp.sort_unstable();
    udp.dedup();
    Ports {
        tcp: tcp.into_iter().map(rampart_nft::PortRange::one).collect(),
        udp: udp.into_iter().map(rampart_nft::PortRange::one).collect(),
    }
}

/// The SSH port from sshd_config, else 22.
fn detect_ssh_port() -> u16 {
    std::fs::read_to_string("/etc/ssh/sshd_config")
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("Port ").and_then(|p| p.trim().parse().ok()))
        })
        .unwrap_or(22)
}

fn range_of(net: Net) -> Result<IpRange> {
    IpRange::cidr(net.addr, net.prefix).map_err(|e| anyhow!("{e}"))
}

fn parse_target(s: &str) -> Result<Net> {
    Net::parse(s).ok_or_else(|| anyhow!("{s:?} is not an IPv4/IPv6 address or CIDR (e.g. 198.51.100.7, 203.0.113.0/24, 2001:db8::/48)"))
}

fn parse_for(d: Option<&str>) -> Result<Option<u64>> {
    match d {
        None => Ok(None),
        Some(t) => match parse_duration(t).map_err(|e| anyhow!("--for: {e}"))? {
            Some(0) => bail!("--for: the duration must be positive"),
            other => Ok(other),
        },
    }
}

/// The address of the SSH client running this command, if any.
fn ssh_client() -> Option<IpAddr> {
    let v = std::env::var("SSH_CONNECTION")
        .or_else(|_| std::env::var("SSH_CLIENT"))
        .ok()?;
    v.split_whitespace().next()?.parse().ok()
}

/// Why `net` must not be denied without `--force`, if it must not.
fn lockout_reason(ctx: &Ctx, net: Net, now: Timestamp) -> Result<Option<String>> {
    if is_never_blockable(net.addr) && net.is_host() {
        return Ok(Some(format!(
            "{net} is a loopback/link-local/multicast address"
        )));
    }
    let own = settings::own_addresses();
    if let Some(o) = own
        .iter()
        .find(|o| net.contains(o.addr) && !is_never_blockable(o.addr))
    {
        return Ok(Some(format!(
            "{net} contains this host's own address {}",
            o.addr
        )));
    }
    if let Some(c) = ssh_client()
        && net.contains(c)
    {
        return Ok(Some(format!(
            "{net} contains {c}, the SSH client running this command (you would lock yourself out)"
        )));
    }
    for e in ctx.store.covering(net.addr, now)? {
        if matches!(e.kind, Kind::Allow | Kind::Ignore) {
            return Ok(Some(format!(
                "{net} is on the {} list ({})",
                e.kind, e.target
            )));
        }
    }
    if ctx.config.ignore.iter().any(|n| n.contains(net.addr)) {
        return Ok(Some(format!(
            "{net} is ignored in the configuration ([detect] ignore)"
        )));
    }
    Ok(None)
}

fn human_duration(secs: u64) -> String {
    match secs {
        s if s >= 86400 && s % 86400 == 0 => format!("{}d", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `rampart deny` and `rampart allow`.
pub fn deny_or_allow(global: &Global, a: &DenyArgs, kind: Kind) -> Result<u8> {
    let mut ctx = Ctx::open(global, a.dry_run)?;
    let now = now();
    let net = parse_target(&a.addr)?;
    if kind == Kind::Deny
        && !a.force
        && let Some(why) = lockout_reason(&ctx, net, now)?
    {
        eprintln!("rampart: refusing to deny {net}: {why}. Use --force if you really mean it.");
        return Ok(exit::FOUND_PROBLEMS);
    }
    let secs = parse_for(a.duration.as_deref())?;
    let expires = secs.map(|s| now + s as i64);
    let mut e = NewEntry::new(kind, net, Origin::Manual, "manual", now, expires);
    // the country, when a database is configured: "(US/United States)"
    let country = country_db(&ctx.config)
        .ok()
        .flatten()
        .and_then(|db| db.country_of(net.addr).ok().flatten());
    e.country = country.as_ref().map(ToString::to_string);
    let text = a.text.clone();
    let lookup = e
        .country
        .as_deref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let why = text
        .as_deref()
        .map(|t| format!(": {t}"))
        .unwrap_or_default();
    e.summary = match kind {
        Kind::Deny => format!("Manually denied: {net}{lookup}{why}"),
        _ => format!("Manually allowed: {net}{lookup}{why}"),
    };
    e.comment = text;
    ctx.store.add(&e).context("cannot record the entry")?;
    let list = if kind == Kind::Deny {
        SetList::Deny
    } else {
        SetList::Allow
    };
    let elem = Element {
        range: range_of(net)?,
        timeout: secs.map(Duration::from_secs),
    };
    // refresh = delete + add: a new duration replaces the old one on any
    // kernel. If our table is not loaded yet, load the skeleton and retry.
    if ctx.fw.refresh(&list, std::slice::from_ref(&elem)).is_err() {
        ctx.ensure_table()?;
        ctx.fw.refresh(&list, &[elem]).with_context(|| {
            format!("the kernel refused the {kind} entry (it is recorded; `rampart apply` retries)")
        })?;
    }
    let verb = if kind == Kind::Deny {
        "Denied"
    } else {
        "Allowed"
    };
    match secs {
        Some(s) => println!(
            "{verb} {net} for {} (until {}).",
            human_duration(s),
            format_rfc3339(now + s as i64)
        ),
        None => println!("{verb} {net} permanently."),
    }
    ctx.print_dry_run();
    Ok(exit::OK)
}

/// `rampart ignore`.
pub fn ignore(global: &Global, a: &AddrArgs) -> Result<u8> {
    let mut ctx = Ctx::open(global, false)?;
    let now = now();
    let net = parse_target(&a.addr)?;
    let mut e = NewEntry::new(Kind::Ignore, net, Origin::Manual, "manual", now, None);
    e.summary = format!("Ignored by detectors: {net}");
    e.comment = a.comment.clone();
    ctx.store.add(&e)?;
    println!(
        "Ignoring {net}: detectors will never block it (the port policy still applies; use `rampart allow` to open the firewall to it)."
    );
    Ok(exit::OK)
}

/// `rampart unblock`.
pub fn unblock(global: &Global, a: &AddrArgs) -> Result<u8> {
    let mut ctx = Ctx::open(global, a.dry_run)?;
    let now = now();
    let net = parse_target(&a.addr)?;
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "root".into());
    let u = ctx
        .store
        .unblock(net, &Removal::by(who, a.comment.clone()), now)?;
    let ranges: Vec<IpRange> = u
        .removed
        .iter()
        .map(|e| range_of(e.target))
        .collect::<Result<_>>()?;
    if !ranges.is_empty()
        && let Err(e) = ctx.fw.delete(&SetList::Deny, &ranges)
    {
        // no table loaded (nothing to remove from the kernel), or a kernel error
        eprintln!(
            "rampart: note: the kernel was not changed ({e}); the store is updated and `rampart apply` syncs it"
        );
    }
    // a running daemon forgets what it counted against the address
    let forgot = crate::ctl::request(
        &ctx.state_dir,
        &serde_json::json!({"cmd": "forget", "addr": net.to_string()}),
    );
    if u.removed.is_empty() {
        println!("{net} was not on the deny list.");
    }
    if forgot.is_some_and(|r| r["forgotten"].as_u64().unwrap_or(0) > 0) {
        println!("The daemon's failure counts for {net} were reset.");
    }
    for e in &u.removed {
        println!("Unblocked {} (was: {}).", e.target, e.summary);
    }
    for e in &u.covering {
        println!(
            "Still blocked: {} covers {net} ({}); unblock {} to lift it.",
            e.target, e.summary, e.target
        );
    }
    ctx.print_dry_run();
    Ok(if u.removed.is_empty() {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

fn entry_json(e: &Entry, now: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "id": e.id, "kind": e.kind, "target": e.target.to_string(), "reason": e.reason, "rule": e.rule,
        "summary": e.summary, "evidence": e.evidence, "country": e.country, "origin": e.origin,
        "comment": e.comment, "since": format_rfc3339(e.since), "created": format_rfc3339(e.created),
        "expires": e.expires.map(format_rfc3339), "permanent": e.expires.is_none(),
        "remaining_secs": e.remaining(now),
    })
}

/// `rampart list`.
pub fn list(global: &Global, a: &ListArgs) -> Result<u8> {
    let ctx = Ctx::open(global, true)?;
    let now = now();
    let kinds: Vec<Kind> = [
        (a.deny, Kind::Deny),
        (a.allow, Kind::Allow),
        (a.ignore, Kind::Ignore),
    ]
    .into_iter()
    .filter_map(|(on, k)| on.then_some(k))
    .collect();
    let mut entries = Vec::new();
    for k in if kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        kinds
    } {
        let f = ListFilter {
            kind: Some(k),
            permanence: if a.temp {
                Permanence::Temporary
            } else {
                Permanence::Any
            },
            origin: None,
        };
        entries.extend(ctx.store.list(&f, now)?);
    }
    if a.json {
        let v: Vec<_> = entries.iter().map(|e| entry_json(e, now)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        println!("No entries.");
        return Ok(exit::OK);
    }
    println!(
        "{:<6} {:<28} {:<10} {:<12} {:<10} reason",
        "kind", "target", "origin", "expires in", "since"
    );
    for e in &entries {
        let left = e
            .remaining(now)
            .map(human_duration)
            .unwrap_or_else(|| "permanent".into());
        println!(
            "{:<6} {:<28} {:<10} {:<12} {:<10} {}",
            e.kind.as_str(),
            e.target.to_string(),
            e.origin.as_str(),
            left,
            &format_rfc3339(e.since)[..10],
            e.summary
        );
    }
    Ok(exit::OK)
}

fn reason_record<'a>(reasons: &'a [Reason], code: &str) -> Option<&'a Reason> {
    reasons.iter().find(|r| r.code == code)
}

/// `rampart why`.
pub fn why(global: &Global, a: &ReadArgs) -> Result<u8> {
    let ctx = Ctx::open(global, true)?;
    let now = now();
    let ip: IpAddr = parse_target(&a.addr)?.addr;
    let reasons = explain::builtin();
    let entries = ctx.store.covering(ip, now)?;
    let history = ctx.store.history_for(ip)?;
    let allowed = entries.iter().find(|e| e.kind == Kind::Allow);
    let denied: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Deny).collect();
    let ignored = entries.iter().find(|e| e.kind == Kind::Ignore);
    // blocklists and countries
    let mut lists = Vec::new();
    for d in ctx.list_defs()? {
        if let Ok(body) = std::fs::read(ctx.list_cache(&d.name))
            && let Ok(p) = parse_list(&body, &ParseOptions::default())
            && p.set.contains(ip)
        {
            lists.push(d.name.clone());
        }
    }
    let country = country_db(&ctx.config)
        .ok()
        .flatten()
        .and_then(|db| db.country_of(ip).ok().flatten());
    let cc = country.as_ref().map(|c| c.code.to_string());
    let country_denied = cc
        .as_ref()
        .is_some_and(|c| ctx.config.country.deny.contains(c));
    let country_not_allowed = !ctx.config.country.allow.is_empty()
        && cc
            .as_ref()
            .is_none_or(|c| !ctx.config.country.allow.contains(c));
    let blocked = allowed.is_none()
        && (!denied.is_empty() || !lists.is_empty() || country_denied || country_not_allowed);
    let explanations: Vec<serde_json::Value> = denied
        .iter()
        .filter_map(|e| reason_record(&reasons, &e.reason))
        .map(|r| serde_json::json!({"reason": r.code, "title": r.title, "explanation": r.explanation, "remedy": r.remedy}))
        .collect();
    let counts = crate::ctl::request(
        &ctx.state_dir,
        &serde_json::json!({"cmd": "counts", "addr": ip.to_string()}),
    )
    .and_then(|r| r.get("counts").cloned());
    if a.json {
        let v = serde_json::json!({
            "address": ip.to_string(),
            "detector_counts": counts,
            "blocked": blocked,
            "allowed": allowed.is_some(),
            "ignored": ignored.is_some(),
            "entries": entries.iter().map(|e| entry_json(e, now)).collect::<Vec<_>>(),
            "blocklists": lists,
            "country": country.as_ref().map(|c| c.to_string()),
            "country_blocked": country_denied || country_not_allowed,
            "explanations": explanations,
            "history": history.iter().map(|h| serde_json::json!({
                "entry": entry_json(&h.entry, now), "ended": format_rfc3339(h.ended),
                "how": h.end, "by": h.by, "comment": h.comment})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    let cstr = country
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    if let Some(e) = allowed {
        println!(
            "{ip}{cstr} is ALLOWED by {} since {}{}: {}",
            e.target,
            format_rfc3339(e.since),
            until(e),
            e.summary
        );
    } else if blocked {
        println!("{ip}{cstr} is BLOCKED.");
    } else {
        println!("{ip}{cstr} is not blocked.");
    }
    for e in &denied {
        println!();
        println!(
            "  {} — deny entry {} (origin {}) since {}{}",
            e.summary,
            e.target,
            e.origin,
            format_rfc3339(e.since),
            until(e)
        );
        if let Some(r) = &e.rule {
            println!("  rule: {r}");
        }
        if !e.evidence.is_empty() {
            println!("  evidence:");
            for l in &e.evidence {
                println!("    | {l}");
            }
        }
        if let Some(r) = reason_record(&reasons, &e.reason) {
            println!("  What happened: {}", r.explanation);
            println!("  What to do: {}", r.remedy);
        }
    }
    for l in &lists {
        println!("  listed in blocklist {l} (known-malicious addresses)");
    }
    if country_denied {
        println!(
            "  its country {} is blocked ([country] deny)",
            cc.as_deref().unwrap_or("?")
        );
    }
    if country_not_allowed {
        println!("  its country is not in the allowed countries ([country] allow)");
    }
    if let Some(e) = ignored {
        println!(
            "  ignored by detectors ({}): detectors never block it",
            e.target
        );
    }
    match counts.as_ref().and_then(|c| c.as_array()) {
        Some(list) if !list.is_empty() => {
            println!("  the running daemon has counted against it:");
            for c in list {
                println!(
                    "    {} failure(s) for {} (a ban at {} within {} s; last {})",
                    c["count"],
                    c["group"].as_str().unwrap_or(""),
                    c["threshold"],
                    c["window_secs"],
                    c["last_seen"].as_str().unwrap_or("")
                );
            }
        }
        Some(_) => println!("  the running daemon has counted nothing against it"),
        None => {}
    }
    if !history.is_empty() {
        println!("\n  earlier entries:");
        for h in history.iter().take(10) {
            println!(
                "    {} {} — ended {} ({})",
                h.entry.kind,
                h.entry.summary,
                format_rfc3339(h.ended),
                h.end.as_str()
            );
        }
    }
    Ok(exit::OK)
}

fn until(e: &Entry) -> String {
    e.expires
        .map(|t| format!(" until {}", format_rfc3339(t)))
        .unwrap_or_else(|| ", permanent".into())
}

fn country_db(config: &Config) -> Result<Option<CountryDb>> {
    let Some(path) = &config.country.database else {
        return Ok(None);
    };
    let db = if path.ends_with(".mmdb") {
        CountryDb::open_mmdb(path)
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("cannot open country database {path}"))?;
        CountryDb::from_csv(std::io::BufReader::new(f))
    };
    Ok(Some(
        db.map_err(|e| anyhow!("country database {path}: {e}"))?,
    ))
}

fn elements(set: &IntervalSet, timeout: Option<Duration>) -> Vec<Element> {
    set.cidrs()
        .into_iter()
        .filter_map(|n| IpRange::cidr(n.addr, n.prefix).ok())
        .map(|range| Element { range, timeout })
        .collect()
}

/// Makes the kernel match the store and the configuration: the skeleton,
/// then every list's contents (atomically per list).
pub fn apply_all(ctx: &mut Ctx) -> Result<String> {
    let now = now();
    let expired = ctx.store.expire(now)?;
    let rs = ctx.ruleset()?;
    let mut report = Vec::new();
    if ctx.config.firewall.strict {
        // The admin applying a default-deny policy over SSH keeps their
        // session: their address is allowed for a day (the SSH port itself
        // always stays open).
        if let Some(c) = ssh_client() {
            let net = Net::host(c);
            let mut e = NewEntry::new(
                Kind::Allow,
                net,
                Origin::Manual,
                "manual",
                now,
                Some(now + 86400),
            );
            e.summary = format!("SSH client of `rampart apply` in strict mode: {net}");
            ctx.store.add(&e)?;
            report.push(format!("kept your SSH client {net} allowed for 1d"));
        }
        let open = listening_ports();
        let configured = parse_ports(&ctx.config.firewall.tcp_in).unwrap_or_default();
        let closed: Vec<String> = open
            .tcp
            .iter()
            .filter(|p| {
                !configured
                    .iter()
                    .any(|r| r.first <= p.first && p.first <= r.last)
            })
            .map(|p| p.first.to_string())
            .collect();
        if !closed.is_empty() {
            eprintln!(
                "rampart: note: strict mode closes TCP ports that have listeners on this host: {} (add them to [firewall] tcp_in if they should be reachable)",
                closed.join(",")
            );
        }
    }
    ctx.fw.apply(&rs).context("cannot load the ruleset")?;
    let active = ctx.store.active(now)?;
    for (kind, list) in [(Kind::Deny, SetList::Deny), (Kind::Allow, SetList::Allow)] {
        let elems: Vec<Element> = active
            .iter()
            .filter(|a| a.kind == kind)
            .filter_map(|a| {
                Some(Element {
                    range: range_of(a.target).ok()?,
                    timeout: a.remaining.map(Duration::from_secs),
                })
            })
            .collect();
        let st = ctx
            .fw
            .replace(&list, &elems)
            .with_context(|| format!("cannot load the {kind} list"))?;
        report.push(format!("{kind}: {} entries", st.elements));
    }
    for d in ctx.list_defs()? {
        let Ok(body) = std::fs::read(ctx.list_cache(&d.name)) else {
            report.push(format!(
                "blocklist {}: not downloaded yet (rampart blocklist update {})",
                d.name, d.name
            ));
            continue;
        };
        let p = parse_list(&body, &list_options(&d))
            .map_err(|e| anyhow!("blocklist {}: {e}", d.name))?;
        let st = ctx
            .fw
            .replace(&SetList::Blocklist(d.name.clone()), &elements(&p.set, None))?;
        report.push(format!("blocklist {}: {} ranges", d.name, st.elements));
    }
    if let Some(db) = country_db(&ctx.config)? {
        let codes = |v: &[String]| -> Vec<CountryCode> {
            v.iter().filter_map(|c| c.parse().ok()).collect()
        };
        let deny = db
            .ranges_for(&codes(&ctx.config.country.deny))
            .map_err(|e| anyhow!("{e}"))?;
        let st = ctx
            .fw
            .replace(&SetList::CountryDeny, &elements(&deny, None))?;
        report.push(format!("denied countries: {} ranges", st.elements));
        if !ctx.config.country.allow.is_empty() {
            let allow = db
                .ranges_for(&codes(&ctx.config.country.allow))
                .map_err(|e| anyhow!("{e}"))?;
            let st = ctx
                .fw
                .replace(&SetList::CountryAllow, &elements(&allow, None))?;
            report.push(format!("allowed countries: {} ranges", st.elements));
        }
    }
    if !expired.is_empty() {
        report.push(format!(
            "{} expired entries moved to history",
            expired.len()
        ));
    }
    Ok(report.join("; "))
}

/// `rampart apply [--confirm SECS]`.
pub fn apply(global: &Global, a: &ApplyArgs) -> Result<u8> {
    let mut ctx = Ctx::open(global, a.dry_run)?;
    if let Some(secs) = a.confirm {
        arm_rollback(&ctx, secs)?;
    }
    let report = apply_all(&mut ctx)?;
    println!("Applied: {report}.");
    if let Some(secs) = a.confirm {
        println!(
            "Run `rampart confirm` within {secs} seconds, or the previous ruleset comes back."
        );
    }
    ctx.print_dry_run();
    Ok(exit::OK)
}

fn rollback_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("rollback.nft"), dir.join("rollback.pending"))
}

/// Saves the current table and starts a detached timer that restores it
/// unless `rampart confirm` removes the marker first.
fn arm_rollback(ctx: &Ctx, secs: u64) -> Result<()> {
    let (snap, marker) = rollback_paths(&ctx.state_dir);
    let current = std::process::Command::new("nft")
        .args(["list", "table", "inet", "rampart"])
        .output()
        .context("cannot run nft")?;
    let mut text = String::from("table inet rampart {}\ndelete table inet rampart\n");
    if current.status.success() {
        text.push_str(&String::from_utf8_lossy(&current.stdout));
    }
    std::fs::write(&snap, text)?;
    std::fs::write(&marker, b"")?;
    let script = format!(
        "sleep {secs}; if [ -e '{m}' ]; then nft -f '{s}' && rm -f '{m}' && logger -t rampart 'apply not confirmed: previous ruleset restored'; fi",
        m = marker.display(),
        s = snap.display()
    );
    std::process::Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start the rollback timer (setsid)")?;
    Ok(())
}

/// `rampart reload`: through the control socket.
pub fn reload(global: &Global) -> Result<u8> {
    match crate::ctl::request(&global.state_dir, &serde_json::json!({"cmd": "reload"})) {
        Some(r) => {
            println!("{}", r["message"].as_str().unwrap_or("reloaded"));
            Ok(if r["ok"] == true {
                exit::OK
            } else {
                exit::CONFIG
            })
        }
        None => {
            eprintln!(
                "rampart: no daemon is running (nothing answers on {})",
                crate::ctl::socket_path(&global.state_dir).display()
            );
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

/// `rampart confirm`.
pub fn confirm(global: &Global) -> Result<u8> {
    let dir = state_dir(global)?;
    let (_, marker) = rollback_paths(&dir);
    match std::fs::remove_file(&marker) {
        Ok(()) => {
            println!("Confirmed: the new ruleset stays.");
            Ok(exit::OK)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "Nothing to confirm (no `apply --confirm` pending, or it already rolled back)."
            );
            Ok(exit::FOUND_PROBLEMS)
        }
        Err(e) => Err(e.into()),
    }
}

/// `rampart flush`: removes our table (only it). The store is kept; `apply` restores.
pub fn flush(global: &Global, a: &ApplyArgs) -> Result<u8> {
    let mut ctx = Ctx::open(global, a.dry_run)?;
    ctx.fw.flush().context("cannot remove table inet rampart")?;
    println!(
        "Removed table inet rampart (no other table was touched). The entries stay in the store: `rampart apply` loads them again."
    );
    ctx.print_dry_run();
    Ok(exit::OK)
}

/// `rampart status`.
pub fn status(global: &Global, a: &ReadArgs) -> Result<u8> {
    let mut ctx = Ctx::open(global, false)?;
    let now = now();
    let c = ctx.store.counts(now)?;
    let mut kernel = serde_json::Map::new();
    let mut loaded = true;
    for (name, list) in [("deny", SetList::Deny), ("allow", SetList::Allow)] {
        match ctx.fw.list(&list) {
            Ok(v) => {
                kernel.insert(name.into(), v.len().into());
            }
            Err(_) => loaded = false,
        }
    }
    let defs = ctx.list_defs()?;
    let daemon = crate::ctl::request(&ctx.state_dir, &serde_json::json!({"cmd": "status"}));
    if a.json {
        let v = serde_json::json!({
            "table_loaded": loaded,
            "mode": if ctx.config.firewall.strict { "strict" } else { "ban-only" },
            "store": {"deny": {"temporary": c.deny.temporary, "permanent": c.deny.permanent},
                      "allow": {"temporary": c.allow.temporary, "permanent": c.allow.permanent},
                      "ignore": {"temporary": c.ignore.temporary, "permanent": c.ignore.permanent},
                      "expired_pending": c.expired_pending},
            "kernel_elements": kernel,
            "listening": {
                "tcp": listening_ports().tcp.iter().map(|p| p.first).collect::<Vec<_>>(),
                "udp": listening_ports().udp.iter().map(|p| p.first).collect::<Vec<_>>(),
            },
            "blocklists": defs.iter().map(|d| serde_json::json!({"name": d.name, "entries": d.entries, "updated": d.updated.map(format_rfc3339)})).collect::<Vec<_>>(),
            "state_dir": ctx.state_dir.display().to_string(),
            "daemon": daemon,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    println!(
        "Firewall: table inet rampart {} ({} mode)",
        if loaded {
            "loaded"
        } else {
            "NOT loaded (run `rampart apply`)"
        },
        if ctx.config.firewall.strict {
            "strict"
        } else {
            "ban-only"
        }
    );
    println!(
        "Store {}: deny {} temporary + {} permanent, allow {} + {}, ignore {}",
        ctx.state_dir.join("rampart.db").display(),
        c.deny.temporary,
        c.deny.permanent,
        c.allow.temporary,
        c.allow.permanent,
        c.ignore.temporary + c.ignore.permanent
    );
    if loaded {
        println!(
            "Kernel: {} deny ranges, {} allow ranges",
            kernel.get("deny").and_then(|v| v.as_u64()).unwrap_or(0),
            kernel.get("allow").and_then(|v| v.as_u64()).unwrap_or(0)
        );
    }
    match &daemon {
        Some(d) => println!(
            "Daemon: running (pid {}, up {}s): {} lines read, {} events, {} bans, {} addresses tracked",
            d["pid"], d["uptime_secs"], d["lines"], d["events"], d["bans"], d["tracked"]
        ),
        None => println!("Daemon: not running"),
    }
    let lp = listening_ports();
    let show = |v: &[rampart_nft::PortRange]| {
        v.iter()
            .map(|p| p.first.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "Listening now (suggested for strict mode: [firewall] tcp_in = \"{}\", udp_in = \"{}\")",
        show(&lp.tcp),
        show(&lp.udp)
    );
    for d in &defs {
        println!(
            "Blocklist {}: {} entries, updated {}",
            d.name,
            d.entries,
            d.updated
                .map(format_rfc3339)
                .unwrap_or_else(|| "never".into())
        );
    }
    Ok(exit::OK)
}

/// `rampart show-rules`.
pub fn show_rules(_global: &Global, json: bool) -> Result<u8> {
    // -t: sets without their (possibly millions of) elements
    let args: &[&str] = if json {
        &["-j", "-t", "list", "table", "inet", "rampart"]
    } else {
        &["-t", "list", "table", "inet", "rampart"]
    };
    let o = std::process::Command::new("nft")
        .args(args)
        .output()
        .context("cannot run nft")?;
    if !o.status.success() {
        eprintln!(
            "rampart: table inet rampart is not loaded ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        return Ok(exit::FOUND_PROBLEMS);
    }
    print!("{}", String::from_utf8_lossy(&o.stdout));
    Ok(exit::OK)
}

fn list_options(d: &ListDef) -> ParseOptions {
    let mut o = ParseOptions::default();
    if let Some(f) = &d.format {
        o.format = f.parse().ok();
    }
    if let Some(m) = d.max_entries {
        o.max_entries = m;
    }
    o
}

/// `rampart blocklist ...`.
pub fn blocklist(global: &Global, cmd: &BlocklistCmd) -> Result<u8> {
    match cmd {
        BlocklistCmd::Add(a) => blocklist_add(global, a),
        BlocklistCmd::Catalogue(a) => {
            let feeds = rampart_lists::catalogue().map_err(|e| anyhow!("{e}"))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&feeds)?);
            } else {
                println!("Well-known feeds (enable one with `rampart blocklist add NAME`):");
                for f in &feeds {
                    println!(
                        "  {:<22} {:<9} every {:<4} {}",
                        f.name,
                        f.format.name(),
                        f.refresh,
                        f.description
                    );
                    println!("  {:<22} {} ({})", "", f.url, f.licence);
                }
            }
            Ok(exit::OK)
        }
        BlocklistCmd::Update(a) => {
            let mut ctx = Ctx::open(global, false)?;
            let mut defs = ctx.list_defs()?;
            let mut failed = false;
            for d in defs
                .iter_mut()
                .filter(|d| a.name.as_ref().is_none_or(|n| *n == d.name))
            {
                match update_one(&mut ctx, d) {
                    Ok(msg) => println!("{}: {msg}", d.name),
                    Err(e) => {
                        failed = true;
                        eprintln!(
                            "rampart: blocklist {}: {e:#} (the previous list stays in force)",
                            d.name
                        );
                    }
                }
            }
            ctx.save_list_defs(&defs)?;
            Ok(if failed {
                exit::FOUND_PROBLEMS
            } else {
                exit::OK
            })
        }
        BlocklistCmd::List(a) => {
            let ctx = Ctx::open(global, true)?;
            let defs = ctx.list_defs()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&defs)?);
            } else if defs.is_empty() {
                println!(
                    "No blocklists. Add one with `rampart blocklist add NAME --url URL` (catalogue: docs/blocklists.md)."
                );
            } else {
                for d in &defs {
                    println!(
                        "{:<20} {:<6} every {:<6} {:>8} entries  {}",
                        d.name,
                        d.direction,
                        human_duration(d.refresh_secs),
                        d.entries,
                        d.url.as_deref().or(d.file.as_deref()).unwrap_or("")
                    );
                }
            }
            Ok(exit::OK)
        }
        BlocklistCmd::Remove(a) => {
            let mut ctx = Ctx::open(global, false)?;
            let mut defs = ctx.list_defs()?;
            let before = defs.len();
            defs.retain(|d| d.name != a.name);
            if defs.len() == before {
                eprintln!("rampart: no blocklist named {}", a.name);
                return Ok(exit::FOUND_PROBLEMS);
            }
            ctx.save_list_defs(&defs)?;
            let _ = std::fs::remove_file(ctx.list_cache(&a.name));
            let rs = ctx.ruleset()?;
            ctx.fw.apply(&rs)?;
            println!("Removed blocklist {}.", a.name);
            Ok(exit::OK)
        }
    }
}

fn blocklist_add(global: &Global, a: &BlocklistAddArgs) -> Result<u8> {
    let mut a = a.clone();
    if a.file.is_none() && a.url.is_none() {
        let f = rampart_lists::catalogue::feed(&a.name).ok_or_else(|| {
            anyhow!("give --file or --url, or the name of a catalogue feed (`rampart blocklist catalogue`)")
        })?;
        a.url = Some(f.url.clone());
        a.format.get_or_insert_with(|| f.format.name().to_string());
        if a.refresh == "1d" {
            a.refresh = f.refresh.clone();
        }
        if a.direction == "in" {
            a.direction = match f.direction {
                rampart_lists::Direction::In => "in",
                rampart_lists::Direction::Out => "out",
                rampart_lists::Direction::Both => "both",
            }
            .to_string();
        }
    }
    let a = &a;
    let mut ctx = Ctx::open(global, false)?;
    SetList::blocklist(&a.name).map_err(|e| anyhow!("{e}"))?;
    if let Some(f) = &a.format {
        f.parse::<rampart_lists::Format>()
            .map_err(|e| anyhow!("--format {f:?}: {e}"))?;
    }
    if !matches!(a.direction.as_str(), "in" | "out" | "both") {
        bail!("--direction {:?}: expected in, out or both", a.direction);
    }
    let refresh = parse_duration(&a.refresh)
        .map_err(|e| anyhow!("--refresh: {e}"))?
        .unwrap_or(86400);
    let mut defs = ctx.list_defs()?;
    if defs.iter().any(|d| d.name == a.name) {
        bail!("a blocklist named {} exists; remove it first", a.name);
    }
    let mut d = ListDef {
        name: a.name.clone(),
        file: a.file.as_ref().map(|p| p.display().to_string()),
        url: a.url.clone(),
        format: a.format.clone(),
        refresh_secs: refresh,
        direction: a.direction.clone(),
        max_entries: a.max_entries,
        etag: None,
        last_modified: None,
        updated: None,
        entries: 0,
    };
    defs.push(d.clone());
    ctx.save_list_defs(&defs)?;
    // declare its sets, then load it
    let rs = ctx.ruleset()?;
    ctx.fw.apply(&rs).context("cannot load the ruleset")?;
    let msg = update_one(&mut ctx, &mut d);
    if let Some(slot) = defs.iter_mut().find(|x| x.name == d.name) {
        *slot = d.clone();
    }
    ctx.save_list_defs(&defs)?;
    match msg {
        Ok(m) => {
            println!("Added blocklist {}: {m}", d.name);
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!(
                "rampart: blocklist {} added, but the first load failed: {e:#}",
                d.name
            );
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}

/// Fetches (file or URL), validates and loads one list; a failed, empty or
/// truncated download keeps the previous one.
fn update_one(ctx: &mut Ctx, d: &mut ListDef) -> Result<String> {
    let body = if let Some(f) = &d.file {
        std::fs::read(f).with_context(|| format!("cannot read {f}"))?
    } else if let Some(url) = d.url.clone() {
        match download(&ctx.state_dir, d, &url)? {
            Some(b) => b,
            None => return Ok("not modified since the last download".into()),
        }
    } else {
        bail!("no --file or --url");
    };
    let p = parse_list(&body, &list_options(d)).map_err(|e| anyhow!("{e}"))?;
    let cache = ctx.list_cache(&d.name);
    std::fs::create_dir_all(cache.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(&cache, &body)?;
    let st = ctx
        .fw
        .replace(&SetList::Blocklist(d.name.clone()), &elements(&p.set, None))?;
    d.entries = p.stats.entries;
    d.updated = Some(now());
    Ok(format!(
        "{} entries ({} ranges after merging; {} malformed lines skipped){}",
        p.stats.entries,
        st.elements,
        p.stats.rejected,
        if st.atomic {
            ""
        } else {
            " [loaded in several transactions]"
        }
    ))
}

/// A conditional download with curl (ETag / If-Modified-Since). `None`
/// when the server says the list has not changed.
fn download(dir: &Path, d: &mut ListDef, url: &str) -> Result<Option<Vec<u8>>> {
    let tmp = dir.join(format!(".{}.download", d.name));
    let headers = dir.join(format!(".{}.headers", d.name));
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sS",
        "-L",
        "--max-time",
        "120",
        "--max-filesize",
        "268435456",
        "-o",
    ])
    .arg(&tmp)
    .arg("-D")
    .arg(&headers)
    .args(["-w", "%{http_code}"]);
    if let Some(e) = &d.etag {
        cmd.arg("-H").arg(format!("If-None-Match: {e}"));
    }
    if let Some(m) = &d.last_modified {
        cmd.arg("-H").arg(format!("If-Modified-Since: {m}"));
    }
    let out = cmd
        .arg(url)
        .output()
        .context("cannot run curl (install curl for URL blocklists)")?;
    let code: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if !out.status.success() {
        bail!(
            "download failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let h = std::fs::read_to_string(&headers).unwrap_or_default();
    let _ = std::fs::remove_file(&headers);
    if code == 304 {
        let _ = std::fs::remove_file(&tmp);
        return Ok(None);
    }
    if code != 200 {
        let _ = std::fs::remove_file(&tmp);
        bail!("HTTP status {code}");
    }
    let header = |name: &str| {
        h.lines()
            .rev()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let body = std::fs::read(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok())
        && body.len() < len
    {
        bail!("truncated download ({} of {len} bytes)", body.len());
    }
    d.etag = header("etag");
    d.last_modified = header("last-modified");
    Ok(Some(body))
}
