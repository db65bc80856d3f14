//! The kernel side of the messenger: blocked addresses told why.
//!
//! The deny sets drop everything from a banned address. With the
//! messenger on, the bans that should be told why are also put in a pair
//! of sets of their own, `page4`/`page6` (kept by the daemon's messenger;
//! a ban for a silent reason, such as a port scan, is never in them). A
//! `nat` chain hooked at prerouting redirects new TCP connections from an
//! address that is in a page set **and** in a deny set **and** not in an
//! allow set, to a local address of this host, on the web ports to the
//! page server's port and on the mail/FTP ports to the text server's port.
//! Requiring the deny membership in the rule itself means a stale page
//! element can never redirect an address that is no longer banned.
//!
//! The `input` chain then lets exactly those redirected flows through to
//! the two local ports — per source at most [`Messenger::rate`] new
//! connections per second (burst twice that) and
//! [`Messenger::connections`] at once, in per-source meters — before the
//! deny drop that stops everything else from the address. A connection
//! to the local ports that was not redirected is dropped: the servers are
//! reachable only through the redirect (and from loopback).
//!
//! Everything stays in `table inet rampart`; no other table is touched.

use crate::error::NftError;
use crate::filter::{PortRange, render_ports};
use crate::guard::{METER_SIZE, source_key};

/// The messenger's part of the ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Messenger {
    /// Web ports, redirected to `page_port`.
    pub web_ports: Vec<u16>,
    /// Mail/FTP ports, redirected to `text_port`.
    pub text_ports: Vec<u16>,
    /// The page server's local port.
    pub page_port: u16,
    /// The text server's local port.
    pub text_port: u16,
    /// New redirected connections per second per source (burst twice).
    pub rate: u32,
    /// Concurrent redirected connections per source.
    pub connections: u32,
    /// IPv6 sources are metered per network of this many bits.
    pub ipv6_prefix: u8,
}

/// The nat chain's name.
pub const CHAIN: &str = "messenger";

/// Names of the sets the messenger's rules use besides the page sets.
const RATE_SETS: [&str; 2] = ["msgrate4", "msgrate6"];
const CONN_SETS: [&str; 2] = ["msgconn4", "msgconn6"];

impl Messenger {
    /// The meter sets: `(name, declaration)`.
    pub(crate) fn sets(&self) -> Vec<(String, String)> {
        // long enough for a bucket of burst 2 x rate to refill
        let t = 10;
        let mut v = Vec::new();
        for (i, ty) in ["ipv4_addr", "ipv6_addr"].iter().enumerate() {
            v.push((
                RATE_SETS[i].to_string(),
                format!(
                    "{{ type {ty}; size {METER_SIZE}; flags dynamic, timeout; timeout {t}s; }}"
                ),
            ));
            v.push((
                CONN_SETS[i].to_string(),
                format!("{{ type {ty}; size {METER_SIZE}; flags dynamic; }}"),
            ));
        }
        v
    }

    /// Ports must be 1-65535, the local ports distinct and not redirected
    /// themselves, the limits at least 1.
    pub(crate) fn validate(&self) -> Result<(), NftError> {
        let bad = |m: &str| Err(NftError::Ruleset(format!("messenger: {m}")));
        let all = self.web_ports.iter().chain(&self.text_ports);
        if self.page_port == 0 || self.text_port == 0 || all.clone().any(|p| *p == 0) {
            return bad("ports must be 1-65535");
        }
        if self.page_port == self.text_port
            || all
                .clone()
                .any(|p| *p == self.page_port || *p == self.text_port)
        {
            return bad(
                "the local ports must differ from each other and from the redirected ports",
            );
        }
        if self.rate == 0
            || self.connections == 0
            || self.ipv6_prefix == 0
            || self.ipv6_prefix > 128
        {
            return bad("rate and connections must be at least 1, the IPv6 prefix 1-128");
        }
        Ok(())
    }

    /// The nat chain's declaration (after `add chain inet rampart messenger`).
    pub(crate) fn chain_decl() -> &'static str {
        "{ type nat hook prerouting priority dstnat - 5; policy accept; }"
    }

    /// The nat chain's rules.
    pub(crate) fn nat_rules(&self) -> Vec<String> {
        let mut r = Vec::new();
        for (ip, f) in [("ip", "4"), ("ip6", "6")] {
            let who = format!(
                "fib daddr type local {ip} saddr @page{f} {ip} saddr @deny{f} {ip} saddr != @allow{f}"
            );
            for (ports, to) in [
                (&self.web_ports, self.page_port),
                (&self.text_ports, self.text_port),
            ] {
                if !ports.is_empty() {
                    r.push(format!(
                        "{who} tcp dport {} redirect to :{to}",
                        ports_text(ports)
                    ));
                }
            }
        }
        r
    }

    /// The `input` rules, placed before the deny drop.
    pub(crate) fn input_rules(&self) -> Vec<String> {
        let local = ports_text(&[self.page_port, self.text_port]);
        let flow = format!("tcp dport {local} ct status dnat");
        let mut r = Vec::new();
        for (i, v6) in [false, true].into_iter().enumerate() {
            let key = source_key(self.ipv6_prefix, v6);
            r.push(format!(
                "{flow} ct state new add @{} {{ {key} ct count over {} }} counter drop",
                CONN_SETS[i], self.connections
            ));
            r.push(format!(
                "{flow} ct state new update @{} {{ {key} limit rate over {}/second burst {} packets }} counter drop",
                RATE_SETS[i],
                self.rate,
                2 * self.rate
            ));
        }
        r.push(format!("{flow} accept"));
        r.push(format!("tcp dport {local} counter drop"));
        r
    }

    /// The transaction lines that remove the nat chain of a table that had
    /// the messenger on (`page4` among its sets) and no longer has.
    pub(crate) fn removal(table: &str) -> String {
        format!("flush chain {table} {CHAIN}\ndelete chain {table} {CHAIN}\n")
    }
}

fn ports_text(ports: &[u16]) -> String {
    let mut v: Vec<PortRange> = ports.iter().map(|p| PortRange::one(*p)).collect();
    v.sort_unstable();
    v.dedup();
    render_ports(&v)
}
