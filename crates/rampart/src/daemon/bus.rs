//! Bounded queues between the detector and the sinks, with an explicit
//! policy per sink for when a queue is full, and the counters `status`
//! shows.
//!
//! The detector never waits on a sink it can do without: a slow or hung
//! sink (an SMTP server that never answers, NATS down) fills its own queue
//! and then loses events — counted, never silently — while detection and
//! the kernel ban go on. Only sinks whose loss would leave a ban
//! unenforced (the enforcer, which has its own channel) make the detector
//! wait.

use super::events::Event;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// What a full queue does with a new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Wait until the sink takes something (only for sinks that must not
    /// lose anything and never hang).
    Block,
    /// Drop the new event and count it.
    DropNewest,
}

/// A queue's counters.
#[derive(Debug, Default)]
pub struct QueueStats {
    sent: AtomicU64,
    taken: AtomicU64,
    dropped: AtomicU64,
}

/// A queue's counters as `status` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct QueueReport {
    /// The sink.
    pub sink: &'static str,
    /// Capacity.
    pub capacity: usize,
    /// Events waiting.
    pub depth: u64,
    /// Events delivered to the queue.
    pub sent: u64,
    /// Events lost because the queue was full.
    pub dropped: u64,
    /// The full policy.
    pub policy: FullPolicy,
}

/// The sending side of one sink's queue.
struct SinkQueue {
    name: &'static str,
    capacity: usize,
    policy: FullPolicy,
    wants: fn(&Event) -> bool,
    tx: SyncSender<Arc<Event>>,
    stats: Arc<QueueStats>,
}

/// The receiving side, handed to the sink's thread.
pub struct SinkRx {
    rx: Receiver<Arc<Event>>,
    stats: Arc<QueueStats>,
}

impl SinkRx {
    /// The next event, or `None` after `timeout` (`Err` when the bus is gone).
    pub fn next(&self, timeout: Duration) -> Result<Option<Arc<Event>>, BusClosed> {
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => {
                self.stats.taken.fetch_add(1, Ordering::Relaxed);
                Ok(Some(ev))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(BusClosed),
        }
    }
}

/// The daemon is stopping: no more events will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusClosed;

/// The fan-out from the detector and the enforcer to the sinks.
#[derive(Default)]
pub struct Bus {
    sinks: Vec<SinkQueue>,
}

impl Bus {
    /// Adds a sink's queue: `wants` says which events it takes (others are
    /// never built for it or queued).
    pub fn add(
        &mut self,
        name: &'static str,
        capacity: usize,
        policy: FullPolicy,
        wants: fn(&Event) -> bool,
    ) -> SinkRx {
        let (tx, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(QueueStats::default());
        self.sinks.push(SinkQueue {
            name,
            capacity,
            policy,
            wants,
            tx,
            stats: Arc::clone(&stats),
        });
        SinkRx { rx, stats }
    }

    /// Whether any sink takes events like `probe` (so the detector builds
    /// per-line events only when someone reads them).
    pub fn wants(&self, probe: &Event) -> bool {
        self.sinks.iter().any(|s| (s.wants)(probe))
    }

    /// Delivers an event to every sink that wants it, by each one's policy.
    pub fn publish(&self, ev: Event) {
        let ev = Arc::new(ev);
        for s in &self.sinks {
            if !(s.wants)(&ev) {
                continue;
            }
            let r = match s.policy {
                FullPolicy::Block => s.tx.send(Arc::clone(&ev)).map_err(|_| ()),
                FullPolicy::DropNewest => match s.tx.try_send(Arc::clone(&ev)) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(()),
                },
            };
            match r {
                Ok(()) => s.stats.sent.fetch_add(1, Ordering::Relaxed),
                Err(()) => s.stats.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    /// Every queue's counters.
    pub fn report(&self) -> Vec<QueueReport> {
        self.sinks
            .iter()
            .map(|s| {
                let sent = s.stats.sent.load(Ordering::Relaxed);
                let taken = s.stats.taken.load(Ordering::Relaxed);
                QueueReport {
                    sink: s.name,
                    capacity: s.capacity,
                    depth: sent.saturating_sub(taken),
                    sent,
                    dropped: s.stats.dropped.load(Ordering::Relaxed),
                    policy: s.policy,
                }
            })
            .collect()
    }

    /// Events lost so far, all sinks together.
    pub fn dropped(&self) -> u64 {
        self.sinks
            .iter()
            .map(|s| s.stats.dropped.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifecycle(_: &Event) -> bool {
        true
    }

    #[test]
    fn a_full_drop_queue_counts_instead_of_waiting() {
        let mut bus = Bus::default();
        let rx = bus.add("slow", 2, FullPolicy::DropNewest, lifecycle);
        for i in 0..5 {
            bus.publish(Event::Lifecycle(format!("{i}")));
        }
        let r = &bus.report()[0];
        assert_eq!((r.sent, r.dropped, r.depth), (2, 3, 2));
        assert!(rx.next(Duration::ZERO).expect("open").is_some());
        assert_eq!(bus.report()[0].depth, 1);
    }

    #[test]
    fn sinks_only_get_what_they_want() {
        fn bans(e: &Event) -> bool {
            matches!(e, Event::Unblocked { .. })
        }
        let mut bus = Bus::default();
        let rx = bus.add("bans", 4, FullPolicy::Block, bans);
        assert!(!bus.wants(&Event::Lifecycle(String::new())));
        bus.publish(Event::Lifecycle("x".into()));
        assert!(rx.next(Duration::ZERO).expect("open").is_none());
    }
}
