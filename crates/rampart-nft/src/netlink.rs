//! nf_tables set-element messages over a netfilter netlink socket: batch
//! encoding (`NFNL_MSG_BATCH_BEGIN` ... `NFNL_MSG_BATCH_END`, one kernel
//! transaction per batch), acknowledgement handling and element dumps.
//!
//! Interval sets store each range as two elements: the start key, and the
//! key one past the end with the `NFT_SET_ELEM_INTERVAL_END` flag (no end
//! element when the range reaches the last address of the family). This is
//! what `nft` itself sends for `flags interval` sets.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketType, bind, recv, sendto, socket, sockopt,
};

use crate::addr::{Element, Family, IpRange};
use crate::error::NftError;

// netlink
pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

// nfnetlink
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFPROTO_INET: u8 = 1;
const NFNETLINK_V0: u8 = 0;

// nf_tables message types
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
/// Delete-if-present (kernel >= 6.3).
const NFT_MSG_DESTROYSETELEM: u16 = 30;

// attributes
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;

/// Bytes of element attributes per message: a nested attribute length is a
/// `u16`, so the element list of one message must stay below 64 KiB.
const MAX_ELEMS_BYTES: usize = 60_000;

/// What a message does to a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemOp {
    /// Add (an identical existing element is not an error).
    Add,
    /// Delete (a missing element fails the transaction).
    Delete,
    /// Delete if present (kernel >= 6.3).
    Destroy,
}

impl ElemOp {
    fn msg_type(self) -> u16 {
        match self {
            ElemOp::Add => NFT_MSG_NEWSETELEM,
            ElemOp::Delete => NFT_MSG_DELSETELEM,
            ElemOp::Destroy => NFT_MSG_DESTROYSETELEM,
        }
    }
    fn name(self) -> &'static str {
        match self {
            ElemOp::Add => "add",
            ElemOp::Delete => "delete",
            ElemOp::Destroy => "destroy",
        }
    }
}

/// Who a message in a batch was for (to explain a kernel error).
#[derive(Debug, Clone)]
struct MsgInfo {
    seq: u32,
    op: &'static str,
    set: String,
}

/// An encoded batch: one kernel transaction.
#[derive(Debug)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    begin_seq: u32,
    next_seq: u32,
    msgs: Vec<MsgInfo>,
    elements: usize,
}

pub(crate) fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_ne_bytes());
}
pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}
fn pad4(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Start a netlink message; returns its offset (the length is patched by
/// [`end_msg`]).
pub(crate) fn begin_msg(
    buf: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
) -> usize {
    let at = buf.len();
    put_u32(buf, 0);
    put_u16(buf, ty);
    put_u16(buf, flags);
    put_u32(buf, seq);
    put_u32(buf, 0); // port id: the kernel fills it in
    buf.push(family);
    buf.push(NFNETLINK_V0);
    buf.extend_from_slice(&res_id.to_be_bytes());
    at
}

pub(crate) fn end_msg(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

pub(crate) fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    put_u16(buf, (4 + data.len()) as u16);
    put_u16(buf, ty);
    buf.extend_from_slice(data);
    pad4(buf);
}

pub(crate) fn attr_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let mut d = Vec::with_capacity(s.len() + 1);
    d.extend_from_slice(s.as_bytes());
    d.push(0);
    attr(buf, ty, &d);
}

pub(crate) fn nest_begin(buf: &mut Vec<u8>, ty: u16) -> usize {
    let at = buf.len();
    put_u16(buf, 0);
    put_u16(buf, ty | NLA_F_NESTED);
    at
}

pub(crate) fn nest_end(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

/// The key bytes (network order) of an address value of a family.
fn key_bytes(family: Family, value: u128) -> Vec<u8> {
    match family {
        Family::V4 => (value as u32).to_be_bytes().to_vec(),
        Family::V6 => value.to_be_bytes().to_vec(),
    }
}

/// Encode one interval element (start, and end unless open-ended).
fn encode_element(buf: &mut Vec<u8>, e: &Element, op: ElemOp) {
    let r = e.range;
    let fam = r.family();
    let el = nest_begin(buf, NFTA_LIST_ELEM);
    let k = nest_begin(buf, NFTA_SET_ELEM_KEY);
    attr(buf, NFTA_DATA_VALUE, &key_bytes(fam, r.start_value()));
    nest_end(buf, k);
    if let (ElemOp::Add, Some(t)) = (op, e.timeout) {
        let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
        attr(buf, NFTA_SET_ELEM_TIMEOUT, &ms.to_be_bytes());
    }
    nest_end(buf, el);
    if r.end_value() < fam.max() {
        let el = nest_begin(buf, NFTA_LIST_ELEM);
        let k = nest_begin(buf, NFTA_SET_ELEM_KEY);
        attr(buf, NFTA_DATA_VALUE, &key_bytes(fam, r.end_value() + 1));
        nest_end(buf, k);
        attr(
            buf,
            NFTA_SET_ELEM_FLAGS,
            &NFT_SET_ELEM_INTERVAL_END.to_be_bytes(),
        );
        nest_end(buf, el);
    }
}

impl Batch {
    /// A new batch whose sequence numbers start at `seq`.
    #[cfg(test)]
    pub(crate) fn new(seq: u32) -> Batch {
        Batch::with_capacity(seq, 4096)
    }

    /// A new batch with room for `bytes` bytes.
    pub(crate) fn with_capacity(seq: u32, bytes: usize) -> Batch {
        let mut buf = Vec::with_capacity(bytes.max(64));
        let at = begin_msg(
            &mut buf,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        end_msg(&mut buf, at);
        Batch {
            buf,
            begin_seq: seq,
            next_seq: seq.wrapping_add(1),
            msgs: Vec::new(),
            elements: 0,
        }
    }

    /// Encoded size so far, in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Number of set elements (ranges) in the batch.
    #[cfg(test)]
    pub(crate) fn elements(&self) -> usize {
        self.elements
    }

    /// Whether the batch has no message besides its begin marker.
    pub(crate) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn start_set_msg(
        &mut self,
        ty: u16,
        flags: u16,
        table: &str,
        set: &str,
        op: &'static str,
    ) -> usize {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let at = begin_msg(
            &mut self.buf,
            (NFNL_SUBSYS_NFTABLES << 8) | ty,
            NLM_F_REQUEST | flags,
            seq,
            NFPROTO_INET,
            0,
        );
        attr_str(&mut self.buf, NFTA_SET_ELEM_LIST_TABLE, table);
        attr_str(&mut self.buf, NFTA_SET_ELEM_LIST_SET, set);
        self.msgs.push(MsgInfo {
            seq,
            op,
            set: set.to_string(),
        });
        at
    }

    /// Remove every element of a set (`DELSETELEM` without elements).
    pub(crate) fn flush_set(&mut self, table: &str, set: &str) {
        let at = self.start_set_msg(NFT_MSG_DELSETELEM, 0, table, set, "flush");
        end_msg(&mut self.buf, at);
    }

    /// Add, delete or destroy elements (all of the set's family), split
    /// into as many messages as needed.
    pub(crate) fn elements_op(&mut self, table: &str, set: &str, op: ElemOp, elems: &[Element]) {
        let flags = if op == ElemOp::Add { NLM_F_CREATE } else { 0 };
        let mut rest = elems;
        while !rest.is_empty() {
            let at = self.start_set_msg(op.msg_type(), flags, table, set, op.name());
            let list = nest_begin(&mut self.buf, NFTA_SET_ELEM_LIST_ELEMENTS);
            let list_start = self.buf.len();
            let mut n = 0;
            for e in rest {
                if self.buf.len() - list_start > MAX_ELEMS_BYTES {
                    break;
                }
                encode_element(&mut self.buf, e, op);
                n += 1;
            }
            nest_end(&mut self.buf, list);
            end_msg(&mut self.buf, at);
            self.elements += n;
            rest = &rest[n..];
        }
    }

    /// Close the batch; returns the bytes to send.
    pub(crate) fn finish(mut self) -> FinishedBatch {
        // Ask for an acknowledgement of the last message only: errors are
        // reported for every failing message anyway, and the last ack tells
        // that the kernel has processed the whole batch.
        if let Some(last) = self.msgs.last() {
            let mut off = NLMSG_HDRLEN;
            // Find the last message's header by walking the buffer.
            let mut pos = 0;
            while pos < self.buf.len() {
                let len = u32::from_ne_bytes([
                    self.buf[pos],
                    self.buf[pos + 1],
                    self.buf[pos + 2],
                    self.buf[pos + 3],
                ]) as usize;
                let seq = u32::from_ne_bytes([
                    self.buf[pos + 8],
                    self.buf[pos + 9],
                    self.buf[pos + 10],
                    self.buf[pos + 11],
                ]);
                if seq == last.seq {
                    off = pos;
                    break;
                }
                pos += len.max(NLMSG_HDRLEN);
            }
            let flags = u16::from_ne_bytes([self.buf[off + 6], self.buf[off + 7]]) | NLM_F_ACK;
            self.buf[off + 6..off + 8].copy_from_slice(&flags.to_ne_bytes());
        }
        let seq = self.next_seq;
        let at = begin_msg(
            &mut self.buf,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq,
            0,
            NFNL_SUBSYS_NFTABLES,
        );
        end_msg(&mut self.buf, at);
        FinishedBatch {
            ack_seq: self.msgs.last().map(|m| m.seq),
            buf: self.buf,
            begin_seq: self.begin_seq,
            end_seq: seq,
            msgs: self.msgs,
        }
    }
}

/// A closed batch, ready to send.
#[derive(Debug)]
pub(crate) struct FinishedBatch {
    buf: Vec<u8>,
    begin_seq: u32,
    end_seq: u32,
    ack_seq: Option<u32>,
    msgs: Vec<MsgInfo>,
}

impl FinishedBatch {
    /// The bytes sent to the kernel.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// The next free sequence number.
    pub(crate) fn next_seq(&self) -> u32 {
        self.end_seq.wrapping_add(1)
    }
}

/// A netfilter netlink socket in the network namespace of the thread that
/// opened it.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    sndbuf: usize,
    forced: bool,
}

pub(crate) fn sock_err(op: &'static str) -> impl FnOnce(rustix::io::Errno) -> NftError {
    move |e| NftError::Socket {
        op,
        source: io::Error::from(e),
    }
}

const RECV_BUF: usize = 1 << 20;

impl Socket {
    /// Open and bind a socket; try to raise the buffers (the send buffer
    /// bounds the size of one batch).
    pub(crate) fn open(want_sndbuf: usize) -> Result<Socket, NftError> {
        let fd = socket(
            AddressFamily::NETLINK,
            SocketType::RAW,
            Some(netlink::NETFILTER),
        )
        .map_err(sock_err("socket"))?;
        bind(&fd, &SocketAddrNetlink::new(0, 0)).map_err(sock_err("bind"))?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(Duration::from_secs(120)))
            .map_err(sock_err("setsockopt SO_RCVTIMEO"))?;
        // Errors echo the failing message; room for a few of them.
        if sockopt::set_socket_recv_buffer_size_force(&fd, 8 << 20).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, 8 << 20);
        }
        let mut s = Socket {
            fd,
            sndbuf: 0,
            forced: false,
        };
        s.ensure_sndbuf(want_sndbuf)?;
        Ok(s)
    }

    /// The largest batch that fits in the send buffer now.
    pub(crate) fn max_batch(&self) -> usize {
        self.sndbuf.saturating_sub(64 * 1024)
    }

    /// Make the send buffer hold `bytes` if possible (`SO_SNDBUFFORCE`
    /// needs CAP_NET_ADMIN; otherwise `SO_SNDBUF`, capped by
    /// `net.core.wmem_max`). Returns the usable batch size.
    pub(crate) fn ensure_sndbuf(&mut self, bytes: usize) -> Result<usize, NftError> {
        let want = bytes.saturating_add(128 * 1024).min(1 << 30);
        if self.max_batch() >= bytes {
            return Ok(self.max_batch());
        }
        // The kernel doubles the value it is given.
        let ask = want.div_ceil(2);
        if sockopt::set_socket_send_buffer_size_force(&self.fd, ask).is_ok() {
            self.forced = true;
        } else {
            let _ = sockopt::set_socket_send_buffer_size(&self.fd, ask);
        }
        self.sndbuf =
            sockopt::socket_send_buffer_size(&self.fd).map_err(sock_err("getsockopt SO_SNDBUF"))?;
        Ok(self.max_batch())
    }

    /// Whether `SO_SNDBUFFORCE` worked (the process is privileged).
    pub(crate) fn forced(&self) -> bool {
        self.forced
    }

    fn send(&self, bytes: &[u8]) -> Result<(), NftError> {
        let n = sendto(
            &self.fd,
            bytes,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )
        .map_err(sock_err("send"))?;
        if n != bytes.len() {
            return Err(NftError::Protocol(format!(
                "short send: {n} of {} bytes",
                bytes.len()
            )));
        }
        Ok(())
    }

    fn drain(&self, buf: &mut [u8]) {
        while recv(&self.fd, &mut *buf, RecvFlags::DONTWAIT).is_ok() {}
    }

    /// Send a batch and wait until the kernel has processed it; the first
    /// error of the batch is returned (the whole transaction is then
    /// aborted by the kernel).
    pub(crate) fn run(&self, batch: &FinishedBatch) -> Result<(), NftError> {
        let Some(ack_seq) = batch.ack_seq else {
            return Ok(());
        };
        self.send(batch.bytes())?;
        let mut buf = vec![0u8; RECV_BUF];
        let mut first_err: Option<(u32, i32)> = None;
        loop {
            let (n, full) = match recv(&self.fd, &mut buf[..], RecvFlags::empty()) {
                Ok(v) => v,
                Err(rustix::io::Errno::NOBUFS) => {
                    // Error echoes overflowed our buffer: the batch failed.
                    self.drain(&mut buf);
                    let (seq, errno) = first_err.unwrap_or((batch.begin_seq, libc_enobufs()));
                    return Err(kernel_error(batch, seq, errno));
                }
                Err(e) => return Err(sock_err("recv")(e)),
            };
            let n = n.min(full);
            let mut done = false;
            for msg in Messages::new(&buf[..n]) {
                let (ty, seq, payload) = msg?;
                if ty != NLMSG_ERROR {
                    continue;
                }
                let errno = read_i32(payload, 0)?;
                if errno != 0 && first_err.is_none() {
                    first_err = Some((seq, -errno));
                }
                if seq == ack_seq || seq == batch.begin_seq {
                    done = true;
                }
            }
            if done {
                break;
            }
        }
        match first_err {
            None => Ok(()),
            Some((seq, errno)) => Err(kernel_error(batch, seq, errno)),
        }
    }

    /// Dump a set's elements.
    pub(crate) fn dump_set(
        &self,
        seq: u32,
        table: &str,
        set: &str,
        family: Family,
    ) -> Result<Vec<RawElem>, NftError> {
        let mut req = Vec::new();
        let at = begin_msg(
            &mut req,
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM,
            NLM_F_REQUEST | NLM_F_DUMP | NLM_F_ACK,
            seq,
            NFPROTO_INET,
            0,
        );
        attr_str(&mut req, NFTA_SET_ELEM_LIST_TABLE, table);
        attr_str(&mut req, NFTA_SET_ELEM_LIST_SET, set);
        end_msg(&mut req, at);
        self.send(&req)?;
        let mut out = Vec::new();
        let status = read_dump(&self.fd, seq, RECV_BUF, "dump", |ty, payload| {
            if ty == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM) {
                parse_elem_list(payload, family, &mut out)?;
            }
            Ok(())
        })?;
        match status {
            Ok(()) => Ok(out),
            Err(errno) => Err(NftError::Kernel {
                op: "list",
                set: set.to_string(),
                errno,
                hint: hint(errno),
            }),
        }
    }
}

/// Reads the replies to a netlink dump request sent with sequence number
/// `seq` until `NLMSG_DONE` (or an ACK), passing every other message of
/// that sequence to `on_msg` as `(type, payload)`. `Ok(Err(errno))` is an
/// error the kernel returned for the request.
pub(crate) fn read_dump(
    fd: &OwnedFd,
    seq: u32,
    buf_len: usize,
    what: &str,
    mut on_msg: impl FnMut(u16, &[u8]) -> Result<(), NftError>,
) -> Result<Result<(), i32>, NftError> {
    let mut buf = vec![0u8; buf_len];
    loop {
        let (n, full) = recv(fd, &mut buf[..], RecvFlags::empty()).map_err(sock_err("recv"))?;
        if full > n {
            return Err(NftError::Protocol(format!("{what} message truncated")));
        }
        for msg in Messages::new(&buf[..n]) {
            let (ty, mseq, payload) = msg?;
            if mseq != seq {
                continue;
            }
            match ty {
                NLMSG_DONE => return Ok(Ok(())),
                NLMSG_ERROR => {
                    let errno = -read_i32(payload, 0)?;
                    return Ok(if errno == 0 { Ok(()) } else { Err(errno) });
                }
                t => on_msg(t, payload)?,
            }
        }
    }
}

fn libc_enobufs() -> i32 {
    rustix::io::Errno::NOBUFS.raw_os_error()
}

pub(crate) fn hint(errno: i32) -> &'static str {
    match rustix::io::Errno::from_raw_os_error(errno) {
        rustix::io::Errno::NOENT => {
            " (the set or table does not exist — apply the ruleset first — or, for a delete, the element is not in the set)"
        }
        rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY => {
            " (an element overlaps one already in the set; delete it first or merge)"
        }
        rustix::io::Errno::PERM => " (needs root or CAP_NET_ADMIN)",
        rustix::io::Errno::MSGSIZE | rustix::io::Errno::NOBUFS => {
            " (the batch does not fit the socket buffer)"
        }
        rustix::io::Errno::INVAL => {
            " (the kernel did not accept the message; a kernel older than 6.3 lacks 'destroy')"
        }
        _ => "",
    }
}

fn kernel_error(batch: &FinishedBatch, seq: u32, errno: i32) -> NftError {
    let info = batch.msgs.iter().find(|m| m.seq == seq);
    NftError::Kernel {
        op: info.map_or("batch", |m| m.op),
        set: info.map(|m| m.set.clone()).unwrap_or_default(),
        errno,
        hint: hint(errno),
    }
}

pub(crate) fn read_i32(b: &[u8], at: usize) -> Result<i32, NftError> {
    b.get(at..at + 4)
        .map(|s| i32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| NftError::Protocol("short error message".into()))
}

/// Iterator over the netlink messages of a datagram: (type, seq, payload).
pub(crate) struct Messages<'a> {
    b: &'a [u8],
}

impl<'a> Messages<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Messages { b }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(u16, u32, &'a [u8]), NftError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.b.len() < NLMSG_HDRLEN {
            return None;
        }
        let b = self.b;
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let _flags = u16::from_ne_bytes([b[6], b[7]]) & NLM_F_MULTI;
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        if len < NLMSG_HDRLEN || len > b.len() {
            self.b = &[];
            return Some(Err(NftError::Protocol(format!("bad message length {len}"))));
        }
        let payload = &b[NLMSG_HDRLEN..len];
        let next = len.next_multiple_of(4).min(b.len());
        self.b = &b[next..];
        Some(Ok((ty, seq, payload)))
    }
}

/// Iterator over attributes: (type without flags, data).
pub(crate) struct Attrs<'a> {
    pub(crate) b: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            self.b = &[];
            return None;
        }
        let data = &b[4..len];
        let next = len.next_multiple_of(4).min(b.len());
        self.b = &b[next..];
        Some((ty, data))
    }
}

/// One element as the kernel dumps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawElem {
    pub(crate) key: u128,
    pub(crate) end: bool,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) expires_ms: Option<u64>,
}

fn be_u64(d: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(..8)?.try_into().ok()?))
}

fn parse_elem_list(payload: &[u8], family: Family, out: &mut Vec<RawElem>) -> Result<(), NftError> {
    // Skip the nfgenmsg header.
    let attrs = payload
        .get(4..)
        .ok_or_else(|| NftError::Protocol("short set element message".into()))?;
    for (ty, data) in (Attrs { b: attrs }) {
        if ty != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (ety, edata) in (Attrs { b: data }) {
            if ety != NFTA_LIST_ELEM {
                continue;
            }
            let mut e = RawElem {
                key: 0,
                end: false,
                timeout_ms: None,
                expires_ms: None,
            };
            let mut has_key = false;
            for (aty, adata) in (Attrs { b: edata }) {
                match aty {
                    NFTA_SET_ELEM_KEY => {
                        for (kty, kdata) in (Attrs { b: adata }) {
                            if kty == NFTA_DATA_VALUE && kdata.len() == family.key_len() {
                                let mut v: u128 = 0;
                                for byte in kdata {
                                    v = (v << 8) | u128::from(*byte);
                                }
                                e.key = v;
                                has_key = true;
                            }
                        }
                    }
                    NFTA_SET_ELEM_FLAGS => {
                        if let Some(f) = adata.get(..4) {
                            let f = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                            e.end = f & NFT_SET_ELEM_INTERVAL_END != 0;
                        }
                    }
                    NFTA_SET_ELEM_TIMEOUT => e.timeout_ms = be_u64(adata),
                    NFTA_SET_ELEM_EXPIRATION => e.expires_ms = be_u64(adata),
                    _ => {}
                }
            }
            if has_key {
                out.push(e);
            }
        }
    }
    Ok(())
}

/// An element of a set as listed from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedElement {
    /// The addresses.
    pub range: IpRange,
    /// The timeout it was added with (`None`: permanent).
    pub timeout: Option<Duration>,
    /// Time left before the kernel removes it.
    pub expires: Option<Duration>,
}

/// Rebuild intervals from the start/end elements of a dump.
pub(crate) fn intervals(family: Family, mut raw: Vec<RawElem>) -> Vec<ListedElement> {
    // At equal keys an end (of the previous interval) sorts before a start.
    raw.sort_unstable_by_key(|e| (e.key, !e.end));
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let e = raw[i];
        i += 1;
        if e.end {
            continue; // orphan end element (its start expired)
        }
        let end = match raw.get(i) {
            Some(n) if n.end => {
                i += 1;
                n.key.saturating_sub(1)
            }
            _ => family.max(),
        };
        out.push(ListedElement {
            range: IpRange::from_values(family, e.key, end),
            timeout: e.timeout_ms.map(Duration::from_millis),
            expires: e.expires_ms.map(Duration::from_millis),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str, t: Option<u64>) -> Element {
        Element {
            range: s.parse().expect("range"),
            timeout: t.map(Duration::from_secs),
        }
    }

    #[test]
    fn encodes_interval_pair_with_timeout() {
        let mut b = Batch::new(100);
        b.elements_op(
            "rampart",
            "deny4",
            ElemOp::Add,
            &[e("192.0.2.0/24", Some(60))],
        );
        let f = b.finish();
        let bytes = f.bytes();
        // begin (20) + add message + end (20)
        let begin = &bytes[..20];
        assert_eq!(
            u16::from_ne_bytes([begin[4], begin[5]]),
            NFNL_MSG_BATCH_BEGIN
        );
        assert_eq!(&begin[18..20], &10u16.to_be_bytes());
        let msgs: Vec<_> = Messages::new(bytes)
            .collect::<Result<_, _>>()
            .expect("parse");
        assert_eq!(msgs.len(), 3);
        let (ty, seq, payload) = msgs[1];
        assert_eq!(ty, (10 << 8) | 12);
        assert_eq!(seq, 101);
        assert_eq!(payload[0], NFPROTO_INET);
        // flags of the add message: REQUEST | CREATE | ACK
        let add = &bytes[20..];
        assert_eq!(
            u16::from_ne_bytes([add[6], add[7]]),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK
        );
        let attrs: Vec<_> = Attrs { b: &payload[4..] }.collect();
        assert_eq!(attrs[0], (1, &b"rampart\0"[..]));
        assert_eq!(attrs[1], (2, &b"deny4\0"[..]));
        assert_eq!(attrs[2].0, NFTA_SET_ELEM_LIST_ELEMENTS);
        let elems: Vec<_> = Attrs { b: attrs[2].1 }.collect();
        assert_eq!(elems.len(), 2);
        let start: Vec<_> = Attrs { b: elems[0].1 }.collect();
        assert_eq!(start[0].0, NFTA_SET_ELEM_KEY);
        assert_eq!(start[0].1, &[8, 0, 1, 0, 192, 0, 2, 0][..]);
        assert_eq!(
            start[1],
            (NFTA_SET_ELEM_TIMEOUT, &60_000u64.to_be_bytes()[..])
        );
        let end: Vec<_> = Attrs { b: elems[1].1 }.collect();
        assert_eq!(end[0].1, &[8, 0, 1, 0, 192, 0, 3, 0][..]);
        assert_eq!(end[1], (NFTA_SET_ELEM_FLAGS, &1u32.to_be_bytes()[..]));
        assert_eq!(f.next_seq(), 103);
        // round trip through the dump parser
        let mut raw = Vec::new();
        parse_elem_list(payload, Family::V4, &mut raw).expect("parse");
        let l = intervals(Family::V4, raw);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].range.to_string(), "192.0.2.0/24");
        assert_eq!(l[0].timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn open_ended_and_v6_and_splitting() {
        let mut b = Batch::new(1);
        b.elements_op(
            "rampart",
            "deny4",
            ElemOp::Delete,
            &[e("255.255.255.0/24", Some(5))],
        );
        let f = b.finish();
        let msgs: Vec<_> = Messages::new(f.bytes())
            .collect::<Result<_, _>>()
            .expect("parse");
        let attrs: Vec<_> = Attrs { b: &msgs[1].2[4..] }.collect();
        let elems: Vec<_> = Attrs { b: attrs[2].1 }.collect();
        assert_eq!(elems.len(), 1, "no end element past the last address");
        let start: Vec<_> = Attrs { b: elems[0].1 }.collect();
        assert_eq!(start.len(), 1, "no timeout on delete");

        let many: Vec<Element> = (0..5000u32)
            .map(|i| Element {
                range: IpRange::single(std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | u128::from(i * 2),
                ))),
                timeout: Some(Duration::from_secs(7200)),
            })
            .collect();
        let mut b = Batch::new(1);
        b.flush_set("rampart", "deny6");
        b.elements_op("rampart", "deny6", ElemOp::Add, &many);
        assert_eq!(b.elements(), 5000);
        let f = b.finish();
        let msgs: Vec<_> = Messages::new(f.bytes())
            .collect::<Result<_, _>>()
            .expect("parse");
        assert!(msgs.len() > 4, "split into several messages");
        let mut raw = Vec::new();
        for m in &msgs[1..msgs.len() - 1] {
            assert!(m.2.len() < 65_536);
            parse_elem_list(m.2, Family::V6, &mut raw).expect("parse");
        }
        let l = intervals(Family::V6, raw);
        assert_eq!(l.len(), 5000);
        assert_eq!(l[1].range.to_string(), "2001:db8::2");
    }

    #[test]
    fn adjacent_intervals_from_dump() {
        let raw = vec![
            RawElem {
                key: 10,
                end: false,
                timeout_ms: None,
                expires_ms: None,
            },
            RawElem {
                key: 20,
                end: true,
                timeout_ms: None,
                expires_ms: None,
            },
            RawElem {
                key: 20,
                end: false,
                timeout_ms: Some(5),
                expires_ms: Some(3),
            },
            RawElem {
                key: 30,
                end: true,
                timeout_ms: None,
                expires_ms: None,
            },
            RawElem {
                key: 40,
                end: true,
                timeout_ms: None,
                expires_ms: None,
            },
            RawElem {
                key: 0xffff_ff00,
                end: false,
                timeout_ms: None,
                expires_ms: None,
            },
        ];
        let l = intervals(Family::V4, raw);
        let s: Vec<String> = l.iter().map(|e| e.range.to_string()).collect();
        assert_eq!(
            s,
            vec!["0.0.0.10-0.0.0.19", "0.0.0.20-0.0.0.29", "255.255.255.0/24"]
        );
    }
}
