//! What the messenger tells an address about itself: its deny entries in
//! force, as the store holds them, with the catalogue's texts, and whether
//! it may lift them itself. Only ever the requester's own data: the
//! address looked up is the peer of the connection, never a parameter.

use std::net::IpAddr;

use rampart_core::config::MessengerConfig;
use rampart_core::config::messenger::BanFacts;
use rampart_core::explain::Reason;
use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_store::{Entry, Kind, Store};
use serde::Serialize;

use super::refcode;

/// Who lifted a block themselves, in the store's history.
pub const SELF_UNBLOCK: &str = "self-unblock";

/// One block, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// The blocked address or network.
    pub target: String,
    /// The reason code.
    pub reason: String,
    /// The catalogue's title (the code when the catalogue has none).
    pub title: String,
    /// What usually causes it.
    pub explanation: String,
    /// What to do.
    pub remedy: String,
    /// The service that reported it (the rule's family: `dovecot`, `sshd`).
    pub service: Option<String>,
    /// Attempts counted, when the summary says.
    pub attempts: Option<u64>,
    /// The account tried, when the evidence names one (the requester's
    /// own lines only).
    pub account: Option<String>,
    /// The evidence lines, to find the account in.
    #[serde(skip)]
    evidence: Vec<String>,
    /// When it was decided (RFC 3339, UTC).
    pub when: String,
    /// Blocked since.
    pub since: String,
    /// Blocked until; `None`: permanent.
    pub until: Option<String>,
    /// The reference code for `rampart why REF`.
    pub reference: String,
    /// May the requester lift it.
    pub self_unblockable: bool,
}

/// Everything the page says to one address.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The requester.
    pub address: String,
    /// Its blocks that get the page.
    pub blocks: Vec<Block>,
    /// Every deny entry covering it may be lifted by the requester (and
    /// there is at least one).
    pub can_unblock: bool,
    /// The targets to unblock (every deny entry covering the address).
    #[serde(skip)]
    pub targets: Vec<rampart_core::addr::Net>,
}

impl View {
    /// Fills in the account each block's evidence shows `ip` tried.
    pub fn fill_accounts(
        &mut self,
        accounts: &super::accounts::Accounts,
        ip: IpAddr,
        now: Timestamp,
    ) {
        for b in &mut self.blocks {
            b.account = accounts.tried(ip, &b.evidence, now);
        }
    }

    /// Whether the page has anything to say.
    pub fn blocked(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// The first block's reason code, title and reference (protocol messages).
    pub fn headline(&self) -> Option<&Block> {
        self.blocks.first()
    }
}

/// Reads the view of `ip` at `now`.
pub fn view(
    store: &Store,
    cfg: &MessengerConfig,
    reasons: &[Reason],
    ip: IpAddr,
    now: Timestamp,
) -> rampart_store::Result<View> {
    let entries: Vec<Entry> = store
        .covering(ip, now)?
        .into_iter()
        .filter(|e| e.kind == Kind::Deny)
        .collect();
    let recently = self_unblocked_since(store, ip, now - cfg.self_unblock_period_secs as i64)?;
    let mut all_liftable = !entries.is_empty();
    let mut blocks = Vec::new();
    for e in &entries {
        let r = reasons.iter().find(|r| r.code == e.reason);
        let facts = BanFacts {
            reason: &e.reason,
            permanent: e.expires.is_none(),
            level: e.level,
            self_unblocked_recently: recently,
        };
        let liftable = cfg.self_unblockable(&facts, r.is_some_and(|r| r.self_unblock));
        all_liftable &= liftable;
        if cfg.gets_page(&e.reason) {
            blocks.push(block(e, r, liftable));
        }
    }
    Ok(View {
        address: ip.to_string(),
        can_unblock: all_liftable && !blocks.is_empty(),
        targets: entries.iter().map(|e| e.target).collect(),
        blocks,
    })
}

/// Whether `ip` lifted a block itself at or after `since`.
pub fn self_unblocked_since(
    store: &Store,
    ip: IpAddr,
    since: Timestamp,
) -> rampart_store::Result<bool> {
    Ok(store
        .history_for(ip)?
        .iter()
        .any(|h| h.ended >= since && h.by.as_deref() == Some(SELF_UNBLOCK)))
}

fn block(e: &Entry, r: Option<&Reason>, self_unblockable: bool) -> Block {
    let text = |f: fn(&Reason) -> &String| r.map(|r| f(r).clone()).unwrap_or_default();
    Block {
        target: e.target.to_string(),
        reason: e.reason.clone(),
        title: r.map_or_else(|| e.reason.clone(), |r| r.title.clone()),
        explanation: text(|r| &r.explanation),
        remedy: text(|r| &r.remedy),
        service: e
            .rule
            .as_deref()
            .and_then(|r| r.split('.').next())
            .map(str::to_string),
        attempts: attempts(&e.summary),
        account: None,
        evidence: e.evidence.clone(),
        when: format_rfc3339(e.created),
        since: format_rfc3339(e.since),
        until: e.expires.map(format_rfc3339),
        reference: refcode::code(e.id, e.target, e.created),
        self_unblockable,
    }
}

/// The count of a CSF-style summary (`...: 5 in the last 3600 secs`).
fn attempts(summary: &str) -> Option<u64> {
    let (head, _) = summary.rsplit_once(" in the last ")?;
    let (_, n) = head.rsplit_once(": ")?;
    n.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_come_from_the_summary() {
        assert_eq!(
            attempts(
                "(smtpauth) Failed SMTP AUTH login from 198.51.100.7: 5 in the last 3600 secs"
            ),
            Some(5)
        );
        assert_eq!(attempts("Manually denied: 198.51.100.7"), None);
    }
}
