//! The explanation catalogue: one record per reason code, used by every
//! output (scan reports, `rampart why`, the blocked-person page, alerts).
//!
//! Each record carries the reason's counting defaults (threshold, window,
//! ban) and three texts: the one-line admin summary in the shape CSF users
//! know, and for the blocked person a plain-language explanation of what
//! usually causes the block and what to do about it.
//!
//! The catalogue is data: `crates/rampart-core/data/reasons.toml`.

use crate::rule::DurationValue;
use serde::Deserialize;

/// One reason code's record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The code: `sshd`, `smtpauth`, ...
    pub code: String,
    /// A short title: "Failed SSH login".
    pub title: String,
    /// The summary's phrase before the address: "Failed SSH login from".
    /// `{id}` becomes ` (id:930100)` when the event carried a rule id.
    pub phrase: String,
    /// Default number of events that triggers a ban.
    pub threshold: u32,
    /// Default window the events must fall in.
    pub window: DurationValue,
    /// Default first ban (escalates on repeats).
    pub ban: DurationValue,
    /// What usually causes it, for the blocked person.
    pub explanation: String,
    /// What to do about it, for the blocked person.
    pub remedy: String,
    /// The blocked person may lift a first, temporary ban for this reason
    /// from the messenger page (the password-typo reasons).
    #[serde(default)]
    pub self_unblock: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    reason: Vec<Reason>,
}

const BUILTIN: &str = include_str!("../data/reasons.toml");

/// The built-in catalogue.
///
/// # Panics
/// Never at run time: the embedded file is checked by the test suite.
pub fn builtin() -> Vec<Reason> {
    #[allow(clippy::expect_used)]
    let c: Catalogue = toml::from_str(BUILTIN).expect("embedded reasons.toml is valid (tested)");
    c.reason
}

/// Renders the admin summary:
/// `(smtpauth) Failed SMTP AUTH login from 198.51.100.7: 5 in the last 3600 secs`.
pub fn summary(
    reason: &Reason,
    target: &str,
    lookup: Option<&str>,
    count: u64,
    window_secs: u64,
    rule_id: Option<&str>,
) -> String {
    let id = rule_id.map(|r| format!(" (id:{r})")).unwrap_or_default();
    let phrase = reason.phrase.replace("{id}", &id);
    let lookup = lookup.map(|l| format!(" ({l})")).unwrap_or_default();
    format!(
        "({}) {phrase} {target}{lookup}: {count} in the last {window_secs} secs",
        reason.code
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reason codes the product promises (issue #2).
    const REQUIRED: &[&str] = &[
        "sshd",
        "smtpauth",
        "pop3d",
        "imapd",
        "ftpd",
        "cpanel",
        "webmail",
        "mod_security",
        "htpasswd",
        "web_traversal",
        "web_probe",
        "cms_login",
        "email_abuse",
        "malware",
        "portscan",
        "ids",
        "dns",
        "custom",
        "console",
    ];

    #[test]
    fn catalogue_is_complete_and_valid() {
        let c = builtin();
        for code in REQUIRED {
            let r = c.iter().find(|r| r.code == *code);
            let r = r.unwrap_or_else(|| panic!("reason {code} missing from reasons.toml"));
            assert!(r.threshold > 0, "{code}: threshold");
            assert!(
                r.window.secs().is_ok_and(|w| w.is_some_and(|w| w > 0)),
                "{code}: window"
            );
            assert!(r.ban.secs().is_ok(), "{code}: ban");
            assert!(r.explanation.len() > 80, "{code}: explanation too short");
            assert!(r.remedy.len() > 40, "{code}: remedy too short");
        }
        for never in [
            "sshd",
            "portscan",
            "ids",
            "malware",
            "mod_security",
            "web_traversal",
        ] {
            let r = c.iter().find(|r| r.code == never).map(|r| r.self_unblock);
            assert_eq!(r, Some(false), "{never} must never be self-unblockable");
        }
        for typo in ["smtpauth", "pop3d", "imapd", "ftpd", "cpanel", "webmail"] {
            let r = c.iter().find(|r| r.code == typo).map(|r| r.self_unblock);
            assert_eq!(r, Some(true), "{typo} is a password typo");
        }
        let mut codes: Vec<_> = c.iter().map(|r| r.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), c.len(), "duplicate reason codes");
    }

    #[test]
    fn summaries_have_the_csf_shape() {
        let c = builtin();
        let get = |code: &str| c.iter().find(|r| r.code == code).unwrap();
        assert_eq!(
            summary(get("smtpauth"), "198.51.100.7", None, 5, 3600, None),
            "(smtpauth) Failed SMTP AUTH login from 198.51.100.7: 5 in the last 3600 secs"
        );
        assert_eq!(
            summary(
                get("mod_security"),
                "198.51.100.7",
                Some("US/United States"),
                5,
                3600,
                Some("930100")
            ),
            "(mod_security) mod_security (id:930100) triggered by 198.51.100.7 (US/United States): 5 in the last 3600 secs"
        );
    }
}
