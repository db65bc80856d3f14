//! What the follower wants said, and what it counts.
//!
//! The follower never logs: it queues typed [`Notice`]s that the caller
//! drains and logs as it likes. Each kind is rate-limited at the source so
//! that a flapping path cannot flood the log: a path that is not a regular
//! file is reported once per change of what it is, a read error once until
//! a read succeeds again, over-long lines at most once a minute per path
//! with the number cut since. The queue itself is bounded; what did not fit
//! is counted and reported as [`Notice::Dropped`].

use crate::open::{FileId, FileKind};
use crate::position::Position;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

/// Something the caller should know (and probably log).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// Spec `spec` is polled every `interval` instead of watched (inotify
    /// unavailable or out of watches, or a network file system where
    /// inotify misses remote writes).
    Polling {
        /// The spec index.
        spec: usize,
        /// Why.
        reason: String,
        /// How often it is polled.
        interval: Duration,
    },
    /// The path holds something that is never read; it is re-examined
    /// whenever its directory changes.
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// At start, the file a checkpoint position named was found under a
    /// rotated name; its unread lines are read from there.
    FoundRotated {
        /// The followed path.
        path: PathBuf,
        /// Where the old file is now.
        found: PathBuf,
        /// Where reading resumes in it.
        offset: u64,
    },
    /// At start, a file a checkpoint position named was found nowhere (it
    /// was compressed or deleted): lines after `position` in it are lost.
    RotatedLost {
        /// The followed path.
        path: PathBuf,
        /// The saved position.
        position: Position,
    },
    /// The file at a path was replaced (rotation): the old one is drained
    /// until quiet, the new one read from `offset`.
    Rotated {
        /// The path.
        path: PathBuf,
        /// The new file's identity.
        file: FileId,
        /// Where reading starts in it.
        offset: u64,
    },
    /// The file was truncated or rewritten in place (copytruncate): it is
    /// read again from its start.
    Truncated {
        /// The path.
        path: PathBuf,
    },
    /// Lines longer than the limit were cut to it.
    LongLines {
        /// The path.
        path: PathBuf,
        /// How many since the last such notice for the path.
        count: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A path could not be examined, watched or read.
    Error {
        /// The path.
        path: PathBuf,
        /// What failed.
        error: String,
    },
    /// This many notices did not fit in the queue.
    Dropped(u64),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Polling {
                spec,
                reason,
                interval,
            } => write!(
                f,
                "log spec #{spec} is polled every {} ms: {reason}",
                interval.as_millis()
            ),
            Notice::NotRegular { path, kind } => {
                write!(f, "{} is {kind}, not read", shown(path))
            }
            Notice::FoundRotated {
                path,
                found,
                offset,
            } => write!(
                f,
                "{} was rotated while stopped: reading the rest of {} from offset {offset}",
                shown(path),
                shown(found)
            ),
            Notice::RotatedLost { path, position } => write!(
                f,
                "{} was rotated while stopped and the old file (inode {}) was not found: \
                 lines after offset {} in it are lost",
                shown(path),
                position.ino,
                position.offset
            ),
            Notice::Rotated { path, file, offset } => write!(
                f,
                "{} rotated: following inode {} from offset {offset}",
                shown(path),
                file.ino
            ),
            Notice::Truncated { path } => {
                write!(f, "{} was truncated: reading from its start", shown(path))
            }
            Notice::LongLines { path, count, limit } => write!(
                f,
                "{}: {count} line(s) longer than {limit} bytes were cut",
                shown(path)
            ),
            Notice::Error { path, error } => {
                write!(f, "{}: {}", shown(path), shown(std::path::Path::new(error)))
            }
            Notice::Dropped(n) => write!(f, "{n} log-follower notice(s) dropped"),
        }
    }
}

/// A path for people: lossy UTF-8 with control characters escaped (a
/// file name can carry terminal escape sequences).
fn shown(path: &std::path::Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The bounded notice queue.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    queue: VecDeque<Notice>,
    dropped: u64,
}

const QUEUE_MAX: usize = 256;

impl Notices {
    pub(crate) fn push(&mut self, n: Notice) {
        if self.queue.len() >= QUEUE_MAX {
            self.dropped += 1;
        } else {
            self.queue.push_back(n);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Notice> {
        let mut out: Vec<Notice> = self.queue.drain(..).collect();
        if self.dropped > 0 {
            out.push(Notice::Dropped(std::mem::take(&mut self.dropped)));
        }
        out
    }
}

/// What state a followed file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileState {
    /// The file currently at the path.
    Following,
    /// A rotated or deleted file, read until it has been quiet for the
    /// grace period.
    Draining,
}

/// Counters and the read position of one open file, for `status` and
/// metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStats {
    /// The spec index.
    pub spec: usize,
    /// The followed path.
    pub path: PathBuf,
    /// Following or draining.
    pub state: FileState,
    /// Where it is.
    pub position: Position,
    /// Its size when last looked at.
    pub size: u64,
    /// `size - offset`: bytes written and not yet delivered.
    pub lag: u64,
    /// Bytes delivered (complete lines).
    pub bytes: u64,
    /// Lines delivered.
    pub lines: u64,
    /// Lines cut to the length limit.
    pub long_lines: u64,
    /// Read errors.
    pub errors: u64,
    /// Whether the path is polled rather than watched.
    pub polled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_paths_are_escaped() {
        let n = Notice::Truncated {
            path: PathBuf::from("/var/log/\u{1b}[31mevil\u{7}.log"),
        };
        assert_eq!(
            n.to_string(),
            "/var/log/\\u{1b}[31mevil\\u{7}.log was truncated: reading from its start"
        );
    }
}
