//! Sinks: where decisions and events go.
//!
//! - The **enforcer** ([`enforcer`]) owns the kernel ([`kernel`]) and the
//!   store ([`store`]) because they must agree: on its own thread, it puts
//!   each pass's bans into the kernel first (a ban never waits for the
//!   database), then records them in the store together with the read
//!   positions they were decided at, retrying while the database is
//!   locked. Its queue blocks the detector when full: losing a ban is not
//!   an option, and netlink does not hang.
//! - **Event sinks** read [`Event`](super::events::Event)s from the
//!   [`Bus`](super::bus::Bus), each on its own thread behind its own bounded
//!   queue that drops (and counts) when full: [`log`] (ban lines for the
//!   journal), [`alerts`] (e-mail and webhooks) and, for tests of that
//!   guarantee, [`stall`], a sink that never returns; [`feed`] (the API's
//!   live events) and [`metrics`] (the Prometheus counters). The page
//!   plugs in here.
//!
//! Adding a sink: a module here implementing [`Sink`], registered in
//! `daemon::start_sinks` with its queue size, full policy and the events
//! it wants.

pub mod alerts;
pub mod enforcer;
pub mod feed;
pub mod fleet;
pub mod kernel;
pub mod log;
pub mod metrics;
pub mod stall;
pub mod store;

use super::bus::SinkRx;
use super::events::Event;
use std::time::Duration;

/// A consumer of events, run on its own thread.
pub trait Sink: Send + 'static {
    /// A name for threads and `status`.
    fn name(&self) -> &'static str;
    /// Handles one event.
    fn handle(&mut self, ev: &Event);
    /// Periodic work (digests, summaries), called when [`Sink::wake_in`]
    /// passed without an event.
    fn tick(&mut self) {}
    /// How long the sink may wait for an event before its next
    /// [`Sink::tick`] (`None`: no periodic work).
    fn wake_in(&self) -> Option<Duration> {
        None
    }
}

/// Runs a sink on its own thread until the bus goes away.
pub fn spawn(mut sink: Box<dyn Sink>, rx: SinkRx) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("sink-{}", sink.name()))
        .spawn(move || {
            loop {
                let wait = sink.wake_in().unwrap_or(Duration::from_secs(3600));
                match rx.next(wait) {
                    Ok(Some(ev)) => sink.handle(&ev),
                    Ok(None) => sink.tick(),
                    Err(_) => break,
                }
            }
        })
        .map(|_| ())
}
