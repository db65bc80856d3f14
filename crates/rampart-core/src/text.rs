//! Text for humans: control characters from log lines (user names, URLs,
//! user agents) are shown escaped, so a line cannot drive the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with C0/C1 control characters (ESC, BEL, CR, …) and bidirectional
/// overrides replaced by visible `\u{..}` escapes. Borrowed when clean.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape_controls("root"), "root");
        assert_eq!(
            escape_controls("a\x1b[31mb\x07\rc"),
            "a\\u{1b}[31mb\\u{7}\\u{d}c"
        );
        assert_eq!(escape_controls("x\u{202e}y"), "x\\u{202e}y");
    }
}
