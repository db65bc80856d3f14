//! The page sets (`page4`/`page6`): which banned addresses are redirected
//! to the messenger. A sink: it hears bans applied and unblocks, and makes
//! the sets equal to the store's deny entries whose reason gets the page
//! (plus the bans applied in the last minute, which the enforcer may not
//! have recorded yet), replacing their content in one netlink transaction
//! — at most every [`SYNC_GAP`] while bans arrive, and every [`RESYNC`]
//! anyway (after a `rampart apply` or a flush rebuilt the table).
//!
//! The kernel's redirect also requires deny membership, so an element this
//! sink has not removed yet never redirects an address that is no longer
//! banned; a missing one only means the address is dropped silently, as
//! without the messenger.

use std::time::{Duration, Instant};

use rampart_core::addr::Net;
use rampart_core::config::MessengerConfig;
use rampart_core::time::Timestamp;
use rampart_firewall::{Expiry, Segment, element, segments};
use rampart_nft::{Firewall, NftFirewall, SetList};
use rampart_store::{Kind, ListFilter, Store};

use crate::daemon::events::Event;
use crate::daemon::sinks::Sink;
use crate::settings::now;

/// Quickest resync after a change.
const SYNC_GAP: Duration = Duration::from_millis(100);
/// Resync at least this often.
const RESYNC: Duration = Duration::from_secs(30);
/// How long an applied ban is kept in mind without the store.
const RECENT: Duration = Duration::from_secs(60);

/// The events the keeper takes.
pub fn wants(ev: &Event) -> bool {
    matches!(ev, Event::BanApplied(_) | Event::Unblocked { .. })
}

/// Keeps the page sets.
pub struct PageKeeper {
    fw: NftFirewall,
    store: Store,
    cfg: MessengerConfig,
    recent: Vec<(Net, Option<Timestamp>, Instant)>,
    dirty: bool,
    last: Instant,
    failing: bool,
}

impl PageKeeper {
    /// Opens netlink and the store.
    pub fn new(cfg: MessengerConfig, store: Store) -> anyhow::Result<PageKeeper> {
        Ok(PageKeeper {
            fw: NftFirewall::new()?,
            store,
            cfg,
            recent: Vec::new(),
            dirty: true,
            last: Instant::now(),
            failing: false,
        })
    }

    /// Makes the page sets what they must be now.
    pub fn sync(&mut self) {
        self.last = Instant::now();
        match self
            .desired()
            .and_then(|el| Ok(self.fw.replace(&SetList::Page, &el)?))
        {
            Ok(_) => {
                self.dirty = false;
                if std::mem::take(&mut self.failing) {
                    tracing::info!("messenger: the page sets are kept again");
                }
            }
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::warn!("messenger: cannot update the page sets (retrying): {e:#}");
            }
            Err(_) => {}
        }
    }

    fn desired(&mut self) -> anyhow::Result<Vec<rampart_nft::Element>> {
        let t = now();
        self.recent.retain(|r| r.2.elapsed() < RECENT);
        let filter = ListFilter {
            kind: Some(Kind::Deny),
            ..ListFilter::default()
        };
        let mut spans: Vec<Segment> = self
            .store
            .list(&filter, t)?
            .into_iter()
            .filter(|e| self.cfg.gets_page(&e.reason))
            .map(|e| Segment::of_net(e.target, Expiry::from_option(e.expires)))
            .collect();
        spans.extend(
            self.recent
                .iter()
                .map(|(n, exp, _)| Segment::of_net(*n, Expiry::from_option(*exp))),
        );
        Ok(segments(&spans, t).iter().map(|s| element(s, t)).collect())
    }
}

impl Sink for PageKeeper {
    fn name(&self) -> &'static str {
        "messenger"
    }

    fn handle(&mut self, ev: &Event) {
        match ev {
            Event::BanApplied(b) if self.cfg.gets_page(&b.reason) => {
                let exp = b.len.map(|l| b.decided + l);
                self.recent.push((b.target, exp, Instant::now()));
                self.dirty = true;
            }
            Event::Unblocked { .. } => self.dirty = true,
            _ => {}
        }
        if self.dirty && self.last.elapsed() >= SYNC_GAP {
            self.sync();
        }
    }

    fn tick(&mut self) {
        if self.dirty || self.last.elapsed() >= RESYNC {
            self.sync();
        }
    }

    fn wake_in(&self) -> Option<Duration> {
        let gap = if self.dirty { SYNC_GAP } else { RESYNC };
        Some(
            gap.saturating_sub(self.last.elapsed())
                .max(Duration::from_millis(10)),
        )
    }
}
