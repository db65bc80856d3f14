//! Where a file was left, and the checkpoint that carries it across
//! restarts.
//!
//! A [`Position`] names a file by its identity (device and inode), says how
//! far it was read (the offset just after the last complete line that was
//! delivered) and fingerprints its head: a hash of the first `head.len`
//! bytes (at most [`HEAD_MAX`]). The head is what tells a file that was
//! truncated and rewritten in place (copytruncate) from the same file grown
//! further, even when it regrew past the old size before anyone looked: the
//! size alone cannot tell them apart, the first bytes (timestamps) can.
//!
//! The hash is FNV-1a 64, written out here because the value is persisted:
//! it must not change between Rust releases (std's `DefaultHasher` may). It
//! is not a defence against someone who can write the log (such a writer
//! can forge lines anyway); it only has to tell two different heads apart.

use crate::Batch;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How many leading bytes of a file the head fingerprint covers, at most.
pub const HEAD_MAX: u32 = 4096;

/// A fingerprint of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Head {
    /// How many leading bytes are hashed (`min(offset, HEAD_MAX)` when the
    /// position was taken).
    pub len: u32,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl Head {
    /// The fingerprint of `bytes` (which should be a file's first bytes).
    pub fn of(bytes: &[u8]) -> Head {
        let len = bytes.len().min(HEAD_MAX as usize);
        Head {
            len: len as u32,
            hash: fnv1a(&bytes[..len]),
        }
    }
}

/// FNV-1a, 64 bits: stable across releases and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Where one file was left: its identity, the offset after the last
/// complete line delivered, and its head fingerprint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// `st_dev` of the file.
    pub dev: u64,
    /// `st_ino` of the file.
    pub ino: u64,
    /// The offset just after the last complete line delivered.
    pub offset: u64,
    /// The fingerprint of the file's first bytes.
    pub head: Head,
}

/// The read positions of every followed path: what the caller commits,
/// atomically with what it did with the lines, and hands back to
/// [`Follower::new`](crate::Follower::new) after a restart.
///
/// A path maps to the positions of the files its lines still come from:
/// usually one, two for the seconds after a rename rotation (the renamed
/// file, still being drained, first; then the new one), none for a path
/// that is known but has no file right now (a file that appears there is
/// then read from its start). Keep it current with [`Checkpoint::record`]
/// for every batch you process; serialise it with serde (a JSON object of
/// path → list of positions, a few dozen bytes per file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint {
    paths: BTreeMap<PathBuf, Vec<Position>>,
}

impl Checkpoint {
    /// An empty checkpoint (the first start ever).
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Takes in the state after `batch`: call it for every batch processed,
    /// in order, including those without lines.
    pub fn record(&mut self, batch: &Batch<'_>) {
        if batch.forget {
            self.paths.remove(batch.path);
        } else if let Some(files) = self.paths.get_mut(batch.path) {
            files.clear();
            files.extend_from_slice(batch.files);
        } else {
            self.paths
                .insert(batch.path.to_path_buf(), batch.files.to_vec());
        }
    }

    /// Sets a path's positions directly.
    pub fn set(&mut self, path: PathBuf, files: Vec<Position>) {
        self.paths.insert(path, files);
    }

    /// The positions saved for `path`, if it is known.
    pub fn get(&self, path: &Path) -> Option<&[Position]> {
        self.paths.get(path).map(Vec::as_slice)
    }

    /// Every known path with its positions, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &[Position])> {
        self.paths.iter().map(|(p, f)| (p.as_path(), f.as_slice()))
    }

    /// How many paths are known.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether no path is known.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_stable_and_bounded() {
        // FNV-1a 64 reference values: the empty input and "a"
        assert_eq!(Head::of(b"").hash, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Head::of(b"a").hash, 0xaf63_dc4c_8601_ec8c);
        let big = vec![7u8; 10_000];
        let h = Head::of(&big);
        assert_eq!(h.len, HEAD_MAX);
        assert_eq!(h, Head::of(&big[..HEAD_MAX as usize]));
        assert_ne!(Head::of(b"2026-01-01 x\n"), Head::of(b"2026-01-02 x\n"));
    }

    #[test]
    fn checkpoint_round_trips_through_json() {
        let mut c = Checkpoint::new();
        let p = Position {
            dev: 2049,
            ino: 77,
            offset: 1234,
            head: Head::of(b"first line\n"),
        };
        c.set("/var/log/auth.log".into(), vec![p]);
        c.set("/var/log/gone.log".into(), vec![]);
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.starts_with("{\"/var/log/auth.log\":[{\"dev\":2049"));
        let back: Checkpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.get(Path::new("/var/log/gone.log")), Some(&[][..]));
        assert_eq!(back.get(Path::new("/nope")), None);
    }
}
