//! Text that reaches a terminal.
//!
//! Log lines, user names and file names are written by whoever attacks the
//! server: a user name like `\x1b[2J\x1b[31mroot` would clear the admin's
//! screen and recolour what follows, a CR would let a line overwrite the
//! start of itself, and a right-to-left override (U+202E) would make
//! `198.51.100.7` display as something else. Every human-readable output
//! passes such text through [`escape_controls`], which makes those
//! characters visible instead of letting the terminal act on them.
//!
//! Escaped: the C0 controls except TAB (so `ESC`, BEL, BS, CR, LF, ...),
//! DEL, the C1 controls (U+0080–U+009F, which some terminals also treat as
//! escape introducers), and the bidirectional formatting characters (the
//! embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069 and
//! the marks U+200E, U+200F, U+061C). They become `\x1b`, `\x07`, `\r`,
//! `\n` and `\u{202e}`, the way Rust and most shells write them. Everything else, including a backslash, is left as it is: this is
//! a display safeguard, not a reversible encoding. JSON output needs none
//! of this (its encoder escapes control characters; bidi characters are
//! data there).

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is.
fn is_dangerous(c: char) -> bool {
    match c {
        '\t' => false,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        '\u{200e}' | '\u{200f}' | '\u{061c}' => true,
        _ => false,
    }
}

/// `s` with its control characters made visible: `\x1b`, `\x07`, `\r`,
/// `\n`, `\u{202e}` (see the module documentation for the exact set).
/// Borrows when there is nothing to escape, which is the common case.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(is_dangerous) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if !is_dangerous(c) {
            out.push(c);
            continue;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// [`escape_controls`] for bytes that may not be UTF-8 (a raw log line):
/// invalid sequences become U+FFFD first.
pub fn escape_controls_lossy(b: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(b) {
        Cow::Borrowed(s) => escape_controls(s),
        Cow::Owned(s) => Cow::Owned(escape_controls(&s).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        let s = "Failed password for root from 198.51.100.7\tport 22 — ünïcode";
        assert!(matches!(escape_controls(s), Cow::Borrowed(x) if x == s));
    }

    #[test]
    fn terminal_controls_become_visible() {
        assert_eq!(
            escape_controls("user \x1b[31mred\x1b[0m"),
            "user \\x1b[31mred\\x1b[0m"
        );
        assert_eq!(escape_controls("bell\x07"), "bell\\x07");
        assert_eq!(escape_controls("over\rwrite"), "over\\rwrite");
        assert_eq!(escape_controls("two\nlines"), "two\\nlines");
        assert_eq!(escape_controls("nul\0 del\x7f"), "nul\\x00 del\\x7f");
        // C1 CSI (U+009B) is an escape introducer on some terminals
        assert_eq!(escape_controls("c1\u{9b}31m"), "c1\\x9b31m");
    }

    #[test]
    fn bidi_overrides_become_visible() {
        assert_eq!(
            escape_controls("admin\u{202e}7.001.15.891"),
            "admin\\u{202e}7.001.15.891"
        );
        assert_eq!(escape_controls("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(escape_controls("\u{200f}"), "\\u{200f}");
    }

    #[test]
    fn no_dangerous_character_survives() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = escape_controls(&all);
        assert!(!out.chars().any(is_dangerous), "{out:?}");
        assert!(out.contains('\t'));
    }

    #[test]
    fn lossy_bytes() {
        assert_eq!(escape_controls_lossy(b"a\xff\x1bb"), "a\u{fffd}\\x1bb");
        assert_eq!(escape_controls_lossy(b"plain"), "plain");
    }
}
