//! The daemon's view of the deny set, so a detector ban reaches the kernel
//! without waiting for the store.

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rampart_nft::SetList;
use rampart_store::{Kind, Store};

use crate::change::{Change, Outcome, run, store_spans};
use crate::error::{Error, Result};
use crate::kernel::{Kernel, ListPlan, Plan};
use crate::segment::{Diff, Expiry, Segment, diff, push_merged, segments};

/// An in-memory mirror of the deny list: the live entries (the store's and
/// the daemon's bans not yet recorded there) and the segments the kernel
/// holds. [`Mirror::ban`] computes and sends the kernel difference for new
/// bans at once; the daemon records them in the store afterwards (with
/// retries) and calls [`Mirror::recorded`].
///
/// When another process commits to the store (a CLI command),
/// [`Mirror::is_stale`] says so (SQLite's `data_version`), and
/// [`Mirror::resync`] makes the kernel match the store plus the pending
/// bans again.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// Live deny spans: the store's and the pending ones.
    spans: Vec<Segment>,
    /// Bans sent to the kernel but not yet confirmed in the store.
    pending: Vec<(Net, Segment)>,
    /// What the kernel's deny sets hold (as last sent).
    kernel: Vec<Segment>,
    /// How many spans there were at the last full recomputation (which
    /// drops expired ones): inserts alone may double them, then recompute.
    recomputed: usize,
    data_version: i64,
}

impl Mirror {
    /// Loads the store's deny entries and makes the kernel match the store
    /// (rebuilding the table if it is missing).
    pub fn load(store: &mut Store, kernel: &mut Kernel, now: Timestamp) -> Result<Mirror> {
        let mut m = Mirror {
            spans: Vec::new(),
            pending: Vec::new(),
            kernel: Vec::new(),
            recomputed: 0,
            data_version: 0,
        };
        m.resync(store, kernel, now)?;
        Ok(m)
    }

    /// Bans sent but not yet recorded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Puts new deny entries (target, expiry; `None` is permanent) into
    /// the kernel in one transaction, without touching the store. Returns
    /// what was sent. On error the mirror is unchanged; after
    /// [`Error::TableMissing`] or a kernel refusal, [`Mirror::resync`]
    /// (which rebuilds a missing table) and ban again.
    pub fn ban(
        &mut self,
        kernel: &mut Kernel,
        bans: &[(Net, Option<Timestamp>)],
        now: Timestamp,
    ) -> Result<Diff> {
        let added: Vec<(Net, Segment)> = bans
            .iter()
            .map(|&(n, e)| (n, Segment::of_net(n, Expiry::from_option(e))))
            .collect();
        let mut fresh: Vec<Segment> = added.iter().map(|(_, s)| *s).collect();
        fresh.sort_unstable_by_key(Segment::key);
        // the fast path leaves the spans to extend after the kernel took it
        let (spans, after) = match self.insert_apart(&fresh, now) {
            Some(after) => (None, after),
            None => {
                let mut spans: Vec<Segment> = self
                    .spans
                    .iter()
                    .copied()
                    .filter(|s| s.expiry > Expiry::At(now))
                    .collect();
                spans.extend_from_slice(&fresh);
                let after = segments(&spans, now);
                self.recomputed = spans.len();
                (Some(spans), after)
            }
        };
        let d = diff(&self.kernel, &after, 0);
        if d.is_empty() && kernel.read(&SetList::Deny, now)?.is_none() {
            // nothing to send, but nothing to send it to either
            return Err(Error::TableMissing);
        }
        let plan = Plan {
            now,
            lists: vec![ListPlan {
                list: SetList::Deny,
                diff: d,
                after,
            }],
            ..Plan::default()
        };
        kernel.execute(&plan)?;
        match spans {
            Some(s) => self.spans = s,
            None => self.spans.extend_from_slice(&fresh),
        }
        self.pending.extend(added);
        let mut sent = Diff::default();
        for l in plan.lists {
            self.kernel = l.after;
            sent = l.diff;
        }
        Ok(sent)
    }

    /// The kernel's segments with `fresh` (sorted) merged in, when that is
    /// all a full recomputation would change: every new segment is live
    /// and overlaps no other new one and none the kernel holds (touching
    /// ones of equal expiry are joined, as [`segments`] joins them), and
    /// the spans have at most doubled since the last recomputation (which
    /// drops the expired ones). `None`: recompute ([`segments`] over every span). A
    /// burst of distinct bans (a fleet catching up) then costs one linear
    /// merge per batch instead of a sort and sweep of the whole set.
    fn insert_apart(&self, fresh: &[Segment], now: Timestamp) -> Option<Vec<Segment>> {
        let apart = |a: &Segment, b: &Segment| a.family != b.family || a.last < b.first;
        let live = |s: &Segment| s.first <= s.last && s.expiry > Expiry::At(now);
        let ok = !fresh.is_empty()
            && self.spans.len() <= 2 * self.recomputed + 1024
            && fresh.iter().all(live)
            && fresh.windows(2).all(|w| apart(&w[0], &w[1]))
            && fresh.iter().all(|f| {
                let at = self.kernel.partition_point(|k| k.key() < f.key());
                at.checked_sub(1)
                    .and_then(|i| self.kernel.get(i))
                    .is_none_or(|k| apart(k, f))
                    && self.kernel.get(at).is_none_or(|k| apart(f, k))
            });
        if !ok {
            return None;
        }
        let mut out = Vec::with_capacity(self.kernel.len() + fresh.len());
        let (mut i, mut j) = (0, 0);
        while i < self.kernel.len() || j < fresh.len() {
            let take_old = j == fresh.len()
                || (i < self.kernel.len() && self.kernel[i].key() < fresh[j].key());
            if take_old {
                push_merged(&mut out, self.kernel[i]);
                i += 1;
            } else {
                push_merged(&mut out, fresh[j]);
                j += 1;
            }
        }
        Some(out)
    }

    /// The daemon recorded these targets in the store: they are no longer
    /// pending.
    pub fn recorded(&mut self, targets: &[Net]) {
        self.pending.retain(|(n, _)| !targets.contains(n));
    }

    /// Whether another process changed the store since the last sync.
    pub fn is_stale(&self, store: &Store) -> Result<bool> {
        Ok(store.data_version()? != self.data_version)
    }

    /// Makes the kernel match the store plus the pending bans (expiring
    /// entries, rebuilding the table if it is missing) and reloads the
    /// mirror from them.
    pub fn resync(
        &mut self,
        store: &mut Store,
        kernel: &mut Kernel,
        now: Timestamp,
    ) -> Result<Outcome> {
        self.apply_change(store, kernel, &Change::Expire, now)
    }

    /// [`crate::apply_change`] for the daemon (the control socket): the
    /// pending bans are kept in the kernel, and the mirror follows.
    pub fn apply_change(
        &mut self,
        store: &mut Store,
        kernel: &mut Kernel,
        change: &Change,
        now: Timestamp,
    ) -> Result<Outcome> {
        let in_store: Vec<Net> = store
            .active(now)?
            .into_iter()
            .filter(|a| a.kind == Kind::Deny)
            .map(|a| a.target)
            .collect();
        self.pending
            .retain(|(n, s)| !in_store.contains(n) && s.expiry > Expiry::At(now));
        let pending: Vec<Segment> = self.pending.iter().map(|(_, s)| *s).collect();
        let out = run(store, kernel, change, now, &pending, true)?;
        let mut spans = store_spans(store, Kind::Deny, now)?;
        spans.extend_from_slice(&pending);
        self.recomputed = spans.len();
        self.spans = spans;
        self.kernel = match out.plan.lists.iter().find(|l| l.list == SetList::Deny) {
            Some(l) => l.after.clone(),
            None => segments(&self.spans, now),
        };
        self.data_version = store.data_version()?;
        Ok(out)
    }
}
