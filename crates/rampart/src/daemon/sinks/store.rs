//! The store side of enforcement: each pass's bans and the read positions
//! they were decided at, recorded as one transaction
//! (`Store::record_pass`). While the database is locked (another writer,
//! a backup tool holding it) passes accumulate in memory — already
//! enforced in the kernel — and are written as one when it frees up. If
//! the daemon dies meanwhile nothing is lost: the positions were not
//! advanced, so the lines are read again and the same bans decided again.

use crate::daemon::events::{Ban, BanOrigin};
use rampart_core::addr::Net;
use rampart_store::{Kind, NewEntry, Origin, Store};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Passes not yet in the store.
#[derive(Default)]
pub struct StoreSink {
    entries: Vec<NewEntry>,
    positions: BTreeMap<String, String>,
    next_try: Option<Instant>,
    backoff: Duration,
    locked_since: Option<Instant>,
    /// Passes written.
    pub commits: u64,
    /// Failed attempts (locked or other errors).
    pub failures: u64,
}

/// The store entry of a ban.
pub fn entry(b: &Ban) -> NewEntry {
    let (origin, comment) = match &b.origin {
        BanOrigin::Fleet { node } => (Origin::Cluster, Some(format!("fleet:{node}"))),
        BanOrigin::Manual => (Origin::Manual, None),
        _ => (Origin::Detector, None),
    };
    let mut e = NewEntry::new(
        Kind::Deny,
        b.target,
        origin,
        b.reason.clone(),
        b.decided,
        b.len.map(|l| b.decided + l),
    );
    e.rule = Some(b.rule.clone());
    e.summary = b.summary.clone();
    e.evidence = b.evidence.clone();
    e.level = Some(b.level);
    e.comment = comment;
    e
}

impl StoreSink {
    /// Adds a pass (merged with what is still pending).
    pub fn push(
        &mut self,
        bans: impl IntoIterator<Item = NewEntry>,
        positions: Vec<(String, String)>,
    ) {
        self.entries.extend(bans);
        self.positions.extend(positions);
    }

    /// Entries waiting for the store.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.positions.is_empty()
    }

    /// When the next attempt is due (`None`: nothing pending or due now).
    pub fn due(&self) -> Option<Instant> {
        if self.is_empty() { None } else { self.next_try }
    }

    /// Writes what is pending unless a retry is not due yet; returns the
    /// targets recorded.
    pub fn flush(&mut self, store: &mut Store, now: i64) -> Vec<Net> {
        if self.is_empty() || self.next_try.is_some_and(|t| Instant::now() < t) {
            return Vec::new();
        }
        let positions: Vec<(String, String)> = self
            .positions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match store.record_pass(&self.entries, &positions, now) {
            Ok(_) => {
                let targets = self.entries.iter().map(|e| e.target).collect();
                self.written();
                targets
            }
            Err(e) => {
                self.failed(e);
                Vec::new()
            }
        }
    }

    fn written(&mut self) {
        if let Some(since) = self.locked_since.take() {
            tracing::info!(
                "the store is writable again after {:.1}s; {} pending ban(s) recorded",
                since.elapsed().as_secs_f64(),
                self.entries.len()
            );
        }
        self.entries.clear();
        self.positions.clear();
        self.commits += 1;
        self.backoff = Duration::ZERO;
        self.next_try = None;
    }

    fn failed(&mut self, e: rampart_store::Error) {
        self.failures += 1;
        if self.locked_since.is_none() {
            self.locked_since = Some(Instant::now());
            tracing::warn!(
                "cannot record {} ban(s) in the store ({e}); they are enforced in the kernel, and recording is retried until it succeeds",
                self.entries.len()
            );
        }
        self.backoff = (self.backoff * 2).clamp(Duration::from_millis(20), Duration::from_secs(2));
        self.next_try = Some(Instant::now() + self.backoff);
    }
}
