//! The enforcer thread: kernel first, then the store, in the order the
//! detector decided. See the [module overview](super).

use super::kernel::KernelSink;
use super::store::{self, StoreSink};
use crate::daemon::bus::Bus;
use crate::daemon::events::{Ban, Enforced, Event, Input};
use crate::fw::Ctx;
use crate::settings::now;
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
        self.store.flush(&mut self.ctx.store, now());
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
            EnforceCmd::Drain(reply) => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !self.store.is_empty() && Instant::now() < deadline {
                    self.store.flush(&mut self.ctx.store, now());
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
        self.store.flush(&mut self.ctx.store, now);
        for l in &p.lifts {
            self.lift(l, now);
        }
    }

    /// A peer's unblock: the kernel element and the store entry go, if
    /// the entry is one a peer may lift.
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
        if let Ok(r) = rampart_nft::IpRange::cidr(l.target.addr, l.target.prefix)
            && let Err(e) = self.ctx.fw.delete(&rampart_nft::SetList::Deny, &[r])
        {
            tracing::warn!("fleet unblock of {}: the kernel refused: {e}", l.target);
        }
        if let Err(e) = self
            .ctx
            .store
            .unblock(l.target, &Removal::by(by.clone(), None), now)
        {
            tracing::warn!("fleet unblock of {}: not recorded: {e}", l.target);
        }
        self.bus.publish(Event::Unblocked {
            target: l.target,
            by,
            peer: Some(l.node.clone()),
        });
    }

    fn catch_up(&mut self) {
        let now = now();
        let done = self.kernel.retry(&mut self.ctx, now);
        if !done.is_empty() {
            tracing::info!("{} ban(s) enforced after retrying", done.len());
            self.applied(&done);
        }
        self.store.flush(&mut self.ctx.store, now);
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
