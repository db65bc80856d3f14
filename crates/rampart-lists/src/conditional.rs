//! Conditional downloads, without the network.
//!
//! The downloader (in the shell) sends [`Validators::request_headers`] with
//! its request, then hands the status, the response headers it cares about
//! and the body to [`decide`], which says whether to load a new list, keep
//! the loaded one, or treat the response as "not modified". The validators
//! returned with a new or unchanged list are what to store for next time.

use serde::{Deserialize, Serialize};

use crate::blocklist::{ListError, ParseOptions, ParsedList, parse_list};

/// What is remembered about the list currently loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag` of the last accepted response.
    pub etag: Option<String>,
    /// The `Last-Modified` of the last accepted response.
    pub last_modified: Option<String>,
    /// [`body_hash`] of the last accepted body (`fnv1a64:…`), to skip
    /// reloading an unchanged list from a server without validators.
    pub body_hash: Option<String>,
}

impl Validators {
    /// Headers for the next request: `If-None-Match` and `If-Modified-Since`.
    pub fn request_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(e) = &self.etag {
            h.push(("If-None-Match", e.clone()));
        }
        if let Some(m) = &self.last_modified {
            h.push(("If-Modified-Since", m.clone()));
        }
        h
    }
}

/// The parts of an HTTP response the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The final status code (after redirects).
    pub status: u16,
    /// The `ETag` header.
    pub etag: Option<&'a str>,
    /// The `Last-Modified` header.
    pub last_modified: Option<&'a str>,
    /// The `Content-Length` header, when the body was not compressed in transit.
    pub content_length: Option<u64>,
    /// The body as received (decompressed).
    pub body: &'a [u8],
}

/// Why the previous list stays loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeepReason {
    /// The server answered with an error or an unusable status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// Fewer bytes than `Content-Length` announced.
    #[error("download truncated: {got} of {expected} bytes")]
    ShortBody {
        /// `Content-Length`.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The body is not an acceptable list.
    #[error(transparent)]
    Invalid(#[from] ListError),
}

impl KeepReason {
    /// Whether retrying soon may help (server errors, throttling, cut
    /// downloads), as opposed to waiting for the next regular refresh.
    pub fn is_transient(&self) -> bool {
        match self {
            KeepReason::Status(s) => *s == 408 || *s == 429 || *s >= 500,
            KeepReason::ShortBody { .. } => true,
            KeepReason::Invalid(ListError::Io(_)) => true,
            KeepReason::Invalid(_) => false,
        }
    }
}

/// The outcome of one download.
#[derive(Debug)]
pub enum Decision {
    /// `304 Not Modified`: keep the loaded list; validators unchanged.
    NotModified,
    /// `200` with the same body as last time: keep the loaded list, store
    /// the new validators (the server may have changed its `ETag`).
    Unchanged {
        /// Validators to store.
        validators: Validators,
    },
    /// A new, valid list: load it atomically and store the validators.
    Replace {
        /// The parsed list.
        list: ParsedList,
        /// Validators to store.
        validators: Validators,
    },
    /// Keep the loaded list: the response is unusable.
    KeepPrevious {
        /// Why.
        reason: KeepReason,
    },
}

/// Decides what a response means for a list whose current state is `previous`.
pub fn decide(previous: &Validators, resp: &Response<'_>, opts: &ParseOptions) -> Decision {
    match resp.status {
        304 => return Decision::NotModified,
        200 => {}
        s => {
            return Decision::KeepPrevious {
                reason: KeepReason::Status(s),
            };
        }
    }
    let got = resp.body.len() as u64;
    if let Some(expected) = resp.content_length
        && got < expected
    {
        return Decision::KeepPrevious {
            reason: KeepReason::ShortBody { expected, got },
        };
    }
    let validators = Validators {
        etag: resp.etag.map(str::to_string),
        last_modified: resp.last_modified.map(str::to_string),
        body_hash: Some(body_hash(resp.body)),
    };
    if previous.body_hash.is_some() && previous.body_hash == validators.body_hash {
        return Decision::Unchanged { validators };
    }
    match parse_list(resp.body, opts) {
        Ok(list) => Decision::Replace { list, validators },
        Err(e) => Decision::KeepPrevious {
            reason: KeepReason::Invalid(e),
        },
    }
}

/// A stable 64-bit FNV-1a hash of a body, as `fnv1a64:<16 hex digits>`
/// (change detection, not security: the feed's server is trusted anyway).
pub fn body_hash(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[u8] = b"# list\n198.51.100.0/24\n203.0.113.9\n";

    fn ok(body: &[u8]) -> Response<'_> {
        Response {
            status: 200,
            etag: Some("\"v2\""),
            last_modified: Some("Tue, 02 Jan 2024 00:00:00 GMT"),
            content_length: Some(body.len() as u64),
            body,
        }
    }

    fn opts() -> ParseOptions {
        ParseOptions::default()
    }

    #[test]
    fn first_download_replaces_and_sets_validators() {
        let d = decide(&Validators::default(), &ok(LIST), &opts());
        let Decision::Replace { list, validators } = d else {
            panic!("{d:?}")
        };
        assert_eq!(list.set.len(), 2);
        assert_eq!(validators.etag.as_deref(), Some("\"v2\""));
        assert_eq!(validators.body_hash, Some(body_hash(LIST)));
        assert_eq!(
            validators.request_headers(),
            [
                ("If-None-Match", "\"v2\"".to_string()),
                (
                    "If-Modified-Since",
                    "Tue, 02 Jan 2024 00:00:00 GMT".to_string()
                )
            ]
        );
    }

    #[test]
    fn not_modified_and_unchanged() {
        let prev = Validators {
            etag: Some("\"v1\"".into()),
            last_modified: None,
            body_hash: Some(body_hash(LIST)),
        };
        let r304 = Response {
            status: 304,
            etag: None,
            last_modified: None,
            content_length: None,
            body: b"",
        };
        assert!(matches!(
            decide(&prev, &r304, &opts()),
            Decision::NotModified
        ));
        // a server that ignores validators but sends the same body
        match decide(&prev, &ok(LIST), &opts()) {
            Decision::Unchanged { validators } => {
                assert_eq!(validators.etag.as_deref(), Some("\"v2\""));
            }
            d => panic!("{d:?}"),
        }
        // a changed body replaces
        let new = b"198.51.100.0/24\n198.51.101.0/24\n";
        assert!(matches!(
            decide(&prev, &ok(new), &opts()),
            Decision::Replace { .. }
        ));
    }

    #[test]
    fn failures_keep_the_previous_list() {
        let prev = Validators {
            body_hash: Some(body_hash(LIST)),
            ..Default::default()
        };
        for status in [404u16, 429, 500, 503, 206, 204] {
            let r = Response {
                status,
                ..ok(b"198.51.100.1\n")
            };
            match decide(&prev, &r, &opts()) {
                Decision::KeepPrevious {
                    reason: KeepReason::Status(s),
                } => assert_eq!(s, status),
                d => panic!("{status}: {d:?}"),
            }
        }
        // a cut download (fewer bytes than Content-Length)
        let r = Response {
            content_length: Some(10_000),
            ..ok(LIST)
        };
        let d = decide(&prev, &r, &opts());
        let Decision::KeepPrevious { reason } = d else {
            panic!("{d:?}")
        };
        assert!(matches!(
            reason,
            KeepReason::ShortBody {
                expected: 10_000,
                ..
            }
        ));
        assert!(reason.is_transient());
        // 200 with an HTML error page, or an empty body
        for body in [
            &b"<html><body>Service unavailable</body></html>"[..],
            b"",
            b"# empty\n",
        ] {
            match decide(&prev, &ok(body), &opts()) {
                Decision::KeepPrevious {
                    reason: KeepReason::Invalid(e),
                } => assert!(
                    matches!(e, ListError::Html | ListError::Empty { .. }),
                    "{e}"
                ),
                d => panic!("{d:?}"),
            }
        }
        assert!(KeepReason::Status(503).is_transient());
        assert!(!KeepReason::Status(404).is_transient());
    }

    #[test]
    fn validators_round_trip_as_json() {
        let v = Validators {
            etag: Some("W/\"abc\"".into()),
            last_modified: Some("Tue, 02 Jan 2024 00:00:00 GMT".into()),
            body_hash: Some(body_hash(b"x")),
        };
        let j = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Validators>(&j).unwrap(), v);
        assert_eq!(body_hash(b""), "fnv1a64:cbf29ce484222325");
    }
}
