//! Sources: each runs on its own thread and feeds the detector through one
//! bounded channel of [`Input`]s.
//!
//! A source blocks on its own kind of readiness (a file's inotify events,
//! journalctl's pipe, the NFLOG socket, the control socket, signals, a
//! timer for conntrack dumps), so the daemon wakes only when there is
//! work. When the detector is busy the channel fills and sources wait:
//! lines are never dropped, they stay in the logs (whose read positions are
//! committed only with the bans they led to).
//!
//! Adding a source: a module here implementing [`Source`], started from
//! `daemon::start_sources`; a new kind of data gets an [`Input`] variant.

pub mod addrs;
pub mod conntrack;
pub mod control;
pub mod files;
pub mod fleet;
pub mod journal;
pub mod nflog;
pub mod signals;

use super::events::{Input, SourceNotice};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

/// A source of lines or observations.
pub trait Source: Send + 'static {
    /// A name for logs and thread names.
    fn name(&self) -> String;
    /// Reads until the feed is closed or stopped.
    fn run(self: Box<Self>, feed: Feed);
}

/// A source's handle on the detector's input channel.
#[derive(Clone)]
pub struct Feed {
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    /// A feed into `tx`, stopped when `stop` is set.
    pub fn new(tx: SyncSender<Input>, stop: Arc<AtomicBool>) -> Feed {
        Feed { tx, stop }
    }

    /// Sends an input, waiting while the detector is busy. `false` when the
    /// daemon is stopping (the source should end).
    pub fn send(&self, input: Input) -> bool {
        !self.stopped() && self.tx.send(input).is_ok()
    }

    /// Whether the daemon is stopping.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Reports trouble (or a notice) to the detector, which logs and counts it.
    pub fn notice(&self, source: &str, message: String, error: bool) -> bool {
        self.send(Input::Notice(SourceNotice {
            source: source.to_string(),
            message,
            error,
        }))
    }
}

/// Starts a source on its own named thread.
pub fn spawn(source: Box<dyn Source>, feed: Feed) -> std::io::Result<()> {
    let name = format!("src-{}", source.name());
    let name: String = name.chars().take(15).collect(); // the kernel's thread-name limit
    std::thread::Builder::new()
        .name(name)
        .spawn(move || source.run(feed))
        .map(|_| ())
}
