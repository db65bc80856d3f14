//! The kernel's packet reports (NFLOG): new connections to closed ports
//! (port scans) and packets over per-source limits.

use super::{Feed, Source};
use crate::daemon::events::Input;
use rampart_nft::NflogReceiver;
use std::time::Duration;

/// The NFLOG group the ruleset logs to.
pub struct NflogSource {
    rx: NflogReceiver,
}

impl NflogSource {
    /// Binds the NFLOG group.
    pub fn bind(group: u16) -> Result<NflogSource, rampart_nft::NftError> {
        Ok(NflogSource {
            rx: NflogReceiver::bind(group)?,
        })
    }
}

impl Source for NflogSource {
    fn name(&self) -> String {
        "nflog".into()
    }

    fn run(mut self: Box<Self>, feed: Feed) {
        let mut failures = 0u32;
        while !feed.stopped() {
            // blocks until packets arrive; the timeout only bounds how
            // late a stop is noticed
            match self.rx.recv(Duration::from_secs(30)) {
                Ok(p) if p.is_empty() => {}
                Ok(p) => {
                    failures = 0;
                    if !feed.send(Input::Packets(p)) {
                        return;
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures <= 3 || failures.is_power_of_two() {
                        feed.notice("nflog", format!("{e} (x{failures})"), true);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}
