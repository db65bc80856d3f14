//! What the daemon follows: `--watch`, else `[sources] files`, else the
//! standard logs that exist; the journal when asked, or by default when no
//! syslog file exists.

use crate::cli::RunArgs;
use crate::input;
use rampart_core::config::Config;
use std::path::{Path, PathBuf};

/// The sources to start.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files and globs to follow (explicit files even before they exist;
    /// globs are re-expanded whenever their directories change).
    pub files: Vec<PathBuf>,
    /// For each of `files`, the program whose output it is declared to be
    /// (`[[sources.file]] program`), if any.
    pub programs: Vec<Option<String>>,
    /// Standard logs (or `--watch`-less defaults) that do not exist.
    pub missing: Vec<String>,
    /// Globs that match nothing yet (followed when a file appears).
    pub waiting: Vec<String>,
    /// Whether to follow the journal.
    pub journal: bool,
}

/// Syslog files whose presence means the journal is not needed by default.
const SYSLOG_FILES: &[&str] = &[
    "/var/log/auth.log",
    "/var/log/secure",
    "/var/log/messages",
    "/var/log/syslog",
];

/// Works out the plan from the command line and the configuration.
pub fn plan(a: &RunArgs, config: &Config) -> Plan {
    let declared = &config.sources.file;
    let (patterns, explicit): (Vec<String>, bool) = if !a.watch.is_empty() {
        (a.watch.clone(), true)
    } else if !config.sources.files.is_empty() || !declared.is_empty() {
        let mut all = config.sources.files.clone();
        all.extend(declared.iter().map(|f| f.path.clone()));
        (all, true)
    } else {
        let std = input::STANDARD_LOGS.iter().map(|s| s.to_string());
        (std.collect(), false)
    };
    let mut p = Plan::default();
    for pat in &patterns {
        if pat.contains(['*', '?', '[']) {
            if expand(pat).is_empty() {
                p.waiting.push(pat.clone());
            }
            p.files.push(PathBuf::from(pat));
        } else if explicit || Path::new(pat).is_file() {
            p.files.push(PathBuf::from(pat));
        } else {
            p.missing.push(pat.clone());
        }
    }
    let program_of = |p: &PathBuf| {
        let text = p.to_string_lossy();
        declared
            .iter()
            .find(|f| f.path == text)
            .and_then(|f| f.program.clone())
    };
    p.programs = p.files.iter().map(program_of).collect();
    let syslog_file = SYSLOG_FILES.iter().any(|f| Path::new(f).is_file());
    p.journal = a.journal
        || config.sources.journal == Some(true)
        || (config.sources.journal.is_none() && !explicit && !syslog_file);
    p
}

fn expand(pattern: &str) -> Vec<PathBuf> {
    input::expand(&[pattern.to_string()])
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i {
            input::Input::File(f) => Some(f),
            input::Input::Stdin => None,
        })
        .collect()
}
