//! The catalogue of well-known public blocklist feeds (`data/feeds.toml`,
//! embedded). Every feed is disabled until the user enables it.

use serde::{Deserialize, Serialize};

use crate::blocklist::{Format, ParseOptions};

/// The embedded catalogue text.
pub const CATALOGUE_TOML: &str = include_str!("../data/feeds.toml");

/// Which traffic a list blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Connections from the listed addresses.
    In,
    /// Connections to the listed addresses.
    Out,
    /// Both.
    Both,
}

/// One public feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    /// Lowercase name, `[a-z0-9-]`, at most 25 characters (it names the set).
    pub name: String,
    /// Where to download it.
    pub url: String,
    /// Its format.
    pub format: Format,
    /// Refresh interval as written (`12h`); see [`Feed::refresh_secs`].
    pub refresh: String,
    /// Suggested direction.
    pub direction: Direction,
    /// What it holds.
    pub description: String,
    /// Licence and terms of use, to read before enabling it.
    pub licence: String,
    /// Overrides [`ParseOptions::min_prefix_v4`] for feeds that hold broad
    /// reserved networks on purpose (bogons).
    #[serde(default)]
    pub min_prefix_v4: Option<u8>,
    /// Overrides [`ParseOptions::min_prefix_v6`].
    #[serde(default)]
    pub min_prefix_v6: Option<u8>,
    /// Whether the feed is on without the user asking. Always `false` in the
    /// shipped catalogue (a test checks it).
    #[serde(default)]
    pub enabled: bool,
}

impl Feed {
    /// The refresh interval in seconds.
    pub fn refresh_secs(&self) -> Result<u64, CatalogueError> {
        match rampart_core::rule::parse_duration(&self.refresh) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(CatalogueError::Invalid {
                feed: self.name.clone(),
                problem: "refresh cannot be permanent".into(),
            }),
            Err(e) => Err(CatalogueError::Invalid {
                feed: self.name.clone(),
                problem: e,
            }),
        }
    }

    /// Parse options for this feed: its format and prefix overrides.
    pub fn parse_options(&self) -> ParseOptions {
        let mut o = ParseOptions::for_format(self.format);
        if let Some(p) = self.min_prefix_v4 {
            o.min_prefix_v4 = p;
        }
        if let Some(p) = self.min_prefix_v6 {
            o.min_prefix_v6 = p;
        }
        o
    }
}

/// A catalogue that does not load.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Not valid TOML, an unknown field or an unknown format.
    #[error("feed catalogue: {0}")]
    Toml(#[from] toml::de::Error),
    /// A feed breaks a catalogue rule.
    #[error("feed {feed:?}: {problem}")]
    Invalid {
        /// The feed name.
        feed: String,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    feed: Vec<Feed>,
}

/// Parses and checks a catalogue: unique valid names, https URLs, refresh of
/// at least one hour, prefix overrides within range.
pub fn parse_catalogue(text: &str) -> Result<Vec<Feed>, CatalogueError> {
    let file: File = toml::from_str(text)?;
    let mut seen = std::collections::HashSet::new();
    for f in &file.feed {
        let bad = |problem: &str| CatalogueError::Invalid {
            feed: f.name.clone(),
            problem: problem.to_string(),
        };
        if f.name.is_empty()
            || f.name.len() > 25
            || !f
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("name must be 1-25 characters of a-z, 0-9 and -"));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(bad("duplicate name"));
        }
        if !f.url.starts_with("https://") {
            return Err(bad("url must be https"));
        }
        if f.refresh_secs()? < 3600 {
            return Err(bad("refresh must be at least 1h"));
        }
        if f.min_prefix_v4.is_some_and(|p| p > 32) || f.min_prefix_v6.is_some_and(|p| p > 128) {
            return Err(bad("min_prefix out of range"));
        }
    }
    Ok(file.feed)
}

/// The built-in catalogue.
pub fn catalogue() -> Result<Vec<Feed>, CatalogueError> {
    parse_catalogue(CATALOGUE_TOML)
}

/// A built-in feed by name.
pub fn feed(name: &str) -> Option<Feed> {
    catalogue().ok()?.into_iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_is_valid_and_disabled() {
        let feeds = catalogue().unwrap();
        assert!(feeds.len() >= 15, "{}", feeds.len());
        for f in &feeds {
            // every format is a known one (deserialising into Format proves it)
            assert!(Format::ALL.contains(&f.format), "{}", f.name);
            assert!(!f.enabled, "{} must be disabled by default", f.name);
            assert!(f.refresh_secs().unwrap() >= 3600);
            assert!(!f.description.is_empty() && !f.licence.is_empty());
        }
        for name in [
            "spamhaus-drop",
            "spamhaus-drop-v6",
            "spamhaus-edrop",
            "dshield",
            "firehol-level1",
            "blocklist-de-all",
            "cins-army",
            "et-compromised",
            "feodo",
        ] {
            assert!(feed(name).is_some(), "{name} missing");
        }
        let f1 = feed("firehol-level1").unwrap();
        assert_eq!(f1.parse_options().min_prefix_v4, 3);
        assert_eq!(f1.parse_options().format, Some(Format::Firehol));
    }

    #[test]
    fn unknown_format_and_bad_entries_are_refused() {
        let base = |extra: &str| {
            format!(
                "[[feed]]\nname = \"x\"\nurl = \"https://example.org/x\"\nformat = \"plain\"\n\
                 refresh = \"1h\"\ndirection = \"in\"\ndescription = \"d\"\nlicence = \"l\"\n{extra}"
            )
        };
        assert!(parse_catalogue(&base("")).is_ok());
        let bad_format = base("").replace("\"plain\"", "\"csv\"");
        assert!(matches!(
            parse_catalogue(&bad_format),
            Err(CatalogueError::Toml(_))
        ));
        let short = base("").replace("\"1h\"", "\"5m\"");
        assert!(matches!(
            parse_catalogue(&short),
            Err(CatalogueError::Invalid { .. })
        ));
        let http = base("").replace("https://", "http://");
        assert!(parse_catalogue(&http).is_err());
        let dup = format!("{}\n{}", base(""), base(""));
        assert!(parse_catalogue(&dup).is_err());
        assert!(parse_catalogue(&base("colour = \"red\"\n")).is_err());
    }
}
