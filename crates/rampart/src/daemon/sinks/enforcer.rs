//! The enforcer thread: kernel first, then the store, in the order the
//! detector decided. See the [module overview](super).

use super::kernel::KernelSink;
use super::store::{self, StoreSink};
use crate::daemon::bus::Bus;
use crate::daemon::events::{Ban, BanOrigin, Enforced, Event, Input};
use crate::fw::Ctx;
use crate::settings::now;
use rampart_store::Kind;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

/// One pass of the detector: its bans and the read positions they were
/// decided at (store key → the source's JSON).
#[derive(Debug, Default)]
pub struct Pass {
    /// The bans.
    pub bans: Vec<Arc<Ban>>,
    /// The positions.
    pub positions: Vec<(String, String)>,
    /// Peers' unblocks, applied after the bans.
    pub lifts: Vec<Lift>,
}

/// A peer's unblock: lifts the target's detector or fleet ban decided
/// before it (never a manual, blocklist or country entry).
#[derive(Debug, Clone)]
pub struct Lift {
    /// The target.
    pub target: rampart_core::addr::Net,
    /// The node that unblocked it.
    pub node: String,
    /// When it did (Unix seconds).
    pub decided: i64,
}

/// What the detector asks of the enforcer.
pub enum EnforceCmd {
    /// Enforce and record a pass.
    Pass(Pass),
    /// Report counters.
    Status(SyncSender<Value>),
    /// Write everything pending (at stop), then answer.
    Drain(SyncSender<Value>),
    /// A change from the CLI (or the console): applied here, the one
    /// writer, through the mirror; the reply goes straight to the asker.
    Change(Box<rampart_firewall::Change>, SyncSender<Value>),
}

/// The enforcer: the kernel and the store, on one thread.
pub struct Enforcer {
    ctx: Ctx,
    kernel: KernelSink,
    store: StoreSink,
    bus: Arc<Bus>,
    feedback: SyncSender<Input>,
}

impl Enforcer {
    /// An enforcer over `ctx` (whose store should have a short busy
    /// timeout: a locked database must not hold up the kernel).
    pub fn new(ctx: Ctx, bus: Arc<Bus>, feedback: SyncSender<Input>) -> Enforcer {
        Enforcer {
            ctx,
            kernel: KernelSink::default(),
            store: StoreSink::default(),
            bus,
            feedback,
        }
    }

    /// Runs until the detector hangs up.
    pub fn run(mut self, rx: Receiver<EnforceCmd>) {
        loop {
            let wait = self.next_due().map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(wait) {
                Ok(cmd) => self.handle(cmd),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.catch_up();
        }
        // the detector is gone: one last attempt at what is pending
        self.record(now());
    }

    fn next_due(&self) -> Option<Instant> {
        match (self.kernel.due(), self.store.due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle(&mut self, cmd: EnforceCmd) {
        match cmd {
            EnforceCmd::Pass(p) => self.pass(p),
            EnforceCmd::Status(reply) => {
                let _ = reply.send(self.status());
            }
            EnforceCmd::Change(change, reply) => {
                let _ = reply.send(self.change(&change));
            }
            EnforceCmd::Drain(reply) => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !self.store.is_empty() && Instant::now() < deadline {
                    self.record(now());
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = reply.send(self.status());
            }
        }
    }

    fn pass(&mut self, p: Pass) {
        let now = now();
        if !p.bans.is_empty() {
            match self.kernel.apply(&mut self.ctx, &p.bans, now) {
                Ok(()) => self.applied(&p.bans),
                Err(e) => self.refused(&p.bans, &format!("{e:#}")),
            }
        }
        self.store
            .push(p.bans.iter().map(|b| store::entry(b)), p.positions);
        self.record(now);
        for l in &p.lifts {
            self.lift(l, now);
        }
    }

    /// A peer's unblock: the target's ban is lifted (store and kernel in
    /// one step, through the mirror) when it is one a peer may lift: a
    /// detector or fleet ban decided before the peer's unblock.
    fn lift(&mut self, l: &Lift, now: i64) {
        use rampart_store::{Kind, Origin, Removal};
        match self.ctx.store.find(Kind::Deny, l.target) {
            Ok(Some(e))
                if matches!(e.origin, Origin::Detector | Origin::Cluster)
                    && e.created <= l.decided => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("fleet unblock of {} not applied: {e}", l.target);
                return;
            }
        }
        let by = format!("fleet:{}", l.node);
        let change = rampart_firewall::Change::Unblock {
            target: l.target,
            removal: Removal::by(by.clone(), None),
        };
        let mut mirror = self.ctx.mirror.take();
        let r = match mirror.as_mut() {
            Some(m) => m.apply_change(&mut self.ctx.store, &mut self.ctx.kernel, &change, now),
            None => rampart_firewall::apply_change(
                &mut self.ctx.store,
                &mut self.ctx.kernel,
                &change,
                now,
            ),
        };
        self.ctx.mirror = mirror;
        if let Err(e) = r {
            tracing::warn!("fleet unblock of {} not applied: {e}", l.target);
            return;
        }
        self.bus.publish(Event::Unblocked {
            target: l.target,
            by,
            peer: Some(l.node.clone()),
        });
    }

    /// Writes what is pending to the store (when a retry is due).
    fn record(&mut self, now: i64) {
        let done = self.store.flush(&mut self.ctx.store, now);
        if !done.is_empty() {
            self.kernel.recorded(&mut self.ctx, &done);
        }
    }

    /// Applies a change (store and kernel in one step, the bans not yet
    /// recorded kept in the kernel). A locked store is waited for a little
    /// longer than for bans: the admin is waiting for an answer.
    fn change(&mut self, change: &rampart_firewall::Change) -> Value {
        let now = now();
        let mut mirror = match self.ctx.mirror.take() {
            Some(m) => m,
            None => {
                match rampart_firewall::Mirror::load(&mut self.ctx.store, &mut self.ctx.kernel, now)
                {
                    Ok(m) => m,
                    Err(e) => return json!({"ok": false, "error": format!("{e}")}),
                }
            }
        };
        let _ = self.ctx.store.set_busy_timeout(Duration::from_secs(2));
        let r = mirror.apply_change(&mut self.ctx.store, &mut self.ctx.kernel, change, now);
        let _ = self.ctx.store.set_busy_timeout(Duration::from_millis(20));
        self.ctx.mirror = Some(mirror);
        match r {
            Ok(out) => {
                tracing::info!("{} from the control socket: applied", change_name(change));
                self.published(change, &out);
                json!({"ok": true, "outcome": out})
            }
            Err(e) => json!({"ok": false, "error": format!("{e}")}),
        }
    }

    /// Lifted entries and an administrator's denies are events (the log,
    /// alerts, the fleet).
    fn published(&self, change: &rampart_firewall::Change, out: &rampart_firewall::Outcome) {
        if let rampart_firewall::Change::Add(e) = change
            && e.kind == Kind::Deny
        {
            self.bus.publish(Event::BanApplied(Arc::new(manual_ban(e))));
        }
        let by = match change {
            rampart_firewall::Change::Unblock { removal, .. }
            | rampart_firewall::Change::Remove { removal, .. } => removal.by.clone(),
            _ => None,
        }
        .unwrap_or_else(|| "cli".into());
        for e in &out.removed {
            self.bus.publish(Event::Unblocked {
                target: e.target,
                by: by.clone(),
                peer: None,
            });
        }
    }

    fn catch_up(&mut self) {
        let now = now();
        let done = self.kernel.retry(&mut self.ctx, now);
        if !done.is_empty() {
            tracing::info!("{} ban(s) enforced after retrying", done.len());
            self.applied(&done);
        }
        self.record(now);
    }

    fn applied(&self, bans: &[Arc<Ban>]) {
        for b in bans {
            self.bus.publish(Event::BanApplied(Arc::clone(b)));
        }
        self.report(bans, None);
    }

    fn refused(&mut self, bans: &[Arc<Ban>], error: &str) {
        for b in bans {
            self.bus
                .publish(Event::BanFailed(Arc::clone(b), error.to_string()));
        }
        self.kernel.defer(bans);
        self.report(bans, Some(error));
    }

    fn report(&self, bans: &[Arc<Ban>], error: Option<&str>) {
        let r = bans
            .iter()
            .map(|b| Enforced {
                target: b.target,
                error: error.map(str::to_string),
            })
            .collect();
        let _ = self.feedback.try_send(Input::Enforced(r));
    }

    fn status(&self) -> Value {
        json!({
            "unenforced": self.kernel.unenforced(),
            "kernel_failures": self.kernel.failures,
            "store_pending": self.store.pending(),
            "store_commits": self.store.commits,
            "store_failures": self.store.failures,
        })
    }
}

/// An administrator's deny as the event sinks see a ban.
fn manual_ban(e: &rampart_store::NewEntry) -> Ban {
    let now = Instant::now();
    Ban {
        target: e.target,
        reason: e.reason.clone(),
        rule: e.rule.clone().unwrap_or_default(),
        summary: e.summary.clone(),
        evidence: e.evidence.clone(),
        len: e.expires.map(|x| x - e.created),
        level: 0,
        base_len: None,
        origin: BanOrigin::Manual,
        decided: e.created,
        read_at: now,
        offender: e.target.addr,
    }
}

/// A change's name for the log.
fn change_name(change: &rampart_firewall::Change) -> String {
    use rampart_firewall::Change as C;
    match change {
        C::Add(e) => format!("{} {}", e.kind, e.target),
        C::Remove { kinds, target, .. } => format!("remove {target} from {kinds:?}"),
        C::Unblock { target, .. } => format!("unblock {target}"),
        C::Expire => "expire".into(),
        C::Flush => "flush".into(),
        C::Apply => "apply".into(),
        C::LoadBlocklist { name, .. } => format!("blocklist {name}"),
    }
}
