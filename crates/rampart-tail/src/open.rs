//! Opening a watched path so that only a regular file is ever read.
//!
//! Logs are symlinks on some systems (container runtimes, control panels'
//! `domlogs`), so symlinks are followed; but what they lead to must be a
//! regular file. Opening a device can have effects by itself (a tape
//! rewinds, a watchdog arms, a terminal becomes the controlling one) and
//! opening a FIFO for reading blocks until a writer comes, so the type is
//! checked *before* anything is opened for reading: the path is first
//! opened with `O_PATH` (which opens nothing, blocks on nothing, and
//! follows the symlink), its type read with `fstat`, and only a regular
//! file is then reopened for reading through `/proc/self/fd/N` — the very
//! inode that was checked, with no window for a swap in between. The
//! reopen uses `O_NONBLOCK | O_NOCTTY` all the same, and the type and
//! identity are checked once more with `fstat` on the descriptor that will
//! be read. Without `/proc` the path is opened again by name and the
//! identity compared, which leaves only that narrow window.

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// What a watched path holds, when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl FileKind {
    fn of(t: FileType) -> FileKind {
        match t {
            FileType::Directory => FileKind::Directory,
            FileType::Fifo => FileKind::Fifo,
            FileType::CharacterDevice => FileKind::CharDevice,
            FileType::BlockDevice => FileKind::BlockDevice,
            FileType::Socket => FileKind::Socket,
            _ => FileKind::Other,
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        })
    }
}

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// What was found at a path.
#[derive(Debug)]
pub(crate) enum Found {
    /// Nothing (or a dangling symlink, or a missing directory on the way).
    Missing,
    /// A regular file, open for reading, with its identity and size.
    Regular(File, FileId, u64),
    /// Something that must not be read.
    NotRegular(FileKind, FileId),
    /// The path could not be examined.
    Error(std::io::Error),
}

/// Examines `path` and opens it for reading if it is a regular file.
pub(crate) fn open_regular(path: &Path) -> Found {
    let opath = match rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) => return Found::Missing,
        Err(e) => return Found::Error(e.into()),
    };
    let (kind, id, _) = match describe(&opath) {
        Ok(d) => d,
        Err(e) => return Found::Error(e),
    };
    if kind != FileType::RegularFile {
        return Found::NotRegular(FileKind::of(kind), id);
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let proc_path = format!("/proc/self/fd/{}", opath.as_raw_fd());
    let fd = match rustix::fs::open(proc_path.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) => match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Found::Missing,
            Err(e) => return Found::Error(e.into()),
        },
        Err(e) => return Found::Error(e.into()),
    };
    match describe(&fd) {
        // by name (no /proc) the file may have been swapped: what counts is
        // what the descriptor to be read is
        Ok((FileType::RegularFile, got, size)) => Found::Regular(File::from(fd), got, size),
        Ok((other, got, _)) => Found::NotRegular(FileKind::of(other), got),
        Err(e) => Found::Error(e),
    }
}

/// The type, identity and size of an open descriptor.
fn describe(fd: &OwnedFd) -> std::io::Result<(FileType, FileId, u64)> {
    let st = rustix::fs::fstat(fd.as_fd())?;
    let id = FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    Ok((FileType::from_raw_mode(st.st_mode), id, size))
}

/// The identity and size of an open file (`fstat`).
pub(crate) fn identity(file: &File) -> std::io::Result<(FileId, u64)> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata()?;
    Ok((
        FileId {
            dev: md.dev(),
            ino: md.ino(),
        },
        md.len(),
    ))
}

/// The identity of whatever `path` leads to, without opening it.
pub(crate) fn stat_id(path: &Path) -> Option<(FileId, bool)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    Some((
        FileId {
            dev: md.dev(),
            ino: md.ino(),
        },
        md.is_file(),
    ))
}

/// Reads up to `buf.len()` bytes at `offset`, retrying on `EINTR`; returns
/// fewer only at the end of the file.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
