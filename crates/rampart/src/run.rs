//! `rampart run`: follow logs live, detect, and ban through the store and
//! the kernel. (First slice of the daemon: file sources with rotation,
//! offsets persisted across restarts, counters rebuilt from the logs.)

use crate::cli::{Global, RunArgs};
use crate::ctl;
use crate::exit;
use crate::fw::{self, Ctx};
use crate::input;
use crate::settings::{self, now};
use anyhow::{Context, Result};
use rampart_core::detect::Detector;
use rampart_core::scanwatch::{
    LimitKind, LimitReports, PortScanTracker, REASON_CT_LIMIT, REASON_PORTSCAN, ScanPolicy,
    check_conn_counts,
};
use rampart_core::time::TimeContext;
use rampart_core::tracker::{BanDecision, Outcome};
use rampart_nft::{Element, IpRange, SetList};
use rampart_store::{Kind, NewEntry, Origin};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where a file was left: persisted in `STATE_DIR/offsets.json`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// Follows one log file across rename and copytruncate rotations.
pub struct Tailer {
    pub path: PathBuf,
    file: Option<File>,
    pos: Position,
    partial: Vec<u8>,
    max_line: usize,
}

impl Tailer {
    /// Starts following `path`: at `saved` if it is the same file and not
    /// shorter, otherwise at the end of the existing file (nothing old is
    /// re-read on a first start); a file that appears later is read from 0.
    pub fn new(path: PathBuf, saved: Option<Position>, max_line: usize) -> Tailer {
        let mut t = Tailer {
            path,
            file: None,
            pos: Position::default(),
            partial: Vec::new(),
            max_line,
        };
        if let Ok(f) = File::open(&t.path)
            && let Ok(md) = f.metadata()
        {
            let (dev, ino, size) = (md.dev(), md.ino(), md.len());
            let offset = match saved {
                Some(s) if s.dev == dev && s.ino == ino && s.offset <= size => s.offset,
                _ => size,
            };
            t.pos = Position { dev, ino, offset };
            t.file = Some(f);
        }
        t
    }

    /// Where the tailer is.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Reads what was appended since the last call; `f` gets each complete
    /// line. Returns the number of bytes read.
    pub fn poll(&mut self, f: &mut dyn FnMut(&[u8])) -> std::io::Result<usize> {
        let mut read = 0;
        let current = std::fs::metadata(&self.path).ok();
        if self.file.is_none() {
            // the file appeared (or came back): read it from the start
            if let Some(md) = &current
                && let Ok(file) = File::open(&self.path)
            {
                self.pos = Position {
                    dev: md.dev(),
                    ino: md.ino(),
                    offset: 0,
                };
                self.file = Some(file);
            } else {
                return Ok(0);
            }
        }
        let rotated = current
            .as_ref()
            .is_some_and(|md| md.dev() != self.pos.dev || md.ino() != self.pos.ino);
        if rotated {
            // drain the old file to its end, then switch to the new one
            loop {
                let n = self.read_to_end(f)?;
                read += n;
                if n == 0 {
                    break;
                }
            }
            self.flush_partial(f);
            self.file = None;
            return Ok(read + self.poll(f)?);
        }
        if let Some(file) = &self.file
            && let Ok(md) = file.metadata()
            && md.len() < self.pos.offset
        {
            // copytruncate: the file was emptied in place
            self.pos.offset = 0;
            self.partial.clear();
        }
        read += self.read_to_end(f)?;
        Ok(read)
    }

    fn read_to_end(&mut self, f: &mut dyn FnMut(&[u8])) -> std::io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        file.seek(SeekFrom::Start(self.pos.offset))?;
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        // a bounded amount per call, so a flood on one file cannot starve
        // the others, the control socket or the bans (the loop comes back
        // at once while there is more)
        while total < READ_BUDGET {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n;
            self.pos.offset += n as u64;
            let mut start = 0;
            for i in memchr::memchr_iter(b'\n', &buf[..n]) {
                if self.partial.is_empty() {
                    emit(&buf[start..i], self.max_line, f);
                } else {
                    let room = (self.max_line + 1).saturating_sub(self.partial.len());
                    self.partial
                        .extend_from_slice(&buf[start..i][..(i - start).min(room)]);
                    emit(&self.partial, self.max_line, f);
                    self.partial.clear();
                }
                start = i + 1;
            }
            let room = (self.max_line + 1).saturating_sub(self.partial.len());
            let rest = &buf[start..n];
            self.partial
                .extend_from_slice(&rest[..rest.len().min(room)]);
        }
        Ok(total)
    }

    /// A rotated file's last line without a newline is complete.
    fn flush_partial(&mut self, f: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial, self.max_line, f);
            self.partial.clear();
        }
    }
}

fn emit(line: &[u8], max: usize, f: &mut dyn FnMut(&[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    f(&line[..line.len().min(max + 1)]);
}

fn load_offsets(path: &Path) -> BTreeMap<String, Position> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_offsets(path: &Path, tailers: &[Tailer]) -> std::io::Result<()> {
    let map: BTreeMap<String, Position> = tailers
        .iter()
        .map(|t| (t.path.display().to_string(), t.position()))
        .collect();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&map).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

/// Bytes read from one file per pass of the main loop.
const READ_BUDGET: usize = 4 << 20;

/// Bytes of each log re-read at start-up to rebuild the counters (without
/// banning again), so an attacker half-way to a threshold is not forgiven
/// by a restart.
const REBUILD_BYTES: u64 = 8 << 20;

fn rebuild_counters(det: &mut Detector, t: &Tailer, ctx: &TimeContext) {
    let end = t.position().offset;
    let Ok(mut file) = File::open(&t.path) else {
        return;
    };
    let start = end.saturating_sub(REBUILD_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return;
    }
    let mut r = std::io::BufReader::new(file.take(end - start));
    let max = det.engine().max_line_bytes;
    let mut first = start > 0;
    let _ = input::for_each_line(&mut r, max, |_, line| {
        if std::mem::take(&mut first) {
            return; // a cut first line
        }
        // Bans the replay re-decides are already in the store and the
        // kernel (or expired there): they must not mark the address as
        // banned now, which would swallow its next failures.
        let banned: Vec<_> = match det.process(line, ctx, ctx.reference) {
            Some((_, Outcome::Banned(ds))) => ds.iter().map(|d| d.target.addr).collect(),
            _ => Vec::new(),
        };
        for ip in banned {
            det.forget(ip);
        }
    });
}

/// `rampart run`.
/// Logs to stderr: plain text without timestamps under journald (it adds
/// its own; `JOURNAL_STREAM` tells), with them on a terminal, or JSON lines
/// (`--log-format json`). `RAMPART_LOG=debug|info|warn|error` sets the level.
fn init_logging(json: bool) {
    let level = match std::env::var("RAMPART_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false);
    let _ = if json {
        builder.json().try_init()
    } else if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

pub fn run(global: &Global, a: &RunArgs) -> Result<u8> {
    init_logging(a.log_format == "json");
    let loaded = settings::load(global, &a.sources)?;
    let mut det = loaded.detector()?;
    let mut ctx = Ctx::open(global, a.dry_run)?;
    let report = fw::apply_all(&mut ctx).context("cannot load the firewall at start")?;
    tracing::info!("firewall loaded: {report}");
    // what to follow: --watch, else [sources] files, else the standard logs
    let (patterns, explicit): (Vec<String>, bool) = if !a.watch.is_empty() {
        (a.watch.clone(), true)
    } else if !loaded.config.sources.files.is_empty() {
        (loaded.config.sources.files.clone(), true)
    } else {
        (
            input::STANDARD_LOGS.iter().map(|s| s.to_string()).collect(),
            false,
        )
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut missing = Vec::new();
    for p in &patterns {
        if p.contains(['*', '?', '[']) {
            let found: Vec<PathBuf> = input::expand(std::slice::from_ref(p))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| match i {
                    input::Input::File(f) => Some(f),
                    input::Input::Stdin => None,
                })
                .collect();
            if found.is_empty() {
                missing.push(p.clone());
            }
            paths.extend(found);
        } else if explicit || Path::new(p).is_file() {
            // explicit files are followed even before they exist
            paths.push(PathBuf::from(p));
        } else {
            missing.push(p.clone());
        }
    }
    if !missing.is_empty() {
        tracing::info!("not found (not followed): {}", missing.join(", "));
    }
    // journald: when asked, or by default when no syslog file exists
    let syslog_file = [
        "/var/log/auth.log",
        "/var/log/secure",
        "/var/log/messages",
        "/var/log/syslog",
    ]
    .iter()
    .any(|p| Path::new(p).is_file());
    let want_journal = a.journal
        || loaded.config.sources.journal == Some(true)
        || (loaded.config.sources.journal.is_none() && !explicit && !syslog_file);
    let mut journal = if want_journal {
        match crate::journal::JournalSource::new(
            PathBuf::from(&a.journalctl),
            ctx.state_dir.join("journal.cursor"),
            None,
        ) {
            Ok(j) => {
                tracing::info!("following the systemd journal");
                Some(j)
            }
            Err(e) => {
                tracing::warn!("not following the journal: {e}");
                None
            }
        }
    } else {
        None
    };
    if paths.is_empty() && journal.is_none() {
        eprintln!(
            "rampart: nothing to watch: none of the standard log files exist and the journal is not available; use --watch PATH"
        );
        return Ok(exit::USAGE);
    }
    let offsets_path = ctx.state_dir.join("offsets.json");
    let saved = load_offsets(&offsets_path);
    let max = det.engine().max_line_bytes;
    let mut tailers: Vec<Tailer> = paths
        .iter()
        .map(|p| Tailer::new(p.clone(), saved.get(&p.display().to_string()).copied(), max))
        .collect();
    let tctx = TimeContext::in_zone(&loaded.config.log_zone, now());
    for t in &tailers {
        tracing::info!(
            "watching {}{}",
            t.path.display(),
            if t.file.is_some() {
                ""
            } else {
                " (not there yet)"
            }
        );
        rebuild_counters(&mut det, t, &tctx);
    }
    // kernel-side detectors: NFLOG (port scans, limit drops) and conntrack
    let mut protected = loaded.config.ignore.clone();
    protected.extend(settings::own_addresses());
    let want_nflog =
        loaded.config.portscan.enabled || !ctx.limits().map(|l| l.is_empty()).unwrap_or(true);
    let mut nflog = if want_nflog && !a.dry_run {
        match rampart_nft::NflogReceiver::bind(loaded.config.portscan.nflog_group) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!("no kernel port-scan/limit reports: {e}");
                None
            }
        }
    } else {
        None
    };
    let ps = &loaded.config.portscan;
    let mut scans = PortScanTracker::new(ScanPolicy {
        limit: ps.limit,
        interval_secs: ps.interval_secs,
        diversity: ps.diversity,
        ipv6_prefix: loaded.config.ipv6_prefix,
        max_sources: 100_000,
    });
    scans.set_protected(protected.clone());
    let mut limit_reports = LimitReports::new(60, loaded.config.ipv6_prefix, 100_000);
    limit_reports.set_protected(protected.clone());
    let mut netblocks = Netblocks::default();
    let mut last_ct = Instant::now();
    let mut last_protect = Instant::now() - Duration::from_secs(60);
    let mut ct_banned = std::collections::HashSet::new();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("cannot install signal handlers")?;
    let server = ctl::Server::bind(&ctx.state_dir).context("cannot open the control socket")?;
    let started = Instant::now();
    let watchdog = watchdog_interval();
    let mut last_ping = Instant::now();
    sd_notify("READY=1\nSTATUS=watching logs");
    let mut config = loaded.config.clone();
    let mut last_save = Instant::now();
    let mut bans = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if hup.swap(false, Ordering::Relaxed) {
            let r = reload(global, a, &mut det, &mut config);
            tracing::info!("SIGHUP: {}", r["message"].as_str().unwrap_or(""));
        }
        let journal_status = journal.as_ref().map(|j| {
            let st = j.stats();
            serde_json::json!({"running": j.is_running(), "cursor": j.cursor(), "lines": st.lines,
                "malformed": st.malformed, "oversized": st.oversized, "restarts": st.restarts,
                "without_message": st.without_message, "cursor_dropped": st.cursor_dropped})
        });
        server.poll(&mut |req| {
            let mut r = handle(
                req,
                global,
                a,
                &mut det,
                &mut config,
                &tailers,
                bans,
                started,
            );
            if req["cmd"] == "status" {
                r["journal"] = journal_status.clone().unwrap_or(serde_json::Value::Null);
            }
            r
        });
        if let Some(iv) = watchdog
            && last_ping.elapsed() >= iv
        {
            sd_notify("WATCHDOG=1");
            last_ping = Instant::now();
        }
        let tctx = TimeContext::in_zone(&config.log_zone, now());
        let mut decisions: Vec<PendingBan> = Vec::new();
        let mut read = 0;
        for t in &mut tailers {
            let r = t.poll(&mut |line| {
                if let Some((_, Outcome::Banned(ds))) = det.process(line, &tctx, tctx.reference) {
                    for d in ds {
                        decisions.push(PendingBan::from_decision(&det, &d));
                    }
                }
            });
            match r {
                Ok(n) => read += n,
                Err(e) => tracing::warn!("{}: read error: {e}", t.path.display()),
            }
        }
        if let Some(j) = journal.as_mut() {
            let r = j.poll(&mut |line| {
                if let Some((_, Outcome::Banned(ds))) = det.process(line, &tctx, tctx.reference) {
                    for d in ds {
                        decisions.push(PendingBan::from_decision(&det, &d));
                    }
                }
            });
            match r {
                Ok(n) => read += n,
                Err(e) => tracing::warn!("journal: {e}"),
            }
        }
        // the kernel's reports: port scans and per-source limits
        if let Some(rx) = nflog.as_mut() {
            match rx.recv(Duration::ZERO) {
                Ok(packets) => {
                    for p in packets {
                        let Some(dport) = p.dport else { continue };
                        let now = tctx.reference;
                        let ev = format!(
                            "kernel: {} {} -> {}:{dport} ({})",
                            p.prefix.trim(),
                            p.src,
                            p.dst,
                            if p.proto == rampart_nft::IPPROTO_TCP {
                                "tcp"
                            } else {
                                "udp"
                            }
                        );
                        match p.kind() {
                            rampart_nft::LogKind::Scan => {
                                if let Some(ps) = scans.observe(p.src, dport, p.proto, now) {
                                    decisions.push(PendingBan::kernel(
                                        &det,
                                        ps.src,
                                        REASON_PORTSCAN,
                                        "kernel.portscan",
                                        ps.summary(),
                                        ev,
                                    ));
                                }
                            }
                            kind => {
                                let lk = match kind {
                                    rampart_nft::LogKind::ConnLimit => LimitKind::ConnLimit,
                                    rampart_nft::LogKind::PortFlood => LimitKind::PortFlood,
                                    rampart_nft::LogKind::SynFlood => LimitKind::SynFlood,
                                    _ => continue,
                                };
                                if let Some(hit) = limit_reports.observe(lk, p.src, dport, now) {
                                    let rule = format!("kernel.{}", lk.reason());
                                    decisions.push(PendingBan::kernel(
                                        &det,
                                        hit.src,
                                        lk.reason(),
                                        &rule,
                                        hit.summary(),
                                        ev,
                                    ));
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("nflog: {e}"),
            }
        }
        if config.limits.ct_limit > 0
            && last_ct.elapsed() >= Duration::from_secs(config.limits.ct_interval_secs.max(1))
        {
            last_ct = Instant::now();
            match rampart_nft::dump_conntrack() {
                Ok(entries) => {
                    let filter = rampart_nft::CtFilter {
                        skip_time_wait: true,
                        ..rampart_nft::CtFilter::default()
                    };
                    let counts = rampart_nft::count_by_source(&entries, &filter);
                    for f in check_conn_counts(
                        counts,
                        config.limits.ct_limit as usize,
                        config.ipv6_prefix,
                        &protected,
                    ) {
                        if !ct_banned.insert(f.src) {
                            continue;
                        }
                        let ev = format!("conntrack: {} connections from {}", f.count, f.src);
                        decisions.push(PendingBan::kernel(
                            &det,
                            f.src,
                            REASON_CT_LIMIT,
                            "kernel.ct_limit",
                            f.summary(),
                            ev,
                        ));
                    }
                }
                Err(e) => tracing::warn!("conntrack: {e}"),
            }
        }
        if !decisions.is_empty() {
            escalate_from_store(&ctx, &det, &mut decisions);
            netblocks.add(&det, &config, &protected, &mut decisions, tctx.reference);
            bans += decisions.len() as u64;
            if let Err(e) = ban_all(&mut ctx, &decisions) {
                tracing::warn!("{} ban(s) failed: {e:#}", decisions.len());
            }
        }
        if last_protect.elapsed() >= Duration::from_secs(2) {
            // allow and ignore entries added with the CLI take effect here
            last_protect = Instant::now();
            let mut nets = protected.clone();
            nets.extend(store_protected(&ctx));
            det.set_protected(nets.clone());
            scans.set_protected(nets.clone());
            limit_reports.set_protected(nets);
        }
        if last_save.elapsed() >= Duration::from_secs(1) {
            let _ = save_offsets(&offsets_path, &tailers);
            if let Some(j) = journal.as_mut()
                && let Err(e) = j.save_cursor()
            {
                tracing::warn!("journal cursor: {e}");
            }
            det.evict_idle(tctx.reference);
            last_save = Instant::now();
        }
        if read == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    sd_notify("STOPPING=1");
    save_offsets(&offsets_path, &tailers).context("cannot save offsets")?;
    if let Some(j) = journal.as_mut() {
        j.save_cursor().context("cannot save the journal cursor")?;
    }
    tracing::info!("stopping ({bans} bans this run); bans stay in the kernel and expire there");
    Ok(exit::OK)
}

/// Reloads configuration and rules; counters carry over. A bad
/// configuration is refused and the running one stays.
fn reload(
    global: &Global,
    a: &RunArgs,
    det: &mut Detector,
    config: &mut rampart_core::config::Config,
) -> serde_json::Value {
    let built = settings::load(global, &a.sources).and_then(|l| {
        let d = l.detector()?;
        Ok((l, d))
    });
    match built {
        Ok((l, fresh)) => {
            let old = std::mem::replace(det, fresh);
            det.adopt_state(old);
            *config = l.config;
            serde_json::json!({"ok": true, "message": format!("reloaded: {} rules", l.rules.len())})
        }
        Err(e) => {
            serde_json::json!({"ok": false, "message": format!("reload refused, the running configuration stays: {e:#}")})
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    req: &serde_json::Value,
    global: &Global,
    a: &RunArgs,
    det: &mut Detector,
    config: &mut rampart_core::config::Config,
    tailers: &[Tailer],
    bans: u64,
    started: Instant,
) -> serde_json::Value {
    let addr = || {
        req["addr"]
            .as_str()
            .and_then(rampart_core::addr::Net::parse)
            .map(|n| n.addr)
    };
    match req["cmd"].as_str().unwrap_or("") {
        "status" => {
            let s = &det.stats;
            serde_json::json!({
                "ok": true, "pid": std::process::id(), "uptime_secs": started.elapsed().as_secs(),
                "lines": s.lines, "events": s.events, "bans": bans, "tracked": det.tracker().tracked(),
                "watching": tailers.iter().map(|t| t.path.display().to_string()).collect::<Vec<_>>(),
            })
        }
        "counts" => match addr() {
            Some(ip) => {
                let groups = det.tracker().groups();
                let v: Vec<_> = det
                    .tracker()
                    .counts_for(ip)
                    .into_iter()
                    .map(|(g, n, last)| {
                        let g = &groups[usize::from(g)];
                        serde_json::json!({"group": g.name, "reason": g.reason, "count": n, "threshold": g.threshold,
                            "window_secs": g.window_secs, "last_seen": rampart_core::time::format_rfc3339(last)})
                    })
                    .collect();
                serde_json::json!({"ok": true, "counts": v})
            }
            None => serde_json::json!({"ok": false, "error": "addr"}),
        },
        "forget" => match addr() {
            Some(ip) => serde_json::json!({"ok": true, "forgotten": det.forget(ip)}),
            None => serde_json::json!({"ok": false, "error": "addr"}),
        },
        "reload" => reload(global, a, det, config),
        other => serde_json::json!({"ok": false, "error": format!("unknown command {other:?}")}),
    }
}

/// systemd's `sd_notify`, without libsystemd: one datagram to `$NOTIFY_SOCKET`.
fn sd_notify(msg: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name) {
            let _ = sock.send_to_addr(msg.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(msg.as_bytes(), std::path::Path::new(&path));
    }
}

/// Half of `$WATCHDOG_USEC`, when systemd's watchdog is on for us.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

/// Escalation across restarts: the store remembers every ban, so a
/// detector ban's length counts the target's earlier bans there (the
/// in-memory history starts empty after a restart). The Nth ban within the
/// history window is permanent (CSF's LF_PERMBLOCK).
fn escalate_from_store(ctx: &Ctx, det: &Detector, decisions: &mut [PendingBan]) {
    let policy = det.tracker().policy();
    let since = now() - policy.history_secs as i64;
    for d in decisions.iter_mut() {
        let Some(base) = d.base_len else { continue };
        let earlier = ctx.store.bans_in_window(d.target, since).unwrap_or(0);
        if earlier > d.level {
            d.level = earlier;
            d.len = policy
                .length(base.map(|b| b as u64), earlier)
                .map(|l| l as i64);
        }
        if d.len.is_none() && base.is_some() {
            d.summary = format!(
                "(PERMBLOCK) {} has had {} temp blocks in the last {} secs; latest: {}",
                d.target, d.level, policy.history_secs, d.summary
            );
        }
    }
}

/// CSF's LF_NETBLOCK: after `netblock_after` bans inside one /24 (IPv4) or
/// /48 (IPv6) within the history window, the whole network is banned.
#[derive(Default)]
struct Netblocks {
    seen: std::collections::HashMap<rampart_core::addr::Net, Vec<i64>>,
    banned: std::collections::HashSet<rampart_core::addr::Net>,
}

impl Netblocks {
    fn add(
        &mut self,
        det: &Detector,
        config: &rampart_core::config::Config,
        protected: &[rampart_core::addr::Net],
        decisions: &mut Vec<PendingBan>,
        now: i64,
    ) {
        let after = config.netblock_after as usize;
        if after == 0 {
            return;
        }
        let horizon = now - config.ban_history_secs as i64;
        let mut new = Vec::new();
        for d in decisions.iter() {
            if d.reason == "netblock" {
                continue;
            }
            let prefix = if d.target.addr.is_ipv4() { 24 } else { 48 };
            if d.target.prefix <= prefix {
                continue;
            }
            let net = rampart_core::addr::Net::containing(d.target.addr, prefix);
            let times = self.seen.entry(net).or_default();
            times.retain(|t| *t > horizon);
            times.push(now);
            // never a network holding a protected address (own, allowed, ignored)
            let guarded = protected
                .iter()
                .any(|p| net.contains(p.addr) || p.contains(net.addr));
            if times.len() >= after && !guarded && self.banned.insert(net) {
                let summary = format!(
                    "(NETBLOCK) {net} has had {} blocks in the last {} secs",
                    times.len(),
                    config.ban_history_secs
                );
                new.push(PendingBan::kernel(
                    det,
                    net,
                    "netblock",
                    "daemon.netblock",
                    summary,
                    format!("{} bans inside {net}", times.len()),
                ));
            }
        }
        decisions.extend(new);
    }
}

/// The store's allow and ignore entries in force: never banned by a detector.
fn store_protected(ctx: &Ctx) -> Vec<rampart_core::addr::Net> {
    let now = now();
    let mut out = Vec::new();
    for kind in [Kind::Allow, Kind::Ignore] {
        let f = rampart_store::ListFilter {
            kind: Some(kind),
            ..rampart_store::ListFilter::default()
        };
        if let Ok(entries) = ctx.store.list(&f, now) {
            out.extend(entries.into_iter().map(|e| e.target));
        }
    }
    out
}

/// A ban about to be recorded and enforced.
pub struct PendingBan {
    pub target: rampart_core::addr::Net,
    pub reason: String,
    pub rule: String,
    pub summary: String,
    pub evidence: Vec<String>,
    /// Seconds; `None` is permanent.
    pub len: Option<i64>,
    pub level: u32,
    /// The group's first-ban length (detector bans, which escalate).
    pub base_len: Option<Option<i64>>,
}

impl PendingBan {
    fn from_decision(det: &Detector, d: &BanDecision) -> PendingBan {
        let group = &det.tracker().groups()[usize::from(d.group)];
        PendingBan {
            target: d.target,
            reason: group.reason.clone(),
            rule: det.rule(d.rule).id.clone(),
            summary: det.summary(d),
            evidence: d.evidence.clone(),
            len: d.until.map(|u| (u - d.last_seen).max(1)),
            level: d.earlier_bans,
            base_len: Some(group.ban_secs.map(|s| s as i64)),
        }
    }

    /// A ban from a kernel-side detector (port scan, limits), with the
    /// reason's configured ban length.
    fn kernel(
        det: &Detector,
        target: rampart_core::addr::Net,
        reason: &str,
        rule: &str,
        summary: String,
        evidence: String,
    ) -> PendingBan {
        let len = det
            .tracker()
            .groups()
            .iter()
            .find(|g| g.name == reason)
            .map_or(Some(3600), |g| g.ban_secs)
            .map(|s| s as i64);
        PendingBan {
            target,
            reason: reason.to_string(),
            rule: rule.to_string(),
            summary,
            evidence: vec![evidence],
            len,
            level: 0,
            base_len: None,
        }
    }
}

/// Records and enforces the bans of one pass: one store transaction and
/// one netlink batch, however many there are (a flood of attackers costs
/// one commit per pass, not one per ban).
fn ban_all(ctx: &mut Ctx, decisions: &[PendingBan]) -> Result<()> {
    let now = now();
    let mut entries = Vec::with_capacity(decisions.len());
    let mut elements = Vec::with_capacity(decisions.len());
    for d in decisions {
        let len = d.len;
        let summary = &d.summary;
        let mut e = NewEntry::new(
            Kind::Deny,
            d.target,
            Origin::Detector,
            d.reason.clone(),
            now,
            len.map(|l| now + l),
        );
        e.rule = Some(d.rule.clone());
        e.summary = summary.clone();
        e.evidence = d.evidence.clone();
        e.level = Some(d.level);
        entries.push(e);
        let range =
            IpRange::cidr(d.target.addr, d.target.prefix).map_err(|e| anyhow::anyhow!("{e}"))?;
        elements.push(Element {
            range,
            timeout: len.map(|l| Duration::from_secs(l as u64)),
        });
        tracing::info!(
            "banned {} {}: {summary}",
            d.target,
            len.map(|l| format!("for {l}s"))
                .unwrap_or_else(|| "permanently".into())
        );
    }
    ctx.store.add_many(&entries)?;
    ctx.fw.refresh(&SetList::Deny, &elements)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(t: &mut Tailer) -> Vec<String> {
        let mut v = Vec::new();
        t.poll(&mut |l| v.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        v
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-tail-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn starts_at_end_and_follows_appends() {
        let d = tmp("end");
        let p = d.join("a.log");
        append(&p, "old 1\nold 2\n");
        let mut t = Tailer::new(p.clone(), None, 1000);
        assert!(
            lines(&mut t).is_empty(),
            "old lines are not re-read on first start"
        );
        append(&p, "new 1\nnew");
        assert_eq!(lines(&mut t), vec!["new 1"]);
        append(&p, " 2\n");
        assert_eq!(
            lines(&mut t),
            vec!["new 2"],
            "a line written in two parts is one line"
        );
    }

    #[test]
    fn empty_file_then_written_is_read_once() {
        let d = tmp("empty");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "x\n");
        assert_eq!(lines(&mut t), vec!["x"]);
        assert!(lines(&mut t).is_empty(), "nothing is read twice");
    }

    #[test]
    fn rename_rotation_drains_the_old_file() {
        let d = tmp("rot");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n2\n");
        assert_eq!(lines(&mut t), vec!["1", "2"]);
        append(&p, "3\n4");
        std::fs::rename(&p, d.join("a.log.1")).unwrap();
        append(&p, "5\n");
        assert_eq!(
            lines(&mut t),
            vec!["3", "4", "5"],
            "the old file is drained, then the new one read from 0"
        );
    }

    #[test]
    fn copytruncate_restarts_at_zero() {
        let d = tmp("trunc");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n2\n");
        assert_eq!(lines(&mut t).len(), 2);
        std::fs::write(&p, "").unwrap();
        append(&p, "3\n");
        assert_eq!(lines(&mut t), vec!["3"]);
    }

    #[test]
    fn resumes_from_a_saved_position_and_waits_for_missing_files() {
        let d = tmp("resume");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n");
        assert_eq!(lines(&mut t), vec!["1"]);
        let saved = t.position();
        append(&p, "2\n");
        let mut t2 = Tailer::new(p.clone(), Some(saved), 1000);
        assert_eq!(
            lines(&mut t2),
            vec!["2"],
            "no line read twice, none skipped"
        );
        let q = d.join("later.log");
        let mut t3 = Tailer::new(q.clone(), None, 1000);
        assert!(lines(&mut t3).is_empty());
        append(&q, "first\n");
        assert_eq!(
            lines(&mut t3),
            vec!["first"],
            "a file that appears later is read from the start"
        );
    }
}
