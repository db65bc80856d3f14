//! The follower: specs expand to paths, paths hold open files (the current
//! one and rotated ones being drained), inotify events and timers say which
//! paths to look at, and [`Follower::read`] turns what is new into batches.
//!
//! Everything the caller can observe happens inside `read`: events are
//! taken from the inotify descriptor there (never in `wait`, which only
//! sleeps), so a caller that polls [`Follower::fd`] itself loses nothing.

use crate::file::{Deliver, OpenFile};
use crate::notice::{FileState, FileStats, Notice, Notices};
use crate::open::{FileId, FileKind, identity};
use crate::position::{Checkpoint, Position};
use crate::spec::{Compiled, Spec};
use crate::watch::{Event, Inotify, wait_readable};
use crate::{Batch, Error, Options, ReadOutcome};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Follows log files exactly once; see the [crate documentation](crate).
pub struct Follower {
    pub(crate) specs: Vec<SpecState>,
    pub(crate) paths: BTreeMap<u64, PathState>,
    pub(crate) by_path: HashMap<PathBuf, u64>,
    pub(crate) next_id: u64,
    pub(crate) inotify: Option<Inotify>,
    /// Watched directories and their watch descriptors.
    pub(crate) dirs: HashMap<PathBuf, i32>,
    /// File watch descriptors → the paths whose files they watch.
    pub(crate) file_wds: HashMap<i32, Vec<u64>>,
    pub(crate) options: Options,
    buf: Vec<u8>,
    scratch: Vec<Position>,
    pub(crate) notices: Notices,
    /// Specs to expand again.
    pub(crate) rescan: BTreeSet<usize>,
    /// Paths whose positions changed without lines.
    pub(crate) updates: BTreeSet<u64>,
    /// Glob paths no longer followed, to report.
    pub(crate) forgotten: Vec<(usize, PathBuf)>,
    pub(crate) next_poll: Option<Instant>,
    cursor: u64,
    events: Vec<Event>,
}

pub(crate) struct SpecState {
    pub(crate) c: Compiled,
    pub(crate) polled: bool,
    pub(crate) dirs: Vec<PathBuf>,
}

/// What was last found at a path (so that it is reported once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    Unknown,
    Missing,
    Regular(FileId),
    Other(FileKind, FileId),
    Error(String),
}

pub(crate) struct PathState {
    pub(crate) spec: usize,
    pub(crate) path: PathBuf,
    pub(crate) current: Option<OpenFile>,
    pub(crate) draining: Vec<OpenFile>,
    pub(crate) dirty: bool,
    pub(crate) seen: Seen,
    /// A glob match that the glob no longer produces.
    pub(crate) stale: bool,
    /// Long lines cut since the last notice, and when that was.
    pub(crate) long_lines: (u64, Option<Instant>),
    pub(crate) error_noticed: bool,
}

impl PathState {
    fn file_count(&self) -> usize {
        self.draining.len() + usize::from(self.current.is_some())
    }

    pub(crate) fn file_mut(&mut self, k: usize) -> Option<&mut OpenFile> {
        if k < self.draining.len() {
            self.draining.get_mut(k)
        } else {
            self.current.as_mut()
        }
    }

    pub(crate) fn positions(&self, out: &mut Vec<Position>) {
        out.clear();
        out.extend(self.draining.iter().map(OpenFile::position));
        out.extend(self.current.iter().map(OpenFile::position));
    }
}

/// How often at most a path's long-line notice is repeated.
const LONG_LINE_NOTICE_EVERY: Duration = Duration::from_secs(60);

impl Follower {
    /// Starts following `specs` from `checkpoint` (empty on a first start).
    ///
    /// Files are opened and positions resolved here; the first
    /// [`read`](Follower::read) delivers a batch without lines for every
    /// path, so that the starting positions are committed at once.
    ///
    /// # Errors
    ///
    /// [`Error::Pattern`] for an invalid glob or rotation pattern. Nothing
    /// else fails here: missing files are waited for, and what cannot be
    /// watched is polled (with a [`Notice`]).
    pub fn new(
        specs: Vec<Spec>,
        options: Options,
        checkpoint: &Checkpoint,
    ) -> Result<Follower, Error> {
        let compiled = specs
            .into_iter()
            .map(Compiled::new)
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = options;
        options.max_line = options.max_line.max(1);
        options.read_size = options.read_size.max(options.max_line + 1);
        let (inotify, why) = if options.force_polling {
            (None, Some("polling was asked for".to_string()))
        } else {
            match Inotify::new() {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(format!("inotify is unavailable: {e}"))),
            }
        };
        let mut f = Follower {
            specs: Vec::new(),
            paths: BTreeMap::new(),
            by_path: HashMap::new(),
            next_id: 0,
            inotify,
            dirs: HashMap::new(),
            file_wds: HashMap::new(),
            buf: vec![0; options.read_size],
            options,
            scratch: Vec::new(),
            notices: Notices::default(),
            rescan: BTreeSet::new(),
            updates: BTreeSet::new(),
            forgotten: Vec::new(),
            next_poll: None,
            cursor: 0,
            events: Vec::new(),
        };
        for (i, c) in compiled.into_iter().enumerate() {
            f.specs.push(SpecState {
                c,
                polled: false,
                dirs: Vec::new(),
            });
            if let Some(why) = &why {
                f.set_polled(i, why.clone());
            }
        }
        for i in 0..f.specs.len() {
            f.start_spec(i, checkpoint);
        }
        Ok(f)
    }

    /// Delivers what is new, about `budget` bytes at most (one read past it
    /// at most), shared fairly between the files that have something, to
    /// `sink` as batches of complete lines. Handles pending events, rotations
    /// and timers first. Never blocks on a file; errors become notices.
    pub fn read(&mut self, budget: usize, sink: &mut dyn FnMut(Batch<'_>)) -> ReadOutcome {
        let budget = budget.max(1);
        self.take_events();
        self.run_timers(Instant::now());
        while let Some(i) = self.rescan.pop_first() {
            self.rescan_spec(i);
        }
        let mut out = ReadOutcome::default();
        self.read_dirty(budget, sink, &mut out);
        self.expire(Instant::now(), sink, &mut out);
        self.flush_updates(sink);
        out.more = self.paths.values().any(|p| p.dirty) || !self.rescan.is_empty();
        out
    }

    /// Sleeps until something may be readable, a timer is due, or `timeout`
    /// passes (`None`: no limit but the follower's own timers). Returns
    /// whether [`read`](Follower::read) has something to do. Returns at once
    /// when work is pending.
    pub fn wait(&mut self, timeout: Option<Duration>) -> bool {
        let limit = match (timeout, self.timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if limit == Some(Duration::ZERO) {
            return true;
        }
        let fd = self.inotify.as_ref().map(Inotify::fd);
        match wait_readable(fd, limit) {
            Ok(ready) => ready || self.timeout() == Some(Duration::ZERO),
            Err(e) => {
                self.notices.push(Notice::Error {
                    path: PathBuf::from("inotify"),
                    error: e.to_string(),
                });
                true
            }
        }
    }

    /// How long the caller may sleep before calling
    /// [`read`](Follower::read) even if [`fd`](Follower::fd) stays quiet
    /// (a grace period ends, a polled spec is due); `None`: indefinitely;
    /// zero: work is pending now.
    pub fn timeout(&self) -> Option<Duration> {
        let pending = self.paths.values().any(|p| p.dirty)
            || !self.rescan.is_empty()
            || !self.updates.is_empty()
            || !self.forgotten.is_empty();
        if pending {
            return Some(Duration::ZERO);
        }
        let draining = self
            .paths
            .values()
            .flat_map(|p| p.draining.iter().filter_map(|f| f.quiet_until));
        let next = draining.chain(self.next_poll).min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// The inotify descriptor, for a caller's own `poll`/`epoll` loop:
    /// readable means call [`read`](Follower::read). `None` when every spec
    /// is polled (then only [`timeout`](Follower::timeout) matters).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(Inotify::fd)
    }

    /// Takes the notices queued since the last call.
    pub fn notices(&mut self) -> Vec<Notice> {
        self.notices.take()
    }

    /// The positions of every followed file as of the last batch delivered
    /// (what a caller that recorded every batch holds).
    pub fn checkpoint(&self) -> Checkpoint {
        let mut c = Checkpoint::new();
        let mut files = Vec::new();
        for p in self.paths.values() {
            p.positions(&mut files);
            c.set(p.path.clone(), files.clone());
        }
        c
    }

    /// Counters and positions of every open file.
    pub fn stats(&self) -> Vec<FileStats> {
        let mut out = Vec::new();
        for p in self.paths.values() {
            let polled = self.specs[p.spec].polled;
            let files = p.draining.iter().map(|f| (f, FileState::Draining));
            for (f, state) in files.chain(p.current.iter().map(|f| (f, FileState::Following))) {
                let size = identity(&f.file).map(|(_, s)| s).unwrap_or(f.size);
                out.push(FileStats {
                    spec: p.spec,
                    path: p.path.clone(),
                    state,
                    position: f.position(),
                    size,
                    lag: size.saturating_sub(f.offset),
                    bytes: f.counters.bytes,
                    lines: f.counters.lines,
                    long_lines: f.counters.long_lines,
                    errors: f.counters.errors,
                    polled,
                });
            }
        }
        out
    }

    /// Reads the paths that have something, round-robin from where the
    /// last call stopped.
    fn read_dirty(
        &mut self,
        budget: usize,
        sink: &mut dyn FnMut(Batch<'_>),
        out: &mut ReadOutcome,
    ) {
        let dirty: Vec<u64> = self
            .paths
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(id, _)| *id)
            .collect();
        if dirty.is_empty() {
            return;
        }
        let split = dirty.partition_point(|id| *id <= self.cursor);
        let share = (budget / dirty.len()).max(self.options.read_size);
        for &id in dirty[split..].iter().chain(&dirty[..split]) {
            if out.bytes as usize >= budget {
                break;
            }
            if let Some(p) = self.paths.get_mut(&id) {
                p.dirty = false;
            }
            // reading may add files (a copy found after a truncation),
            // which marks the path dirty again
            let done = self.read_path(id, share, sink, out);
            if let Some(p) = self.paths.get_mut(&id) {
                p.dirty |= !done;
            }
            self.cursor = id;
        }
    }

    /// Reads every file of a path; returns whether all are at their end.
    fn read_path(
        &mut self,
        id: u64,
        budget: usize,
        sink: &mut dyn FnMut(Batch<'_>),
        out: &mut ReadOutcome,
    ) -> bool {
        let count = self.paths.get(&id).map_or(0, PathState::file_count);
        let max_line = self.options.max_line;
        let mut done = true;
        for k in 0..count {
            let r = self.with_file(id, k, sink, |f, buf, d| f.read(buf, max_line, budget, d));
            match r {
                Some(Ok(report)) => {
                    out.bytes += report.bytes;
                    out.lines += report.lines;
                    done &= report.eof;
                    self.after_read(id, k, &report);
                }
                Some(Err(e)) => self.read_failed(id, k, &e),
                None => {}
            }
        }
        done
    }

    /// Runs `op` on file `k` of path `id` (drained files first, the current
    /// one last) with a deliverer that turns its lines into batches.
    pub(crate) fn with_file<R>(
        &mut self,
        id: u64,
        k: usize,
        sink: &mut dyn FnMut(Batch<'_>),
        op: impl FnOnce(&mut OpenFile, &mut [u8], &mut Deliver<'_>) -> R,
    ) -> Option<R> {
        let st = self.paths.get_mut(&id)?;
        st.positions(&mut self.scratch);
        let PathState {
            spec,
            path,
            current,
            draining,
            ..
        } = st;
        let file = if k < draining.len() {
            &mut draining[k]
        } else {
            current.as_mut()?
        };
        let scratch = &mut self.scratch;
        let mut deliver = |data: &[u8], lines: u64, pos: Position| {
            scratch[k] = pos;
            sink(Batch {
                spec: *spec,
                path: path.as_path(),
                data,
                lines,
                position: Some(pos),
                files: scratch,
                forget: false,
            });
        };
        Some(op(file, &mut self.buf, &mut deliver))
    }

    /// Notices and bookkeeping after a successful read.
    fn after_read(&mut self, id: u64, k: usize, report: &crate::file::Report) {
        let now = Instant::now();
        let grace = self.options.grace;
        let limit = self.options.max_line;
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        if report.bytes > 0 {
            st.error_noticed = false;
        }
        let draining = k < st.draining.len();
        if let Some(f) = st.file_mut(k)
            && draining
            && report.bytes > 0
        {
            f.quiet_until = Some(now + grace);
        }
        st.long_lines.0 += report.cut;
        let due = st
            .long_lines
            .1
            .is_none_or(|t| now >= t + LONG_LINE_NOTICE_EVERY);
        if st.long_lines.0 > 0 && due {
            let count = std::mem::take(&mut st.long_lines.0);
            st.long_lines.1 = Some(now);
            let path = st.path.clone();
            self.notices.push(Notice::LongLines { path, count, limit });
        }
        if let Some(old) = report.truncated {
            self.truncated(id, old);
        }
    }

    /// A read failed: counted, reported once until a read succeeds.
    fn read_failed(&mut self, id: u64, k: usize, e: &std::io::Error) {
        let Some(st) = self.paths.get_mut(&id) else {
            return;
        };
        if let Some(f) = st.file_mut(k) {
            f.counters.errors += 1;
        }
        if !std::mem::replace(&mut st.error_noticed, true) {
            let path = st.path.clone();
            self.notices.push(Notice::Error {
                path,
                error: format!("read failed: {e}"),
            });
        }
    }

    /// Drops drained files that have been quiet for the grace period, after
    /// one last read; delivers an unterminated last line as a line.
    fn expire(&mut self, now: Instant, sink: &mut dyn FnMut(Batch<'_>), out: &mut ReadOutcome) {
        let due: Vec<(u64, usize)> = self
            .paths
            .iter()
            .flat_map(|(id, p)| {
                p.draining
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.quiet_until.is_some_and(|t| t <= now))
                    .map(|(k, _)| (*id, k))
            })
            .collect();
        // from the last, so that removing one leaves the others' indices
        for &(id, k) in due.iter().rev() {
            let (read, max_line) = (self.options.read_size, self.options.max_line);
            match self.with_file(id, k, sink, |f, buf, d| f.read(buf, max_line, read, d)) {
                Some(Ok(r)) if r.bytes > 0 => {
                    out.bytes += r.bytes;
                    out.lines += r.lines;
                    self.after_read(id, k, &r);
                    continue;
                }
                Some(Err(e)) => self.read_failed(id, k, &e),
                _ => {}
            }
            let _ = self.with_file(id, k, sink, |f, buf, d| f.finish(buf, max_line, d));
            self.drop_draining(id, k);
        }
    }

    /// Position-only batches for paths whose files changed without lines,
    /// and forget batches for glob matches gone.
    fn flush_updates(&mut self, sink: &mut dyn FnMut(Batch<'_>)) {
        while let Some(id) = self.updates.pop_first() {
            let Some(st) = self.paths.get(&id) else {
                continue;
            };
            st.positions(&mut self.scratch);
            sink(Batch {
                spec: st.spec,
                path: &st.path,
                data: &[],
                lines: 0,
                position: None,
                files: &self.scratch,
                forget: false,
            });
        }
        for (spec, path) in std::mem::take(&mut self.forgotten) {
            sink(Batch {
                spec,
                path: &path,
                data: &[],
                lines: 0,
                position: None,
                files: &[],
                forget: true,
            });
        }
    }

    /// Takes pending inotify events and marks what they concern.
    fn take_events(&mut self) {
        let Some(inotify) = self.inotify.as_mut() else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if let Err(e) = inotify.drain(&mut events) {
            self.notices.push(Notice::Error {
                path: PathBuf::from("inotify"),
                error: e.to_string(),
            });
        }
        for ev in &events {
            self.handle_event(*ev);
        }
        self.events = events;
    }

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Overflow => {
                self.rescan.extend(0..self.specs.len());
                self.paths.values_mut().for_each(|p| p.dirty = true);
            }
            Event::Gone(wd) => {
                self.rescan.extend(self.specs_of_dir_wd(wd));
                self.dirs.retain(|_, w| *w != wd);
                for id in self.file_wds.remove(&wd).unwrap_or_default() {
                    if let Some(p) = self.paths.get_mut(&id) {
                        p.dirty = true;
                        self.rescan.insert(p.spec);
                        for f in p.draining.iter_mut().chain(p.current.as_mut()) {
                            f.wd = f.wd.filter(|w| *w != wd);
                        }
                    }
                }
            }
            Event::Changed { wd, names } => {
                for id in self.file_wds.get(&wd).into_iter().flatten() {
                    if let Some(p) = self.paths.get_mut(id) {
                        p.dirty = true;
                        if names {
                            self.rescan.insert(p.spec);
                        }
                    }
                }
                self.rescan.extend(self.specs_of_dir_wd(wd));
            }
        }
    }

    fn specs_of_dir_wd(&self, wd: i32) -> Vec<usize> {
        (0..self.specs.len())
            .filter(|i| {
                self.specs[*i]
                    .dirs
                    .iter()
                    .any(|d| self.dirs.get(d) == Some(&wd))
            })
            .collect()
    }

    /// Polled specs: expanded again and all their files looked at.
    fn run_timers(&mut self, now: Instant) {
        let Some(due) = self.next_poll else {
            return;
        };
        if now < due {
            return;
        }
        let polled: Vec<usize> = (0..self.specs.len())
            .filter(|i| self.specs[*i].polled)
            .collect();
        self.rescan.extend(polled.iter().copied());
        for p in self.paths.values_mut() {
            p.dirty |= polled.contains(&p.spec);
        }
        self.next_poll = Some(now + self.options.poll_interval);
    }
}
