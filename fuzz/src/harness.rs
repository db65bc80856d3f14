//! The bodies of the fuzz targets. Each takes arbitrary bytes and must not
//! panic, hang or allocate without bound; where a parser promises
//! something about its output (a slice of the input, a range that holds
//! its own address), the target checks it.
//!
//! This file is compiled twice: by the `fuzz/` crate (cargo-fuzz), and by
//! the workspace's `crates/rampart/tests/fuzz_corpus.rs`, which replays the
//! committed seed corpus through it on every `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::OnceLock;

use rampart_core::config;
use rampart_core::detect::Detector;
use rampart_core::envelope;
use rampart_core::explain;
use rampart_core::time::{TimeContext, Timestamp, format_rfc3339, parse_leading};
use rampart_core::tracker::Outcome;
use rampart_lists::blocklist::{Format, ParseOptions, detect_format, parse_list};
use rampart_lists::country::CountryDb;

/// 2026-11-27T12:00:00Z, the reference time of every target.
const REF: Timestamp = 1_795_780_800;

/// Whether `part` lies inside `whole` (the envelope returns sub-slices).
fn within(whole: &[u8], part: &[u8]) -> bool {
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    part.is_empty() || (w.start <= p.start && p.end <= w.end)
}

fn berlin() -> &'static jiff::tz::TimeZone {
    static TZ: OnceLock<jiff::tz::TimeZone> = OnceLock::new();
    TZ.get_or_init(|| jiff::tz::db().get("Europe/Berlin").expect("tzdb"))
}

/// The line envelope and every timestamp shape, in UTC, at a fixed offset
/// and in a zone with DST rules (with a repeated-hour hint taken from the
/// input, so both readings are exercised).
pub fn line_envelope(data: &[u8]) {
    let near = data.iter().take(8).fold(REF, |t, &b| {
        t.wrapping_mul(31).wrapping_add(i64::from(b)) % (400 * 365 * 86400)
    });
    for ctx in [
        TimeContext::utc(REF),
        TimeContext::new(-5 * 3600, REF),
        TimeContext::in_zone(berlin(), REF).with_near(near),
    ] {
        let env = envelope::parse(data, &ctx);
        assert!(within(data, env.message), "message outside the line");
        assert!(within(data, env.after_time), "after_time outside the line");
        for part in [env.program, env.host, env.pid].into_iter().flatten() {
            assert!(within(data, part), "field outside the line");
        }
        if let Some(t) = env.time.get(&ctx) {
            let _ = format_rfc3339(t);
        }
        if let Some((t, used)) = parse_leading(data, &ctx) {
            assert!(used <= data.len(), "consumed more than the line");
            let _ = format_rfc3339(t);
        }
    }
}

thread_local! {
    static DETECTOR: RefCell<Option<Detector>> = const { RefCell::new(None) };
}

fn builtin_detector() -> Detector {
    let rules = rampart_core::builtin::rules().unwrap();
    let own = vec![rampart_core::addr::Net::parse("192.0.2.1").unwrap()];
    Detector::new(rules, &config::Config::default(), explain::builtin(), own).unwrap()
}

/// The whole detector (envelope, scopes, JSON lines, prefilter, regexes,
/// captures, tracker, explanations) over the built-in pack; each line of
/// the input is one log line. Counting state is forgotten after each input.
pub fn detector(data: &[u8]) {
    DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let det = slot.get_or_insert_with(builtin_detector);
        let ctx = TimeContext::utc(REF);
        let mut seen: Vec<IpAddr> = Vec::new();
        let mut fallback = REF;
        for line in data.split(|&b| b == b'\n') {
            let Some((ev, outcome)) = det.process(line, &ctx, fallback) else {
                continue;
            };
            seen.push(ev.ip);
            if let Some(t) = ev.time {
                fallback = t;
            }
            if let Outcome::Banned(bans) = outcome {
                for b in &bans {
                    let _ = det.summary(b);
                }
            }
        }
        for ip in seen {
            det.forget(ip);
        }
    });
}

fn reason_codes() -> &'static [String] {
    static CODES: OnceLock<Vec<String>> = OnceLock::new();
    CODES.get_or_init(|| explain::builtin().into_iter().map(|r| r.code).collect())
}

/// The configuration loader (syntax, every key, all-errors reporting) and
/// the duration parser.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codes: Vec<&str> = reason_codes().iter().map(String::as_str).collect();
    let zones = config::FixedZonesOnly;
    if let Err(diags) = config::parse("fuzz.toml", text, &codes, config::ANY_RULE, &zones) {
        assert!(!diags.is_empty(), "an error without a diagnostic");
        for d in &diags {
            let _ = d.to_string();
        }
    }
    if let Ok(secs) = rampart_core::duration::parse(text) {
        let _ = secs;
    } else if let Err(e) = rampart_core::duration::parse_ban(text) {
        let _ = e.to_string();
    }
}

/// Blocklist parsing in every format and with format detection.
pub fn blocklist(data: &[u8]) {
    let _ = detect_format(data);
    let mut opts = ParseOptions {
        max_entries: 10_000,
        ..ParseOptions::default()
    };
    let _ = parse_list(data, &opts).map(|l| l.stats);
    for f in Format::ALL {
        opts.format = Some(f);
        if let Err(e) = parse_list(data, &opts) {
            let _ = e.to_string();
        }
    }
}

fn probe_addresses(data: &[u8]) -> Vec<IpAddr> {
    let mut v4 = [0u8; 4];
    let mut v6 = [0u8; 16];
    for (i, b) in data.iter().rev().take(16).enumerate() {
        v6[i] = *b;
        if i < 4 {
            v4[i] = *b;
        }
    }
    vec![
        IpAddr::from(v4),
        IpAddr::from(v6),
        "198.51.100.7".parse().unwrap(),
        "2001:db8::7".parse().unwrap(),
    ]
}

fn exercise(db: &CountryDb, data: &[u8]) {
    for ip in probe_addresses(data) {
        let _ = db.country_of(ip);
    }
    let codes = ["CN".parse(), "DE".parse(), "US".parse()];
    let codes: Vec<_> = codes.into_iter().flatten().collect();
    let _ = db.ranges_for(&codes);
}

/// A MaxMind-format country database (.mmdb) from untrusted bytes.
pub fn country_mmdb(data: &[u8]) {
    if let Ok(db) = CountryDb::from_mmdb_bytes(data.to_vec()) {
        exercise(&db, data);
    }
}

/// DB-IP / IP2Location lite CSV country databases.
pub fn country_csv(data: &[u8]) {
    if let Ok(db) = CountryDb::from_csv(data) {
        exercise(&db, data);
    }
}

/// NFLOG datagrams as the kernel sends them.
pub fn nflog(data: &[u8]) {
    if let Ok(packets) = rampart_nft::decode_nflog(data) {
        for p in packets {
            let _ = p.kind();
        }
    }
}

/// rtnetlink address messages (dump replies and notifications).
pub fn rtnl(data: &[u8]) {
    let _ = rampart_nft::decode_addr_messages(data);
}

/// Conntrack dump datagrams.
pub fn conntrack(data: &[u8]) {
    if let Ok(entries) = rampart_nft::decode_conntrack(data) {
        let _ = rampart_nft::count_by_source(&entries, &rampart_nft::CtFilter::default());
    }
}
