//! Reference codes: what the page shows and the support desk pastes into
//! `rampart why REF`.
//!
//! A code is derived from the store record it names — `RMP-<entry id>-
//! <check>`, the check being six characters of a SHA-256 of the entry's
//! id, target and decision time — so nothing extra is stored, a code
//! keeps working after the block ended (the record is in history), and a
//! mistyped or made-up code is recognised as such instead of naming
//! someone else's block. It is not a secret: it only lets the person who
//! saw their own page point the desk at their record.

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;

/// Characters of the check (no 0/O, 1/I/L, U: read aloud over the phone).
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ01";
const CHECK_LEN: usize = 6;

/// The code of the record `id` (target `target`, decided at `created`).
pub fn code(id: i64, target: Net, created: Timestamp) -> String {
    format!("RMP-{id}-{}", check(id, target, created))
}

/// A code's parts: the entry id and the check, if it has the shape of one.
pub fn parse(s: &str) -> Option<(i64, String)> {
    let s = s.trim().to_ascii_uppercase();
    let rest = s.strip_prefix("RMP-")?;
    let (id, chk) = rest.split_once('-')?;
    let id: i64 = id.parse().ok().filter(|i| *i > 0)?;
    let ok = chk.len() == CHECK_LEN && chk.bytes().all(|b| ALPHABET.contains(&b));
    ok.then(|| (id, chk.to_string()))
}

/// Whether `chk` is the check of the record.
pub fn matches(chk: &str, id: i64, target: Net, created: Timestamp) -> bool {
    check(id, target, created) == chk
}

fn check(id: i64, target: Net, created: Timestamp) -> String {
    let text = format!("rampart-ref\0{id}\0{target}\0{created}");
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..CHECK_LEN]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_names_one_record_and_survives_retyping() {
        let net = Net::parse("198.51.100.7").expect("net");
        let c = code(42, net, 1_700_000_000);
        let (id, chk) = parse(&c.to_lowercase()).expect("parses");
        assert_eq!(id, 42);
        assert!(matches(&chk, 42, net, 1_700_000_000));
        let other = Net::parse("198.51.100.8").expect("net");
        assert!(!matches(&chk, 42, other, 1_700_000_000));
        assert!(!matches(&chk, 42, net, 1_700_000_001));
        for bad in [
            "RMP-42",
            "RMP-x-ABCDEF",
            "RMP-0-ABCDEF",
            "RMP-42-ABC",
            "XYZ-42-ABCDEF",
            "RMP-42-ABCDEI",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
