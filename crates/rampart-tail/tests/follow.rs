//! The follower against real files, renames, truncations, FIFOs, devices,
//! directories and processes. Inotify events are queued by the kernel
//! before the write or rename returns, so a `read` right after an action
//! sees it; loops that wait (grace periods, a child process) have a
//! generous deadline that only guards against hanging.

#![allow(clippy::unwrap_used)]

use rampart_tail::{Batch, Checkpoint, FileKind, Follower, Notice, Options, Spec, StartAt};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rampart-tail-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

/// A follower and the checkpoint its caller keeps.
struct Tail {
    f: Follower,
    cp: Checkpoint,
    notices: Vec<Notice>,
}

impl Tail {
    fn new(specs: Vec<Spec>, options: Options, cp: Checkpoint) -> Tail {
        let f = Follower::new(specs, options, &cp).unwrap();
        Tail {
            f,
            cp,
            notices: Vec::new(),
        }
    }

    fn plain(p: &Path) -> Tail {
        Tail::new(vec![Spec::new(p)], Options::default(), Checkpoint::new())
    }

    /// Reads until nothing more is readable now; returns the lines.
    fn lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let cp = &mut self.cp;
            let r = self.f.read(1 << 20, &mut |b: Batch<'_>| {
                check_batch(&b);
                out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
                cp.record(&b);
            });
            if !r.more {
                break;
            }
        }
        self.notices.extend(self.f.notices());
        out
    }

    /// Waits and reads until `want` lines came (or 10 s passed).
    fn wait_lines(&mut self, want: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = self.lines();
        while out.len() < want && Instant::now() < deadline {
            self.f.wait(Some(Duration::from_millis(200)));
            out.extend(self.lines());
        }
        out
    }

    /// Waits and reads until `done` holds (or 10 s passed).
    fn wait_until(&mut self, done: impl Fn(&Tail) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = self.lines();
        while !done(self) && Instant::now() < deadline {
            self.f.wait(Some(Duration::from_millis(200)));
            out.extend(self.lines());
        }
        out
    }

    /// Restarts from the checkpoint (the follower is dropped: a crash).
    fn restart(self, specs: Vec<Spec>, options: Options) -> Tail {
        let text = serde_json::to_string(&self.cp).unwrap();
        drop(self.f);
        Tail::new(specs, options, serde_json::from_str(&text).unwrap())
    }
}

/// Every batch: complete lines only, the position after it among its
/// files.
fn check_batch(b: &Batch<'_>) {
    assert!(
        b.data.is_empty() || b.data.ends_with(b"\n"),
        "only complete lines"
    );
    assert_eq!(
        b.data.iter().filter(|c| **c == b'\n').count() as u64,
        b.lines
    );
    if let Some(p) = b.position {
        assert!(b.files.contains(&p), "the batch's position is checkpointed");
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn first_start_is_at_the_end_and_a_line_is_delivered_once_complete() {
    let d = tmp("end");
    let p = d.join("a.log");
    append(&p, "old 1\nold 2\nhalf of ");
    let mut t = Tail::plain(&p);
    assert!(
        t.lines().is_empty(),
        "old lines are not read on a first start"
    );
    append(&p, "a line\nnew 1\nnew");
    assert_eq!(t.lines(), s(&["half of a line", "new 1"]));
    append(&p, " 2\n");
    assert_eq!(
        t.lines(),
        s(&["new 2"]),
        "a line written in two parts is one line"
    );
    assert!(t.lines().is_empty());
}

#[test]
fn start_at_beginning_and_files_that_appear_later_are_read_whole() {
    let d = tmp("begin");
    let p = d.join("a.log");
    append(&p, "1\n2\n");
    let opts = Options {
        start_existing: StartAt::Beginning,
        ..Options::default()
    };
    let q = d.join("later.log");
    let mut t = Tail::new(vec![Spec::new(&p), Spec::new(&q)], opts, Checkpoint::new());
    assert_eq!(t.lines(), s(&["1", "2"]));
    append(&q, "first\n");
    assert_eq!(
        t.lines(),
        s(&["first"]),
        "a file that appears later is read from 0"
    );
}

#[test]
fn partial_line_at_stop_is_delivered_once_after_restart() {
    let d = tmp("partial");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "fail 1\nfail 2\nfail 3\nfail 4\nfail");
    assert_eq!(t.lines().len(), 4);
    let mut t = t.restart(vec![Spec::new(&p)], Options::default());
    assert!(
        t.lines().is_empty(),
        "the partial line is not delivered yet"
    );
    append(&p, " 5\nfail 6\n");
    let mut t = t.restart(vec![Spec::new(&p)], Options::default());
    assert_eq!(t.lines(), s(&["fail 5", "fail 6"]));
    let mut t = t.restart(vec![Spec::new(&p)], Options::default());
    assert!(t.lines().is_empty(), "nothing is read twice");
}

#[test]
fn rotation_while_stopped_drains_the_old_file_then_reads_the_new() {
    let d = tmp("rot-stopped");
    let p = d.join("auth.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "1\n2\n");
    assert_eq!(t.lines(), s(&["1", "2"]));
    let specs = vec![Spec::new(&p)];
    let text = serde_json::to_string(&t.cp).unwrap();
    drop(t);
    append(&p, "3\n4\n");
    std::fs::rename(&p, d.join("auth.log.1")).unwrap();
    append(&p, "5\n");
    let mut t = Tail::new(
        specs,
        Options::default(),
        serde_json::from_str(&text).unwrap(),
    );
    let mut got = t.lines();
    got.sort();
    assert_eq!(got, s(&["3", "4", "5"]));
    assert!(
        t.notices.iter().any(|n| matches!(n, Notice::FoundRotated { found, offset: 4, .. } if found.ends_with("auth.log.1"))),
        "{:?}",
        t.notices
    );
    // both files are in the checkpoint until the old one is dropped
    assert_eq!(t.cp.get(&p).map(<[_]>::len), Some(2));
}

#[test]
fn rotation_to_a_dated_name_while_stopped_is_found_too() {
    let d = tmp("rot-dated");
    let p = d.join("secure");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "a\n");
    assert_eq!(t.lines(), s(&["a"]));
    append(&p, "b\n");
    let cp = t.cp.clone();
    drop(t);
    std::fs::rename(&p, d.join("secure-20260102")).unwrap();
    // a compressed older rotation is never a candidate
    append(&d.join("secure-20260101.gz"), "zz\n");
    let mut t = Tail::new(vec![Spec::new(&p)], Options::default(), cp);
    assert_eq!(t.lines(), s(&["b"]));
    append(&p, "c\n");
    assert_eq!(t.lines(), s(&["c"]), "the new file is read from its start");
}

#[test]
fn a_rotated_file_that_was_compressed_away_is_reported_lost() {
    let d = tmp("rot-lost");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "1\n");
    assert_eq!(t.lines(), s(&["1"]));
    append(&p, "2\n");
    let cp = t.cp.clone();
    drop(t);
    std::fs::remove_file(&p).unwrap();
    append(&p, "3\n");
    let mut t = Tail::new(vec![Spec::new(&p)], Options::default(), cp);
    assert_eq!(t.lines(), s(&["3"]));
    assert!(
        t.notices
            .iter()
            .any(|n| matches!(n, Notice::RotatedLost { .. }))
    );
}

#[test]
fn rename_rotation_while_running_keeps_reading_a_late_writer() {
    let d = tmp("late");
    let p = d.join("syslog");
    append(&p, "");
    let mut t = Tail::plain(&p);
    // a real process holding the file open, as syslog does until its HUP
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3>>\"$1\"; echo before >&3; read x; echo late >&3; echo late-partial >&3")
        .arg("sh")
        .arg(&p)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(t.wait_lines(1), s(&["before"]));
    std::fs::rename(&p, d.join("syslog.1")).unwrap();
    append(&p, "new 1\n");
    assert_eq!(t.lines(), s(&["new 1"]));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());
    let mut got = t.wait_lines(2);
    got.sort();
    assert_eq!(
        got,
        s(&["late", "late-partial"]),
        "the renamed file is read while it is written"
    );
    let stats = t.f.stats();
    assert_eq!(stats.len(), 2, "old and new file both followed: {stats:?}");
}

#[test]
fn a_drained_file_is_dropped_after_the_grace_period_with_its_last_line() {
    let d = tmp("grace");
    let p = d.join("a.log");
    append(&p, "");
    let opts = Options {
        grace: Duration::from_millis(50),
        ..Options::default()
    };
    let mut t = Tail::new(vec![Spec::new(&p)], opts, Checkpoint::new());
    append(&p, "1\nunterminated");
    assert_eq!(t.lines(), s(&["1"]));
    std::fs::rename(&p, d.join("a.log.1")).unwrap();
    append(&p, "2\n");
    let mut got = t.wait_lines(2);
    got.sort();
    assert_eq!(got, s(&["2", "unterminated"]));
    assert_eq!(
        t.cp.get(&p).map(<[_]>::len),
        Some(1),
        "only the new file is left"
    );
    assert_eq!(t.f.stats().len(), 1);
}

#[test]
fn copytruncate_that_regrew_past_the_old_size_is_read_from_the_start() {
    let d = tmp("regrow");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "2026-01-01 one\n2026-01-01 two\n");
    assert_eq!(t.lines().len(), 2);
    // unread, then copied away; the file truncated and regrown past its size
    append(&p, "2026-01-01 three\n");
    std::fs::copy(&p, d.join("a.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(
        &p,
        "2026-01-02 four, a longer line than all the old ones put together\n",
    );
    let mut got = t.lines();
    got.sort();
    assert_eq!(
        got,
        s(&[
            "2026-01-01 three",
            "2026-01-02 four, a longer line than all the old ones put together"
        ]),
        "the copy's unread line and the new content, each once"
    );
    assert!(
        t.notices
            .iter()
            .any(|n| matches!(n, Notice::Truncated { .. }))
    );
}

#[test]
fn copytruncate_while_stopped_is_detected_by_the_head() {
    let d = tmp("regrow-stopped");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "2026-01-01 one\n");
    assert_eq!(t.lines().len(), 1);
    append(&p, "2026-01-01 two\n");
    let cp = t.cp.clone();
    drop(t);
    std::fs::copy(&p, d.join("a.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&p, "2026-01-02 three three three three\n");
    let mut t = Tail::new(vec![Spec::new(&p)], Options::default(), cp);
    let mut got = t.lines();
    got.sort();
    assert_eq!(
        got,
        s(&["2026-01-01 two", "2026-01-02 three three three three"])
    );
}

#[test]
fn long_lines_are_cut_and_reported() {
    let d = tmp("long");
    let p = d.join("a.log");
    append(&p, "");
    let opts = Options {
        max_line: 100,
        read_size: 128,
        ..Options::default()
    };
    let mut t = Tail::new(vec![Spec::new(&p)], opts, Checkpoint::new());
    let long = "x".repeat(1000);
    append(&p, &format!("short\n{long}\nafter\n{}", "y".repeat(300)));
    let got = t.lines();
    assert_eq!(
        got,
        vec!["short".to_string(), "x".repeat(100), "after".into()]
    );
    append(&p, "\n");
    assert_eq!(t.lines(), vec!["y".repeat(100)]);
    assert!(
        t.notices
            .iter()
            .any(|n| matches!(n, Notice::LongLines { limit: 100, .. }))
    );
    assert_eq!(t.f.stats()[0].long_lines, 2);
}

#[test]
fn a_fifo_at_a_watched_path_blocks_nothing() {
    let d = tmp("fifo");
    let fifo = d.join("fifo.log");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::new(
        vec![Spec::new(&fifo), Spec::new(&p)],
        Options::default(),
        Checkpoint::new(),
    );
    append(&p, "1\n");
    assert_eq!(t.lines(), s(&["1"]), "the other file is read");
    let fifos = |t: &Tail| {
        t.notices
            .iter()
            .filter(|n| {
                matches!(
                    n,
                    Notice::NotRegular {
                        kind: FileKind::Fifo,
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(fifos(&t), 1);
    append(&d.join("other"), "touch the directory\n");
    append(&p, "2\n");
    assert_eq!(t.lines(), s(&["2"]));
    assert_eq!(fifos(&t), 1, "reported once");
}

#[test]
fn a_symlink_to_dev_zero_is_never_read_a_symlink_to_a_file_is() {
    let d = tmp("devzero");
    let zero = d.join("zero.log");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let real = d.join("real");
    append(&real, "");
    let link = d.join("link.log");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut t = Tail::new(
        vec![Spec::new(&zero), Spec::new(&link)],
        Options::default(),
        Checkpoint::new(),
    );
    append(&real, "via link\n");
    assert_eq!(t.lines(), s(&["via link"]));
    assert!(t.notices.iter().any(|n| matches!(
        n,
        Notice::NotRegular {
            kind: FileKind::CharDevice,
            ..
        }
    )));
    assert!(t.f.stats().iter().all(|st| st.path == link));
}

#[test]
fn a_path_replaced_by_a_directory_is_reported_once_and_read_again_as_a_file() {
    let d = tmp("dirswap");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    append(&p, "1\n");
    assert_eq!(t.lines(), s(&["1"]));
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    for i in 0..20 {
        // churn in the parent directory: each event makes the path looked at
        append(&d.join(format!("other{i}")), "x\n");
        assert!(t.lines().is_empty());
    }
    let dirs = t
        .notices
        .iter()
        .filter(|n| {
            matches!(
                n,
                Notice::NotRegular {
                    kind: FileKind::Directory,
                    ..
                }
            )
        })
        .count();
    assert_eq!(dirs, 1, "{:?}", t.notices);
    std::fs::remove_dir(&p).unwrap();
    append(&p, "2\n");
    assert_eq!(t.lines(), s(&["2"]), "a file again: read from its start");
}

#[test]
fn a_glob_follows_a_new_file_and_a_recreated_directory() {
    let d = tmp("glob");
    let logs = d.join("domlogs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("old.example"), "history\n");
    let opts = Options {
        grace: Duration::from_millis(20),
        ..Options::default()
    };
    let mut t = Tail::new(vec![Spec::new(logs.join("*"))], opts, Checkpoint::new());
    assert!(t.lines().is_empty(), "existing files start at their end");
    append(&logs.join("new.example"), "hello\n");
    assert_eq!(
        t.lines(),
        s(&["hello"]),
        "a new file is read from its start"
    );
    std::fs::remove_dir_all(&logs).unwrap();
    assert!(t.lines().is_empty());
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("again.example"), "back\n");
    assert_eq!(t.lines(), s(&["back"]));
    let old = logs.join("old.example");
    t.wait_until(|t| t.cp.get(&old).is_none());
    assert_eq!(
        t.cp.get(&old),
        None,
        "gone glob matches leave the checkpoint once drained"
    );
    assert!(t.cp.get(&logs.join("again.example")).is_some());
}

#[test]
fn a_glob_match_that_appeared_while_stopped_is_read_whole() {
    let d = tmp("glob-stopped");
    append(&d.join("a.log"), "");
    let spec = || vec![Spec::new(d.join("*.log"))];
    let mut t = Tail::new(spec(), Options::default(), Checkpoint::new());
    assert!(t.lines().is_empty());
    let cp = t.cp.clone();
    drop(t);
    append(&d.join("b.log"), "1\n");
    let mut t = Tail::new(spec(), Options::default(), cp);
    assert_eq!(
        t.lines(),
        s(&["1"]),
        "the spec was followed before: b.log is new"
    );
}

#[test]
fn polling_fallback_follows_too_and_says_so() {
    let d = tmp("poll");
    let p = d.join("a.log");
    append(&p, "");
    let opts = Options {
        force_polling: true,
        poll_interval: Duration::from_millis(20),
        ..Options::default()
    };
    let mut t = Tail::new(vec![Spec::new(&p)], opts, Checkpoint::new());
    assert!(t.f.fd().is_none());
    assert!(t.lines().is_empty());
    assert!(
        t.notices
            .iter()
            .any(|n| matches!(n, Notice::Polling { spec: 0, .. }))
    );
    append(&p, "1\n");
    assert_eq!(t.wait_lines(1), s(&["1"]));
    std::fs::rename(&p, d.join("a.log.1")).unwrap();
    append(&p, "2\n");
    assert_eq!(t.wait_lines(1), s(&["2"]));
}

#[test]
fn idle_wait_returns_on_a_write() {
    let d = tmp("wait");
    let p = d.join("a.log");
    append(&p, "");
    let mut t = Tail::plain(&p);
    assert!(t.lines().is_empty());
    assert_eq!(t.f.timeout(), None, "nothing to time: sleep until an event");
    assert!(
        !t.f.wait(Some(Duration::from_millis(1))),
        "nothing happened"
    );
    append(&p, "x\n");
    assert!(t.f.wait(Some(Duration::from_secs(10))));
    assert_eq!(t.lines(), s(&["x"]));
}

#[test]
fn a_plain_path_in_a_directory_made_later_deleted_and_made_again() {
    let d = tmp("plain-dir");
    let p = d.join("app/logs/app.log");
    let mut t = Tail::plain(&p);
    assert!(t.lines().is_empty());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    append(&p, "1\n");
    assert_eq!(t.lines(), s(&["1"]));
    std::fs::remove_dir_all(d.join("app")).unwrap();
    assert!(t.lines().is_empty());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    append(&p, "2\n");
    assert_eq!(t.lines(), s(&["2"]));
}
