//! The journald source: follows `journalctl -o json -f` and turns each
//! entry into a synthetic syslog line for `Detector::process`, with a
//! cursor persisted across restarts.
//!
//! # The line
//!
//! Each entry becomes
//!
//! ```text
//! 2026-11-27T08:15:00.123456+00:00 HOST PROGRAM[PID]: MESSAGE
//! ```
//!
//! The time is the entry's `__REALTIME_TIMESTAMP` (set by journald when it
//! received the entry, so a backlog replayed after a restart keeps its real
//! times; the current time if the field is missing), the host is
//! `_HOSTNAME`, the pid `_PID` (set by journald from the socket
//! credentials) and only when it is absent `SYSLOG_PID`. `MESSAGE` may be a
//! JSON string or an array of bytes (non-UTF-8 text), or several values (a
//! field repeated in one entry: joined with spaces). Line breaks inside the
//! message become spaces, so a multi-line message cannot forge a second
//! line. Host and program are reduced to the bytes the envelope parser
//! accepts in those positions, so every line parses as the syslog line it
//! was built as (a line that did not would be read by `line = true` rules).
//!
//! # Which program a line is attributed to (the trust rule)
//!
//! Rules read a syslog line only when its program tag is one they list, so
//! the tag is what has to be trustworthy. `SYSLOG_IDENTIFIER` is chosen by
//! the sender: any local user can run `logger -t sshd 'Failed password for
//! root from 192.0.2.1 ...'`. `_UID`, `_PID`, `_COMM`, `_SYSTEMD_UNIT` and
//! `_TRANSPORT` are added by journald from the kernel (socket credentials,
//! `/proc`, the cgroup) and cannot be set by the sender. `_COMM` is weaker
//! than the others: it is the executable's file name (at most 15 bytes),
//! and a user can copy `logger` to `~/sshd` or call `prctl(PR_SET_NAME)`.
//! `_UID` cannot be forged. Hence, in order ([`Trust::program`]):
//!
//! 1. `_TRANSPORT=kernel` → `kernel` (only the kernel and root write there).
//! 2. `_UID` 0 → `SYSLOG_IDENTIFIER` (else `_COMM`): root needs no forgery
//!    to ban or unban anything, and many root daemons log under a name
//!    other than their executable's (`sm-mta` from `sendmail`).
//! 3. Otherwise `SYSLOG_IDENTIFIER` is believed only when it is consistent
//!    with the kernel's view of the sender: equal to `_COMM`; or its last
//!    `/` component equals `_COMM` (postfix: `postfix/smtpd` from `smtpd`);
//!    or equal to `_COMM` as truncated to 15 bytes; or both in one group of
//!    [`Trust::aliases`] (`sshd`, `sshd-session`, `sshd-auth`; `exim`,
//!    `exim4`; ...); or the sender runs in the system service named like it
//!    (`_SYSTEMD_UNIT=myapp.service` or `myapp@x.service` for `myapp` or
//!    `myapp/...`: only root puts processes into a system service). If it is
//!    not consistent, the program is `_COMM` (`logger -t sshd` becomes
//!    `logger`, which no sshd rule reads); without `_COMM` (a short-lived
//!    process journald could not look up) it is `unknown`.
//! 4. A sender whose `_UID` is in [`Trust::user_uids`] (default
//!    1000..=60000, the login users of `login.defs`) is never a system
//!    service: its program from 3 gets the prefix `uidUID.` (`uid1000.sshd`
//!    for a copy of `logger` renamed `sshd`), which no rule lists.
//!
//! What remains possible: a compromised service account (a web shell as
//! `www-data`) can pose as a service by running a binary named like it, as
//! it could by writing that service's log file if it may. Such a process
//! is, to the kernel, indistinguishable from the service.
//!
//! # Process handling
//!
//! `journalctl -o json -f --no-pager --all` is started with
//! `--after-cursor=C` when a cursor was saved, else `--lines=0` (a first
//! start begins at the end, like the file tailer). Its standard output is
//! read on a background thread into a bounded channel: when the daemon is
//! slow, the thread blocks, the pipe fills and journalctl waits
//! (backpressure, bounded memory). Its standard error is the daemon's. When
//! it exits it is restarted after a delay (doubling while runs fail without
//! delivering an entry, up to a maximum) from the last delivered entry's
//! cursor, or, if none was ever delivered, from the time of the first start
//! (`--since=@SECS`), so nothing logged in between is skipped. A saved
//! cursor that journalctl keeps refusing (5 failed runs in a row without an
//! entry) is given up on, and the cursor file removed.
//!
//! A filter (`sshd`, `postfix/smtpd`, `ssh.service`) becomes journal
//! matches joined by `+` (OR): `_SYSTEMD_UNIT=` for unit names, else both
//! `SYSLOG_IDENTIFIER=` and `_COMM=` (every entry the trust rule could
//! attribute to that name). It only narrows what journalctl sends; the
//! trust rule still decides the program.

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Fields requested from journalctl (`__CURSOR` and `__REALTIME_TIMESTAMP`
/// are always printed).
const OUTPUT_FIELDS: &str = "--output-fields=MESSAGE,SYSLOG_IDENTIFIER,SYSLOG_PID,_PID,_UID,_COMM,_HOSTNAME,_TRANSPORT,_SYSTEMD_UNIT";

/// Unit name suffixes: a filter item ending in one is a unit, not an identifier.
const UNIT_SUFFIXES: &[&str] = &[
    ".service", ".socket", ".scope", ".slice", ".target", ".timer", ".mount", ".path", ".swap",
];

/// The longest program tag the envelope parser accepts is 64 bytes; stay below.
const MAX_PROGRAM: usize = 63;
/// `_COMM` is truncated by the kernel to 15 bytes (`TASK_COMM_LEN` - 1).
const COMM_LEN: usize = 15;
/// Consecutive failed runs started from a cursor after which the cursor is
/// considered unusable and dropped.
const CURSOR_FAILURES: u32 = 5;

/// Errors of the journal source.
#[derive(Debug)]
pub enum JournalError {
    /// journalctl could not be started.
    Spawn {
        /// The journalctl path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// journalctl ended (or its output could not be read); it is restarted
    /// by a later [`JournalSource::poll`] after `restart_in`.
    Exited {
        /// How it ended: `exit status: 1`, `signal: 9`, a read error.
        how: String,
        /// When the next start is due.
        restart_in: Duration,
        /// Whether the saved cursor was given up on (journalctl kept failing
        /// when started from it); the next start is `--since` the first
        /// start (or the last entry delivered).
        cursor_dropped: bool,
    },
    /// The cursor file exists but could not be read.
    CursorRead {
        /// The cursor file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The cursor could not be saved.
    CursorWrite {
        /// The cursor file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A filter item is empty or contains control characters.
    Filter(String),
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Spawn { path, source } => {
                write!(f, "cannot start {}: {source}", path.display())
            }
            JournalError::Exited {
                how,
                restart_in,
                cursor_dropped,
            } => {
                write!(
                    f,
                    "journalctl ended ({how}); restarting in {:.1}s",
                    restart_in.as_secs_f64()
                )?;
                if *cursor_dropped {
                    write!(
                        f,
                        " without the saved cursor (it kept failing when started from it)"
                    )?;
                }
                Ok(())
            }
            JournalError::CursorRead { path, source } => {
                write!(
                    f,
                    "cannot read the journal cursor {}: {source}",
                    path.display()
                )
            }
            JournalError::CursorWrite { path, source } => {
                write!(
                    f,
                    "cannot save the journal cursor {}: {source}",
                    path.display()
                )
            }
            JournalError::Filter(item) => write!(
                f,
                "bad journal filter item {item:?}: empty or with control characters"
            ),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Spawn { source, .. }
            | JournalError::CursorRead { source, .. }
            | JournalError::CursorWrite { source, .. } => Some(source),
            JournalError::Exited { .. } | JournalError::Filter(_) => None,
        }
    }
}

/// Which program an entry is attributed to (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// Senders with these uids are users, never system services: their
    /// program gets the prefix `uidUID.`.
    pub user_uids: RangeInclusive<u32>,
    /// Groups of names that stand for one program: a `SYSLOG_IDENTIFIER`
    /// and a `_COMM` in the same group are consistent.
    pub aliases: Vec<Vec<String>>,
}

/// The default alias groups: programs whose syslog identifier differs from
/// their executable's name when they run as a non-root user.
pub const DEFAULT_ALIASES: &[&[&str]] = &[
    &["sshd", "sshd-session", "sshd-auth"],
    &["exim", "exim4"],
    &["sendmail", "sm-mta", "sm-msp-queue"],
    &["apache2", "httpd"],
];

impl Default for Trust {
    fn default() -> Trust {
        Trust {
            user_uids: 1000..=60000,
            aliases: DEFAULT_ALIASES
                .iter()
                .map(|g| g.iter().map(|s| (*s).to_string()).collect())
                .collect(),
        }
    }
}

/// The fields of an entry that decide its program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sender<'a> {
    /// `SYSLOG_IDENTIFIER` (chosen by the sender).
    pub identifier: Option<&'a [u8]>,
    /// `_COMM` (from `/proc`).
    pub comm: Option<&'a [u8]>,
    /// `_UID` (from the socket credentials).
    pub uid: Option<u32>,
    /// `_TRANSPORT`.
    pub transport: Option<&'a [u8]>,
    /// `_SYSTEMD_UNIT` (from the cgroup).
    pub unit: Option<&'a [u8]>,
}

impl Trust {
    /// The program tag of an entry, already reduced to tag bytes.
    pub fn program(&self, s: &Sender<'_>) -> Vec<u8> {
        if s.transport == Some(b"kernel") {
            return b"kernel".to_vec();
        }
        let base: &[u8] = if s.uid == Some(0) {
            s.identifier.or(s.comm).unwrap_or(b"unknown")
        } else {
            match (s.identifier, s.comm) {
                (Some(id), Some(comm)) if self.consistent(id, comm, s.unit) => id,
                (_, Some(comm)) => comm,
                (Some(id), None) if unit_names(s.unit, id) => id,
                _ => b"unknown",
            }
        };
        let base = sanitize_program(base);
        match s.uid {
            Some(uid) if self.user_uids.contains(&uid) => {
                let mut p = format!("uid{uid}.").into_bytes();
                p.extend_from_slice(&base);
                p.truncate(MAX_PROGRAM);
                p
            }
            _ => base,
        }
    }

    /// Whether a `SYSLOG_IDENTIFIER` agrees with the sender's `_COMM` (or
    /// its system unit).
    fn consistent(&self, id: &[u8], comm: &[u8], unit: Option<&[u8]>) -> bool {
        let last = id.rsplit(|&b| b == b'/').next().unwrap_or(id);
        let same = |name: &[u8]| name == comm || (comm.len() == COMM_LEN && name.starts_with(comm));
        same(id)
            || same(last)
            || self.aliases.iter().any(|g| {
                g.iter().any(|a| a.as_bytes() == id || a.as_bytes() == last)
                    && g.iter().any(|a| same(a.as_bytes()))
            })
            || unit_names(unit, id)
    }
}

/// Whether the system unit `unit` is named after `id`: `id.service` or
/// `id@INSTANCE.service`, where `id` may be followed by `/...` (postfix).
fn unit_names(unit: Option<&[u8]>, id: &[u8]) -> bool {
    let Some(stem) = unit.and_then(|u| u.strip_suffix(b".service")) else {
        return false;
    };
    let stem = stem.split(|&b| b == b'@').next().unwrap_or(stem);
    let first = id.split(|&b| b == b'/').next().unwrap_or(id);
    !stem.is_empty() && (stem == id || stem == first)
}

/// Reduces a name to what the envelope parser reads as a program tag:
/// `[A-Za-z0-9._/@-]`, starting with a letter, at most 63 bytes.
fn sanitize_program(name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(name.len() + 1);
    if !name.first().is_some_and(u8::is_ascii_alphabetic) {
        p.push(b'x');
    }
    p.extend(name.iter().map(|&b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'@') {
            b
        } else {
            b'_'
        }
    }));
    p.truncate(MAX_PROGRAM);
    p
}

/// Reduces a host name to `[A-Za-z0-9._-]` (never ending like a tag),
/// `localhost` when empty.
fn sanitize_host(name: Option<&[u8]>) -> Vec<u8> {
    let name = name.unwrap_or_default();
    if name.is_empty() {
        return b"localhost".to_vec();
    }
    name.iter()
        .take(255)
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                b
            } else {
                b'_'
            }
        })
        .collect()
}

/// The values of a journal JSON field: a string, an array of bytes, or an
/// array of those (a field that occurs several times); `null` (a field
/// journalctl left out) has none.
fn values(v: Option<&Value>) -> Vec<Cow<'_, [u8]>> {
    fn bytes(a: &[Value]) -> Option<Vec<u8>> {
        a.iter()
            .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect()
    }
    match v {
        Some(Value::String(s)) => vec![Cow::Borrowed(s.as_bytes())],
        Some(Value::Array(a)) => match bytes(a) {
            Some(b) => vec![Cow::Owned(b)],
            None => a
                .iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(Cow::Borrowed(s.as_bytes())),
                    Value::Array(inner) => bytes(inner).map(Cow::Owned),
                    _ => None,
                })
                .collect(),
        },
        _ => Vec::new(),
    }
}

/// The value of a field that must occur once (a repeated one is ignored).
fn single(v: Option<&Value>) -> Option<Cow<'_, [u8]>> {
    let mut vs = values(v);
    if vs.len() == 1 { vs.pop() } else { None }
}

fn number<T: std::str::FromStr>(v: Option<&Value>) -> Option<T> {
    single(v).and_then(|b| std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()))
}

/// The fields of a `journalctl -o json` line that the source reads.
#[derive(Debug, Deserialize)]
struct RawEntry {
    #[serde(rename = "__CURSOR")]
    cursor: Option<Value>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Value>,
    #[serde(rename = "MESSAGE")]
    message: Option<Value>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<Value>,
    #[serde(rename = "SYSLOG_PID")]
    syslog_pid: Option<Value>,
    #[serde(rename = "_PID")]
    pid: Option<Value>,
    #[serde(rename = "_UID")]
    uid: Option<Value>,
    #[serde(rename = "_COMM")]
    comm: Option<Value>,
    #[serde(rename = "_HOSTNAME")]
    hostname: Option<Value>,
    #[serde(rename = "_TRANSPORT")]
    transport: Option<Value>,
    #[serde(rename = "_SYSTEMD_UNIT")]
    unit: Option<Value>,
}

/// One entry, converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The synthetic syslog line, or `None` for an entry without a message.
    pub line: Option<Vec<u8>>,
    /// The entry's `__CURSOR`.
    pub cursor: Option<String>,
}

/// Converts one `journalctl -o json` line into a syslog line (see the
/// module documentation).
pub fn convert(json: &[u8], trust: &Trust) -> Result<Converted, serde_json::Error> {
    let e: RawEntry = serde_json::from_slice(json)?;
    let cursor = single(e.cursor.as_ref())
        .and_then(|c| String::from_utf8(c.into_owned()).ok())
        .filter(|c| plausible_cursor(c));
    let message = values(e.message.as_ref());
    if message.is_empty() {
        return Ok(Converted { line: None, cursor });
    }
    let identifier = single(e.identifier.as_ref()).filter(|i| !i.is_empty());
    let comm = single(e.comm.as_ref()).filter(|c| !c.is_empty());
    let transport = single(e.transport.as_ref());
    let unit = single(e.unit.as_ref());
    let sender = Sender {
        identifier: identifier.as_deref(),
        comm: comm.as_deref(),
        uid: number(e.uid.as_ref()),
        transport: transport.as_deref(),
        unit: unit.as_deref(),
    };
    let program = trust.program(&sender);
    let pid: Option<u64> = number(e.pid.as_ref()).or_else(|| number(e.syslog_pid.as_ref()));
    let realtime = number::<i64>(e.realtime.as_ref())
        .filter(|t| (0..253_402_300_800_000_000).contains(t))
        .unwrap_or_else(now_micros);
    let host = single(e.hostname.as_ref());
    let mut line = Vec::with_capacity(96 + message.iter().map(|m| m.len() + 1).sum::<usize>());
    line.extend_from_slice(iso_micros(realtime).as_bytes());
    line.push(b' ');
    line.extend_from_slice(&sanitize_host(host.as_deref()));
    line.push(b' ');
    line.extend_from_slice(&program);
    if let Some(pid) = pid {
        line.extend_from_slice(format!("[{pid}]").as_bytes());
    }
    line.extend_from_slice(b": ");
    for (i, m) in message.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        line.extend(
            m.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    }
    Ok(Converted {
        line: Some(line),
        cursor,
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(0))
}

/// `2026-11-27T08:15:00.123456+00:00` for microseconds since the epoch.
fn iso_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, m, d) = rampart_core::time::civil_from_days(secs.div_euclid(86400));
    let s = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}+00:00",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// A cursor is opaque; it is accepted when it is printable ASCII without
/// spaces (it becomes one argument of journalctl).
fn plausible_cursor(c: &str) -> bool {
    !c.is_empty() && c.len() <= 4096 && c.bytes().all(|b| b.is_ascii_graphic())
}

/// The journalctl match arguments for a filter: each item is an OR term,
/// `_SYSTEMD_UNIT=ITEM` for a unit name, else `SYSLOG_IDENTIFIER=ITEM` and
/// `_COMM=ITEM` (truncated as the kernel does), so entries that the trust
/// rule may attribute to ITEM either way are selected.
fn match_args(filter: Option<&[String]>) -> Result<Vec<String>, JournalError> {
    let mut args = Vec::new();
    for item in filter.unwrap_or_default() {
        if item.is_empty() || item.chars().any(char::is_control) {
            return Err(JournalError::Filter(item.clone()));
        }
        let terms = if UNIT_SUFFIXES.iter().any(|s| item.ends_with(s)) {
            vec![format!("_SYSTEMD_UNIT={item}")]
        } else {
            let mut end = item.len().min(COMM_LEN);
            while !item.is_char_boundary(end) {
                end -= 1;
            }
            vec![
                format!("SYSLOG_IDENTIFIER={item}"),
                format!("_COMM={}", &item[..end]),
            ]
        };
        for t in terms {
            if !args.is_empty() {
                args.push("+".to_string());
            }
            args.push(t);
        }
    }
    Ok(args)
}

/// Tuning of a [`JournalSource`].
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// The trust rule.
    pub trust: Trust,
    /// Delay before the first restart of an ended journalctl.
    pub restart_delay: Duration,
    /// The longest delay between restarts (the delay doubles while runs
    /// end without delivering an entry).
    pub max_restart_delay: Duration,
    /// Entries buffered between the reader thread and the daemon.
    pub capacity: usize,
    /// Longer JSON lines are skipped (counted in [`JournalStats::oversized`]).
    pub max_entry_bytes: usize,
    /// A cursor to start after, overriding the cursor file (the daemon
    /// keeps its cursor in the store, with the bans it led to).
    pub cursor: Option<String>,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            trust: Trust::default(),
            restart_delay: Duration::from_secs(1),
            max_restart_delay: Duration::from_secs(30),
            capacity: 4096,
            max_entry_bytes: 1 << 20,
            cursor: None,
        }
    }
}

/// Counters of a [`JournalSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Lines passed to the caller.
    pub lines: u64,
    /// Entries without a message (their cursor is still kept).
    pub without_message: u64,
    /// Lines of journalctl's output that were not a JSON entry.
    pub malformed: u64,
    /// Entries longer than [`JournalOptions::max_entry_bytes`], skipped.
    pub oversized: u64,
    /// Restarts of journalctl.
    pub restarts: u64,
    /// Times a saved cursor was given up on.
    pub cursor_dropped: u64,
}

#[derive(Default)]
struct Shared {
    malformed: AtomicU64,
    oversized: AtomicU64,
}

/// What the reader thread sends.
enum Msg {
    Entry(Converted),
    /// End of journalctl's output, with a read error if that ended it.
    End(Option<String>),
}

/// Where the next journalctl starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    AfterCursor(String),
    Since(u64),
    End,
}

/// Follows the journal through `journalctl`, restarting it when it ends.
pub struct JournalSource {
    journalctl: PathBuf,
    cursor_file: PathBuf,
    match_args: Vec<String>,
    options: JournalOptions,
    trust: Arc<Trust>,
    shared: Arc<Shared>,
    child: Option<Child>,
    rx: Option<Receiver<Msg>>,
    /// An end seen after entries in the same poll, handled at the next one.
    pending_end: Option<Option<String>>,
    cursor: Option<String>,
    saved: Option<String>,
    /// Whether journalctl was started once.
    spawned: bool,
    /// Wall-clock seconds a restart without a cursor starts from: the first
    /// start, or the last delivery of an entry without a cursor.
    since: u64,
    /// Wall-clock seconds of the last poll that delivered entries.
    last_delivery: u64,
    restart_at: Option<Instant>,
    /// Consecutive runs that ended without delivering an entry.
    failures: u32,
    /// Consecutive failed runs started from a cursor.
    cursor_failures: u32,
    run_started_from_cursor: bool,
    run_delivered: bool,
    stats: JournalStats,
}

impl JournalSource {
    /// Starts following the journal with the default [`JournalOptions`]:
    /// after the cursor saved in `cursor_file`, or at the end of the journal
    /// when there is none. `filter` lists identifiers and unit names
    /// (`sshd`, `postfix/smtpd`, `ssh.service`); `None` or an empty list
    /// follows everything.
    pub fn new(
        journalctl: PathBuf,
        cursor_file: PathBuf,
        filter: Option<Vec<String>>,
    ) -> Result<JournalSource, JournalError> {
        JournalSource::with_options(journalctl, cursor_file, filter, JournalOptions::default())
    }

    /// [`JournalSource::new`] with options.
    pub fn with_options(
        journalctl: PathBuf,
        cursor_file: PathBuf,
        filter: Option<Vec<String>>,
        options: JournalOptions,
    ) -> Result<JournalSource, JournalError> {
        let match_args = match_args(filter.as_deref())?;
        let cursor = match options.cursor.clone() {
            Some(c) if plausible_cursor(&c) => Some(c),
            _ => load_cursor(&cursor_file)?,
        };
        let started_at = now_secs();
        let mut s = JournalSource {
            journalctl,
            cursor_file,
            match_args,
            trust: Arc::new(options.trust.clone()),
            options,
            shared: Arc::new(Shared::default()),
            child: None,
            rx: None,
            pending_end: None,
            saved: cursor.clone(),
            cursor,
            spawned: false,
            since: started_at,
            last_delivery: started_at,
            restart_at: None,
            failures: 0,
            cursor_failures: 0,
            run_started_from_cursor: false,
            run_delivered: false,
            stats: JournalStats::default(),
        };
        s.spawn()?;
        Ok(s)
    }

    /// The cursor of the last entry passed to the caller (or the one loaded
    /// at start).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The counters.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            malformed: self.shared.malformed.load(Ordering::Relaxed),
            oversized: self.shared.oversized.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// Whether journalctl is running now (false while a restart is pending).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn start(&self) -> Start {
        match &self.cursor {
            Some(c) => Start::AfterCursor(c.clone()),
            None if self.spawned => Start::Since(self.since),
            None => Start::End,
        }
    }

    fn spawn(&mut self) -> Result<(), JournalError> {
        let start = self.start();
        let mut cmd = Command::new(&self.journalctl);
        cmd.args(["-o", "json", "-f", "--no-pager", "--all", OUTPUT_FIELDS]);
        match &start {
            Start::AfterCursor(c) => {
                cmd.arg(format!("--after-cursor={c}")).arg("--lines=all");
            }
            Start::Since(t) => {
                cmd.arg(format!("--since=@{t}")).arg("--lines=all");
            }
            Start::End => {
                cmd.arg("--lines=0");
            }
        }
        cmd.args(&self.match_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let spawn_err = |source| JournalError::Spawn {
            path: self.journalctl.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let Some(stdout) = child.stdout.take() else {
            kill(&mut child);
            return Err(spawn_err(std::io::Error::other("no standard output pipe")));
        };
        let (tx, rx) = sync_channel(self.options.capacity.max(1));
        let trust = Arc::clone(&self.trust);
        let shared = Arc::clone(&self.shared);
        let max = self.options.max_entry_bytes;
        let thread = std::thread::Builder::new()
            .name("rampart-journal".into())
            .spawn(move || read_entries(stdout, &tx, &trust, &shared, max));
        if let Err(e) = thread {
            kill(&mut child);
            return Err(spawn_err(e));
        }
        self.child = Some(child);
        self.rx = Some(rx);
        self.run_started_from_cursor = matches!(start, Start::AfterCursor(_));
        self.run_delivered = false;
        self.restart_at = None;
        self.spawned = true;
        Ok(())
    }

    /// Passes the entries that have arrived to `f`, without blocking (at
    /// most [`JournalOptions::capacity`] per call, so other sources get
    /// their turn), and restarts journalctl when its restart is due.
    /// Returns the number of lines passed.
    ///
    /// An error says that journalctl ended (it is restarted by a later
    /// call) or could not be restarted (retried later); the source stays
    /// usable either way.
    pub fn poll(&mut self, f: &mut dyn FnMut(&[u8])) -> Result<usize, JournalError> {
        self.poll_wait(Duration::ZERO, f)
    }

    /// [`JournalSource::poll`], but waits up to `wait` for the first entry
    /// (or for a pending restart), so a source thread sleeps while the
    /// journal is quiet instead of polling.
    pub fn poll_wait(
        &mut self,
        wait: Duration,
        f: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, JournalError> {
        if self.child.is_none()
            && let Some(at) = self.restart_at
        {
            std::thread::sleep(at.saturating_duration_since(Instant::now()).min(wait));
        }
        if let Some(end) = self.pending_end.take() {
            return Err(self.ended(end));
        }
        if self.child.is_none() {
            match self.restart_at {
                Some(at) if Instant::now() >= at => {
                    self.stats.restarts += 1;
                    if let Err(e) = self.spawn() {
                        self.failures = self.failures.saturating_add(1);
                        self.schedule_restart();
                        return Err(e);
                    }
                }
                _ => return Ok(0),
            }
        }
        let mut n = 0;
        for i in 0..self.options.capacity.max(1) {
            let Some(rx) = &self.rx else { break };
            let next = if i == 0 && !wait.is_zero() {
                rx.recv_timeout(wait).map_err(|e| match e {
                    RecvTimeoutError::Timeout => TryRecvError::Empty,
                    RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
                })
            } else {
                rx.try_recv()
            };
            match next {
                Ok(Msg::Entry(c)) => {
                    if let Some(line) = &c.line {
                        f(line);
                        n += 1;
                        self.stats.lines += 1;
                    } else {
                        self.stats.without_message += 1;
                    }
                    if c.cursor.is_some() {
                        self.cursor = c.cursor;
                    }
                    self.run_delivered = true;
                }
                Ok(Msg::End(err)) => {
                    if n > 0 {
                        self.pending_end = Some(err);
                        return Ok(n);
                    }
                    return Err(self.ended(err));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let e = Some("the reader thread ended".to_string());
                    if n > 0 {
                        self.pending_end = Some(e);
                        return Ok(n);
                    }
                    return Err(self.ended(e));
                }
            }
        }
        if n > 0 {
            self.last_delivery = now_secs();
        }
        Ok(n)
    }

    /// journalctl's output ended: reap it and schedule the restart.
    fn ended(&mut self, read_error: Option<String>) -> JournalError {
        self.rx = None;
        let status = self.child.take().map(|mut c| reap(&mut c));
        let failed = !status
            .as_ref()
            .is_some_and(|s| s.as_ref().is_ok_and(ExitStatus::success));
        let how = match (read_error, status) {
            (Some(e), _) => format!("read error: {e}"),
            (None, Some(Ok(s))) => s.to_string(),
            (None, Some(Err(e))) => format!("cannot wait for it: {e}"),
            (None, None) => "not running".to_string(),
        };
        if self.run_delivered {
            self.since = self.last_delivery;
            self.failures = 0;
            self.cursor_failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.run_started_from_cursor && failed {
                self.cursor_failures += 1;
            }
        }
        let mut cursor_dropped = false;
        if self.cursor_failures >= CURSOR_FAILURES && self.cursor.is_some() {
            self.cursor = None;
            self.cursor_failures = 0;
            self.stats.cursor_dropped += 1;
            cursor_dropped = true;
            // best effort: a later save writes the next entry's cursor anyway
            if std::fs::remove_file(&self.cursor_file).is_ok() {
                self.saved = None;
            }
        }
        let restart_in = self.schedule_restart();
        JournalError::Exited {
            how,
            restart_in,
            cursor_dropped,
        }
    }

    fn schedule_restart(&mut self) -> Duration {
        let base = self.options.restart_delay;
        let delay = base
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16))
            .min(self.options.max_restart_delay.max(base));
        self.restart_at = Some(Instant::now() + delay);
        delay
    }

    /// Writes the cursor of the last entry passed to the caller to the
    /// cursor file, atomically (a temporary file, synced, renamed over it).
    /// Does nothing when it has not changed since the last save.
    pub fn save_cursor(&mut self) -> Result<(), JournalError> {
        let Some(c) = &self.cursor else {
            return Ok(());
        };
        if self.saved.as_ref() == Some(c) {
            return Ok(());
        }
        write_atomically(&self.cursor_file, c.as_bytes()).map_err(|source| {
            JournalError::CursorWrite {
                path: self.cursor_file.clone(),
                source,
            }
        })?;
        self.saved = Some(c.clone());
        Ok(())
    }
}

impl Drop for JournalSource {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c);
        }
        // The reader thread ends at the end of the pipe, or when its next
        // send finds the channel gone.
        self.rx = None;
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The exit status of a child whose output ended; one that closed its
/// output but still runs is killed.
fn reap(child: &mut Child) -> std::io::Result<ExitStatus> {
    for _ in 0..20 {
        if let Some(s) = child.try_wait()? {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait()
}

fn load_cursor(path: &Path) -> Result<Option<String>, JournalError> {
    match std::fs::read_to_string(path) {
        Ok(t) => {
            let t = t.trim();
            Ok(plausible_cursor(t).then(|| t.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(JournalError::CursorRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The reader thread: journalctl's output, line by line, converted.
fn read_entries(
    stdout: ChildStdout,
    tx: &SyncSender<Msg>,
    trust: &Trust,
    shared: &Shared,
    max: usize,
) {
    let mut r = BufReader::with_capacity(64 << 10, stdout);
    let mut buf = Vec::new();
    loop {
        let over = match read_line_bounded(&mut r, &mut buf, max) {
            Ok(Some(over)) => over,
            Ok(None) => {
                let _ = tx.send(Msg::End(None));
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::End(Some(e.to_string())));
                return;
            }
        };
        if over {
            shared.oversized.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match convert(&buf, trust) {
            Ok(c) => {
                if tx.send(Msg::Entry(c)).is_err() {
                    return; // the source is gone
                }
            }
            Err(_) => {
                shared.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Reads one line (without its newline) into `buf`, keeping at most `max`
/// bytes. `None` at the end of the input; `Some(true)` for a longer line
/// (dropped).
fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut over = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any.then_some(over));
        }
        any = true;
        let (take, used, eol) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, i + 1, true),
            None => (avail.len(), avail.len(), false),
        };
        if !over {
            if buf.len() + take > max {
                over = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&avail[..take]);
            }
        }
        r.consume(used);
        if eol {
            return Ok(Some(over));
        }
    }
}

/// The journal as a daemon source: lines in batches, each with the
/// cursor of its last entry as the checkpoint.
pub struct JournalFeed {
    /// The journal.
    pub journal: JournalSource,
    /// The source id of its lines.
    pub id: crate::daemon::events::SourceId,
}

/// The store key of the journal's cursor.
pub const CHECKPOINT_KEY: &str = "journal";

impl crate::daemon::sources::Source for JournalFeed {
    fn name(&self) -> String {
        "journal".into()
    }

    fn run(mut self: Box<Self>, feed: crate::daemon::sources::Feed) {
        use crate::daemon::events::{Checkpoint, Input};
        let mut buf = Vec::new();
        while !feed.stopped() {
            let r = self.journal.poll_wait(Duration::from_secs(5), &mut |line| {
                buf.extend_from_slice(line);
                buf.push(b'\n');
            });
            if let Err(e) = r {
                feed.notice("journal", e.to_string(), true);
            }
            if buf.is_empty() {
                continue;
            }
            let checkpoint = self.journal.cursor().map(|c| Checkpoint {
                key: CHECKPOINT_KEY.into(),
                value: serde_json::Value::from(c).to_string(),
            });
            let input = Input::Lines {
                source: self.id,
                data: std::mem::take(&mut buf),
                checkpoint,
                read_at: Instant::now(),
            };
            if !feed.send(input) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::envelope;
    use rampart_core::time::TimeContext;
    use std::os::unix::fs::PermissionsExt;

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn prog(
        identifier: Option<&str>,
        comm: Option<&str>,
        uid: Option<u32>,
        unit: Option<&str>,
    ) -> String {
        s(&Trust::default().program(&Sender {
            identifier: identifier.map(str::as_bytes),
            comm: comm.map(str::as_bytes),
            uid,
            transport: Some(b"syslog"),
            unit: unit.map(str::as_bytes),
        }))
    }

    #[test]
    fn trust_rule() {
        // consistent with _COMM, or root: the identifier
        assert_eq!(prog(Some("sshd"), Some("sshd"), Some(0), None), "sshd");
        assert_eq!(
            prog(Some("sshd"), Some("sshd-session"), Some(0), None),
            "sshd"
        );
        assert_eq!(
            prog(Some("sshd"), Some("sshd-session"), Some(74), None),
            "sshd"
        );
        assert_eq!(
            prog(Some("sshd-session"), Some("sshd"), Some(74), None),
            "sshd-session"
        );
        assert_eq!(
            prog(Some("postfix/smtpd"), Some("smtpd"), Some(101), None),
            "postfix/smtpd"
        );
        assert_eq!(
            prog(
                Some("postfix/submission/smtpd"),
                Some("smtpd"),
                Some(101),
                None
            ),
            "postfix/submission/smtpd"
        );
        assert_eq!(prog(Some("exim"), Some("exim4"), Some(101), None), "exim");
        assert_eq!(
            prog(
                Some("courieresmtpd-msa"),
                Some("courieresmtpd-m"),
                Some(101),
                None
            ),
            "courieresmtpd-msa",
            "_COMM is truncated to 15 bytes"
        );
        assert_eq!(
            prog(Some("sm-mta"), Some("sendmail"), Some(0), None),
            "sm-mta"
        );
        // a system service named like the identifier (only root starts those)
        assert_eq!(
            prog(
                Some("myapp"),
                Some("python3"),
                Some(998),
                Some("myapp.service")
            ),
            "myapp"
        );
        assert_eq!(
            prog(
                Some("postfix/smtpd"),
                Some("x"),
                Some(101),
                Some("postfix@-.service")
            ),
            "postfix/smtpd"
        );
        // forged identifiers: the executable's name
        assert_eq!(prog(Some("sshd"), Some("logger"), Some(33), None), "logger");
        assert_eq!(
            prog(
                Some("sshd"),
                Some("logger"),
                Some(33),
                Some("apache2.service")
            ),
            "logger"
        );
        assert_eq!(
            prog(Some("postfix/smtpd"), Some("logger"), Some(101), None),
            "logger"
        );
        assert_eq!(prog(Some("sshd"), None, Some(33), None), "unknown");
        assert_eq!(prog(Some("sshd"), Some("logger"), None, None), "logger");
        // login users are never a service, even with a binary renamed sshd
        assert_eq!(
            prog(Some("sshd"), Some("logger"), Some(1000), None),
            "uid1000.logger"
        );
        assert_eq!(
            prog(Some("sshd"), Some("sshd"), Some(1000), None),
            "uid1000.sshd"
        );
        assert_eq!(
            prog(Some("sshd"), None, Some(1000), None),
            "uid1000.unknown"
        );
        assert_eq!(
            prog(Some("x"), Some("x"), Some(1000), Some("user@1000.service")),
            "uid1000.x"
        );
        // root: the identifier, else _COMM
        assert_eq!(prog(None, Some("cron"), Some(0), None), "cron");
        // the kernel
        let t = Trust::default();
        let k = Sender {
            identifier: Some(b"sshd"),
            transport: Some(b"kernel"),
            ..Sender::default()
        };
        assert_eq!(s(&t.program(&k)), "kernel");
        // names are reduced to tag bytes
        assert_eq!(prog(None, Some("(sd-pam)"), Some(0), None), "x_sd-pam_");
        assert_eq!(prog(Some("a b: c[1]"), None, Some(0), None), "a_b__c_1_");
        let long = "s".repeat(200);
        assert_eq!(prog(Some(&long), None, Some(0), None).len(), MAX_PROGRAM);
    }

    /// A journalctl JSON line.
    fn entry(cursor: &str, fields: &[(&str, Value)]) -> String {
        let mut m = serde_json::Map::new();
        m.insert("__CURSOR".into(), cursor.into());
        m.insert("__REALTIME_TIMESTAMP".into(), "1795767300123456".into());
        m.insert("_HOSTNAME".into(), "web1".into());
        m.insert("_TRANSPORT".into(), "syslog".into());
        for (k, v) in fields {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m).to_string()
    }

    fn f(k: &'static str, v: &str) -> (&'static str, Value) {
        (k, Value::from(v))
    }

    /// The canned entries: (json, expected line).
    fn canned() -> Vec<(String, String)> {
        let ts = "2026-11-27T08:15:00.123456+00:00 web1";
        vec![
            (
                entry(
                    "s=1;i=1",
                    &[
                        f("SYSLOG_IDENTIFIER", "sshd"),
                        f("_COMM", "sshd-session"),
                        f("_UID", "0"),
                        f("_PID", "4242"),
                        f("SYSLOG_PID", "1"),
                        f(
                            "MESSAGE",
                            "Failed password for root from 192.0.2.1 port 22 ssh2",
                        ),
                    ],
                ),
                format!("{ts} sshd[4242]: Failed password for root from 192.0.2.1 port 22 ssh2"),
            ),
            (
                entry(
                    "s=1;i=2",
                    &[
                        f("SYSLOG_IDENTIFIER", "sshd"),
                        f("_COMM", "logger"),
                        f("_UID", "1000"),
                        f("_PID", "777"),
                        f(
                            "MESSAGE",
                            "Failed password for root from 192.0.2.9 port 22 ssh2",
                        ),
                    ],
                ),
                format!(
                    "{ts} uid1000.logger[777]: Failed password for root from 192.0.2.9 port 22 ssh2"
                ),
            ),
            (
                entry(
                    "s=1;i=3",
                    &[
                        f("SYSLOG_IDENTIFIER", "postfix/smtpd"),
                        f("_COMM", "smtpd"),
                        f("_UID", "101"),
                        f("_PID", "900"),
                        f(
                            "MESSAGE",
                            "warning: unknown[192.0.2.3]: SASL LOGIN authentication failed: authentication failure",
                        ),
                    ],
                ),
                format!(
                    "{ts} postfix/smtpd[900]: warning: unknown[192.0.2.3]: SASL LOGIN authentication failed: authentication failure"
                ),
            ),
            (
                entry(
                    "s=1;i=4",
                    &[
                        f("SYSLOG_IDENTIFIER", "sshd"),
                        f("_COMM", "sshd"),
                        f("_UID", "0"),
                        f("_PID", "5"),
                        // "Invalid user \xff\xfe from 192.0.2.4": not UTF-8
                        (
                            "MESSAGE",
                            serde_json::json!([
                                73, 110, 118, 97, 108, 105, 100, 32, 117, 115, 101, 114, 32, 255,
                                254, 32, 102, 114, 111, 109, 32, 49, 57, 50, 46, 48, 46, 50, 46,
                                52, 32, 112, 111, 114, 116, 32, 50, 50
                            ]),
                        ),
                    ],
                ),
                format!("{ts} sshd[5]: Invalid user \u{fffd}\u{fffd} from 192.0.2.4 port 22"),
            ),
            (
                entry(
                    "s=1;i=5",
                    &[
                        f("SYSLOG_IDENTIFIER", "myapp"),
                        f("_COMM", "myapp"),
                        f("_UID", "998"),
                        f("_PID", "6"),
                        f(
                            "MESSAGE",
                            "first\nJan  1 00:00:00 web1 sshd[1]: Failed password for root from 192.0.2.5\r\nend",
                        ),
                    ],
                ),
                format!(
                    "{ts} myapp[6]: first Jan  1 00:00:00 web1 sshd[1]: Failed password for root from 192.0.2.5  end"
                ),
            ),
        ]
    }

    #[test]
    fn converts_entries_into_lines_the_envelope_reads_as_built() {
        let t = Trust::default();
        let ctx = TimeContext::utc(1_795_780_800);
        for (json, want) in canned() {
            let c = convert(json.as_bytes(), &t).unwrap();
            let line = c.line.unwrap();
            assert_eq!(s(&line), want);
            let env = envelope::parse(&line, &ctx);
            let got_prog = env.program.map(s);
            let want_prog = want.split(' ').nth(2).unwrap().split(['[', ':']).next();
            assert_eq!(got_prog.as_deref(), want_prog, "{want}");
            assert_eq!(env.host.map(s).as_deref(), Some("web1"));
            assert_eq!(
                env.time.get(&ctx),
                Some(1_795_767_300),
                "the journal's own receive time"
            );
            assert!(c.cursor.unwrap().starts_with("s=1;i="));
        }
        // the multi-line message stays one line, read as myapp's
        let (json, _) = &canned()[4];
        let line = convert(json.as_bytes(), &t).unwrap().line.unwrap();
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
        let env = envelope::parse(&line, &ctx);
        assert_eq!(env.program, Some(&b"myapp"[..]));
        assert_eq!(env.pid, Some(&b"6"[..]));
    }

    #[test]
    fn only_trusted_lines_reach_the_rules() {
        let rules = rampart_core::builtin::rules().unwrap();
        let mut det = rampart_core::detect::Detector::new(
            rules,
            &rampart_core::config::Config::default(),
            rampart_core::explain::builtin(),
            Vec::new(),
        )
        .unwrap();
        let t = Trust::default();
        let ctx = TimeContext::utc(1_795_780_800);
        let hits: Vec<bool> = canned()
            .iter()
            .map(|(json, _)| {
                let line = convert(json.as_bytes(), &t).unwrap().line.unwrap();
                det.process(&line, &ctx, ctx.reference).is_some()
            })
            .collect();
        // sshd, `logger -t sshd` by a user, postfix/smtpd, bytes, a
        // multi-line message carrying an sshd line
        assert_eq!(hits, [true, false, true, true, false]);
    }

    #[test]
    fn odd_fields() {
        let t = Trust::default();
        let ctx = TimeContext::utc(1_795_780_800);
        // a repeated MESSAGE (strings and bytes), no pid, weird host, no time
        let j = r#"{"__CURSOR":"c1","MESSAGE":["a",[98,10,99]],"_COMM":"cron","_UID":"0","_HOSTNAME":"h o:st]"}"#;
        let c = convert(j.as_bytes(), &t).unwrap();
        let line = c.line.unwrap();
        let env = envelope::parse(&line, &ctx);
        assert_eq!(env.program, Some(&b"cron"[..]));
        assert_eq!(env.host, Some(&b"h_o_st_"[..]));
        assert_eq!(env.message, b"a b c");
        assert!(env.time.get(&ctx).is_some(), "the current time stands in");
        // SYSLOG_PID when _PID is missing; a repeated identifier is not believed
        let j = r#"{"__CURSOR":"c2","MESSAGE":"m","SYSLOG_IDENTIFIER":["sshd","x"],"_COMM":"logger","_UID":"0","SYSLOG_PID":"12"}"#;
        let line = convert(j.as_bytes(), &t).unwrap().line.unwrap();
        let env = envelope::parse(&line, &ctx);
        assert_eq!(env.program, Some(&b"logger"[..]));
        assert_eq!(env.pid, Some(&b"12"[..]));
        assert_eq!(env.host, Some(&b"localhost"[..]));
        // no message (or null: a field journalctl left out): no line, the cursor counts
        let j = r#"{"__CURSOR":"c3","MESSAGE":null,"_COMM":"x"}"#;
        assert_eq!(
            convert(j.as_bytes(), &t).unwrap(),
            Converted {
                line: None,
                cursor: Some("c3".into())
            }
        );
        // a cursor that could not be one argument is not kept
        let j = r#"{"__CURSOR":"a b","MESSAGE":"m"}"#;
        assert_eq!(convert(j.as_bytes(), &t).unwrap().cursor, None);
        assert!(convert(b"not json", &t).is_err());
        assert!(convert(b"[1,2]", &t).is_err());
    }

    #[test]
    fn filter_becomes_or_ed_matches() {
        let args = match_args(Some(&[
            "sshd".to_string(),
            "ssh.service".to_string(),
            "courieresmtpd-msa".to_string(),
        ]))
        .unwrap();
        assert_eq!(
            args,
            [
                "SYSLOG_IDENTIFIER=sshd",
                "+",
                "_COMM=sshd",
                "+",
                "_SYSTEMD_UNIT=ssh.service",
                "+",
                "SYSLOG_IDENTIFIER=courieresmtpd-msa",
                "+",
                "_COMM=courieresmtpd-m",
            ]
        );
        assert!(match_args(None).unwrap().is_empty());
        assert!(matches!(
            match_args(Some(&[String::new()])),
            Err(JournalError::Filter(_))
        ));
        assert!(matches!(
            match_args(Some(&["a\nb".to_string()])),
            Err(JournalError::Filter(_))
        ));
    }

    #[test]
    fn bounded_lines() {
        let mut r = std::io::Cursor::new(b"ab\nlonger line\n\nlast".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(buf, b"ab");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(buf, b"");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(buf, b"last");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), None);
    }

    // ---- with a fake journalctl ----

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Writes a fake journalctl into `d`. Run number N records its
    /// arguments (one a line) in `argsN`, prints `outN` if it exists, exits
    /// with the status in `exitN` if that exists, and otherwise waits (as
    /// `journalctl -f` does) until it is killed.
    fn fake_journalctl(d: &Path) -> PathBuf {
        let script = format!(
            r#"#!/bin/sh
d='{}'
n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/count"
for a in "$@"; do printf '%s\n' "$a"; done > "$d/args$n.tmp"
mv "$d/args$n.tmp" "$d/args$n"
[ -f "$d/out$n" ] && cat "$d/out$n"
[ -f "$d/exit$n" ] && exit "$(cat "$d/exit$n")"
exec sleep 600
"#,
            d.display()
        );
        let p = d.join("journalctl");
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn opts() -> JournalOptions {
        JournalOptions {
            restart_delay: Duration::from_millis(50),
            max_restart_delay: Duration::from_millis(200),
            ..JournalOptions::default()
        }
    }

    fn open(d: &Path, options: JournalOptions) -> JournalSource {
        let exe = d.join("journalctl");
        // a freshly written script can be briefly "busy" while another test
        // thread forks
        for _ in 0..50 {
            match JournalSource::with_options(
                exe.clone(),
                d.join("journal.cursor"),
                Some(vec!["sshd".into()]),
                options.clone(),
            ) {
                Err(JournalError::Spawn { source, .. })
                    if source.kind() == std::io::ErrorKind::ExecutableFileBusy =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => return r.unwrap(),
            }
        }
        panic!("journalctl stays busy");
    }

    /// Polls until `n` lines arrived (errors are collected), or 10 s.
    fn collect(j: &mut JournalSource, n: usize, errors: &mut Vec<String>) -> Vec<String> {
        let mut v = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while v.len() < n && Instant::now() < deadline {
            match j.poll(&mut |l| v.push(s(l))) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(_) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        v
    }

    fn args(d: &Path, run: u32) -> Vec<String> {
        let p = d.join(format!("args{run}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn write_out(d: &Path, run: u32, entries: &[String]) {
        let mut text = entries.join("\n");
        text.push('\n');
        std::fs::write(d.join(format!("out{run}")), text).unwrap();
    }

    #[test]
    fn follows_and_resumes_after_its_cursor() {
        let d = tmp("follow");
        fake_journalctl(&d);
        let canned = canned();
        let (jsons, want): (Vec<String>, Vec<String>) = canned.into_iter().unzip();
        write_out(&d, 1, &jsons[..3]);
        let mut j = open(&d, opts());
        let a = args(&d, 1);
        for x in [
            "-o",
            "json",
            "-f",
            "--no-pager",
            "--lines=0",
            "SYSLOG_IDENTIFIER=sshd",
        ] {
            assert!(a.contains(&x.to_string()), "{x} in {a:?}");
        }
        assert!(!a.iter().any(|x| x.starts_with("--after-cursor")), "{a:?}");
        let mut errors = Vec::new();
        assert_eq!(collect(&mut j, 3, &mut errors), want[..3]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(j.cursor(), Some("s=1;i=3"));
        assert!(j.is_running());
        j.save_cursor().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("journal.cursor")).unwrap(),
            "s=1;i=3\n"
        );
        drop(j);

        // the daemon restarts: journalctl resumes after the saved cursor
        write_out(&d, 2, &jsons[3..]);
        let mut j = open(&d, opts());
        let a = args(&d, 2);
        assert!(a.contains(&"--after-cursor=s=1;i=3".to_string()), "{a:?}");
        assert!(!a.contains(&"--lines=0".to_string()), "{a:?}");
        assert_eq!(collect(&mut j, 2, &mut errors), want[3..]);
        assert!(errors.is_empty(), "{errors:?}");
        j.save_cursor().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("journal.cursor")).unwrap(),
            "s=1;i=5\n"
        );
        assert_eq!(
            j.stats(),
            JournalStats {
                lines: 2,
                ..JournalStats::default()
            }
        );
    }

    #[test]
    fn a_crashing_journalctl_is_restarted_from_the_last_entry() {
        let d = tmp("crash");
        fake_journalctl(&d);
        let (jsons, want): (Vec<String>, Vec<String>) = canned().into_iter().unzip();
        // run 1: two entries, a malformed line, then a crash
        let mut out1 = jsons[..2].to_vec();
        out1.push("{oops".into());
        write_out(&d, 1, &out1);
        std::fs::write(d.join("exit1"), "3").unwrap();
        // run 2: crashes at once, with nothing
        std::fs::write(d.join("exit2"), "1").unwrap();
        // run 3: the rest, then follows
        write_out(&d, 3, &jsons[2..]);
        let mut j = open(&d, opts());
        let mut errors = Vec::new();
        let got = collect(&mut j, 5, &mut errors);
        assert_eq!(got, want, "no entry lost or repeated over the restarts");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("exit status: 3"), "{errors:?}");
        assert_eq!(args(&d, 1).iter().filter(|a| *a == "--lines=0").count(), 1);
        assert!(args(&d, 2).contains(&"--after-cursor=s=1;i=2".to_string()));
        assert!(args(&d, 3).contains(&"--after-cursor=s=1;i=2".to_string()));
        let st = j.stats();
        assert_eq!((st.restarts, st.malformed, st.lines), (2, 1, 5));
        // nothing was saved yet: the cursor file only changes on save
        assert!(!d.join("journal.cursor").exists());
        j.save_cursor().unwrap();
        assert!(d.join("journal.cursor").exists());
    }

    #[test]
    fn a_restart_before_any_entry_starts_from_the_first_start() {
        let d = tmp("early");
        fake_journalctl(&d);
        std::fs::write(d.join("exit1"), "1").unwrap();
        let t0 = now_secs();
        let mut j = open(&d, opts());
        let mut errors = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.join("args2").exists() && Instant::now() < deadline {
            if let Err(e) = j.poll(&mut |_| {}) {
                errors.push(e.to_string());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let a = args(&d, 2);
        let since: u64 = a
            .iter()
            .find_map(|x| x.strip_prefix("--since=@"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(since <= t0 + 1 && since + 5 >= t0, "{since} vs {t0}");
        assert!(!a.contains(&"--lines=0".to_string()));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn a_cursor_journalctl_keeps_refusing_is_dropped() {
        let d = tmp("badcursor");
        fake_journalctl(&d);
        std::fs::write(d.join("journal.cursor"), "bogus\n").unwrap();
        for run in 1..=CURSOR_FAILURES {
            std::fs::write(d.join(format!("exit{run}")), "1").unwrap();
        }
        let mut j = open(&d, opts());
        let mut errors = Vec::new();
        let last = CURSOR_FAILURES + 1;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.join(format!("args{last}")).exists() && Instant::now() < deadline {
            if let Err(e) = j.poll(&mut |_| {}) {
                errors.push(e.to_string());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(args(&d, 1).contains(&"--after-cursor=bogus".to_string()));
        let a = args(&d, last);
        assert!(!a.iter().any(|x| x.starts_with("--after-cursor")), "{a:?}");
        assert!(a.iter().any(|x| x.starts_with("--since=@")), "{a:?}");
        assert_eq!(j.stats().cursor_dropped, 1);
        assert!(
            !d.join("journal.cursor").exists(),
            "the refused cursor is removed"
        );
        assert!(
            errors.last().unwrap().contains("without the saved cursor"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_slow_reader_gets_everything_in_order_through_a_small_queue() {
        let d = tmp("backpressure");
        fake_journalctl(&d);
        let entries: Vec<String> = (0..500)
            .map(|i| {
                entry(
                    &format!("s=1;i={i}"),
                    &[
                        f("SYSLOG_IDENTIFIER", "sshd"),
                        f("_COMM", "sshd"),
                        f("_UID", "0"),
                        f("MESSAGE", &format!("m{i}")),
                    ],
                )
            })
            .collect();
        write_out(&d, 1, &entries);
        let mut j = open(
            &d,
            JournalOptions {
                capacity: 4,
                ..opts()
            },
        );
        let mut errors = Vec::new();
        let got = collect(&mut j, 500, &mut errors);
        assert_eq!(got.len(), 500);
        for (i, l) in got.iter().enumerate() {
            assert!(l.ends_with(&format!("sshd: m{i}")), "{l}");
        }
        assert_eq!(j.cursor(), Some("s=1;i=499"));
        assert!(errors.is_empty());
    }

    #[test]
    fn errors_at_start() {
        let d = tmp("errors");
        let e = JournalSource::new(d.join("nonexistent"), d.join("c"), None);
        assert!(matches!(e, Err(JournalError::Spawn { .. })));
        // a cursor file that is a directory cannot be read
        std::fs::create_dir_all(d.join("dir")).unwrap();
        fake_journalctl(&d);
        let e = JournalSource::new(d.join("journalctl"), d.join("dir"), None);
        assert!(
            matches!(e, Err(JournalError::CursorRead { .. })),
            "{:?}",
            e.err()
        );
        let e = JournalSource::new(d.join("journalctl"), d.join("c"), Some(vec![String::new()]));
        assert!(matches!(e, Err(JournalError::Filter(_))));
        assert!(e.err().unwrap().to_string().contains("filter"));
    }
}
