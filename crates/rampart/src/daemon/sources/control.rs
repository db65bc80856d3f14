//! The control socket as a source: each request becomes an
//! [`Input::Control`] answered by the detector thread, the one owner of
//! the state the answers come from (counts, status) and the one writer of
//! changes.

use super::{Feed, Source};
use crate::ctl;
use crate::daemon::events::Input;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

/// The bound control socket.
pub struct ControlSource {
    listener: UnixListener,
    guard: ctl::SocketGuard,
}

impl ControlSource {
    /// Binds `STATE_DIR/rampart.sock` (root only).
    pub fn bind(state_dir: &Path) -> std::io::Result<ControlSource> {
        let (listener, guard) = ctl::bind(state_dir)?;
        Ok(ControlSource { listener, guard })
    }
}

impl Source for ControlSource {
    fn name(&self) -> String {
        "control".into()
    }

    fn run(self: Box<Self>, feed: Feed) {
        let _guard = self.guard;
        for stream in self.listener.incoming() {
            if feed.stopped() {
                return;
            }
            if let Ok(s) = stream {
                // one request at a time: a slow client holds only this thread
                let _ = serve(s, &feed);
            }
        }
    }
}

fn serve(stream: UnixStream, feed: &Feed) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?)
        .take(1 << 20)
        .read_line(&mut line)?;
    let reply = match serde_json::from_str::<Value>(&line) {
        Ok(req) => ask(feed, req),
        Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
    };
    let mut out = serde_json::to_vec(&reply)?;
    out.push(b'\n');
    (&stream).write_all(&out)
}

fn ask(feed: &Feed, req: Value) -> Value {
    let (tx, rx) = sync_channel(1);
    if !feed.send(Input::Control(req, tx)) {
        return json!({"ok": false, "error": "the daemon is stopping"});
    }
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| json!({"ok": false, "error": "the daemon did not answer in time"}))
}
