//! Time: the injected clock, and timestamps as logs write them.
//!
//! The core never reads the system clock. Callers pass "now" explicitly, or
//! hand a [`Clock`] to the parts that need one; the scanner uses the times
//! written in the logs, the daemon uses the wall clock.
//!
//! Timestamps are seconds since the Unix epoch (UTC). Logs that carry an
//! offset (`+0200`, `Z`) are honoured. Logs that write a naive local time
//! (BSD syslog, exim, nginx) are read in the configured zone: a fixed
//! offset, or a time zone with its DST rules (`log_timezone =
//! "Europe/Berlin"` or `"local"`), applied per line, so a log written
//! across a DST change reads right on both sides. The shell loads the
//! zone (the system's database, `TZ`, `/etc/localtime`) and hands it in
//! as a [`jiff::tz::TimeZone`]; the core never reads a file.
//!
//! Two local times need a rule:
//!
//! - **A skipped time** (the hour clocks jump over in spring, 02:30 on
//!   2026-03-29 in Berlin) cannot be written by a correct clock; it is read
//!   with the offset before the jump (02:30 = 03:30 CEST), as RFC 5545 and
//!   jiff's "compatible" mode do.
//! - **A repeated time** (the hour clocks go through twice in autumn, 02:30
//!   on 2026-10-25 in Berlin is 00:30Z in summer time and 01:30Z in winter
//!   time) is read as the occurrence nearer to [`TimeContext::near`]: the
//!   time of the previous event of the same input, or "now" for a live
//!   daemon (the detector passes its fallback time). Logs are written in
//!   order, so a line in the second 02:xx hour follows lines of the first
//!   and lands after them; a live daemon reads lines within seconds of
//!   their writing. When `near` is more than a day from both readings
//!   (the first event of an old log), the first pass is taken: it comes
//!   first in any log. Only a log whose first event falls in the second
//!   pass, or whose events are more than 30 minutes apart across the
//!   change, can be read an hour off.
//!
//! Year-less syslog times get the year that puts them closest to, and not
//! more than a few days after, the reference time.

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// A source of the current time, injected wherever the core needs "now".
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A clock that stands still until moved: for tests and log replay.
#[derive(Debug, Default, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The zone naive times are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Zone {
    /// Seconds east of UTC (the fast path: no rules to look up).
    Fixed(i32),
    /// A zone with rules (DST), and its unambiguous periods near the
    /// reference time, precomputed.
    Rules(TimeZone, Vec<Period>),
}

/// Local times `[start, end)` (seconds of the local calendar) that occur
/// exactly once, all at `offset`: a lookup is a binary search instead of
/// a trip through the zone's rules (which are consulted for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    start: i64,
    end: i64,
    offset: i32,
}

/// The unambiguous periods of `tz` from three years before `reference`
/// to two years after (logs, rotations and clock skew stay inside).
fn periods(tz: &TimeZone, reference: Timestamp) -> Vec<Period> {
    let (Ok(from), Ok(to)) = (
        jiff::Timestamp::from_second(reference - 3 * 366 * 86400),
        jiff::Timestamp::from_second(reference + 2 * 366 * 86400),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // (utc second of the change, offset before, offset after)
    let mut prev = (
        from.as_second(),
        tz.to_offset(from).seconds(),
        tz.to_offset(from).seconds(),
    );
    for t in tz.following(from).take(64) {
        let (at, after) = (t.timestamp().as_second(), t.offset().seconds());
        let before = prev.2;
        if at > to.as_second() {
            break;
        }
        out.push(Period {
            start: prev.0 + i64::from(prev.1.max(prev.2)),
            end: at + i64::from(before.min(after)),
            offset: before,
        });
        prev = (at, before, after);
    }
    out.push(Period {
        start: prev.0 + i64::from(prev.1.max(prev.2)),
        end: to.as_second() + i64::from(prev.2),
        offset: prev.2,
    });
    out.retain(|p| p.start < p.end);
    out
}

/// How naive timestamps are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeContext {
    zone: Zone,
    /// The reference time used to infer the year of year-less timestamps.
    pub reference: Timestamp,
    /// A repeated local time (the autumn DST hour) is read as the
    /// occurrence nearer to this: the previous event's time, or now
    /// (see the module documentation). Starts at `reference`.
    pub near: Timestamp,
    ref_year: i64,
}

impl TimeContext {
    /// Naive times at `offset_secs` east of UTC, years inferred relative to `reference`.
    pub fn new(offset_secs: i32, reference: Timestamp) -> TimeContext {
        TimeContext::with(Zone::Fixed(offset_secs), reference)
    }

    /// Logs in UTC, years inferred relative to `reference`.
    pub fn utc(reference: Timestamp) -> TimeContext {
        TimeContext::new(0, reference)
    }

    /// Naive times in `zone` (its DST rules applied per line), years
    /// inferred relative to `reference`. A fixed-offset zone (UTC,
    /// `+01:00`) takes the same fast path as [`TimeContext::new`].
    pub fn in_zone(zone: &TimeZone, reference: Timestamp) -> TimeContext {
        let zone = match zone.to_fixed_offset() {
            Ok(o) => Zone::Fixed(o.seconds()),
            Err(_) => Zone::Rules(zone.clone(), periods(zone, reference)),
        };
        TimeContext::with(zone, reference)
    }

    fn with(zone: Zone, reference: Timestamp) -> TimeContext {
        TimeContext {
            zone,
            reference,
            near: reference,
            ref_year: civil_from_days(reference.div_euclid(86400)).0,
        }
    }

    /// Moves the reference time (and `near`) to `now`, keeping the zone's
    /// precomputed periods unless `now` left their range: a daemon keeps one
    /// context and calls this each pass instead of building a new one.
    pub fn set_reference(&mut self, now: Timestamp) {
        let moved_far = (now - self.reference).abs() > 366 * 86400;
        if let Zone::Rules(tz, periods) = &mut self.zone
            && moved_far
        {
            *periods = self::periods(tz, now);
        }
        self.reference = now;
        self.near = now;
        self.ref_year = civil_from_days(now.div_euclid(86400)).0;
    }

    /// This context with [`TimeContext::near`] set to `near`.
    pub fn with_near(&self, near: Timestamp) -> TimeContext {
        TimeContext {
            near,
            ..self.clone()
        }
    }

    /// Whether a repeated local time can occur (the zone has rules), so
    /// that [`TimeContext::near`] matters.
    pub fn has_rules(&self) -> bool {
        matches!(self.zone, Zone::Rules(..))
    }

    /// The UTC time of a local time given as seconds since the epoch of
    /// the local calendar (`days_from_civil(..) * 86400 + seconds of day`).
    fn local_to_utc(&self, local: i64) -> Timestamp {
        match &self.zone {
            Zone::Fixed(o) => local - i64::from(*o),
            Zone::Rules(tz, periods) => {
                let i = periods.partition_point(|p| p.end <= local);
                let offset = match periods.get(i) {
                    Some(p) if p.start <= local => p.offset,
                    _ => offset_at_local(tz, local, self.near),
                };
                local - i64::from(offset)
            }
        }
    }
}

/// The offset (seconds east) that applies to a local time in `tz`:
/// skipped times take the offset before the jump, repeated times the
/// occurrence nearer to `near`.
fn offset_at_local(tz: &TimeZone, local: i64, near: Timestamp) -> i32 {
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let dt = i16::try_from(y).ok().and_then(|y| {
        DateTime::new(
            y,
            m as i8,
            d as i8,
            (secs / 3600) as i8,
            ((secs / 60) % 60) as i8,
            (secs % 60) as i8,
            0,
        )
        .ok()
    });
    let Some(dt) = dt else {
        // Outside jiff's range: the zone's offset near that instant.
        return jiff::Timestamp::from_second(local).map_or(0, |t| tz.to_offset(t).seconds());
    };
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
        AmbiguousOffset::Gap { before, .. } => before.seconds(),
        AmbiguousOffset::Fold { before, after } => {
            let (b, a) = (before.seconds(), after.seconds());
            let dist = |o: i32| (local - i64::from(o) - near).abs();
            let first_pass = b.max(a); // the larger offset is the earlier instant
            if dist(a).min(dist(b)) > 86400 {
                // `near` says nothing (a log read long after): the first pass
                first_pass
            } else if dist(a) < dist(b) {
                a
            } else {
                b
            }
        }
    }
}

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date (year, month, day) of a day count since the epoch.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a timestamp as RFC 3339 UTC (`2026-11-27T08:15:00Z`).
pub fn format_rfc3339(t: Timestamp) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Whether `b` starts with an English month abbreviation.
pub fn month_known(b: &[u8]) -> bool {
    month_from(b).is_some()
}

fn month_from(b: &[u8]) -> Option<u32> {
    let [a, b, c, ..] = *b else { return None };
    // the three letters, lower-cased, as one word; a perfect hash of the
    // twelve names picks the one table row it can be
    let m = u32::from_le_bytes([a | 0x20, b | 0x20, c | 0x20, 0]);
    let (name, month) = MONTHS[(m.wrapping_mul(MONTH_HASH) >> 28) as usize];
    (name == m && month != 0).then_some(month)
}

/// A multiplier under which the top four bits of the twelve month words
/// differ.
const MONTH_HASH: u32 = 0x4dc3_8505;

/// Month words (`jan` as a little-endian `u32`) and numbers, by hash.
const MONTHS: [(u32, u32); 16] = {
    let names: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let mut table = [(0, 0); 16];
    let mut i = 0;
    while i < 12 {
        let n = names[i];
        let word = u32::from_le_bytes([n[0], n[1], n[2], 0]);
        let slot = (word.wrapping_mul(MONTH_HASH) >> 28) as usize;
        assert!(table[slot].1 == 0, "the month hash must not collide");
        table[slot] = (word, i as u32 + 1);
        i += 1;
    }
    table
};

/// A tiny cursor over bytes for the fixed-shape parsers (timestamps,
/// dotted quads).
pub(crate) struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    /// At the start of `b`.
    pub(crate) fn new(b: &'a [u8]) -> Cur<'a> {
        Cur { b, i: 0 }
    }
    /// The offset reached.
    pub(crate) fn at(&self) -> usize {
        self.i
    }
    /// `min` to `max` ASCII digits as a number.
    pub(crate) fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + u32::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        (self.i - start >= min).then_some(v)
    }
    /// The byte `c`, consumed.
    pub(crate) fn byte(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn spaces(&mut self) -> usize {
        let s = self.i;
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
        self.i - s
    }
    fn month(&mut self) -> Option<u32> {
        let m = month_from(self.b.get(self.i..)?)?;
        self.i += 3;
        Some(m)
    }
    fn weekday(&mut self) -> Option<()> {
        let w = self.b.get(self.i..self.i + 3)?;
        if w.iter().all(u8::is_ascii_alphabetic) {
            self.i += 3;
            Some(())
        } else {
            None
        }
    }
    /// hh:mm:ss with an optional fraction (`.123`, `,123`).
    fn hms(&mut self) -> Option<i64> {
        let h = self.digits(1, 2)?;
        self.byte(b':')?;
        let mi = self.digits(2, 2)?;
        self.byte(b':')?;
        let s = self.digits(2, 2)?;
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b','))
            && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            self.i += 1;
            self.digits(1, 9)?;
        }
        Some(i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s.min(59)))
    }
    /// An optional zone: ` +0200`, `+02:00`, `Z`, ` UTC`, ` GMT`. Returns seconds east.
    fn zone(&mut self) -> Option<i32> {
        let save = self.i;
        if self.peek() == Some(b'Z') {
            self.i += 1;
            return Some(0);
        }
        let sp = self.spaces();
        match self.peek() {
            Some(c @ (b'+' | b'-')) => {
                self.i += 1;
                let h = self.digits(2, 2);
                let _ = self.byte(b':');
                let m = self.digits(2, 2);
                if let (Some(h), Some(m)) = (h, m)
                    && h <= 14
                    && m < 60
                {
                    let off = (h * 3600 + m * 60) as i32;
                    return Some(if c == b'-' { -off } else { off });
                }
            }
            Some(b'U' | b'G') if sp > 0 => {
                let w = self.b.get(self.i..self.i + 3);
                if w == Some(b"UTC") || w == Some(b"GMT") {
                    self.i += 3;
                    return Some(0);
                }
            }
            _ => {}
        }
        self.i = save;
        None
    }
}

fn valid_date(y: i64, m: u32, d: u32) -> bool {
    (1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

fn assemble(y: i64, m: u32, d: u32, secs: i64, zone: Option<i32>, ctx: &TimeContext) -> Timestamp {
    let local = days_from_civil(y, m, d) * 86400 + secs;
    match zone {
        Some(z) => local - i64::from(z),
        None => ctx.local_to_utc(local),
    }
}

/// The year that puts a year-less (month, day) closest to the reference,
/// allowing it at most 7 days in the future (clocks and rotation skew).
fn infer_year(m: u32, d: u32, secs: i64, ctx: &TimeContext) -> i64 {
    let ry = ctx.ref_year;
    let t = assemble(ry, m, d, secs, None, ctx);
    if t > ctx.reference + 7 * 86400 {
        ry - 1
    } else {
        ry
    }
}

/// Parses a timestamp at the start of `b`, in any of the shapes services
/// write. Returns the time and the number of bytes consumed (including a
/// surrounding `[...]` and the zone, but not the following space).
///
/// Shapes: `Nov 27 08:15:00`, `2026-11-27T08:15:00.123+01:00`,
/// `2026-11-27 08:15:00 +0100`, `2026/11/27 08:15:00`,
/// `Fri Nov 27 08:15:00[.123456] 2026`, `27/Nov/2026:08:15:00 +0100`,
/// `27-Nov-2026 08:15:00 +0100`, `27-11-2026 08:15:00`, each optionally in brackets.
pub fn parse_leading(b: &[u8], ctx: &TimeContext) -> Option<(Timestamp, usize)> {
    let bracket = b.first() == Some(&b'[');
    let start = usize::from(bracket);
    let (t, mut used) = parse_bare(&b[start..], ctx)?;
    used += start;
    if bracket {
        if b.get(used) == Some(&b']') {
            used += 1;
        } else {
            return None;
        }
    }
    Some((t, used))
}

fn parse_bare(b: &[u8], ctx: &TimeContext) -> Option<(Timestamp, usize)> {
    let first = *b.first()?;
    if first.is_ascii_digit() {
        parse_numeric(b, ctx)
    } else if first.is_ascii_alphabetic() {
        parse_named(b, ctx)
    } else {
        None
    }
}

/// `2026-11-27T08:15:00`, `2026/11/27 08:15:00`, `27/Nov/2026:08:15:00 +0100`,
/// `27-Nov-2026 08:15:00`, `27-11-2026 08:15:00`.
fn parse_numeric(b: &[u8], ctx: &TimeContext) -> Option<(Timestamp, usize)> {
    let mut c = Cur::new(b);
    let a = c.digits(1, 4)?;
    let a_len = c.i;
    let sep = c.peek()?;
    if a_len == 4 && (sep == b'-' || sep == b'/' || sep == b':') {
        c.i += 1;
        let m = c.digits(1, 2)?;
        c.byte(sep)?;
        let d = c.digits(1, 2)?;
        match c.peek() {
            Some(b'T' | b' ' | b'_') => c.i += 1,
            // DirectAdmin: 2026:11:27-08:15:00
            Some(b'-') if sep == b':' => c.i += 1,
            _ => return None,
        }
        let secs = c.hms()?;
        let zone = c.zone();
        let y = i64::from(a);
        if !valid_date(y, m, d) {
            return None;
        }
        return Some((assemble(y, m, d, secs, zone, ctx), c.i));
    }
    if a_len <= 2 && (sep == b'/' || sep == b'-') {
        c.i += 1;
        let (mut d, mut m) = match c.month() {
            Some(m) => (a, m),
            // numeric with slashes is US order (mm/dd/yyyy: Suricata fast.log,
            // SquirrelMail, old cPanel); with dashes day first (dd-mm-yyyy)
            None if sep == b'/' => {
                let second = c.digits(1, 2)?;
                (second, a)
            }
            None => (a, c.digits(1, 2)?),
        };
        if m > 12 && d <= 12 {
            std::mem::swap(&mut d, &mut m);
        }
        c.byte(sep)?;
        let y = i64::from(c.digits(4, 4)?);
        match c.peek() {
            Some(b':' | b' ' | b'-') => c.i += 1,
            _ => return None,
        }
        let secs = c.hms()?;
        let zone = c.zone();
        if !valid_date(y, m, d) {
            return None;
        }
        return Some((assemble(y, m, d, secs, zone, ctx), c.i));
    }
    None
}

/// `Nov 27 08:15:00` (year inferred), `Nov 27 2026 08:15:00`,
/// `Fri Nov 27 08:15:00[.123] 2026`, `Fri Nov 27 2026 08:15:00`.
fn parse_named(b: &[u8], ctx: &TimeContext) -> Option<(Timestamp, usize)> {
    let mut c = Cur::new(b);
    let m = match c.month() {
        Some(m) if c.peek() == Some(b' ') => m,
        _ => {
            c.i = 0;
            c.weekday()?;
            if c.peek() == Some(b',') {
                c.i += 1;
            }
            c.spaces();
            c.month()?
        }
    };
    if c.spaces() == 0 {
        return None;
    }
    let d = c.digits(1, 2)?;
    if c.spaces() == 0 {
        return None;
    }
    // optional year before the time
    let save = c.i;
    let mut year = None;
    if let Some(y) = c.digits(4, 4)
        && c.peek() == Some(b' ')
    {
        c.spaces();
        year = Some(i64::from(y));
    } else {
        c.i = save;
    }
    let secs = c.hms()?;
    let mut zone = None;
    if year.is_none() {
        // optional trailing year: "Fri Nov 27 08:15:00 2026"
        let save = c.i;
        if c.spaces() == 1
            && let Some(y) = c.digits(4, 4)
            && !c.peek().is_some_and(|x| x.is_ascii_digit() || x == b':')
        {
            year = Some(i64::from(y));
        } else {
            c.i = save;
        }
    }
    if year.is_some() {
        zone = c.zone();
    }
    let y = year.unwrap_or_else(|| infer_year(m, d, secs, ctx));
    if !valid_date(y, m, d) {
        return None;
    }
    Some((assemble(y, m, d, secs, zone, ctx), c.i))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-27T12:00:00Z
    const REF: Timestamp = 1_795_780_800;

    fn t(s: &str) -> Option<(String, usize)> {
        parse_leading(s.as_bytes(), &TimeContext::utc(REF)).map(|(t, n)| (format_rfc3339(t), n))
    }

    #[test]
    fn month_names_in_any_case_and_nothing_else() {
        let names = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let reference = |b: &[u8]| {
            let lower = b.get(..3)?.to_ascii_lowercase();
            let i = names.iter().position(|n| n.as_bytes() == lower)?;
            Some(i as u32 + 1)
        };
        for (i, n) in names.iter().enumerate() {
            for case in 0..8 {
                let mut w: Vec<u8> = n.bytes().collect();
                for (j, c) in w.iter_mut().enumerate() {
                    if case >> j & 1 == 1 {
                        c.make_ascii_uppercase();
                    }
                }
                assert_eq!(month_from(&w), Some(i as u32 + 1));
                for pos in 0..3 {
                    for byte in 0..=255u8 {
                        let mut m = w.clone();
                        m[pos] = byte;
                        assert_eq!(month_from(&m), reference(&m), "{m:?}");
                    }
                }
            }
        }
        assert_eq!(month_from(b"no"), None);
    }

    #[test]
    fn reference_is_what_we_think() {
        assert_eq!(format_rfc3339(REF), "2026-11-27T12:00:00Z");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn shapes() {
        assert_eq!(t("Nov 27 08:15:00 host").unwrap().0, "2026-11-27T08:15:00Z");
        assert_eq!(t("Nov  2 08:15:00 host").unwrap().0, "2026-11-02T08:15:00Z");
        // December logs read in late November belong to last year
        assert_eq!(t("Dec 31 23:59:59 host").unwrap().0, "2025-12-31T23:59:59Z");
        assert_eq!(
            t("2026-11-27T08:15:00.123456+01:00 h").unwrap().0,
            "2026-11-27T07:15:00Z"
        );
        assert_eq!(
            t("2026-11-27T08:15:00Z h"),
            Some(("2026-11-27T08:15:00Z".into(), 20))
        );
        assert_eq!(
            t("2026-11-27 08:15:00 +0100 x").unwrap().0,
            "2026-11-27T07:15:00Z"
        );
        assert_eq!(
            t("2026-11-27 08:15:00 x"),
            Some(("2026-11-27T08:15:00Z".into(), 19))
        );
        assert_eq!(
            t("2026/11/27 08:15:00 [error]").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
        assert_eq!(
            t("[Fri Nov 27 08:15:00.123456 2026] [x]"),
            Some(("2026-11-27T08:15:00Z".into(), 33))
        );
        assert_eq!(
            t("Fri Nov 27 08:15:00 2026 [pid 1]").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
        assert_eq!(
            t("[27/Nov/2026:08:15:00 -0700]").unwrap().0,
            "2026-11-27T15:15:00Z"
        );
        assert_eq!(
            t("[27-Nov-2026 08:15:00 +0200]").unwrap().0,
            "2026-11-27T06:15:00Z"
        );
        assert_eq!(
            t("[2026-11-27 08:15:00 -0500]").unwrap().0,
            "2026-11-27T13:15:00Z"
        );
        assert_eq!(
            t("27-11-2026 08:15:00 +0300").unwrap().0,
            "2026-11-27T05:15:00Z"
        );
        assert_eq!(
            t("2026-11-27 08:15:00,123 x").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
        assert_eq!(
            t("11/27/2026-08:15:00.123456  [**]").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
        assert_eq!(
            t("10/06/2026 15:50:41 [x]").unwrap().0,
            "2026-10-06T15:50:41Z"
        );
        assert_eq!(
            t("[11/27/2026:08:15:00 -0000]").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
        assert_eq!(
            t("2026:11:27-08:15:00: x").unwrap().0,
            "2026-11-27T08:15:00Z"
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(t(""), None);
        assert_eq!(t("hello world"), None);
        assert_eq!(t("198.51.100.7 - -"), None);
        assert_eq!(t("Nov 32 08:15:00"), None);
        assert_eq!(t("Nov 27 25:15:00"), None);
        assert_eq!(t("[Nov 27 08:15:00"), None);
        assert_eq!(t("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn zone_offset_applies_to_naive_times() {
        let ctx = TimeContext::new(3600, REF);
        let (ts, _) = parse_leading(b"2026-11-27 08:15:00 x", &ctx).unwrap();
        assert_eq!(format_rfc3339(ts), "2026-11-27T07:15:00Z");
    }

    #[allow(clippy::disallowed_methods)] // jiff's bundled copy: no files
    fn berlin(reference: Timestamp) -> TimeContext {
        let tz = jiff::tz::db().get("Europe/Berlin").expect("bundled tzdb");
        TimeContext::in_zone(&tz, reference)
    }

    fn at(ctx: &TimeContext, line: &str) -> String {
        format_rfc3339(parse_leading(line.as_bytes(), ctx).expect(line).0)
    }

    #[test]
    fn a_zone_applies_its_dst_rules_per_line() {
        let ctx = berlin(REF);
        assert!(ctx.has_rules());
        assert_eq!(at(&ctx, "2026-07-01 12:00:00 x"), "2026-07-01T10:00:00Z");
        assert_eq!(at(&ctx, "2026-12-01 12:00:00 x"), "2026-12-01T11:00:00Z");
        assert_eq!(at(&ctx, "Jul  1 12:00:00 host"), "2026-07-01T10:00:00Z");
        // an explicit offset still wins
        assert_eq!(
            at(&ctx, "2026-07-01 12:00:00 +0000 x"),
            "2026-07-01T12:00:00Z"
        );
        // fixed-offset zones take the fast path
        assert!(!TimeContext::in_zone(&jiff::tz::TimeZone::UTC, REF).has_rules());
    }

    #[test]
    fn spring_forward_2026() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z)
        let ctx = berlin(REF);
        assert_eq!(at(&ctx, "2026-03-29 01:59:59 x"), "2026-03-29T00:59:59Z");
        assert_eq!(at(&ctx, "2026-03-29 03:00:00 x"), "2026-03-29T01:00:00Z");
        // the skipped hour reads with the offset before the jump
        assert_eq!(at(&ctx, "2026-03-29 02:30:00 x"), "2026-03-29T01:30:00Z");
    }

    #[test]
    fn fall_back_2026_repeated_hour_follows_the_previous_line() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00Z); 02:xx twice
        let day = days_from_civil(2026, 10, 25) * 86400;
        let first = berlin(REF).with_near(day + 600); // 00:10Z, first pass
        assert_eq!(at(&first, "2026-10-25 02:30:00 x"), "2026-10-25T00:30:00Z");
        let second = berlin(REF).with_near(day + 4200); // 01:10Z, second pass
        assert_eq!(at(&second, "2026-10-25 02:30:00 x"), "2026-10-25T01:30:00Z");
        // no useful hint (an old log's first event): the first pass
        assert_eq!(
            at(&berlin(REF), "2026-10-25 02:30:00 x"),
            "2026-10-25T00:30:00Z"
        );
        // outside the repeated hour the hint changes nothing
        assert_eq!(at(&second, "2026-10-25 01:59:59 x"), "2026-10-24T23:59:59Z");
        assert_eq!(at(&first, "2026-10-25 03:00:00 x"), "2026-10-25T02:00:00Z");
    }

    #[test]
    fn set_reference_moves_the_year_inference() {
        let mut ctx = berlin(REF);
        assert_eq!(at(&ctx, "Dec 31 23:00:00 h"), "2025-12-31T22:00:00Z");
        ctx.set_reference(REF + 40 * 86400); // 2027-01-06
        assert_eq!(at(&ctx, "Dec 31 23:00:00 h"), "2026-12-31T22:00:00Z");
        ctx.set_reference(REF + 950 * 86400); // 2029-07-04: the periods move too
        assert_eq!(at(&ctx, "Jul  1 12:00:00 h"), "2029-07-01T10:00:00Z");
    }

    #[test]
    fn precomputed_periods_agree_with_the_zone_rules() {
        let ctx = berlin(REF);
        let Zone::Rules(tz, periods) = &ctx.zone else {
            panic!("Berlin has rules")
        };
        assert!(periods.len() >= 10, "{periods:?}");
        // every hour of 2024-2028, both through the table and the rules
        let start = days_from_civil(2024, 1, 1) * 86400;
        for h in 0..(5 * 366 * 24) {
            let local = start + h * 3600 + 1800;
            let near = local - 3600;
            let direct = local - i64::from(offset_at_local(tz, local, near));
            assert_eq!(
                ctx.with_near(near).local_to_utc(local),
                direct,
                "local {local}"
            );
        }
    }
}
