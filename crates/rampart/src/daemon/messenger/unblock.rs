//! A self-unblock goes the way `rampart unblock` goes: a `Change::Unblock`
//! over the daemon's control path (the enforcer: kernel, then store, the
//! one writer), then `forget`, which resets the detectors' counts for the
//! address and publishes `Event::Unblocked { by: "self-unblock" }`. The
//! history record says who (`self-unblock`), when, and from which browser
//! (the user agent, escaped and cut short), and `rampart why` shows it.

use std::net::IpAddr;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use rampart_core::addr::Net;
use rampart_core::text::escape_controls;
use rampart_firewall::Change;
use rampart_store::Removal;
use serde_json::{Value, json};

use super::lookup::SELF_UNBLOCK;
use crate::daemon::events::Input;
use crate::daemon::sources::Feed;

/// How long the daemon may take to confirm.
const WAIT: Duration = Duration::from_secs(30);

/// Lifts `targets` for `ip`; the error says why not.
pub fn lift(feed: &Feed, targets: &[Net], ip: IpAddr, user_agent: &str) -> Result<(), String> {
    let ua: String = escape_controls(user_agent).chars().take(200).collect();
    let comment = format!("from {ip}, user agent: {ua}");
    for t in targets {
        let change = Change::Unblock {
            target: *t,
            removal: Removal::by(SELF_UNBLOCK, Some(comment.clone())),
        };
        let c = serde_json::to_value(change).map_err(|e| e.to_string())?;
        ask(feed, json!({"cmd": "change", "change": c}))?;
    }
    ask(
        feed,
        json!({"cmd": "forget", "addr": ip.to_string(), "by": SELF_UNBLOCK}),
    )?;
    Ok(())
}

fn ask(feed: &Feed, req: Value) -> Result<Value, String> {
    let (tx, rx) = sync_channel(1);
    if !feed.send(Input::Control(req, tx)) {
        return Err("the daemon is stopping".into());
    }
    let reply = rx
        .recv_timeout(WAIT)
        .map_err(|_| "the daemon did not answer in time".to_string())?;
    if reply["ok"] == true {
        Ok(reply)
    } else {
        Err(reply["error"].as_str().unwrap_or("refused").to_string())
    }
}
