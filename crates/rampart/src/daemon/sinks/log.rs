//! Bans and source trouble as log lines (journald picks them up).

use super::Sink;
use crate::daemon::events::Event;

/// Writes one line per applied or failed ban and per source problem.
pub struct LogSink;

/// The events this sink takes.
pub fn wants(ev: &Event) -> bool {
    matches!(
        ev,
        Event::BanApplied(_) | Event::BanFailed(..) | Event::Unblocked { .. }
    )
}

impl Sink for LogSink {
    fn name(&self) -> &'static str {
        "log"
    }

    fn handle(&mut self, ev: &Event) {
        match ev {
            Event::BanApplied(b) => tracing::info!(
                "banned {} {}: {}",
                b.target,
                b.len
                    .map(|l| format!("for {l}s"))
                    .unwrap_or_else(|| "permanently".into()),
                rampart_core::text::escape_controls(&b.summary)
            ),
            Event::BanFailed(b, e) => tracing::error!(
                "NOT ENFORCED: the kernel refused the ban of {} ({e}); retrying",
                b.target
            ),
            Event::Unblocked { target, by, .. } => tracing::info!("unblocked {target} ({by})"),
            _ => {}
        }
    }
}
