//! The kernel side: a netfilter backend with the layout it enforces,
//! reading sets back as segments, and plans — the exact operations of one
//! change — executed in one transaction or printed as nft-like text.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use rampart_core::time::Timestamp;
use rampart_nft::{
    DryRunFirewall, Element, Family, Firewall, LoadStats, NftFirewall, SetChange, SetList, TABLE,
};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::segment::{Diff, Expiry, Segment};

/// Seconds by which an element's expiry read back from the kernel may
/// differ from the store's and still count as the same (the kernel counts
/// milliseconds from when the element was added; the store, seconds).
pub const EXPIRY_TOLERANCE_SECS: i64 = 2;

/// The longest element timeout the kernel takes, in seconds: it refuses
/// (`ERANGE`) a timeout of 2^64 ns or more — about 584 years — because it
/// converts milliseconds to nanoseconds in 64 bits. Measured by the
/// namespace test `kernel_timeout_limit_is_what_we_refuse_beyond`.
pub const MAX_TIMEOUT_SECS: u64 = u64::MAX / 1_000_000_000;

/// A netfilter backend and the layout it enforces.
pub struct Kernel {
    fw: Box<dyn Firewall + Send>,
    layout: Layout,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Kernel {
    /// Over any backend (the dry-run recorder in tests).
    pub fn new(fw: Box<dyn Firewall + Send>, layout: Layout) -> Kernel {
        Kernel { fw, layout }
    }

    /// Over nftables in the calling thread's network namespace.
    pub fn nftables(layout: Layout) -> Result<Kernel> {
        let fw = NftFirewall::new().map_err(Error::read)?;
        Ok(Kernel::new(Box::new(fw), layout))
    }

    /// Over the dry-run recorder (nothing reaches the kernel).
    pub fn recorder(layout: Layout) -> Kernel {
        Kernel::new(Box::new(DryRunFirewall::new()), layout)
    }

    /// The layout enforced.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Replace the layout (after a configuration reload or a blocklist
    /// definition change); the next change that loads the ruleset uses it.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
    }

    /// The backend, for what this crate does not wrap (`show`, limits).
    pub fn backend(&mut self) -> &mut (dyn Firewall + Send) {
        &mut *self.fw
    }

    /// The elements of a list as segments (expiries as absolute times from
    /// `now` and the time the kernel has left), or `None` when its sets do
    /// not exist (no table loaded).
    pub fn read(&mut self, list: &SetList, now: Timestamp) -> Result<Option<Vec<Segment>>> {
        match self.fw.list(list) {
            Ok(v) => Ok(Some(
                v.into_iter()
                    .map(|l| {
                        let expiry = match l.expires.or(l.timeout) {
                            Some(left) => Expiry::At(now + secs_rounded(left)),
                            None => Expiry::Never,
                        };
                        Segment::of_range(l.range, expiry)
                    })
                    .collect(),
            )),
            Err(e) if e.is_missing() => Ok(None),
            Err(e) => Err(Error::read(e)),
        }
    }

    /// The kernel's element of `list` holding `ip`, if any (`None` also
    /// when the set does not exist).
    pub fn lookup(
        &mut self,
        list: &SetList,
        ip: IpAddr,
        now: Timestamp,
    ) -> Result<Option<Segment>> {
        Ok(self
            .read(list, now)?
            .and_then(|v| v.into_iter().find(|s| s.contains(ip))))
    }

    /// Carry out a plan: remove or (re)load the table if it says so, then
    /// every list's deletions and additions in one transaction.
    pub(crate) fn execute(&mut self, plan: &Plan) -> Result<LoadStats> {
        if plan.flush_table {
            self.fw.flush().map_err(Error::ruleset)?;
            return Ok(LoadStats::default());
        }
        if plan.load_ruleset {
            self.fw
                .apply(&self.layout.ruleset)
                .map_err(Error::ruleset)?;
        }
        let changes: Vec<SetChange> = plan
            .lists
            .iter()
            .filter(|l| !l.diff.is_empty())
            .map(|l| SetChange {
                list: l.list.clone(),
                delete: l.diff.delete.iter().map(Segment::range).collect(),
                add: l.diff.add.iter().map(|s| element(s, plan.now)).collect(),
            })
            .collect();
        if changes.is_empty() {
            return Ok(LoadStats::default());
        }
        let stats = self.fw.transact(&changes).map_err(Error::kernel)?;
        for l in plan
            .lists
            .iter()
            .filter(|l| has_timeouts(&l.list) && !l.diff.is_empty())
        {
            self.repair(l, plan.now)?;
        }
        Ok(stats)
    }

    /// Reads a list back after a transaction and, if it is not what was
    /// sent, sends the difference (up to three times).
    ///
    /// Why: the kernel's interval sets (rbtree, seen on 6.18) collect
    /// timed-out elements only when a later transaction commits. A new
    /// interval whose end equals the end of a timed-out, not yet collected
    /// one shares that end element, and the collection at the commit then
    /// removes it: the new interval runs to the end of the address space
    /// (more is blocked, never less). Collection happens only at commits,
    /// so checking after our own commits catches every case; the repair
    /// runs after the stale element is gone.
    fn repair(&mut self, l: &ListPlan, now: Timestamp) -> Result<()> {
        for _ in 0..3 {
            let actual = self.read(&l.list, now)?.unwrap_or_default();
            let d = crate::segment::diff(&actual, &l.after, EXPIRY_TOLERANCE_SECS);
            if d.is_empty() {
                return Ok(());
            }
            let change = SetChange {
                list: l.list.clone(),
                delete: d.delete.iter().map(Segment::range).collect(),
                add: d.add.iter().map(|s| element(s, now)).collect(),
            };
            self.fw.transact(&[change]).map_err(Error::kernel)?;
        }
        Ok(())
    }
}

/// Lists whose elements time out (and so can be affected by the kernel's
/// collection of timed-out elements).
fn has_timeouts(list: &SetList) -> bool {
    matches!(list, SetList::Allow | SetList::Deny)
}

fn secs_rounded(d: Duration) -> i64 {
    i64::try_from((d.as_millis() + 500) / 1000).unwrap_or(i64::MAX / 2)
}

/// The kernel element of a segment at `now`: its timeout is the time left,
/// at most [`MAX_TIMEOUT_SECS`].
pub fn element(s: &Segment, now: Timestamp) -> Element {
    Element {
        range: s.range(),
        timeout: s
            .timeout_secs(now)
            .map(|t| Duration::from_secs(t.min(MAX_TIMEOUT_SECS))),
    }
}

/// One list's part of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPlan {
    /// The list.
    pub list: SetList,
    /// What is sent.
    pub diff: Diff,
    /// What the list holds afterwards.
    pub after: Vec<Segment>,
}

/// The kernel operations of one change, in the order they are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The time the timeouts are computed from.
    pub now: Timestamp,
    /// `table inet rampart` is removed (and nothing else happens).
    pub flush_table: bool,
    /// The ruleset is (re)loaded first (the table was missing or
    /// different, or a full apply).
    pub load_ruleset: bool,
    /// Per list, allow first.
    pub lists: Vec<ListPlan>,
}

impl Plan {
    /// Elements deleted and added.
    pub fn counts(&self) -> (usize, usize) {
        self.lists.iter().fold((0, 0), |(d, a), l| {
            (d + l.diff.delete.len(), a + l.diff.add.len())
        })
    }

    /// Whether nothing would be sent.
    pub fn is_empty(&self) -> bool {
        !self.flush_table && !self.load_ruleset && self.counts() == (0, 0)
    }

    /// The operations as nft-like text, one line per set operation, e.g.
    /// `add element inet rampart deny4 { 192.0.2.0/25 timeout 300s }`.
    /// `ruleset` is the skeleton text to show when it is (re)loaded.
    pub fn to_nft_text(&self, ruleset: Option<&str>) -> String {
        let mut o = String::new();
        if self.flush_table {
            let _ = writeln!(o, "delete table inet {TABLE}");
            return o;
        }
        if self.load_ruleset {
            o.push_str("# the ruleset of table inet rampart is loaded first (nft -f):\n");
            if let Some(r) = ruleset {
                o.push_str(r);
            }
        }
        for l in &self.lists {
            for (fam, name) in names(&l.list) {
                let del: Vec<String> = l
                    .diff
                    .delete
                    .iter()
                    .filter(|s| s.family == fam)
                    .map(|s| s.range().to_string())
                    .collect();
                if !del.is_empty() {
                    let _ = writeln!(
                        o,
                        "destroy element inet {TABLE} {name} {{ {} }}",
                        del.join(", ")
                    );
                }
            }
        }
        for l in &self.lists {
            for (fam, name) in names(&l.list) {
                let add: Vec<String> = l
                    .diff
                    .add
                    .iter()
                    .filter(|s| s.family == fam)
                    .map(|s| match s.timeout_secs(self.now) {
                        Some(t) => format!("{} timeout {}s", s.range(), t.min(MAX_TIMEOUT_SECS)),
                        None => s.range().to_string(),
                    })
                    .collect();
                if !add.is_empty() {
                    let _ = writeln!(
                        o,
                        "add element inet {TABLE} {name} {{ {} }}",
                        add.join(", ")
                    );
                }
            }
        }
        o
    }
}

fn names(list: &SetList) -> Vec<(Family, String)> {
    [Family::V4, Family::V6]
        .into_iter()
        .filter_map(|f| list.set_name(f).ok().map(|n| (f, n)))
        .collect()
}
