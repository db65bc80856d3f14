//! The kernel side of enforcement: each pass's bans as one netlink batch
//! into the deny sets; what the kernel refuses is retried with backoff and
//! reported (never "recorded, not enforced, silently").

use crate::daemon::events::Ban;
use crate::fw::Ctx;
use anyhow::Result;
use rampart_nft::{Element, IpRange, SetList};
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

fn element(b: &Ban, now: i64) -> Result<Element> {
    let range =
        IpRange::cidr(b.target.addr, b.target.prefix).map_err(|e| anyhow::anyhow!("{e}"))?;
    // what is left of the ban's length since it was decided
    let timeout = b
        .len
        .map(|l| Duration::from_secs((b.decided + l - now).max(1) as u64));
    Ok(Element { range, timeout })
}

impl KernelSink {
    /// Puts `bans` into the kernel in one batch; if our table is missing
    /// (flushed by hand), reloads the skeleton and tries once more.
    pub fn apply(&mut self, ctx: &mut Ctx, bans: &[Arc<Ban>], now: i64) -> Result<()> {
        let elements = bans
            .iter()
            .map(|b| element(b, now))
            .collect::<Result<Vec<_>>>()?;
        if elements.is_empty() {
            return Ok(());
        }
        if ctx.fw.refresh(&SetList::Deny, &elements).is_ok() {
            return Ok(());
        }
        ctx.ensure_table()?;
        ctx.fw
            .refresh(&SetList::Deny, &elements)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{e}"))
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
