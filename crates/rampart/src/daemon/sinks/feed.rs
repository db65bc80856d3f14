//! The live feed: every event, as one JSON object, for the API's
//! server-sent events (`GET /api/v1/events`) and the console's live page.
//!
//! A bus sink like the others (drop-newest queue: a slow web runtime
//! loses events, counted in `status`, and never slows detection). Its
//! thread turns each event into a [`FeedEvent`] and hands it to a tokio
//! broadcast channel; every connected client has its own bounded
//! receiver there, and a client that falls behind skips what it missed
//! (the SSE stream says how many) instead of holding the others up.

use super::Sink;
use crate::daemon::events::{BanOrigin, Event};
use rampart_core::time::format_rfc3339;
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// Events each client may fall behind by before it skips.
pub const CLIENT_BACKLOG: usize = 1024;

/// One event of the live feed (the `data` of an SSE message; its `event`
/// is `kind`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeedEvent {
    /// `attack`, `ban_decided`, `ban_applied`, `ban_failed`, `unblocked`,
    /// `source`, `lifecycle`, `reload_refused`, `refresh_failed`,
    /// `console_login`, `self_unblock`.
    pub kind: &'static str,
    /// The address or network concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A sentence for people (summary, message, error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Who: the ban's origin, the unblocker, the console user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Ban length in seconds (`null` inside a ban event: permanent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_secs: Option<Option<i64>>,
    /// When (RFC 3339), for attacks and bans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

fn origin(o: &BanOrigin) -> String {
    match o {
        BanOrigin::Fleet { node } => format!("fleet:{node}"),
        other => other.kind().into(),
    }
}

impl FeedEvent {
    fn bare(kind: &'static str) -> FeedEvent {
        FeedEvent {
            kind,
            target: None,
            reason: None,
            rule: None,
            text: None,
            by: None,
            ban_secs: None,
            time: None,
        }
    }

    /// The feed's view of `ev`.
    pub fn of(ev: &Event) -> FeedEvent {
        let mut f = FeedEvent::bare(ev.kind());
        match ev {
            Event::Attack(a) => {
                f.target = Some(a.ip.to_string());
                f.reason = Some(a.reason.clone());
                f.rule = Some(a.rule.clone());
                f.by = a.user.clone();
                f.time = Some(format_rfc3339(a.time));
            }
            Event::BanDecided(b) | Event::BanApplied(b) | Event::BanFailed(b, _) => {
                f.target = Some(b.target.to_string());
                f.reason = Some(b.reason.clone());
                f.rule = Some(b.rule.clone());
                f.text = Some(match ev {
                    Event::BanFailed(_, e) => e.clone(),
                    _ => b.summary.clone(),
                });
                f.by = Some(origin(&b.origin));
                f.ban_secs = Some(b.len);
                f.time = Some(format_rfc3339(b.decided));
            }
            Event::Unblocked { target, by, .. } => {
                f.target = Some(target.to_string());
                f.by = Some(by.clone());
            }
            Event::Source(n) => {
                f.by = Some(n.source.clone());
                f.text = Some(n.message.clone());
            }
            Event::Lifecycle(t) | Event::ReloadRefused(t) => f.text = Some(t.clone()),
            Event::RefreshFailed { what, error } => {
                f.by = Some(what.clone());
                f.text = Some(error.clone());
            }
            Event::ConsoleLogin { user, from } => {
                f.by = Some(user.clone());
                f.target = from.map(|a| a.to_string());
            }
            Event::SelfUnblock { target, reason } => {
                f.target = Some(target.to_string());
                f.reason = Some(reason.clone());
            }
        }
        f
    }
}

/// One event on the feed, with its JSON made once, by the first client
/// that needs it (the console's memory of recent events never does).
#[derive(Debug)]
pub struct FeedItem {
    /// The event.
    pub event: FeedEvent,
    json: OnceLock<String>,
}

impl FeedItem {
    /// The event as JSON (an SSE message's `data`).
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(&self.event).unwrap_or_default())
    }
}

/// The feed's sending side; clients subscribe to it.
pub type FeedSender = broadcast::Sender<Arc<FeedItem>>;

/// A new feed channel.
pub fn channel() -> FeedSender {
    broadcast::channel(CLIENT_BACKLOG).0
}

/// The feed sink: events → JSON → the broadcast channel.
pub struct FeedSink {
    /// Where the events go.
    pub tx: FeedSender,
}

/// The feed wants every event.
pub fn wants(_: &Event) -> bool {
    true
}

impl Sink for FeedSink {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn handle(&mut self, ev: &Event) {
        if self.tx.receiver_count() == 0 {
            return; // nobody is watching: no JSON to build
        }
        let _ = self.tx.send(Arc::new(FeedItem {
            event: FeedEvent::of(ev),
            json: OnceLock::new(),
        }));
    }
}
