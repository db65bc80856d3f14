//! The one owner of counting state, on the daemon's main thread: lines in,
//! bans out. Everything that counts (the rule engine's tracker, port
//! scans, limit reports, netblocks) lives here and nowhere else, so the
//! hot path takes no lock and allocates nothing per line; what leaves is a
//! [`Pass`] for the enforcer (bans + the read positions they were decided
//! at) and [`Event`]s for the sinks.

use super::bus::Bus;
use super::decide::{self, KernelHit, Netblocks};
use super::events::{Attack, Ban, BanOrigin, Checkpoint, Enforced, Event, FleetDecision, SourceId};
use super::sinks::enforcer::{EnforceCmd, Lift, Pass};
use crate::settings::now;
use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_core::detect::Detector;
use rampart_core::scanwatch::{
    LimitKind, LimitReports, PortScanTracker, REASON_CT_LIMIT, REASON_PORTSCAN, ScanPolicy,
    check_conn_counts,
};
use rampart_core::time::{TimeContext, Timestamp};
use rampart_core::tracker::Outcome;
use rampart_store::Store;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

/// What the detector knows of a source.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SourceInfo {
    /// Path, `journal`, ...
    pub name: String,
    /// Lines received.
    pub lines: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Errors reported.
    pub errors: u64,
    /// The last error or notice.
    pub last_notice: Option<String>,
    /// The program whose output this source is declared to be: its lines
    /// without a syslog header are read as that program's.
    pub program: Option<String>,
}

/// Positions are committed at least this often while lines arrive
/// without bans (bans commit at once).
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// The detector thread's state.
pub struct Owner {
    /// The rule engine and its counters.
    pub det: Detector,
    /// The running configuration.
    pub config: Config,
    scans: PortScanTracker,
    limits: LimitReports,
    netblocks: Netblocks,
    ct_banned: HashSet<Net>,
    /// The host's own addresses (followed while running).
    own: Vec<Net>,
    /// Own and configured-ignore networks.
    base_protected: Vec<Net>,
    reader: Store,
    data_version: Option<i64>,
    /// `base_protected` plus the store's allow/ignore entries.
    protected: Vec<Net>,
    /// The logs' time zone, its reference moved to "now" for each batch.
    tctx: TimeContext,
    pending: Vec<Ban>,
    lifts: Vec<Lift>,
    positions: BTreeMap<String, String>,
    last_commit: Instant,
    /// The sources, by id.
    pub sources: Vec<SourceInfo>,
    bus: Arc<Bus>,
    enforcer: SyncSender<EnforceCmd>,
    /// Bans decided since start.
    pub bans: u64,
    /// Bans the kernel refused (and the enforcer retries).
    pub refused: u64,
    /// Evictions already logged.
    evicted_logged: u64,
    /// Peers' bans refused because they cover a protected address.
    pub fleet_protected: u64,
    /// Peers' bans already in force here (as long or longer).
    pub fleet_redundant: u64,
    attacks_wanted: bool,
}

impl Owner {
    /// The owner of `det`; `reader` is a store connection for escalation
    /// and allow/ignore lookups.
    pub fn new(
        det: Detector,
        config: Config,
        reader: Store,
        sources: Vec<SourceInfo>,
        bus: Arc<Bus>,
        enforcer: SyncSender<EnforceCmd>,
    ) -> Owner {
        let (scans, limits) = kernel_trackers(&config);
        let own = crate::settings::own_addresses();
        let mut base_protected = config.ignore.clone();
        base_protected.extend(own.iter().copied());
        let attacks_wanted = bus.wants(&Event::Attack(Attack {
            rule: String::new(),
            reason: String::new(),
            ip: IpAddr::from([0, 0, 0, 0]),
            user: None,
            time: 0,
        }));
        let mut o = Owner {
            det,
            config,
            scans,
            limits,
            netblocks: Netblocks::default(),
            ct_banned: HashSet::new(),
            own,
            base_protected,
            reader,
            data_version: None,
            protected: Vec::new(),
            tctx: TimeContext::utc(0),
            pending: Vec::new(),
            lifts: Vec::new(),
            positions: BTreeMap::new(),
            last_commit: Instant::now(),
            sources,
            bus,
            enforcer,
            bans: 0,
            refused: 0,
            evicted_logged: 0,
            fleet_protected: 0,
            fleet_redundant: 0,
            attacks_wanted,
        };
        o.tctx = o.time_context();
        o.refresh_protected();
        o
    }

    /// The time context for lines read now.
    pub fn time_context(&self) -> TimeContext {
        TimeContext::in_zone(&self.config.log_zone, now())
    }

    /// A batch of complete lines from `source`.
    pub fn lines(
        &mut self,
        source: SourceId,
        data: &[u8],
        cp: Option<Checkpoint>,
        read_at: Instant,
    ) {
        self.refresh_protected();
        let mut tctx = std::mem::replace(&mut self.tctx, TimeContext::utc(0));
        tctx.set_reference(now());
        if let Some(s) = self.sources.get_mut(source) {
            s.bytes += data.len() as u64;
        }
        let program = self.sources.get(source).and_then(|s| s.program.clone());
        let program = program.as_deref().map(str::as_bytes);
        let mut n = 0;
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            n += 1;
            self.line(program, line, &tctx, read_at);
        }
        self.tctx = tctx;
        if let Some(s) = self.sources.get_mut(source) {
            s.lines += n;
        }
        if let Some(cp) = cp {
            self.positions.insert(cp.key, cp.value);
        }
    }

    fn line(&mut self, program: Option<&[u8]>, line: &[u8], tctx: &TimeContext, read_at: Instant) {
        let processed = match program {
            Some(p) => self.det.process_as(p, line, tctx, tctx.reference),
            None => self.det.process(line, tctx, tctx.reference),
        };
        let Some((ev, outcome)) = processed else {
            return;
        };
        let ip = ev.ip;
        if self.attacks_wanted {
            let a = Attack {
                rule: ev.rule_name.to_string(),
                reason: ev.reason.to_string(),
                ip: ev.ip,
                user: ev.user.map(|u| String::from_utf8_lossy(u).into_owned()),
                time: ev.time.unwrap_or(tctx.reference),
            };
            self.bus.publish(Event::Attack(a));
        }
        if let Outcome::Banned(ds) = outcome {
            for d in &ds {
                let b = decide::from_decision(&self.det, d, ip, tctx.reference, read_at);
                self.pending.push(b);
            }
        }
    }

    /// A failed console login or unknown API token, rendered as the
    /// canonical message of program `rampart` that the built-in rule
    /// `rampart.console_login_failed` counts (reason `console`): the
    /// normal counting and ban path, with the attempt as evidence. The
    /// user name is the client's text: control characters escaped, cut
    /// at 64 characters, and after the address, so it cannot move the
    /// blame.
    pub fn login_failed(&mut self, f: &crate::daemon::events::LoginFailure) {
        self.refresh_protected();
        let what = if f.token { "token" } else { "login" };
        let mut line = format!("console: failed {what} from {}", f.addr);
        if let Some(u) = &f.user {
            let u: String = rampart_core::text::escape_controls(u)
                .chars()
                .take(64)
                .collect();
            line.push_str(" for user ");
            line.push_str(&u);
        }
        let mut tctx = std::mem::replace(&mut self.tctx, TimeContext::utc(0));
        tctx.set_reference(now());
        self.line(Some(b"rampart"), line.as_bytes(), &tctx, Instant::now());
        self.tctx = tctx;
    }

    /// Packets the kernel logged: port scans and limit drops.
    pub fn packets(&mut self, packets: Vec<rampart_nft::LoggedPacket>) {
        self.refresh_protected();
        let now = now();
        for p in packets {
            let Some(dport) = p.dport else { continue };
            let proto = if p.proto == rampart_nft::IPPROTO_TCP {
                "tcp"
            } else {
                "udp"
            };
            let ev = format!(
                "kernel: {} {} -> {}:{dport} ({proto})",
                p.prefix.trim(),
                p.src,
                p.dst
            );
            let hit = match p.kind() {
                rampart_nft::LogKind::Scan => {
                    self.scans
                        .observe(p.src, dport, p.proto, now)
                        .map(|s| KernelHit {
                            target: s.src,
                            reason: REASON_PORTSCAN,
                            rule: "kernel.portscan".into(),
                            summary: s.summary(),
                            evidence: ev,
                        })
                }
                kind => limit_kind(kind).and_then(|lk| {
                    self.limits
                        .observe(lk, p.src, dport, now)
                        .map(|h| KernelHit {
                            target: h.src,
                            reason: lk.reason(),
                            rule: format!("kernel.{}", lk.reason()),
                            summary: h.summary(),
                            evidence: ev,
                        })
                }),
            };
            if let Some(hit) = hit {
                let b = decide::from_kernel(&self.det, hit, BanOrigin::Kernel, now);
                self.pending.push(b);
            }
        }
    }

    /// Connections per source (CT_LIMIT).
    pub fn conn_counts(&mut self, counts: BTreeMap<IpAddr, usize>) {
        let limit = self.config.limits.ct_limit as usize;
        if limit == 0 {
            return;
        }
        let now = now();
        for f in check_conn_counts(counts, limit, self.config.ipv6_prefix, &self.protected) {
            if !self.ct_banned.insert(f.src) {
                continue;
            }
            let hit = KernelHit {
                target: f.src,
                reason: REASON_CT_LIMIT,
                rule: "kernel.ct_limit".into(),
                summary: f.summary(),
                evidence: format!("conntrack: {} connections from {}", f.count, f.src),
            };
            let b = decide::from_kernel(&self.det, hit, BanOrigin::Kernel, now);
            self.pending.push(b);
        }
    }

    /// Peers' decisions: bans through the same path as local ones
    /// (never of a protected address), unblocks as [`Lift`]s.
    pub fn fleet(&mut self, decisions: Vec<FleetDecision>) {
        self.refresh_protected();
        let now = now();
        for d in decisions {
            self.lifts.retain(|l| l.target != d.target);
            if !d.ban {
                self.pending.retain(|b| b.target != d.target);
                self.forget(d.target.addr);
                self.lifts.push(Lift {
                    target: d.target,
                    node: d.node,
                    decided: d.decided_ms / 1000,
                });
            } else if self.guarded(d.target) {
                self.fleet_protected += 1;
                tracing::info!(
                    "fleet: not banning {} (from {}): protected here (loopback, own, allowed or ignored)",
                    d.target,
                    d.node
                );
            } else if self.in_force(d.target, d.expires, now) {
                self.fleet_redundant += 1;
            } else {
                self.pending.push(decide::from_fleet(d, now));
            }
        }
    }

    /// Whether `t` is, or covers, a protected address.
    fn guarded(&self, t: Net) -> bool {
        let loopback = [
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ];
        rampart_core::addr::is_never_blockable(t.addr)
            || loopback.iter().any(|ip| t.contains(*ip))
            || self
                .protected
                .iter()
                .any(|p| p.contains(t.addr) || t.contains(p.addr))
    }

    /// Whether a deny entry for `t` lasting at least until `expires` is in force.
    fn in_force(&self, t: Net, expires: Option<Timestamp>, now: Timestamp) -> bool {
        match self.reader.find(rampart_store::Kind::Deny, t) {
            Ok(Some(e)) => {
                e.in_force(now)
                    && match (e.expires, expires) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(a), Some(b)) => a >= b,
                    }
            }
            _ => false,
        }
    }

    /// The enforcer's word on bans.
    pub fn enforced(&mut self, reports: Vec<Enforced>) {
        for r in reports {
            if let Some(e) = r.error {
                self.refused += 1;
                tracing::debug!("kernel refused {}: {e}", r.target);
            }
        }
    }

    /// Sends what this pass decided (and the positions it was decided at)
    /// to the enforcer: at once when there are bans, otherwise at most
    /// every [`COMMIT_EVERY`]. Returns whether the enforcer is still there.
    pub fn flush(&mut self) -> bool {
        let due = !self.pending.is_empty()
            || !self.lifts.is_empty()
            || (!self.positions.is_empty() && self.last_commit.elapsed() >= COMMIT_EVERY);
        if !due {
            return true;
        }
        let mut bans = std::mem::take(&mut self.pending);
        let now = now();
        if !bans.is_empty() {
            decide::escalate_from_store(&self.reader, &self.det, &mut bans, now);
            decide::keep_off_protected(&mut bans, &self.protected);
            self.netblocks
                .add(&self.det, &self.config, &self.protected, &mut bans, now);
            self.bans += bans.len() as u64;
        }
        let bans: Vec<Arc<Ban>> = bans.into_iter().map(Arc::new).collect();
        for b in &bans {
            self.bus.publish(Event::BanDecided(Arc::clone(b)));
        }
        let positions = std::mem::take(&mut self.positions).into_iter().collect();
        let lifts = std::mem::take(&mut self.lifts);
        self.last_commit = Instant::now();
        self.enforcer
            .send(EnforceCmd::Pass(Pass {
                bans,
                positions,
                lifts,
            }))
            .is_ok()
    }

    /// Sends whatever is pending now (at stop).
    pub fn flush_all(&mut self) -> bool {
        self.last_commit = Instant::now() - COMMIT_EVERY;
        self.flush()
    }

    /// Whether positions are waiting for their periodic commit.
    pub fn commit_due_in(&self) -> Option<Duration> {
        (!self.positions.is_empty())
            .then(|| COMMIT_EVERY.saturating_sub(self.last_commit.elapsed()))
    }

    /// Periodic work: idle counters evicted, allow/ignore entries changed
    /// by the CLI picked up, a full tracker said so.
    pub fn tick(&mut self) {
        let now = now();
        self.det.evict_idle(now);
        let evicted = self.det.stats.evicted_full;
        if evicted > self.evicted_logged {
            tracing::warn!(
                "the tracker is full ({} addresses): {} addresses evicted to make room so far (those farthest from a ban first); every new attacker is still counted — raise [detect] max_tracked if this keeps growing",
                self.det.tracker().tracked(),
                evicted
            );
            self.evicted_logged = evicted;
        }
        self.scans.evict_idle(now);
        self.refresh_protected();
    }

    /// Re-reads the store's allow and ignore entries when the store changed
    /// (a cheap check: SQLite's data version).
    fn refresh_protected(&mut self) {
        let v = self.reader.data_version().ok();
        if v.is_some() && v == self.data_version {
            return;
        }
        self.data_version = v;
        let mut nets = self.base_protected.clone();
        nets.extend(store_protected(&self.reader, now()));
        self.protected = nets.clone();
        self.det.set_protected(nets.clone());
        self.scans.set_protected(nets.clone());
        self.limits.set_protected(nets);
    }

    /// The host's addresses changed: protected from now on.
    pub fn own_addresses(&mut self, own: Vec<Net>) {
        tracing::info!(
            "own addresses now: {}",
            own.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.own = own;
        self.rebase();
    }

    fn rebase(&mut self) {
        self.base_protected = self.config.ignore.clone();
        self.base_protected.extend(self.own.iter().copied());
        self.data_version = None;
        self.refresh_protected();
    }

    /// Forgets what was counted against `ip` (it was unblocked).
    pub fn forget(&mut self, ip: IpAddr) -> usize {
        self.scans.forget(ip);
        self.netblocks.forget(ip);
        self.ct_banned.retain(|n| !n.contains(ip));
        self.det.forget(ip)
    }

    /// A new configuration and detector (reload); counters carry over.
    pub fn replace(&mut self, fresh: Detector, config: Config) {
        let old = std::mem::replace(&mut self.det, fresh);
        self.det.adopt_state(old);
        let (scans, limits) = kernel_trackers(&config);
        let old_scans = std::mem::replace(&mut self.scans, scans);
        self.scans.adopt(old_scans);
        self.limits = limits;
        self.tctx = TimeContext::in_zone(&config.log_zone, now());
        self.config = config;
        self.rebase();
    }
}

fn kernel_trackers(config: &Config) -> (PortScanTracker, LimitReports) {
    let ps = &config.portscan;
    let scans = PortScanTracker::new(ScanPolicy {
        limit: ps.limit,
        interval_secs: ps.interval_secs,
        diversity: ps.diversity,
        ipv6_prefix: config.ipv6_prefix,
        max_sources: 100_000,
    });
    let limits = LimitReports::new(60, config.ipv6_prefix, 100_000);
    (scans, limits)
}

fn limit_kind(kind: rampart_nft::LogKind) -> Option<LimitKind> {
    match kind {
        rampart_nft::LogKind::ConnLimit => Some(LimitKind::ConnLimit),
        rampart_nft::LogKind::PortFlood => Some(LimitKind::PortFlood),
        rampart_nft::LogKind::SynFlood => Some(LimitKind::SynFlood),
        _ => None,
    }
}

/// The store's allow and ignore entries in force: never banned by a detector.
fn store_protected(store: &Store, now: Timestamp) -> Vec<Net> {
    let mut out = Vec::new();
    for kind in [rampart_store::Kind::Allow, rampart_store::Kind::Ignore] {
        let f = rampart_store::ListFilter {
            kind: Some(kind),
            ..rampart_store::ListFilter::default()
        };
        match store.list(&f, now) {
            Ok(entries) => out.extend(entries.into_iter().map(|e| e.target)),
            Err(e) => tracing::warn!("cannot read the {kind} list: {e}"),
        }
    }
    out
}
