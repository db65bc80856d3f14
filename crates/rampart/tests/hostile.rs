//! A hostile local user against the CLI (issue 8): a world-writable or
//! user-owned state directory, a planted symlink, a database swapped in by
//! another user, and a control socket planted by another user's process.
//! No netfilter is touched (`list` reads the store only; `reload` only
//! talks to the socket).
//!
//! The other user is `nobody` (uid 65534), and its process is a real one
//! (`setpriv`); tests that need root say SKIPPED without it, or fail with
//! `RAMPART_REQUIRE_ROOT_TESTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn need_root(test: &str) -> bool {
    if is_root() && Path::new("/usr/bin/setpriv").exists() && Path::new("/usr/bin/python3").exists()
    {
        return true;
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_ROOT_TESTS").as_deref() != Ok("1"),
        "{test} needs root, setpriv and /usr/bin/python3, and RAMPART_REQUIRE_ROOT_TESTS=1 forbids skipping"
    );
    eprintln!("SKIPPED {test}: needs root, setpriv (util-linux) and /usr/bin/python3");
    false
}

/// A private scratch directory (removed on drop) holding `state/`.
struct Scratch {
    root: PathBuf,
    state: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("rampart-hostile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = root.join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        Scratch { root, state }
    }

    fn rampart(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .env("RAMPART_STATE_DIR", &self.state)
            .env(
                "RAMPART_CONFIG",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/empty.toml"),
            )
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

#[test]
fn firewall_commands_refuse_a_world_writable_state_dir() {
    let s = Scratch::new("writable");
    assert!(
        s.rampart(&["list"]).status.success(),
        "a sane state dir works"
    );
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = s.rampart(&["list"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "must refuse: {err}");
    assert!(
        err.contains(&format!("chmod go-w {}", s.state.display())) && err.contains("0777"),
        "{err}"
    );
}

#[test]
fn firewall_commands_refuse_a_planted_symlink() {
    let s = Scratch::new("symlink");
    let victim = s.root.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = s.state.join("offsets.json.tmp");
    symlink(&victim, &link).unwrap();
    let o = s.rampart(&["list"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "must refuse: {err}");
    assert!(err.contains(&format!("rm {}", link.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn firewall_commands_refuse_a_state_dir_or_database_owned_by_another_user() {
    if !need_root("firewall_commands_refuse_a_state_dir_or_database_owned_by_another_user") {
        return;
    }
    let s = Scratch::new("owner");
    assert!(s.rampart(&["list"]).status.success());
    // the attacker's database, swapped in
    let db = s.state.join("rampart.db");
    chown(&db, NOBODY);
    let o = s.rampart(&["list"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "must refuse: {err}");
    assert!(
        err.contains(&format!("chown root:root {}", db.display())) && err.contains("uid 65534"),
        "{err}"
    );
    chown(&db, 0);
    assert!(s.rampart(&["list"]).status.success());
    // the directory itself given away
    chown(&s.state, NOBODY);
    let err = stderr(&s.rampart(&["list"]));
    assert!(
        err.contains(&format!("chown root:root {}", s.state.display())),
        "{err}"
    );
}

/// A process of ours, killed (by its pid) when the test ends, even on panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fake daemon: a Unix socket served by `nobody` that logs what it is
/// asked and answers like the daemon would.
fn impostor(sock: &Path, log: &Path) -> Killed {
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
while True:
    c, _ = s.accept()
    try:
        data = c.recv(65536)
        with open(sys.argv[2], "ab") as f:
            f.write(data)
        c.sendall(b'{"ok": true, "message": "reloaded by the impostor"}\n')
    except OSError:
        pass
    c.close()
"#;
    let child = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(sock)
        .arg(log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the impostor did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn the_cli_refuses_a_control_socket_planted_by_another_user() {
    if !need_root("the_cli_refuses_a_control_socket_planted_by_another_user") {
        return;
    }
    let s = Scratch::new("socket");
    let log = s.root.join("asked.log");
    std::fs::write(&log, "").unwrap();
    chown(&log, NOBODY);
    let sock = s.state.join("rampart.sock");
    // the user could write into the state directory for a moment
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fake = impostor(&sock, &log);
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o700)).unwrap();

    // 1. the socket file is theirs
    let o = s.rampart(&["reload"]);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("refusing {}", sock.display()))
            && err.contains("uid 65534")
            && err.contains(&format!("chown root:root {}", sock.display())),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("impostor"));

    // 2. the file looks like root's, but the process answering is not
    chown(&sock, 0);
    let o = s.rampart(&["reload"]);
    let err = stderr(&o);
    assert!(
        err.contains("the process answering it runs as uid 65534")
            && err.contains(&format!("rm {}", sock.display())),
        "{err}"
    );
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stdout).contains("impostor"));

    drop(fake);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "no request ever reached the impostor"
    );
}
