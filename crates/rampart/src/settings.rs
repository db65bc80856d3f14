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

/// The configuration file, and whether it was named (`--config`,
/// `RAMPART_CONFIG`) rather than the default.
pub fn config_path(global: &Global) -> (PathBuf, bool) {
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
    config::parse(
        &path.display().to_string(),
        &text,
        &codes,
        known_rules,
        &SystemZones,
    )
    .map_err(|d| ConfigErrors(d).into())
}

/// Time zones from this system: `TZ` or `/etc/localtime` for `local`, the
/// zone database (`/usr/share/zoneinfo`, else the copy built into
/// Rampart) for names. Loaded once, when the configuration is read.
pub struct SystemZones;

impl config::ZoneSource for SystemZones {
    fn local(&self) -> Result<jiff::tz::TimeZone, String> {
        jiff::tz::TimeZone::try_system().map_err(|e| e.to_string())
    }

    fn named(&self, name: &str) -> Result<jiff::tz::TimeZone, String> {
        jiff::tz::TimeZone::get(name).map_err(|_| {
            let db = jiff::tz::db();
            let names: Vec<String> = db.available().map(|n| n.as_str().to_string()).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            match config::suggest(name, &refs) {
                Some(s) => format!("unknown time zone; did you mean `{s}`?"),
                None => "unknown time zone".to_string(),
            }
        })
    }
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

/// `builtin` plus the rule files of `rules_dir` and `--rules`.
fn with_rule_files(
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

/// Loads configuration, rules (the built-in pack without its test
/// vectors) and the explanation catalogue.
pub fn load(global: &Global, sources: &RuleSources) -> Result<Loaded> {
    load_pack(global, sources, false)
}

/// As [`load`], with the built-in pack's test vectors (`rules test`).
pub fn load_with_vectors(global: &Global, sources: &RuleSources) -> Result<Loaded> {
    load_pack(global, sources, true)
}

fn load_pack(global: &Global, sources: &RuleSources, vectors: bool) -> Result<Loaded> {
    let reasons = explain::builtin();
    // The built-in pack is parsed once (it is most of the start-up).
    let builtin = match (sources.no_builtin, vectors) {
        (true, _) => Vec::new(),
        (false, true) => builtin::rules().context("built-in rules")?,
        (false, false) => builtin::rules_without_vectors().context("built-in rules")?,
    };
    let load_rules = |dir: &str| with_rule_files(builtin.clone(), sources, dir);
    // Rule ids are needed to validate [rules."id"]; rules_dir comes from the config,
    // so validate against the built-in pack plus --rules first.
    let pre = load_rules("")?;
    let ids: Vec<&str> = pre.iter().map(|r| r.id.as_str()).collect();
    let mut config = load_config(global, &ids, &reasons);
    if let Err(e) = &config
        && e.downcast_ref::<ConfigErrors>().is_some()
    {
        // Retry with rules.d included, in case the unknown ids live there.
        let dir_rules = load_rules(&Config::default().rules_dir)?;
        let ids: Vec<&str> = dir_rules.iter().map(|r| r.id.as_str()).collect();
        config = load_config(global, &ids, &reasons);
    }
    let config = config?;
    let rules = load_rules(&config.rules_dir)?;
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

/// The host's own addresses, from the kernel (an rtnetlink dump; no
/// privileges needed), as host networks. Detectors never ban them. Empty
/// (with a warning) if the kernel cannot be asked.
pub fn own_addresses() -> Vec<Net> {
    match rampart_nft::dump_addresses() {
        Ok(v) => {
            let mut out: Vec<Net> = v.into_iter().map(|a| Net::host(a.addr)).collect();
            out.sort();
            out.dedup();
            out
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the host's own addresses");
            Vec::new()
        }
    }
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
    let diags = check_file(&path)?;
    if a.json {
        println!("{}", serde_json::to_string(&check_view(&path, &diags))?);
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

/// The result of checking `path` as `config check --json` shows it.
pub fn check_view(path: &Path, diags: &[config::Diagnostic]) -> crate::views::ConfigCheckView {
    crate::views::ConfigCheckView {
        file: path.display().to_string(),
        ok: diags.is_empty(),
        errors: diags
            .iter()
            .map(|d| crate::views::DiagnosticView {
                file: d.file.clone(),
                line: d.line,
                key: d.key.clone(),
                message: d.message.clone(),
            })
            .collect(),
    }
}

/// Every error of the configuration file `path` (rule ids from the
/// built-in pack and the rules directory it names).
pub fn check_file(path: &Path) -> Result<Vec<config::Diagnostic>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let reasons = explain::builtin();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    // Rule ids: built-in pack plus the rules directory the file names (or the default).
    let mut defs = builtin::rules()?;
    let dir = config::parse(
        &path.display().to_string(),
        &text,
        &codes,
        &[],
        &SystemZones,
    )
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
    let result = config::parse(
        &path.display().to_string(),
        &text,
        &codes,
        &ids,
        &SystemZones,
    );
    Ok(result.err().unwrap_or_default())
}
