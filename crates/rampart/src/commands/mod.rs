//! The commands, grouped by what they act on:
//!
//! - detection: [`scan`] (offline analysis of logs) and [`rules`] (list and
//!   test the rule pack); `config check` is in [`crate::settings`], where
//!   configuration is loaded;
//! - the lists of entries: [`lists`] (deny, allow, ignore, unblock, remove,
//!   list, why);
//! - the firewall as a whole: [`firewall`] (apply, confirm, flush, status,
//!   show-rules);
//! - blocklists and countries: [`blocklists`];
//! - daemon control (`run`, `reload`): [`crate::daemon`] and [`crate::fw`];
//! - migration: [`crate::import`];
//! - who may use the HTTP API and console: [`access`] (`api token`,
//!   `console user`).
//!
//! The list and firewall commands parse their arguments into a
//! [`rampart_firewall::Change`] and execute it through
//! [`crate::fw::Ctx::execute`] — through the running daemon when there is
//! one, so it stays the one writer.

pub mod access;
pub mod blocklists;
pub mod firewall;
pub mod lists;
pub mod rules;
pub mod scan;
