//! The firewall commands, by what they act on: the lists of entries
//! (`lists`), the firewall as a whole (`firewall`), blocklists
//! (`blocklists`). Each parses its arguments into a
//! [`rampart_firewall::Change`] and executes it through
//! [`crate::fw::Ctx::execute`], so the daemon can execute the same change.

pub mod blocklists;
pub mod firewall;
pub mod lists;
