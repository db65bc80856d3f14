//! Conntrack dumps over netlink (`IPCTNL_MSG_CT_GET` with `NLM_F_DUMP`)
//! and per-source counts (CSF's CT_LIMIT, with its CT_STATES,
//! CT_SKIP_TIME_WAIT and CT_PORTS filters).
//!
//! Unlike CSF, which reads `/proc/net/tcp*` (this host's own sockets),
//! conntrack sees every tracked flow: connections to local services,
//! including half-open ones (`SYN_RECV`) that never reach a socket. The
//! dump covers the network namespace of the calling thread, IPv4 and IPv6.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::NftError;
use crate::netlink::{
    Attrs, Messages, NLM_F_DUMP, NLM_F_REQUEST, begin_msg, end_msg, read_dump, sock_err,
};
use crate::nflog::{IPPROTO_TCP, open_netfilter, send_to_kernel};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_PROTOINFO: u16 = 4;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;

/// A TCP conntrack state (`enum tcp_conntrack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// SYN seen from the originator.
    SynSent,
    /// SYN-ACK seen: half open (what a SYN flood leaves).
    SynRecv,
    /// Established.
    Established,
    /// FIN seen.
    FinWait,
    /// Closing: FIN from the other side.
    CloseWait,
    /// Last ACK awaited.
    LastAck,
    /// TIME_WAIT.
    TimeWait,
    /// Closed.
    Close,
    /// Simultaneous open.
    SynSent2,
    /// Any other number.
    Other(u8),
}

impl TcpState {
    fn from_raw(v: u8) -> TcpState {
        match v {
            1 => TcpState::SynSent,
            2 => TcpState::SynRecv,
            3 => TcpState::Established,
            4 => TcpState::FinWait,
            5 => TcpState::CloseWait,
            6 => TcpState::LastAck,
            7 => TcpState::TimeWait,
            8 => TcpState::Close,
            9 => TcpState::SynSent2,
            o => TcpState::Other(o),
        }
    }

    /// Parse a CSF CT_STATES word (`SYN_RECV`, `ESTABLISHED`,
    /// `TIME_WAIT`, ...; case-insensitive).
    pub fn parse(s: &str) -> Option<TcpState> {
        Some(match s.to_ascii_uppercase().as_str() {
            "SYN_SENT" => TcpState::SynSent,
            "SYN_RECV" => TcpState::SynRecv,
            "ESTABLISHED" => TcpState::Established,
            "FIN_WAIT" => TcpState::FinWait,
            "CLOSE_WAIT" => TcpState::CloseWait,
            "LAST_ACK" => TcpState::LastAck,
            "TIME_WAIT" => TcpState::TimeWait,
            "CLOSE" => TcpState::Close,
            "SYN_SENT2" => TcpState::SynSent2,
            _ => return None,
        })
    }
}

/// One conntrack entry (its original direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtEntry {
    /// IP protocol number.
    pub proto: u8,
    /// Who opened the flow.
    pub src: IpAddr,
    /// To whom.
    pub dst: IpAddr,
    /// Source port (0 for protocols without ports).
    pub sport: u16,
    /// Destination port (0 for protocols without ports).
    pub dport: u16,
    /// The TCP state (TCP only).
    pub tcp_state: Option<TcpState>,
}

/// Which entries count (CSF's CT_STATES, CT_SKIP_TIME_WAIT, CT_PORTS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtFilter {
    /// Count only TCP entries in these states (empty: every entry of
    /// every protocol).
    pub states: Vec<TcpState>,
    /// Do not count TCP entries in TIME_WAIT.
    pub skip_time_wait: bool,
    /// Count only flows to these destination ports (empty: all).
    pub ports: Vec<u16>,
}

impl CtFilter {
    /// Whether an entry counts.
    pub fn accepts(&self, e: &CtEntry) -> bool {
        if !self.ports.is_empty() && !self.ports.contains(&e.dport) {
            return false;
        }
        if self.skip_time_wait && e.tcp_state == Some(TcpState::TimeWait) {
            return false;
        }
        if !self.states.is_empty() {
            return e.tcp_state.is_some_and(|s| self.states.contains(&s));
        }
        true
    }
}

/// Entries per originating address, loopback excluded (the caller drops
/// its own addresses and allowed ones before deciding).
pub fn count_by_source(entries: &[CtEntry], filter: &CtFilter) -> BTreeMap<IpAddr, usize> {
    let mut m = BTreeMap::new();
    for e in entries.iter().filter(|e| filter.accepts(e)) {
        if e.src.is_loopback() {
            continue;
        }
        *m.entry(e.src).or_insert(0) += 1;
    }
    m
}

/// Dump the conntrack table of the calling thread's network namespace
/// (root or CAP_NET_ADMIN; empty when conntrack is not active there).
pub fn dump_conntrack() -> Result<Vec<CtEntry>, NftError> {
    let fd = open_netfilter(8 << 20)?;
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(std::time::Duration::from_secs(30)),
    )
    .map_err(sock_err("setsockopt SO_RCVTIMEO"))?;
    let seq = 1;
    let mut req = Vec::with_capacity(32);
    let at = begin_msg(
        &mut req,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        0, // AF_UNSPEC: both families
        0,
    );
    end_msg(&mut req, at);
    send_to_kernel(&fd, &req)?;
    let mut out = Vec::new();
    let status = read_dump(&fd, seq, 256 * 1024, "conntrack", |ty, payload| {
        push_entry(ty, payload, &mut out);
        Ok(())
    })?;
    status.map_err(|errno| {
        NftError::Protocol(format!(
            "conntrack dump failed: {}",
            std::io::Error::from_raw_os_error(errno)
        ))
    })?;
    Ok(out)
}

/// Decodes one conntrack dump datagram (one or more netlink messages) into
/// its entries. Pure: the dump's own decoder, exposed for fuzzing and
/// tests. Other message types are skipped, entries without a source
/// address are skipped; a malformed message header is an error.
pub fn decode_conntrack(datagram: &[u8]) -> Result<Vec<CtEntry>, NftError> {
    let mut out = Vec::new();
    for msg in Messages::new(datagram) {
        let (ty, _seq, payload) = msg?;
        push_entry(ty, payload, &mut out);
    }
    Ok(out)
}

fn push_entry(ty: u16, payload: &[u8], out: &mut Vec<CtEntry>) {
    if ty == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW
        && let Some(e) = parse_entry(payload)
    {
        out.push(e);
    }
}

fn addr(d: &[u8]) -> Option<IpAddr> {
    match d.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(d);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

fn be16(d: &[u8]) -> u16 {
    d.get(..2).map_or(0, |p| u16::from_be_bytes([p[0], p[1]]))
}

/// One `IPCTNL_MSG_CT_NEW` message (after the netlink header).
fn parse_entry(payload: &[u8]) -> Option<CtEntry> {
    let mut e = CtEntry {
        proto: 0,
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        sport: 0,
        dport: 0,
        tcp_state: None,
    };
    let mut have_addr = false;
    for (ty, d) in (Attrs {
        b: payload.get(4..)?,
    }) {
        match ty {
            CTA_TUPLE_ORIG => {
                for (tty, td) in (Attrs { b: d }) {
                    match tty {
                        CTA_TUPLE_IP => {
                            for (aty, ad) in (Attrs { b: td }) {
                                match aty {
                                    CTA_IP_V4_SRC | CTA_IP_V6_SRC => {
                                        e.src = addr(ad)?;
                                        have_addr = true;
                                    }
                                    CTA_IP_V4_DST | CTA_IP_V6_DST => e.dst = addr(ad)?,
                                    _ => {}
                                }
                            }
                        }
                        CTA_TUPLE_PROTO => {
                            for (pty, pd) in (Attrs { b: td }) {
                                match pty {
                                    CTA_PROTO_NUM => e.proto = *pd.first()?,
                                    CTA_PROTO_SRC_PORT => e.sport = be16(pd),
                                    CTA_PROTO_DST_PORT => e.dport = be16(pd),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            CTA_PROTOINFO => {
                for (pty, pd) in (Attrs { b: d }) {
                    if pty == CTA_PROTOINFO_TCP {
                        for (sty, sd) in (Attrs { b: pd }) {
                            if sty == CTA_PROTOINFO_TCP_STATE {
                                e.tcp_state = sd.first().map(|&s| TcpState::from_raw(s));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if e.proto != IPPROTO_TCP {
        e.tcp_state = None;
    }
    have_addr.then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{attr, nest_begin, nest_end};

    fn entry_msg(src: [u8; 4], dport: u16, state: u8) -> Vec<u8> {
        let mut b = vec![2, 0, 0, 0];
        let o = nest_begin(&mut b, CTA_TUPLE_ORIG);
        let ip = nest_begin(&mut b, CTA_TUPLE_IP);
        attr(&mut b, CTA_IP_V4_SRC, &src);
        attr(&mut b, CTA_IP_V4_DST, &[192, 0, 2, 1]);
        nest_end(&mut b, ip);
        let p = nest_begin(&mut b, CTA_TUPLE_PROTO);
        attr(&mut b, CTA_PROTO_NUM, &[IPPROTO_TCP]);
        attr(&mut b, CTA_PROTO_SRC_PORT, &40000u16.to_be_bytes());
        attr(&mut b, CTA_PROTO_DST_PORT, &dport.to_be_bytes());
        nest_end(&mut b, p);
        nest_end(&mut b, o);
        let pi = nest_begin(&mut b, CTA_PROTOINFO);
        let t = nest_begin(&mut b, CTA_PROTOINFO_TCP);
        attr(&mut b, CTA_PROTOINFO_TCP_STATE, &[state]);
        nest_end(&mut b, t);
        nest_end(&mut b, pi);
        b
    }

    #[test]
    fn parses_and_counts() {
        let mut all = Vec::new();
        for (src, port, state) in [
            ([192, 0, 2, 2], 22, 3),
            ([192, 0, 2, 2], 22, 7),
            ([192, 0, 2, 2], 80, 2),
            ([192, 0, 2, 3], 22, 3),
            ([127, 0, 0, 1], 22, 3),
        ] {
            all.push(parse_entry(&entry_msg(src, port, state)).expect("entry"));
        }
        assert_eq!(all[0].src.to_string(), "192.0.2.2");
        assert_eq!(all[0].dport, 22);
        assert_eq!(all[0].tcp_state, Some(TcpState::Established));
        let c = count_by_source(&all, &CtFilter::default());
        assert_eq!(c.len(), 2, "loopback excluded");
        assert_eq!(c[&"192.0.2.2".parse::<IpAddr>().expect("ip")], 3);
        let f = CtFilter {
            skip_time_wait: true,
            ports: vec![22],
            ..CtFilter::default()
        };
        assert_eq!(
            count_by_source(&all, &f)[&"192.0.2.2".parse::<IpAddr>().expect("ip")],
            1
        );
        let f = CtFilter {
            states: vec![TcpState::parse("syn_recv").expect("state")],
            ..CtFilter::default()
        };
        let c = count_by_source(&all, &f);
        assert_eq!(c.len(), 1);
        assert_eq!(TcpState::parse("nope"), None);
    }
}
