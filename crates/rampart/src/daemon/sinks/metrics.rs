//! The metrics sink: counts the events the Prometheus endpoint reports
//! (attacks per rule and reason, bans per reason and origin, the
//! line→kernel latency, unblocks and self-unblocks) into the shared
//! [`Metrics`](crate::daemon::web::metrics::Metrics). A bus sink behind a
//! drop-newest queue, so counting never slows a ban; events it lost are
//! themselves counted (`rampart_sink_dropped_total{sink="metrics"}`).

use super::Sink;
use crate::daemon::events::{BanOrigin, Event};
use crate::daemon::web::metrics::Metrics;
use std::sync::Arc;

/// Events counted.
pub fn wants(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Attack(_)
            | Event::BanApplied(_)
            | Event::BanFailed(..)
            | Event::Unblocked { .. }
            | Event::SelfUnblock { .. }
            | Event::ConsoleLogin { .. }
    )
}

/// The sink.
pub struct MetricsSink {
    /// Where the counts go.
    pub metrics: Arc<Metrics>,
}

/// The `origin` label of a ban.
pub fn origin_label(o: &BanOrigin) -> &'static str {
    o.kind()
}

impl Sink for MetricsSink {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn handle(&mut self, ev: &Event) {
        let m = &self.metrics;
        match ev {
            Event::Attack(a) => m.attack(&a.rule, &a.reason),
            Event::BanApplied(b) => {
                m.ban(&b.reason, origin_label(&b.origin), b.read_at.elapsed());
            }
            Event::BanFailed(b, _) => m.ban_failed(&b.reason),
            Event::Unblocked { by, .. } => m.unblocked(by),
            Event::SelfUnblock { .. } => m.unblocked("self-unblock"),
            Event::ConsoleLogin { .. } => m.console_login(),
            _ => {}
        }
    }
}
