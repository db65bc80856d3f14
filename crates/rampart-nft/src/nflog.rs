//! An NFLOG receiver: packets that `log group N` rules send to userspace,
//! over a `NETLINK_NETFILTER` socket (nfnetlink_log), reduced to what the
//! daemon counts — addresses, protocol, ports and the rule's prefix.
//!
//! [`NflogReceiver::bind`] binds the group (one socket per group in a
//! network namespace: a second bind gets `EPERM`), asks for the first
//! [`SNAPLEN`] bytes of each packet and sets a queue threshold of 1 and a
//! 10 ms flush timer, so a packet is delivered at once instead of after the
//! kernel's default 1 s batching timer (rules that say `queue-threshold 1`
//! override the group's threshold anyway). Kernel >= 3.17 (no per-family
//! `PF_BIND` needed).
//!
//! The socket belongs to the network namespace of the thread that binds.
//! When the receive buffer overflows the kernel drops packets and reports
//! `ENOBUFS`; [`NflogReceiver::overflows`] counts those reports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketType, bind, recv, sendto, socket, sockopt,
};

use crate::error::NftError;
use crate::guard::{LogKind, SNAPLEN};
use crate::netlink::{
    Attrs, Messages, NLM_F_ACK, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, attr, begin_msg, end_msg,
    read_i32, sock_err,
};

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULA_CFG_TIMEOUT: u16 = 4;
const NFULA_CFG_QTHRESH: u16 = 5;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Most datagrams read by one [`NflogReceiver::recv`] call.
const MAX_DATAGRAMS_PER_RECV: usize = 4096;

/// One packet as logged by a `log group` rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoggedPacket {
    /// Source address (IPv4-mapped addresses are not converted: the packet
    /// says what it says).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number ([`IPPROTO_TCP`], [`IPPROTO_UDP`], ...).
    pub proto: u8,
    /// Source port (TCP and UDP; `None` for other protocols, fragments and
    /// truncated headers).
    pub sport: Option<u16>,
    /// Destination port (as `sport`).
    pub dport: Option<u16>,
    /// The rule's log prefix (empty when it has none).
    pub prefix: String,
}

impl LoggedPacket {
    /// What the packet was logged for, from its prefix.
    pub fn kind(&self) -> LogKind {
        LogKind::from_prefix(&self.prefix)
    }
}

/// A netfilter netlink socket bound to one NFLOG group.
#[derive(Debug)]
pub struct NflogReceiver {
    fd: OwnedFd,
    group: u16,
    buf: Vec<u8>,
    overflows: u64,
    timeout: Option<Duration>,
}

/// Open a `NETLINK_NETFILTER` socket bound to a kernel-chosen port id.
pub(crate) fn open_netfilter(rcvbuf: usize) -> Result<OwnedFd, NftError> {
    let fd = socket(
        AddressFamily::NETLINK,
        SocketType::RAW,
        Some(netlink::NETFILTER),
    )
    .map_err(sock_err("socket"))?;
    bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(sock_err("bind"))?;
    if sockopt::set_socket_recv_buffer_size_force(&fd, rcvbuf).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(&fd, rcvbuf);
    }
    Ok(fd)
}

pub(crate) fn send_to_kernel(fd: &OwnedFd, bytes: &[u8]) -> Result<(), NftError> {
    let n = sendto(fd, bytes, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))
        .map_err(sock_err("send"))?;
    if n != bytes.len() {
        return Err(NftError::Protocol(format!(
            "short send: {n} of {} bytes",
            bytes.len()
        )));
    }
    Ok(())
}

impl NflogReceiver {
    /// Bind NFLOG group `group` in the calling thread's network namespace
    /// (root or CAP_NET_ADMIN).
    pub fn bind(group: u16) -> Result<NflogReceiver, NftError> {
        let fd = open_netfilter(4 << 20)?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(Duration::from_secs(5)))
            .map_err(sock_err("setsockopt SO_RCVTIMEO"))?;
        let seq = 1;
        let mut req = Vec::with_capacity(64);
        let at = begin_msg(
            &mut req,
            (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            0, // AF_UNSPEC
            group,
        );
        attr(&mut req, NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND]);
        // struct nfulnl_msg_config_mode { __be32 copy_range; __u8 copy_mode; __u8 pad; }
        let mut mode = u32::from(SNAPLEN).to_be_bytes().to_vec();
        mode.extend_from_slice(&[NFULNL_COPY_PACKET, 0]);
        attr(&mut req, NFULA_CFG_MODE, &mode);
        attr(&mut req, NFULA_CFG_QTHRESH, &1u32.to_be_bytes());
        attr(&mut req, NFULA_CFG_TIMEOUT, &1u32.to_be_bytes()); // 1/100 s
        end_msg(&mut req, at);
        send_to_kernel(&fd, &req)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty()).map_err(sock_err("recv"))?;
            for msg in Messages::new(&buf[..n]) {
                let (ty, mseq, payload) = msg?;
                if ty != NLMSG_ERROR || mseq != seq {
                    continue;
                }
                let errno = -read_i32(payload, 0)?;
                if errno == 0 {
                    return Ok(NflogReceiver {
                        fd,
                        group,
                        buf,
                        overflows: 0,
                        timeout: None,
                    });
                }
                let hint = match Errno::from_raw_os_error(errno) {
                    // The kernel says EPERM when another socket owns the group.
                    Errno::BUSY | Errno::PERM => {
                        " (another socket, perhaps another daemon, has bound this group; or the process lacks CAP_NET_ADMIN)"
                    }
                    _ => "",
                };
                return Err(NftError::Protocol(format!(
                    "binding NFLOG group {group} failed: {}{hint}",
                    std::io::Error::from_raw_os_error(errno)
                )));
            }
        }
    }

    /// The bound group.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// How many times the kernel reported that packets were lost because
    /// the receive buffer was full.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    fn set_timeout(&mut self, t: Duration) -> Result<(), NftError> {
        if self.timeout != Some(t) {
            sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Recv, Some(t))
                .map_err(sock_err("setsockopt SO_RCVTIMEO"))?;
            self.timeout = Some(t);
        }
        Ok(())
    }

    /// Wait up to `timeout` for logged packets, then take every packet
    /// already queued (without waiting further). An empty vector means
    /// nothing arrived in time. A zero timeout does not wait.
    pub fn recv(&mut self, timeout: Duration) -> Result<Vec<LoggedPacket>, NftError> {
        let mut out = Vec::new();
        let mut flags = if timeout.is_zero() {
            RecvFlags::DONTWAIT
        } else {
            // SO_RCVTIMEO has microsecond resolution; zero would mean "forever".
            self.set_timeout(timeout.max(Duration::from_micros(1)))?;
            RecvFlags::empty()
        };
        for _ in 0..MAX_DATAGRAMS_PER_RECV {
            match recv(&self.fd, &mut self.buf[..], flags) {
                Ok((n, _)) => parse_datagram(&self.buf[..n], &mut out)?,
                Err(Errno::AGAIN | Errno::INTR) => break,
                Err(Errno::NOBUFS) => self.overflows += 1,
                Err(e) => return Err(sock_err("recv")(e)),
            }
            flags = RecvFlags::DONTWAIT;
        }
        Ok(out)
    }
}

impl AsFd for NflogReceiver {
    /// The socket, to wait on with `poll` (then call `recv` with a zero
    /// timeout).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Decodes one NFLOG datagram as the kernel sends it (one or more netlink
/// messages) into the packets it logs. Pure: the receiver's own decoder,
/// exposed for fuzzing and tests. Messages other than packets are skipped;
/// a malformed message header is an error, a malformed packet is skipped.
pub fn decode_nflog(datagram: &[u8]) -> Result<Vec<LoggedPacket>, NftError> {
    let mut out = Vec::new();
    parse_datagram(datagram, &mut out)?;
    Ok(out)
}

fn parse_datagram(b: &[u8], out: &mut Vec<LoggedPacket>) -> Result<(), NftError> {
    for msg in Messages::new(b) {
        let (ty, _seq, payload) = msg?;
        if ty == NLMSG_ERROR || ty == NLMSG_DONE {
            continue;
        }
        if ty != (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET {
            continue;
        }
        if let Some(p) = parse_packet_msg(payload) {
            out.push(p);
        }
    }
    Ok(())
}

/// One `NFULNL_MSG_PACKET` (after the netlink header).
fn parse_packet_msg(payload: &[u8]) -> Option<LoggedPacket> {
    let attrs = payload.get(4..)?;
    let mut prefix = String::new();
    let mut data = None;
    for (ty, d) in (Attrs { b: attrs }) {
        match ty {
            NFULA_PREFIX => {
                let s = d.split(|&c| c == 0).next().unwrap_or(&[]);
                prefix = String::from_utf8_lossy(s).into_owned();
            }
            NFULA_PAYLOAD => data = Some(d),
            _ => {}
        }
    }
    let h = parse_ip(data?)?;
    Some(LoggedPacket {
        src: h.src,
        dst: h.dst,
        proto: h.proto,
        sport: h.sport,
        dport: h.dport,
        prefix,
    })
}

/// The parts of an IP packet the daemon needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeader {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) proto: u8,
    pub(crate) sport: Option<u16>,
    pub(crate) dport: Option<u16>,
}

fn ports(proto: u8, l4: Option<&[u8]>) -> (Option<u16>, Option<u16>) {
    match (proto, l4.and_then(|b| b.get(..4))) {
        (IPPROTO_TCP | IPPROTO_UDP | 132 /* SCTP */ | 136 /* UDP-Lite */, Some(p)) => (
            Some(u16::from_be_bytes([p[0], p[1]])),
            Some(u16::from_be_bytes([p[2], p[3]])),
        ),
        _ => (None, None),
    }
}

/// Parse an IPv4 or IPv6 packet (from its network header) far enough to
/// know the addresses, the transport protocol and its ports. IPv6
/// extension headers are skipped; fragments other than the first have no
/// ports.
pub(crate) fn parse_ip(p: &[u8]) -> Option<IpHeader> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if ihl < 20 || p.len() < 20 {
                return None;
            }
            let proto = p[9];
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            let frag_off = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
            let (sport, dport) = if frag_off == 0 {
                ports(proto, p.get(ihl..))
            } else {
                (None, None)
            };
            Some(IpHeader {
                src: src.into(),
                dst: dst.into(),
                proto,
                sport,
                dport,
            })
        }
        6 => {
            if p.len() < 40 {
                return None;
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(&p[8..24]);
            let src = Ipv6Addr::from(a);
            a.copy_from_slice(&p[24..40]);
            let dst = Ipv6Addr::from(a);
            let mut next = p[6];
            let mut off = 40;
            let mut later_fragment = false;
            // Hop-by-hop, routing, fragment, destination options.
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let h = p.get(off..off + 2);
                        let Some(h) = h else {
                            return Some(IpHeader {
                                src: src.into(),
                                dst: dst.into(),
                                proto: next,
                                sport: None,
                                dport: None,
                            });
                        };
                        next = h[0];
                        off += (usize::from(h[1]) + 1) * 8;
                    }
                    44 => {
                        let Some(h) = p.get(off..off + 4) else {
                            break;
                        };
                        next = h[0];
                        later_fragment = u16::from_be_bytes([h[2], h[3]]) >> 3 != 0;
                        off += 8;
                    }
                    _ => break,
                }
            }
            let (sport, dport) = if later_fragment {
                (None, None)
            } else {
                ports(next, p.get(off..))
            };
            Some(IpHeader {
                src: src.into(),
                dst: dst.into(),
                proto: next,
                sport,
                dport,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{NLMSG_HDRLEN, attr_str};

    fn v4_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, ihl: u8) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(ihl) * 4];
        p[0] = 0x40 | ihl;
        p[9] = IPPROTO_TCP;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        p
    }

    fn v6(next: u8, ext: &[u8], l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[6] = next;
        p[8..24].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("a").octets());
        p[24..40].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("a").octets());
        p.extend_from_slice(ext);
        p.extend_from_slice(l4);
        p
    }

    #[test]
    fn ipv4_with_and_without_options() {
        for ihl in [5, 6, 15] {
            let h = parse_ip(&v4_tcp([192, 0, 2, 2], [192, 0, 2, 1], 40000, 23, ihl)).expect("v4");
            assert_eq!(h.src.to_string(), "192.0.2.2");
            assert_eq!(h.dst.to_string(), "192.0.2.1");
            assert_eq!((h.proto, h.sport, h.dport), (6, Some(40000), Some(23)));
        }
        // A later fragment has no ports; a truncated packet has none either.
        let mut p = v4_tcp([192, 0, 2, 2], [192, 0, 2, 1], 1, 2, 5);
        p[7] = 10;
        assert_eq!(parse_ip(&p).expect("frag").dport, None);
        let p = v4_tcp([192, 0, 2, 2], [192, 0, 2, 1], 1, 2, 5);
        assert_eq!(parse_ip(&p[..22]).expect("short").dport, None);
        assert!(parse_ip(&p[..19]).is_none());
        assert!(parse_ip(&[]).is_none());
        assert!(parse_ip(&[0x55; 40]).is_none());
    }

    #[test]
    fn ipv6_with_extension_headers() {
        let udp = [0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0];
        let h = parse_ip(&v6(IPPROTO_UDP, &[], &udp)).expect("v6");
        assert_eq!(h.src.to_string(), "2001:db8::2");
        assert_eq!((h.proto, h.sport, h.dport), (17, Some(40000), Some(53)));
        // hop-by-hop (8 bytes) then a first fragment (offset 0) then UDP
        let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0];
        ext.extend_from_slice(&[IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 1]);
        let h = parse_ip(&v6(0, &ext, &udp)).expect("v6 ext");
        assert_eq!((h.proto, h.dport), (17, Some(53)));
        // a later fragment
        let ext = [IPPROTO_UDP, 0, 0, 0x10, 0, 0, 0, 1];
        let h = parse_ip(&v6(44, &ext, &udp)).expect("v6 frag");
        assert_eq!((h.proto, h.dport), (17, None));
        // ICMPv6: no ports
        let h = parse_ip(&v6(58, &[], &[128, 0, 0, 0])).expect("icmp");
        assert_eq!((h.proto, h.dport), (58, None));
    }

    #[test]
    fn packet_message() {
        let mut b = Vec::new();
        let at = begin_msg(
            &mut b,
            (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET,
            0,
            0,
            2,
            5,
        );
        attr(&mut b, 1, &[8, 0, 1, 0]);
        attr_str(&mut b, NFULA_PREFIX, "rampart scan ");
        attr(
            &mut b,
            NFULA_PAYLOAD,
            &v4_tcp([203, 0, 113, 9], [192, 0, 2, 1], 5555, 3306, 5),
        );
        end_msg(&mut b, at);
        let mut out = Vec::new();
        parse_datagram(&b, &mut out).expect("parse");
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.src.to_string(), "203.0.113.9");
        assert_eq!(p.dport, Some(3306));
        assert_eq!(p.kind(), LogKind::Scan);
        assert!(b.len() > NLMSG_HDRLEN);
    }
}
