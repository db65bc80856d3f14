//! The records the store keeps: entries (what is in force) and history
//! (how entries ended).

use std::net::IpAddr;

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use serde::{Deserialize, Serialize, Serializer};

/// Which list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Blocked: the kernel drops the address's traffic.
    Deny,
    /// Opened: the firewall admits the address (beats deny and the port policy).
    Allow,
    /// Never blocked by a detector; still subject to the port policy.
    Ignore,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 3] = [Kind::Deny, Kind::Allow, Kind::Ignore];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deny => "deny",
            Kind::Allow => "allow",
            Kind::Ignore => "ignore",
        }
    }

    /// Parses [`Kind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who or what created an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A log detector's ban decision.
    Detector,
    /// An administrator (`rampart deny/allow/ignore`).
    Manual,
    /// A blocklist feed.
    Blocklist,
    /// Country blocking.
    Country,
    /// Another server of the cluster.
    Cluster,
}

impl Origin {
    /// Every origin.
    pub const ALL: [Origin; 5] = [
        Origin::Detector,
        Origin::Manual,
        Origin::Blocklist,
        Origin::Country,
        Origin::Cluster,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Detector => "detector",
            Origin::Manual => "manual",
            Origin::Blocklist => "blocklist",
            Origin::Country => "country",
            Origin::Cluster => "cluster",
        }
    }

    /// Parses [`Origin::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to add. The store normalises `target` (host bits cleared,
/// IPv4-mapped IPv6 as IPv4) before storing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    /// Which list.
    pub kind: Kind,
    /// The address or network.
    #[serde(serialize_with = "ser_net")]
    pub target: Net,
    /// The reason code (`sshd`, `smtpauth`, …; `manual` for admin entries).
    pub reason: String,
    /// The rule that decided (`sshd.failed_auth`), if any.
    pub rule: Option<String>,
    /// The admin summary, CSF style: `(sshd) Failed SSH login from …`.
    pub summary: String,
    /// The log lines that led to the entry, oldest first.
    pub evidence: Vec<String>,
    /// ISO country code of the target, when a GeoIP database is configured.
    pub country: Option<String>,
    /// Who created it.
    pub origin: Origin,
    /// The admin's comment (`--comment`, `--reason`).
    pub comment: Option<String>,
    /// When it was decided: also the store's "now" for [`crate::Store::add`].
    pub created: Timestamp,
    /// When it ends; `None` is permanent. Must be after `created`.
    pub expires: Option<Timestamp>,
    /// For detector bans: the escalation level (1 for a first ban, n+1
    /// after n earlier bans within the policy's history window).
    pub level: Option<u32>,
}

impl NewEntry {
    /// A minimal entry: empty reason text and evidence, no country,
    /// comment or level. Set the public fields for the rest.
    pub fn new(
        kind: Kind,
        target: Net,
        origin: Origin,
        reason: impl Into<String>,
        created: Timestamp,
        expires: Option<Timestamp>,
    ) -> NewEntry {
        NewEntry {
            kind,
            target,
            reason: reason.into(),
            rule: None,
            summary: String::new(),
            evidence: Vec::new(),
            country: None,
            origin,
            comment: None,
            created,
            expires,
            level: None,
        }
    }
}

/// A stored entry: in force until `expires` (or until removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The entry's id; stable while the entry lives, also across replacement.
    pub id: i64,
    /// Which list.
    pub kind: Kind,
    /// The address or network (normalised).
    #[serde(serialize_with = "ser_net")]
    pub target: Net,
    /// The reason code.
    pub reason: String,
    /// The rule that decided, if any.
    pub rule: Option<String>,
    /// The admin summary.
    pub summary: String,
    /// The evidence lines, oldest first.
    pub evidence: Vec<String>,
    /// ISO country code, if known.
    pub country: Option<String>,
    /// Who created it.
    pub origin: Origin,
    /// The admin's comment.
    pub comment: Option<String>,
    /// When the target has been continuously on this list: the `created`
    /// of the first record, kept when a later decision replaces it.
    pub since: Timestamp,
    /// When this record (the decision now in force) was made.
    pub created: Timestamp,
    /// When it ends; `None` is permanent.
    pub expires: Option<Timestamp>,
    /// The escalation level of a detector ban.
    pub level: Option<u32>,
}

impl Entry {
    /// Whether it never expires.
    pub fn is_permanent(&self) -> bool {
        self.expires.is_none()
    }

    /// Seconds left at `now` (0 once expired); `None` for permanent entries.
    pub fn remaining(&self, now: Timestamp) -> Option<u64> {
        self.expires
            .map(|e| u64::try_from(e.saturating_sub(now)).unwrap_or(0))
    }

    /// Whether it is in force at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|e| e > now)
    }

    /// Whether the entry's network contains `ip`.
    pub fn covers(&self, ip: IpAddr) -> bool {
        self.target.contains(ip)
    }
}

/// What [`crate::Store::add`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddAction {
    /// A new entry (no entry of this kind for the target, or only an
    /// expired one, which went to history as expired).
    Inserted,
    /// The new decision lasts longer than the entry in force: it replaced
    /// the entry's content in place (same id, `since` kept, expiry
    /// extended); the previous record went to history as escalated or
    /// replaced.
    Replaced {
        /// The record that was replaced.
        previous: Box<Entry>,
    },
    /// The entry in force lasts at least as long: it is kept unchanged and
    /// the new decision is not stored.
    Kept {
        /// The entry in force.
        existing: Box<Entry>,
    },
}

/// The outcome of one [`crate::Store::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The id of the entry in force for the target after the call.
    pub id: i64,
    /// What happened.
    pub action: AddAction,
}

/// How an entry ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Its time ran out.
    Expired,
    /// `rampart unblock`.
    Unblocked,
    /// Removed from its list (`rampart allow --remove`, a blocklist dropping it).
    Removed,
    /// A longer-lasting decision replaced it.
    Replaced,
    /// A detector ban replaced by a higher-level (escalated) ban.
    Escalated,
    /// The whole list was flushed.
    Flushed,
}

impl EndReason {
    /// Every end reason.
    pub const ALL: [EndReason; 6] = [
        EndReason::Expired,
        EndReason::Unblocked,
        EndReason::Removed,
        EndReason::Replaced,
        EndReason::Escalated,
        EndReason::Flushed,
    ];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Unblocked => "unblocked",
            EndReason::Removed => "removed",
            EndReason::Replaced => "replaced",
            EndReason::Escalated => "escalated",
            EndReason::Flushed => "flushed",
        }
    }

    /// Parses [`EndReason::as_str`]'s output.
    pub fn parse(s: &str) -> Option<EndReason> {
        EndReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who removed entries and why (recorded in history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// Who: `root via cli`, `daemon`, a cluster peer…
    pub by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
}

impl Removal {
    /// A removal by `by` with an optional comment.
    pub fn by(by: impl Into<String>, comment: Option<String>) -> Removal {
        Removal {
            by: Some(by.into()),
            comment,
        }
    }
}

/// An ended entry: its full last record and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRecord {
    /// The history row's id.
    pub history_id: i64,
    /// The record as it was when it ended (`entry.id` is the entry's id then).
    pub entry: Entry,
    /// When it ended (for expiry: its expiry time, even if noticed later).
    pub ended: Timestamp,
    /// How it ended.
    pub end: EndReason,
    /// Who ended it (unblock, remove, flush).
    pub by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
    /// For replaced/escalated records: the id of the entry that took over.
    pub successor: Option<i64>,
}

/// Which entries [`crate::Store::list`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this list (`None`: all three).
    pub kind: Option<Kind>,
    /// Temporary, permanent or both.
    pub permanence: Permanence,
    /// Only entries of this origin.
    pub origin: Option<Origin>,
}

/// Temporary entries, permanent ones, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Permanence {
    /// Both.
    #[default]
    Any,
    /// Only entries with an expiry (`rampart list --temp`).
    Temporary,
    /// Only entries without one.
    Permanent,
}

/// One entry as the kernel should have it now (light: no evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Active {
    /// The entry's id.
    pub id: i64,
    /// Which set.
    pub kind: Kind,
    /// The element.
    #[serde(serialize_with = "ser_net")]
    pub target: Net,
    /// Who created it.
    pub origin: Origin,
    /// When it ends; `None` is permanent.
    pub expires: Option<Timestamp>,
    /// Seconds left (the element's kernel timeout); `None` is permanent.
    pub remaining: Option<u64>,
}

/// What [`crate::Store::unblock`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unblocked {
    /// The deny entries for exactly this target, now in history.
    pub removed: Vec<Entry>,
    /// Deny entries for wider networks that contain the target: still in
    /// force, so the target stays blocked until they are unblocked.
    pub covering: Vec<Entry>,
    /// Deny entries for narrower networks or addresses inside the target
    /// (when it is a network): still in force.
    pub inside: Vec<Entry>,
}

/// Counts for `rampart status`, per list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// In force, with an expiry.
    pub temporary: u64,
    /// In force, permanent.
    pub permanent: u64,
}

/// Counts for `rampart status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Deny entries in force.
    pub deny: KindCounts,
    /// Allow entries in force.
    pub allow: KindCounts,
    /// Ignore entries in force.
    pub ignore: KindCounts,
    /// Deny entries in force by origin (`detector`, `manual`, …).
    pub deny_by_origin: Vec<(Origin, u64)>,
    /// Entries past their expiry that [`crate::Store::expire`] has not yet moved.
    pub expired_pending: u64,
    /// History records.
    pub history: u64,
}

fn ser_net<S: Serializer>(net: &Net, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(net)
}
