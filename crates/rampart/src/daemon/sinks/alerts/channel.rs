//! A delivery channel (one e-mail transport, one webhook) on its own
//! thread behind its own bounded queue, with bounded retries and the
//! counters `status` shows.
//!
//! The alert thread never waits for delivery: it offers a message and
//! moves on; a full queue drops the message and counts it. A hung SMTP
//! server or webhook costs at most `timeout` per attempt and
//! `1 + retries` attempts per message (backoff 1 s, 2 s, 4 s … capped at
//! 30 s); meanwhile only this channel's queue fills. A channel whose last
//! attempt failed shows `failing: true` with the error.

use super::kinds::Alert;
use super::templates::Rendered;
use rampart_core::config::alerts::{AlertKind, KindSet};
use rampart_core::time::format_rfc3339;
use serde::Serialize;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Messages waiting per channel.
pub const QUEUE: usize = 64;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A message for the channels.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Its kind.
    pub kind: AlertKind,
    /// The data (the JSON webhook sends it).
    pub alert: Arc<Alert>,
    /// The rendered parts.
    pub rendered: Arc<Rendered>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (timeout, refused connection, 5xx, 4xx SMTP).
    Transient(String),
    /// Not (5xx SMTP, 4xx HTTP, a bad address).
    Permanent(String),
}

/// One way out.
pub trait Deliver: Send + 'static {
    /// Shown in `status`: no secrets (no passwords, no webhook paths).
    fn name(&self) -> String;
    /// One attempt.
    fn deliver(&mut self, msg: &Outgoing) -> Result<(), Failure>;
}

/// A channel's counters, as `status` shows them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelReport {
    /// `email smtp://mail.example.net:587`, `webhook https://hooks.example.net/…`.
    pub name: String,
    /// Messages delivered.
    pub sent: u64,
    /// Messages given up on (after their retries).
    pub failed: u64,
    /// Attempts that were retried.
    pub retried: u64,
    /// Messages lost because the queue was full.
    pub dropped: u64,
    /// Messages waiting or being delivered.
    pub queued: u64,
    /// Whether the last attempt failed.
    pub failing: bool,
    /// The last error.
    pub last_error: Option<String>,
    /// When (RFC 3339).
    pub last_error_at: Option<String>,
    /// The last success (RFC 3339).
    pub last_ok_at: Option<String>,
}

type Stats = Arc<Mutex<ChannelReport>>;

fn with<T>(s: &Stats, f: impl FnOnce(&mut ChannelReport) -> T) -> T {
    f(&mut s.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The alert thread's side of a channel.
pub struct Channel {
    tx: SyncSender<Outgoing>,
    stats: Stats,
    kinds: KindSet,
}

impl Channel {
    /// Starts `d` on its own thread; it gets the kinds in `kinds`.
    pub fn start(d: Box<dyn Deliver>, kinds: KindSet, retries: u32) -> std::io::Result<Channel> {
        let (tx, rx) = sync_channel(QUEUE);
        let stats = Arc::new(Mutex::new(ChannelReport {
            name: d.name(),
            ..ChannelReport::default()
        }));
        let s = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("alerts-channel".into())
            .spawn(move || work(d, &rx, &s, retries))?;
        Ok(Channel { tx, stats, kinds })
    }

    /// Queues `msg` if this channel takes its kind; never waits.
    pub fn offer(&self, msg: &Outgoing) {
        if !self.kinds.contains(msg.kind) {
            return;
        }
        with(&self.stats, |s| s.queued += 1);
        match self.tx.try_send(msg.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => with(&self.stats, |s| {
                s.queued -= 1;
                s.dropped += 1;
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        Arc::clone(&self.stats)
    }
}

fn work(mut d: Box<dyn Deliver>, rx: &Receiver<Outgoing>, stats: &Stats, retries: u32) {
    while let Ok(msg) = rx.recv() {
        let mut attempt = 0;
        loop {
            let r = d.deliver(&msg);
            let now = format_rfc3339(crate::settings::now());
            match r {
                Ok(()) => {
                    with(stats, |s| {
                        s.sent += 1;
                        s.failing = false;
                        s.last_ok_at = Some(now);
                    });
                    break;
                }
                Err(f) => {
                    let (msg_text, again) = match f {
                        Failure::Transient(m) => (m, attempt < retries),
                        Failure::Permanent(m) => (m, false),
                    };
                    tracing::warn!(
                        "alerts: {}: {msg_text}{}",
                        d.name(),
                        if again { "; retrying" } else { "" }
                    );
                    with(stats, |s| {
                        s.failing = true;
                        s.last_error = Some(msg_text);
                        s.last_error_at = Some(now);
                        if again {
                            s.retried += 1;
                        } else {
                            s.failed += 1;
                        }
                    });
                    if !again {
                        break;
                    }
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                }
            }
        }
        with(stats, |s| s.queued = s.queued.saturating_sub(1));
    }
}

/// 1 s, 2 s, 4 s, … capped at [`MAX_BACKOFF`].
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    struct Flaky {
        fail_first: u32,
        calls: Arc<Mutex<u32>>,
        permanent: bool,
    }

    impl Deliver for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }
        fn deliver(&mut self, _: &Outgoing) -> Result<(), Failure> {
            let mut c = self.calls.lock().expect("lock");
            *c += 1;
            match (*c <= self.fail_first, self.permanent) {
                (false, _) => Ok(()),
                (true, false) => Err(Failure::Transient("timed out".into())),
                (true, true) => Err(Failure::Permanent("550 no such user".into())),
            }
        }
    }

    fn msg() -> Outgoing {
        let r = rampart_core::explain::builtin();
        let cx = super::super::kinds::Context {
            host: "h",
            reasons: &r,
            now: 0,
        };
        Outgoing {
            kind: AlertKind::Lifecycle,
            alert: Arc::new(cx.build(
                AlertKind::Lifecycle,
                &crate::daemon::events::Event::Lifecycle("started".into()),
                &Default::default(),
            )),
            rendered: Arc::new(Rendered {
                subject: String::new(),
                text: String::new(),
                html: String::new(),
            }),
        }
    }

    fn settle(stats: &Stats) -> ChannelReport {
        let t0 = Instant::now();
        while with(stats, |s| s.queued) > 0 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        with(stats, |s| s.clone())
    }

    #[test]
    fn transient_failures_are_retried_a_bounded_number_of_times() {
        let calls = Arc::new(Mutex::new(0));
        let d = Flaky {
            fail_first: 1,
            calls: Arc::clone(&calls),
            permanent: false,
        };
        let ch = Channel::start(Box::new(d), KindSet::ALL, 2).expect("thread");
        ch.offer(&msg());
        let r = settle(&ch.stats());
        assert_eq!((r.sent, r.retried, r.failed, r.failing), (1, 1, 0, false));
        assert!(r.last_error.is_some_and(|e| e == "timed out"));
        let calls = Arc::new(Mutex::new(0));
        let d = Flaky {
            fail_first: 100,
            calls: Arc::clone(&calls),
            permanent: true,
        };
        let ch = Channel::start(Box::new(d), KindSet::ALL, 2).expect("thread");
        ch.offer(&msg());
        let r = settle(&ch.stats());
        assert_eq!(
            (r.sent, r.retried, r.failed, r.failing),
            (0, 0, 1, true),
            "a permanent failure is not retried"
        );
        assert_eq!(*calls.lock().expect("lock"), 1);
    }

    #[test]
    fn a_channel_gets_only_its_kinds() {
        let calls = Arc::new(Mutex::new(0));
        let d = Flaky {
            fail_first: 0,
            calls: Arc::clone(&calls),
            permanent: false,
        };
        let mut kinds = KindSet::ALL;
        kinds.set(AlertKind::Lifecycle, false);
        let ch = Channel::start(Box::new(d), kinds, 0).expect("thread");
        ch.offer(&msg());
        assert_eq!(settle(&ch.stats()).sent, 0);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(9), MAX_BACKOFF);
    }
}
