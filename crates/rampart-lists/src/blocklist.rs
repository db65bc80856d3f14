//! Blocklist parsing and validation.
//!
//! A list arrives as bytes (a download or a file); parsing is pure. Every
//! format yields the same thing: a merged [`IntervalSet`] plus statistics.
//! Validation protects the running firewall from a bad download: a malformed
//! line is skipped and counted, but a list that parsed to nothing, that
//! rejected too large a share of its lines, that exceeds its maximum size or
//! that is an HTML page is refused with a [`ListError`], and the caller keeps
//! the previous list.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::str::FromStr;

use rampart_core::addr::Net;
use serde::{Deserialize, Serialize};

use crate::interval::{IntervalSet, IntervalSetBuilder};

/// How many rejected lines are kept as examples for the report.
pub const MAX_REJECT_SAMPLES: usize = 5;

/// A blocklist's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One address, CIDR or `start-end` range per line; `#` and `;` start
    /// comments (whole-line or after the entry); blank lines are ignored.
    Plain,
    /// Spamhaus DROP/EDROP: `CIDR ; SBLnnn` text, or the JSON-lines shape of
    /// `drop_v4.json` / `drop_v6.json` (`{"cidr":"…","sblid":"…"}` rows and
    /// a trailing `{"type":"metadata",…,"records":N}` row).
    Spamhaus,
    /// DShield `block.txt`: tab-separated `start end prefix …` rows under a
    /// `Start End Netblock …` header; each row is the network `start/prefix`.
    Dshield,
    /// FireHOL `.netset`/`.ipset`: plain lines with `#` comment headers.
    Firehol,
}

impl Format {
    /// Every format, for help texts and validation.
    pub const ALL: [Format; 4] = [
        Format::Plain,
        Format::Spamhaus,
        Format::Dshield,
        Format::Firehol,
    ];

    /// The name used in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Spamhaus => "spamhaus",
            Format::Dshield => "dshield",
            Format::Firehol => "firehol",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown blocklist format {0:?}: use plain, spamhaus, dshield or firehol")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(t))
            .or_else(|| match t.to_ascii_lowercase().as_str() {
                "netset" | "ipset" => Some(Format::Firehol),
                "drop" | "edrop" => Some(Format::Spamhaus),
                _ => None,
            })
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Limits applied while parsing a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOptions {
    /// The format; `None` detects it from the content.
    pub format: Option<Format>,
    /// The most entries (valid lines) accepted; more is [`ListError::TooLarge`].
    pub max_entries: usize,
    /// The largest share of candidate lines (entries + rejected) that may be
    /// rejected before the whole list is refused (0.0–1.0).
    pub max_rejected_fraction: f64,
    /// IPv4 networks broader than this prefix are rejected (a poisoned feed
    /// must not block the Internet); 0 allows everything.
    pub min_prefix_v4: u8,
    /// IPv6 networks broader than this prefix are rejected.
    pub min_prefix_v6: u8,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            format: None,
            max_entries: 2_000_000,
            max_rejected_fraction: 0.2,
            min_prefix_v4: 8,
            min_prefix_v6: 16,
        }
    }
}

impl ParseOptions {
    /// Default limits for a known format.
    pub fn for_format(format: Format) -> Self {
        ParseOptions {
            format: Some(format),
            ..Default::default()
        }
    }
}

/// Why a line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// Not an address, CIDR or range.
    NotAnAddress,
    /// Broader than the allowed minimum prefix.
    TooBroad,
    /// Not valid UTF-8.
    NotUtf8,
    /// A JSON row that does not parse or has no `cidr`.
    BadJson,
    /// A DShield row without start and prefix columns.
    BadRow,
    /// A reversed or mixed-family range.
    BadRange,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::NotAnAddress => "not an address or CIDR",
            RejectReason::TooBroad => "network broader than the allowed prefix",
            RejectReason::NotUtf8 => "not UTF-8 text",
            RejectReason::BadJson => "not a JSON record with a cidr",
            RejectReason::BadRow => "not a start/end/netblock row",
            RejectReason::BadRange => "reversed or mixed-family range",
        })
    }
}

/// A rejected line, kept as an example for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based line number.
    pub line: usize,
    /// The line (shortened to 120 characters).
    pub text: String,
    /// Why it was rejected.
    pub reason: RejectReason,
}

impl fmt::Display for RejectedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} ({:?})", self.line, self.reason, self.text)
    }
}

/// Counts from one parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Lines read.
    pub lines: usize,
    /// Valid entries (before deduplication and merging).
    pub entries: usize,
    /// IPv4 entries among them.
    pub v4_entries: usize,
    /// IPv6 entries among them.
    pub v6_entries: usize,
    /// Comment, blank and header lines.
    pub skipped: usize,
    /// Rejected lines.
    pub rejected: usize,
    /// The first [`MAX_REJECT_SAMPLES`] rejected lines.
    pub rejected_samples: Vec<RejectedLine>,
    /// The body did not end with a newline (the last line may be cut).
    pub missing_final_newline: bool,
}

impl ParseStats {
    fn reject(&mut self, line: usize, text: &str, reason: RejectReason) {
        self.rejected += 1;
        if self.rejected_samples.len() < MAX_REJECT_SAMPLES {
            let text: String = text.chars().take(120).collect();
            self.rejected_samples
                .push(RejectedLine { line, text, reason });
        }
    }
}

/// A parsed, validated list.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedList {
    /// The format used (given or detected).
    pub format: Format,
    /// The merged addresses.
    pub set: IntervalSet,
    /// Counts and rejected-line examples.
    pub stats: ParseStats,
}

/// Why a list was refused. Every variant means: keep the previous list.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// Reading the input failed.
    #[error("reading the list: {0}")]
    Io(#[from] std::io::Error),
    /// The body is an HTML page (an error or login page), not a list.
    #[error("the download is an HTML page, not a list")]
    Html,
    /// No valid entry.
    #[error("the list has no valid entry ({} lines, {} rejected)", .stats.lines, .stats.rejected)]
    Empty {
        /// What was read.
        stats: ParseStats,
    },
    /// Too many lines were rejected.
    #[error(
        "{rejected} of {candidates} lines rejected (more than {:.0}%); first: {}",
        .threshold * 100.0,
        .stats.rejected_samples.first().map(ToString::to_string).unwrap_or_default()
    )]
    TooManyRejected {
        /// Rejected lines.
        rejected: usize,
        /// Entries + rejected.
        candidates: usize,
        /// The configured threshold.
        threshold: f64,
        /// What was read.
        stats: ParseStats,
    },
    /// More entries than the list's maximum.
    #[error("the list has more than {max} entries")]
    TooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// The list announces more records than it holds (Spamhaus JSON metadata).
    #[error("the list announces {announced} records but holds {found}: truncated")]
    Truncated {
        /// Records announced by the list itself.
        announced: usize,
        /// Records found.
        found: usize,
    },
}

impl ListError {
    /// The parse statistics, when the list was read to the end.
    pub fn stats(&self) -> Option<&ParseStats> {
        match self {
            ListError::Empty { stats } | ListError::TooManyRejected { stats, .. } => Some(stats),
            _ => None,
        }
    }
}

/// Parses a list held in memory. See [`parse_reader`].
pub fn parse_list(body: &[u8], opts: &ParseOptions) -> Result<ParsedList, ListError> {
    parse_reader(body, opts)
}

/// Parses a list from a reader, line by line (memory stays proportional to
/// the number of entries, and reading stops as soon as `max_entries` is
/// exceeded). The format is detected from the first meaningful lines when
/// `opts.format` is `None`.
pub fn parse_reader(reader: impl Read, opts: &ParseOptions) -> Result<ParsedList, ListError> {
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let head = {
        let buf = r.fill_buf()?;
        let buf = buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(buf);
        if looks_like_html(buf) {
            return Err(ListError::Html);
        }
        buf.to_vec()
    };
    let format = opts.format.unwrap_or_else(|| detect_format(&head));
    let mut p = Parser {
        opts,
        format,
        builder: IntervalSetBuilder::new(),
        stats: ParseStats::default(),
        json_announced: None,
        json_records: 0,
    };
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        p.stats.lines += 1;
        let ended = line.last() == Some(&b'\n');
        if !ended {
            p.stats.missing_final_newline = true;
        }
        let mut bytes: &[u8] = &line;
        if p.stats.lines == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        let no = p.stats.lines;
        match std::str::from_utf8(bytes) {
            Ok(text) => p.line(no, text)?,
            Err(_) => {
                let lossy = String::from_utf8_lossy(bytes);
                let t = lossy.trim();
                if t.is_empty() || t.starts_with(['#', ';']) {
                    p.stats.skipped += 1;
                } else {
                    p.stats.reject(no, t, RejectReason::NotUtf8);
                }
            }
        }
    }
    p.finish()
}

struct Parser<'a> {
    opts: &'a ParseOptions,
    format: Format,
    builder: IntervalSetBuilder,
    stats: ParseStats,
    json_announced: Option<usize>,
    json_records: usize,
}

impl Parser<'_> {
    fn line(&mut self, no: usize, raw: &str) -> Result<(), ListError> {
        let t = raw.trim();
        if t.is_empty() || t.starts_with(['#', ';']) || t.starts_with("//") {
            self.stats.skipped += 1;
            return Ok(());
        }
        match self.format {
            Format::Plain | Format::Firehol => self.plain(no, t),
            Format::Spamhaus => {
                if t.starts_with('{') {
                    self.spamhaus_json(no, t)
                } else {
                    self.plain(no, t)
                }
            }
            Format::Dshield => self.dshield(no, t),
        }
    }

    /// `ADDR`, `ADDR/P`, `START-END`, optionally followed by a comment or more text.
    fn plain(&mut self, no: usize, t: &str) -> Result<(), ListError> {
        let entry = t.split(['#', ';']).next().unwrap_or("").trim();
        let token = entry.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = token.split_once('-')
            && let (Some(a), Some(b)) = (parse_ip(a), parse_ip(b))
        {
            return match self.builder.push_range(a, b) {
                Ok(()) => self.count(a),
                Err(_) => {
                    self.stats.reject(no, t, RejectReason::BadRange);
                    Ok(())
                }
            };
        }
        let net = Net::parse(token).or_else(|| {
            // [v6], v4:port and similar shapes services write
            rampart_core::addr::parse_addr(token).map(Net::host)
        });
        match net {
            Some(net) => self.net(no, t, net),
            None => {
                self.stats.reject(no, t, RejectReason::NotAnAddress);
                Ok(())
            }
        }
    }

    fn spamhaus_json(&mut self, no: usize, t: &str) -> Result<(), ListError> {
        #[derive(Deserialize)]
        struct Row {
            cidr: Option<String>,
            #[serde(rename = "type")]
            kind: Option<String>,
            records: Option<u64>,
        }
        let row: Row = match serde_json::from_str(t) {
            Ok(r) => r,
            Err(_) => {
                self.stats.reject(no, t, RejectReason::BadJson);
                return Ok(());
            }
        };
        if let Some(cidr) = row.cidr {
            self.json_records += 1;
            return match Net::parse(&cidr) {
                Some(net) => self.net(no, t, net),
                None => {
                    self.stats.reject(no, t, RejectReason::NotAnAddress);
                    Ok(())
                }
            };
        }
        if row.kind.as_deref() == Some("metadata") {
            self.stats.skipped += 1;
            self.json_announced = row.records.and_then(|r| usize::try_from(r).ok());
            return Ok(());
        }
        self.stats.reject(no, t, RejectReason::BadJson);
        Ok(())
    }

    /// `start<TAB>end<TAB>prefix<TAB>…`; the `Start End Netblock` header is skipped.
    fn dshield(&mut self, no: usize, t: &str) -> Result<(), ListError> {
        let mut cols = t.split(['\t', ' ']).filter(|c| !c.is_empty());
        let (Some(start), Some(second)) = (cols.next(), cols.next()) else {
            // a single token: accept a plain address or CIDR
            return self.plain(no, t);
        };
        if start.eq_ignore_ascii_case("start") {
            self.stats.skipped += 1;
            return Ok(());
        }
        let Some(ip) = parse_ip(start) else {
            self.stats.reject(no, t, RejectReason::BadRow);
            return Ok(());
        };
        // start end prefix …; tolerate start prefix (two columns)
        let prefix_col = match cols.next() {
            Some(p) => p,
            None => second,
        };
        match prefix_col.parse::<u8>() {
            Ok(p) if p <= if ip.is_ipv4() { 32 } else { 128 } => {
                let net = Net::containing(ip, p);
                self.net(no, t, net)
            }
            _ => {
                self.stats.reject(no, t, RejectReason::BadRow);
                Ok(())
            }
        }
    }

    fn net(&mut self, no: usize, t: &str, net: Net) -> Result<(), ListError> {
        let min = if net.addr.is_ipv4() {
            self.opts.min_prefix_v4
        } else {
            self.opts.min_prefix_v6
        };
        if net.prefix < min {
            self.stats.reject(no, t, RejectReason::TooBroad);
            return Ok(());
        }
        self.builder.push_net(net);
        self.count(net.addr)
    }

    fn count(&mut self, ip: IpAddr) -> Result<(), ListError> {
        self.stats.entries += 1;
        if ip.is_ipv4() {
            self.stats.v4_entries += 1;
        } else {
            self.stats.v6_entries += 1;
        }
        if self.stats.entries > self.opts.max_entries {
            return Err(ListError::TooLarge {
                max: self.opts.max_entries,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<ParsedList, ListError> {
        let stats = self.stats;
        if let Some(announced) = self.json_announced
            && self.json_records < announced
        {
            return Err(ListError::Truncated {
                announced,
                found: self.json_records,
            });
        }
        if stats.entries == 0 {
            return Err(ListError::Empty { stats });
        }
        let candidates = stats.entries + stats.rejected;
        // candidates > 0 here; precision loss is irrelevant for a ratio
        #[allow(clippy::cast_precision_loss)]
        let fraction = stats.rejected as f64 / candidates as f64;
        if fraction > self.opts.max_rejected_fraction {
            return Err(ListError::TooManyRejected {
                rejected: stats.rejected,
                candidates,
                threshold: self.opts.max_rejected_fraction,
                stats,
            });
        }
        Ok(ParsedList {
            format: self.format,
            set: self.builder.build(),
            stats,
        })
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.contains('/') {
        return None;
    }
    Net::parse(s).map(|n| n.addr)
}

/// Whether a body is an HTML page (checked on its first bytes).
pub fn looks_like_html(head: &[u8]) -> bool {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let h = &head[start..head.len().min(start + 512)];
    let lower: Vec<u8> = h.iter().map(u8::to_ascii_lowercase).collect();
    lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || lower.starts_with(b"<?xml")
        || lower.starts_with(b"<head")
        || lower.starts_with(b"<body")
        || (lower.starts_with(b"<") && contains(&lower, b"<html"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Detects a list's format from its first bytes (comments and the first
/// data lines). Falls back to [`Format::Plain`].
pub fn detect_format(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(head);
    let mut comments_firehol = false;
    let mut comments_dshield = false;
    let mut comments_spamhaus = false;
    for line in text.lines().take(200) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with(['#', ';']) {
            let l = t.to_ascii_lowercase();
            comments_firehol |= l.contains("firehol");
            comments_dshield |= l.contains("dshield");
            comments_spamhaus |= l.contains("spamhaus");
            continue;
        }
        if t.starts_with('{') && t.contains("\"cidr\"") {
            return Format::Spamhaus;
        }
        if t.contains(" ; SBL") || t.contains(";SBL") {
            return Format::Spamhaus;
        }
        let cols: Vec<&str> = t.split('\t').collect();
        if cols.len() >= 3 && cols[0].eq_ignore_ascii_case("start") {
            return Format::Dshield;
        }
        if cols.len() >= 3
            && parse_ip(cols[0]).is_some()
            && parse_ip(cols[1]).is_some()
            && cols[2].trim().parse::<u8>().is_ok()
        {
            return Format::Dshield;
        }
        break;
    }
    if comments_spamhaus {
        Format::Spamhaus
    } else if comments_dshield {
        Format::Dshield
    } else if comments_firehol {
        Format::Firehol
    } else {
        Format::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, format: Option<Format>) -> Result<ParsedList, ListError> {
        let opts = ParseOptions {
            format,
            ..Default::default()
        };
        parse_list(text.as_bytes(), &opts)
    }

    fn cidrs(l: &ParsedList) -> Vec<String> {
        l.set.cidrs().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn plain_with_comments_ranges_and_ipv6() {
        let text = "\u{feff}# a comment\r\n; another\r\n\r\n198.51.100.1\r\n198.51.100.0/24 # inline\n\
                    203.0.113.10-203.0.113.12\n2001:db8::/32 ; why\n[2001:db9::1]\n  192.0.2.1   attacker  \n\
                    ::ffff:192.0.2.2\n";
        let l = parse(text, None).unwrap();
        assert_eq!(l.format, Format::Plain);
        assert_eq!(
            cidrs(&l),
            [
                "192.0.2.1",
                "192.0.2.2",
                "198.51.100.0/24",
                "203.0.113.10/31",
                "203.0.113.12",
                "2001:db8::/32",
                "2001:db9::1"
            ]
        );
        assert_eq!(l.stats.entries, 7);
        assert_eq!(l.stats.v6_entries, 2);
        assert_eq!(l.stats.skipped, 3);
        assert_eq!(l.stats.rejected, 0);
        assert!(!l.stats.missing_final_newline);
    }

    #[test]
    fn malformed_lines_are_counted_with_line_numbers() {
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!("198.51.100.{i}\n"));
        }
        text.push_str("not-an-ip\n999.1.1.1\n198.51.100.1/33\n0.0.0.0/0\n1.2.3\n");
        let l = parse(&text, Some(Format::Plain)).unwrap();
        assert_eq!(l.stats.entries, 20);
        assert_eq!(l.stats.rejected, 5);
        let s = &l.stats.rejected_samples;
        assert_eq!(s.len(), 5);
        assert_eq!(
            (s[0].line, s[0].reason.clone()),
            (21, RejectReason::NotAnAddress)
        );
        assert_eq!(s[0].text, "not-an-ip");
        assert_eq!(s[3].reason, RejectReason::TooBroad);
        assert_eq!(s[4].line, 25);
        assert_eq!(cidrs(&l), ["198.51.100.0/28", "198.51.100.16/30"]);
        assert!(s[0].to_string().contains("line 21"));
    }

    #[test]
    fn invalid_utf8_line_is_rejected_not_fatal() {
        let mut body = b"198.51.100.1\n".repeat(10);
        body.extend_from_slice(b"\xff\xfe garbage\n");
        let l = parse_list(&body, &ParseOptions::default()).unwrap();
        assert_eq!(l.stats.rejected, 1);
        assert_eq!(l.stats.rejected_samples[0].reason, RejectReason::NotUtf8);
    }

    #[test]
    fn spamhaus_text() {
        let text = "; Spamhaus DROP List 2024/01/01 - (c) 2024 The Spamhaus Project SLU\n\
                    ; Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\n\
                    1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\n2.57.122.0/24 ; SBL636050\n";
        let l = parse(text, None).unwrap();
        assert_eq!(l.format, Format::Spamhaus);
        assert_eq!(
            cidrs(&l),
            ["1.10.16.0/20", "2.56.192.0/22", "2.57.122.0/24"]
        );
        let v6 = "; Spamhaus DROPv6\n2001:678:738::/48 ; SBL303641\n2a06:5280::/29 ; SBL618263\n";
        let l = parse(v6, None).unwrap();
        assert_eq!(cidrs(&l), ["2001:678:738::/48", "2a06:5280::/29"]);
    }

    #[test]
    fn spamhaus_json_lines() {
        let text = r#"{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}
{"cidr":"1.10.32.0/20","sblid":"SBL256895","rir":"apnic"}
{"cidr":"2.56.192.0/22","sblid":"SBL459831","rir":"ripencc"}
{"type":"metadata","timestamp":1700000000,"size":200,"records":3,"copyright":"(c) 2024 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}
"#;
        let l = parse(text, None).unwrap();
        assert_eq!(l.format, Format::Spamhaus);
        assert_eq!(cidrs(&l), ["1.10.16.0/20", "1.10.32.0/20", "2.56.192.0/22"]);
        assert_eq!(l.stats.skipped, 1);
        let v6 = r#"{"cidr":"2001:678:738::/48","sblid":"SBL303641","rir":"ripencc"}
{"cidr":"not a cidr","sblid":"SBL1"}
{"cidr":"2a06:5280::/29","sblid":"SBL618263","rir":"ripencc"}
{"cidr":"2a06:5280:8::/45","sblid":"SBL618264","rir":"ripencc"}
{"cidr":"2a06:5288::/29","sblid":"SBL618265","rir":"ripencc"}
{"cidr":"2a07:5280::/32","sblid":"SBL618266","rir":"ripencc"}
"#;
        let l = parse(v6, None).unwrap();
        // the /45 is inside the /29; the two /29s are adjacent
        assert_eq!(
            cidrs(&l),
            ["2001:678:738::/48", "2a06:5280::/28", "2a07:5280::/32"]
        );
        assert_eq!(l.stats.rejected, 1);
    }

    #[test]
    fn spamhaus_json_truncated_is_refused() {
        let text = r#"{"cidr":"1.10.16.0/20","sblid":"SBL256894"}
{"type":"metadata","timestamp":1700000000,"records":1500}
"#;
        assert!(matches!(
            parse(text, None),
            Err(ListError::Truncated {
                announced: 1500,
                found: 1
            })
        ));
    }

    #[test]
    fn dshield_block_txt() {
        let text = "#\n#   DShield.org Recommended Block List\n#   (c) 2024 DShield.org\n#\n\
                    Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n\
                    45.148.10.0\t45.148.10.255\t24\t8812\tTECHOFF SRV LIMITED\tNL\tabuse@example.net\n\
                    80.82.77.0\t80.82.77.255\t24\t5011\t\t\t\n\
                    80.82.76.0\t80.82.76.255\t24\t4000\tx\tNL\tx\n\
                    garbage\trow\there\n";
        // 1 of 4 rows rejected is above the default 20%: allow it here
        let opts = ParseOptions {
            max_rejected_fraction: 0.5,
            ..Default::default()
        };
        assert!(matches!(
            parse(text, None),
            Err(ListError::TooManyRejected { .. })
        ));
        let l = parse_list(text.as_bytes(), &opts).unwrap();
        assert_eq!(l.format, Format::Dshield);
        assert_eq!(cidrs(&l), ["45.148.10.0/24", "80.82.76.0/23"]);
        assert_eq!(l.stats.rejected, 1);
        assert_eq!(l.stats.rejected_samples[0].line, 9);
        assert_eq!(l.stats.rejected_samples[0].reason, RejectReason::BadRow);
        // detection without the header comments
        assert_eq!(
            detect_format(b"45.148.10.0\t45.148.10.255\t24\t8812\n"),
            Format::Dshield
        );
    }

    #[test]
    fn firehol_netset() {
        let text = "#\n# firehol_level1\n# ipv4 hash:net ipset\n#\n# Maintainer      : FireHOL\n\
                    0.0.0.0/8\n1.10.16.0/20\n10.0.0.0/8\n223.254.0.0/16\n224.0.0.0/3\n";
        let l = parse(text, None).unwrap();
        assert_eq!(l.format, Format::Firehol);
        // 224.0.0.0/3 is broader than the default /8 minimum
        assert_eq!(l.stats.rejected, 1);
        assert_eq!(l.stats.rejected_samples[0].reason, RejectReason::TooBroad);
        let opts = ParseOptions {
            min_prefix_v4: 3,
            ..ParseOptions::for_format(Format::Firehol)
        };
        let l = parse_list(text.as_bytes(), &opts).unwrap();
        assert_eq!(
            cidrs(&l),
            [
                "0.0.0.0/8",
                "1.10.16.0/20",
                "10.0.0.0/8",
                "223.254.0.0/16",
                "224.0.0.0/3"
            ]
        );
    }

    #[test]
    fn refusals_keep_the_previous_list() {
        // empty and comment-only
        assert!(matches!(parse("", None), Err(ListError::Empty { .. })));
        assert!(matches!(
            parse("# nothing today\n\n", None),
            Err(ListError::Empty { .. })
        ));
        // HTML error pages, with or without a doctype
        assert!(matches!(
            parse(
                "\n<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
                None
            ),
            Err(ListError::Html)
        ));
        assert!(matches!(
            parse("<HTML><HEAD><TITLE>Error</TITLE>", Some(Format::Plain)),
            Err(ListError::Html)
        ));
        // mostly garbage
        let text = "198.51.100.1\nfoo\nbar\nbaz\n";
        match parse(text, None) {
            Err(e @ ListError::TooManyRejected { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("3 of 4 lines rejected"), "{msg}");
                assert!(msg.contains("line 2"), "{msg}");
                assert_eq!(e.stats().map(|s| s.rejected), Some(3));
            }
            other => panic!("{other:?}"),
        }
        // too large: stops at max_entries + 1
        let opts = ParseOptions {
            max_entries: 3,
            ..Default::default()
        };
        let big = "192.0.2.1\n192.0.2.2\n192.0.2.3\n192.0.2.4\n192.0.2.5\n";
        assert!(matches!(
            parse_list(big.as_bytes(), &opts),
            Err(ListError::TooLarge { max: 3 })
        ));
        let opts = ParseOptions {
            max_entries: 5,
            ..Default::default()
        };
        assert!(parse_list(big.as_bytes(), &opts).is_ok());
    }

    #[test]
    fn cut_last_line_is_flagged() {
        let l = parse("192.0.2.1\n192.0.2.2\n192.0.2.3", None).unwrap();
        assert!(l.stats.missing_final_newline);
        assert_eq!(l.stats.entries, 3);
    }

    #[test]
    fn format_names() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert_eq!("NETSET".parse::<Format>(), Ok(Format::Firehol));
        assert!("csv".parse::<Format>().is_err());
        assert_eq!(detect_format(b"192.0.2.1\n"), Format::Plain);
        assert_eq!(detect_format(b""), Format::Plain);
    }

    #[test]
    fn reader_input_and_large_plain_list() {
        // 200k lines through the streaming reader
        let mut body = String::new();
        for i in 0..200_000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i * 3);
            body.push_str(&format!("{a}\n"));
        }
        let t = std::time::Instant::now();
        let l = parse_reader(
            std::io::Cursor::new(body.into_bytes()),
            &ParseOptions::default(),
        )
        .unwrap();
        eprintln!("parsed 200,000 plain lines in {:?}", t.elapsed());
        assert_eq!(l.stats.entries, 200_000);
        assert_eq!(l.set.len(), 200_000);
    }
}
