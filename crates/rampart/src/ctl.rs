//! The control socket: `STATE_DIR/rampart.sock`, a Unix stream socket
//! (mode 0600: root only) speaking one JSON request and one JSON reply per
//! connection. The daemon's listener is `daemon::sources::control`. The CLI asks the running daemon for what only it knows
//! (detector counts, its statistics) and tells it what it must forget
//! (an unblocked address's counters) or reload; without a daemon the CLI
//! works directly on the store and the kernel.

use rampart_store::statedir;
use serde_json::Value;
#[cfg(test)]
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket's path in a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("rampart.sock")
}

/// Sends one request to the daemon; `None` when no daemon answers, or
/// when the socket is not the daemon's: a socket that is not owned by root
/// (or the current user), or whose serving process is not, is refused
/// with a warning on stderr (a local user may be impersonating the daemon).
pub fn request(state_dir: &Path, req: &Value) -> Option<Value> {
    ask(state_dir, req, Duration::from_secs(5)).ok().flatten()
}

/// Sends one request and waits up to `timeout` for the reply: `Ok(None)`
/// when no daemon listens (the caller may act by itself), an error when a
/// daemon is there but the exchange failed (the caller must not act twice).
pub fn ask(state_dir: &Path, req: &Value, timeout: Duration) -> std::io::Result<Option<Value>> {
    let path = socket_path(state_dir);
    match statedir::check_socket(&path) {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => {
            eprintln!("rampart: warning: {e}");
            return Ok(None);
        }
    }
    let Ok(mut s) = UnixStream::connect(&path) else {
        return Ok(None);
    };
    if let Err(e) = statedir::check_peer(&s, &path) {
        eprintln!("rampart: warning: {e}");
        return Ok(None);
    }
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply)?;
    serde_json::from_str(&reply)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// Removes the socket file when the daemon's listener goes away.
pub struct SocketGuard {
    path: PathBuf,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The daemon's side: binds the socket (replacing a stale one), readable
/// by root only. Refuses when another daemon answers on it.
pub fn bind(state_dir: &Path) -> std::io::Result<(UnixListener, SocketGuard)> {
    let path = socket_path(state_dir);
    if UnixStream::connect(&path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another rampart daemon is running ({} answers)",
                path.display()
            ),
        ));
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, SocketGuard { path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply() {
        let dir = std::env::temp_dir().join(format!("rampart-ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            request(&dir, &json!({"cmd": "status"})).is_none(),
            "no daemon: no answer"
        );
        let (listener, guard) = bind(&dir).unwrap();
        let mode = std::fs::metadata(socket_path(&dir))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            let req: Value = serde_json::from_str(&line).unwrap();
            let mut out = serde_json::to_vec(&json!({"ok": true, "echo": req["n"]})).unwrap();
            out.push(b'\n');
            (&s).write_all(&out).unwrap();
            listener
        });
        let reply = request(&dir, &json!({"cmd": "ping", "n": 7})).unwrap();
        assert_eq!(reply["echo"], 7);
        let _listener = server.join().unwrap();
        assert!(bind(&dir).is_err(), "a second daemon is refused");
        drop(guard);
        assert!(!socket_path(&dir).exists(), "the socket is removed on exit");
        let _ = std::fs::remove_dir_all(dir);
    }
}
