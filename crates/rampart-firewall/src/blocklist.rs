//! Blocklist definitions (`STATE_DIR/blocklists.json`) and their cached
//! bodies (`STATE_DIR/blocklists/NAME.list`): the last body that loaded,
//! which is what the kernel set is rebuilt from.

use std::path::{Path, PathBuf};

use rampart_core::time::Timestamp;
use rampart_lists::{IntervalSet, ParseOptions, Validators, parse_list};
use rampart_nft::ListDirection;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A blocklist definition (`rampart blocklist add`) and its refresh state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListDef {
    /// The list name (`a-z0-9_-`, at most 32 characters).
    pub name: String,
    /// A local file.
    #[serde(default)]
    pub file: Option<String>,
    /// A URL.
    #[serde(default)]
    pub url: Option<String>,
    /// `plain`, `spamhaus`, `dshield`, `firehol` (default: detected).
    #[serde(default)]
    pub format: Option<String>,
    /// Seconds between refreshes (0: only by hand).
    pub refresh_secs: u64,
    /// `in`, `out` or `both`.
    pub direction: String,
    /// Refuse a list with more entries.
    #[serde(default)]
    pub max_entries: Option<usize>,
    /// `ETag` of the last accepted download.
    #[serde(default)]
    pub etag: Option<String>,
    /// `Last-Modified` of the last accepted download.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Hash of the last accepted body.
    #[serde(default)]
    pub body_hash: Option<String>,
    /// When the list last loaded (or was confirmed unchanged).
    #[serde(default)]
    pub updated: Option<Timestamp>,
    /// Entries of the loaded list.
    #[serde(default)]
    pub entries: usize,
    /// When the last attempt was made.
    #[serde(default)]
    pub last_attempt: Option<Timestamp>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub failures: u32,
    /// Why the last attempt failed (cleared by a success).
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the next scheduled refresh is due.
    #[serde(default)]
    pub next_due: Option<Timestamp>,
}

impl ListDef {
    /// A new definition with no history.
    pub fn new(name: &str, refresh_secs: u64, direction: &str) -> ListDef {
        ListDef {
            name: name.to_string(),
            file: None,
            url: None,
            format: None,
            refresh_secs,
            direction: direction.to_string(),
            max_entries: None,
            etag: None,
            last_modified: None,
            body_hash: None,
            updated: None,
            entries: 0,
            last_attempt: None,
            failures: 0,
            last_error: None,
            next_due: None,
        }
    }

    /// Which traffic it blocks.
    pub fn list_direction(&self) -> ListDirection {
        match self.direction.as_str() {
            "out" => ListDirection::Out,
            "both" => ListDirection::Both,
            _ => ListDirection::In,
        }
    }

    /// How its bodies are parsed.
    pub fn parse_options(&self) -> ParseOptions {
        let mut o = ParseOptions::default();
        if let Some(f) = &self.format {
            o.format = f.parse().ok();
        }
        if let Some(m) = self.max_entries {
            o.max_entries = m;
        }
        o
    }

    /// The HTTP validators of the loaded list.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            body_hash: self.body_hash.clone(),
        }
    }
}

/// `STATE_DIR/blocklists.json`.
pub fn defs_path(state_dir: &Path) -> PathBuf {
    state_dir.join("blocklists.json")
}

/// The cached body of list `name`.
pub fn cache_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("blocklists").join(format!("{name}.list"))
}

/// The definitions (none when the file does not exist).
pub fn load_defs(state_dir: &Path) -> Result<Vec<ListDef>> {
    let path = defs_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t)
            .map_err(|e| Error::Layout(format!("{} is corrupt: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()))(e)),
    }
}

/// Writes the definitions atomically (temporary file + rename).
pub fn save_defs(state_dir: &Path, defs: &[ListDef]) -> Result<()> {
    let path = defs_path(state_dir);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(defs)
        .map_err(|e| Error::Layout(format!("cannot encode blocklist definitions: {e}")))?;
    std::fs::write(&tmp, text).map_err(Error::io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(format!("cannot write {}", path.display())))
}

/// Stores `body` as the cached body of `name` (atomically).
pub fn save_cache(state_dir: &Path, name: &str, body: &[u8]) -> Result<()> {
    let path = cache_path(state_dir, name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    let tmp = path.with_extension("list.tmp");
    std::fs::write(&tmp, body).map_err(Error::io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(format!("cannot write {}", path.display())))
}

/// The addresses of the cached body of `def` (`None` when it was never
/// downloaded).
pub fn cached_set(state_dir: &Path, def: &ListDef) -> Result<Option<IntervalSet>> {
    let path = cache_path(state_dir, &def.name);
    let body = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()))(e)),
    };
    let p = parse_list(&body, &def.parse_options())
        .map_err(|e| Error::Layout(format!("blocklist {}: cached list: {e}", def.name)))?;
    Ok(Some(p.set))
}
