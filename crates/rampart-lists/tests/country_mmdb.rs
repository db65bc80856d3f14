//! Country data from `.mmdb` files built inside the test (no download).

#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;

use rampart_lists::{CountryCode, CountryDb, GeoError, GeoSource};
use support::mmdb::{Writer, country, map, s};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cc(s: &str) -> CountryCode {
    s.parse().unwrap()
}

/// An IPv6 database (IPv4 under ::/96), GeoLite2-Country shaped.
fn test_db() -> Vec<u8> {
    let mut w = Writer::new(6);
    let us = w.value(&country("US", "United States"));
    let de = w.value(&country("DE", "Germany"));
    // only a registered country (satellite/anycast networks look like this)
    let fr_reg = w.value(&map(vec![(
        "registered_country",
        map(vec![
            ("iso_code", s("FR")),
            ("names", map(vec![("en", s("France"))])),
        ]),
    )]));
    // no country at all
    let none = w.value(&map(vec![("continent", map(vec![("code", s("EU"))]))]));
    w.insert("198.51.100.0/24", us);
    w.insert("198.51.101.0/24", us); // adjacent: merges to a /23
    w.insert("203.0.113.0/25", de);
    w.insert("203.0.113.128/25", us);
    w.insert("192.0.2.0/24", fr_reg);
    w.insert("100.64.0.0/10", none);
    w.insert("2001:db8::/33", us);
    w.insert("2001:db8:8000::/33", de);
    w.insert("2001:db9::/32", us);
    w.alias_ipv4();
    w.finish()
}

fn strs(nets: Vec<rampart_core::addr::Net>) -> Vec<String> {
    nets.iter().map(ToString::to_string).collect()
}

#[test]
fn ranges_for_countries_are_merged() {
    let db = CountryDb::from_mmdb_bytes(test_db()).unwrap();
    match db.source() {
        GeoSource::Mmdb { database_type, .. } => assert_eq!(database_type, "Rampart-Test-Country"),
        other => panic!("{other:?}"),
    }
    let us = db.ranges_for(&[cc("US")]).unwrap();
    assert_eq!(strs(us.v4_cidrs()), ["198.51.100.0/23", "203.0.113.128/25"]);
    assert_eq!(strs(us.v6_cidrs()), ["2001:db8::/33", "2001:db9::/32"]);
    let both = db.ranges_for(&[cc("us"), cc("DE")]).unwrap();
    assert_eq!(strs(both.v4_cidrs()), ["198.51.100.0/23", "203.0.113.0/24"]);
    // 2001:db8::/32 (two /33s) is adjacent to 2001:db9::/32
    assert_eq!(strs(both.v6_cidrs()), ["2001:db8::/31"]);
    assert_eq!(
        both.v6_ranges()
            .map(|r| format!("{}-{}", r.start(), r.end()))
            .collect::<Vec<_>>(),
        ["2001:db8::-2001:db9:ffff:ffff:ffff:ffff:ffff:ffff"]
    );
    let fr = db.ranges_for(&[cc("FR")]).unwrap();
    assert_eq!(strs(fr.cidrs()), ["192.0.2.0/24"]);
    assert!(db.ranges_for(&[cc("JP")]).unwrap().is_empty());
}

#[test]
fn country_of_for_explanations() {
    let db = CountryDb::from_mmdb_bytes(test_db()).unwrap();
    let c = db.country_of(ip("198.51.100.7")).unwrap().unwrap();
    assert_eq!(c.to_string(), "US/United States");
    assert_eq!(
        db.country_of(ip("::ffff:198.51.101.9"))
            .unwrap()
            .unwrap()
            .code,
        cc("US")
    );
    assert_eq!(
        db.country_of(ip("2001:db8:8000::1"))
            .unwrap()
            .unwrap()
            .to_string(),
        "DE/Germany"
    );
    assert_eq!(
        db.country_of(ip("192.0.2.1")).unwrap().unwrap().to_string(),
        "FR/France"
    );
    assert_eq!(db.country_of(ip("100.64.0.1")).unwrap(), None);
    assert_eq!(db.country_of(ip("10.0.0.1")).unwrap(), None);
    assert_eq!(db.country_of(ip("2001:dba::1")).unwrap(), None);
    // 6to4 alias of 198.51.100.7
    assert_eq!(
        db.country_of(ip("2002:c633:6407::1"))
            .unwrap()
            .unwrap()
            .code,
        cc("US")
    );
}

#[test]
fn ipv4_only_database() {
    let mut w = Writer::new(4);
    let jp = w.value(&country("JP", "Japan"));
    w.insert("203.0.113.0/24", jp);
    w.insert("198.51.100.0/25", jp);
    let db = CountryDb::from_mmdb_bytes(w.finish()).unwrap();
    assert_eq!(
        db.country_of(ip("203.0.113.5"))
            .unwrap()
            .unwrap()
            .to_string(),
        "JP/Japan"
    );
    // IPv6 in an IPv4-only database: no country, not an error
    assert_eq!(db.country_of(ip("2001:db8::1")).unwrap(), None);
    let r = db.ranges_for(&[cc("JP")]).unwrap();
    assert_eq!(strs(r.cidrs()), ["198.51.100.0/25", "203.0.113.0/24"]);
}

#[test]
fn corrupt_database_is_an_error() {
    assert!(matches!(
        CountryDb::from_mmdb_bytes(b"not a database".to_vec()),
        Err(GeoError::Mmdb(_))
    ));
    let mut bytes = test_db();
    bytes.truncate(bytes.len() / 3); // metadata gone
    assert!(CountryDb::from_mmdb_bytes(bytes).is_err());
}

/// A database of 65,536 /24 networks in 16 countries (a small slice of a
/// real GeoLite2-Country): walking it for one country stays fast.
#[test]
fn walking_a_larger_database() {
    let codes = [
        "US", "DE", "FR", "GB", "NL", "JP", "CN", "RU", "BR", "IN", "CA", "AU", "IT", "ES", "SE",
        "PL",
    ];
    let mut w = Writer::new(6);
    let offs: Vec<usize> = codes.iter().map(|c| w.value(&country(c, c))).collect();
    let mut expected_us = 0u64;
    for i in 0..65_536u32 {
        let a = std::net::Ipv4Addr::from((11u32 << 24) | (i << 8)).to_string();
        // runs of equal countries so that merging matters
        let k = ((i / 7) as usize * 31) % codes.len();
        if k == 0 {
            expected_us += 256;
        }
        w.insert(&format!("{a}/24"), offs[k]);
    }
    let db = CountryDb::from_mmdb_bytes(w.finish()).unwrap();
    let t = std::time::Instant::now();
    let us = db.ranges_for(&[cc("US")]).unwrap();
    let took = t.elapsed();
    eprintln!(
        "65,536 networks walked in {took:?}: US = {} ranges, {} addresses",
        us.len(),
        us.v4_addresses()
    );
    assert_eq!(us.v4_addresses(), expected_us);
    assert!(us.len() < 65_536 / 7);
    assert!(took.as_secs_f64() < 10.0);
}
