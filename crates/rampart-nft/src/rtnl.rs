//! The host's own addresses, from the kernel (rtnetlink).
//!
//! A detector must never ban the server's own addresses, and those change
//! while the daemon runs (DHCP, SLAAC, a failover address moved in). So:
//!
//! - [`dump_addresses`] asks the kernel for every address of every
//!   interface (`RTM_GETADDR` dump), IPv4 and IPv6, no privileges needed;
//! - [`AddrWatcher`] subscribes to the kernel's address notifications
//!   (`RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`) and reports each added
//!   and removed address. Its socket is non-blocking: poll its descriptor
//!   ([`AsFd`]) with the daemon's other sources and call
//!   [`AddrWatcher::changes`] when it is readable.
//!
//! When the kernel drops notifications because the socket buffer was full,
//! [`AddrChange::Overflow`] says so: dump again to resynchronise.
//!
//! Both work in the network namespace of the thread that creates them.
//! [`decode_addr_messages`] is the pure decoder both use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SocketFlags, SocketType, bind, recv, socket_with};

use crate::error::NftError;
use crate::netlink::{Attrs, Messages, NLM_F_DUMP, NLM_F_REQUEST, read_dump, sock_err};
use crate::nflog::send_to_kernel;

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
/// `struct ifaddrmsg`: family, prefix length, flags, scope, interface index.
const IFADDRMSG_LEN: usize = 8;

/// One address configured on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostAddr {
    /// The address itself (for point-to-point links, the local end).
    pub addr: IpAddr,
    /// The prefix length it was configured with (its on-link network).
    pub prefix_len: u8,
    /// The interface index.
    pub ifindex: u32,
}

/// What the kernel reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrChange {
    /// An address was added (or its properties changed).
    Added(HostAddr),
    /// An address was removed.
    Removed(HostAddr),
    /// Notifications were lost (socket buffer full): call
    /// [`dump_addresses`] and replace what you knew.
    Overflow,
}

fn rtnl_socket(groups: u32, flags: SocketFlags) -> Result<OwnedFd, NftError> {
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        flags | SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE is protocol 0
    )
    .map_err(sock_err("socket"))?;
    bind(&fd, &SocketAddrNetlink::new(0, groups)).map_err(sock_err("bind"))?;
    Ok(fd)
}

/// Every address of every interface in the calling thread's network
/// namespace, IPv4 and IPv6 (no privileges needed).
///
/// # Errors
/// [`NftError`] when the netlink socket cannot be used.
pub fn dump_addresses() -> Result<Vec<HostAddr>, NftError> {
    let fd = rtnl_socket(0, SocketFlags::empty())?;
    let seq: u32 = 1;
    let mut req = Vec::with_capacity(24);
    let len = (16 + IFADDRMSG_LEN) as u32;
    req.extend_from_slice(&len.to_ne_bytes());
    req.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[0u8; IFADDRMSG_LEN]); // AF_UNSPEC: both families
    send_to_kernel(&fd, &req)?;
    let mut out = Vec::new();
    let status = read_dump(&fd, seq, 64 * 1024, "address", |ty, payload| {
        if ty == RTM_NEWADDR
            && let Some(a) = parse_ifaddr(payload)
        {
            out.push(a);
        }
        Ok(())
    })?;
    status.map_err(|errno| {
        NftError::Protocol(format!(
            "address dump failed: {}",
            std::io::Error::from_raw_os_error(errno)
        ))
    })?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// One `ifaddrmsg` with its attributes (after the netlink header).
fn parse_ifaddr(payload: &[u8]) -> Option<HostAddr> {
    let hdr = payload.get(..IFADDRMSG_LEN)?;
    let family = hdr[0];
    let prefix_len = hdr[1];
    let ifindex = u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let (mut address, mut local) = (None, None);
    for (ty, d) in (Attrs {
        b: &payload[IFADDRMSG_LEN..],
    }) {
        let ip = match (family, d.len()) {
            (AF_INET, 4) => IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
            (AF_INET6, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(d);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            _ => continue,
        };
        match ty {
            IFA_ADDRESS => address = Some(ip),
            IFA_LOCAL => local = Some(ip),
            _ => {}
        }
    }
    // IPv4 puts the local address in IFA_LOCAL (IFA_ADDRESS is the peer on
    // point-to-point links); IPv6 only sends IFA_ADDRESS unless it has a peer.
    Some(HostAddr {
        addr: local.or(address)?,
        prefix_len,
        ifindex,
    })
}

/// Decodes one rtnetlink datagram (address notifications or dump replies)
/// into the changes it carries. Pure: exposed for fuzzing and tests.
///
/// # Errors
/// A malformed message header.
pub fn decode_addr_messages(datagram: &[u8]) -> Result<Vec<AddrChange>, NftError> {
    let mut out = Vec::new();
    for msg in Messages::new(datagram) {
        let (ty, _seq, payload) = msg?;
        let change: fn(HostAddr) -> AddrChange = match ty {
            RTM_NEWADDR => AddrChange::Added,
            RTM_DELADDR => AddrChange::Removed,
            _ => continue,
        };
        if let Some(a) = parse_ifaddr(payload) {
            out.push(change(a));
        }
    }
    Ok(out)
}

/// Follows address changes in the calling thread's network namespace.
#[derive(Debug)]
pub struct AddrWatcher {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl AddrWatcher {
    /// Subscribes to IPv4 and IPv6 address notifications (no privileges
    /// needed). Subscribe before [`dump_addresses`], so that no change
    /// falls between the dump and the first notification.
    ///
    /// # Errors
    /// [`NftError`] when the netlink socket cannot be used.
    pub fn new() -> Result<AddrWatcher, NftError> {
        let fd = rtnl_socket(
            RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
            SocketFlags::NONBLOCK,
        )?;
        Ok(AddrWatcher {
            fd,
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// The changes reported since the last call, in order; empty when
    /// none are pending. Never blocks.
    ///
    /// # Errors
    /// [`NftError`] for a socket error or a malformed message.
    pub fn changes(&mut self) -> Result<Vec<AddrChange>, NftError> {
        let mut out = Vec::new();
        loop {
            match recv(&self.fd, &mut self.buf[..], RecvFlags::DONTWAIT) {
                Ok((n, _)) => out.extend(decode_addr_messages(&self.buf[..n])?),
                Err(Errno::AGAIN | Errno::INTR) => return Ok(out),
                Err(Errno::NOBUFS) => out.push(AddrChange::Overflow),
                Err(e) => return Err(sock_err("recv")(e)),
            }
        }
    }
}

impl AsFd for AddrWatcher {
    /// The socket, to wait on with `poll` (readable: call
    /// [`AddrWatcher::changes`]).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::attr;

    fn msg(ty: u16, family: u8, prefix: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![family, prefix, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        for (t, d) in attrs {
            attr(&mut body, *t, d);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn decodes_added_and_removed_addresses() {
        let v6: Ipv6Addr = "2001:db8::1".parse().expect("v6");
        let mut d = msg(
            RTM_NEWADDR,
            AF_INET,
            24,
            &[
                (IFA_ADDRESS, &[192, 0, 2, 99]),
                (IFA_LOCAL, &[192, 0, 2, 1]),
            ],
        );
        d.extend(msg(
            RTM_DELADDR,
            AF_INET6,
            64,
            &[(IFA_ADDRESS, &v6.octets())],
        ));
        d.extend(msg(RTM_NEWADDR, AF_INET, 24, &[(IFA_ADDRESS, &[1, 2, 3])]));
        let c = decode_addr_messages(&d).expect("decodes");
        assert_eq!(
            c,
            vec![
                AddrChange::Added(HostAddr {
                    addr: "192.0.2.1".parse().expect("ip"),
                    prefix_len: 24,
                    ifindex: 3
                }),
                AddrChange::Removed(HostAddr {
                    addr: IpAddr::V6(v6),
                    prefix_len: 64,
                    ifindex: 3
                }),
            ],
            "the local address wins; a short address is skipped"
        );
        assert!(decode_addr_messages(&[0xff; 20]).is_err());
    }
}
