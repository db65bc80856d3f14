//! Comparing the kernel with the store, for `rampart status`.

use rampart_core::time::Timestamp;
use rampart_nft::SetList;
use rampart_store::Store;
use serde::Serialize;

use crate::change::{Change, plan};
use crate::error::Result;
use crate::kernel::{EXPIRY_TOLERANCE_SECS, Kernel};
use crate::segment::{Expiry, Segment, diff};

/// How one list compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListReport {
    /// The list (`allow`, `deny`, `blocklist NAME`, ...).
    pub list: String,
    /// Elements in the kernel (`None`: its sets do not exist).
    pub kernel: Option<usize>,
    /// Elements the store and the layout say it must hold.
    pub wanted: usize,
    /// Elements missing from the kernel (or with another expiry).
    pub missing: usize,
    /// Elements in the kernel that must not be there.
    pub extra: usize,
}

/// How the kernel compares with the store and the layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Whether `table inet rampart` is loaded.
    pub table_loaded: bool,
    /// Per list, allow first.
    pub lists: Vec<ListReport>,
    /// Lists whose wanted contents could not be read.
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether the kernel holds exactly what it must.
    pub fn agrees(&self) -> bool {
        self.table_loaded && self.lists.iter().all(|l| l.missing == 0 && l.extra == 0)
    }

    /// Elements missing plus extra, over all lists.
    pub fn disagreements(&self) -> usize {
        self.lists.iter().map(|l| l.missing + l.extra).sum()
    }
}

/// The name of a list as people read it.
pub fn list_name(list: &SetList) -> String {
    match list {
        SetList::Allow => "allow".into(),
        SetList::Deny => "deny".into(),
        SetList::Blocklist(n) => format!("blocklist {n}"),
        SetList::CountryDeny => "denied countries".into(),
        SetList::CountryAllow => "allowed countries".into(),
        SetList::Page => "messenger page".into(),
    }
}

/// Compares every list of the kernel with what the store and the layout
/// say (nothing is changed: it is a [`plan`] of a full apply, minus the
/// expiry).
pub fn report(store: &mut Store, kernel: &mut Kernel, now: Timestamp) -> Result<Report> {
    let mut lists = Vec::new();
    let mut table_loaded = true;
    for l in kernel.layout().lists() {
        let current = kernel.read(&l, now)?;
        table_loaded &= current.is_some();
        lists.push((l, current));
    }
    let p = plan(store, kernel, &Change::Apply, now)?;
    let reports = lists
        .into_iter()
        .filter_map(|(l, current)| {
            let lp = p.plan.lists.iter().find(|x| x.list == l)?;
            // an element about to expire may be gone on one side and not
            // yet on the other (the store counts seconds, the kernel
            // milliseconds from when it was added): not a disagreement
            let settled = |v: &[Segment]| -> Vec<Segment> {
                v.iter()
                    .copied()
                    .filter(|s| s.expiry > Expiry::At(now + EXPIRY_TOLERANCE_SECS))
                    .collect()
            };
            let d = diff(
                &settled(current.as_deref().unwrap_or(&[])),
                &settled(&lp.after),
                EXPIRY_TOLERANCE_SECS,
            );
            Some(ListReport {
                list: list_name(&l),
                kernel: current.map(|c| c.len()),
                wanted: lp.after.len(),
                missing: d.add.len(),
                extra: d.delete.len(),
            })
        })
        .collect();
    Ok(Report {
        table_loaded,
        lists: reports,
        warnings: p.warnings,
    })
}
