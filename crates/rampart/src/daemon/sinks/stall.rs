//! A sink that never returns, enabled only by `RAMPART_TEST_STALL_SINK=1`:
//! the end-to-end proof that a hung sink (an SMTP server that accepts and
//! then says nothing) neither delays bans nor grows memory — its queue
//! fills, then its events are dropped and counted in `status`.

use super::Sink;
use crate::daemon::events::Event;

/// Blocks forever on the first event.
pub struct StallSink;

/// It wants what an alert sink would: every ban.
pub fn wants(ev: &Event) -> bool {
    matches!(ev, Event::BanDecided(_) | Event::BanApplied(_))
}

/// Whether the test switch is on.
pub fn enabled() -> bool {
    std::env::var_os("RAMPART_TEST_STALL_SINK").is_some_and(|v| v == "1")
}

impl Sink for StallSink {
    fn name(&self) -> &'static str {
        "stall"
    }

    fn handle(&mut self, _ev: &Event) {
        loop {
            std::thread::park();
        }
    }
}
