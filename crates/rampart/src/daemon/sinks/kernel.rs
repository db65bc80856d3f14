//! The kernel side of enforcement: each pass's bans as one netlink
//! transaction into the deny sets, computed as the exact difference by the
//! daemon's [`Mirror`] (the sets are a function of the store plus the bans
//! not yet recorded); what the kernel refuses is retried with backoff and
//! reported (never "recorded, not enforced, silently").

use crate::daemon::events::Ban;
use crate::fw::Ctx;
use anyhow::Result;
use rampart_core::addr::Net;
use rampart_firewall::Mirror;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bans waiting for the kernel after a refusal.
#[derive(Default)]
pub struct KernelSink {
    retry: Vec<Arc<Ban>>,
    next_try: Option<Instant>,
    backoff: Duration,
    /// Bans the kernel has refused so far (for `status`).
    pub failures: u64,
}

impl KernelSink {
    /// Puts `bans` into the kernel in one transaction through the daemon's
    /// [`Mirror`] of the deny set (no store write needed). A mirror that
    /// another process's change made stale is resynced first when the
    /// store can be written; if the table is gone (`rampart flush`), it is
    /// rebuilt and the bans sent again.
    pub fn apply(&mut self, ctx: &mut Ctx, bans: &[Arc<Ban>], now: i64) -> Result<()> {
        let list: Vec<(Net, Option<i64>)> = bans
            .iter()
            .map(|b| (b.target, b.len.map(|l| b.decided + l)))
            .collect();
        if list.is_empty() {
            return Ok(());
        }
        let mut mirror = match ctx.mirror.take() {
            Some(m) => m,
            None => Mirror::load(&mut ctx.store, &mut ctx.kernel, now)?,
        };
        if mirror.is_stale(&ctx.store).unwrap_or(false)
            && let Err(e) = mirror.resync(&mut ctx.store, &mut ctx.kernel, now)
        {
            tracing::warn!(
                "cannot resync the deny set with the store now ({e}); banning on the current view"
            );
        }
        let mut sent = mirror.ban(&mut ctx.kernel, &list, now);
        if sent.is_err() {
            sent = mirror
                .resync(&mut ctx.store, &mut ctx.kernel, now)
                .and_then(|_| mirror.ban(&mut ctx.kernel, &list, now));
        }
        ctx.mirror = Some(mirror);
        sent.map(|_| ()).map_err(Into::into)
    }

    /// The store now has these bans: the mirror stops holding them apart.
    pub fn recorded(&mut self, ctx: &mut Ctx, targets: &[Net]) {
        if let Some(m) = ctx.mirror.as_mut() {
            m.recorded(targets);
        }
    }

    /// Queues refused bans for another try.
    pub fn defer(&mut self, bans: &[Arc<Ban>]) {
        self.failures += bans.len() as u64;
        self.retry.extend(bans.iter().cloned());
        self.backoff =
            (self.backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        self.next_try = Some(Instant::now() + self.backoff);
    }

    /// Bans not in the kernel yet.
    pub fn unenforced(&self) -> usize {
        self.retry.len()
    }

    /// When the next retry is due.
    pub fn due(&self) -> Option<Instant> {
        self.next_try
    }

    /// Retries the refused bans when due; returns the ones that made it.
    pub fn retry(&mut self, ctx: &mut Ctx, now: i64) -> Vec<Arc<Ban>> {
        if self.next_try.is_none_or(|t| Instant::now() < t) {
            return Vec::new();
        }
        // expired while waiting: nothing to enforce any more
        self.retry
            .retain(|b| b.len.is_none_or(|l| b.decided + l > now));
        let bans = std::mem::take(&mut self.retry);
        self.next_try = None;
        match self.apply(ctx, &bans, now) {
            Ok(()) => {
                self.backoff = Duration::ZERO;
                bans
            }
            Err(e) => {
                tracing::error!("{} ban(s) still not enforced: {e:#}", bans.len());
                self.failures -= bans.len() as u64; // counted once
                self.defer(&bans);
                Vec::new()
            }
        }
    }
}
