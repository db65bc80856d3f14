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

/// The rule pack's version: this crate's version and a 32-bit digest of
/// the rule files (FNV-1a's step over 8-byte words, folded), so any change
/// to a built-in rule shows in `rampart --version` (`0.1.0+9f3c2a1e`).
/// Every command builds its version text at start, so the digest takes
/// a word at a time.
pub fn pack_version() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |w: u64| h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    for (name, text) in FILES {
        for bytes in [name.as_bytes(), &[0], text.as_bytes()] {
            let mut words = bytes.chunks_exact(8);
            for w in &mut words {
                let mut word = [0; 8];
                word.copy_from_slice(w);
                eat(u64::from_le_bytes(word));
            }
            for &b in words.remainder() {
                eat(u64::from(b));
            }
        }
    }
    format!(
        "{}+{:08x}",
        env!("CARGO_PKG_VERSION"),
        (h >> 32) as u32 ^ h as u32
    )
}

/// How many rules the pack holds (`[[rule]]` tables), without parsing it.
pub fn rule_count() -> usize {
    FILES
        .iter()
        .map(|(_, t)| {
            headers(t)
                .filter(|&(line, h)| {
                    h == Header::Rule
                        && t[line..]
                            .lines()
                            .next()
                            .is_some_and(|l| l.trim() == "[[rule]]")
                })
                .count()
        })
        .sum()
}

/// All built-in rules, in file order, with their test vectors.
pub fn rules() -> Result<Vec<RuleDef>, RuleFileError> {
    parse_all(std::borrow::Cow::Borrowed)
}

/// All built-in rules without their test vectors: what matching needs.
/// The vectors are most of the pack's text; leaving them out before
/// parsing halves the start-up of `scan` and `run`.
pub fn rules_without_vectors() -> Result<Vec<RuleDef>, RuleFileError> {
    parse_all(|text| std::borrow::Cow::Owned(strip_vectors(text)))
}

/// The text of a rule file without its `[[rule.match]]` and
/// `[[rule.nomatch]]` tables. In TOML a table runs until the next header,
/// and a rule's vectors follow its keys, so everything from a vector header
/// to the next `[[rule]]` header is the vector's. Headers are found with a
/// substring search rather than line by line (this runs at every start).
fn strip_vectors(text: &str) -> String {
    let mut out = String::with_capacity(text.len() / 2);
    let mut kept_from = Some(0);
    for (line, header) in headers(text) {
        match header {
            Header::Rule => {
                kept_from.get_or_insert(line);
            }
            Header::Vector => {
                if let Some(from) = kept_from.take() {
                    out.push_str(&text[from..line]);
                }
            }
        }
    }
    if let Some(from) = kept_from {
        out.push_str(&text[from..]);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `[[rule]]`
    Rule,
    /// `[[rule.match]]` or `[[rule.nomatch]]`
    Vector,
}

/// The rule and vector table headers of `text` (only whitespace before them
/// on their line), with the offsets of their lines.
fn headers(text: &str) -> impl Iterator<Item = (usize, Header)> + '_ {
    memchr::memmem::find_iter(text.as_bytes(), "[[rule").filter_map(move |at| {
        let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if !text[line..at].trim_start().is_empty() {
            return None;
        }
        let rest = &text[at..];
        if rest.starts_with("[[rule]]") {
            Some((line, Header::Rule))
        } else if rest.starts_with("[[rule.match]]") || rest.starts_with("[[rule.nomatch]]") {
            Some((line, Header::Vector))
        } else {
            None
        }
    })
}

fn parse_all(
    text_of: impl Fn(&'static str) -> std::borrow::Cow<'static, str>,
) -> Result<Vec<RuleDef>, RuleFileError> {
    let mut out = Vec::new();
    for (name, text) in FILES {
        let mut defs = parse_rule_file(&format!("builtin:{name}"), &text_of(text))?;
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
    fn stripping_vectors_keeps_every_rule_intact() {
        let full = super::rules().unwrap();
        let bare = super::rules_without_vectors().unwrap();
        assert_eq!(full.len(), bare.len());
        for (f, b) in full.iter().zip(&bare) {
            assert_eq!(
                (&f.id, &f.regex, f.enabled, &f.programs),
                (&b.id, &b.regex, b.enabled, &b.programs)
            );
            assert_eq!(
                format!(
                    "{:?}",
                    (
                        &f.literals,
                        f.threshold,
                        &f.group,
                        f.session,
                        f.once_per_session,
                        f.distinct
                    )
                ),
                format!(
                    "{:?}",
                    (
                        &b.literals,
                        b.threshold,
                        &b.group,
                        b.session,
                        b.once_per_session,
                        b.distinct
                    )
                )
            );
            assert!(b.must_match.is_empty() && b.must_not_match.is_empty());
        }
    }

    /// The line-by-line reading the substring search replaced.
    fn strip_vectors_by_lines(text: &str) -> String {
        let mut out = String::new();
        let mut in_vector = false;
        for line in text.split_inclusive('\n') {
            let t = line.trim_start();
            if t.starts_with("[[rule.match]]") || t.starts_with("[[rule.nomatch]]") {
                in_vector = true;
            } else if t.starts_with("[[rule]]") {
                in_vector = false;
            }
            if !in_vector {
                out.push_str(line);
            }
        }
        out
    }

    #[test]
    fn stripping_finds_the_same_headers_as_reading_line_by_line() {
        let odd = "a = 1\n[[rule]]\nx = \"[[rule.match]] inside\"\n  [[rule.match]]\nline = 1\n\t[[rule.nomatch]]\n[[rule]]\ny = 2\n[[rule.match]]";
        for text in super::FILES
            .iter()
            .map(|(_, t)| *t)
            .chain([odd, "", "[[rule]]"])
        {
            assert_eq!(super::strip_vectors(text), strip_vectors_by_lines(text));
        }
        let by_lines: usize = super::FILES
            .iter()
            .map(|(_, t)| t.lines().filter(|l| l.trim() == "[[rule]]").count())
            .sum();
        assert_eq!(super::rule_count(), by_lines);
    }

    #[test]
    fn builtin_rules_parse() {
        let r = super::rules().unwrap();
        assert!(!r.is_empty());
        assert_eq!(super::rule_count(), r.len());
    }

    #[test]
    fn pack_version_names_the_crate_version_and_a_digest() {
        let v = super::pack_version();
        let (ver, digest) = v.split_once('+').unwrap();
        assert_eq!(ver, env!("CARGO_PKG_VERSION"));
        assert_eq!(digest.len(), 8);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{v}");
    }
}
