//! Loading what the user asked for: the configuration file, the rule files,
//! the host's own addresses; and `rampart config check`.

use crate::cli::{ConfigCheckArgs, Global, RuleSources};
use crate::exit;
use anyhow::{Context, Result};
use rampart_core::addr::Net;
use rampart_core::config::{self, Config, Diagnostic};
use rampart_core::detect::Detector;
use rampart_core::explain::{self, Reason};
use rampart_core::rule::{RuleDef, parse_rule_file};
use rampart_core::{builtin, time::Timestamp};
use std::path::{Path, PathBuf};

/// The default configuration path.
pub const DEFAULT_CONFIG: &str = "/etc/rampart/rampart.toml";

/// Configuration errors, all of them.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "the configuration has {} error(s):", self.0.len())?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Everything a detector needs, loaded.
pub struct Loaded {
    pub config: Config,
    pub rules: Vec<RuleDef>,
    pub reasons: Vec<Reason>,
}

fn config_path(global: &Global) -> (PathBuf, bool) {
    match &global.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    }
}

/// Reads and validates the configuration. A missing default file means
/// built-in defaults; a missing file the user named is an error.
pub fn load_config(global: &Global, known_rules: &[&str], reasons: &[Reason]) -> Result<Config> {
    let (path, explicit) = config_path(global);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Config::default());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read configuration {}", path.display()));
        }
    };
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    config::parse(&path.display().to_string(), &text, &codes, known_rules)
        .map_err(|d| ConfigErrors(d).into())
}

fn rule_files_in(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list rules directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        v.sort();
        Ok(v)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Loads rule definitions: the built-in pack (unless `--no-builtin`), then
/// `rules_dir` (if it exists), then each `--rules` path.
pub fn load_rules(sources: &RuleSources, rules_dir: &str) -> Result<Vec<RuleDef>> {
    let defs = if sources.no_builtin {
        Vec::new()
    } else {
        builtin::rules().context("built-in rules")?
    };
    add_rule_files(defs, sources, rules_dir)
}

/// `defs` followed by the rules of `rules_dir` (if it exists) and of each
/// `--rules` path.
fn add_rule_files(
    mut defs: Vec<RuleDef>,
    sources: &RuleSources,
    rules_dir: &str,
) -> Result<Vec<RuleDef>> {
    let mut paths = Vec::new();
    let dir = Path::new(rules_dir);
    if dir.is_dir() {
        paths.extend(rule_files_in(dir)?);
    }
    for p in &sources.rules {
        paths.extend(rule_files_in(p)?);
    }
    for p in paths {
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("cannot read rule file {}", p.display()))?;
        defs.extend(parse_rule_file(&p.display().to_string(), &text)?);
    }
    Ok(defs)
}

/// Loads only the configuration (rule ids under `[rules]` are not checked:
/// the firewall commands never load the rule pack, which keeps `deny` fast).
pub fn load_config_only(global: &Global) -> Result<Config> {
    load_config(global, config::ANY_RULE, &explain::builtin())
}

/// Loads configuration, rules and the explanation catalogue.
pub fn load(global: &Global, sources: &RuleSources) -> Result<Loaded> {
    let reasons = explain::builtin();
    // Rule ids are needed to validate [rules."id"]; rules_dir comes from the config,
    // so validate against the built-in pack plus --rules first.
    // The built-in pack is parsed once (its TOML is most of the start-up).
    let builtin = if sources.no_builtin {
        Vec::new()
    } else {
        builtin::rules().context("built-in rules")?
    };
    let pre = add_rule_files(builtin.clone(), sources, "")?;
    let ids: Vec<&str> = pre.iter().map(|r| r.id.as_str()).collect();
    let mut config = load_config(global, &ids, &reasons);
    if let Err(e) = &config
        && e.downcast_ref::<ConfigErrors>().is_some()
    {
        // Retry with rules.d included, in case the unknown ids live there.
        let dir_rules = load_rules(sources, &Config::default().rules_dir)?;
        let ids: Vec<&str> = dir_rules.iter().map(|r| r.id.as_str()).collect();
        config = load_config(global, &ids, &reasons);
    }
    let config = config?;
    let rules = add_rule_files(builtin, sources, &config.rules_dir)?;
    Ok(Loaded {
        config,
        rules,
        reasons,
    })
}

impl Loaded {
    /// Builds the detector.
    pub fn detector(&self) -> Result<Detector> {
        Detector::new(
            self.rules.clone(),
            &self.config,
            self.reasons.clone(),
            own_addresses(),
        )
        .context("cannot build the detector")
    }
}

/// The host's own addresses, from /proc (no privileges needed). Detectors
/// never ban them.
pub fn own_addresses() -> Vec<Net> {
    let mut out = Vec::new();
    // IPv4: /proc/net/fib_trie lists local addresses as "|-- A.B.C.D" followed by "/32 host LOCAL".
    if let Ok(t) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<&str> = None;
        for l in t.lines() {
            let l = l.trim();
            if let Some(a) = l.strip_prefix("|-- ") {
                last = Some(a);
            } else if l.contains("host LOCAL")
                && let Some(n) = last.and_then(Net::parse)
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
    }
    // IPv6: /proc/net/if_inet6, 32 hex digits per address.
    if let Ok(t) = std::fs::read_to_string("/proc/net/if_inet6") {
        for l in t.lines() {
            if let Some(hex) = l.split_whitespace().next()
                && let Ok(v) = u128::from_str_radix(hex, 16)
            {
                let n = Net::host(std::net::IpAddr::V6(v.into()));
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// The wall clock: the shell's one place that reads it.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Timestamp)
}

/// `rampart config check [PATH]`.
pub fn check(global: &Global, a: &ConfigCheckArgs) -> Result<u8> {
    let path = a.path.clone().unwrap_or_else(|| config_path(global).0);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let reasons = explain::builtin();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    // Rule ids: built-in pack plus the rules directory the file names (or the default).
    let mut defs = builtin::rules()?;
    let dir = config::parse(&path.display().to_string(), &text, &codes, &[])
        .map(|c| c.rules_dir)
        .unwrap_or_else(|_| Config::default().rules_dir);
    if Path::new(&dir).is_dir() {
        for p in rule_files_in(Path::new(&dir))? {
            if let Ok(t) = std::fs::read_to_string(&p)
                && let Ok(r) = parse_rule_file(&p.display().to_string(), &t)
            {
                defs.extend(r);
            }
        }
    }
    let ids: Vec<&str> = defs.iter().map(|r| r.id.as_str()).collect();
    let result = config::parse(&path.display().to_string(), &text, &codes, &ids);
    let diags = result.as_ref().err().cloned().unwrap_or_default();
    if a.json {
        let v: Vec<serde_json::Value> = diags
            .iter()
            .map(|d| serde_json::json!({"file": d.file, "line": d.line, "key": d.key, "message": d.message}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"file": path.display().to_string(), "ok": diags.is_empty(), "errors": v})
        );
    } else if diags.is_empty() {
        println!("{}: OK", path.display());
    } else {
        for d in &diags {
            println!("{d}");
        }
        eprintln!("{}: {} error(s)", path.display(), diags.len());
    }
    Ok(if diags.is_empty() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}
