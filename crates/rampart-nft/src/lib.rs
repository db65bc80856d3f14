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
//!   atomic replace (flush + add), exact multi-set changes in one
//!   transaction ([`Firewall::transact`], what `rampart-firewall` uses)
//!   and list.
//! - [`DryRunFirewall`] records the same operations without touching the
//!   kernel (tests, `--dry-run`).
//!
//! Kernel guards ([`guard`]): port-scan logging to NFLOG ([`ScanLog`]) and
//! per-source limits ([`Limits`]: CONNLIMIT, PORTFLOOD, SYNFLOOD) whose
//! drops are logged with their own prefix; [`NflogReceiver`] reads those
//! packets, and [`dump_conntrack`] + [`count_by_source`] give CSF's
//! CT_LIMIT counts.
//!
//! The host's own addresses ([`dump_addresses`], and [`AddrWatcher`] for
//! changes while the daemon runs) come from rtnetlink, so detectors never
//! ban them.
//!
//! Elements ([`Element`]) are addresses, CIDRs or ranges with an optional
//! timeout; every load is [`merge`]d first because the kernel refuses
//! overlapping intervals.
//!
//! # Chains
//!
//! `input` (hook input), `forward` and `output`, all at priority
//! `filter - 5`: a drop here is final, an accept only ends our chain (other
//! tables still see the packet). Input: loopback, allow sets and allow
//! filters accept; deny sets, deny filters, inbound blocklists and
//! `ccdeny` drop; optional country-allow; then, in strict mode only,
//! established/related, essential ICMP/ICMPv6, ping, the listed ports and
//! the SSH port, with policy drop. Denies come before the
//! established/related accept, so a new ban also cuts open connections.
//! Forward: allow accept, deny sets and blocklists by source (and by
//! destination for outbound lists), `ccdeny`. Output: allow accept,
//! replies to admitted connections accept, deny sets, outbound filters and
//! outbound blocklists drop; strict mode with `outbound` set adds the
//! egress port policy with policy drop.
//!
//! # Network namespace
//!
//! [`NftFirewall`] works in the network namespace of the thread that
//! created it (the netlink socket) and of the thread calling `apply`/`flush`
//! (the `nft` child process).
//!
//! # Tests and benchmark
//!
//! `cargo test -p rampart-nft` runs unit tests, golden files
//! (`tests/golden/*.nft`, regenerate with `RAMPART_BLESS=1`) and, as root,
//! end-to-end tests with real traffic between two network namespaces that
//! each test creates and deletes (`tests/netns.rs`); without root they are
//! skipped with a message, or fail when `RAMPART_REQUIRE_ROOT_TESTS=1`.
//! Benchmark (root): `cargo run --release -p rampart-nft --example
//! bench_load -- 1000000`.

mod addr;
mod backend;
mod conntrack;
mod error;
mod filter;
pub mod guard;
pub mod messenger;
mod netlink;
mod nflog;
mod rtnl;
mod ruleset;

pub use addr::{Element, Family, IpRange, addr_value, merge};
pub use backend::{
    DryRunFirewall, Firewall, LoadStats, NftFirewall, NftOptions, Operation, Progress, SetChange,
};
pub use conntrack::{
    CtEntry, CtFilter, TcpState, count_by_source, decode_conntrack, dump_conntrack,
};
pub use error::{NftError, Result};
pub use filter::{
    AdvancedFilter, Direction, IcmpType, Owner, PortMatch, PortRange, Protocol, Side, parse_ports,
};
pub use guard::{ConnLimit, Limits, LogKind, PortFlood, ScanLog, SynFlood};
pub use messenger::Messenger;
pub use netlink::ListedElement;
pub use nflog::{IPPROTO_TCP, IPPROTO_UDP, LoggedPacket, NflogReceiver, decode_nflog};
pub use rtnl::{AddrChange, AddrWatcher, HostAddr, decode_addr_messages, dump_addresses};
pub use ruleset::{
    Blocklist, CountryAllow, ListDirection, Mode, PRIORITY, PortPolicy, Ports, Ruleset, SetList,
    TABLE,
};
