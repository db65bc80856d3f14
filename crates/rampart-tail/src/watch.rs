//! The inotify side: one instance, watches on directories (names appearing,
//! disappearing, moving) and on open files (data written, renamed,
//! unlinked), and a wait that sleeps in the kernel until one of them fires.
//!
//! Directories are watched for name events only, never `IN_MODIFY`: a
//! directory watch would otherwise report writes to *every* file in it
//! (all of `/var/log`), waking the follower for logs nobody follows. Each
//! followed file gets its own `IN_MODIFY` watch, added through
//! `/proc/self/fd/N` so it lands on the inode that was opened, and it
//! stays on that inode after a rename: a rotated file still being drained
//! keeps waking the follower.
//!
//! `rustix` is used rather than the `inotify` or `notify` crates: it is
//! already in the workspace (the netlink code uses it), it gives a safe
//! `poll(2)` with a timeout that `inotify` lacks (this workspace forbids
//! `unsafe`), and `notify` runs its own thread and channel, which adds a
//! wake-up per event and a copy, for portability this Linux-only daemon
//! does not need.

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// What an event means to the follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Something happened on watch `wd` (data, or a name, or the watched
    /// object itself moved or went away).
    Changed { wd: i32, names: bool },
    /// The kernel dropped the watch (its object is gone, or unwatched).
    Gone(i32),
    /// The event queue overflowed: anything may have happened.
    Overflow,
}

pub(crate) struct Inotify {
    fd: OwnedFd,
    buf: Vec<MaybeUninit<u8>>,
}

const DIR_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

const FILE_EVENTS: WatchFlags = WatchFlags::MODIFY
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DELETE_SELF);

impl Inotify {
    pub(crate) fn new() -> std::io::Result<Inotify> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        Ok(Inotify {
            fd,
            buf: vec![MaybeUninit::uninit(); 16 << 10],
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Watches a directory's names.
    pub(crate) fn watch_dir(&self, dir: &Path) -> std::io::Result<i32> {
        Ok(inotify::add_watch(&self.fd, dir, DIR_EVENTS)?)
    }

    /// Watches an open file's inode (by its descriptor when `/proc` is
    /// there, else by `path`).
    pub(crate) fn watch_file(&self, file: &File, path: &Path) -> std::io::Result<i32> {
        let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        match inotify::add_watch(&self.fd, by_fd.as_str(), FILE_EVENTS) {
            Ok(wd) => Ok(wd),
            Err(Errno::NOENT) => Ok(inotify::add_watch(&self.fd, path, FILE_EVENTS)?),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn unwatch(&self, wd: i32) {
        // EINVAL: the kernel already dropped it (the object is gone)
        let _ = inotify::remove_watch(&self.fd, wd);
    }

    /// Takes every pending event without blocking.
    pub(crate) fn drain(&mut self, out: &mut Vec<Event>) -> std::io::Result<()> {
        let mut reader = inotify::Reader::new(&self.fd, &mut self.buf);
        loop {
            let ev = match reader.next() {
                Ok(ev) => ev,
                Err(Errno::AGAIN) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let flags = ev.events();
            if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                out.push(Event::Overflow);
            } else if flags.contains(ReadFlags::IGNORED) {
                out.push(Event::Gone(ev.wd()));
            } else {
                let names = ev.file_name().is_some()
                    || flags.intersects(ReadFlags::MOVE_SELF | ReadFlags::DELETE_SELF)
                    || flags.contains(ReadFlags::ATTRIB);
                out.push(Event::Changed { wd: ev.wd(), names });
            }
        }
    }
}

/// Sleeps until `fd` (if any) is readable or `timeout` passes (`None`:
/// forever). Returns whether the descriptor became readable.
pub(crate) fn wait_readable(
    fd: Option<BorrowedFd<'_>>,
    timeout: Option<Duration>,
) -> std::io::Result<bool> {
    let ts = timeout.map(|d| {
        Timespec::try_from(d).unwrap_or(Timespec {
            tv_sec: i64::from(i32::MAX),
            tv_nsec: 0,
        })
    });
    let mut fds: Vec<PollFd<'_>> = fd
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    match poll(&mut fds, ts.as_ref()) {
        Ok(n) => Ok(n > 0),
        Err(Errno::INTR) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// File systems where inotify sees only local changes (the writer may be
/// another machine), so their logs are polled: NFS, SMB/CIFS, FUSE (sshfs),
/// Ceph, 9P (virtio shares), AFS.
pub(crate) fn is_remote_fs(dir: &Path) -> bool {
    const REMOTE: [u64; 8] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x6573_5546, // FUSE
        0x00c3_6400, // Ceph
        0x0102_1997, // 9P
        0x5346_414f, // AFS
    ];
    match rustix::fs::statfs(dir) {
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => REMOTE.contains(&((st.f_type as i64 as u64) & 0xffff_ffff)),
        Err(_) => false,
    }
}
