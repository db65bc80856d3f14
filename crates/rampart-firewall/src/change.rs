//! Changes: the store change and the kernel difference in one step, the
//! store committed only if the kernel accepted.

use std::collections::BTreeMap;

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rampart_lists::IntervalSet;
use rampart_nft::{LoadStats, SetList};
use rampart_store::{Active, AddAction, Entry, Kind, NewEntry, Removal, Store};

use crate::error::{Error, Result};
use crate::kernel::{EXPIRY_TOLERANCE_SECS, Kernel, ListPlan, MAX_TIMEOUT_SECS, Plan};
use crate::layout::set_segments;
use crate::segment::{Expiry, Segment, diff, segments};

/// One change to the firewall state, from the CLI, the control socket, a
/// timer or a blocklist refresh. Parse arguments into a `Change`, then
/// execute it with [`apply_change`] (or show it with [`plan`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Add a deny, allow or ignore entry (a longer entry in force is kept:
    /// see [`Outcome::added`]).
    Add(NewEntry),
    /// Remove the entries of these kinds for exactly this target.
    Remove {
        /// The lists to remove it from.
        kinds: Vec<Kind>,
        /// The address or network, exactly as entered.
        target: Net,
        /// Who and why.
        removal: Removal,
    },
    /// Lift the deny entries for this target and for every address or
    /// network inside it (wider deny entries covering it are reported).
    Unblock {
        /// The address or network.
        target: Net,
        /// Who and why.
        removal: Removal,
    },
    /// Move expired entries to history.
    Expire,
    /// Remove `table inet rampart` from the kernel (the store is kept; the
    /// next change rebuilds it).
    Flush,
    /// Expire, reload the ruleset and make every list match.
    Apply,
    /// Load a new body of a blocklist (the caller saves it as the cached
    /// body once this succeeded). Not sent over the control socket.
    #[serde(skip)]
    LoadBlocklist {
        /// The list.
        name: String,
        /// Its addresses.
        set: IntervalSet,
    },
}

/// What a change did: what holds afterwards, and what was sent.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// For [`Change::Add`]: what the store did, and the entry in force for
    /// the target afterwards (the existing one when it lasts longer).
    pub added: Option<(AddAction, Entry)>,
    /// Entries that ended (removed or unblocked).
    pub removed: Vec<Entry>,
    /// For [`Change::Unblock`]: wider deny entries that still block it.
    pub still_blocking: Vec<Entry>,
    /// Entries moved to history as expired.
    pub expired: Vec<Entry>,
    /// The kernel operations (sent, or for [`plan`] not sent); not sent
    /// over the control socket.
    #[serde(skip)]
    pub plan: Plan,
    /// What sending cost.
    #[serde(skip)]
    pub stats: LoadStats,
    /// Lists left as they were because their contents could not be read
    /// (a corrupt cached blocklist, a missing country database).
    pub warnings: Vec<String>,
}

/// Executes `change` at `now`: the store change inside one `BEGIN
/// IMMEDIATE` transaction (so concurrent writers are serialised), the
/// kernel difference in one netlink transaction, then the commit — or the
/// rollback if the kernel refused, with [`Error::Kernel`]. If Rampart's
/// table is missing, it is rebuilt whole (ruleset, allow first, deny,
/// blocklists, countries) before the change.
pub fn apply_change(
    store: &mut Store,
    kernel: &mut Kernel,
    change: &Change,
    now: Timestamp,
) -> Result<Outcome> {
    run(store, kernel, change, now, &[], true)
}

/// What [`apply_change`] would do, without doing any of it: the store
/// change is rolled back and nothing is sent (`--dry-run`). The plan is
/// [`Outcome::plan`].
pub fn plan(
    store: &mut Store,
    kernel: &mut Kernel,
    change: &Change,
    now: Timestamp,
) -> Result<Outcome> {
    run(store, kernel, change, now, &[], false)
}

/// Why a store transaction ends: an error, or a dry run's planned outcome
/// (rolled back all the same).
enum Stop {
    Failed(Error),
    DryRun(Box<Outcome>),
}

impl From<rampart_store::Error> for Stop {
    fn from(e: rampart_store::Error) -> Stop {
        Stop::Failed(Error::Store(e))
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e)
    }
}

/// [`apply_change`] with extra deny spans that are in the kernel but not
/// yet in the store (the daemon's pending bans, see [`crate::Mirror`]).
pub(crate) fn run(
    store: &mut Store,
    kernel: &mut Kernel,
    change: &Change,
    now: Timestamp,
    pending: &[Segment],
    send: bool,
) -> Result<Outcome> {
    check(change, now)?;
    let r = store.transaction(|store| -> std::result::Result<Outcome, Stop> {
        let mut out = Outcome::default();
        record(store, change, now, &mut out)?;
        out.plan = make_plan(store, kernel, change, now, pending, &mut out.warnings)?;
        if !send {
            return Err(Stop::DryRun(Box::new(out)));
        }
        out.stats = kernel.execute(&out.plan)?;
        Ok(out)
    });
    match r {
        Ok(out) => Ok(out),
        Err(Stop::DryRun(out)) => Ok(*out),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// Checks made before anything is written.
fn check(change: &Change, now: Timestamp) -> Result<()> {
    if let Change::Add(e) = change
        && let Some(t) = e.expires
    {
        let secs = t - now;
        if secs <= 0 {
            return Err(Error::Invalid(format!(
                "the entry for {} would already have expired",
                e.target
            )));
        }
        if u64::try_from(secs).is_ok_and(|s| s > MAX_TIMEOUT_SECS) {
            return Err(Error::Invalid(format!(
                "a duration of {secs} s is longer than the kernel's element timeout limit \
                 ({MAX_TIMEOUT_SECS} s, about 584 years); leave the duration out for a permanent entry"
            )));
        }
    }
    Ok(())
}

/// The store side of a change.
fn record(store: &mut Store, change: &Change, now: Timestamp, out: &mut Outcome) -> Result<()> {
    match change {
        Change::Add(e) => {
            let added = store.add(e)?;
            let entry = store.get(added.id)?.ok_or_else(|| {
                Error::Invalid(format!(
                    "the entry for {} vanished while adding it",
                    e.target
                ))
            })?;
            out.added = Some((added.action, entry));
        }
        Change::Remove {
            kinds,
            target,
            removal,
        } => {
            for k in kinds {
                out.removed.extend(store.remove(*k, *target, removal, now)?);
            }
        }
        Change::Unblock { target, removal } => {
            let u = store.unblock(*target, removal, now)?;
            out.removed = u.removed;
            for inner in u.inside {
                out.removed
                    .extend(store.unblock(inner.target, removal, now)?.removed);
            }
            out.still_blocking = u.covering;
        }
        Change::Expire | Change::Apply => out.expired = store.expire(now)?,
        Change::Flush | Change::LoadBlocklist { .. } => {}
    }
    Ok(())
}

/// The lists a change must look at in the kernel.
fn touched(kernel: &Kernel, change: &Change) -> Vec<SetList> {
    match change {
        Change::Apply => kernel.layout().lists(),
        Change::LoadBlocklist { name, .. } => vec![
            SetList::Allow,
            SetList::Deny,
            SetList::Blocklist(name.clone()),
        ],
        _ => vec![SetList::Allow, SetList::Deny],
    }
}

/// Reads what the kernel holds, decides whether the ruleset must be
/// (re)loaded, and diffs every concerned list against what it must hold.
fn make_plan(
    store: &Store,
    kernel: &mut Kernel,
    change: &Change,
    now: Timestamp,
    pending: &[Segment],
    warnings: &mut Vec<String>,
) -> Result<Plan> {
    let mut plan = Plan {
        now,
        ..Plan::default()
    };
    if matches!(change, Change::Flush) {
        plan.flush_table = true;
        return Ok(plan);
    }
    let mut current: BTreeMap<SetList, Vec<Segment>> = BTreeMap::new();
    let mut missing = false;
    for l in touched(kernel, change) {
        match kernel.read(&l, now)? {
            Some(v) => {
                current.insert(l, v);
            }
            None => missing = true,
        }
    }
    plan.load_ruleset = missing || matches!(change, Change::Apply);
    let lists = if missing {
        kernel.layout().lists()
    } else {
        current.keys().cloned().collect()
    };
    let active = store.active(now)?;
    for l in lists {
        let old = match current.remove(&l) {
            Some(v) => v,
            None => kernel.read(&l, now)?.unwrap_or_default(),
        };
        let want = match desired(kernel, &l, &active, pending, change, now) {
            Ok(w) => w,
            Err(e) => {
                warnings.push(format!("{l:?} left as it is: {e}"));
                continue;
            }
        };
        let d = diff(&old, &want, EXPIRY_TOLERANCE_SECS);
        plan.lists.push(ListPlan {
            list: l,
            diff: d,
            after: want,
        });
    }
    Ok(plan)
}

/// What a list must hold at `now`.
fn desired(
    kernel: &Kernel,
    list: &SetList,
    active: &[Active],
    pending: &[Segment],
    change: &Change,
    now: Timestamp,
) -> Result<Vec<Segment>> {
    let store_spans = |kind: Kind| -> Vec<Segment> {
        active
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| Segment::of_net(a.target, Expiry::from_option(a.expires)))
            .collect()
    };
    Ok(match (list, change) {
        (SetList::Allow, _) => segments(&store_spans(Kind::Allow), now),
        (SetList::Deny, _) => {
            let mut spans = store_spans(Kind::Deny);
            spans.extend_from_slice(pending);
            segments(&spans, now)
        }
        (SetList::Blocklist(n), Change::LoadBlocklist { name, set }) if n == name => {
            set_segments(set)
        }
        (other, _) => kernel.layout().static_contents(other)?,
    })
}

/// The store's live entries of `kind` as spans (the daemon's mirror).
pub(crate) fn store_spans(store: &Store, kind: Kind, now: Timestamp) -> Result<Vec<Segment>> {
    Ok(store
        .active(now)?
        .into_iter()
        .filter(|a| a.kind == kind)
        .map(|a| Segment::of_net(a.target, Expiry::from_option(a.expires)))
        .collect())
}
