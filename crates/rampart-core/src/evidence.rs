//! A shared, bounded store of evidence lines.
//!
//! Every counted event keeps the line that reported it, so that a ban can
//! say *why* (`rampart why`, the store's evidence column). Keeping a heap
//! copy per event per tracked address made evidence the largest part of
//! the tracker's memory (about 220 of 580 bytes per address) and put an
//! allocation on every event. Instead, lines are appended to one byte ring
//! of fixed capacity, and a tracked key keeps only the position of its
//! newest line: each stored line carries the position of the previous line
//! of the same key, so a key's evidence is a chain walked backwards at ban
//! time.
//!
//! Positions are absolute (they only grow); a position is still readable
//! while fewer than `capacity` bytes have been written after it. When a
//! flood pushes a key's older lines out of the ring, its chain simply ends
//! early: a ban always has at least the line that triggered it, which the
//! caller holds. Memory is `capacity` bytes whatever the number of keys,
//! and the ring grows on demand up to it (a scan of a small log never
//! allocates the whole capacity).
//!
//! Entry layout: `prev: u64 LE`, `len: u16 LE`, then `len` bytes. An entry
//! never wraps around the end of the ring: when it does not fit, the
//! writer skips to the start of the next lap.

/// No evidence (the end of a chain).
pub const NONE: u64 = u64::MAX;

/// Bytes kept of one line (longer lines are cut).
pub const LINE_BYTES: usize = 1024;

/// The default capacity: about 300,000 lines of a typical length.
pub const DEFAULT_CAPACITY: usize = 32 << 20;

const HEADER: usize = 10;

/// The store.
#[derive(Debug)]
pub struct EvidenceStore {
    buf: Vec<u8>,
    capacity: u64,
    /// Absolute position of the next write.
    end: u64,
}

impl Default for EvidenceStore {
    fn default() -> Self {
        EvidenceStore::new(DEFAULT_CAPACITY)
    }
}

impl EvidenceStore {
    /// A store of at most `capacity` bytes (at least enough for one line).
    pub fn new(capacity: usize) -> EvidenceStore {
        EvidenceStore {
            buf: Vec::new(),
            capacity: capacity.max(HEADER + LINE_BYTES) as u64,
            end: 0,
        }
    }

    /// The most bytes the store holds.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Appends a line (cut to [`LINE_BYTES`]) whose key's previous line is
    /// at `prev`; returns the new line's position.
    pub fn push(&mut self, prev: u64, line: &[u8]) -> u64 {
        let line = &line[..line.len().min(LINE_BYTES)];
        let need = (HEADER + line.len()) as u64;
        let mut at = self.end;
        let phys = at % self.capacity;
        if phys + need > self.capacity {
            at += self.capacity - phys;
        }
        let phys = (at % self.capacity) as usize;
        let stop = phys + need as usize;
        if stop > self.buf.len() {
            if stop > self.buf.capacity() {
                let want = (self.buf.capacity() * 2).clamp(stop, self.capacity as usize);
                self.buf.reserve_exact(want - self.buf.len());
            }
            self.buf.resize(stop, 0);
        }
        let e = &mut self.buf[phys..stop];
        e[..8].copy_from_slice(&prev.to_le_bytes());
        e[8..HEADER].copy_from_slice(&(line.len() as u16).to_le_bytes());
        e[HEADER..].copy_from_slice(line);
        self.end = at + need;
        at
    }

    /// The line at `pos` and the position of the one before it, if `pos`
    /// has not been overwritten.
    pub fn get(&self, pos: u64) -> Option<(&[u8], u64)> {
        if pos == NONE || pos >= self.end || self.end - pos > self.capacity {
            return None;
        }
        let phys = (pos % self.capacity) as usize;
        let head = self.buf.get(phys..phys + HEADER)?;
        let mut prev = [0u8; 8];
        prev.copy_from_slice(&head[..8]);
        let len = usize::from(u16::from_le_bytes([head[8], head[9]]));
        let line = self.buf.get(phys + HEADER..phys + HEADER + len)?;
        Some((line, u64::from_le_bytes(prev)))
    }

    /// Up to `max` lines of the chain ending at `pos`, oldest first.
    pub fn chain(&self, mut pos: u64, max: usize) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(max);
        while out.len() < max
            && let Some((line, prev)) = self.get(pos)
        {
            out.push(line);
            // positions only go back along a chain; anything else is corrupt
            if prev != NONE && prev >= pos {
                break;
            }
            pos = prev;
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_per_key_oldest_first() {
        let mut s = EvidenceStore::new(4096);
        let a1 = s.push(NONE, b"a1");
        let b1 = s.push(NONE, b"b1");
        let a2 = s.push(a1, b"a2");
        let a3 = s.push(a2, b"a3");
        assert_eq!(s.chain(a3, 5), vec![&b"a1"[..], b"a2", b"a3"]);
        assert_eq!(s.chain(a3, 2), vec![&b"a2"[..], b"a3"]);
        assert_eq!(s.chain(b1, 5), vec![&b"b1"[..]]);
        assert!(s.chain(NONE, 5).is_empty());
    }

    #[test]
    fn overwritten_lines_end_the_chain_and_memory_is_bounded() {
        let cap = HEADER + LINE_BYTES + 100;
        let mut s = EvidenceStore::new(cap);
        let old = s.push(NONE, b"old");
        let mut prev = NONE;
        for i in 0..1000u32 {
            prev = s.push(prev, format!("line {i:04} of a longer flood").as_bytes());
        }
        assert_eq!(s.get(old), None);
        let c = s.chain(prev, 5);
        assert!(!c.is_empty() && c.len() <= 5);
        assert_eq!(*c.last().unwrap(), b"line 0999 of a longer flood");
        // a chain never yields a line of another lap
        for w in c.windows(2) {
            assert!(w[0] < w[1]);
        }
        assert!(s.buf.len() <= cap);
        // long lines are cut
        let p = s.push(NONE, &[b'x'; 5000]);
        assert_eq!(s.get(p).unwrap().0.len(), LINE_BYTES);
        assert!(s.buf.len() <= cap);
    }
}
