//! JSON log lines: Suricata `eve.json` alerts and JSON web access logs.
//!
//! Rather than a second matching language, a JSON line is decoded and
//! rendered into a canonical text line that ordinary rules match:
//!
//! - a Suricata alert becomes a message of the pseudo-program `<eve>`
//!   (`alert attacker=198.51.100.7 sid=2001219 severity=2 signature=...`);
//!   `<eve>` cannot be a syslog tag, so no syslog line can pose as one.
//! - a JSON access log entry (nginx/Apache `log_format` JSON, Caddy,
//!   Traefik) becomes a combined-log-format line for the web rules.
//!
//! Fields that hold attacker-controlled text (URIs, user agents) have
//! their quotes escaped so they cannot forge fields of the rendered line.

use crate::addr::{Net, parse_addr};
use serde_json::Value;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The pseudo-program Suricata alerts are matched under.
pub const EVE_PROGRAM: &[u8] = b"<eve>";
/// The pseudo-program Nextcloud log entries are matched under.
pub const NEXTCLOUD_PROGRAM: &[u8] = b"<nextcloud>";

/// A decoded JSON line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A Suricata alert: match under [`EVE_PROGRAM`].
    Eve,
    /// An access-log entry: match as a plain line.
    Access,
    /// A Nextcloud log entry: match under [`NEXTCLOUD_PROGRAM`].
    Nextcloud,
    /// An event Rampart does not act on (other event types, low severity).
    Ignore,
}

fn get<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

fn first_str<'v>(v: &'v Value, paths: &[&str]) -> Option<&'v str> {
    paths.iter().find_map(|p| get(v, p).and_then(Value::as_str))
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "%22".to_string(),
            '\n' | '\r' | '\t' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn is_local(ip: IpAddr, own: &[Net]) -> bool {
    own.iter().any(|n| n.contains(ip))
        || match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        }
}

/// Decodes a JSON line into `out` (cleared first). `max_severity`: Suricata
/// alerts less severe (numerically higher) are ignored. `own`: the host's
/// networks, for telling which side of an alert is the attacker.
pub fn decode(
    line: &[u8],
    max_severity: u8,
    own: &[Net],
    out: &mut Vec<u8>,
) -> Option<(Decoded, Option<String>)> {
    out.clear();
    let v: Value = serde_json::from_slice(line).ok()?;
    if !v.is_object() {
        return None;
    }
    if let Some(et) = v.get("event_type").and_then(Value::as_str) {
        if et != "alert" {
            return Some((Decoded::Ignore, None));
        }
        return Some(eve_alert(&v, max_severity, own, out));
    }
    if v.get("reqId").is_some() && v.get("remoteAddr").is_some() {
        return Some(nextcloud(&v, out));
    }
    access(&v, out).map(|t| (Decoded::Access, t))
}

/// A Nextcloud log entry as `remote=ADDR app=APP message=MESSAGE`: the
/// address from `remoteAddr` (Nextcloud's view of the client), the
/// attacker-influenced message last.
fn nextcloud(v: &Value, out: &mut Vec<u8>) -> (Decoded, Option<String>) {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let line = format!(
        "remote={} app={} message={}",
        clean(field("remoteAddr")).replace(' ', ""),
        clean(field("app")).replace(' ', ""),
        clean(field("message"))
    );
    out.extend_from_slice(line.as_bytes());
    let time = v.get("time").and_then(Value::as_str).map(str::to_string);
    (Decoded::Nextcloud, time)
}

fn eve_alert(
    v: &Value,
    max_severity: u8,
    own: &[Net],
    out: &mut Vec<u8>,
) -> (Decoded, Option<String>) {
    let alert = v.get("alert").unwrap_or(&Value::Null);
    let severity = alert.get("severity").and_then(Value::as_u64).unwrap_or(3);
    if severity > u64::from(max_severity) {
        return (Decoded::Ignore, None);
    }
    let src = v.get("src_ip").and_then(Value::as_str).and_then(parse_addr);
    let dst = v
        .get("dest_ip")
        .and_then(Value::as_str)
        .and_then(parse_addr);
    // Suricata 6+ names the attacker when the rule says so (`target:` keyword).
    let named = get(alert, "source.ip")
        .and_then(Value::as_str)
        .and_then(parse_addr);
    let attacker = match (named, src, dst) {
        (Some(a), _, _) => Some(a),
        // an alert on traffic our host sent: the remote end is the culprit
        (None, Some(s), Some(d)) if is_local(s, own) && !is_local(d, own) => Some(d),
        (None, s, _) => s,
    };
    let Some(attacker) = attacker else {
        return (Decoded::Ignore, None);
    };
    let sid = alert
        .get("signature_id")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let sig = alert.get("signature").and_then(Value::as_str).unwrap_or("");
    let cat = alert.get("category").and_then(Value::as_str).unwrap_or("");
    let mut s = String::new();
    let _ = write!(
        s,
        "alert attacker={attacker} sid={sid} severity={severity} category=\"{}\" signature=\"{}\"",
        clean(cat),
        clean(sig)
    );
    out.extend_from_slice(s.as_bytes());
    let time = v
        .get("timestamp")
        .and_then(Value::as_str)
        .map(str::to_string);
    (Decoded::Eve, time)
}

fn access(v: &Value, out: &mut Vec<u8>) -> Option<Option<String>> {
    let ip = first_str(
        v,
        &[
            "remote_addr",
            "client_ip",
            "clientip",
            "remote_ip",
            "ClientHost",
            "request.remote_ip",
            "request.client_ip",
            "ip",
        ],
    )?;
    let (method, uri, proto) = match first_str(v, &["request"]) {
        Some(req) => {
            let mut it = req.splitn(3, ' ');
            (
                it.next().unwrap_or("-").to_string(),
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("-").to_string(),
            )
        }
        None => (
            first_str(
                v,
                &[
                    "request_method",
                    "method",
                    "RequestMethod",
                    "request.method",
                ],
            )?
            .to_string(),
            first_str(
                v,
                &[
                    "request_uri",
                    "uri",
                    "RequestPath",
                    "request.uri",
                    "path",
                    "url",
                ],
            )?
            .to_string(),
            first_str(
                v,
                &[
                    "server_protocol",
                    "protocol",
                    "RequestProtocol",
                    "request.proto",
                ],
            )
            .unwrap_or("HTTP/1.1")
            .to_string(),
        ),
    };
    let status = ["status", "DownstreamStatus", "response_status"]
        .iter()
        .find_map(|k| {
            let s = v.get(*k)?;
            s.as_u64()
                .map(|n| n.to_string())
                .or_else(|| s.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| "-".into());
    let referer = first_str(
        v,
        &[
            "http_referer",
            "referer",
            "referrer",
            "request.headers.Referer.0",
        ],
    )
    .unwrap_or("-");
    let ua = first_str(
        v,
        &[
            "http_user_agent",
            "user_agent",
            "agent",
            "request.headers.User-Agent.0",
        ],
    )
    .unwrap_or("-");
    let xff = first_str(v, &["http_x_forwarded_for", "x_forwarded_for", "xff"]).unwrap_or("-");
    let time = first_str(
        v,
        &[
            "time_iso8601",
            "time_local",
            "timestamp",
            "time",
            "StartUTC",
            "@timestamp",
        ],
    );
    let ip = clean(ip).replace(' ', "");
    let line = format!(
        "{ip} - - [{}] \"{} {} {}\" {} - \"{}\" \"{}\" \"{}\"",
        clean(time.unwrap_or("-")),
        clean(&method).replace(' ', ""),
        clean(&uri).replace(' ', "%20"),
        clean(&proto).replace(' ', ""),
        clean(&status),
        clean(referer),
        clean(ua),
        clean(xff)
    );
    out.extend_from_slice(line.as_bytes());
    Some(time.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(line: &str) -> Option<(Decoded, String)> {
        let mut out = Vec::new();
        decode(line.as_bytes(), 2, &[], &mut out).map(|(k, _)| (k, String::from_utf8(out).unwrap()))
    }

    #[test]
    fn eve_alert_source_is_attacker() {
        let (k, s) = d(r#"{"timestamp":"2026-11-27T08:15:00.000000+0000","event_type":"alert","src_ip":"198.51.100.7","src_port":4444,"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"signature_id":2001219,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}"#).unwrap();
        assert_eq!(k, Decoded::Eve);
        assert!(
            s.starts_with("alert attacker=198.51.100.7 sid=2001219 severity=2"),
            "{s}"
        );
    }

    #[test]
    fn eve_alert_attacker_is_destination() {
        // our host (private address) talked to a bad server: blame the server
        let (_, s) = d(r#"{"event_type":"alert","src_ip":"10.0.0.5","dest_ip":"203.0.113.66","alert":{"signature_id":1,"signature":"ET MALWARE beacon","severity":1}}"#).unwrap();
        assert!(s.starts_with("alert attacker=203.0.113.66 "), "{s}");
        // the rule names the attacker explicitly
        let (_, s) = d(r#"{"event_type":"alert","src_ip":"192.0.2.10","dest_ip":"198.51.100.9","alert":{"signature_id":1,"signature":"x","severity":1,"source":{"ip":"198.51.100.9","port":80},"target":{"ip":"192.0.2.10","port":5555}}}"#).unwrap();
        assert!(s.starts_with("alert attacker=198.51.100.9 "), "{s}");
    }

    #[test]
    fn eve_low_severity_and_other_events_ignored() {
        assert_eq!(
            d(r#"{"event_type":"alert","src_ip":"198.51.100.7","alert":{"severity":3}}"#)
                .unwrap()
                .0,
            Decoded::Ignore
        );
        assert_eq!(
            d(r#"{"event_type":"flow","src_ip":"198.51.100.7"}"#)
                .unwrap()
                .0,
            Decoded::Ignore
        );
    }

    #[test]
    fn access_json_renders_combined() {
        let (k, s) = d(r#"{"time_iso8601":"2026-11-27T08:15:00+00:00","remote_addr":"198.51.100.7","request":"GET /../../etc/passwd HTTP/1.1","status":404,"http_user_agent":"x\" 200 \"y","http_referer":"-"}"#).unwrap();
        assert_eq!(k, Decoded::Access);
        assert_eq!(
            s,
            r#"198.51.100.7 - - [2026-11-27T08:15:00+00:00] "GET /../../etc/passwd HTTP/1.1" 404 - "-" "x%22 200 %22y" "-""#
        );
    }

    #[test]
    fn nextcloud_entry() {
        let (k, s) = d(r#"{"reqId":"a","level":2,"time":"2026-11-27T08:15:00+00:00","remoteAddr":"198.51.100.7","user":"--","app":"core","message":"Login failed: 'x\" app=core' (Remote IP: '198.51.100.7')"}"#).unwrap();
        assert_eq!(k, Decoded::Nextcloud);
        assert_eq!(
            s,
            "remote=198.51.100.7 app=core message=Login failed: 'x%22 app=core' (Remote IP: '198.51.100.7')"
        );
    }

    #[test]
    fn not_json_or_not_ours() {
        assert!(d("{not json").is_none());
        assert!(d(r#"{"msg":"hello"}"#).is_none());
        assert!(d("[1,2]").is_none());
    }
}
