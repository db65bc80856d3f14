//! The state directory (`/var/lib/rampart`), opened so that a local user
//! cannot turn root's writes against it.
//!
//! Root reads and writes this directory: the ban store, read positions,
//! the journal cursor, the control socket, the lock file. If a non-root
//! user could write into it, they could plant a symlink where root is
//! about to write (`offsets.json.tmp -> /etc/shadow`), swap in a database
//! with `allow 0.0.0.0/0`, or bind the control socket and answer for the
//! daemon. So [`StateDir::open`] refuses to work with a directory unless:
//!
//! - it, and every directory above it, is owned by root (or by the user
//!   running Rampart, so tests can run unprivileged) and not writable by
//!   group or others — an ancestor may be writable by others only with the
//!   sticky bit (`/tmp`), which stops others from renaming what they do
//!   not own;
//! - it is not a symlink (`O_NOFOLLOW`), and nothing in it (recursively)
//!   is a symlink, owned by someone else, writable by group or others, or
//!   a FIFO or device.
//!
//! Every refusal is a [`StateDirError`] that names the path, its owner and
//! mode, and the command that fixes it (`chown root:root …`,
//! `chmod go-w …`, `rm …`).
//!
//! After opening, files are reached relative to the directory descriptor
//! (`openat` with `O_NOFOLLOW`), temporary files are created with
//! `O_EXCL` under unpredictable names, and [`StateDir::replace_file`]
//! renames atomically, so a replaced path cannot redirect a write.
//! [`StateDir::lock_exclusive`] takes the daemon's `flock` on
//! `rampart.lock` (one daemon per state directory).
//!
//! SQLite and the control socket open by path: [`check_database`] (used by
//! [`crate::Store::open`]) checks the database and its `-wal`/`-shm`/
//! `-journal` companions first, and [`check_socket`] /
//! [`check_peer`] check the control socket before and after connecting.
//! What makes those path-based checks sufficient is the directory check:
//! once nobody else can write into the directory, nobody can swap a file
//! between the check and the use.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/rampart";
/// The lock file the daemon holds while it runs.
pub const LOCK_FILE: &str = "rampart.lock";

/// How deep [`StateDir::verify`] looks into subdirectories.
const MAX_DEPTH: usize = 4;

/// Why the state directory (or a file in it) is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateDirError {
    /// Owned by a user other than root (or the user running Rampart).
    #[error(
        "refusing {path}: it is owned by uid {uid}, not by root{also}; another user could replace what root reads and writes there. Fix: chown root:root {path}"
    )]
    Owner {
        /// The offending path.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// `" or uid N"` when the current user is not root.
        also: String,
    },
    /// Writable by group or others (and, for an ancestor, not sticky).
    #[error(
        "refusing {path}: mode {mode:04o} lets {who} write to it; another user could replace what root reads and writes there. Fix: chmod go-w {path}"
    )]
    Writable {
        /// The offending path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// "its group", "every user", or both.
        who: &'static str,
    },
    /// A symbolic link where a file or directory must be.
    #[error(
        "refusing {path}: it is a symbolic link (to {target}); Rampart never follows links in its state directory. Fix: rm {path}"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: String,
    },
    /// Something that is neither a regular file, a directory nor a socket.
    #[error(
        "refusing {path}: it is a {kind}, which has no place in the state directory. Fix: rm {path}"
    )]
    Type {
        /// The offending path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Another process holds the lock.
    #[error("{path} is locked: another rampart daemon is running on this state directory{holder}")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// `" (pid N)"` when known.
        holder: String,
    },
    /// The daemon's control socket is served by another user's process.
    #[error(
        "refusing the control socket {path}: the process answering it runs as uid {uid}, not root; a local user may be impersonating the daemon. Stop that process and remove the socket: rm {path}"
    )]
    Impostor {
        /// The socket.
        path: PathBuf,
        /// The peer's uid.
        uid: u32,
    },
    /// A system call failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl StateDirError {
    fn io(op: &'static str, path: &Path) -> impl FnOnce(Errno) -> StateDirError {
        let path = path.to_path_buf();
        move |e| StateDirError::Io {
            op,
            path,
            source: e.into(),
        }
    }
}

/// The result type of this module.
pub type Result<T, E = StateDirError> = std::result::Result<T, E>;

/// The uids trusted to own state: root, and the effective user (tests).
fn trusted(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

fn owner_error(path: &Path, uid: u32) -> StateDirError {
    let me = rustix::process::geteuid().as_raw();
    StateDirError::Owner {
        path: path.to_path_buf(),
        uid,
        also: if me == 0 {
            String::new()
        } else {
            format!(" or uid {me}")
        },
    }
}

fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::Fifo => "FIFO",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Socket => "socket",
        FileType::Symlink => "symbolic link",
        FileType::Directory => "directory",
        FileType::RegularFile => "regular file",
        _ => "file of unknown type",
    }
}

/// Checks owner and mode of an already-`lstat`ed path. `sticky_ok`: an
/// ancestor directory may be world-writable if it is sticky (`/tmp`).
fn check_stat(path: &Path, st: &Stat, sticky_ok: bool) -> Result<()> {
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft == FileType::Symlink {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(StateDirError::Symlink {
            path: path.to_path_buf(),
            target,
        });
    }
    if !matches!(
        ft,
        FileType::RegularFile | FileType::Directory | FileType::Socket
    ) {
        return Err(StateDirError::Type {
            path: path.to_path_buf(),
            kind: kind_name(ft),
        });
    }
    if !trusted(st.st_uid) {
        return Err(owner_error(path, st.st_uid));
    }
    let mode = st.st_mode & 0o7777;
    let sticky = mode & 0o1000 != 0 && ft == FileType::Directory;
    if mode & 0o022 != 0 && !(sticky_ok && sticky) {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and every user",
            (true, false) => "its group",
            _ => "every user",
        };
        return Err(StateDirError::Writable {
            path: path.to_path_buf(),
            mode,
            who,
        });
    }
    Ok(())
}

fn lstat(path: &Path) -> std::result::Result<Stat, Errno> {
    rustix::fs::lstat(path)
}

/// Checks every existing ancestor of `path` (owner, mode; sticky allowed).
fn check_ancestors(path: &Path) -> Result<()> {
    let Ok(abs) = std::path::absolute(path) else {
        return Ok(());
    };
    for dir in abs.ancestors().skip(1) {
        // Ancestors may be symlinks set up by root (/var -> /srv/var):
        // what matters is who can write to the directory they lead to.
        let st = rustix::fs::stat(dir).map_err(StateDirError::io("inspect", dir))?;
        check_stat(dir, &st, true)?;
    }
    Ok(())
}

/// An opened, verified state directory.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    fd: OwnedFd,
}

/// The daemon's exclusive lock; released when dropped (or when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateDir {
    /// Opens the state directory, creating it (mode 0700) if it is
    /// missing, and verifies it, its ancestors and everything in it (see
    /// the module documentation).
    ///
    /// # Errors
    /// A [`StateDirError`] naming the path and the fix.
    pub fn open(path: impl AsRef<Path>) -> Result<StateDir> {
        let path = path.as_ref().to_path_buf();
        check_ancestors(&path)?;
        match lstat(&path) {
            Err(Errno::NOENT) => create_private_dir(&path)?,
            Err(e) => return Err(StateDirError::io("inspect", &path)(e)),
            Ok(st) => check_stat(&path, &st, false)?,
        }
        let fd = rustix::fs::open(
            &path,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(StateDirError::io("open", &path))?;
        let st = rustix::fs::fstat(&fd).map_err(StateDirError::io("inspect", &path))?;
        check_stat(&path, &st, false)?;
        let dir = StateDir { path, fd };
        dir.verify()?;
        Ok(dir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside the directory (for messages, and for the
    /// few users that must open by path: SQLite, the socket).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Re-checks the directory and everything in it: call before every
    /// privileged use that follows a long pause (a daemon's reload).
    ///
    /// # Errors
    /// The first problem found.
    pub fn verify(&self) -> Result<()> {
        let st = rustix::fs::fstat(&self.fd).map_err(StateDirError::io("inspect", &self.path))?;
        check_stat(&self.path, &st, false)?;
        verify_entries(&self.fd, &self.path, 0)
    }

    /// Opens `name` for reading; `None` when it does not exist. Refuses a
    /// symlink, a non-regular file (a FIFO would block), or a file owned
    /// by another user or writable by others.
    ///
    /// # Errors
    /// A [`StateDirError`].
    pub fn open_file(&self, name: &str) -> Result<Option<File>> {
        let path = self.join(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => {
                let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(StateDirError::io("inspect", &path))?;
                return check_stat(&path, &st, false).map(|()| None);
            }
            Err(e) => return Err(StateDirError::io("open", &path)(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(StateDirError::io("inspect", &path))?;
        check_stat(&path, &st, false)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(StateDirError::Type {
                path,
                kind: kind_name(FileType::from_raw_mode(st.st_mode)),
            });
        }
        // Reads from a regular file never block; clear O_NONBLOCK anyway.
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(StateDirError::io("open", &path))?;
        Ok(Some(File::from(fd)))
    }

    /// Creates a new, empty temporary file (mode 0600) for `name` with
    /// `O_EXCL` under a name nobody can predict; returns it and its name.
    /// Something planted at any name is never opened.
    ///
    /// # Errors
    /// A [`StateDirError`].
    pub fn create_exclusive_tmp(&self, name: &str) -> Result<(File, String)> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut last = Errno::EXIST;
        for attempt in 0..16u32 {
            let tmp = format!(".{name}.{}.{:016x}.tmp", std::process::id(), nonce(attempt));
            match rustix::fs::openat(&self.fd, tmp.as_str(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((File::from(fd), tmp)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => return Err(StateDirError::io("create", &self.join(&tmp))(e)),
            }
        }
        Err(StateDirError::io(
            "create a temporary file for",
            &self.join(name),
        )(last))
    }

    /// Replaces `name` with `bytes` atomically: an exclusive temporary
    /// file, written and synced, renamed over `name` (a rename replaces a
    /// planted link itself, it never writes through it), and the directory
    /// synced. Readers see the old or the new content, never a mix.
    ///
    /// # Errors
    /// A [`StateDirError`]; the temporary file is removed on failure.
    pub fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let (mut f, tmp) = self.create_exclusive_tmp(name)?;
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        let renamed = written
            .map_err(|source| StateDirError::Io {
                op: "write",
                path: self.join(&tmp),
                source,
            })
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)
                    .map_err(StateDirError::io("rename into place", &self.join(name)))
            });
        if renamed.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        renamed?;
        rustix::fs::fsync(&self.fd).map_err(StateDirError::io("sync", &self.path))
    }

    /// Takes the exclusive lock on `rampart.lock` without waiting: one
    /// daemon per state directory. Take it before anything else.
    ///
    /// # Errors
    /// [`StateDirError::Locked`] (with the holder's pid when it can be
    /// found) when another process holds it.
    pub fn lock_exclusive(&self) -> Result<StateLock> {
        let path = self.join(LOCK_FILE);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, LOCK_FILE, flags, Mode::from_raw_mode(0o600))
            .map_err(StateDirError::io("open", &path))?;
        let st = rustix::fs::fstat(&fd).map_err(StateDirError::io("inspect", &path))?;
        check_stat(&path, &st, false)?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                let holder = lock_holder(&st, &fd)
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                return Err(StateDirError::Locked { path, holder });
            }
            Err(e) => return Err(StateDirError::io("lock", &path)(e)),
        }
        let mut file = File::from(fd);
        // The pid is informational (the lock is the flock, not the text).
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(StateLock { _file: file })
    }
}

/// A per-attempt value nobody can guess in advance (randomly seeded hash
/// of the time, pid and attempt).
fn nonce(attempt: u32) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StateDirError::Io {
            op: "create",
            path: path.to_path_buf(),
            source,
        })
}

/// Checks every entry of an open directory, recursing into subdirectories.
fn verify_entries(dir: &OwnedFd, path: &Path, depth: usize) -> Result<()> {
    let entries = rustix::fs::Dir::read_from(dir).map_err(StateDirError::io("list", path))?;
    for entry in entries {
        let entry = entry.map_err(StateDirError::io("list", path))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let child = path.join(OsStr::from_bytes(name));
        let st = rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(StateDirError::io("inspect", &child))?;
        check_stat(&child, &st, false)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory && depth < MAX_DEPTH {
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
            let sub = rustix::fs::openat(dir, entry.file_name(), flags, Mode::empty())
                .map_err(StateDirError::io("open", &child))?;
            verify_entries(&sub, &child, depth + 1)?;
        }
    }
    Ok(())
}

/// The pid holding the flock on the file `st` describes: from
/// `/proc/locks`, else the pid the holder wrote into the file.
fn lock_holder(st: &Stat, fd: &OwnedFd) -> Option<u32> {
    let dev = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(st.st_dev),
        rustix::fs::minor(st.st_dev),
        st.st_ino
    );
    if let Ok(locks) = std::fs::read_to_string("/proc/locks") {
        for l in locks.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
            if f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&dev.as_str()) {
                return f.get(4).and_then(|p| p.parse().ok());
            }
        }
    }
    let mut text = String::new();
    let mut f = File::from(fd.try_clone().ok()?);
    std::io::Read::read_to_string(&mut f, &mut text).ok()?;
    text.trim().parse().ok()
}

/// Checks an SQLite database path before SQLite opens it: the database
/// and its `-wal`, `-shm` and `-journal` companions, where they exist,
/// must be regular files (not symlinks) owned by root (or the current
/// user) and not writable by group or others. A missing file is fine (it
/// will be created 0600). [`crate::Store::open`] calls this.
///
/// # Errors
/// A [`StateDirError`] naming the file and the fix.
pub fn check_database(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match lstat(&p) {
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(StateDirError::io("inspect", &p)(e)),
            Ok(st) => {
                check_stat(&p, &st, false)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(StateDirError::Type {
                        path: p,
                        kind: kind_name(FileType::from_raw_mode(st.st_mode)),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Checks the control socket before connecting: it must be a socket (not
/// a symlink) owned by root (or the current user) and not writable by
/// others, in a directory that passes the same check. `Ok(false)` when
/// there is no socket (no daemon).
///
/// # Errors
/// A [`StateDirError`] naming the socket and the fix.
pub fn check_socket(path: &Path) -> Result<bool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        match lstat(dir) {
            Ok(st) => check_stat(dir, &st, false)?,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(StateDirError::io("inspect", dir)(e)),
        }
    }
    let st = match lstat(path) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(StateDirError::io("inspect", path)(e)),
    };
    check_stat(path, &st, false)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::Socket {
        return Err(StateDirError::Type {
            path: path.to_path_buf(),
            kind: kind_name(ft),
        });
    }
    Ok(true)
}

/// Checks, after connecting, that the process serving the control socket
/// runs as root (or as the current user): the kernel's own answer
/// (`SO_PEERCRED`), which no file trick can fake.
///
/// # Errors
/// [`StateDirError::Impostor`] for another user's process.
pub fn check_peer(sock: impl AsFd, path: &Path) -> Result<()> {
    let cred = rustix::net::sockopt::socket_peercred(sock)
        .map_err(StateDirError::io("ask the peer of", path))?;
    let uid = cred.uid.as_raw();
    if trusted(uid) {
        Ok(())
    } else {
        Err(StateDirError::Impostor {
            path: path.to_path_buf(),
            uid,
        })
    }
}
