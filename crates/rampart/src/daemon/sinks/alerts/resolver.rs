//! Reverse DNS and country lookups for alerts, on a thread of their own.
//!
//! The alert thread asks and waits at most `timeout` for the answer; a
//! slow or dead resolver costs an alert its rDNS, never more, and never
//! touches detection. Requests go through a small bounded queue (a full
//! one is answered "unknown" at once), answers are cached (bounded), and
//! the country database (`[country] database`) is opened on the resolver
//! thread the first time it is needed, so a large CSV never delays the
//! alert thread either.

use super::kinds::Lookup;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Requests waiting for the resolver thread.
const QUEUE: usize = 16;
/// Answers remembered.
const CACHE: usize = 4096;

type Request = (IpAddr, SyncSender<Lookup>);

/// The asking side.
pub struct Resolver {
    tx: Option<SyncSender<Request>>,
    timeout: Duration,
}

impl Resolver {
    /// Starts the resolver thread; `country_db` is the configured database.
    pub fn start(country_db: Option<String>, rdns: bool, timeout: Duration) -> Resolver {
        let (tx, rx) = sync_channel::<Request>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("alerts-resolver".into())
            .spawn(move || serve(&rx, country_db, rdns));
        Resolver {
            tx: spawned.ok().map(|_| tx),
            timeout,
        }
    }

    /// What is known of `ip` within the timeout.
    pub fn lookup(&self, ip: IpAddr) -> Lookup {
        let Some(tx) = &self.tx else {
            return Lookup::default();
        };
        let (atx, arx) = sync_channel(1);
        match tx.try_send((ip, atx)) {
            Ok(()) => arx.recv_timeout(self.timeout).unwrap_or_default(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Lookup::default(),
        }
    }
}

fn serve(rx: &Receiver<Request>, country_db: Option<String>, rdns: bool) {
    let mut cache: HashMap<IpAddr, Lookup> = HashMap::new();
    let mut db: Option<Option<rampart_lists::country::CountryDb>> = None;
    while let Ok((ip, reply)) = rx.recv() {
        if let Some(hit) = cache.get(&ip) {
            let _ = reply.try_send(hit.clone());
            continue;
        }
        let db = db.get_or_insert_with(|| open_db(country_db.as_deref()));
        let country = db
            .as_ref()
            .and_then(|d| d.country_of(ip).ok().flatten())
            .map(|c| (c.code.to_string(), c.name.clone()));
        let rdns = if rdns {
            dns_lookup::lookup_addr(&ip)
                .ok()
                .filter(|n| n.parse::<IpAddr>().is_err())
        } else {
            None
        };
        let found = Lookup { rdns, country };
        if cache.len() >= CACHE {
            cache.clear();
        }
        cache.insert(ip, found.clone());
        let _ = reply.try_send(found);
    }
}

fn open_db(path: Option<&str>) -> Option<rampart_lists::country::CountryDb> {
    match rampart_firewall::country_db(path) {
        Ok(db) => db,
        Err(e) => {
            tracing::warn!("alerts: no countries: {e:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_and_a_missing_database_is_no_country() {
        let r = Resolver::start(
            Some("/nonexistent.mmdb".into()),
            true,
            Duration::from_secs(5),
        );
        let l = r.lookup(IpAddr::from([127, 0, 0, 1]));
        assert!(l.country.is_none());
        // /etc/hosts names loopback on every Linux
        assert!(l.rdns.is_some_and(|n| !n.is_empty()));
        let off = Resolver::start(None, false, Duration::from_secs(5));
        assert!(off.lookup(IpAddr::from([127, 0, 0, 1])).rdns.is_none());
    }
}
