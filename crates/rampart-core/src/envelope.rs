//! The envelope of a log line: its timestamp, and when it is a syslog line,
//! the host, the program tag and the message.
//!
//! Recognised: BSD syslog (`Nov 27 08:15:00 host prog[pid]: msg`, with an
//! optional `<PRI>`), the ISO-timestamp form rsyslog and `journalctl -o
//! short-iso` write, RFC 5424 (`<34>1 2026-11-27T08:15:00Z host app 123 - -
//! msg`), and the host-less form some daemons write to their own files
//! (`Nov 27 08:15:00 imap-login: ...`). A line that is not syslog keeps the
//! whole text (minus a leading timestamp) as its message.
//!
//! The program tag is what lets a rule trust a line: an sshd rule only
//! looks at messages whose tag is `sshd`, so text that another program
//! writes (a web app logging a user name, say) cannot pose as sshd.

use crate::time::{TimeContext, Timestamp, parse_leading};

/// The time a line carries. BSD syslog stamps are only recognised by
/// shape while parsing and computed when a rule matches (most lines never
/// need their time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTime<'a> {
    /// No time at the start of the line.
    None,
    /// Already computed.
    Known(Timestamp),
    /// A `Nov 27 08:15:00` stamp, computed on demand.
    Bsd(&'a [u8]),
}

impl LineTime<'_> {
    /// The time, computing it if needed.
    pub fn get(&self, ctx: &TimeContext) -> Option<Timestamp> {
        match *self {
            LineTime::None => None,
            LineTime::Known(t) => Some(t),
            LineTime::Bsd(b) => parse_leading(b, ctx).map(|(t, _)| t),
        }
    }
}

/// Recognises a `Mmm dd hh:mm:ss ` stamp (16 bytes, an English month
/// name) by its shape, without computing it.
fn bsd_stamp(b: &[u8]) -> bool {
    let Some((Ok(lo), Ok(hi))) = b
        .get(..16)
        .map(|h| (<[u8; 8]>::try_from(&h[..8]), <[u8; 8]>::try_from(&h[8..])))
    else {
        return false;
    };
    // Fixed bytes and digits eight at a time: separators compared under a
    // mask; a byte x is a digit when its high nibble is 3 and x + 6 keeps it
    // (a carry out of a non-digit byte fails its own nibble test first).
    const fn at(positions: &[usize], byte: u8) -> u64 {
        let mut v = 0;
        let mut i = 0;
        while i < positions.len() {
            v |= (byte as u64) << (8 * positions[i]);
            i += 1;
        }
        v
    }
    // "Mmm dd h" (position 4: a space or a digit, checked apart) and "h:mm:ss "
    const LO_SEP: [usize; 2] = [3, 6];
    const LO_DIGITS: [usize; 2] = [5, 7];
    const HI_SEP: [usize; 3] = [1, 4, 7];
    const HI_DIGITS: [usize; 5] = [0, 2, 3, 5, 6];
    const LO_SEP_MASK: u64 = at(&LO_SEP, 0xff);
    const LO_SEPS: u64 = at(&LO_SEP, b' ');
    const HI_SEP_MASK: u64 = at(&HI_SEP, 0xff);
    const HI_SEPS: u64 = u64::from_le_bytes(*b"\0:\0\0:\0\0 ");
    let digits = |v: u64, pos: &[usize]| {
        let (mask, want, six) = (at(pos, 0xf0), at(pos, 0x30), at(pos, 0x06));
        v & mask == want && v.wrapping_add(six) & mask == want
    };
    let (lo, hi) = (u64::from_le_bytes(lo), u64::from_le_bytes(hi));
    lo & LO_SEP_MASK == LO_SEPS
        && hi & HI_SEP_MASK == HI_SEPS
        && digits(hi, &HI_DIGITS)
        && digits(lo, &LO_DIGITS)
        && (b[4] == b' ' || b[4].is_ascii_digit())
        // a month name also means three letters
        && crate::time::month_known(b)
}

/// A parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The time the line carries at its start, if any.
    pub time: LineTime<'a>,
    /// The program tag without its `[pid]`, for syslog lines.
    pub program: Option<&'a [u8]>,
    /// The host field, for syslog lines that have one.
    pub host: Option<&'a [u8]>,
    /// The process id in the tag (`sshd[4242]`), for syslog lines that have one.
    pub pid: Option<&'a [u8]>,
    /// The message: after `tag: ` for syslog lines, after the leading
    /// timestamp otherwise.
    pub message: &'a [u8],
    /// Everything after the leading timestamp (and its spaces), or the whole line.
    pub after_time: &'a [u8],
}

const TAG_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'@');
        i += 1;
    }
    t
};

#[inline]
fn is_tag_byte(b: u8) -> bool {
    TAG_BYTES[usize::from(b)]
}

/// Parses a program tag at the start of `b`: `name:`, `name[pid]:`,
/// `name(pid):` or `name[pid]` followed by a space (proftpd). Returns the
/// name and the offset of the message.
/// A parsed tag: the program name, the offset of the message, the pid.
type Tag<'a> = (&'a [u8], usize, Option<&'a [u8]>);

fn parse_tag(b: &[u8]) -> Option<Tag<'_>> {
    // "[sshd]:" (some relays bracket the tag)
    if b.first() == Some(&b'[') {
        let end = b.iter().take(66).position(|&c| c == b']')?;
        let name = &b[1..end];
        if name.is_empty()
            || !name[0].is_ascii_alphabetic()
            || !name.iter().all(|&c| is_tag_byte(c))
            || b.get(end + 1) != Some(&b':')
        {
            return None;
        }
        let off = if b.get(end + 2) == Some(&b' ') {
            end + 3
        } else {
            end + 2
        };
        return Some((name, off, None));
    }
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let head = &b[..b.len().min(64)];
    let mut i = head
        .iter()
        .position(|&c| !is_tag_byte(c))
        .unwrap_or(head.len());
    let name = &b[..i];
    let mut had_pid = false;
    let mut pid = None;
    if let Some(&open @ (b'[' | b'(')) = b.get(i) {
        let close = if open == b'[' { b']' } else { b')' };
        // a pid, or for "name(word):" (dovecot's auth-worker(default):) a word
        let body = &b[i + 1..b.len().min(i + 32)];
        let n = if open == b'[' {
            body.iter().position(|c| !c.is_ascii_digit())
        } else {
            body.iter().position(|&c| !is_tag_byte(c))
        };
        let j = i + 1 + n.unwrap_or(body.len());
        if j == i + 1 || b.get(j) != Some(&close) {
            return None;
        }
        pid = Some(&b[i + 1..j]);
        i = j + 1;
        had_pid = true;
        if open == b'(' && b.get(i) == Some(&b'[') {
            return instance_tag(b, name, i);
        }
    }
    match b.get(i) {
        Some(b':') => {
            i += 1;
            if b.get(i) == Some(&b' ') {
                i += 1;
            }
            Some((name, i, pid))
        }
        None if had_pid => Some((name, i, pid)),
        Some(b' ') if had_pid => Some((name, i + 1, pid)),
        _ => None,
    }
}

/// `name(instance)[pid]: ` (WP fail2ban's `wordpress(www.example.com)[4242]:`):
/// `i` is at the `[`. Rare, so out of the hot path.
#[cold]
#[inline(never)]
fn instance_tag<'a>(b: &'a [u8], name: &'a [u8], i: usize) -> Option<Tag<'a>> {
    let n = b[i + 1..].iter().take(12).position(|&c| c == b']')?;
    if n == 0 || !b[i + 1..i + 1 + n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pid = &b[i + 1..i + 1 + n];
    let mut off = i + n + 2;
    if b.get(off) != Some(&b':') {
        return None;
    }
    off += 1;
    if b.get(off) == Some(&b' ') {
        off += 1;
    }
    Some((name, off, Some(pid)))
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// Strips a Solaris-style `[ID 800047 auth.info] ` message prefix.
fn strip_msgid(m: &[u8]) -> &[u8] {
    if m.starts_with(b"[ID ")
        && let Some(end) = memchr::memchr(b']', m)
        && end < 48
    {
        return &m[skip_spaces(m, end + 1)..];
    }
    m
}

/// The common case in one pass: `Mmm dd hh:mm:ss host prog[pid]: msg`
/// (or `prog: msg`), one space between the fields, no `<PRI>`. Returns
/// exactly what the general parser would, or `None` to leave any other
/// shape (extra spaces, host-less, bracketed or odd tags, FreeBSD's
/// `<facility.level>`, Solaris message ids) to it.
#[inline]
fn parse_bsd_common(line: &[u8]) -> Option<Envelope<'_>> {
    if !bsd_stamp(line) {
        return None;
    }
    let rest = &line[16..];
    // the host: up to the first space, not starting with a space, `<` or `[`
    let sp = first_space(&rest[..rest.len().min(256)])?;
    if sp == 0 || matches!(rest[0], b'<' | b'[') || matches!(rest[sp - 1], b':' | b']' | b')') {
        return None;
    }
    let after = &rest[sp + 1..];
    // the tag: a letter, tag bytes, then `[digits]:` or `:`
    if !after.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let i = after[..after.len().min(64)]
        .iter()
        .position(|&c| !is_tag_byte(c))?;
    let (pid, colon) = match after[i] {
        b'[' => {
            let digits = &after[i + 1..];
            let n = first_non_digit(&digits[..digits.len().min(31)])?;
            let close = i + 1 + n;
            if n == 0 || after[close] != b']' {
                return None;
            }
            (Some(&after[i + 1..close]), close + 1)
        }
        b':' => (None, i),
        _ => return None,
    };
    if after.get(colon) != Some(&b':') {
        return None;
    }
    let off = colon + 1 + usize::from(after.get(colon + 1) == Some(&b' '));
    let message = &after[off..];
    if message.starts_with(b"[ID ") {
        return None;
    }
    Some(Envelope {
        time: LineTime::Bsd(&line[..15]),
        program: Some(&after[..i]),
        host: Some(&rest[..sp]),
        pid,
        message,
        after_time: rest,
    })
}

const LOW_BITS: u64 = u64::from_le_bytes([0x01; 8]);
const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);

/// The first byte of `b` that the word test marks (its high bit set in
/// the test's result), eight bytes at a time.
#[inline]
fn first_marked(b: &[u8], test: impl Fn(u64) -> u64, byte: impl Fn(u8) -> bool) -> Option<usize> {
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0; 8];
        w.copy_from_slice(c);
        let marks = test(u64::from_le_bytes(w));
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| byte(c))
        .map(|p| at + p)
}

/// The index of the first space in `b`.
fn first_space(b: &[u8]) -> Option<usize> {
    // a zero byte of w ^ spaces: the borrow of (x - 1) reaches its high bit
    // only through a zero byte, so the lowest mark is exact
    let spaces = u64::from_le_bytes([b' '; 8]);
    first_marked(
        b,
        |w| {
            let x = w ^ spaces;
            x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
        },
        |c| c == b' ',
    )
}

/// The index of the first byte of `b` that is not an ASCII digit.
fn first_non_digit(b: &[u8]) -> Option<usize> {
    // y = x ^ '0' is a digit's value; a byte is not a digit when y > 9:
    // its low seven bits plus 0x76 reach the high bit (no carry out of a
    // byte), or its own high bit is set
    let zeros = u64::from_le_bytes([b'0'; 8]);
    let low7 = u64::from_le_bytes([0x7f; 8]);
    let add = u64::from_le_bytes([0x76; 8]);
    first_marked(
        b,
        |w| {
            let y = w ^ zeros;
            (((y & low7) + add) | y) & HIGH_BITS
        },
        |c| !c.is_ascii_digit(),
    )
}

/// Parses the envelope of one line.
pub fn parse<'a>(line: &'a [u8], ctx: &TimeContext) -> Envelope<'a> {
    match parse_bsd_common(line) {
        Some(env) => env,
        None => parse_general(line, ctx),
    }
}

/// Every shape [`parse`] knows.
fn parse_general<'a>(line: &'a [u8], ctx: &TimeContext) -> Envelope<'a> {
    let mut b = line;
    // <PRI>
    if b.first() == Some(&b'<')
        && let Some(end) = b.iter().take(5).position(|&c| c == b'>')
        && end > 1
        && b[1..end].iter().all(u8::is_ascii_digit)
    {
        b = &b[end + 1..];
        if b.starts_with(b"1 ") {
            if let Some(env) = parse_5424(&b[2..], ctx) {
                return env;
            }
            return Envelope {
                time: LineTime::None,
                program: None,
                host: None,
                pid: None,
                message: line,
                after_time: line,
            };
        }
    }
    let parsed = if bsd_stamp(b) {
        Some((LineTime::Bsd(&b[..15]), 15))
    } else {
        parse_leading(b, ctx).map(|(t, used)| (LineTime::Known(t), used))
    };
    let Some((time, used)) = parsed else {
        // "host prog[pid]: msg": syslog relayed without its timestamp
        // (journald exports, some forwarders).
        if let Some(sp) = memchr::memchr(b' ', b)
            && sp > 0
            && sp < 256
            && b[0].is_ascii_alphanumeric()
            && b[..sp].iter().all(|&c| is_tag_byte(c) || c == b':')
        {
            let after = &b[skip_spaces(b, sp)..];
            if let Some((name, off, pid)) = parse_tag(after)
                && (after[..off].contains(&b'[') || after[..off].contains(&b':'))
            {
                let mut env = syslog(
                    LineTime::None,
                    Some(&b[..sp]),
                    name,
                    pid,
                    &after[off..],
                    line,
                );
                env.after_time = line;
                return env;
            }
        }
        return Envelope {
            time: LineTime::None,
            program: None,
            host: None,
            pid: None,
            message: line,
            after_time: line,
        };
    };
    let mut rest_at = skip_spaces(b, used);
    // FreeBSD syslogd -v: "Nov 27 08:15:00 <mail.notice> host prog[pid]: msg"
    if b.get(rest_at) == Some(&b'<')
        && let Some(end) = b[rest_at..].iter().take(32).position(|&c| c == b'>')
        && b[rest_at + 1..rest_at + end].contains(&b'.')
        && b.get(rest_at + end + 1) == Some(&b' ')
    {
        rest_at = skip_spaces(b, rest_at + end + 1);
    }
    let rest = &b[rest_at..];
    if rest_at > used {
        // host-less: "Nov 27 08:15:00 imap-login: ..."
        let sp = memchr::memchr(b' ', rest);
        // host-less only when the first word is a tag (ends in ':' or ']')
        let first_end = sp.unwrap_or(rest.len());
        if first_end > 0
            && matches!(rest[first_end - 1], b':' | b']' | b')')
            && let Some((name, off, pid)) = parse_tag(rest)
        {
            return syslog(time, None, name, pid, &rest[off..], rest);
        }
        // "Nov 27 08:15:00 host prog[pid]: ..." (a host never starts with
        // '[': "UTC [4242] LOG: ..." is PostgreSQL's own log)
        if let Some(sp) = sp
            && sp > 0
            && rest[0] != b'['
            && sp < 256
        {
            let host = &rest[..sp];
            let after = &rest[skip_spaces(rest, sp)..];
            if let Some((name, off, pid)) = parse_tag(after) {
                return syslog(time, Some(host), name, pid, &after[off..], rest);
            }
        }
    }
    // Not syslog: the message is what follows the timestamp (and a `: `).
    let mut m = rest;
    if rest_at == used && m.first() == Some(&b':') {
        m = &m[skip_spaces(m, 1)..];
    }
    Envelope {
        time,
        program: None,
        host: None,
        pid: leading_pid(m),
        message: m,
        after_time: m,
    }
}

/// The writer's pid when a service's own log line puts it first, after
/// the timestamp: `[4242] ` (PostgreSQL's `%m [%p]`, exim's `+pid`), also
/// behind a time-zone word (`UTC [4242] `).
#[inline(never)]
fn leading_pid(m: &[u8]) -> Option<&[u8]> {
    let zone = m
        .iter()
        .take(6)
        .position(|&c| c == b' ')
        .filter(|&n| n >= 2 && m[..n].iter().all(u8::is_ascii_uppercase));
    let rest = m.get(zone.map_or(0, |n| n + 1)..)?.strip_prefix(b"[")?;
    let end = rest.iter().take(11).position(|&c| c == b']')?;
    (end > 0 && rest[..end].iter().all(u8::is_ascii_digit)).then(|| &rest[..end])
}

/// Parses a line from a source declared to be `program`'s output
/// (`[[sources.file]] program = "dropbear"`, `rampart scan --program`).
///
/// BusyBox/OpenWrt `logread`, a container's stdout and some journal
/// exports write a daemon's messages without a syslog header, possibly
/// behind a timestamp: `Bad password attempt for 'root' from
/// 192.0.2.1:40000`, `[4242] Nov 27 08:15:00 Exit before auth ...`
/// (dropbear's own stderr format, whose `[pid]` is taken as the pid). Such
/// a line is read as `program`'s message; the program is the declaration's,
/// never guessed from the text. A line that carries a syslog header naming
/// `program` is read as usual.
pub fn parse_as<'a>(line: &'a [u8], program: &'a [u8], ctx: &TimeContext) -> Envelope<'a> {
    let env = parse(line, ctx);
    if env.program == Some(program) {
        return env;
    }
    let mut message = env.after_time;
    if env.after_time.len() < line.len() && message.first() == Some(&b':') {
        message = &message[skip_spaces(message, 1)..];
    }
    let pid = message.strip_prefix(b"[").and_then(|m| {
        let end = m.iter().position(|&c| c == b']')?;
        (end > 0 && end < 12 && m[..end].iter().all(u8::is_ascii_digit)).then(|| &m[..end])
    });
    Envelope {
        time: env.time,
        program: Some(program),
        host: None,
        pid,
        message,
        after_time: message,
    }
}

fn syslog<'a>(
    time: LineTime<'a>,
    host: Option<&'a [u8]>,
    program: &'a [u8],
    pid: Option<&'a [u8]>,
    msg: &'a [u8],
    after_time: &'a [u8],
) -> Envelope<'a> {
    Envelope {
        time,
        program: Some(program),
        host,
        pid,
        message: strip_msgid(msg),
        after_time,
    }
}

/// RFC 5424 after `<PRI>1 `: `TIMESTAMP HOST APP PROCID MSGID SD MSG`.
fn parse_5424<'a>(b: &'a [u8], ctx: &TimeContext) -> Option<Envelope<'a>> {
    let mut fields = [&b[..0]; 5];
    let mut i = 0;
    for f in &mut fields {
        let end = memchr::memchr(b' ', &b[i..]).map_or(b.len(), |e| i + e);
        *f = &b[i..end];
        i = (end + 1).min(b.len());
    }
    let [ts, host, app, procid, _msgid] = fields;
    let time = if ts == b"-" {
        LineTime::None
    } else {
        LineTime::Known(parse_leading(ts, ctx)?.0)
    };
    // structured data: "-" or one or more [..] blocks
    let mut rest = &b[i..];
    if rest.first() == Some(&b'-') {
        rest = &rest[1..];
    } else {
        while rest.first() == Some(&b'[') {
            let mut j = 1;
            let mut esc = false;
            let mut quoted = false;
            while j < rest.len() {
                match rest[j] {
                    b'\\' if !esc => esc = true,
                    b'"' if !esc => {
                        quoted = !quoted;
                    }
                    b']' if !esc && !quoted => break,
                    _ => esc = false,
                }
                if rest[j] != b'\\' {
                    esc = false;
                }
                j += 1;
            }
            rest = rest.get(j + 1..)?;
        }
    }
    let mut msg = &rest[skip_spaces(rest, 0)..];
    if let Some(m) = msg.strip_prefix("\u{feff}".as_bytes()) {
        msg = m;
    }
    let program = (app != b"-" && !app.is_empty()).then_some(app);
    Some(Envelope {
        time,
        program,
        host: (host != b"-").then_some(host),
        pid: (procid != b"-").then_some(procid),
        message: strip_msgid(msg),
        after_time: msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_rfc3339;

    const REF: Timestamp = 1_795_780_800;

    fn e(s: &str) -> (Option<String>, Option<String>, Option<String>, String) {
        let env = parse(s.as_bytes(), &TimeContext::utc(REF));
        let st = |b: Option<&[u8]>| b.map(|x| String::from_utf8_lossy(x).into_owned());
        (
            env.time.get(&TimeContext::utc(REF)).map(format_rfc3339),
            st(env.host),
            st(env.program),
            String::from_utf8_lossy(env.message).into_owned(),
        )
    }

    #[test]
    fn bsd() {
        let (t, h, p, m) = e("Nov 27 08:15:00 web1 sshd[123]: Failed password for root");
        assert_eq!(t.as_deref(), Some("2026-11-27T08:15:00Z"));
        assert_eq!(h.as_deref(), Some("web1"));
        assert_eq!(p.as_deref(), Some("sshd"));
        assert_eq!(m, "Failed password for root");
        let (_, _, p, m) = e("<38>Nov  7 08:15:00 web1 postfix/submission/smtpd[9]: warning: x");
        assert_eq!(p.as_deref(), Some("postfix/submission/smtpd"));
        assert_eq!(m, "warning: x");
        let (_, _, p, m) = e("Nov 27 08:15:00 web1 sshd[123]: [ID 800047 auth.info] Failed x");
        assert_eq!(p.as_deref(), Some("sshd"));
        assert_eq!(m, "Failed x");
    }

    #[test]
    fn iso_and_hostless_and_proftpd() {
        let (t, h, p, m) =
            e("2026-11-27T08:15:00.123456+01:00 web1 sshd-session[5]: Invalid user x");
        assert_eq!(t.as_deref(), Some("2026-11-27T07:15:00Z"));
        assert_eq!(
            (h.as_deref(), p.as_deref()),
            (Some("web1"), Some("sshd-session"))
        );
        assert_eq!(m, "Invalid user x");
        let (_, h, p, m) = e("Nov 27 08:15:00 imap-login: Info: Aborted login");
        assert_eq!((h, p.as_deref()), (None, Some("imap-login")));
        assert_eq!(m, "Info: Aborted login");
        let (_, _, p, m) =
            e("Nov 27 08:15:00 web1 proftpd[77] web1 (198.51.100.7[198.51.100.7]): USER x");
        assert_eq!(p.as_deref(), Some("proftpd"));
        assert_eq!(m, "web1 (198.51.100.7[198.51.100.7]): USER x");
    }

    #[test]
    fn rfc5424() {
        let (t, h, p, m) = e("<34>1 2026-11-27T08:15:00.003Z web1 sshd 123 - - Failed password");
        assert_eq!(t.as_deref(), Some("2026-11-27T08:15:00Z"));
        assert_eq!((h.as_deref(), p.as_deref()), (Some("web1"), Some("sshd")));
        assert_eq!(m, "Failed password");
        let (_, _, p, m) =
            e(r#"<34>1 2026-11-27T08:15:00Z web1 sshd 123 ID47 [x@1 a="\]b"][y@2] hi"#);
        assert_eq!(p.as_deref(), Some("sshd"));
        assert_eq!(m, "hi");
    }

    #[test]
    fn timestamp_less_and_odd_tags() {
        let (t, h, p, m) = e("srv sshd[123]: Failed password for root");
        assert_eq!(
            (t, h.as_deref(), p.as_deref()),
            (None, Some("srv"), Some("sshd"))
        );
        assert_eq!(m, "Failed password for root");
        let (_, _, p, m) = e("Nov 27 08:15:00 srv [sshd]: Invalid user x");
        assert_eq!(p.as_deref(), Some("sshd"));
        assert_eq!(m, "Invalid user x");
        let (_, h, p, _) = e("Jun 17 14:37:39 <mail.notice> mx sm-mta[5]: x");
        assert_eq!((h.as_deref(), p.as_deref()), (Some("mx"), Some("sm-mta")));
        let (_, _, p, _) = e("Nov 27 08:15:00 auth-worker(default): Info: x");
        assert_eq!(p.as_deref(), Some("auth-worker"));
        let (_, h, p, m) =
            e("Nov 27 08:15:00 web1 wordpress(www.example.com)[2301]: Authentication failure");
        assert_eq!(
            (h.as_deref(), p.as_deref()),
            (Some("web1"), Some("wordpress"))
        );
        assert_eq!(m, "Authentication failure");
        let (_, _, p, m) = e(r#"<34>1 2026-11-27T08:15:00Z web1 sshd 123 - [meta x="a]b"] hi"#);
        assert_eq!(p.as_deref(), Some("sshd"));
        assert_eq!(m, "hi");
        // an access log line is not syslog
        let (_, _, p, _) =
            e("198.51.100.7 - - [27/Nov/2026:08:15:00 +0000] \"GET / HTTP/1.1\" 200 1");
        assert_eq!(p, None);
    }

    #[test]
    fn not_syslog() {
        let (t, h, p, m) =
            e("198.51.100.7 - - [27/Nov/2026:08:15:00 +0000] \"GET / HTTP/1.1\" 200 1");
        assert_eq!((t, h, p), (None, None, None));
        assert!(m.starts_with("198.51.100.7"));
        let (t, _, p, m) = e("2026-11-27 08:15:00 H=(x) [198.51.100.7] rejected");
        assert_eq!(t.as_deref(), Some("2026-11-27T08:15:00Z"));
        assert_eq!(p, None);
        assert_eq!(m, "H=(x) [198.51.100.7] rejected");
        let (_, _, p, m) = e("[27-Nov-2026 08:15:00 +0100]: <abc> IMAP Error");
        assert_eq!(p, None);
        assert_eq!(m, "<abc> IMAP Error");
        let (_, _, p, m) =
            e("Fri Nov 27 08:15:00 2026 [pid 3] [u] FAIL LOGIN: Client \"198.51.100.7\"");
        assert_eq!(p, None);
        assert!(m.starts_with("[pid 3]"));
        let ctx = TimeContext::utc(REF);
        let env = parse(
            b"2026-11-27 08:15:00.123 UTC [4242] LOG:  connection received",
            &ctx,
        );
        assert_eq!((env.program, env.pid), (None, Some(&b"4242"[..])));
        let env = parse(b"2026-11-27 08:15:00 [77] 1abc-00 <= a@example.net", &ctx);
        assert_eq!(env.pid, Some(&b"77"[..]));
        let env = parse(b"2026-11-27 08:15:00 [pid 3] x", &ctx);
        assert_eq!(env.pid, None);
    }

    #[test]
    fn declared_program() {
        let ctx = TimeContext::utc(REF);
        let env = parse_as(
            b"Bad password attempt for 'root' from 198.51.100.7:40000",
            b"dropbear",
            &ctx,
        );
        assert_eq!(env.program, Some(&b"dropbear"[..]));
        assert_eq!(
            env.message,
            b"Bad password attempt for 'root' from 198.51.100.7:40000"
        );
        assert_eq!(env.time, LineTime::None);
        let env = parse_as(
            b"2026-11-27T08:15:00Z [4242] Nov 27 08:15:00 Exit before auth",
            b"dropbear",
            &ctx,
        );
        assert_eq!(
            env.time.get(&ctx).map(format_rfc3339).as_deref(),
            Some("2026-11-27T08:15:00Z")
        );
        assert_eq!(env.pid, Some(&b"4242"[..]));
        assert_eq!(env.message, b"[4242] Nov 27 08:15:00 Exit before auth");
        // text that looks like a syslog tag is still the declared program's
        let env = parse_as(
            b"error: PAM: Authentication failure for x from 198.51.100.7",
            b"sshd",
            &ctx,
        );
        assert_eq!(env.program, Some(&b"sshd"[..]));
        assert_eq!(
            env.message,
            b"error: PAM: Authentication failure for x from 198.51.100.7"
        );
        // a header naming the program is read as usual
        let env = parse_as(
            b"Nov 27 08:15:00 r1 dropbear[7]: Exit before auth",
            b"dropbear",
            &ctx,
        );
        assert_eq!((env.host, env.pid), (Some(&b"r1"[..]), Some(&b"7"[..])));
        assert_eq!(env.message, b"Exit before auth");
        // OpenWrt logread: the facility.level word stands where the host does
        let env = parse_as(
            b"Fri Nov 27 08:15:00 2026 authpriv.warn dropbear[7]: Exit before auth",
            b"dropbear",
            &ctx,
        );
        assert_eq!(env.message, b"Exit before auth");
    }

    /// The stamp check as it was written byte by byte.
    fn bsd_stamp_reference(b: &[u8]) -> bool {
        b.len() >= 16
            && b[..3].iter().all(u8::is_ascii_alphabetic)
            && b[3] == b' '
            && (b[4] == b' ' || b[4].is_ascii_digit())
            && [5, 7, 8, 10, 11, 13, 14]
                .iter()
                .all(|&i| b[i].is_ascii_digit())
            && [6, 15].iter().all(|&i| b[i] == b' ')
            && b[9] == b':'
            && b[12] == b':'
            && crate::time::month_known(b)
    }

    #[test]
    fn bsd_stamp_checks_every_byte() {
        for base in [&b"Nov 27 08:15:00 x"[..], b"Nov  7 08:15:00 x"] {
            assert!(bsd_stamp(base));
            for pos in 0..16 {
                for byte in 0..=255u8 {
                    let mut b = base.to_vec();
                    b[pos] = byte;
                    assert_eq!(bsd_stamp(&b), bsd_stamp_reference(&b), "{b:?}");
                }
            }
            assert!(!bsd_stamp(&base[..15]));
        }
    }

    #[test]
    fn word_searches_find_the_first_byte() {
        for len in 0..20 {
            for at in 0..=len {
                for filler in [b'a', b'5', b'~', 0x80, 0xff, b'\0', b'/'] {
                    let mut b = vec![filler; len];
                    for byte in [b' ', b'x', b'0', b'9', b':', 0xb0, 0x39 ^ 0x80] {
                        if at < len {
                            b[at] = byte;
                        }
                        let space = b.iter().position(|&c| c == b' ');
                        let non_digit = b.iter().position(|c| !c.is_ascii_digit());
                        assert_eq!(first_space(&b), space, "{b:?}");
                        assert_eq!(first_non_digit(&b), non_digit, "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_common_shape_parses_as_the_general_parser_does() {
        let ctx = TimeContext::utc(REF);
        let lines = [
            "Nov 27 08:15:00 web1 sshd[123]: Failed password for root",
            "Nov  7 08:15:00 web1 sshd[123]:Failed",
            "Nov 27 08:15:00 web1 sshd[123]:",
            "Nov 27 08:15:00 web1 sshd:  two spaces",
            "Nov 27 08:15:00 web1 sshd[]: x",
            "Nov 27 08:15:00 web1 sshd[12a]: x",
            "Nov 27 08:15:00 web1 sshd[123] x",
            "Nov 27 08:15:00 web1 sshd[123]",
            "Nov 27 08:15:00 web1 sshd(7): x",
            "Nov 27 08:15:00 web1  sshd[1]: x",
            "Nov 27 08:15:00  web1 sshd[1]: x",
            "Nov 27 08:15:00 web1: sshd[1]: x",
            "Nov 27 08:15:00 [web1] sshd[1]: x",
            "Nov 27 08:15:00 <auth.info> web1 sshd[1]: x",
            "Nov 27 08:15:00 web1 sshd[1]: [ID 800047 auth.info] x",
            "Nov 27 08:15:00 web1 1sshd[1]: x",
            "Nov 27 08:15:00 web1 [sshd]: x",
            "Nov 27 08:15:00 web1 postfix/submission/smtpd[9]: warning: x",
            "Nov 27 08:15:00 web1",
            "Nov 27 08:15:00 web1 ",
            "Nov 27 08:15:00 imap-login: Info: x",
            "Abc 27 08:15:00 web1 sshd[1]: x",
            "Nov 27 08:15:00 web1 sshd[12345678901234567890123456789012]: x",
            "Nov 27 08:15:00 web1 sshd[1234567890123456789012345678901]: x",
        ];
        let long_tag = format!("Nov 27 08:15:00 h {}[1]: x", "a".repeat(70));
        let long_host = format!("Nov 27 08:15:00 {} sshd[1]: x", "h".repeat(300));
        let mut fast = 0;
        for l in lines
            .iter()
            .copied()
            .chain([long_tag.as_str(), long_host.as_str()])
        {
            let b = l.as_bytes();
            for end in 0..=b.len() {
                if let Some(env) = parse_bsd_common(&b[..end]) {
                    assert_eq!(env, parse_general(&b[..end], &ctx), "{:?}", &l[..end]);
                    fast += 1;
                }
            }
        }
        assert!(fast > 50, "the common shape is recognised ({fast})");
    }

    #[test]
    fn garbage_is_not_a_crash() {
        for s in [
            "",
            "<",
            "<1>",
            "<1>1 ",
            "<1>1 - - - - - -",
            "Nov 27 08:15:00",
            "\u{0}\u{0}",
            "[",
            "[]",
        ] {
            let _ = e(s);
        }
        let bin: Vec<u8> = (0..=255u8).collect();
        let _ = parse(&bin, &TimeContext::utc(REF));
    }
}
