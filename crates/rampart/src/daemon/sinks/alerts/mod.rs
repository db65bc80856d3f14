//! Alerts: e-mail and webhooks, with templates, digests and storm control.
//!
//! ```text
//!  Bus ──(bounded, drop+count)──▶ alert thread ──try_send──▶ channel thread ─▶ SMTP / sendmail
//!                                 kind? switched on?          (bounded queue,    (timeout per attempt,
//!                                 storm: send/fold/dedup       drop+count)         bounded retries)
//!                                 rDNS+country ◀─ resolver thread (timeout)  ──▶ channel thread ─▶ webhook
//!                                 templates → subject/text/html
//! ```
//!
//! Nothing here can slow detection or the kernel: the sink reads the bus
//! behind its own queue (full → dropped and counted, shown in `status`);
//! lookups wait at most a timeout on the resolver thread; delivery happens
//! on one thread per channel behind a small bounded queue, so a hung SMTP
//! server or webhook fills only its own queue. Memory is bounded
//! everywhere: queues, digests ([`storm`]), the day's counts
//! ([`summary`]) and the resolver's cache.
//!
//! Kinds ([`kinds`]): temporary bans, permanent bans (PERMBLOCK
//! escalations and netblocks too), refresh failures, stopped sources,
//! daemon start/stop/reload (and refused reloads with their errors),
//! console logins, self-unblocks and the daily summary ([`summary`]). Each
//! is switched in `[alerts]` and routed per channel (`kinds = [...]`).
//!
//! Storm control ([`storm`]): per kind and interval, `digest_after`
//! messages one by one, the rest in one digest per `digest_interval`;
//! repeats are deduplicated. For 10,000 bans in a minute that is at most
//! `digest_after + 1` messages per ban kind and channel (6 by default).

pub mod channel;
pub mod email;
pub mod kinds;
pub mod resolver;
pub mod storm;
pub mod summary;
pub mod templates;
pub mod webhook;

use super::Sink;
use crate::daemon::bus::{Bus, FullPolicy};
use crate::daemon::events::Event;
use channel::{Channel, ChannelReport, Outgoing};
use kinds::{Alert, Context, Lookup};
use rampart_core::config::Config;
use rampart_core::config::alerts::{AlertKind, AlertsConfig};
use rampart_core::explain::Reason;
use rampart_core::time::Timestamp;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use storm::{Storm, Verdict};
use templates::Templates;

/// Events queued between the bus and the alert thread.
pub const QUEUE: usize = 8192;
/// How long one alert waits for rDNS and country.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The events the alert sink takes.
pub fn wants(ev: &Event) -> bool {
    kinds::kind_of(ev).is_some() || matches!(ev, Event::Unblocked { .. })
}

/// Counters shared with `status`.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    folded: AtomicU64,
    duplicates: AtomicU64,
    digests: AtomicU64,
    summaries: AtomicU64,
    template_errors: AtomicU64,
}

/// What the alert thread shares with the daemon.
#[derive(Default)]
struct Shared {
    counters: Counters,
    channels: Mutex<Vec<Arc<Mutex<ChannelReport>>>>,
    pending: Mutex<Option<AlertsConfig>>,
    /// The alert thread has handled the daemon's "stopping".
    stopped: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The daemon's handle on the alerts: status, reload, drain at stop.
#[derive(Clone)]
pub struct AlertsHandle {
    shared: Arc<Shared>,
}

impl AlertsHandle {
    /// `status`'s `alerts` part.
    pub fn report(&self) -> Value {
        let c = &self.shared.counters;
        let channels: Vec<ChannelReport> = lock(&self.shared.channels)
            .iter()
            .map(|s| lock(s).clone())
            .collect();
        json!({
            "messages": c.sent.load(Ordering::Relaxed),
            "folded": c.folded.load(Ordering::Relaxed),
            "duplicates": c.duplicates.load(Ordering::Relaxed),
            "digests": c.digests.load(Ordering::Relaxed),
            "summaries": c.summaries.load(Ordering::Relaxed),
            "template_errors": c.template_errors.load(Ordering::Relaxed),
            "failing": channels.iter().any(|c| c.failing),
            "channels": channels,
        })
    }

    /// A reloaded `[alerts]`, applied by the alert thread before the next
    /// event (the reload's own lifecycle event).
    pub fn reconfigure(&self, cfg: AlertsConfig) {
        *lock(&self.shared.pending) = Some(cfg);
    }

    /// Waits (at most `timeout`) until the alert thread has handled the
    /// daemon's "stopping" and the channels have delivered or given up on
    /// what is queued.
    pub fn drain(&self, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            let busy = !self.shared.stopped.load(Ordering::Relaxed)
                || lock(&self.shared.channels)
                    .iter()
                    .any(|s| lock(s).queued > 0);
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Registers the alert sink on `bus` when `[alerts]` has a channel.
pub fn start(config: &Config, bus: &mut Bus) -> anyhow::Result<Option<AlertsHandle>> {
    if !config.alerts.active() {
        return Ok(None);
    }
    let (sink, handle) = AlertSink::new(config)?;
    let rx = bus.add("alerts", QUEUE, FullPolicy::DropNewest, wants);
    super::spawn(Box::new(sink), rx)?;
    Ok(Some(handle))
}

/// The alert sink (its thread's state).
pub struct AlertSink {
    cfg: AlertsConfig,
    host: String,
    reasons: Vec<Reason>,
    templates: Templates,
    storm: Storm,
    day: summary::Day,
    next_summary: Timestamp,
    resolver: resolver::Resolver,
    channels: Vec<Channel>,
    shared: Arc<Shared>,
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl AlertSink {
    /// The sink for `config` (its channels' threads started) and its
    /// handle. The daemon runs it behind its bus queue ([`start`]); tests
    /// may feed it events directly.
    pub fn new(config: &Config) -> anyhow::Result<(AlertSink, AlertsHandle)> {
        let shared = Arc::new(Shared::default());
        let cfg = config.alerts.clone();
        let rdns = true;
        let resolver =
            resolver::Resolver::start(config.country.database.clone(), rdns, LOOKUP_TIMEOUT);
        let mut s = AlertSink {
            host: String::new(),
            reasons: rampart_core::explain::builtin(),
            templates: Templates::load(std::path::Path::new(&cfg.templates)).0,
            storm: Storm::new(cfg.digest_after, cfg.digest_interval_secs),
            day: summary::Day::default(),
            next_summary: summary::next_at(crate::settings::now(), cfg.summary_at_min),
            resolver,
            channels: Vec::new(),
            shared: Arc::clone(&shared),
            cfg: AlertsConfig::default(),
        };
        s.apply(cfg)?;
        Ok((s, AlertsHandle { shared }))
    }

    /// Takes `cfg`: templates, channels, limits (digests pending under the
    /// old channels are sent first).
    fn apply(&mut self, cfg: AlertsConfig) -> anyhow::Result<()> {
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let mut channels = Vec::new();
        if let Some(e) = &cfg.email {
            let m = email::Mailer::new(e, timeout)?;
            channels.push(Channel::start(Box::new(m), e.kinds, 2)?);
        }
        for w in &cfg.webhooks {
            let h = webhook::Webhook::new(w, timeout);
            channels.push(Channel::start(Box::new(h), w.kinds, w.retries)?);
        }
        let (templates, problems) = Templates::load(std::path::Path::new(&cfg.templates));
        for p in problems {
            tracing::warn!("alerts: template not used: {p}");
        }
        let now = crate::settings::now();
        for d in self.storm.flush(now) {
            self.send_digest(d);
        }
        *lock(&self.shared.channels) = channels.iter().map(Channel::stats).collect();
        self.channels = channels;
        self.templates = templates;
        self.storm = Storm::new(cfg.digest_after, cfg.digest_interval_secs);
        self.host = cfg.hostname.clone().unwrap_or_else(system_hostname);
        self.next_summary = summary::next_at(now, cfg.summary_at_min);
        self.cfg = cfg;
        Ok(())
    }

    fn context(&self, now: Timestamp) -> Context<'_> {
        Context {
            host: &self.host,
            reasons: &self.reasons,
            now,
        }
    }

    fn send(&self, kind: AlertKind, alert: Alert) {
        let (rendered, problem) = self.templates.render(&alert);
        if let Some(p) = problem {
            self.shared
                .counters
                .template_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!("alerts: {p}");
        }
        let msg = Outgoing {
            kind,
            alert: Arc::new(alert),
            rendered: Arc::new(rendered),
        };
        for c in &self.channels {
            c.offer(&msg);
        }
    }

    fn send_digest(&self, d: storm::Digest) {
        let kind = d.kind;
        let now = d.until;
        self.shared.counters.digests.fetch_add(1, Ordering::Relaxed);
        let a = self
            .context(now)
            .digest(d, self.cfg.digest_interval_secs, self.cfg.digest_after);
        self.send(kind, a);
    }

    fn lookup(&self, ev: &Event) -> Lookup {
        match ev {
            Event::BanApplied(b) if b.target.is_host() => self.resolver.lookup(b.target.addr),
            _ => Lookup::default(),
        }
    }

    fn take_pending(&mut self) {
        let pending = lock(&self.shared.pending).take();
        if let Some(cfg) = pending
            && let Err(e) = self.apply(cfg)
        {
            tracing::warn!("alerts: the new [alerts] cannot be used, the old one stays: {e:#}");
        }
    }

    /// Digests whose window closed, and the daily summary when due.
    fn periodic(&mut self, now: Timestamp) {
        for d in self.storm.due(now) {
            self.send_digest(d);
        }
        if now >= self.next_summary {
            self.next_summary = summary::next_at(now, self.cfg.summary_at_min);
            let s = self.day.take(now);
            if self.cfg.kinds.contains(AlertKind::DailySummary) {
                self.shared
                    .counters
                    .summaries
                    .fetch_add(1, Ordering::Relaxed);
                let a = self.context(now).summary(s);
                self.send(AlertKind::DailySummary, a);
            }
        }
    }
}

impl Sink for AlertSink {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn handle(&mut self, ev: &Event) {
        self.take_pending();
        let now = crate::settings::now();
        self.day.add(ev, now);
        self.periodic(now);
        let Some(kind) = kinds::kind_of(ev) else {
            return;
        };
        if !self.cfg.kinds.contains(kind) {
            return;
        }
        let (verdict, due) = self.storm.offer(kind, &kinds::storm_item(ev), now);
        for d in due {
            self.send_digest(d);
        }
        let c = &self.shared.counters;
        match verdict {
            Verdict::Send => {
                c.sent.fetch_add(1, Ordering::Relaxed);
                let lookup = self.lookup(ev);
                let a = self.context(now).build(kind, ev, &lookup);
                self.send(kind, a);
            }
            Verdict::Folded => drop(c.folded.fetch_add(1, Ordering::Relaxed)),
            Verdict::Duplicate => drop(c.duplicates.fetch_add(1, Ordering::Relaxed)),
        }
        if matches!(ev, Event::Lifecycle(s) if s == "stopping") {
            for d in self.storm.flush(now) {
                self.send_digest(d);
            }
            self.shared.stopped.store(true, Ordering::Relaxed);
        }
    }

    fn tick(&mut self) {
        self.take_pending();
        self.periodic(crate::settings::now());
    }

    fn wake_in(&self) -> Option<Duration> {
        let now = crate::settings::now();
        let next = self
            .storm
            .next_due()
            .map_or(self.next_summary, |d| d.min(self.next_summary));
        Some(Duration::from_secs(
            next.saturating_sub(now).clamp(1, 3600) as u64
        ))
    }
}
