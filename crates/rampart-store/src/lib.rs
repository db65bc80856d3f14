//! Rampart's ban store: every deny, allow and ignore entry, and the
//! history of how each ended, in an SQLite database (WAL mode) at
//! `STATE_DIR/rampart.db`. The store is the source of truth: the kernel
//! sets are made to match [`Store::active`].
//!
//! - **Entries** ([`Entry`]): at most one per (kind, target); the target is
//!   an address or a CIDR, IPv4 or IPv6, normalised like
//!   [`rampart_core::addr::Net`]. Adding a deny for a target already
//!   denied extends it or keeps it, never duplicates it ([`Store::add`]).
//! - **History** ([`HistoryRecord`]): the full last record of every ended
//!   entry and how it ended (expired, unblocked, removed, replaced,
//!   escalated, flushed), for `rampart why` and for escalation across
//!   restarts ([`Store::bans_in_window`]).
//! - **Schema**: versioned migrations ([`schema::MIGRATIONS`]) tracked in
//!   `PRAGMA user_version`.
//! - **Time** is injected: no method reads the clock.
//!
//! ```no_run
//! use rampart_core::addr::Net;
//! use rampart_store::{Kind, NewEntry, Origin, Store};
//! # fn main() -> Result<(), rampart_store::Error> {
//! let mut store = Store::open("/var/lib/rampart/rampart.db")?;
//! let now = 1_795_780_800;
//! let target = Net::parse("198.51.100.7").expect("an address");
//! let mut ban = NewEntry::new(Kind::Deny, target, Origin::Detector, "sshd", now, Some(now + 3600));
//! ban.summary = "(sshd) Failed SSH login from 198.51.100.7: 5 in the last 3600 secs".into();
//! ban.level = Some(1);
//! store.add(&ban)?;
//! let blocked = store.covering("198.51.100.7".parse().expect("ip"), now)?;
//! assert_eq!(blocked.len(), 1);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod access;
mod error;
mod model;
mod outbox;
pub mod schema;
pub mod statedir;
mod store;
mod summary;
mod target;

pub use access::{Scope, TokenInfo, UserInfo};
pub use error::{Error, Result};
pub use model::{
    Active, AddAction, Added, Counts, EndReason, Entry, HistoryRecord, Kind, KindCounts,
    ListFilter, NewEntry, Origin, Permanence, Removal, Unblocked,
};
pub use outbox::Queued;
pub use schema::SCHEMA_VERSION;
pub use statedir::{StateDir, StateDirError, StateLock};
pub use store::{Options, Store};
pub use summary::{BucketCount, DenyBrief};
