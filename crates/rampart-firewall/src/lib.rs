//! Rampart's firewall state: the kernel's sets as a function of the store,
//! changed only by exact differences, in one transaction with the store.
//!
//! # The model
//!
//! For each kernel set (allow, deny; blocklists and countries come from
//! their own sources), the contents are a pure function of the live
//! entries: [`segments`] splits the union of the entries' ranges into
//! disjoint segments, each carrying the latest expiry of the entries
//! covering it (permanent wins), adjacent segments of equal expiry merged.
//! Overlapping entries therefore never collide in the kernel, and element
//! timeouts keep working without a daemon: a /25 for 5 minutes over a /32
//! for an hour is three elements, and when the kernel times out the two
//! short ones the /32 remains.
//!
//! Every change computes the segments before (read from the kernel over
//! netlink, or the daemon's [`Mirror`]) and after, and sends exactly the
//! difference ([`diff`]): deletions as delete-if-present (an element the
//! kernel already timed out is no error), additions, and delete+add for a
//! changed expiry — all in one netlink transaction.
//!
//! # The API
//!
//! - [`apply_change`]`(store, kernel, change, now)`: for the CLI and the
//!   control socket. The store change ([`Change`]: add a deny/allow/ignore
//!   entry, remove, unblock, expire, flush, full apply, load a blocklist)
//!   runs in one SQLite `BEGIN IMMEDIATE` transaction (concurrent writers
//!   are serialised), the kernel difference is sent, and the transaction
//!   commits only if the kernel accepted; otherwise it rolls back and the
//!   error is [`Error::Kernel`]. The [`Outcome`] says what holds afterwards
//!   (a longer ban in force is kept, and said so).
//! - [`plan`]: the same, sending nothing and rolling the store back; the
//!   operations are [`Plan::to_nft_text`] (`--dry-run`).
//! - [`Mirror`]: the daemon's detector bans, kernel first ([`Mirror::ban`]),
//!   the store later; [`Mirror::is_stale`] (SQLite `data_version`) and
//!   [`Mirror::resync`] when another process changed the store;
//!   [`Mirror::apply_change`] for control-socket changes.
//! - Reconcile: a change that finds the table missing rebuilds it whole
//!   (ruleset, then allow, deny, blocklists, countries) before its own
//!   change; [`report`] compares every list with the store for `status`.
//! - [`refresh_due`]: downloads the blocklists whose refresh is due
//!   (conditional GET, jitter, failures recorded, the old list kept on any
//!   failure) and loads the changed ones through [`apply_change`].
//! - [`guard`]: checks made before anything is written (protected and very
//!   wide ranges); [`MAX_TIMEOUT_SECS`] is the kernel's element timeout
//!   limit, enforced by [`apply_change`].
//!
//! # Tests
//!
//! Unit tests run the model and the changes against a real SQLite file and
//! the dry-run recorder. As root, `tests/netns.rs` runs a seeded property
//! test (thousands of random changes over overlapping IPv4 and IPv6
//! ranges; after every step the kernel's sets equal the merged store, and
//! probe connections are accepted or dropped as the store says), and
//! `tests/refresh.rs` refreshes blocklists from a local web server.

#![deny(missing_docs)]

pub mod blocklist;
mod change;
mod error;
pub mod guard;
mod kernel;
mod layout;
mod mirror;
mod reconcile;
mod refresh;
mod segment;

pub use change::{Change, Outcome, apply_change, plan};
pub use error::{Error, Result};
pub use kernel::{EXPIRY_TOLERANCE_SECS, Kernel, ListPlan, MAX_TIMEOUT_SECS, Plan, element};
pub use layout::{Layout, country_db, detect_ssh_port, limits, ruleset, set_segments};
pub use mirror::Mirror;
pub use reconcile::{ListReport, Report, list_name, report};
pub use refresh::{RefreshReport, fetch, refresh_due, update_list};
pub use segment::{Diff, Expiry, Segment, apply_diff, diff, segments};
