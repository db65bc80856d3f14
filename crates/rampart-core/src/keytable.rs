//! The tracker's table of counting keys: one fixed-size record per
//! (group, address), compact enough for ten million attackers in about
//! a gigabyte.
//!
//! Layout, chosen for memory per tracked address:
//!
//! - **Records** live in one dense `Vec` (48 bytes each: the key, the
//!   window ring's bookkeeping, times as 32-bit offsets from the tracker's
//!   epoch, the position of the newest evidence line in the shared
//!   [`crate::evidence::EvidenceStore`]). Removal swaps the last record
//!   into the hole, so the vector never has gaps and a uniformly random
//!   record is one index away (eviction samples).
//! - **The index** is a `hashbrown::HashTable<u32>` of record positions:
//!   5 bytes per bucket, the key itself is stored once, in the record.
//! - **Window rings** (the times of the last `threshold` events) live in
//!   one slab per group, `threshold` 32-bit slots per block, reused
//!   through a free list: no allocation per key or per event once the
//!   slabs have grown.
//!
//! The index hashes keys with SipHash-1-3 under a per-process random key
//! (`std`'s `RandomState`): addresses are chosen by attackers, and an
//! unkeyed hash lets anyone holding a /16 or an IPv6 /48 pick addresses
//! that collide. See BENCHMARKS.md for the measurements behind the choice.

use crate::addr::Net;
use crate::evidence;
use crate::tracker::GroupId;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

/// A relative time: seconds from the tracker's epoch.
pub(crate) type Rel = u32;

/// `banned_until` of a key that is not banned.
pub(crate) const NOT_BANNED: Rel = 0;
/// `banned_until` of a permanent ban.
pub(crate) const FOREVER: Rel = Rel::MAX;

/// One counting key's state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub net: Net,
    pub group: GroupId,
    /// Events in the ring.
    pub len: u16,
    /// Ring slot of the oldest event.
    pub head: u16,
    pub last_seen: Rel,
    pub banned_until: Rel,
    /// Ring block in the group's slab.
    pub ring: u32,
    /// Newest evidence line ([`evidence::NONE`]: none).
    pub evidence: u64,
}

#[derive(Debug, Default)]
struct Slab {
    width: usize,
    slots: Vec<Rel>,
    free: Vec<u32>,
}

impl Slab {
    fn alloc(&mut self) -> u32 {
        if let Some(b) = self.free.pop() {
            return b;
        }
        let b = self.slots.len() / self.width.max(1);
        self.slots.resize(self.slots.len() + self.width, 0);
        b as u32
    }

    fn block(&self, b: u32) -> &[Rel] {
        let at = b as usize * self.width;
        &self.slots[at..at + self.width]
    }

    fn block_mut(&mut self, b: u32) -> &mut [Rel] {
        let at = b as usize * self.width;
        &mut self.slots[at..at + self.width]
    }
}

/// Keys the table has room for before it first grows.
const PRESIZE: usize = 1 << 16;

/// The table.
#[derive(Debug)]
pub(crate) struct KeyTable {
    records: Vec<Record>,
    index: HashTable<u32>,
    hasher: RandomState,
    slabs: Vec<Slab>,
}

/// Hashes a key: an IPv4 key as one 64-bit word (one SipHash block), an
/// IPv6 key as its 128 bits and a tag.
fn hash_key(hasher: &RandomState, group: GroupId, net: &Net) -> u64 {
    let tag = u32::from(group) << 8 | u32::from(net.prefix);
    match net.addr {
        IpAddr::V4(a) => hasher.hash_one(u64::from(u32::from(a)) << 32 | u64::from(tag)),
        IpAddr::V6(a) => hasher.hash_one((u128::from(a), tag)),
    }
}

impl KeyTable {
    /// A table whose groups keep rings of these widths (their thresholds).
    pub fn new(widths: impl IntoIterator<Item = usize>) -> KeyTable {
        KeyTable {
            // Room for the keys of a typical scan or attack without
            // rehashing: the records' pages are only touched as they fill.
            records: Vec::with_capacity(PRESIZE),
            index: HashTable::with_capacity(PRESIZE),
            hasher: RandomState::new(),
            slabs: widths
                .into_iter()
                .map(|w| Slab {
                    width: w.clamp(1, usize::from(u16::MAX)),
                    ..Slab::default()
                })
                .collect(),
        }
    }

    /// The hash of a key, for [`KeyTable::find`] and [`KeyTable::insert`].
    pub fn hash(&self, group: GroupId, net: &Net) -> u64 {
        hash_key(&self.hasher, group, net)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The ring width of a group.
    pub fn width(&self, group: GroupId) -> usize {
        self.slabs.get(usize::from(group)).map_or(1, |s| s.width)
    }

    /// The record of a key (whose hash is `h`), by position.
    pub fn find(&self, h: u64, group: GroupId, net: &Net) -> Option<usize> {
        let recs = &self.records;
        self.index
            .find(h, |&i| {
                let r = &recs[i as usize];
                r.group == group && r.net == *net
            })
            .map(|&i| i as usize)
    }

    /// Adds a key (not present; its hash is `h`) with an empty ring;
    /// returns its position.
    pub fn insert(&mut self, h: u64, group: GroupId, net: Net, now: Rel) -> usize {
        let ring = self.slabs[usize::from(group)].alloc();
        let i = self.records.len();
        self.records.push(Record {
            net,
            group,
            len: 0,
            head: 0,
            last_seen: now,
            banned_until: NOT_BANNED,
            ring,
            evidence: evidence::NONE,
        });
        let (recs, hasher) = (&self.records, &self.hasher);
        self.index.insert_unique(h, i as u32, |&j| {
            let r = &recs[j as usize];
            hash_key(hasher, r.group, &r.net)
        });
        i
    }

    /// Removes the record at `i`; the last record takes its position.
    pub fn remove(&mut self, i: usize) -> Record {
        let r = self.records[i];
        let h = self.hash(r.group, &r.net);
        if let Ok(e) = self.index.find_entry(h, |&j| j as usize == i) {
            e.remove();
        }
        let last = self.records.len() - 1;
        if i != last {
            let moved = self.records[last];
            let hm = self.hash(moved.group, &moved.net);
            if let Some(slot) = self.index.find_mut(hm, |&j| j as usize == last) {
                *slot = i as u32;
            }
        }
        self.records.swap_remove(i);
        self.slabs[usize::from(r.group)].free.push(r.ring);
        r
    }

    pub fn get(&self, i: usize) -> &Record {
        &self.records[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Record {
        &mut self.records[i]
    }

    /// Appends an event time to the record's ring (dropping the oldest when full).
    pub fn push_time(&mut self, i: usize, t: Rel) {
        let r = &mut self.records[i];
        let slab = &mut self.slabs[usize::from(r.group)];
        let w = slab.width;
        let block = slab.block_mut(r.ring);
        let len = usize::from(r.len);
        let head = usize::from(r.head);
        if len < w {
            block[(head + len) % w] = t;
            r.len += 1;
        } else {
            block[head] = t;
            r.head = ((head + 1) % w) as u16;
        }
    }

    /// The oldest time in the record's ring.
    pub fn oldest(&self, i: usize) -> Option<Rel> {
        let r = &self.records[i];
        (r.len > 0).then(|| self.slabs[usize::from(r.group)].block(r.ring)[usize::from(r.head)])
    }

    /// The times in the record's ring, oldest first.
    pub fn times(&self, i: usize) -> impl Iterator<Item = Rel> + '_ {
        let r = &self.records[i];
        let slab = &self.slabs[usize::from(r.group)];
        let block = slab.block(r.ring);
        let (head, w) = (usize::from(r.head), slab.width);
        (0..usize::from(r.len)).map(move |k| block[(head + k) % w])
    }

    /// Reserves room for `n` more keys (bulk moves).
    pub fn reserve(&mut self, n: usize) {
        self.records.reserve(n);
        let (recs, hasher) = (&self.records, &self.hasher);
        self.index.reserve(n, |&j| {
            let r = &recs[j as usize];
            hash_key(hasher, r.group, &r.net)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Net {
        Net::parse(s).unwrap()
    }

    #[test]
    fn insert_find_remove_keep_the_index_consistent() {
        let mut t = KeyTable::new([3, 2]);
        let keys: Vec<Net> = (0..200)
            .map(|i| net(&format!("198.51.100.{}", i % 256)))
            .take(200)
            .collect();
        for (i, k) in keys.iter().enumerate() {
            let g = (i % 2) as GroupId;
            let h = t.hash(g, k);
            assert_eq!(t.find(h, g, k), None);
            t.insert(h, g, *k, 1);
        }
        // remove every third; the rest are still found at their positions
        for (i, k) in keys.iter().enumerate().step_by(3) {
            let g = (i % 2) as GroupId;
            let at = t.find(t.hash(g, k), g, k).unwrap();
            assert_eq!(t.remove(at).net, *k);
        }
        for (i, k) in keys.iter().enumerate() {
            let g = (i % 2) as GroupId;
            match t.find(t.hash(g, k), g, k) {
                Some(at) => {
                    assert!(i % 3 != 0);
                    assert_eq!((t.get(at).group, t.get(at).net), (g, *k));
                }
                None => assert_eq!(i % 3, 0),
            }
        }
        assert_eq!(t.len(), 200 - 67);
    }

    #[test]
    fn rings_keep_the_newest_times_and_blocks_are_reused() {
        let mut t = KeyTable::new([3]);
        let a = t.insert(t.hash(0, &net("203.0.113.1")), 0, net("203.0.113.1"), 0);
        for s in 1..=5 {
            t.push_time(a, s);
        }
        assert_eq!(t.times(a).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(t.oldest(a), Some(3));
        let block = t.get(a).ring;
        t.remove(a);
        let b = t.insert(t.hash(0, &net("203.0.113.2")), 0, net("203.0.113.2"), 0);
        assert_eq!(t.get(b).ring, block);
        assert_eq!(t.oldest(b), None);
    }
}
