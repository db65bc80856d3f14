//! The control socket: `STATE_DIR/rampart.sock`, a Unix stream socket
//! (mode 0600: root only) speaking one JSON request and one JSON reply per
//! connection. The CLI asks the running daemon for what only it knows
//! (detector counts, its statistics) and tells it what it must forget
//! (an unblocked address's counters) or reload; without a daemon the CLI
//! works directly on the store and the kernel.

use rampart_store::statedir;
use serde_json::{Value, json};
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
    let path = socket_path(state_dir);
    match statedir::check_socket(&path) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            eprintln!("rampart: warning: {e}");
            return None;
        }
    }
    let mut s = UnixStream::connect(&path).ok()?;
    if let Err(e) = statedir::check_peer(&s, &path) {
        eprintln!("rampart: warning: {e}");
        return None;
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut line = serde_json::to_vec(req).ok()?;
    line.push(b'\n');
    s.write_all(&line).ok()?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).ok()?;
    serde_json::from_str(&reply).ok()
}

/// The daemon's side: a non-blocking listener polled from the main loop.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Binds the socket (replacing a stale one), readable by root only.
    pub fn bind(state_dir: &Path) -> std::io::Result<Server> {
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
        listener.set_nonblocking(true)?;
        Ok(Server { listener, path })
    }

    /// Answers the pending connections with `handle(request) -> reply`.
    pub fn poll(&self, handle: &mut dyn FnMut(&Value) -> Value) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = serve(stream, handle);
        }
    }
}

fn serve(stream: UnixStream, handle: &mut dyn FnMut(&Value) -> Value) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let reply = match serde_json::from_str::<Value>(&line) {
        Ok(req) => handle(&req),
        Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
    };
    let mut out = serde_json::to_vec(&reply)?;
    out.push(b'\n');
    (&stream).write_all(&out)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
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
        let server = Server::bind(&dir).unwrap();
        let mode = std::fs::metadata(socket_path(&dir))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(Server::bind(&dir).is_err(), "a second daemon is refused");
        let d2 = dir.clone();
        let client = std::thread::spawn(move || request(&d2, &json!({"cmd": "ping", "n": 7})));
        let t0 = std::time::Instant::now();
        while !client.is_finished() && t0.elapsed() < Duration::from_secs(5) {
            server.poll(&mut |req| json!({"ok": true, "echo": req["n"]}));
            std::thread::sleep(Duration::from_millis(5));
        }
        let reply = client.join().unwrap().unwrap();
        assert_eq!(reply["echo"], 7);
        drop(server);
        assert!(!socket_path(&dir).exists(), "the socket is removed on exit");
        let _ = std::fs::remove_dir_all(dir);
    }
}
