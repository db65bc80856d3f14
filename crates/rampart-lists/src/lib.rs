//! Rampart's blocklist and country (GeoIP) data.
//!
//! Pure where possible: parsing takes bytes or readers, never the network.
//!
//! - [`blocklist`]: the `plain`, `spamhaus`, `dshield` and `firehol` formats,
//!   format detection, validation (malformed lines skipped and counted, a
//!   maximum size, refusal of empty, mostly-malformed or HTML downloads with
//!   a typed [`ListError`] so the caller keeps the previous list).
//! - [`interval`]: the output of every list and country query, an
//!   [`IntervalSet`] of sorted, merged IPv4/IPv6 ranges (and their CIDRs)
//!   ready for an nft interval set, which rejects overlapping elements.
//! - [`catalogue`](mod@catalogue): the embedded catalogue of well-known public feeds, all
//!   disabled by default.
//! - [`conditional`]: ETag / Last-Modified / body-hash bookkeeping and the
//!   replace / keep / not-modified decision for one HTTP response.
//! - [`country`]: `.mmdb` (GeoLite2, DB-IP lite), DB-IP lite CSV and
//!   IP2Location LITE DB1 CSV: ranges of a set of countries, and the country
//!   of one address for explanations (`US/United States`).
//!
//! ```
//! use rampart_lists::{Format, ListError, ParseOptions, parse_list};
//!
//! let body = b"; Spamhaus DROP\n198.51.100.0/25 ; SBL1\n198.51.100.128/25 ; SBL2\n";
//! let list = parse_list(body, &ParseOptions::default())?;
//! assert_eq!(list.format, Format::Spamhaus);
//! // adjacent networks are merged: one element for the nft interval set
//! let ranges: Vec<String> = list.set.v4_ranges().map(|r| format!("{}-{}", r.start(), r.end())).collect();
//! assert_eq!(ranges, ["198.51.100.0-198.51.100.255"]);
//! assert_eq!(list.set.v4_cidrs()[0].to_string(), "198.51.100.0/24");
//!
//! // an error page instead of a list: keep the previous one
//! let err = parse_list(b"<!DOCTYPE html><title>503</title>", &ParseOptions::default());
//! assert!(matches!(err, Err(ListError::Html)));
//! # Ok::<(), ListError>(())
//! ```

pub mod blocklist;
pub mod catalogue;
pub mod conditional;
pub mod country;
pub mod interval;

pub use blocklist::{
    Format, ListError, ParseOptions, ParseStats, ParsedList, RejectReason, RejectedLine,
    detect_format, parse_list, parse_reader,
};
pub use catalogue::{CatalogueError, Direction, Feed, catalogue};
pub use conditional::{Decision, KeepReason, Response, Validators, decide};
pub use country::{CountryCode, CountryDb, CountryInfo, GeoError, GeoSource, country_name};
pub use interval::{IntervalSet, IntervalSetBuilder, RangeError};
