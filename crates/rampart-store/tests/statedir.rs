//! The state directory against a hostile local user (issue 8): planted
//! symlinks, a world-writable or user-owned directory, a database swapped
//! in by another user, and two daemons racing for the lock.
//!
//! The "other user" is `nobody` (uid 65534): tests that need to give a
//! file away run as root and say SKIPPED otherwise (a failure with
//! `RAMPART_REQUIRE_ROOT_TESTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rampart_store::{Error, StateDir, StateDirError, Store};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Root-only tests: `false` (skip) without root, a panic when root tests are required.
fn need_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("RAMPART_REQUIRE_ROOT_TESTS").is_none(),
        "{test} needs root and RAMPART_REQUIRE_ROOT_TESTS is set"
    );
    eprintln!("SKIPPED {test}: needs root");
    false
}

/// A private scratch directory (0700) with a state directory path inside.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = t.path().join("state");
    (t, state)
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

#[test]
fn a_missing_state_directory_is_created_private() {
    let (_t, state) = scratch();
    let dir = StateDir::open(&state).unwrap();
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    dir.replace_file("offsets.json", b"{}").unwrap();
    let mut s = String::new();
    dir.open_file("offsets.json")
        .unwrap()
        .expect("written")
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "{}");
    assert!(dir.open_file("missing.json").unwrap().is_none());
    // a subdirectory (blocklists/) is checked too, and a sane one passes
    std::fs::create_dir(state.join("blocklists")).unwrap();
    std::fs::write(state.join("blocklists/x.txt"), "198.51.100.7\n").unwrap();
    StateDir::open(&state).unwrap();
}

#[test]
fn a_world_writable_state_directory_is_refused_with_the_fix() {
    let (_t, state) = scratch();
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = StateDir::open(&state).unwrap_err();
    assert!(matches!(e, StateDirError::Writable { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&state.display().to_string()), "{msg}");
    assert!(msg.contains("0777"), "{msg}");
    assert!(
        msg.contains(&format!("chmod go-w {}", state.display())),
        "{msg}"
    );
    // a group-writable file inside is refused the same way
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(state.join("journal.cursor"), "x").unwrap();
    std::fs::set_permissions(
        state.join("journal.cursor"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    let e = StateDir::open(&state).unwrap_err().to_string();
    assert!(
        e.contains("journal.cursor") && e.contains("its group"),
        "{e}"
    );
}

#[test]
fn a_state_directory_owned_by_another_user_is_refused() {
    if !need_root("a_state_directory_owned_by_another_user_is_refused") {
        return;
    }
    let (_t, state) = scratch();
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown(&state, NOBODY);
    let e = StateDir::open(&state).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, StateDirError::Owner { uid: NOBODY, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("chown root:root {}", state.display())),
        "{msg}"
    );
    // and a file inside owned by that user
    chown(&state, 0);
    std::fs::write(state.join("offsets.json"), "{}").unwrap();
    chown(&state.join("offsets.json"), NOBODY);
    let msg = StateDir::open(&state).unwrap_err().to_string();
    assert!(
        msg.contains("offsets.json") && msg.contains("uid 65534"),
        "{msg}"
    );
}

#[test]
fn a_planted_tmp_symlink_is_refused_and_never_written_through() {
    let (t, state) = scratch();
    let victim = t.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let dir = StateDir::open(&state).unwrap();
    // planted where today's daemon writes its offsets (`offsets.json.tmp`)
    symlink(&victim, state.join("offsets.json.tmp")).unwrap();
    let e = StateDir::open(&state).unwrap_err();
    assert!(matches!(e, StateDirError::Symlink { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("rm {}", state.join("offsets.json.tmp").display())),
        "{e}"
    );
    assert!(dir.verify().is_err(), "verify sees it too");
    // even if one appears after the check, writes never go through it
    dir.replace_file("offsets.json", b"{\"a\":1}").unwrap();
    symlink(&victim, state.join("journal.cursor")).unwrap();
    dir.replace_file("journal.cursor", b"cursor").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        !std::fs::symlink_metadata(state.join("journal.cursor"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself was replaced"
    );
    // and reads refuse to follow one
    std::fs::remove_file(state.join("journal.cursor")).unwrap();
    symlink(&victim, state.join("journal.cursor")).unwrap();
    let e = dir.open_file("journal.cursor").unwrap_err();
    assert!(matches!(e, StateDirError::Symlink { .. }), "{e}");
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let (_t, state) = scratch();
    let dir = StateDir::open(&state).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        state.join("offsets.json"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let e = dir.open_file("offsets.json").unwrap_err();
    assert!(matches!(e, StateDirError::Type { kind: "FIFO", .. }), "{e}");
}

#[test]
fn a_database_swapped_in_by_another_user_is_refused() {
    if !need_root("a_database_swapped_in_by_another_user_is_refused") {
        return;
    }
    let (t, state) = scratch();
    let dir = StateDir::open(&state).unwrap();
    let db = dir.join("rampart.db");
    drop(Store::open(&db).unwrap());
    Store::open(&db).expect("root's own database opens");
    // the attacker's database (think `allow 0.0.0.0/0`), owned by them
    chown(&db, NOBODY);
    match Store::open(&db) {
        Err(Error::Unsafe(StateDirError::Owner { uid: NOBODY, .. })) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    // or linked in from elsewhere
    let elsewhere = t.path().join("evil.db");
    drop(Store::open(&elsewhere).unwrap());
    std::fs::remove_file(&db).unwrap();
    for companion in ["-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(companion);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    symlink(&elsewhere, &db).unwrap();
    match Store::open(&db) {
        Err(e @ Error::Unsafe(StateDirError::Symlink { .. })) => {
            assert!(e.to_string().contains("rm "), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The contender's side of the lock race (this test binary, re-executed).
fn contend(state: &str) {
    let mut stdin = BufReader::new(std::io::stdin());
    let dir = StateDir::open(state).unwrap();
    println!("@@READY");
    let mut go = String::new();
    stdin.read_line(&mut go).unwrap();
    match dir.lock_exclusive() {
        Ok(lock) => {
            println!("@@WON {}", std::process::id());
            // hold it until the parent closes our stdin
            let _ = stdin.read_line(&mut go);
            drop(lock);
        }
        Err(e) => println!("@@LOST {e}"),
    }
}

#[test]
fn two_processes_taking_the_lock_at_once_exactly_one_wins() {
    if let Ok(state) = std::env::var("RAMPART_TEST_LOCK_CONTENDER") {
        return contend(&state);
    }
    let (_t, state) = scratch();
    StateDir::open(&state).unwrap();
    let me = std::env::current_exe().unwrap();
    for trial in 0..20 {
        let mut kids: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&me)
                    .args([
                        "--exact",
                        "two_processes_taking_the_lock_at_once_exactly_one_wins",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env("RAMPART_TEST_LOCK_CONTENDER", &state)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut outs: Vec<_> = kids
            .iter_mut()
            .map(|k| BufReader::new(k.stdout.take().unwrap()))
            .collect();
        // the contender's lines are tagged `@@` (libtest may print before them)
        let read_tagged = |r: &mut BufReader<std::process::ChildStdout>| -> String {
            let mut l = String::new();
            while r.read_line(&mut l).unwrap() > 0 {
                if let Some((_, tagged)) = l.split_once("@@") {
                    return tagged.trim().to_string();
                }
                l.clear();
            }
            panic!("contender exited without a result");
        };
        for o in &mut outs {
            assert_eq!(read_tagged(o), "READY");
        }
        for k in &mut kids {
            k.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        }
        let results: Vec<String> = outs.iter_mut().map(read_tagged).collect();
        let winners: Vec<&String> = results.iter().filter(|r| r.starts_with("WON")).collect();
        assert_eq!(winners.len(), 1, "trial {trial}: {results:?}");
        let winner_pid = winners[0].trim_start_matches("WON ");
        let loser = results.iter().find(|r| r.starts_with("LOST")).unwrap();
        assert!(
            loser.contains("another rampart daemon is running")
                && loser.contains(&format!("(pid {winner_pid})")),
            "trial {trial}: the loser says who holds it: {loser}"
        );
        for k in &mut kids {
            drop(k.stdin.take());
            assert!(k.wait().unwrap().success());
        }
    }
}
