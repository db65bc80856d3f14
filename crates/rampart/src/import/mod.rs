//! `rampart import`: bring a CSF or fail2ban set-up over to Rampart.
//!
//! An import reads the other tool's files and produces three things:
//!
//! - a `rampart.toml` ([`ConfigOut`]) in which every converted setting
//!   carries a comment naming where it came from (`csf.conf LF_SSHD = "5"`,
//!   `jail.local [sshd] maxretry = 3`), so the admin can check each one;
//! - the list entries ([`ImportedEntry`]): allow, deny and ignore entries
//!   with their comments and, for temporary ones, their expiry;
//! - a [`Report`]: what was converted, what has no equivalent and why, what
//!   Rampart does differently, and what is left to do by hand (custom Perl
//!   rules, dynamic-DNS names, blocklists to enable).
//!
//! Nothing is changed unless asked: [`apply`] writes the configuration
//! (never over an existing file without `force`) and adds the entries to
//! the store, through the same [`rampart_store::Store::add_many`] that
//! `rampart deny/allow/ignore` end in. The kernel is made to match by
//! `rampart apply` (or a running daemon's reload), as after any store
//! change.
//!
//! The parsers ([`csf`], [`fail2ban`]) are plain functions of the files'
//! text and an injected "now", so the tests check reports line by line on
//! fixture directories without a clock or root.

pub mod csf;
pub mod fail2ban;

use crate::cli::{Global, ImportArgs, ImportCmd};
use crate::exit;
use crate::settings::{self, now};
use anyhow::{Context, Result};
use rampart_core::addr::{Net, is_never_blockable};
use rampart_core::text::escape_controls;
use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_store::{AddAction, Kind, NewEntry, Origin, Store};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Errors reading the other tool's files.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file that must exist could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The directory holds no configuration of the expected kind.
    #[error("{dir} holds no {what} (is this the right directory?)")]
    NotFound {
        /// The directory.
        dir: String,
        /// The file looked for.
        what: &'static str,
    },
    /// fail2ban's database could not be read.
    #[error("cannot read fail2ban's database {path}: {source}")]
    Database {
        /// The database file.
        path: String,
        /// Why.
        source: rusqlite::Error,
    },
}

/// Reads a file that must exist.
fn read(path: &Path) -> Result<String, ImportError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| ImportError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// Reads a file that may be missing (`None`); other errors are errors.
fn read_optional(path: &Path) -> Result<Option<String>, ImportError> {
    match read(path) {
        Ok(t) => Ok(Some(t)),
        Err(ImportError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Where a setting or an entry came from, and a sentence about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// `csf.conf LF_SSHD = "5"`, `csf.deny:12`, `jail.local [sshd]`.
    pub origin: String,
    /// What happened to it, or why not.
    pub text: String,
}

/// What was converted, what was not and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Settings and entries carried over.
    pub converted: Vec<Note>,
    /// Settings Rampart has no equivalent for, and why.
    pub no_equivalent: Vec<Note>,
    /// Where Rampart behaves differently from the old tool.
    pub different: Vec<Note>,
    /// Things the admin has to do by hand.
    pub todo: Vec<Note>,
}

impl Report {
    fn push(list: &mut Vec<Note>, origin: impl Into<String>, text: impl Into<String>) {
        list.push(Note {
            origin: origin.into(),
            text: text.into(),
        });
    }
    /// Records a converted setting.
    pub fn converted(&mut self, origin: impl Into<String>, text: impl Into<String>) {
        Self::push(&mut self.converted, origin, text);
    }
    /// Records a setting without equivalent.
    pub fn none(&mut self, origin: impl Into<String>, text: impl Into<String>) {
        Self::push(&mut self.no_equivalent, origin, text);
    }
    /// Records a difference in behaviour.
    pub fn different(&mut self, origin: impl Into<String>, text: impl Into<String>) {
        Self::push(&mut self.different, origin, text);
    }
    /// Records something to do by hand.
    pub fn todo(&mut self, origin: impl Into<String>, text: impl Into<String>) {
        Self::push(&mut self.todo, origin, text);
    }

    /// The report as text, one note per line under four headings.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, notes) in [
            ("Converted", &self.converted),
            ("No equivalent in Rampart", &self.no_equivalent),
            ("What Rampart does differently", &self.different),
            ("To do by hand", &self.todo),
        ] {
            let _ = writeln!(out, "{title} ({}):", notes.len());
            for n in notes {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    escape_controls(&n.origin),
                    escape_controls(&n.text)
                );
            }
        }
        out
    }
}

/// One allow, deny or ignore entry to add to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedEntry {
    /// Which list.
    pub kind: Kind,
    /// The address or network.
    #[serde(serialize_with = "ser_display")]
    pub target: Net,
    /// When it ends (`None`: permanent).
    pub expires: Option<Timestamp>,
    /// The reason code (`manual`, or the detector's when the old tool
    /// recorded it: `sshd`, `smtpauth`, ...).
    pub reason: String,
    /// The old tool's comment, shown by `rampart why` and `list`.
    pub summary: String,
    /// Log lines behind it, when the old tool kept them (fail2ban).
    pub evidence: Vec<String>,
    /// Where it came from: `csf.deny:12`, `fail2ban.sqlite3 [sshd]`.
    pub origin: String,
}

fn ser_display<S: serde::Serializer>(v: &Net, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl ImportedEntry {
    /// The store record: an admin entry (`manual` origin) whose comment
    /// says where it was imported from.
    pub fn to_new_entry(&self, now: Timestamp) -> NewEntry {
        let mut e = NewEntry::new(
            self.kind,
            self.target,
            Origin::Manual,
            self.reason.clone(),
            now,
            self.expires,
        );
        e.summary = self.summary.clone();
        e.evidence = self.evidence.clone();
        e.comment = Some(format!("imported from {}", self.origin));
        e
    }
}

/// One `key = value` line of the generated configuration.
#[derive(Debug, Clone, PartialEq)]
struct Setting {
    key: String,
    value: toml::Value,
    origin: String,
    /// Written commented out: a hint the admin must complete.
    hint: bool,
}

/// The generated `rampart.toml`: tables of settings, each with its origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigOut {
    header: Vec<String>,
    tables: Vec<(String, Vec<Setting>)>,
}

/// The order tables are written in (top-level keys first, as TOML needs).
fn table_rank(name: &str) -> usize {
    const ORDER: &[&str] = &[
        "",
        "detect",
        "reasons",
        "rules",
        "ban",
        "distributed",
        "firewall",
        "portscan",
        "limits",
        "country",
        "sources",
    ];
    let head = name.split('.').next().unwrap_or("");
    ORDER.iter().position(|t| *t == head).unwrap_or(ORDER.len())
}

impl ConfigOut {
    /// A configuration whose header comment says what produced it.
    pub fn new(header: &[&str]) -> ConfigOut {
        ConfigOut {
            header: header.iter().map(|s| s.to_string()).collect(),
            tables: Vec::new(),
        }
    }

    fn table_mut(&mut self, table: &str) -> &mut Vec<Setting> {
        let i = match self.tables.iter().position(|(n, _)| n == table) {
            Some(i) => i,
            None => {
                // keep tables ordered by rank, insertion order within a rank
                let rank = table_rank(table);
                let at = self
                    .tables
                    .iter()
                    .position(|(n, _)| table_rank(n) > rank)
                    .unwrap_or(self.tables.len());
                self.tables.insert(at, (table.to_string(), Vec::new()));
                at
            }
        };
        &mut self.tables[i].1
    }

    fn put(&mut self, table: &str, key: &str, value: toml::Value, origin: String, hint: bool) {
        let t = self.table_mut(table);
        let s = Setting {
            key: key.to_string(),
            value,
            origin,
            hint,
        };
        match t.iter_mut().find(|s| s.key == key) {
            Some(old) => *old = s,
            None => t.push(s),
        }
    }

    /// Sets `[table] key = value`, commented with its origin (`""` is the
    /// top level). A second `set` of the same key replaces the first.
    pub fn set(
        &mut self,
        table: &str,
        key: &str,
        value: impl Into<toml::Value>,
        origin: impl Into<String>,
    ) {
        self.put(table, key, value.into(), origin.into(), false);
    }

    /// Writes `# key = value  # note`: a setting left for the admin to fill.
    pub fn hint(
        &mut self,
        table: &str,
        key: &str,
        value: impl Into<toml::Value>,
        note: impl Into<String>,
    ) {
        self.put(table, key, value.into(), note.into(), true);
    }

    /// The value set for `[table] key`, if any (hints excluded).
    pub fn get(&self, table: &str, key: &str) -> Option<&toml::Value> {
        self.tables
            .iter()
            .find(|(n, _)| n == table)?
            .1
            .iter()
            .find(|s| s.key == key && !s.hint)
            .map(|s| &s.value)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            let _ = writeln!(out, "# {}", escape_controls(h));
        }
        for (name, settings) in &self.tables {
            if !name.is_empty() {
                let _ = writeln!(out, "\n[{name}]");
            }
            for s in settings {
                let line = format!("{} = {}", s.key, s.value);
                let hash = if s.hint { "# " } else { "" };
                let _ = writeln!(
                    out,
                    "{hash}{line:<40}  # {}",
                    escape_controls(&s.origin).replace('\n', " ")
                );
            }
        }
        out
    }
}

/// A duration in seconds as Rampart writes it: `90s`, `15m`, `2h`, `7d`.
pub fn duration_text(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Which tool an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// ConfigServer Security & Firewall (csf + lfd).
    Csf,
    /// fail2ban.
    Fail2ban,
}

/// Everything an import produced.
#[derive(Debug, Clone)]
pub struct Import {
    /// What was read.
    pub tool: Tool,
    /// The generated configuration.
    pub config: ConfigOut,
    /// The list entries.
    pub entries: Vec<ImportedEntry>,
    /// What was and was not converted.
    pub report: Report,
}

impl Import {
    /// Drops deny entries that would lock the host out (loopback, the
    /// host's own addresses, `protected` such as the SSH client), noting
    /// each in the report.
    pub fn drop_protected(&mut self, protected: &[Net]) {
        let report = &mut self.report;
        self.entries.retain(|e| {
            if e.kind != Kind::Deny {
                return true;
            }
            let why = if is_never_blockable(e.target.addr) && e.target.is_host() {
                Some("a loopback/link-local/multicast address".to_string())
            } else {
                protected
                    .iter()
                    .find(|p| e.target.contains(p.addr) && !is_never_blockable(p.addr))
                    .map(|p| {
                        format!(
                            "it contains {}, this host's own or your SSH client's address",
                            p.addr
                        )
                    })
            };
            match why {
                Some(w) => {
                    report.different(
                        e.origin.clone(),
                        format!(
                            "deny {} not imported: {w} (use `rampart deny --force` if you mean it)",
                            e.target
                        ),
                    );
                    false
                }
                None => true,
            }
        });
    }

    /// The list entries as text, one per line.
    pub fn render_entries(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "List entries ({}):", self.entries.len());
        for e in &self.entries {
            let until = e
                .expires
                .map(|t| format!("until {}", format_rfc3339(t)))
                .unwrap_or_else(|| "permanent".into());
            let _ = writeln!(
                out,
                "  {:<6} {:<20} {:<30} {}  [{}]",
                e.kind.as_str(),
                e.target.to_string(),
                until,
                escape_controls(&e.summary),
                escape_controls(&e.origin)
            );
        }
        out
    }

    /// The machine-readable form (`--json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "tool": self.tool,
            "config": self.config.render(),
            "entries": self.entries,
            "report": self.report,
        })
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The configuration file written.
    pub config_path: String,
    /// Entries added (or extended).
    pub added: usize,
    /// Entries already in the store for as long or longer.
    pub kept: usize,
}

/// Why [`apply`] refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The configuration file exists and `force` was not given.
    #[error(
        "{0} exists; not overwriting it without --force (the dry run shows what would be written)"
    )]
    Exists(String),
    /// Writing the configuration failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store refused the entries.
    #[error("cannot add the entries to the store: {0}")]
    Store(#[from] rampart_store::Error),
}

/// Writes the configuration to `config_path` (atomically; refused when the
/// file exists unless `force`) and adds the entries to `store` in one
/// transaction.
pub fn apply(
    import: &Import,
    config_path: &Path,
    force: bool,
    store: &mut Store,
    now: Timestamp,
) -> Result<Applied, ApplyError> {
    let shown = config_path.display().to_string();
    if config_path.exists() && !force {
        return Err(ApplyError::Exists(shown));
    }
    let write_err = |source| ApplyError::Write {
        path: shown.clone(),
        source,
    };
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let tmp = config_path.with_extension("toml.import-tmp");
    std::fs::write(&tmp, import.config.render()).map_err(write_err)?;
    std::fs::rename(&tmp, config_path).map_err(write_err)?;
    let entries: Vec<NewEntry> = import.entries.iter().map(|e| e.to_new_entry(now)).collect();
    let added = store.add_many(&entries)?;
    let kept = added
        .iter()
        .filter(|a| matches!(a.action, AddAction::Kept { .. }))
        .count();
    Ok(Applied {
        config_path: shown,
        added: added.len() - kept,
        kept,
    })
}

/// The address of the SSH client running this command, if any.
fn ssh_client() -> Option<Net> {
    let v = std::env::var("SSH_CONNECTION")
        .or_else(|_| std::env::var("SSH_CLIENT"))
        .ok()?;
    Net::parse(v.split_whitespace().next()?)
}

/// `rampart import csf|fail2ban [DIR]`: the CLI glue.
pub fn run(global: &Global, cmd: &ImportCmd) -> Result<u8> {
    let now = now();
    let (mut import, args) = match cmd {
        ImportCmd::Csf(a) => {
            let dir = a.common.dir.clone().unwrap_or_else(|| "/etc/csf".into());
            (csf::import(&dir, &a.var_dir, now)?, &a.common)
        }
        ImportCmd::Fail2ban(a) => {
            let dir = a
                .common
                .dir
                .clone()
                .unwrap_or_else(|| "/etc/fail2ban".into());
            (fail2ban::import(&dir, a.db.as_deref(), now)?, &a.common)
        }
    };
    let mut protected = settings::own_addresses();
    protected.extend(ssh_client());
    import.drop_protected(&protected);
    let applied = if args.apply {
        match apply_to_host(global, &import, args, now) {
            Ok(a) => Some(a),
            // refusing to overwrite is an answer, not a failure
            Err(e) if matches!(e.downcast_ref(), Some(ApplyError::Exists(_))) => {
                eprintln!("rampart: {e}");
                return Ok(exit::FOUND_PROBLEMS);
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    print_outcome(&import, applied.as_ref(), args);
    Ok(exit::OK)
}

fn apply_to_host(
    global: &Global,
    import: &Import,
    args: &ImportArgs,
    now: Timestamp,
) -> Result<Applied> {
    let config_path: PathBuf = global
        .config
        .clone()
        .unwrap_or_else(|| settings::DEFAULT_CONFIG.into());
    std::fs::create_dir_all(&global.state_dir).with_context(|| {
        format!(
            "cannot create state directory {}",
            global.state_dir.display()
        )
    })?;
    let mut store =
        Store::open(global.state_dir.join("rampart.db")).context("cannot open the ban store")?;
    Ok(apply(import, &config_path, args.force, &mut store, now)?)
}

fn print_outcome(import: &Import, applied: Option<&Applied>, args: &ImportArgs) {
    if args.json {
        let mut v = import.to_json();
        v["applied"] = serde_json::json!(applied);
        println!("{v}");
        return;
    }
    match applied {
        None => {
            println!("{}", import.config.render());
            println!("{}", import.render_entries());
            print!("{}", import.report.render());
            println!(
                "\nDry run: nothing was changed. `--apply` writes the configuration and adds the entries."
            );
        }
        Some(a) => {
            print!("{}", import.report.render());
            println!(
                "\nWrote {}; added {} entries to the store ({} already there). Run `rampart config check`, then `rampart apply` (or `rampart reload` when the daemon runs) to enforce them.",
                a.config_path, a.added, a.kept
            );
        }
    }
}
