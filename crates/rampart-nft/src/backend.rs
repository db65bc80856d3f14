//! The [`Firewall`] trait, its nftables implementation ([`NftFirewall`]:
//! `nft -f -` for the skeleton, netlink for set elements) and the dry-run
//! recorder ([`DryRunFirewall`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::addr::{Element, Family, IpRange, merge};
use crate::error::NftError;
use crate::netlink::{Batch, ElemOp, ListedElement, Socket, intervals};
use crate::ruleset::{Ruleset, SetList, TABLE};

/// What a set operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadStats {
    /// Elements (ranges) sent after merging.
    pub elements: usize,
    /// Kernel transactions used.
    pub batches: usize,
    /// Bytes sent.
    pub bytes: usize,
    /// Whether the whole operation was one transaction.
    pub atomic: bool,
}

/// A firewall backend: the static ruleset plus dynamic set operations.
/// Every operation on a [`SetList`] touches both of its sets (IPv4 and
/// IPv6): elements are routed by family.
pub trait Firewall {
    /// Load the ruleset atomically: the table, sets (keeping their
    /// elements) and chains of `inet rampart`; nothing else is touched.
    fn apply(&mut self, ruleset: &Ruleset) -> Result<(), NftError>;

    /// Remove `table inet rampart` (and only it).
    fn flush(&mut self) -> Result<(), NftError>;

    /// Add elements (merged first). Re-adding an identical element is not
    /// an error; an element overlapping a different one already in the set
    /// is (delete that one first). Large loads may use several
    /// transactions.
    fn add(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError>;

    /// Delete then add the elements in one transaction per chunk, so their
    /// timeouts restart from the new value on any kernel (needs kernel
    /// >= 6.3 for delete-if-present).
    fn refresh(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError>;

    /// Remove elements; each must be exactly an element of the set (the
    /// same range). Missing elements are ignored (kernel >= 6.3; older
    /// kernels fall back to a plain delete, where a missing element fails
    /// the transaction).
    fn delete(&mut self, list: &SetList, ranges: &[IpRange]) -> Result<LoadStats, NftError>;

    /// Replace the whole content of a list (flush + add) in one
    /// transaction when it fits the socket buffer (see
    /// [`LoadStats::atomic`]).
    fn replace(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError>;

    /// The elements of a list, IPv4 then IPv6, sorted. A set that does not
    /// exist (no table loaded) is [`NftError::Kernel`] with `ENOENT`
    /// ([`NftError::is_missing`]).
    fn list(&mut self, list: &SetList) -> Result<Vec<ListedElement>, NftError>;

    /// Exact element changes on several lists in one kernel transaction
    /// (when they fit the socket buffer; see [`LoadStats::atomic`]): every
    /// deletion (delete-if-present, kernel >= 6.3, so an element the
    /// kernel already timed out is not an error) comes before every
    /// addition, so an element can be replaced (a new timeout) or split in
    /// the same transaction. Additions are not merged: they must not
    /// overlap each other nor what stays in the set.
    fn transact(&mut self, changes: &[SetChange]) -> Result<LoadStats, NftError>;
}

/// Exact changes to one list for [`Firewall::transact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChange {
    /// The list.
    pub list: SetList,
    /// Elements to delete (exactly as they are in the set), if present.
    pub delete: Vec<IpRange>,
    /// Elements to add.
    pub add: Vec<Element>,
}

/// Options of [`NftFirewall`].
#[derive(Debug, Clone)]
pub struct NftOptions {
    /// The `nft` program (default `nft`, found on `PATH`).
    pub nft: PathBuf,
    /// Largest transaction for `add`/`refresh`/`delete` (default 32 MiB,
    /// about 600,000 IPv4 ranges). `replace` uses one transaction as large
    /// as the socket buffer can be made.
    pub max_batch_bytes: usize,
}

impl Default for NftOptions {
    fn default() -> Self {
        NftOptions {
            nft: PathBuf::from("nft"),
            max_batch_bytes: 32 << 20,
        }
    }
}

/// Progress callback: (elements done, elements total).
pub type Progress = Box<dyn FnMut(usize, usize) + Send + Sync>;

/// The nftables backend. It works in the network namespace of the thread
/// that created it (its netlink socket stays there) and runs `nft` from the
/// calling thread, so use it from threads of one namespace.
pub struct NftFirewall {
    sock: Socket,
    seq: u32,
    opts: NftOptions,
    progress: Option<Progress>,
}

impl std::fmt::Debug for NftFirewall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftFirewall")
            .field("sock", &self.sock)
            .field("seq", &self.seq)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// Estimated encoded bytes of one range (start + end element), generous.
fn elem_bytes(f: Family) -> usize {
    match f {
        Family::V4 => 56,
        Family::V6 => 80,
    }
}

/// Elements encoded per step while filling a batch.
const STEP: usize = 1024;

/// Split elements sorted by family (as [`merge`] returns them) into the
/// IPv4 and IPv6 parts without copying the IPv4 part.
fn split_sorted(mut sorted: Vec<Element>) -> (Vec<Element>, Vec<Element>) {
    let at = sorted.partition_point(|e| e.range.family() == Family::V4);
    let v6 = sorted.split_off(at);
    (sorted, v6)
}

impl NftFirewall {
    /// Open the backend with default options.
    pub fn new() -> Result<NftFirewall, NftError> {
        NftFirewall::with_options(NftOptions::default())
    }

    /// Open the backend.
    pub fn with_options(opts: NftOptions) -> Result<NftFirewall, NftError> {
        let sock = Socket::open(4 << 20)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(NftFirewall {
            sock,
            seq: seed,
            opts,
            progress: None,
        })
    }

    /// Report progress of large loads.
    pub fn set_progress(&mut self, progress: Option<Progress>) {
        self.progress = progress;
    }

    /// Whether the socket buffer could be forced (`SO_SNDBUFFORCE`, root):
    /// without it big transactions are split more.
    pub fn buffer_forced(&self) -> bool {
        self.sock.forced()
    }

    fn run_nft(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        action: &str,
    ) -> Result<String, NftError> {
        let program = self.opts.nft.display().to_string();
        let spawn_err = |source| NftError::Spawn {
            program: program.clone(),
            source,
        };
        let mut cmd = Command::new(&self.opts.nft);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if !out.status.success() {
            return Err(NftError::Nft {
                action: action.to_string(),
                status: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The sets `table inet rampart` has now (empty if the table does not
    /// exist).
    pub fn existing_sets(&self) -> Result<Vec<String>, NftError> {
        let out = match self.run_nft(
            &["-j", "-t", "list", "table", "inet", TABLE],
            None,
            "list table",
        ) {
            Ok(o) => o,
            Err(NftError::Nft { stderr, .. }) if stderr.contains("No such file") => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        parse_set_names(&out)
    }

    /// The ruleset of our table as the kernel has it, in nft syntax
    /// (elements omitted: sets can hold millions).
    pub fn show(&self) -> Result<String, NftError> {
        self.run_nft(&["-t", "list", "table", "inet", TABLE], None, "list table")
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Send work as batches of at most `budget` bytes. `prelude` flushes
    /// these sets at the start of the first batch.
    fn send_work(
        &mut self,
        prelude: &[String],
        work: &[(String, ElemOp, Vec<Element>)],
        budget: usize,
        ops_per_chunk: &[ElemOp],
    ) -> Result<LoadStats, NftError> {
        let total: usize = work.iter().map(|w| w.2.len()).sum();
        let mut stats = LoadStats::default();
        let estimate: usize = work
            .iter()
            .map(|w| {
                w.2.len()
                    * elem_bytes(w.2.first().map_or(Family::V6, |e| e.range.family()))
                    * ops_per_chunk.len().max(1)
            })
            .sum::<usize>()
            + 64 * 1024;
        let cap = estimate.min(budget);
        let mut batch = Batch::with_capacity(self.next_seq(), cap);
        for s in prelude {
            batch.flush_set(TABLE, s);
        }
        let mut done = 0;
        for (set, op, elems) in work {
            for chunk in elems.chunks(STEP) {
                let need =
                    chunk.len() * elem_bytes(chunk[0].range.family()) * ops_per_chunk.len().max(1)
                        + 4096;
                if !batch.is_empty() && batch.len() + need > budget {
                    self.flush_batch(batch, &mut stats)?;
                    batch = Batch::with_capacity(self.next_seq(), cap);
                }
                if ops_per_chunk.is_empty() {
                    batch.elements_op(TABLE, set, *op, chunk);
                } else {
                    for o in ops_per_chunk {
                        batch.elements_op(TABLE, set, *o, chunk);
                    }
                }
                done += chunk.len();
                if let Some(p) = self.progress.as_mut() {
                    p(done, total);
                }
            }
        }
        if !batch.is_empty() {
            self.flush_batch(batch, &mut stats)?;
        }
        stats.elements = total;
        stats.atomic = stats.batches <= 1;
        Ok(stats)
    }

    fn flush_batch(&mut self, batch: Batch, stats: &mut LoadStats) -> Result<(), NftError> {
        let f = batch.finish();
        self.seq = f.next_seq();
        let len = f.bytes().len();
        self.sock.ensure_sndbuf(len)?;
        self.sock.run(&f)?;
        stats.batches += 1;
        stats.bytes += len;
        Ok(())
    }

    fn budget(&mut self, estimate: usize, cap: usize) -> Result<usize, NftError> {
        let usable = self.sock.ensure_sndbuf(estimate.min(cap))?;
        Ok(usable.min(cap).max(64 * 1024))
    }

    fn work(
        list: &SetList,
        op: ElemOp,
        v4: Vec<Element>,
        v6: Vec<Element>,
    ) -> Result<Vec<(String, ElemOp, Vec<Element>)>, NftError> {
        let mut w = Vec::new();
        if !v4.is_empty() {
            w.push((list.set_name(Family::V4)?, op, v4));
        }
        if !v6.is_empty() {
            w.push((list.set_name(Family::V6)?, op, v6));
        }
        Ok(w)
    }

    fn estimate(v4: &[Element], v6: &[Element]) -> usize {
        v4.len() * elem_bytes(Family::V4) + v6.len() * elem_bytes(Family::V6) + 64 * 1024
    }
}

fn parse_set_names(json: &str) -> Result<Vec<String>, NftError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| NftError::Json(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or_else(|| NftError::Json("no \"nftables\" array".into()))?;
    let mut names: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("set"))
        .filter(|s| {
            s.get("table").and_then(|t| t.as_str()) == Some(TABLE)
                && s.get("family").and_then(|f| f.as_str()) == Some("inet")
        })
        .filter_map(|s| s.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

impl Firewall for NftFirewall {
    fn apply(&mut self, ruleset: &Ruleset) -> Result<(), NftError> {
        let existing = self.existing_sets()?;
        let text = ruleset.render(&existing)?;
        self.run_nft(&["-f", "-"], Some(&text), "load ruleset")?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), NftError> {
        self.run_nft(&["-f", "-"], Some(&Ruleset::render_flush()), "flush table")?;
        Ok(())
    }

    fn add(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        let (v4, v6) = split_sorted(merge(elements.to_vec()));
        let budget = self.budget(Self::estimate(&v4, &v6), self.opts.max_batch_bytes)?;
        let work = Self::work(list, ElemOp::Add, v4, v6)?;
        self.send_work(&[], &work, budget, &[])
    }

    fn refresh(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        let (v4, v6) = split_sorted(merge(elements.to_vec()));
        let budget = self.budget(2 * Self::estimate(&v4, &v6), self.opts.max_batch_bytes)?;
        let work = Self::work(list, ElemOp::Add, v4, v6)?;
        self.send_work(&[], &work, budget, &[ElemOp::Destroy, ElemOp::Add])
    }

    fn delete(&mut self, list: &SetList, ranges: &[IpRange]) -> Result<LoadStats, NftError> {
        let mut rs = ranges.to_vec();
        rs.sort_unstable();
        rs.dedup();
        let elems: Vec<Element> = rs.into_iter().map(Element::permanent).collect();
        let (v4, v6) = split_sorted(elems);
        let budget = self.budget(Self::estimate(&v4, &v6), self.opts.max_batch_bytes)?;
        let work = Self::work(list, ElemOp::Destroy, v4, v6)?;
        match self.send_work(&[], &work, budget, &[]) {
            // Kernels before 6.3 have no delete-if-present: plain delete.
            Err(NftError::Kernel { errno, .. })
                if errno == rustix::io::Errno::INVAL.raw_os_error()
                    || errno == rustix::io::Errno::OPNOTSUPP.raw_os_error() =>
            {
                let work: Vec<_> = work
                    .into_iter()
                    .map(|(s, _, e)| (s, ElemOp::Delete, e))
                    .collect();
                self.send_work(&[], &work, budget, &[])
            }
            other => other,
        }
    }

    fn replace(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        let (v4, v6) = split_sorted(merge(elements.to_vec()));
        let budget = self.budget(Self::estimate(&v4, &v6), 1 << 30)?;
        let prelude = vec![list.set_name(Family::V4)?, list.set_name(Family::V6)?];
        let work = Self::work(list, ElemOp::Add, v4, v6)?;
        let mut stats = self.send_work(&prelude, &work, budget, &[])?;
        stats.batches = stats.batches.max(1);
        stats.atomic = stats.batches == 1;
        Ok(stats)
    }

    fn list(&mut self, list: &SetList) -> Result<Vec<ListedElement>, NftError> {
        let mut out = Vec::new();
        for fam in [Family::V4, Family::V6] {
            let name = list.set_name(fam)?;
            let seq = self.next_seq();
            let raw = self.sock.dump_set(seq, TABLE, &name, fam)?;
            out.extend(intervals(fam, raw));
        }
        Ok(out)
    }

    fn transact(&mut self, changes: &[SetChange]) -> Result<LoadStats, NftError> {
        let mut deletes = Vec::new();
        let mut adds = Vec::new();
        for c in changes {
            let mut del: Vec<Element> = c.delete.iter().copied().map(Element::permanent).collect();
            del.sort_unstable_by_key(|e| e.range);
            let (d4, d6) = split_sorted(del);
            deletes.extend(Self::work(&c.list, ElemOp::Destroy, d4, d6)?);
            let mut add = c.add.clone();
            add.sort_unstable_by_key(|e| e.range);
            let (a4, a6) = split_sorted(add);
            adds.extend(Self::work(&c.list, ElemOp::Add, a4, a6)?);
        }
        deletes.extend(adds);
        let estimate: usize = deletes
            .iter()
            .map(|w| w.2.len() * elem_bytes(Family::V6))
            .sum::<usize>()
            + 64 * 1024;
        let budget = self.budget(estimate, 1 << 30)?;
        let mut stats = self.send_work(&[], &deletes, budget, &[])?;
        stats.atomic = stats.batches <= 1;
        Ok(stats)
    }
}

/// One operation recorded by [`DryRunFirewall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `apply`: the nft text that would be loaded.
    Apply {
        /// The rendered transaction.
        text: String,
    },
    /// `flush`.
    Flush,
    /// `add`, with the merged elements.
    Add {
        /// The list.
        list: SetList,
        /// Elements after merging.
        elements: Vec<Element>,
    },
    /// `refresh`, with the merged elements.
    Refresh {
        /// The list.
        list: SetList,
        /// Elements after merging.
        elements: Vec<Element>,
    },
    /// `delete`.
    Delete {
        /// The list.
        list: SetList,
        /// The ranges.
        ranges: Vec<IpRange>,
    },
    /// `replace`, with the merged elements.
    Replace {
        /// The list.
        list: SetList,
        /// Elements after merging.
        elements: Vec<Element>,
    },
    /// `transact`.
    Transact {
        /// The changes, as given.
        changes: Vec<SetChange>,
    },
}

/// A backend that changes nothing: it records every operation (for tests
/// and `--dry-run`) and keeps a simple model of the set contents so that
/// `list` answers consistently. Timeouts are recorded but never expire.
#[derive(Debug, Default, Clone)]
pub struct DryRunFirewall {
    /// Every operation, in order.
    pub operations: Vec<Operation>,
    sets: BTreeMap<SetList, Vec<Element>>,
    applied: Option<Vec<String>>,
}

impl DryRunFirewall {
    /// An empty recorder.
    pub fn new() -> DryRunFirewall {
        DryRunFirewall::default()
    }

    fn check(&self, list: &SetList) -> Result<(), NftError> {
        list.set_name(Family::V4)?;
        Ok(())
    }

    /// Like the kernel: a set of a list the loaded ruleset does not declare
    /// (or no ruleset loaded) does not exist.
    fn check_exists(&self, list: &SetList) -> Result<(), NftError> {
        let name = list.set_name(Family::V4)?;
        if self.applied.as_ref().is_some_and(|a| a.contains(&name)) {
            Ok(())
        } else {
            Err(NftError::Kernel {
                op: "list",
                set: name,
                errno: rustix::io::Errno::NOENT.raw_os_error(),
                hint: crate::netlink::hint(rustix::io::Errno::NOENT.raw_os_error()),
            })
        }
    }
}

impl Firewall for DryRunFirewall {
    fn apply(&mut self, ruleset: &Ruleset) -> Result<(), NftError> {
        let existing = self.applied.clone().unwrap_or_default();
        let text = ruleset.render(&existing)?;
        let mut applied = ruleset.set_names()?;
        applied.extend(ruleset.limit_set_names());
        self.applied = Some(applied);
        let keep = ruleset.lists();
        self.sets.retain(|l, _| keep.contains(l));
        self.operations.push(Operation::Apply { text });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), NftError> {
        self.applied = None;
        self.sets.clear();
        self.operations.push(Operation::Flush);
        Ok(())
    }

    fn add(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        self.check(list)?;
        let elements = merge(elements.to_vec());
        let cur = self.sets.entry(list.clone()).or_default();
        cur.retain(|e| !elements.iter().any(|n| n.range == e.range));
        cur.extend(elements.iter().copied());
        *cur = merge(std::mem::take(cur));
        let n = elements.len();
        self.operations.push(Operation::Add {
            list: list.clone(),
            elements,
        });
        Ok(LoadStats {
            elements: n,
            batches: 1,
            bytes: 0,
            atomic: true,
        })
    }

    fn refresh(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        let stats = self.add(list, elements)?;
        if let Some(Operation::Add { list, elements }) = self.operations.pop() {
            self.operations.push(Operation::Refresh { list, elements });
        }
        Ok(stats)
    }

    fn delete(&mut self, list: &SetList, ranges: &[IpRange]) -> Result<LoadStats, NftError> {
        self.check(list)?;
        if let Some(cur) = self.sets.get_mut(list) {
            cur.retain(|e| !ranges.contains(&e.range));
        }
        self.operations.push(Operation::Delete {
            list: list.clone(),
            ranges: ranges.to_vec(),
        });
        Ok(LoadStats {
            elements: ranges.len(),
            batches: 1,
            bytes: 0,
            atomic: true,
        })
    }

    fn replace(&mut self, list: &SetList, elements: &[Element]) -> Result<LoadStats, NftError> {
        self.check(list)?;
        let elements = merge(elements.to_vec());
        self.sets.insert(list.clone(), elements.clone());
        let n = elements.len();
        self.operations.push(Operation::Replace {
            list: list.clone(),
            elements,
        });
        Ok(LoadStats {
            elements: n,
            batches: 1,
            bytes: 0,
            atomic: true,
        })
    }

    fn list(&mut self, list: &SetList) -> Result<Vec<ListedElement>, NftError> {
        self.check_exists(list)?;
        Ok(self
            .sets
            .get(list)
            .map(|v| {
                v.iter()
                    .map(|e| ListedElement {
                        range: e.range,
                        timeout: e.timeout,
                        expires: e.timeout,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn transact(&mut self, changes: &[SetChange]) -> Result<LoadStats, NftError> {
        for c in changes {
            self.check_exists(&c.list)?;
        }
        // all or nothing, like one kernel transaction
        let mut sets = self.sets.clone();
        let mut n = 0;
        for c in changes {
            let cur = sets.entry(c.list.clone()).or_default();
            cur.retain(|e| !c.delete.contains(&e.range));
            if let Some(a) = c.add.iter().find(|a| {
                cur.iter().any(|e| {
                    e.range.family() == a.range.family()
                        && e.range.start() <= a.range.end()
                        && a.range.start() <= e.range.end()
                        && *e != **a
                })
            }) {
                return Err(NftError::Kernel {
                    op: "add",
                    set: c.list.set_name(a.range.family())?,
                    errno: rustix::io::Errno::EXIST.raw_os_error(),
                    hint: crate::netlink::hint(rustix::io::Errno::EXIST.raw_os_error()),
                });
            }
            cur.extend(c.add.iter().copied());
            cur.sort_unstable_by_key(|e| e.range);
            cur.dedup();
            n += c.delete.len() + c.add.len();
        }
        self.sets = sets;
        self.operations.push(Operation::Transact {
            changes: changes.to_vec(),
        });
        Ok(LoadStats {
            elements: n,
            batches: 1,
            bytes: 0,
            atomic: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dry_run_records_and_models() {
        let mut fw = DryRunFirewall::new();
        fw.apply(&Ruleset::default()).expect("apply");
        let e = |s: &str| Element::permanent(s.parse().expect("range"));
        fw.add(
            &SetList::Deny,
            &[
                e("198.51.100.0/25"),
                e("198.51.100.0/24"),
                Element::temporary("2001:db8::1".parse().expect("r"), Duration::from_secs(60)),
            ],
        )
        .expect("add");
        let l = fw.list(&SetList::Deny).expect("list");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].range.to_string(), "198.51.100.0/24");
        fw.delete(&SetList::Deny, &["198.51.100.0/24".parse().expect("r")])
            .expect("delete");
        assert_eq!(fw.list(&SetList::Deny).expect("list").len(), 1);
        fw.replace(&SetList::CountryDeny, &[e("203.0.113.0/24")])
            .expect("replace");
        assert!(fw.add(&SetList::Blocklist("Bad!".into()), &[]).is_err());
        fw.flush().expect("flush");
        assert!(
            fw.list(&SetList::Deny).is_err_and(|e| e.is_missing()),
            "no table, no set"
        );
        assert_eq!(fw.operations.len(), 5);
        assert!(matches!(fw.operations[0], Operation::Apply { .. }));
        assert!(matches!(fw.operations[4], Operation::Flush));
    }

    #[test]
    fn set_names_from_nft_json() {
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "rampart", "handle": 1}}, {"set": {"family": "inet", "name": "deny4", "table": "rampart", "type": "ipv4_addr", "handle": 2, "flags": ["interval", "timeout"]}}, {"set": {"family": "inet", "name": "allow4", "table": "rampart", "type": "ipv4_addr", "handle": 3}}, {"set": {"family": "ip", "name": "x", "table": "other", "type": "ipv4_addr", "handle": 3}}]}"#;
        assert_eq!(parse_set_names(j).expect("parse"), vec!["allow4", "deny4"]);
        assert!(parse_set_names("nope").is_err());
    }
}
