//! Rampart's nftables backend.
//!
//! Rampart owns one table, `inet rampart`, and never touches any other
//! (Docker's, libvirt's, firewalld's and fail2ban's tables keep working
//! beside it).
//!
//! - [`Ruleset`] models the static skeleton — sets, the `input`, `forward`
//!   and `output` chains, ban-only or strict port policy, CSF-style
//!   [`AdvancedFilter`]s — and renders it deterministically as one
//!   `nft -f -` transaction that keeps the sets' contents.
//! - [`NftFirewall`] loads that text with `nft`, and changes set elements
//!   over netlink in batches (one kernel transaction each; no process per
//!   ban): add, refresh (delete + add, to restart timeouts), delete,
//!   atomic replace (flush + add) and list.
//! - [`DryRunFirewall`] records the same operations without touching the
//!   kernel (tests, `--dry-run`).
//!
//! Elements ([`Element`]) are addresses, CIDRs or ranges with an optional
//! timeout; every load is [`merge`]d first because the kernel refuses
//! overlapping intervals.

mod addr;
mod backend;
mod error;
mod filter;
mod netlink;
mod ruleset;

pub use addr::{Element, Family, IpRange, merge};
pub use backend::{
    DryRunFirewall, Firewall, LoadStats, NftFirewall, NftOptions, Operation, Progress,
};
pub use error::{NftError, Result};
pub use filter::{
    AdvancedFilter, Direction, IcmpType, Owner, PortMatch, PortRange, Protocol, Side, parse_ports,
};
pub use netlink::ListedElement;
pub use ruleset::{
    Blocklist, CountryAllow, ListDirection, Mode, PRIORITY, PortPolicy, Ports, Ruleset, SetList,
    TABLE,
};
