//! Webhooks: one HTTP POST per message (ureq, blocking, rustls), with a
//! global timeout per attempt and no redirects.
//!
//! Formats: `json` (Rampart's versioned schema, docs/alerts.md), `slack`
//! (also Mattermost), `discord`, `teams` (an Adaptive Card, as Teams
//! workflows take it) and `ntfy` (plain text with Title/Priority/Tags).
//! With a `secret`, every request carries `X-Rampart-Timestamp` (Unix
//! seconds) and `X-Rampart-Signature: sha256=HEX`, the HMAC-SHA256 of
//! `TIMESTAMP.BODY` under the secret, whatever the format.

use super::channel::{Deliver, Failure, Outgoing};
use super::kinds::Alert;
use rampart_core::config::alerts::{AlertKind, WebhookConfig, WebhookFormat};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// The JSON schema's version (docs/alerts.md).
pub const SCHEMA_VERSION: u32 = 1;
/// Discord refuses longer contents.
const DISCORD_MAX: usize = 1900;

/// The `json` body: the alert, its rendered subject and text, a version.
#[derive(Serialize)]
struct JsonBody<'a> {
    version: u32,
    #[serde(flatten)]
    alert: &'a Alert,
    subject: &'a str,
    text: &'a str,
}

/// A webhook channel.
pub struct Webhook {
    url: String,
    format: WebhookFormat,
    secret: Option<String>,
    agent: ureq::Agent,
    name: String,
    seq: u64,
}

impl Webhook {
    /// The channel for `cfg`.
    pub fn new(cfg: &WebhookConfig, timeout: Duration) -> Webhook {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("rampart/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Webhook {
            url: cfg.url.clone(),
            format: cfg.format,
            secret: cfg.secret.clone(),
            agent,
            name: format!("webhook {} {}", cfg.format.name(), redacted(&cfg.url)),
            seq: 0,
        }
    }
}

/// `https://hooks.example.net/…`: paths often hold tokens.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{more}")
}

/// The body and its extra headers for `msg` in `format`.
pub fn body(format: WebhookFormat, msg: &Outgoing) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let r = &msg.rendered;
    let ct = ("Content-Type", "application/json".to_string());
    let value = match format {
        WebhookFormat::Json => {
            let b = JsonBody {
                version: SCHEMA_VERSION,
                alert: &msg.alert,
                subject: &r.subject,
                text: &r.text,
            };
            return (serde_json::to_vec(&b).unwrap_or_default(), vec![ct]);
        }
        WebhookFormat::Slack => json!({
            "text": format!("*{}*\n```\n{}\n```", slack_escape(&r.subject), slack_escape(r.text.trim_end())),
        }),
        WebhookFormat::Discord => json!({
            "content": truncate(&format!("**{}**\n```\n{}\n```", r.subject, r.text.trim_end().replace("```", "'''")), DISCORD_MAX),
            "allowed_mentions": {"parse": []},
        }),
        WebhookFormat::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": r.subject, "weight": "Bolder", "wrap": true},
                        {"type": "TextBlock", "text": r.text.trim_end(), "wrap": true, "fontType": "Monospace"},
                    ],
                },
            }],
        }),
        WebhookFormat::Ntfy => {
            let (priority, tags) = match msg.kind {
                AlertKind::PermBan | AlertKind::SourceStopped | AlertKind::RefreshFailed => {
                    ("high", "rotating_light")
                }
                AlertKind::TempBan => ("default", "no_entry"),
                _ => ("default", "shield"),
            };
            let headers = vec![
                ("Content-Type", "text/plain; charset=utf-8".to_string()),
                ("Title", ascii(&r.subject)),
                ("Priority", priority.to_string()),
                ("Tags", tags.to_string()),
            ];
            return (r.text.clone().into_bytes(), headers);
        }
    };
    (serde_json::to_vec(&value).unwrap_or_default(), vec![ct])
}

/// `sha256=HEX` of HMAC-SHA256(`secret`, `timestamp.body`).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…\n```", &s[..end])
}

/// Header values are ASCII here.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl Deliver for Webhook {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn deliver(&mut self, msg: &Outgoing) -> Result<(), Failure> {
        let (data, headers) = body(self.format, msg);
        let now = crate::settings::now();
        self.seq += 1;
        let mut req = self
            .agent
            .post(&self.url)
            .header("X-Rampart-Event", msg.kind.name())
            .header(
                "X-Rampart-Delivery",
                format!("{}-{}-{}", msg.alert.host, now, self.seq),
            );
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(secret) = &self.secret {
            req = req
                .header("X-Rampart-Timestamp", now.to_string())
                .header("X-Rampart-Signature", signature(secret, now, &data));
        }
        match req.send(&data[..]) {
            Ok(resp) => {
                let code = resp.status().as_u16();
                match code {
                    200..=299 => Ok(()),
                    408 | 425 | 429 | 500..=599 => Err(Failure::Transient(format!("HTTP {code}"))),
                    _ => Err(Failure::Permanent(format!("HTTP {code}"))),
                }
            }
            Err(e) => Err(Failure::Transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_what_an_independent_hmac_computes() {
        // python3's hmac module as the independent implementation
        assert_eq!(
            signature("key", 1, b"{}"),
            format!("sha256={}", python_hmac("key", "1.{}"))
        );
        assert_eq!(
            signature("s3cret", 1_700_000_000, "é".as_bytes()),
            format!("sha256={}", python_hmac("s3cret", "1700000000.é"))
        );
    }

    fn python_hmac(key: &str, msg: &str) -> String {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
                key,
                msg,
            ])
            .output()
            .expect("python3");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn urls_in_status_hide_their_tokens() {
        assert_eq!(
            redacted("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redacted("http://u:p@127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(truncate("ééé", 3), "é…\n```");
    }
}
