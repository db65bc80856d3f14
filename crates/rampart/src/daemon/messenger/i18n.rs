//! The message catalogue: the page's and the protocol messages' texts,
//! one data file per language, chosen by `Accept-Language`.
//!
//! English is built in (`messages/en.toml`); `[messenger] languages_dir`
//! may hold more (`de.toml`, `pt-br.toml`). A language's missing keys are
//! English's, so a partial translation is still a whole page. Keys a
//! translation has that English has not are refused at start (a typo
//! would otherwise silently show English).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// One language's texts, every key present.
pub type Messages = BTreeMap<String, String>;

const ENGLISH: &str = include_str!("messages/en.toml");

/// All loaded languages.
#[derive(Debug, Clone)]
pub struct Catalogue {
    langs: BTreeMap<String, Messages>,
    english: Messages,
    default: String,
}

impl Catalogue {
    /// English plus the `LANG.toml` files of `dir`; `default` when the
    /// browser asks for nothing we have (English if it is not loaded).
    pub fn load(dir: Option<&Path>, default: &str) -> Result<Catalogue> {
        let en = parse(ENGLISH).context("the built-in English messages")?;
        let mut langs = BTreeMap::new();
        if let Some(dir) = dir {
            for (tag, path) in language_files(dir)? {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let own = parse(&text).with_context(|| format!("{}", path.display()))?;
                if let Some(k) = own.keys().find(|k| !en.contains_key(*k)) {
                    bail!(
                        "{}: unknown key {k:?} (the keys are those of the English file)",
                        path.display()
                    );
                }
                let mut full = en.clone();
                full.extend(own);
                langs.insert(tag, full);
            }
        }
        langs.insert("en".into(), en.clone());
        let default = if langs.contains_key(default) {
            default
        } else {
            "en"
        };
        Ok(Catalogue {
            langs,
            english: en,
            default: default.to_string(),
        })
    }

    /// The best language for an `Accept-Language` header: the highest
    /// quality tag we have, exactly or by its primary subtag (`de-AT` →
    /// `de`); else the default.
    pub fn pick(&self, accept: Option<&str>) -> (&str, &Messages) {
        let tag = accept
            .map(ranked)
            .unwrap_or_default()
            .into_iter()
            .find_map(|t| self.have(&t))
            .unwrap_or(self.default.as_str());
        match self.langs.get_key_value(tag) {
            Some((k, m)) => (k.as_str(), m),
            None => ("en", &self.english),
        }
    }

    fn have(&self, tag: &str) -> Option<&str> {
        let primary = tag.split('-').next().unwrap_or(tag);
        [tag, primary]
            .into_iter()
            .find_map(|t| self.langs.get_key_value(t).map(|(k, _)| k.as_str()))
    }
}

fn parse(text: &str) -> Result<Messages> {
    let t: BTreeMap<String, String> = toml::from_str(text)?;
    Ok(t)
}

/// `LANG.toml` files of `dir` whose name is a language tag.
fn language_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for e in rd.flatten() {
        let p = e.path();
        let Some(tag) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        if rampart_core::config::messenger::language_ok(tag) {
            out.push((tag.to_string(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// The tags of an `Accept-Language` header, best first (`q=0` dropped).
fn ranked(header: &str) -> Vec<String> {
    let mut v: Vec<(u16, usize, String)> = header
        .split(',')
        .take(20)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            (q > 0 && !tag.is_empty() && tag != "*").then_some((q, i, tag))
        })
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    v.into_iter().map(|(_, _, t)| t).collect()
}

/// The text of `key` (every key exists: translations are merged over
/// English; empty if a caller asks for a key no catalogue has).
pub fn text<'a>(t: &'a Messages, key: &str) -> &'a str {
    t.get(key).map_or("", String::as_str)
}

/// Fills `{name}` placeholders.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_is_a_data_file_and_accept_language_picks_it() {
        let dir = std::env::temp_dir().join(format!("rampart-i18n-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("de.toml"),
            "title = \"Ihre Verbindung ist gesperrt\"\n",
        )
        .expect("write");
        std::fs::write(dir.join("README.txt"), "not a language").expect("write");
        let c = Catalogue::load(Some(&dir), "en").expect("load");
        let (tag, m) = c.pick(Some("fr-CH, de-AT;q=0.8, en;q=0.5"));
        assert_eq!(tag, "de");
        assert_eq!(m["title"], "Ihre Verbindung ist gesperrt");
        assert_eq!(
            m["your_address"], "Your address",
            "missing keys are English"
        );
        assert_eq!(c.pick(Some("de;q=0, en")).0, "en");
        assert_eq!(c.pick(None).0, "en");
        std::fs::write(dir.join("nl.toml"), "titel = \"x\"\n").expect("write");
        let e = Catalogue::load(Some(&dir), "en").expect_err("unknown key");
        assert!(format!("{e:#}").contains("unknown key \"titel\""), "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(fill("{a} and {b}", &[("a", "1"), ("b", "2")]), "1 and 2");
    }
}
