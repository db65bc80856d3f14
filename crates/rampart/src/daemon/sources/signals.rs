//! SIGTERM/SIGINT (stop) and SIGHUP (reload) as inputs.

use super::{Feed, Source};
use crate::daemon::events::{Input, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The process's signals.
pub struct SignalSource {
    signals: Signals,
}

impl SignalSource {
    /// Installs the handlers (before any other thread starts).
    pub fn install() -> std::io::Result<SignalSource> {
        Ok(SignalSource {
            signals: Signals::new([SIGTERM, SIGINT, SIGHUP])?,
        })
    }
}

impl Source for SignalSource {
    fn name(&self) -> String {
        "signals".into()
    }

    fn run(mut self: Box<Self>, feed: Feed) {
        for sig in self.signals.forever() {
            let s = if sig == SIGHUP {
                Signal::Reload
            } else {
                Signal::Stop
            };
            // a stop is always delivered, even while the detector is busy
            if feed.tx.send(Input::Signal(s)).is_err() {
                return;
            }
        }
    }
}
