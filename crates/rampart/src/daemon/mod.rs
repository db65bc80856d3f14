//! `rampart run`: the daemon, as a pipeline.
//!
//! ```text
//!  sources (a thread each)        detector (main thread)        sinks
//!  files ──────┐                                             ┌─▶ enforcer thread: kernel, then store
//!  journal ────┤   Input (bounded,   Owner: engine, tracker,  │     (Pass: bans + read positions)
//!  nflog ──────┼─▶ blocks when full) scans, limits, netblocks ┤
//!  conntrack ──┤                     └ decide: escalation     └─▶ Bus ─▶ log, alerts, fleet, metrics,
//!  control ────┤                                                         live feed, messenger's
//!  signals ────┘ ◀── Enforced (the enforcer's reports) ──────              page sets, stall (tests)
//!  fleet, web, messenger (tokio runtimes) ─ Input::Fleet / Control ─▶
//! ```
//!
//! - [`sources`]: one thread per source, each blocking on its own kind of
//!   readiness; one bounded channel into the detector.
//! - [`detector`]: the only owner of counting state. Single-threaded, no
//!   lock and no allocation per line on the hot path.
//! - [`sinks`]: the enforcer (kernel first, then the store with the read
//!   positions, as one fact) and the event sinks behind the [`bus`]'s
//!   bounded queues with a per-sink full policy.
//! - Exactly once: a line's position is committed in the same store
//!   transaction as the bans it led to; a restart re-reads from there,
//!   after replaying the counting window ([`rebuild`]) with bans
//!   suppressed.
//!
//! Threads, not an async runtime, run this side: the detector and the
//! kernel must never depend on a network runtime. Network-facing sinks
//! run behind their bus queues on threads of their own: the alerts
//! ([`sinks::alerts`]) with blocking SMTP/HTTP clients and timeouts; the
//! API and console ([`web`]), the blocked person's page ([`messenger`]) and
//! the fleet ([`fleet`]) each on a tokio current-thread runtime of its own.

pub mod bus;
pub mod control;
pub mod decide;
pub mod detector;
pub mod events;
pub mod fleet;
pub mod messenger;
pub mod notify;
pub mod plan;
pub mod rebuild;
pub mod refresh;
pub mod sinks;
pub mod sources;
pub mod web;

use crate::cli::{Global, RuleSources, RunArgs};
use crate::exit;
use crate::fw::{self, Ctx};
use crate::settings;
use anyhow::{Context, Result};
use bus::{Bus, FullPolicy};
use detector::{Owner, SourceInfo};
use events::{Input, Signal, SourceNotice};
use serde_json::{Value, json};
use sinks::enforcer::{EnforceCmd, Enforcer};
use sources::Feed;
use sources::files::FileSource;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// Inputs queued between the sources and the detector.
const INPUT_QUEUE: usize = 64;
/// Passes queued between the detector and the enforcer.
const ENFORCE_QUEUE: usize = 1024;
/// Periodic work while lines arrive; when idle, the daemon sleeps longer.
const TICK: Duration = Duration::from_secs(1);
const IDLE_TICK: Duration = Duration::from_secs(30);

/// The running daemon, as the detector thread sees it.
pub struct Daemon {
    owner: Owner,
    bus: Arc<Bus>,
    enforcer: SyncSender<EnforceCmd>,
    started: Instant,
    notices: u64,
    global: Global,
    rules: RuleSources,
    alerts: Option<sinks::alerts::AlertsHandle>,
    fleet: Option<Arc<fleet::state::Shared>>,
    fleet_caught_up: bool,
    messenger: Option<Arc<messenger::Shared>>,
}

/// `rampart run`.
pub fn run(global: &Global, a: &RunArgs) -> Result<u8> {
    init_logging(a.log_format == "json");
    // one daemon per state directory, and a directory no other user can
    // have prepared for us
    let state = rampart_store::StateDir::open(&global.state_dir)?;
    let _lock = state.lock_exclusive()?;
    let Some(start) = prepare(global, a)? else {
        eprintln!(
            "rampart: nothing to watch: none of the standard log files exist and the journal is not available; use --watch PATH"
        );
        return Ok(exit::USAGE);
    };
    let files = start.plan.files.clone();
    let (mut d, rx, stop) = launch(global, a, start)?;
    // ready: starting positions durable, every source listening
    for p in &files {
        tracing::info!("watching {}", p.display());
    }
    notify::sd_notify("READY=1\nSTATUS=watching logs");
    d.bus.publish(events::Event::Lifecycle("started".into()));
    d.main_loop(&rx);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    d.finish();
    Ok(exit::OK)
}

/// What the daemon starts from: configuration, rules, the kernel loaded
/// from the store, the sources opened at their committed positions.
struct Start {
    loaded: settings::Loaded,
    det: rampart_core::detect::Detector,
    ctx: Ctx,
    reader: rampart_store::Store,
    plan: plan::Plan,
    files: Option<FileSource>,
    journal: Option<sources::journal::JournalSource>,
}

/// Loads everything; `None` when there is nothing to watch.
fn prepare(global: &Global, a: &RunArgs) -> Result<Option<Start>> {
    let loaded = settings::load(global, &a.sources)?;
    let mut det = loaded.detector()?;
    let mut ctx = Ctx::open(global, a.dry_run)?;
    let report = fw::apply_all(&mut ctx).context("cannot load the firewall at start")?;
    tracing::info!("firewall loaded: {report}");
    let plan = plan::plan(a, &loaded.config);
    log_plan(&plan);
    let mut reader = open_store(&ctx, Duration::from_secs(5))?;
    let mirror = rampart_firewall::Mirror::load(&mut ctx.store, &mut ctx.kernel, settings::now())
        .context("cannot load the deny set")?;
    ctx.mirror = Some(mirror);
    // from now on a locked database must not hold up the kernel
    ctx.store.set_busy_timeout(Duration::from_millis(20))?;
    let saved = saved_positions(&reader);
    let tctx = rampart_core::time::TimeContext::in_zone(&loaded.config.log_zone, settings::now());
    let files = follow(&plan, &saved, &mut det, &tctx)?;
    // the positions a first start begins at, committed before anything is
    // read: a crash right after the start loses nothing written meanwhile
    if let Some(f) = &files {
        reader
            .record_pass(&[], &[f.starting()], settings::now())
            .context("cannot record the starting read positions")?;
    }
    let journal = plan
        .journal
        .then(|| open_journal(a, &ctx, &saved))
        .flatten();
    if files.is_none() && journal.is_none() {
        return Ok(None);
    }
    Ok(Some(Start {
        loaded,
        det,
        ctx,
        reader,
        plan,
        files,
        journal,
    }))
}

fn log_plan(plan: &plan::Plan) {
    if !plan.missing.is_empty() {
        tracing::info!("not found (not followed): {}", plan.missing.join(", "));
    }
    if !plan.waiting.is_empty() {
        let w = plan.waiting.join(", ");
        tracing::info!("no file matches yet (followed as soon as one appears): {w}");
    }
}

/// Starts the threads: sinks, the enforcer, every source.
fn launch(
    global: &Global,
    a: &RunArgs,
    s: Start,
) -> Result<(Daemon, Receiver<Input>, Arc<AtomicBool>)> {
    let config = &s.loaded.config;
    let want_nflog =
        !a.dry_run && (config.portscan.enabled || s.ctx.limits().is_ok_and(|l| !l.is_empty()));
    let (tx, rx) = sync_channel(INPUT_QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let feed = Feed::new(tx.clone(), Arc::clone(&stop));
    let fleet = match &config.fleet {
        Some(cfg) => Some(fleet::Fleet::prepare(cfg)?),
        None => None,
    };
    let web_sinks = config.api.enabled.then(|| WebSinks {
        metrics: Arc::new(web::metrics::Metrics::new()),
        events: sinks::feed::channel(),
    });
    let (mut bus, alerts) = start_sinks(
        config,
        fleet.as_ref(),
        s.ctx.store.path(),
        web_sinks.as_ref(),
    )?;
    let store_path = s.ctx.store.path().to_path_buf();
    if !a.dry_run {
        messenger::add_sinks(config, &mut bus, &store_path)?;
    }
    let bus = Arc::new(bus);
    let (etx, erx) = sync_channel(ENFORCE_QUEUE);
    let state_dir = s.ctx.state_dir.clone();
    let enforcer = Enforcer::new(s.ctx, Arc::clone(&bus), tx);
    std::thread::Builder::new()
        .name("enforcer".into())
        .spawn(move || enforcer.run(erx))?;
    let mut infos = source_infos(&s.plan);
    if let Some(ws) = web_sinks {
        start_web(global, a, config, &feed, &bus, &store_path, ws);
    }
    start_sources(&state_dir, s.files, s.journal, &mut infos, &feed)?;
    start_kernel_sources(want_nflog, config, &feed)?;
    match sources::addrs::AddrSource::open() {
        Ok(a) => sources::spawn(Box::new(a), feed.clone())?,
        Err(e) => tracing::warn!("the host's address changes are not followed: {e}"),
    }
    let mut paged = None;
    if !a.dry_run {
        refresh::spawn(global, feed.clone())?;
        let pack = messenger_pack(&s.loaded, &s.det)?;
        paged = messenger::start(config, pack, &store_path, feed.clone(), Arc::clone(&bus))?;
    }
    let fleet_shared = match fleet {
        Some(f) => {
            let shared = Arc::clone(&f.shared);
            let src = sources::fleet::FleetSource::new(f.cfg, f.trusted, f.shared);
            sources::spawn(Box::new(src), feed.clone())?;
            Some(shared)
        }
        None => None,
    };
    let owner = Owner::new(
        s.det,
        config.clone(),
        s.reader,
        infos,
        Arc::clone(&bus),
        etx.clone(),
    );
    let mut d = Daemon {
        owner,
        bus,
        enforcer: etx,
        started: Instant::now(),
        notices: 0,
        global: Global {
            config: global.config.clone(),
            state_dir: global.state_dir.clone(),
        },
        rules: a.sources.clone(),
        alerts,
        fleet: fleet_shared,
        fleet_caught_up: false,
        messenger: paged,
    };
    // a node catches up with the fleet's active decisions before it is ready
    if let Some(cfg) = &config.fleet {
        d.fleet_catch_up(&rx, Duration::from_secs(cfg.catchup_timeout_secs));
    }
    Ok((d, rx, stop))
}

/// Starts the API, metrics and console (`[api]`). A listener that cannot
/// be bound is logged: the firewall runs on without it.
fn start_web(
    global: &Global,
    a: &RunArgs,
    config: &rampart_core::config::Config,
    feed: &Feed,
    bus: &Arc<Bus>,
    store: &std::path::Path,
    sinks: WebSinks,
) {
    let parts = web::Parts {
        metrics: sinks.metrics,
        events: sinks.events,
        feed: feed.clone(),
        bus: Arc::clone(bus),
        global: Global {
            config: global.config.clone(),
            state_dir: global.state_dir.clone(),
        },
        rules: a.sources.clone(),
        store_path: store.to_path_buf(),
    };
    match web::start(&config.api, parts) {
        Ok(Some(addr)) => {
            let scheme = if config.api.tls() { "https" } else { "http" };
            tracing::info!("api: listening on {scheme}://{addr}");
        }
        Ok(None) => {}
        Err(e) => tracing::error!("api: not started: {e:#}"),
    }
}

/// One entry per followed file or glob, with its declared program.
fn source_infos(plan: &plan::Plan) -> Vec<SourceInfo> {
    plan.files
        .iter()
        .zip(&plan.programs)
        .map(|(p, prog)| SourceInfo {
            program: prog.clone(),
            ..info(&p.display().to_string())
        })
        .collect()
}

fn info(name: &str) -> SourceInfo {
    SourceInfo {
        name: name.to_string(),
        ..SourceInfo::default()
    }
}

fn open_store(ctx: &Ctx, busy: Duration) -> Result<rampart_store::Store> {
    let opts = rampart_store::Options { busy_timeout: busy };
    rampart_store::Store::open_with(ctx.store.path(), opts).context("cannot open the ban store")
}

/// Where each source was left, as the store keeps it.
fn saved_positions(store: &rampart_store::Store) -> BTreeMap<String, String> {
    match store.positions() {
        Ok(p) => p.into_iter().collect(),
        Err(e) => {
            tracing::warn!(
                "cannot read the saved read positions ({e}); starting at the end of each log"
            );
            BTreeMap::new()
        }
    }
}

/// Opens the files at their saved positions and replays each one's
/// counting window.
fn follow(
    plan: &plan::Plan,
    saved: &BTreeMap<String, String>,
    det: &mut rampart_core::detect::Detector,
    tctx: &rampart_core::time::TimeContext,
) -> Result<Option<FileSource>> {
    if plan.files.is_empty() {
        return Ok(None);
    }
    let checkpoint = sources::files::saved(saved.get(sources::files::CHECKPOINT_KEY));
    let max = det.engine().max_line_bytes;
    let files =
        FileSource::open(&plan.files, checkpoint, max, 0).context("cannot follow the log files")?;
    for (path, known) in files.positions() {
        let n = rebuild::replay_path(det, &path, &known, tctx);
        if n > 0 {
            tracing::info!("{}: {n} lines replayed to rebuild counters", path.display());
        }
    }
    Ok(Some(files))
}

fn open_journal(
    a: &RunArgs,
    ctx: &Ctx,
    saved: &BTreeMap<String, String>,
) -> Option<sources::journal::JournalSource> {
    let cursor = saved
        .get(sources::journal::CHECKPOINT_KEY)
        .and_then(|v| serde_json::from_str::<String>(v).ok());
    let options = sources::journal::JournalOptions {
        cursor,
        ..Default::default()
    };
    let cursor_file = ctx.state_dir.join("journal.cursor");
    match sources::journal::JournalSource::with_options(
        a.journalctl.clone().into(),
        cursor_file,
        None,
        options,
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
}

/// What the web side's sinks feed: the metrics' counters and the live feed.
struct WebSinks {
    metrics: Arc<web::metrics::Metrics>,
    events: sinks::feed::FeedSender,
}

/// The event sinks and their queues.
fn start_sinks(
    config: &rampart_core::config::Config,
    fleet: Option<&fleet::Fleet>,
    store: &std::path::Path,
    web: Option<&WebSinks>,
) -> Result<(Bus, Option<sinks::alerts::AlertsHandle>)> {
    let mut bus = Bus::default();
    if let Some(w) = web {
        let rx = bus.add(
            "metrics",
            65536,
            FullPolicy::DropNewest,
            sinks::metrics::wants,
        );
        let metrics = Arc::clone(&w.metrics);
        sinks::spawn(Box::new(sinks::metrics::MetricsSink { metrics }), rx)?;
        let rx = bus.add("feed", 4096, FullPolicy::DropNewest, sinks::feed::wants);
        let tx = w.events.clone();
        sinks::spawn(Box::new(sinks::feed::FeedSink { tx }), rx)?;
    }
    if let Some(f) = fleet {
        let rx = bus.add("fleet", 65536, FullPolicy::DropNewest, sinks::fleet::wants);
        let (cfg, key, shared) = (f.cfg.clone(), f.key.clone(), Arc::clone(&f.shared));
        sinks::fleet::spawn(cfg, key, shared, store.to_path_buf(), rx)?;
    }
    let rx = bus.add("log", 4096, FullPolicy::DropNewest, sinks::log::wants);
    sinks::spawn(Box::new(sinks::log::LogSink), rx)?;
    if sinks::stall::enabled() {
        let rx = bus.add("stall", 64, FullPolicy::DropNewest, sinks::stall::wants);
        sinks::spawn(Box::new(sinks::stall::StallSink), rx)?;
    }
    let alerts = sinks::alerts::start(config, &mut bus).context("cannot start the alerts")?;
    Ok((bus, alerts))
}

/// What the messenger needs of the rule pack: the reason catalogue and
/// the rules (to read the account tried from a ban's evidence), compiled
/// only when the messenger is on.
fn messenger_pack(
    loaded: &settings::Loaded,
    det: &rampart_core::detect::Detector,
) -> Result<(
    Vec<rampart_core::explain::Reason>,
    messenger::accounts::Accounts,
)> {
    let rules = if loaded.config.messenger.enabled {
        loaded.rules.clone()
    } else {
        Vec::new()
    };
    let accounts = messenger::accounts::Accounts::new(rules, &loaded.config)?;
    Ok((det.reasons().to_vec(), accounts))
}

fn start_sources(
    state_dir: &std::path::Path,
    files: Option<FileSource>,
    journal: Option<sources::journal::JournalSource>,
    infos: &mut Vec<SourceInfo>,
    feed: &Feed,
) -> Result<()> {
    let signals =
        sources::signals::SignalSource::install().context("cannot install signal handlers")?;
    sources::spawn(Box::new(signals), feed.clone())?;
    let control = sources::control::ControlSource::bind(state_dir)
        .context("cannot open the control socket")?;
    sources::spawn(Box::new(control), feed.clone())?;
    if let Some(files) = files {
        sources::spawn(Box::new(files), feed.clone())?;
    }
    if let Some(journal) = journal {
        let id = infos.len();
        infos.push(info("journal"));
        sources::spawn(
            Box::new(sources::journal::JournalFeed { journal, id }),
            feed.clone(),
        )?;
    }
    Ok(())
}

fn start_kernel_sources(
    nflog: bool,
    config: &rampart_core::config::Config,
    feed: &Feed,
) -> Result<()> {
    if nflog {
        match sources::nflog::NflogSource::bind(config.portscan.nflog_group) {
            Ok(s) => sources::spawn(Box::new(s), feed.clone())?,
            Err(e) => tracing::warn!("no kernel port-scan/limit reports: {e}"),
        }
    }
    if config.limits.ct_limit > 0 {
        let interval = Duration::from_secs(config.limits.ct_interval_secs.max(1));
        sources::spawn(
            Box::new(sources::conntrack::ConntrackSource { interval }),
            feed.clone(),
        )?;
    }
    Ok(())
}

/// What handling an input leads to.
#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

impl Daemon {
    fn main_loop(&mut self, rx: &Receiver<Input>) {
        let watchdog = notify::watchdog_interval();
        let mut last_tick = Instant::now();
        let mut last_ping = Instant::now();
        let mut active = false;
        loop {
            let wait = self.wait(last_tick, active, last_ping, watchdog);
            let flow = match rx.recv_timeout(wait) {
                Ok(input) => {
                    active = true;
                    self.drain(input, rx)
                }
                Err(RecvTimeoutError::Timeout) => Flow::Go,
                Err(RecvTimeoutError::Disconnected) => Flow::Stop,
            };
            if !self.owner.flush() || flow == Flow::Stop {
                return;
            }
            if last_tick.elapsed() >= if active { TICK } else { IDLE_TICK } {
                self.owner.tick();
                last_tick = Instant::now();
                active = false;
            }
            if let Some(iv) = watchdog
                && last_ping.elapsed() >= iv
            {
                notify::sd_notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
        }
    }

    /// How long the detector may sleep: until the next tick, the next
    /// watchdog ping, or the periodic commit of positions.
    fn wait(
        &self,
        last_tick: Instant,
        active: bool,
        last_ping: Instant,
        watchdog: Option<Duration>,
    ) -> Duration {
        let tick = if active { TICK } else { IDLE_TICK };
        let mut wait = tick.saturating_sub(last_tick.elapsed());
        if let Some(iv) = watchdog {
            wait = wait.min(iv.saturating_sub(last_ping.elapsed()));
        }
        if let Some(c) = self.owner.commit_due_in() {
            wait = wait.min(c);
        }
        wait
    }

    /// Handles `first` and whatever else is already queued (bounded), so a
    /// pass's bans go to the enforcer as one batch.
    fn drain(&mut self, first: Input, rx: &Receiver<Input>) -> Flow {
        if self.handle(first) == Flow::Stop {
            return Flow::Stop;
        }
        for _ in 0..INPUT_QUEUE {
            let Ok(i) = rx.try_recv() else { break };
            if self.handle(i) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Go
    }

    fn handle(&mut self, input: Input) -> Flow {
        match input {
            Input::Lines {
                source,
                data,
                checkpoint,
                read_at,
            } => {
                self.owner.lines(source, &data, checkpoint, read_at);
            }
            Input::Packets(p) => self.owner.packets(p),
            Input::ConnCounts(c) => self.owner.conn_counts(c),
            Input::Control(req, reply) => self.control(&req, reply),
            Input::Signal(Signal::Stop) => return Flow::Stop,
            Input::Signal(Signal::Reload) => {
                let r = self.reload();
                tracing::info!("SIGHUP: {}", r["message"].as_str().unwrap_or(""));
            }
            Input::Notice(n) => self.notice(n),
            Input::Enforced(r) => self.owner.enforced(r),
            Input::OwnAddresses(own) => self.owner.own_addresses(own),
            Input::Fleet(events::FleetInput::Decisions(ds)) => self.owner.fleet(ds),
            Input::Fleet(events::FleetInput::CaughtUp) => self.fleet_caught_up = true,
            Input::LoginFailed(f) => self.owner.login_failed(&f),
        }
        Flow::Go
    }

    fn notice(&mut self, n: SourceNotice) {
        self.notices += 1;
        let ev = if n.error && n.source.starts_with("blocklist") {
            events::Event::RefreshFailed {
                what: n.source.clone(),
                error: n.message.clone(),
            }
        } else {
            events::Event::Source(n.clone())
        };
        self.bus.publish(ev);
        if n.error {
            tracing::warn!("{}: {}", n.source, n.message);
        } else {
            tracing::info!("{}: {}", n.source, n.message);
        }
        if let Some(s) = self.owner.sources.iter_mut().find(|s| s.name == n.source) {
            s.errors += u64::from(n.error);
            s.last_notice = Some(n.message);
        }
    }

    /// Reloads configuration and rules; counters carry over. A bad
    /// configuration is refused and the running one stays.
    fn reload(&mut self) -> Value {
        let built = settings::load(&self.global, &self.rules).and_then(|l| {
            let d = l.detector()?;
            Ok((l, d))
        });
        match built {
            Ok((l, fresh)) => {
                let n = l.rules.len();
                match &self.alerts {
                    Some(a) => a.reconfigure(l.config.alerts.clone()),
                    None if l.config.alerts.active() => {
                        tracing::warn!(
                            "[alerts] takes effect at the next start (no alerts were configured at this one)"
                        )
                    }
                    None => {}
                }
                self.owner.replace(fresh, l.config);
                self.bus
                    .publish(events::Event::Lifecycle("reloaded".into()));
                json!({"ok": true, "message": format!("reloaded: {n} rules")})
            }
            Err(e) => {
                self.bus
                    .publish(events::Event::ReloadRefused(format!("{e:#}")));
                json!({"ok": false, "message": format!("reload refused, the running configuration stays: {e:#}")})
            }
        }
    }

    /// Before reporting ready: every still-active fleet decision applied
    /// (in the kernel), or `timeout` passed (NATS unreachable: the node
    /// starts with what it has and catches up when NATS returns).
    fn fleet_catch_up(&mut self, rx: &Receiver<Input>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.fleet_caught_up {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                tracing::warn!("fleet: not caught up after {timeout:?}; starting anyway");
                return;
            };
            match rx.recv_timeout(left.min(TICK)) {
                Ok(input) => {
                    if self.drain(input, rx) == Flow::Stop {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.owner.flush();
        }
        self.owner.flush_all();
        // the enforcer answers after the passes before: they are in the kernel
        let (tx, reply) = sync_channel(1);
        if self.enforcer.send(EnforceCmd::Status(tx)).is_ok() {
            let _ = reply.recv_timeout(Duration::from_secs(30));
        }
        tracing::info!("fleet: caught up");
    }

    /// At stop: the last pass and everything pending written.
    fn finish(&mut self) {
        notify::sd_notify("STOPPING=1");
        self.owner.flush_all();
        let (tx, rx) = sync_channel(1);
        if self.enforcer.send(EnforceCmd::Drain(tx)).is_ok() {
            let st = rx
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or(Value::Null);
            if st["store_pending"].as_u64().unwrap_or(0) > 0 {
                tracing::error!("stopping with bans not recorded in the store: {st}");
            }
        }
        // after the last pass's bans, so the alerts' last digests hold them
        self.bus
            .publish(events::Event::Lifecycle("stopping".into()));
        if let Some(a) = &self.alerts {
            a.drain(Duration::from_secs(10));
        }
        tracing::info!(
            "stopping ({} bans this run); bans stay in the kernel and expire there",
            self.owner.bans
        );
    }
}

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
