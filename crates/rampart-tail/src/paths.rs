//! Paths and their files: what a path holds, resuming from a checkpoint,
//! rotations (renamed, replaced, truncated), drained files, and the
//! directory watches that say when to look again.

use crate::StartAt;
use crate::file::{OpenFile, end_of_last_line, head_of};
use crate::follower::{Follower, PathState, Seen};
use crate::notice::Notice;
use crate::open::{FileId, FileKind, Found, open_regular, stat_id};
use crate::position::{Checkpoint, Head, Position};
use crate::watch::is_remote_fs;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A rotated file found again: the file, its identity and size, where it
/// is, and where to read it from.
type FoundFile = (File, FileId, u64, PathBuf, u64);

impl Follower {
    /// Expands spec `i` for the first time and resumes each path from
    /// `checkpoint`.
    pub(crate) fn start_spec(&mut self, i: usize, checkpoint: &Checkpoint) {
        let c = &self.specs[i].c;
        let known: Vec<PathBuf> = checkpoint
            .iter()
            .filter(|(p, _)| c.covers(p))
            .map(|(p, _)| p.to_path_buf())
            .collect();
        let expanded = c.expand();
        let glob = c.is_glob();
        self.update_dirs(i, &expanded);
        // a glob followed before: what matches without a position appeared
        // while stopped
        let start = if glob && !known.is_empty() {
            self.options.start_new
        } else {
            self.options.start_existing
        };
        let gone = known.iter().filter(|p| !expanded.contains(p)).cloned();
        let targets: Vec<PathBuf> = expanded.iter().cloned().chain(gone).collect();
        for t in targets {
            let Some(id) = self.path_id(i, &t) else {
                continue;
            };
            match checkpoint.get(&t) {
                Some(saved) => self.restore(id, saved),
                None => self.examine(id, start),
            }
            if glob && !expanded.contains(&t) {
                self.mark_stale(id);
            }
            self.updates.insert(id);
        }
    }

    /// The id of `path` under spec `i`, created if new; `None` if another
    /// spec follows it already.
    fn path_id(&mut self, i: usize, path: &Path) -> Option<u64> {
        if let Some(&id) = self.by_path.get(path) {
            return (self.paths.get(&id)?.spec == i).then_some(id);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_path.insert(path.to_path_buf(), id);
        self.paths.insert(
            id,
            PathState {
                spec: i,
                path: path.to_path_buf(),
                current: None,
                draining: Vec::new(),
                dirty: false,
                seen: Seen::Unknown,
                stale: false,
                long_lines: (0, None),
                error_noticed: false,
            },
        );
        Some(id)
    }

    /// Resumes a path from its saved positions: the file at the path if it
    /// is one of them, the others looked for under rotated names; a file at
    /// the path that is none of them appeared while stopped (read from 0).
    fn restore(&mut self, id: u64, saved: &[Position]) {
        let Some(path) = self.paths.get(&id).map(|p| p.path.clone()) else {
            return;
        };
        let mut here = match open_regular(&path) {
            Found::Regular(file, fid, size) => Some((file, fid, size)),
            other => {
                self.note_found(id, other);
                None
            }
        };
        let mut current = None;
        for p in saved {
            let same = here
                .as_ref()
                .is_some_and(|(file, fid, _)| same_file(file, *fid, p));
            if let Some((file, fid, size)) = here.take_if(|_| same) {
                let offset = if p.offset <= size {
                    p.offset
                } else {
                    self.notices.push(Notice::Truncated { path: path.clone() });
                    self.resume_rotated(id, &path, p);
                    0
                };
                current = Some((file, fid, size, offset));
            } else {
                self.resume_rotated(id, &path, p);
            }
        }
        if let Some((file, fid, size)) = here {
            current = Some((file, fid, size, 0));
        }
        if let Some((file, fid, size, offset)) = current {
            self.install_new(id, file, fid, size, offset);
        }
    }

    /// Looks for the file a saved position names under the rotation
    /// patterns, and drains it from there.
    fn resume_rotated(&mut self, id: u64, path: &Path, p: &Position) {
        let found = self.find_rotated(id, path, p);
        if found.is_empty() && p.offset > 0 {
            self.notices.push(Notice::RotatedLost {
                path: path.to_path_buf(),
                position: *p,
            });
        }
        for (file, fid, size, at, offset) in found {
            self.notices.push(Notice::FoundRotated {
                path: path.to_path_buf(),
                found: at,
                offset,
            });
            self.install_draining(id, file, fid, size, offset);
        }
    }

    /// The rotation candidates of `path` that hold what follows `p`, with
    /// where to read them from: the file itself, renamed (from `p`'s offset;
    /// from 0 if it was also truncated and rewritten since), and a copy of
    /// it (same head: what copytruncate leaves) unless the file itself was
    /// found intact. Never a file already followed, never a compressed one.
    fn find_rotated(&self, id: u64, path: &Path, p: &Position) -> Vec<FoundFile> {
        let Some(spec) = self.paths.get(&id).map(|s| s.spec) else {
            return Vec::new();
        };
        let ids: Vec<(PathBuf, FileId)> = self.specs[spec]
            .c
            .candidates(path)
            .into_iter()
            .filter_map(|c| {
                stat_id(&c)
                    .filter(|(_, regular)| *regular)
                    .map(|(f, _)| (c, f))
            })
            .filter(|(_, f)| !self.in_use(*f))
            .collect();
        let is_it = |f: &FileId| f.ino == p.ino && f.dev == p.dev;
        let mut out = Vec::new();
        if let Some((cand, _)) = ids.iter().find(|(_, f)| is_it(f))
            && let Found::Regular(file, fid, size) = open_regular(cand)
        {
            let intact = size >= p.offset && head_matches(&file, p.head);
            let offset = if intact { p.offset } else { 0 };
            out.push((file, fid, size, cand.clone(), offset));
            if intact {
                return out;
            }
        }
        for (cand, _) in ids.iter().filter(|(_, f)| !is_it(f) && p.head.len > 0) {
            if let Found::Regular(file, fid, size) = open_regular(cand)
                && size >= p.offset
                && head_matches(&file, p.head)
            {
                out.push((file, fid, size, cand.clone(), p.offset));
                break;
            }
        }
        out
    }

    /// Whether a file is followed already (under any path).
    fn in_use(&self, fid: FileId) -> bool {
        self.paths
            .values()
            .any(|p| p.current.iter().chain(&p.draining).any(|f| f.id == fid))
    }

    /// Looks at what a path holds now and acts on a change.
    pub(crate) fn examine(&mut self, id: u64, start: StartAt) {
        let Some(st) = self.paths.get(&id) else {
            return;
        };
        let path = st.path.clone();
        let unchanged = st
            .current
            .as_ref()
            .is_some_and(|c| stat_id(&path).is_some_and(|(fid, _)| fid == c.id));
        if unchanged {
            return;
        }
        match open_regular(&path) {
            Found::Regular(file, fid, size) => self.adopt(id, file, fid, size, start),
            found @ (Found::Missing | Found::NotRegular(..)) => {
                self.retire_current(id);
                self.note_found(id, found);
            }
            found @ Found::Error(_) => self.note_found(id, found),
        }
    }

    /// A regular file is at the path: it becomes the current one (the old
    /// one is drained), unless it is followed already.
    fn adopt(&mut self, id: u64, file: File, fid: FileId, size: u64, start: StartAt) {
        if self.in_use(fid) {
            return;
        }
        let offset = match start {
            StartAt::Beginning => 0,
            StartAt::End => end_of_last_line(&file, size, self.options.max_line).unwrap_or(size),
        };
        let Some(st) = self.paths.get(&id) else {
            return;
        };
        if st.current.is_some() || matches!(st.seen, Seen::Regular(_)) {
            self.notices.push(Notice::Rotated {
                path: st.path.clone(),
                file: fid,
                offset,
            });
        }
        self.retire_current(id);
        self.install_new(id, file, fid, size, offset);
    }

    /// Makes a file the path's current one.
    fn install_new(&mut self, id: u64, file: File, fid: FileId, size: u64, offset: u64) {
        let mut f = match OpenFile::new(file, fid, offset, size) {
            Ok(f) => f,
            Err(e) => return self.note_found(id, Found::Error(e)),
        };
        self.watch_file(id, &mut f);
        if let Some(st) = self.paths.get_mut(&id) {
            st.seen = Seen::Regular(fid);
            st.current = Some(f);
            st.dirty = true;
        }
        self.updates.insert(id);
    }

    /// Adds a rotated file to drain from `offset`.
    fn install_draining(&mut self, id: u64, file: File, fid: FileId, size: u64, offset: u64) {
        let Ok(mut f) = OpenFile::new(file, fid, offset, size) else {
            return;
        };
        f.quiet_until = Some(Instant::now() + self.options.grace);
        self.watch_file(id, &mut f);
        if let Some(st) = self.paths.get_mut(&id) {
            st.draining.push(f);
            st.dirty = true;
        }
        self.updates.insert(id);
    }

    fn watch_file(&mut self, id: u64, f: &mut OpenFile) {
        let Some(st) = self.paths.get(&id) else {
            return;
        };
        let spec = st.spec;
        let (Some(inotify), false) = (&self.inotify, self.specs[spec].polled) else {
            return;
        };
        match inotify.watch_file(&f.file, &st.path) {
            Ok(wd) => {
                f.wd = Some(wd);
                self.file_wds.entry(wd).or_default().push(id);
            }
            Err(e) => {
                let why = format!("cannot watch {}: {e}", st.path.display());
                self.set_polled(spec, why);
            }
        }
    }

    /// The current file is no longer at the path: it is drained until
    /// quiet.
    fn retire_current(&mut self, id: u64) {
        let grace = self.options.grace;
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        if let Some(mut cur) = st.current.take() {
            cur.quiet_until = Some(Instant::now() + grace);
            st.draining.push(cur);
            st.dirty = true;
        }
    }

    /// Drops drained file `k` of a path.
    pub(crate) fn drop_draining(&mut self, id: u64, k: usize) {
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        if k >= st.draining.len() {
            return;
        }
        let f = st.draining.remove(k);
        let forget = st.stale && st.current.is_none() && st.draining.is_empty();
        if let Some(wd) = f.wd
            && let Some(ids) = self.file_wds.get_mut(&wd)
        {
            if let Some(at) = ids.iter().position(|x| *x == id) {
                ids.swap_remove(at);
            }
            if ids.is_empty() {
                self.file_wds.remove(&wd);
                if let Some(i) = &self.inotify {
                    i.unwatch(wd);
                }
            }
        }
        self.updates.insert(id);
        if forget {
            self.forget(id);
        }
    }

    /// A glob match the glob no longer produces: drained, then forgotten.
    fn mark_stale(&mut self, id: u64) {
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        st.stale = true;
        if st.current.is_none() && st.draining.is_empty() {
            self.forget(id);
        }
    }

    fn forget(&mut self, id: u64) {
        if let Some(st) = self.paths.remove(&id) {
            self.by_path.remove(&st.path);
            self.updates.remove(&id);
            self.forgotten.push((st.spec, st.path));
        }
    }

    /// Reports what was found at a path, once per change.
    fn note_found(&mut self, id: u64, found: Found) {
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        let glob = self.specs[st.spec].c.is_glob();
        let seen = match found {
            Found::Regular(_, fid, _) => Seen::Regular(fid),
            Found::Missing => Seen::Missing,
            Found::NotRegular(kind, fid) => Seen::Other(kind, fid),
            Found::Error(e) => Seen::Error(e.to_string()),
        };
        if st.seen == seen {
            return;
        }
        match &seen {
            Seen::Other(FileKind::Directory, _) if glob => {}
            Seen::Other(kind, _) => self.notices.push(Notice::NotRegular {
                path: st.path.clone(),
                kind: *kind,
            }),
            Seen::Error(e) => self.notices.push(Notice::Error {
                path: st.path.clone(),
                error: e.clone(),
            }),
            _ => {}
        }
        st.seen = seen;
    }

    /// A file was truncated or rewritten in place: said, and the rest of
    /// its old content looked for in a copy (copytruncate).
    pub(crate) fn truncated(&mut self, id: u64, old: Position) {
        let Some(path) = self.paths.get(&id).map(|p| p.path.clone()) else {
            return;
        };
        self.notices.push(Notice::Truncated { path: path.clone() });
        self.updates.insert(id);
        for (file, fid, size, found, offset) in self.find_rotated(id, &path, &old) {
            self.notices.push(Notice::FoundRotated {
                path: path.clone(),
                found,
                offset,
            });
            self.install_draining(id, file, fid, size, offset);
        }
    }

    /// Expands spec `i` again (its directories changed, or it is polled).
    pub(crate) fn rescan_spec(&mut self, i: usize) {
        let targets = self.specs[i].c.expand();
        self.update_dirs(i, &targets);
        let wanted: HashSet<&PathBuf> = targets.iter().collect();
        let stale: Vec<u64> = self
            .paths
            .iter()
            .filter(|(_, p)| p.spec == i && !wanted.contains(&p.path))
            .map(|(id, _)| *id)
            .collect();
        let start = self.options.start_new;
        for t in &targets {
            if let Some(id) = self.path_id(i, t) {
                if let Some(st) = self.paths.get_mut(&id) {
                    st.stale = false;
                }
                self.examine(id, start);
            }
        }
        for id in stale {
            let Some(st) = self.paths.get(&id) else {
                continue;
            };
            let here = stat_id(&st.path).map(|(f, _)| f);
            if st.current.as_ref().is_some_and(|c| Some(c.id) != here) {
                self.retire_current(id);
            }
            self.mark_stale(id);
        }
    }

    /// Watches the directories spec `i` depends on (and stops watching
    /// those no spec needs any more); a spec that cannot be watched, or
    /// lives on a network file system, is polled instead.
    pub(crate) fn update_dirs(&mut self, i: usize, targets: &[PathBuf]) {
        if self.specs[i].polled || self.inotify.is_none() {
            return;
        }
        let wanted = self.specs[i].c.watch_dirs(targets);
        for d in &wanted {
            if is_remote_fs(d) {
                let why = format!("{} is on a network file system", d.display());
                return self.set_polled(i, why);
            }
            if self.dirs.contains_key(d) {
                continue;
            }
            let Some(inotify) = &self.inotify else { return };
            match inotify.watch_dir(d) {
                Ok(wd) => {
                    self.dirs.insert(d.clone(), wd);
                }
                Err(e) => {
                    let why = format!("cannot watch {}: {e}", d.display());
                    return self.set_polled(i, why);
                }
            }
        }
        let old = std::mem::replace(&mut self.specs[i].dirs, wanted);
        for d in old {
            self.release_dir(&d);
        }
    }

    /// Stops watching a directory no spec needs.
    fn release_dir(&mut self, d: &Path) {
        if self.specs.iter().any(|s| s.dirs.iter().any(|x| x == d)) {
            return;
        }
        let Some(wd) = self.dirs.remove(d) else {
            return;
        };
        if !self.dirs.values().any(|w| *w == wd)
            && let Some(i) = &self.inotify
        {
            i.unwatch(wd);
        }
    }

    /// Spec `i` is polled from now on.
    pub(crate) fn set_polled(&mut self, i: usize, reason: String) {
        if std::mem::replace(&mut self.specs[i].polled, true) {
            return;
        }
        let interval = self.options.poll_interval;
        self.notices.push(Notice::Polling {
            spec: i,
            reason,
            interval,
        });
        self.next_poll.get_or_insert(Instant::now() + interval);
    }
}

/// Whether an open file is the one a saved position names: same inode, same
/// device (or a head to prove it: device numbers can change across
/// reboots), and the same first bytes.
fn same_file(file: &File, fid: FileId, p: &Position) -> bool {
    fid.ino == p.ino && (fid.dev == p.dev || p.head.len > 0) && head_matches(file, p.head)
}

/// Whether a file's first bytes are the ones `head` fingerprints.
fn head_matches(file: &File, head: Head) -> bool {
    head.len == 0 || head_of(file, u64::from(head.len)).is_ok_and(|h| h == head)
}
