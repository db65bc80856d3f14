//! Country data: which addresses belong to which country.
//!
//! Three sources, one [`CountryDb`]:
//! - a MaxMind-format `.mmdb` (GeoLite2-Country, GeoLite2-City, DB-IP lite
//!   country): the database is walked once per query for ranges, and looked
//!   up directly for explanations;
//! - DB-IP lite CSV: `start,end,CC` rows with textual IPv4/IPv6 addresses
//!   (the city lite shape `start,end,continent,CC,…` is read too);
//! - IP2Location LITE DB1 CSV: `"from","to","CC","Country name"` rows with
//!   decimal address numbers (IPv6 files as `u128` decimal, where IPv4 is
//!   stored as `::ffff:a.b.c.d`).
//!
//! [`CountryDb::ranges_for`] gives the merged intervals of a set of
//! countries, ready for the nft country sets; [`CountryDb::country_of`]
//! gives `US/United States` for an explanation.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use rampart_core::addr::{Net, normalise};
use serde::Deserialize;

use crate::interval::{IntervalSet, IntervalSetBuilder};

/// The share of CSV rows that may be malformed before the file is refused.
pub const MAX_CSV_REJECTED_FRACTION: f64 = 0.01;

/// How many rejected rows are kept as examples.
pub const MAX_CSV_SAMPLES: usize = 5;

/// An ISO 3166-1 alpha-2 country code (two ASCII letters, upper case), or
/// one of the pseudo-codes GeoIP databases use (`EU`, `AP`, `XK`, `ZZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // two ASCII letters, checked on construction
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The English name from the built-in table, if the code is known.
    pub fn name(&self) -> Option<&'static str> {
        country_name(*self)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a two-letter code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a two-letter country code (like US or DE)")]
pub struct InvalidCountryCode(pub String);

impl FromStr for CountryCode {
    type Err = InvalidCountryCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(CountryCode([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(InvalidCountryCode(s.to_string()))
        }
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn names_table() -> &'static HashMap<CountryCode, &'static str> {
    static T: OnceLock<HashMap<CountryCode, &'static str>> = OnceLock::new();
    T.get_or_init(|| {
        include_str!("../data/countries.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (c, n) = l.split_once('\t')?;
                Some((c.parse().ok()?, n))
            })
            .collect()
    })
}

/// The English name of a country code from the built-in ISO 3166 table.
pub fn country_name(code: CountryCode) -> Option<&'static str> {
    names_table().get(&code).copied()
}

/// A country, for explanations: displays as `US/United States`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryInfo {
    /// The code.
    pub code: CountryCode,
    /// The English name, from the database or the built-in table.
    pub name: Option<String>,
}

impl fmt::Display for CountryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.code, n),
            None => write!(f, "{}", self.code),
        }
    }
}

/// A rejected CSV row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// 1-based line number.
    pub line: usize,
    /// The row (shortened).
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} ({:?})", self.line, self.problem, self.text)
    }
}

/// Counts from loading a CSV database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvStats {
    /// Lines read.
    pub lines: usize,
    /// Ranges loaded.
    pub ranges: usize,
    /// Blank, header and unassigned (`-`) rows.
    pub skipped: usize,
    /// Malformed rows.
    pub rejected: usize,
    /// The first malformed rows.
    pub samples: Vec<RejectedRow>,
}

impl CsvStats {
    fn reject(&mut self, line: usize, text: &str, problem: &'static str) {
        self.rejected += 1;
        if self.samples.len() < MAX_CSV_SAMPLES {
            self.samples.push(RejectedRow {
                line,
                text: text.chars().take(120).collect(),
                problem,
            });
        }
    }
}

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeoSource {
    /// A MaxMind-format database.
    Mmdb {
        /// `database_type` from its metadata (`GeoLite2-Country`, `DBIP-Country-Lite`).
        database_type: String,
        /// Build time, seconds since the epoch.
        build_epoch: u64,
    },
    /// A DB-IP lite CSV.
    DbIpCsv(CsvStats),
    /// An IP2Location LITE DB1 CSV.
    Ip2LocationCsv(CsvStats),
}

/// A country database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// Reading failed.
    #[error("reading the country database: {0}")]
    Io(#[from] std::io::Error),
    /// The `.mmdb` is invalid or a lookup failed.
    #[error("MaxMind database: {0}")]
    Mmdb(#[from] maxminddb::MaxMindDbError),
    /// A CSV with no usable row.
    #[error("the country CSV has no usable row ({} lines, {} rejected)", .0.lines, .0.rejected)]
    Empty(CsvStats),
    /// A CSV with too many malformed rows.
    #[error("{} of {} country CSV rows are malformed; first: {}", .0.rejected, .0.rejected + .0.ranges,
        .0.samples.first().map(ToString::to_string).unwrap_or_default())]
    TooManyRejected(CsvStats),
}

/// A country database: an `.mmdb` or a range table read from CSV.
pub struct CountryDb {
    inner: Inner,
    source: GeoSource,
}

enum Inner {
    Mmdb(Box<maxminddb::Reader<Vec<u8>>>),
    Table(RangeTable),
}

impl fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountryDb")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct MmdbRecord<'a> {
    #[serde(borrow, default)]
    country: Option<MmdbCountry<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<MmdbCountry<'a>>,
}

#[derive(Deserialize)]
struct MmdbCountry<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<MmdbNames<'a>>,
}

#[derive(Deserialize)]
struct MmdbNames<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

impl MmdbRecord<'_> {
    /// The country, or the registered country for networks without one
    /// (satellite providers, some anycast networks).
    fn best(&self) -> Option<(CountryCode, Option<&str>)> {
        [&self.country, &self.registered_country]
            .into_iter()
            .flatten()
            .find_map(|c| {
                let code = c.iso_code?.parse().ok()?;
                Some((code, c.names.as_ref().and_then(|n| n.en)))
            })
    }
}

impl CountryDb {
    /// Opens an `.mmdb` held in memory.
    pub fn from_mmdb_bytes(bytes: Vec<u8>) -> Result<CountryDb, GeoError> {
        let reader = maxminddb::Reader::from_source(bytes)?;
        let m = reader.metadata();
        let source = GeoSource::Mmdb {
            database_type: m.database_type.clone(),
            build_epoch: m.build_epoch,
        };
        Ok(CountryDb {
            inner: Inner::Mmdb(Box::new(reader)),
            source,
        })
    }

    /// Reads an `.mmdb` file.
    pub fn open_mmdb(path: impl AsRef<Path>) -> Result<CountryDb, GeoError> {
        CountryDb::from_mmdb_bytes(std::fs::read(path)?)
    }

    /// Reads a DB-IP lite country (or city) CSV.
    pub fn from_dbip_csv(reader: impl Read) -> Result<CountryDb, GeoError> {
        let (table, stats) = read_csv(reader, dbip_row)?;
        Ok(CountryDb {
            inner: Inner::Table(table),
            source: GeoSource::DbIpCsv(stats),
        })
    }

    /// Reads an IP2Location LITE DB1 CSV (the IPv4 file or the IPv6 file,
    /// which also holds IPv4 as `::ffff:0:0/96`).
    pub fn from_ip2location_csv(reader: impl Read) -> Result<CountryDb, GeoError> {
        let (table, stats) = read_csv(reader, ip2location_row)?;
        Ok(CountryDb {
            inner: Inner::Table(table),
            source: GeoSource::Ip2LocationCsv(stats),
        })
    }

    /// Reads a CSV of either kind, told apart by its first data row
    /// (quoted decimal numbers are IP2Location).
    pub fn from_csv(reader: impl Read) -> Result<CountryDb, GeoError> {
        let mut r = BufReader::new(reader);
        let head = r.fill_buf()?;
        let first = head
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).trim().to_string())
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        let first_field = split_csv(&first)
            .and_then(|f| f.into_iter().next())
            .unwrap_or_default();
        if !first_field.is_empty() && first_field.bytes().all(|b| b.is_ascii_digit()) {
            CountryDb::from_ip2location_csv(r)
        } else {
            CountryDb::from_dbip_csv(r)
        }
    }

    /// Where the data came from (and CSV load counts).
    pub fn source(&self) -> &GeoSource {
        &self.source
    }

    /// The country of an address: `Ok(None)` when the database has no entry
    /// (private ranges, unassigned space, IPv6 in an IPv4-only database).
    pub fn country_of(&self, ip: IpAddr) -> Result<Option<CountryInfo>, GeoError> {
        let ip = normalise(ip);
        match &self.inner {
            Inner::Mmdb(r) => {
                if ip.is_ipv6() && r.metadata().ip_version == 4 {
                    return Ok(None);
                }
                let res = r.lookup(ip)?;
                let Some(rec) = res.decode::<MmdbRecord<'_>>()? else {
                    return Ok(None);
                };
                Ok(rec.best().map(|(code, name)| CountryInfo {
                    code,
                    name: name
                        .map(str::to_string)
                        .or_else(|| code.name().map(str::to_string)),
                }))
            }
            Inner::Table(t) => Ok(t.lookup(ip).map(|i| {
                let (code, name) = &t.codes[usize::from(i)];
                CountryInfo {
                    code: *code,
                    name: name.clone().or_else(|| code.name().map(str::to_string)),
                }
            })),
        }
    }

    /// The merged IPv4 and IPv6 ranges of the given countries.
    pub fn ranges_for(&self, codes: &[CountryCode]) -> Result<IntervalSet, GeoError> {
        let want: HashSet<CountryCode> = codes.iter().copied().collect();
        let mut b = IntervalSetBuilder::new();
        match &self.inner {
            Inner::Mmdb(r) => {
                // many networks share one record: decide once per record
                let mut verdict: HashMap<usize, bool> = HashMap::new();
                for item in r.networks(maxminddb::WithinOptions::default())? {
                    let item = item?;
                    let Some(off) = item.offset() else { continue };
                    let hit = match verdict.get(&off) {
                        Some(&h) => h,
                        None => {
                            let h = item
                                .decode::<MmdbRecord<'_>>()?
                                .and_then(|rec| rec.best().map(|(c, _)| c))
                                .is_some_and(|c| want.contains(&c));
                            verdict.insert(off, h);
                            h
                        }
                    };
                    if hit {
                        let net = item.network()?;
                        b.push_net(net_of(net.network(), net.prefix()));
                    }
                }
            }
            Inner::Table(t) => {
                let idx: HashSet<u16> = t
                    .codes
                    .iter()
                    .enumerate()
                    .filter(|(_, (c, _))| want.contains(c))
                    .filter_map(|(i, _)| u16::try_from(i).ok())
                    .collect();
                for &(s, e, c) in &t.v4 {
                    if idx.contains(&c) {
                        b.push_v4_range(s, e);
                    }
                }
                for &(s, e, c) in &t.v6 {
                    if idx.contains(&c) {
                        b.push_v6_range(s, e);
                    }
                }
            }
        }
        Ok(b.build())
    }
}

/// A network from the database: IPv4-mapped IPv6 (`::ffff:a.b.c.d/120`)
/// becomes IPv4, any other IPv6 network is kept as it is.
fn net_of(ip: IpAddr, prefix: u8) -> Net {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if prefix >= 96 => Net::containing(IpAddr::V4(v4), prefix - 96),
            _ => {
                let p = prefix.min(128);
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                Net {
                    addr: IpAddr::V6((u128::from(v6) & mask).into()),
                    prefix: p,
                }
            }
        },
        v4 => Net::containing(v4, prefix),
    }
}

/// Ranges read from a CSV, sorted by start, not overlapping.
struct RangeTable {
    v4: Vec<(u32, u32, u16)>,
    v6: Vec<(u128, u128, u16)>,
    codes: Vec<(CountryCode, Option<String>)>,
}

impl RangeTable {
    fn lookup(&self, ip: IpAddr) -> Option<u16> {
        fn find<T: Ord + Copy>(v: &[(T, T, u16)], x: T) -> Option<u16> {
            let i = v.partition_point(|r| r.0 <= x);
            let r = v.get(i.checked_sub(1)?)?;
            (x <= r.1).then_some(r.2)
        }
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
        }
    }
}

/// One CSV row's meaning.
enum Row {
    /// IPv4 range.
    V4(u32, u32, CountryCode, Option<String>),
    /// IPv6 range.
    V6(u128, u128, CountryCode, Option<String>),
    /// A range straddling `::ffff:0:0/96` split into parts.
    Split(Vec<Row>),
    /// Unassigned (`-`) or a header: not an error.
    Skip,
}

type RowFn = fn(&[String]) -> Result<Row, &'static str>;

fn read_csv(reader: impl Read, row: RowFn) -> Result<(RangeTable, CsvStats), GeoError> {
    let mut stats = CsvStats::default();
    let mut code_idx: HashMap<CountryCode, u16> = HashMap::new();
    let mut codes: Vec<(CountryCode, Option<String>)> = Vec::new();
    let mut v4: Vec<(u32, u32, u16, usize)> = Vec::new();
    let mut v6: Vec<(u128, u128, u16, usize)> = Vec::new();
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        stats.lines += 1;
        let no = stats.lines;
        let bytes = if no == 1 {
            buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf)
        } else {
            &buf
        };
        let Ok(line) = std::str::from_utf8(bytes) else {
            stats.reject(no, &String::from_utf8_lossy(bytes), "not UTF-8");
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            stats.skipped += 1;
            continue;
        }
        let Some(fields) = split_csv(line) else {
            stats.reject(no, line, "unterminated quote");
            continue;
        };
        let parsed = match row(&fields) {
            Ok(p) => p,
            Err(_) if no == 1 => Row::Skip, // a header row
            Err(problem) => {
                stats.reject(no, line, problem);
                continue;
            }
        };
        let parts = match parsed {
            Row::Split(parts) => parts,
            other => vec![other],
        };
        for part in parts {
            let mut intern = |code: CountryCode, name: Option<String>| -> u16 {
                if let Some(&i) = code_idx.get(&code) {
                    return i;
                }
                // at most 26*26 codes, so the index fits
                let i = u16::try_from(codes.len()).unwrap_or(u16::MAX);
                codes.push((code, name));
                code_idx.insert(code, i);
                i
            };
            match part {
                Row::V4(s, e, c, n) => {
                    let i = intern(c, n);
                    v4.push((s, e, i, no));
                    stats.ranges += 1;
                }
                Row::V6(s, e, c, n) => {
                    let i = intern(c, n);
                    v6.push((s, e, i, no));
                    stats.ranges += 1;
                }
                Row::Skip | Row::Split(_) => stats.skipped += 1,
            }
        }
    }
    let v4 = dedupe_overlaps(v4, &mut stats);
    let v6 = dedupe_overlaps(v6, &mut stats);
    if stats.ranges == 0 {
        return Err(GeoError::Empty(stats));
    }
    // precision loss is irrelevant for a ratio
    #[allow(clippy::cast_precision_loss)]
    let fraction = stats.rejected as f64 / (stats.rejected + stats.ranges) as f64;
    if fraction > MAX_CSV_REJECTED_FRACTION {
        return Err(GeoError::TooManyRejected(stats));
    }
    Ok((RangeTable { v4, v6, codes }, stats))
}

/// Sorts rows by start and rejects rows overlapping an earlier one.
fn dedupe_overlaps<T: Ord + Copy + fmt::Display>(
    mut rows: Vec<(T, T, u16, usize)>,
    stats: &mut CsvStats,
) -> Vec<(T, T, u16)> {
    rows.sort_unstable_by_key(|r| (r.0, r.3));
    let mut out: Vec<(T, T, u16)> = Vec::with_capacity(rows.len());
    for (s, e, c, line) in rows {
        if let Some(last) = out.last()
            && s <= last.1
        {
            stats.ranges -= 1;
            stats.reject(line, &format!("{s}-{e}"), "overlaps an earlier range");
            continue;
        }
        out.push((s, e, c));
    }
    out
}

/// DB-IP: `start,end,CC` or the city shape `start,end,continent,CC,…`.
fn dbip_row(f: &[String]) -> Result<Row, &'static str> {
    if f.len() < 3 {
        return Err("expected start,end,country");
    }
    let cc = if f.len() >= 4 { &f[3] } else { &f[2] };
    let (Ok(s), Ok(e)) = (f[0].parse::<IpAddr>(), f[1].parse::<IpAddr>()) else {
        return Err("start or end is not an address");
    };
    if cc.is_empty() || cc == "-" {
        return Ok(Row::Skip);
    }
    let code: CountryCode = cc.parse().map_err(|_| "bad country code")?;
    match (normalise(s), normalise(e)) {
        (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => Ok(Row::V4(s.into(), e.into(), code, None)),
        (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => Ok(Row::V6(s.into(), e.into(), code, None)),
        _ => Err("reversed or mixed-family range"),
    }
}

const MAPPED_START: u128 = 0xffff_0000_0000;
const MAPPED_END: u128 = 0xffff_ffff_ffff;

/// IP2Location: `"from","to","CC","Country name"` with decimal numbers.
fn ip2location_row(f: &[String]) -> Result<Row, &'static str> {
    if f.len() < 3 {
        return Err("expected from,to,country_code,country_name");
    }
    let (Ok(s), Ok(e)) = (f[0].parse::<u128>(), f[1].parse::<u128>()) else {
        return Err("from or to is not a decimal number");
    };
    if s > e {
        return Err("reversed range");
    }
    let cc = f[2].as_str();
    if cc.is_empty() || cc == "-" {
        return Ok(Row::Skip);
    }
    let code: CountryCode = cc.parse().map_err(|_| "bad country code")?;
    let name = f
        .get(3)
        .filter(|n| !n.is_empty() && n.as_str() != "-")
        .cloned();
    let v4 = |a: u128, b: u128| {
        // both fit in u32 by construction
        Row::V4(
            u32::try_from(a).unwrap_or(u32::MAX),
            u32::try_from(b).unwrap_or(u32::MAX),
            code,
            name.clone(),
        )
    };
    if e <= u128::from(u32::MAX) {
        // the IPv4 file (and nothing else uses the deprecated ::/96)
        return Ok(v4(s, e));
    }
    let mut parts = Vec::new();
    if s < MAPPED_START {
        parts.push(Row::V6(s, e.min(MAPPED_START - 1), code, name.clone()));
    }
    if s <= MAPPED_END && e >= MAPPED_START {
        parts.push(v4(
            s.max(MAPPED_START) - MAPPED_START,
            e.min(MAPPED_END) - MAPPED_START,
        ));
    }
    if e > MAPPED_END {
        parts.push(Row::V6(s.max(MAPPED_END + 1), e, code, name.clone()));
    }
    Ok(match parts.len() {
        1 => parts.pop().unwrap_or(Row::Skip),
        _ => Row::Split(parts),
    })
}

/// Splits one RFC 4180 line: commas, optional double quotes, `""` for a
/// quote inside a quoted field. `None` for an unterminated quote.
pub(crate) fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(4);
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && field.trim().is_empty() && !was_quoted {
            field.clear();
            quoted = true;
            was_quoted = true;
        } else if c == ',' {
            out.push(if was_quoted {
                std::mem::take(&mut field)
            } else {
                field.trim().to_string()
            });
            field.clear();
            was_quoted = false;
        } else if !(was_quoted && c.is_whitespace()) {
            field.push(c);
        }
    }
    if quoted {
        return None;
    }
    out.push(if was_quoted {
        field
    } else {
        field.trim().to_string()
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cc(s: &str) -> CountryCode {
        s.parse().unwrap()
    }

    fn cidrs(s: &IntervalSet) -> Vec<String> {
        s.cidrs().iter().map(ToString::to_string).collect()
    }

    const DBIP: &str = "1.0.0.0,1.0.0.255,AU\n\
        198.51.100.0,198.51.100.255,US\n\
        198.51.101.0,198.51.101.255,US\n\
        203.0.113.0,203.0.113.127,DE\n\
        \"203.0.113.128\",\"203.0.113.255\",\"US\"\n\
        2001:db8::,2001:db8:7fff:ffff:ffff:ffff:ffff:ffff,US\n\
        2001:db8:8000::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,DE\n\
        2001:db9::,2001:db9:ffff:ffff:ffff:ffff:ffff:ffff,ZZ\n";

    #[test]
    fn dbip_csv() {
        let db = CountryDb::from_dbip_csv(DBIP.as_bytes()).unwrap();
        let us = db.ranges_for(&[cc("US")]).unwrap();
        assert_eq!(
            cidrs(&us),
            ["198.51.100.0/23", "203.0.113.128/25", "2001:db8::/33"]
        );
        let both = db.ranges_for(&[cc("US"), cc("DE")]).unwrap();
        assert_eq!(
            cidrs(&both),
            ["198.51.100.0/23", "203.0.113.0/24", "2001:db8::/32"]
        );
        // names come from the built-in table for DB-IP
        assert_eq!(
            db.country_of(ip("198.51.100.9"))
                .unwrap()
                .unwrap()
                .to_string(),
            "US/United States"
        );
        assert_eq!(
            db.country_of(ip("::ffff:203.0.113.1"))
                .unwrap()
                .unwrap()
                .to_string(),
            "DE/Germany"
        );
        assert_eq!(
            db.country_of(ip("2001:db9::1"))
                .unwrap()
                .unwrap()
                .to_string(),
            "ZZ/Unknown"
        );
        assert_eq!(db.country_of(ip("10.1.1.1")).unwrap(), None);
        assert_eq!(db.country_of(ip("2001:dba::")).unwrap(), None);
        match db.source() {
            GeoSource::DbIpCsv(s) => assert_eq!((s.ranges, s.rejected), (8, 0)),
            other => panic!("{other:?}"),
        }
        // auto-detection
        let db = CountryDb::from_csv(DBIP.as_bytes()).unwrap();
        assert!(matches!(db.source(), GeoSource::DbIpCsv(_)));
    }

    #[test]
    fn dbip_city_shape() {
        let text = "198.51.100.0,198.51.100.255,NA,US,California,Los Angeles,34.05,-118.24\n";
        let db = CountryDb::from_dbip_csv(text.as_bytes()).unwrap();
        assert_eq!(
            db.country_of(ip("198.51.100.1")).unwrap().unwrap().code,
            cc("US")
        );
    }

    #[test]
    fn dbip_malformed_rows() {
        let mut text = String::new();
        for i in 0..200u32 {
            text.push_str(&format!("10.{i}.0.0,10.{i}.255.255,FR\n"));
        }
        text.push_str("10.0.0.0,10.0.0.255,FR\n"); // overlaps row 1
        text.push_str("198.51.100.0,2001:db8::,US\n"); // mixed
        text.push_str("not,an,address\n");
        // 3 of 203 is above 1%
        match CountryDb::from_dbip_csv(text.as_bytes()) {
            Err(GeoError::TooManyRejected(s)) => {
                assert_eq!(s.rejected, 3);
                assert_eq!(s.samples[0].problem, "reversed or mixed-family range");
                assert_eq!(s.samples[0].line, 202);
                assert!(
                    s.samples
                        .iter()
                        .any(|r| r.problem == "overlaps an earlier range")
                );
            }
            other => panic!("{other:?}"),
        }
        // a header row is tolerated, one bad row in 200 too
        let ok = format!(
            "ip_start,ip_end,country\n{}junk\n",
            text.lines().take(200).collect::<Vec<_>>().join("\n") + "\n"
        );
        let db = CountryDb::from_dbip_csv(ok.as_bytes()).unwrap();
        assert_eq!(
            cidrs(&db.ranges_for(&[cc("FR")]).unwrap()),
            ["10.0.0.0/9", "10.128.0.0/10", "10.192.0.0/13"]
        );
        assert!(matches!(
            CountryDb::from_dbip_csv(&b""[..]),
            Err(GeoError::Empty(_))
        ));
        assert!(matches!(
            CountryDb::from_dbip_csv("<html>\n<body>\n".as_bytes()),
            Err(GeoError::Empty(_) | GeoError::TooManyRejected(_))
        ));
    }

    #[test]
    fn ip2location_ipv4_and_ipv6_files() {
        // IPv4 file: decimal numbers; 3325256704 = 198.51.100.0
        let v4 = "\"0\",\"16777215\",\"-\",\"-\"\n\
                  \"3325256704\",\"3325257215\",\"US\",\"United States of America\"\n\
                  \"3405803776\",\"3405803903\",\"DE\",\"Germany\"\n";
        let db = CountryDb::from_ip2location_csv(v4.as_bytes()).unwrap();
        assert_eq!(
            cidrs(&db.ranges_for(&[cc("US")]).unwrap()),
            ["198.51.100.0/23"]
        );
        // the name from the file wins over the built-in table
        assert_eq!(
            db.country_of(ip("198.51.101.1"))
                .unwrap()
                .unwrap()
                .to_string(),
            "US/United States of America"
        );
        assert_eq!(db.country_of(ip("0.0.0.1")).unwrap(), None);
        assert!(matches!(
            CountryDb::from_csv(v4.as_bytes()).unwrap().source(),
            GeoSource::Ip2LocationCsv(_)
        ));

        // IPv6 file: IPv4 appears as ::ffff:a.b.c.d; 2001:db8:: as u128
        let mapped_us_start = 0xffff_0000_0000u128 + 3_325_256_704;
        let mapped_us_end = mapped_us_start + 511;
        let v6_start = u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap());
        let v6_end = u128::from(
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<std::net::Ipv6Addr>()
                .unwrap(),
        );
        let text = format!(
            "\"0\",\"281470681743359\",\"-\",\"-\"\n\
             \"{mapped_us_start}\",\"{mapped_us_end}\",\"US\",\"United States of America\"\n\
             \"{v6_start}\",\"{v6_end}\",\"JP\",\"Japan\"\n"
        );
        let db = CountryDb::from_ip2location_csv(text.as_bytes()).unwrap();
        assert_eq!(
            cidrs(&db.ranges_for(&[cc("US"), cc("JP")]).unwrap()),
            ["198.51.100.0/23", "2001:db8::/32"]
        );
        assert_eq!(
            db.country_of(ip("2001:db8::5"))
                .unwrap()
                .unwrap()
                .to_string(),
            "JP/Japan"
        );
        assert_eq!(
            db.country_of(ip("198.51.100.5")).unwrap().unwrap().code,
            cc("US")
        );
    }

    #[test]
    fn ip2location_range_straddling_the_mapped_block_is_split() {
        let start = 0xffff_0000_0000u128 - 256;
        let end = 0xffff_0000_0000u128 + 255;
        let text = format!("\"{start}\",\"{end}\",\"NL\",\"Netherlands\"\n");
        let db = CountryDb::from_ip2location_csv(text.as_bytes()).unwrap();
        let r = db.ranges_for(&[cc("NL")]).unwrap();
        assert_eq!(cidrs(&r), ["0.0.0.0/24", "::fffe:ffff:ff00/120"]);
    }

    #[test]
    fn ip2location_malformed() {
        let text = "\"3325256704\",\"3325257215\",\"US\",\"United States\"\n\"12\",\"x\",\"US\",\"United States\"\n\"3325257216\n";
        match CountryDb::from_ip2location_csv(text.as_bytes()) {
            Err(GeoError::TooManyRejected(s)) => {
                assert_eq!(s.rejected, 2);
                assert_eq!(s.samples[0].line, 2);
                assert_eq!(s.samples[1].problem, "unterminated quote");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(cc("us").to_string(), "US");
        assert!("USA".parse::<CountryCode>().is_err());
        assert!("U1".parse::<CountryCode>().is_err());
        assert_eq!(country_name(cc("DE")), Some("Germany"));
        assert_eq!(country_name(cc("QQ")), None);
        assert!(names_table().len() >= 249);
        let info = CountryInfo {
            code: cc("QQ"),
            name: None,
        };
        assert_eq!(info.to_string(), "QQ");
        assert_eq!(serde_json::to_string(&cc("fr")).unwrap(), "\"FR\"");
        assert!(serde_json::from_str::<CountryCode>("\"France\"").is_err());
    }

    #[test]
    fn mapped_networks_from_a_database() {
        assert_eq!(
            net_of(ip("::ffff:198.51.100.0"), 120).to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(net_of(ip("::ffff:0:0"), 95).to_string(), "::fffe:0:0/95");
        assert_eq!(net_of(ip("2001:db8::"), 32).to_string(), "2001:db8::/32");
        assert_eq!(net_of(ip("192.0.2.0"), 24).to_string(), "192.0.2.0/24");
    }

    #[test]
    fn csv_splitting() {
        assert_eq!(
            split_csv(r#""a","b, c","d ""q""",e , f"#).unwrap(),
            ["a", "b, c", "d \"q\"", "e", "f"]
        );
        assert_eq!(split_csv("").unwrap(), [""]);
        assert!(split_csv("\"open").is_none());
    }
}
