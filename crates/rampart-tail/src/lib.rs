//! Following log files exactly once.
//!
//! A [`Follower`] follows a list of [`Spec`]s (plain paths, followed even
//! before they exist, and globs, re-expanded when their directories change)
//! and hands out [`Batch`]es of complete lines. Every batch carries the
//! [`Position`] of each file its path still reads after that batch; the
//! caller folds it into a [`Checkpoint`] and commits the checkpoint
//! *together with* what it did with the lines (one SQLite transaction with
//! the bans they led to). Started again from the last committed checkpoint,
//! the follower delivers exactly the lines after it: a crash at any instant
//! neither repeats nor loses a line.
//!
//! # Identity, not names
//!
//! A file is known by device and inode plus a fingerprint of its first
//! bytes (up to 4 KiB), never by its name or size alone:
//!
//! - same inode and head → the same file: resume at the saved offset;
//! - the path now holds another file → the old one was rotated: it is
//!   looked for under the spec's rotation patterns in the same directory
//!   (`NAME.1`, `NAME-YYYYMMDD`, `NAME.0`; compressed ones never), drained
//!   from the saved offset, and the new file is read from its start;
//! - same inode but another head, or shorter than the offset → truncated
//!   or rewritten in place (copytruncate, even one that regrew past the old
//!   size): read from the start.
//!
//! An offset is always the end of the last *complete* line delivered: a
//! line being written when the daemon stops is delivered, whole, once, after
//! the restart.
//!
//! # Where reading starts
//!
//! A path with a checkpoint entry resumes as above. A path without one
//! starts at [`Options::start_existing`] (default: the end of the last
//! complete line, so a first start does not re-read years of history) and
//! a file that appears later — a new path, a rotation, a new file matching
//! a glob, or a glob match appearing while stopped for a spec that was
//! followed before — at [`Options::start_new`] (default: its beginning).
//! The first [`Follower::read`] delivers a batch without lines for each
//! path so that even the starting position is committed at once.
//!
//! # Rotation while running
//!
//! After a rename (or an unlink), the old file is still read through its
//! open descriptor, with the new file read alongside, until it has been
//! quiet for [`Options::grace`] (default 5 s, see there). Its last line,
//! if it never got its newline, is then delivered as a line.
//!
//! # Events, not polling
//!
//! Directories are watched with inotify for names appearing and going,
//! followed files for writes; [`Follower::wait`] sleeps in `poll(2)` until
//! something happened or a timer (a drained file's grace period) is due,
//! so an idle follower costs no wake-ups. [`Follower::fd`] and
//! [`Follower::timeout`] let a caller put it into its own poll loop. A spec
//! whose directory is on a network file system (where inotify misses other
//! machines' writes), or that cannot be watched (inotify unavailable, out
//! of watches), is polled every [`Options::poll_interval`] instead, and a
//! [`Notice::Polling`] says so.
//!
//! # Odd files
//!
//! Only regular files are read; symlinks are followed to them. A path is
//! opened `O_PATH` first and its type checked with `fstat` before anything
//! is opened for reading, so a FIFO, a device (`/dev/zero`, a terminal) or
//! a directory is never read, opened for reading or blocked on. Such a
//! path is reported once ([`Notice::NotRegular`]) and examined again each
//! time its directory changes. Notices are typed, queued, rate-limited and
//! drained by the caller ([`Follower::notices`]).
//!
//! # Limits
//!
//! - A file that comes and goes between two looks — created and rotated
//!   away again before the follower read it, or rotated twice while the
//!   daemon was stopped so that the saved file is no longer under a
//!   rotation pattern (or was compressed) — cannot be found; the second
//!   case is reported ([`Notice::RotatedLost`]).
//! - copytruncate itself loses what is written between the copy and the
//!   truncation; what the follower had not read before the copy is read
//!   from the copy (found by its head), once.
//! - Two files whose first `min(offset, 4 KiB)` bytes are identical look
//!   the same to the head check (log lines start with timestamps).
//! - On a first start (no checkpoint at all) old lines are skipped by
//!   default: commit the first batches (they carry the starting positions)
//!   at once, or a crash before that starts at the end again.
//!
//! # Example
//!
//! ```no_run
//! use rampart_tail::{Checkpoint, Follower, Options, Spec};
//! use std::time::Duration;
//!
//! let mut checkpoint = Checkpoint::new(); // or the one committed last time
//! let specs = vec![Spec::new("/var/log/auth.log"), Spec::new("/var/log/apache2/*.log")];
//! let mut follower = Follower::new(specs, Options::default(), &checkpoint)?;
//! loop {
//!     follower.wait(Some(Duration::from_secs(1)));
//!     follower.read(4 << 20, &mut |batch| {
//!         for line in batch.lines() {
//!             let _ = line; // detect
//!         }
//!         checkpoint.record(&batch); // commit with what the lines led to
//!     });
//!     for notice in follower.notices() {
//!         eprintln!("{notice}");
//!     }
//! }
//! # Ok::<(), rampart_tail::Error>(())
//! ```

#![deny(missing_docs)]

mod file;
mod follower;
mod notice;
mod open;
mod paths;
mod position;
mod spec;
mod watch;

pub use follower::Follower;
pub use notice::{FileState, FileStats, Notice};
pub use open::{FileId, FileKind};
pub use position::{Checkpoint, HEAD_MAX, Head, Position};
pub use spec::{DEFAULT_ROTATIONS, Spec};

use std::path::Path;
use std::time::Duration;

/// Where to start reading a file that has no checkpoint position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At its beginning: every line in it is delivered.
    Beginning,
    /// Just after its last complete line: only lines written from now on.
    End,
}

/// How the follower behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where files present at start without a checkpoint position start
    /// (default [`StartAt::End`]).
    pub start_existing: StartAt,
    /// Where files that appear later start (default
    /// [`StartAt::Beginning`]).
    pub start_new: StartAt,
    /// How long a rotated (renamed or unlinked) file must have been quiet
    /// before it is dropped. Default 5 s: syslog daemons write 10–100 ms
    /// after the rename until their HUP is handled, web servers' reloads
    /// take longer; each write restarts the period, so the grace only
    /// needs to cover the longest *pause*, and it costs nothing but one
    /// open descriptor and one timer wake-up at its end.
    pub grace: Duration,
    /// Lines longer than this many bytes are cut to it (default 16 KiB).
    pub max_line: usize,
    /// Bytes read per `pread` (default 256 KiB; raised to `max_line + 1`).
    pub read_size: usize,
    /// How often polled specs are looked at (default 1 s).
    pub poll_interval: Duration,
    /// Poll every spec instead of watching (default false: inotify, with
    /// polling only where it cannot work).
    pub force_polling: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            start_existing: StartAt::End,
            start_new: StartAt::Beginning,
            grace: Duration::from_secs(5),
            max_line: 16 << 10,
            read_size: 256 << 10,
            poll_interval: Duration::from_secs(1),
            force_polling: false,
        }
    }
}

/// Complete lines from one file, and the positions after them.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The index of the spec the path belongs to.
    pub spec: usize,
    /// The followed path (for a rotated file still being drained, the path
    /// it was followed under).
    pub path: &'a Path,
    /// Complete lines, each ending in `\n`; lines longer than
    /// [`Options::max_line`] cut to it. Empty for a batch that only moves
    /// positions (a file appeared, was dropped, truncated): record it all
    /// the same.
    pub data: &'a [u8],
    /// How many lines `data` holds.
    pub lines: u64,
    /// The position, after this batch, of the file `data` came from (`None`
    /// when `data` is empty).
    pub position: Option<Position>,
    /// The positions, after this batch, of every file of `path` (drained
    /// files first, the current one last): what [`Checkpoint::record`]
    /// keeps.
    pub files: &'a [Position],
    /// The path is no longer followed (a glob match that disappeared):
    /// [`Checkpoint::record`] removes it.
    pub forget: bool,
}

impl<'a> Batch<'a> {
    /// The lines without their `\n` (nor a `\r` before it).
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let empty = self.data.is_empty();
        let data = self.data.strip_suffix(b"\n").unwrap_or(self.data);
        data.split(|b| *b == b'\n')
            .filter(move |_| !empty)
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
    }
}

/// What one [`Follower::read`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes consumed.
    pub bytes: u64,
    /// Lines delivered.
    pub lines: u64,
    /// More is readable right now (the budget ran out): call `read` again
    /// before waiting.
    pub more: bool,
}

/// Errors of [`Follower::new`]; everything later is a [`Notice`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A glob or rotation pattern is not valid.
    #[error("invalid pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
}
