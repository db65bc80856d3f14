//! The built-in rule pack, embedded from `crates/rampart-core/rules/`.
//!
//! To add a family: create `rules/NAME.toml` and list it in [`FILES`]; the
//! test suite fails if a file in the directory is not listed.

use crate::rule::{RuleDef, RuleFileError, parse_rule_file};

/// `(name, text)` of every built-in rule file.
pub const FILES: &[(&str, &str)] = &[
    ("sshd.toml", include_str!("../rules/sshd.toml")),
    ("exim.toml", include_str!("../rules/exim.toml")),
    ("postfix.toml", include_str!("../rules/postfix.toml")),
    ("pop3imap.toml", include_str!("../rules/pop3imap.toml")),
    ("ftp.toml", include_str!("../rules/ftp.toml")),
    ("panels.toml", include_str!("../rules/panels.toml")),
    ("web.toml", include_str!("../rules/web.toml")),
    ("network.toml", include_str!("../rules/network.toml")),
    ("databases.toml", include_str!("../rules/databases.toml")),
    ("webapps.toml", include_str!("../rules/webapps.toml")),
    ("voip.toml", include_str!("../rules/voip.toml")),
];

/// All built-in rules, in file order.
pub fn rules() -> Result<Vec<RuleDef>, RuleFileError> {
    let mut out = Vec::new();
    for (name, text) in FILES {
        let mut defs = parse_rule_file(&format!("builtin:{name}"), text)?;
        for d in &mut defs {
            d.builtin = true;
        }
        out.extend(defs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".toml") {
                assert!(
                    super::FILES.iter().any(|(n, _)| *n == name),
                    "rules/{name} is not listed in builtin::FILES"
                );
            }
        }
    }

    /// Every family carries log-injection vectors (fake addresses in
    /// attacker-controlled fields that must not be blamed).
    #[test]
    fn every_family_has_injection_vectors() {
        for (name, text) in super::FILES {
            let defs = crate::rule::parse_rule_file(name, text).unwrap();
            let n = defs
                .iter()
                .flat_map(|d| {
                    d.must_match
                        .iter()
                        .filter_map(|v| v.note.as_deref())
                        .chain(d.must_not_match.iter().filter_map(|v| v.note.as_deref()))
                })
                .filter(|n| n.to_ascii_lowercase().contains("inject"))
                .count();
            assert!(n >= 3, "{name}: only {n} injection vectors");
        }
    }

    #[test]
    fn builtin_rules_parse() {
        let r = super::rules().unwrap();
        assert!(!r.is_empty());
    }
}
