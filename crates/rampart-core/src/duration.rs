//! Durations as people type them: `90s`, `15m`, `1h30m`, `2 hours`, `7d`,
//! `1w`, a plain number of seconds, and (for ban lengths) `permanent`.
//!
//! Parsing is jiff's "friendly" duration grammar (the maintained parser the
//! rest of the time handling uses), restricted to what a ban or a window
//! can mean:
//!
//! - units from seconds to weeks, compact (`s m h d w`), short (`sec min
//!   hr`) or spelled out (`seconds minutes hours days weeks`), combined
//!   (`1h30m`, `1h 30m`, `1 hour, 30 minutes`) and with fractions
//!   (`1.5h`); a day is 24 hours and a week 7 days (a ban does not get
//!   shorter because of a DST change);
//! - months and years are refused: they have no fixed length (write `30d`
//!   or `52w`);
//! - negative spans (`-1h`, `1h ago`) are refused;
//! - anything else — a misspelt unit (`7dyas`), a unit-less word, an empty
//!   string — is refused with the accepted forms in the message.
//!
//! A unit word glued to its number (`7days`, `15mins`) is refused as the
//! typo it usually is, with the accepted forms (`7d`, `7 days`). Compact
//! text beyond what a calendar span holds (`99999999d`) is still read as
//! seconds, for the caller to refuse as too long with its own limit.
//! Fractions of a second are dropped (`1500ms` is 1 s); whether 0 is
//! acceptable is the caller's decision.

use jiff::fmt::friendly::SpanParser;
use jiff::{SpanRelativeTo, Unit};
use std::fmt;

/// What the error messages list as accepted.
pub const ACCEPTED: &str = "a number with a unit, like 90s, 15m, 1h30m, 2h, 7d or 1w (units s, m, h, d, w, or seconds, minutes, hours, days, weeks), or a number of seconds";

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Unreadable,
    Calendar,
    Negative,
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        match self.problem {
            Problem::Unreadable => write!(f, "bad duration {input:?}: expected {ACCEPTED}"),
            Problem::Calendar => write!(
                f,
                "bad duration {input:?}: months and years have no fixed length; use days or weeks (30d, 52w)"
            ),
            Problem::Negative => write!(f, "bad duration {input:?}: a duration cannot be negative"),
            Problem::TooLarge => write!(f, "bad duration {input:?}: too large"),
        }
    }
}

impl std::error::Error for DurationError {}

fn error(input: &str, problem: Problem) -> DurationError {
    DurationError {
        input: input.chars().take(80).collect(),
        problem,
    }
}

/// Parses a duration to whole seconds (see the module documentation).
///
/// # Errors
/// A [`DurationError`] whose message names the input and the accepted forms.
pub fn parse(s: &str) -> Result<u64, DurationError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| error(s, Problem::TooLarge));
    }
    if glued_word(t) {
        // `7days`, `15mins`: a typo of `7d` as often as not; say what works
        return Err(error(s, Problem::Unreadable));
    }
    let span = match SpanParser::new().parse_span(t) {
        Ok(span) => span,
        // beyond what a calendar span holds (`99999999d`): still a number of
        // seconds the caller can judge (and refuse as too long)
        Err(_) => {
            return compact(t).ok_or_else(|| {
                error(
                    s,
                    if compact_shape(t) {
                        Problem::TooLarge
                    } else {
                        Problem::Unreadable
                    },
                )
            });
        }
    };
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(error(s, Problem::Calendar));
    }
    if span.is_negative() {
        return Err(error(s, Problem::Negative));
    }
    let secs = span
        .total((Unit::Second, SpanRelativeTo::days_are_24_hours()))
        .map_err(|_| error(s, Problem::TooLarge))?;
    if !secs.is_finite() || secs >= u64::MAX as f64 {
        return Err(error(s, Problem::TooLarge));
    }
    // Whole seconds: the fraction of a second is dropped on purpose.
    Ok(secs.floor() as u64)
}

/// Whether a unit word longer than a letter is glued to its number
/// (`7days`, `2hours`), except the sub-second `ms`, `us`, `ns`.
fn glued_word(t: &str) -> bool {
    let b = t.as_bytes();
    (1..b.len()).any(|i| {
        b[i - 1].is_ascii_digit() && b[i].is_ascii_alphabetic() && {
            let word: String = t[i..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            word.len() > 1
                && !matches!(word.as_str(), "ms" | "us" | "ns")
                && !word.starts_with("mo") // months and years: refused below, as such
                && !word.starts_with('y')
        }
    })
}

/// `1h30m`-style text: numbers each followed by one of s, m, h, d, w.
fn compact_shape(t: &str) -> bool {
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    !t.is_empty()
        && t.ends_with(['s', 'm', 'h', 'd', 'w'])
        && t.chars().all(|c| c.is_ascii_digit() || "smhdw".contains(c))
        && t.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// The seconds of `1h30m`-style text, when they fit in a `u64`.
fn compact(t: &str) -> Option<u64> {
    if !compact_shape(t) {
        return None;
    }
    let mut total: u128 = 0;
    let mut n: u128 = 0;
    for c in t.chars().filter(|c| !c.is_whitespace()) {
        if let Some(d) = c.to_digit(10) {
            n = n.checked_mul(10)?.checked_add(u128::from(d))?;
            continue;
        }
        let unit: u128 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => 7 * 86400,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        n = 0;
    }
    u64::try_from(total).ok()
}

/// Parses a ban length: a duration, or `permanent` (also `perm`) as `None`.
///
/// # Errors
/// A [`DurationError`]; its message also mentions `permanent`.
pub fn parse_ban(s: &str) -> Result<Option<u64>, DurationError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("permanent") || t.eq_ignore_ascii_case("perm") {
        return Ok(None);
    }
    parse(s).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_people_type() {
        for (s, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("1 hour, 30 minutes", 5400),
            ("2h", 7200),
            ("7d", 7 * 86400),
            ("1w", 7 * 86400),
            ("2 weeks", 14 * 86400),
            ("1.5h", 5400),
            ("3600", 3600),
            (" 45 secs ", 45),
            ("1500ms", 1),
        ] {
            assert_eq!(parse(s), Ok(secs), "{s}");
        }
        assert_eq!(parse_ban("permanent"), Ok(None));
        assert_eq!(parse_ban("PERM"), Ok(None));
        assert_eq!(parse_ban("1d"), Ok(Some(86400)));
    }

    #[test]
    fn numbers_beyond_a_calendar_span_are_seconds_for_the_caller_to_judge() {
        assert_eq!(parse("99999999d"), Ok(99_999_999 * 86400));
        assert!(
            parse("99999999999999999999d")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }

    #[test]
    fn typos_are_refused_with_the_accepted_forms() {
        for s in [
            "7dyas",
            "7days",
            "15mins",
            "5x",
            "",
            "h",
            "ten minutes",
            "1h30",
            "permanent-ish",
            "7 dais",
        ] {
            let e = parse(s).expect_err(s).to_string();
            assert!(e.contains(&format!("{s:?}")), "{e}");
            assert!(e.contains("90s, 15m, 1h30m, 2h, 7d or 1w"), "{e}");
        }
        assert!(
            parse("permanent").is_err(),
            "only ban lengths may be permanent"
        );
    }

    #[test]
    fn calendar_negative_and_huge_are_refused() {
        assert!(
            parse("1mo")
                .unwrap_err()
                .to_string()
                .contains("no fixed length")
        );
        assert!(
            parse("1y")
                .unwrap_err()
                .to_string()
                .contains("no fixed length")
        );
        assert!(parse("-1h").unwrap_err().to_string().contains("negative"));
        assert!(
            parse("1h ago")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(parse("99999999999999999999999").is_err());
        assert_eq!(parse("99999999999w"), Ok(99_999_999_999 * 7 * 86400));
    }
}
