//! Log files as a source: a thread running a [`rampart_tail::Follower`]
//! (inotify, rotations by identity, odd files refused) that sends batches
//! of complete lines with the checkpoint after them.
//!
//! The checkpoint (every followed file's identity and the offset of the end
//! of its last complete line) travels with the lines; the enforcer commits
//! it in the same store transaction as the bans those lines led to
//! (`Store::record_pass`), under the key [`CHECKPOINT_KEY`]. Given back to
//! the follower at the next start, it resumes exactly after the last line
//! whose consequences were recorded.

use super::{Feed, Source};
use crate::daemon::events::{Checkpoint as Cp, Input, SourceId};
use crate::daemon::rebuild::Known;
use rampart_tail::{Checkpoint, Follower, Notice, Options, Spec};
use std::path::Path;
use std::time::{Duration, Instant};

/// The store key of the files' checkpoint.
pub const CHECKPOINT_KEY: &str = "files";

/// Bytes read per call, so one busy file cannot starve the others.
const READ_BUDGET: usize = 4 << 20;

/// The followed files.
pub struct FileSource {
    follower: Follower,
    checkpoint: Checkpoint,
    /// The source id of each spec (by spec index).
    ids: Vec<SourceId>,
}

/// The checkpoint saved under [`CHECKPOINT_KEY`], if any.
pub fn saved(value: Option<&String>) -> Checkpoint {
    value
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

impl FileSource {
    /// Follows `patterns` (paths and globs) from `saved`; lines longer than
    /// `max_line` are cut. `first_id` is the source id of the first spec.
    pub fn open(
        patterns: &[std::path::PathBuf],
        saved: Checkpoint,
        max_line: usize,
        first_id: SourceId,
    ) -> Result<FileSource, rampart_tail::Error> {
        let specs = patterns.iter().map(|p| Spec::new(p.clone())).collect();
        let options = Options {
            max_line,
            ..Options::default()
        };
        let follower = Follower::new(specs, options, &saved)?;
        let checkpoint = follower.checkpoint();
        let ids = (first_id..first_id + patterns.len()).collect();
        Ok(FileSource {
            follower,
            checkpoint,
            ids,
        })
    }

    /// Where every file starts (committed before anything is read, so a
    /// crash right after the first start loses nothing).
    pub fn starting(&self) -> (String, String) {
        (CHECKPOINT_KEY.into(), to_json(&self.checkpoint))
    }

    /// Every followed path's files (oldest first) with their committed
    /// offsets, for the counter rebuild.
    pub fn positions(&self) -> Vec<(std::path::PathBuf, Vec<Known>)> {
        let known = |f: &rampart_tail::Position| Known {
            dev: f.dev,
            ino: f.ino,
            offset: f.offset,
        };
        self.checkpoint
            .iter()
            .map(|(p, files)| (p.to_path_buf(), files.iter().map(known).collect()))
            .collect()
    }

    /// One read: every batch to the detector; `None` when stopping.
    fn read(&mut self, feed: &Feed) -> Option<bool> {
        let mut alive = true;
        let (checkpoint, ids) = (&mut self.checkpoint, &self.ids);
        let out = self.follower.read(READ_BUDGET, &mut |batch| {
            checkpoint.record(&batch);
            if !alive {
                return;
            }
            let input = Input::Lines {
                source: ids.get(batch.spec).copied().unwrap_or(0),
                data: batch.data.to_vec(),
                checkpoint: Some(Cp {
                    key: CHECKPOINT_KEY.into(),
                    value: to_json(checkpoint),
                }),
                read_at: Instant::now(),
            };
            alive = feed.send(input);
        });
        for n in self.follower.notices() {
            let error = matches!(
                n,
                Notice::Error { .. } | Notice::NotRegular { .. } | Notice::RotatedLost { .. }
            );
            feed.notice(&notice_source(&n), n.to_string(), error);
        }
        alive.then_some(out.more)
    }
}

fn to_json(c: &Checkpoint) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// The path a notice is about (the source name shown in status).
fn notice_source(n: &Notice) -> String {
    let p: Option<&Path> = match n {
        Notice::NotRegular { path, .. }
        | Notice::FoundRotated { path, .. }
        | Notice::RotatedLost { path, .. }
        | Notice::Rotated { path, .. }
        | Notice::Truncated { path }
        | Notice::LongLines { path, .. }
        | Notice::Error { path, .. } => Some(path),
        _ => None, // polling, dropped notices: about the source as a whole
    };
    p.map_or_else(|| "files".into(), |p| p.display().to_string())
}

impl Source for FileSource {
    fn name(&self) -> String {
        "files".into()
    }

    fn run(mut self: Box<Self>, feed: Feed) {
        while let Some(more) = self.read(&feed) {
            if !more {
                // sleeps until inotify says something changed (or a
                // rotated file's grace period ends); the bound only makes
                // a stop noticed
                self.follower.wait(Some(Duration::from_secs(60)));
            }
        }
    }
}
