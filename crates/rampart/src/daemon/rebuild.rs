//! Counters rebuilt from the logs at start: the part of each log inside
//! the longest counting window, up to the committed read position, is
//! replayed with bans suppressed, so an attacker half-way to a threshold
//! is not forgiven by a restart, and nothing already decided is decided
//! twice.
//!
//! The window's start is found by timestamp, reading backwards from the
//! position in 1 MiB steps until a line older than the window (or the
//! start of the file, or [`MAX_REPLAY`] bytes). The files of a path are
//! found by identity (device and inode), wherever rotation moved them, and
//! when the window reaches back past the oldest of them, the newest
//! rotated sibling (`auth.log.1`, `auth.log-20261201`) is replayed first.

use crate::input;
use rampart_core::detect::Detector;
use rampart_core::time::{self, TimeContext};
use rampart_core::tracker::Outcome;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const STEP: u64 = 1 << 20;
/// The most bytes replayed per file.
pub const MAX_REPLAY: u64 = 256 << 20;

/// One file of a followed path, as the checkpoint knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// The committed offset.
    pub offset: u64,
}

/// Replays the counting window of `path`'s files (oldest first, as the
/// checkpoint lists them) up to their committed offsets; returns the lines
/// replayed.
pub fn replay_path(det: &mut Detector, path: &Path, files: &[Known], tctx: &TimeContext) -> u64 {
    let cutoff = tctx.reference - longest_window(det) as i64;
    let mut chain: Vec<(PathBuf, u64)> = files
        .iter()
        .filter_map(|k| Some((locate(path, k.dev, k.ino)?, k.offset)))
        .collect();
    let Some((first, end)) = chain.first().cloned() else {
        return 0;
    };
    let starts_before =
        File::open(&first).is_ok_and(|mut f| window_start(&mut f, end, cutoff, tctx) == 0);
    if starts_before && let Some(prev) = predecessor(path, &chain) {
        let len = std::fs::metadata(&prev).map_or(0, |m| m.len());
        chain.insert(0, (prev, len));
    }
    chain
        .iter()
        .map(|(p, end)| replay(det, p, *end, cutoff, tctx))
        .sum()
}

fn longest_window(det: &Detector) -> u64 {
    det.tracker()
        .groups()
        .iter()
        .map(|g| g.window_secs)
        .max()
        .unwrap_or(3600)
}

/// Where the file with this identity is now: at `path`, or renamed next to it.
fn locate(path: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    let same = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.dev() == dev && m.ino() == ino);
    if same(path) {
        return Some(path.to_path_buf());
    }
    siblings(path).into_iter().find(|p| same(p))
}

/// Uncompressed files next to `path` whose names start with its name.
fn siblings(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n != name
                && n.starts_with(&*name)
                && !n.ends_with(".gz")
                && !n.ends_with(".xz")
                && !n.ends_with(".bz2")
                && !n.ends_with(".zst")
        })
        .collect()
}

/// The newest rotated sibling not already in `chain`.
fn predecessor(path: &Path, chain: &[(PathBuf, u64)]) -> Option<PathBuf> {
    siblings(path)
        .into_iter()
        .filter(|p| !chain.iter().any(|(c, _)| c == p))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p)
}

/// Replays `path` up to `end` from the first line at or after `cutoff`.
fn replay(det: &mut Detector, path: &Path, end: u64, cutoff: i64, tctx: &TimeContext) -> u64 {
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let start = window_start(&mut file, end, cutoff, tctx);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return 0;
    }
    let mut r = std::io::BufReader::with_capacity(256 << 10, file.take(end - start));
    let max = det.engine().max_line_bytes;
    let mut n = 0;
    let _ = input::for_each_line(&mut r, max, |_, line| {
        n += 1;
        // Bans the replay re-decides are in the store and the kernel (or
        // expired there): they must not mark the address as banned now,
        // which would swallow its next failures.
        let banned: Vec<_> = match det.process(line, tctx, tctx.reference) {
            Some((_, Outcome::Banned(ds))) => ds.iter().map(|d| d.target.addr).collect(),
            _ => Vec::new(),
        };
        for ip in banned {
            det.forget(ip);
        }
    });
    n
}

/// The offset of the first line at or after `cutoff` (approximately: the
/// start of the first line of the 1 MiB step that holds an older one).
fn window_start(file: &mut File, end: u64, cutoff: i64, tctx: &TimeContext) -> u64 {
    let mut pos = end;
    let mut buf = vec![0u8; 64 << 10];
    while pos > 0 && end - pos < MAX_REPLAY {
        pos = pos.saturating_sub(STEP);
        let line_start = if pos == 0 {
            Some(0)
        } else {
            next_line(file, pos, end, &mut buf)
        };
        let Some(ls) = line_start else { continue };
        if let Some(t) = first_time(file, ls, &mut buf, tctx)
            && t < cutoff
        {
            return ls;
        }
    }
    pos
}

/// The offset just after the first newline at or after `from`.
fn next_line(file: &mut File, from: u64, end: u64, buf: &mut [u8]) -> Option<u64> {
    file.seek(SeekFrom::Start(from)).ok()?;
    let n = file.read(buf).ok()?;
    let i = memchr::memchr(b'\n', &buf[..n])?;
    let at = from + i as u64 + 1;
    (at < end).then_some(at)
}

fn first_time(file: &mut File, at: u64, buf: &mut [u8], tctx: &TimeContext) -> Option<i64> {
    file.seek(SeekFrom::Start(at)).ok()?;
    let n = file.read(buf).ok()?;
    time::parse_leading(&buf[..n], tctx).map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_the_window_start_by_timestamp() {
        let p = std::env::temp_dir().join(format!("rampart-rebuild-{}.log", std::process::id()));
        let mut f = File::create(&p).unwrap();
        // 2026-12-01T00:00:00Z, one line per second for 40,000 s (~3 MB)
        let t0 = 1_796_083_200i64;
        for i in 0..40_000i64 {
            let t = rampart_core::time::format_rfc3339(t0 + i);
            writeln!(
                f,
                "{t} host prog[1]: line {i} padding padding padding padding"
            )
            .unwrap();
        }
        drop(f);
        let end = std::fs::metadata(&p).unwrap().len();
        let tctx = TimeContext::utc(t0 + 40_000);
        let mut file = File::open(&p).unwrap();
        let start = window_start(&mut file, end, t0 + 36_400, &tctx);
        assert!(predecessor(&p, &[(p.clone(), end)]).is_none());
        let first = first_time(&mut file, start, &mut vec![0u8; 4096], &tctx).unwrap();
        assert!(first < t0 + 36_400, "starts before the window");
        assert!(first > t0 + 36_400 - 20_000, "but not far before: one step");
        assert_eq!(
            window_start(&mut file, end, t0 - 10, &tctx),
            0,
            "all of a young file"
        );
        let _ = std::fs::remove_file(p);
    }
}
