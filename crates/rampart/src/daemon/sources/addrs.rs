//! The host's own addresses as a source: an rtnetlink subscription, so an
//! address added while the daemon runs (a new IP for a customer, a
//! failover address) is protected from detectors at once.

use super::{Feed, Source};
use crate::daemon::events::Input;
use rampart_core::addr::Net;
use rampart_nft::{AddrChange, AddrWatcher, dump_addresses};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The watcher and the addresses it knows.
pub struct AddrSource {
    watcher: AddrWatcher,
    known: BTreeSet<IpAddr>,
}

impl AddrSource {
    /// Subscribes, then dumps (no change falls in between).
    pub fn open() -> Result<AddrSource, rampart_nft::NftError> {
        let watcher = AddrWatcher::new()?;
        let known = dump_addresses()?.into_iter().map(|h| h.addr).collect();
        Ok(AddrSource { watcher, known })
    }

    /// The addresses as host networks.
    pub fn nets(&self) -> Vec<Net> {
        self.known.iter().map(|a| Net::host(*a)).collect()
    }

    /// Applies the pending changes; whether anything changed.
    fn apply(&mut self, feed: &Feed) -> bool {
        let changes = match self.watcher.changes() {
            Ok(c) => c,
            Err(e) => {
                feed.notice("addresses", format!("address notifications: {e}"), true);
                return false;
            }
        };
        let before = self.known.clone();
        for c in changes {
            match c {
                AddrChange::Added(h) => {
                    self.known.insert(h.addr);
                }
                AddrChange::Removed(h) => {
                    self.known.remove(&h.addr);
                }
                AddrChange::Overflow => match dump_addresses() {
                    Ok(all) => self.known = all.into_iter().map(|h| h.addr).collect(),
                    Err(e) => {
                        feed.notice("addresses", format!("address dump: {e}"), true);
                    }
                },
            }
        }
        before != self.known
    }
}

impl Source for AddrSource {
    fn name(&self) -> String {
        "addresses".into()
    }

    fn run(mut self: Box<Self>, feed: Feed) {
        let timeout = Timespec {
            tv_sec: 60,
            tv_nsec: 0,
        };
        // what the subscription starts from, in case it changed since the
        // detector's own look at start
        if !feed.send(Input::OwnAddresses(self.nets())) {
            return;
        }
        while !feed.stopped() {
            let mut fds = [PollFd::new(&self.watcher, PollFlags::IN)];
            if poll(&mut fds, Some(&timeout)).is_err() {
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
            if self.apply(&feed) && !feed.send(Input::OwnAddresses(self.nets())) {
                return;
            }
        }
    }
}
