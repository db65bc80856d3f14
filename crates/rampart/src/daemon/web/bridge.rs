//! The web runtime's way into the daemon: the same [`Input::Control`]
//! requests the control socket sends, so the detector thread stays the
//! one owner of its state and the enforcer the one writer of the store
//! and the kernel.
//!
//! A request waits on a blocking thread of the web runtime (never on a
//! runtime worker), so a busy detector delays an API answer but never the
//! other way round: the detector only ever does a `try`-free send into
//! the reply channel, which has room for the one answer.

use crate::daemon::events::{Input, LoginFailure};
use crate::daemon::sources::Feed;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

/// How long an API request waits for the daemon's answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle on the detector's input channel, for the web handlers.
#[derive(Clone)]
pub struct Bridge {
    feed: Feed,
}

impl Bridge {
    /// A bridge sending into `feed` (a clone of the sources' feed).
    pub fn new(feed: Feed) -> Bridge {
        Bridge { feed }
    }

    /// Sends a control request (`{"cmd": "status"}`, `{"cmd": "change",
    /// "change": ...}`, ...) and waits for the answer; an answer with
    /// `"ok": false` and an `"error"` when the daemon is stopping or too
    /// slow.
    pub async fn ask(&self, req: Value) -> Value {
        let feed = self.feed.clone();
        let asked = tokio::task::spawn_blocking(move || {
            let (tx, rx) = sync_channel(1);
            if !feed.send(Input::Control(req, tx)) {
                return json!({"ok": false, "error": "the daemon is stopping"});
            }
            rx.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(
                |_| json!({"ok": false, "error": "the daemon did not answer in time"}),
            )
        })
        .await;
        asked.unwrap_or_else(|e| json!({"ok": false, "error": format!("internal error: {e}")}))
    }

    /// Reports a failed console login or an unknown API token from `addr`
    /// to the detector (reason `console`); does not wait for the detector.
    pub fn login_failed(&self, addr: IpAddr, user: Option<String>, token: bool) {
        let feed = self.feed.clone();
        let failure = LoginFailure { addr, user, token };
        tokio::task::spawn_blocking(move || feed.send(Input::LoginFailed(failure)));
    }
}
