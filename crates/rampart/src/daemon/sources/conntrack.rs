//! Connections per source from a periodic conntrack dump (CSF's CT_LIMIT).

use super::{Feed, Source};
use crate::daemon::events::Input;
use std::time::Duration;

/// Dumps conntrack every `interval`.
pub struct ConntrackSource {
    /// Time between dumps.
    pub interval: Duration,
}

impl Source for ConntrackSource {
    fn name(&self) -> String {
        "conntrack".into()
    }

    fn run(self: Box<Self>, feed: Feed) {
        let filter = rampart_nft::CtFilter {
            skip_time_wait: true,
            ..rampart_nft::CtFilter::default()
        };
        while !feed.stopped() {
            std::thread::sleep(self.interval);
            match rampart_nft::dump_conntrack() {
                Ok(entries) => {
                    let counts = rampart_nft::count_by_source(&entries, &filter);
                    if !feed.send(Input::ConnCounts(counts)) {
                        return;
                    }
                }
                Err(e) => {
                    feed.notice("conntrack", e.to_string(), true);
                }
            }
        }
    }
}
