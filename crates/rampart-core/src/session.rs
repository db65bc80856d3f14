//! Per-process sessions: what one daemon process (a host, a program and a
//! `[pid]`) has said about its connection so far.
//!
//! Daemons such as sshd handle one client per process and report one
//! login attempt on several lines: PAM's `authentication failure; ...
//! rhost=ADDR`, sshd's own `Failed password for USER from ADDR port N ssh2`,
//! and when the client gives up, `Connection closed by authenticating user
//! USER ADDR port N [preauth]` or `maximum authentication attempts
//! exceeded ...`. Counting every one of them would ban after two or three
//! real attempts. A session remembers, per process:
//!
//! - the client's address, as a line the service writes in a fixed
//!   position reported it (a `session` rule, or any event): lines without
//!   an address (`Disconnecting: Too many authentication failures`) and
//!   lines whose address cannot be told from an injected one (a user name
//!   imitating sshd's own suffix) are resolved against it;
//! - how many attempts were counted for it, so a line that only repeats
//!   an attempt (`once_per_session` rules) is counted when it is the only
//!   trace of the session and not again otherwise.
//!
//! The cache is direct-mapped with a fixed number of slots: a collision
//! forgets the older session, which can only turn a later line into a miss
//! or count a repeat once more, never blame a wrong address (the full key
//! and the address are compared).

use std::net::IpAddr;

/// Sessions remembered: slots of a direct-mapped cache. Fixed memory, no
/// rehashing.
const SESSION_SLOTS: usize = 16_384;

/// What is known about one process's connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Attempts counted for this address in this session.
    pub counted: u32,
    /// The time of the session's last line, when lines carry times.
    pub last: Option<i64>,
}

/// A session whose process wrote nothing for this long is over (sshd's
/// LoginGraceTime is 2 minutes): a later line with the same pid belongs to
/// a new process.
pub const SESSION_IDLE_SECS: i64 = 600;

/// The last session seen per (host, program, pid).
#[derive(Debug)]
pub struct SessionCache {
    slots: Vec<(u64, Session)>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            slots: vec![(0, Session::default()); SESSION_SLOTS],
        }
    }
}

impl SessionCache {
    fn slot(key: u64) -> usize {
        (key as usize) & (SESSION_SLOTS - 1)
    }

    /// The session of a process at `time`, if remembered and not idle for
    /// longer than [`SESSION_IDLE_SECS`].
    pub fn get(&self, key: u64, time: Option<i64>) -> Option<Session> {
        let (k, s) = self.slots[Self::slot(key)];
        let idle =
            matches!((s.last, time), (Some(l), Some(t)) if t.saturating_sub(l) > SESSION_IDLE_SECS);
        (k == key && s.ip.is_some() && !idle).then_some(s)
    }

    /// Records the client's address at `time`. Another address under the
    /// same key, or an idle session, is a new connection (a reused pid):
    /// its count starts again.
    pub fn record(&mut self, key: u64, ip: IpAddr, time: Option<i64>) {
        let same = self.get(key, time).is_some_and(|s| s.ip == Some(ip));
        let s = &mut self.slots[Self::slot(key)];
        if !same {
            *s = (
                key,
                Session {
                    ip: Some(ip),
                    counted: 0,
                    last: time,
                },
            );
        }
        s.1.last = time.or(s.1.last);
    }

    /// Records `n` attempts counted against the session's address at `time`.
    pub fn count(&mut self, key: u64, ip: IpAddr, n: u32, time: Option<i64>) {
        self.record(key, ip, time);
        let s = &mut self.slots[Self::slot(key)].1;
        s.counted = s.counted.saturating_add(n);
    }

    /// The session of a process at `time` for updating: a slot holding
    /// another process, or an idle session, is cleared first. One lookup
    /// for the hot path (every event of a syslog line with a pid).
    pub fn entry(&mut self, key: u64, time: Option<i64>) -> &mut Session {
        let s = &mut self.slots[Self::slot(key)];
        let idle = matches!((s.1.last, time), (Some(l), Some(t)) if t.saturating_sub(l) > SESSION_IDLE_SECS);
        if s.0 != key || idle {
            *s = (key, Session::default());
        }
        &mut s.1
    }

    /// Forgets a process's session (its connection is over).
    pub fn remove(&mut self, key: u64) {
        let s = &mut self.slots[Self::slot(key)];
        if s.0 == key {
            s.1 = Session::default();
        }
    }
}

/// The cache key of a process: host, program and pid.
pub fn key(host: Option<&[u8]>, program: Option<&[u8]>, pid: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::fxhash::FxHasher::default();
    h.write(host.unwrap_or(b""));
    h.write_u8(0xff);
    h.write(program.unwrap_or(b""));
    h.write_u8(0xff);
    h.write(pid);
    let x = h.finish();
    // fold the high bits in: the cache indexes by the low ones
    x ^ (x >> 29) ^ (x >> 47)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_forgets() {
        let mut c = SessionCache::default();
        let k = key(Some(b"h"), Some(b"sshd"), b"7");
        let a: IpAddr = "198.51.100.7".parse().unwrap();
        let b: IpAddr = "203.0.113.9".parse().unwrap();
        let t = Some(1000);
        assert_eq!(c.get(k, t), None);
        c.count(k, a, 2, t);
        assert_eq!(c.get(k, t).map(|s| (s.ip, s.counted)), Some((Some(a), 2)));
        c.record(k, a, Some(1100));
        assert_eq!(c.get(k, Some(1100)).map(|s| s.counted), Some(2));
        // idle for longer than a login can take: a new process
        let late = Some(1100 + SESSION_IDLE_SECS + 1);
        assert_eq!(c.get(k, late), None);
        c.record(k, a, late);
        assert_eq!(c.get(k, None).map(|s| s.counted), Some(0));
        // a reused pid with another client starts from zero
        c.count(k, a, 1, None);
        c.record(k, b, None);
        assert_eq!(
            c.get(k, None).map(|s| (s.ip, s.counted)),
            Some((Some(b), 0))
        );
        c.remove(k);
        assert_eq!(c.get(k, None), None);
        // another process is another session
        assert_eq!(c.get(key(Some(b"h"), Some(b"sshd"), b"8"), None), None);
    }
}
