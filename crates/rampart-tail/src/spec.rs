//! What to follow: path specs (a plain path or a glob), what they expand
//! to, where a rotated file may be found, and which directories must be
//! watched to notice that any of this changed.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The rotation patterns used when a spec names none: `{name}` stands for
/// the file's name, the rest is a glob in the same directory. Compressed
/// files are never candidates (their inode is not the one that was read).
pub const DEFAULT_ROTATIONS: &[&str] = &["{name}.1", "{name}-[0-9]*", "{name}.0"];

/// Extensions of compressed rotations: never followed, never candidates.
const COMPRESSED: &[&str] = &[
    "gz", "bz2", "xz", "zst", "lz4", "lzma", "lzo", "Z", "zip", "br",
];

/// One thing to follow: a path (followed even before it exists) or a glob
/// (re-expanded whenever a directory it covers changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pattern: PathBuf,
    rotations: Vec<String>,
}

impl Spec {
    /// A spec for `pattern`: a glob when it contains `*`, `?` or `[`, a
    /// plain path otherwise; with the [`DEFAULT_ROTATIONS`].
    pub fn new(pattern: impl Into<PathBuf>) -> Spec {
        Spec {
            pattern: pattern.into(),
            rotations: DEFAULT_ROTATIONS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Replaces the rotation patterns (`{name}` = the file's name, e.g.
    /// `"{name}.1"`, `"{name}-[0-9]*"`, `"old/{name}"`).
    pub fn with_rotations<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Spec {
        self.rotations = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// The path or glob as given.
    pub fn pattern(&self) -> &Path {
        &self.pattern
    }

    /// The rotation patterns.
    pub fn rotations(&self) -> &[String] {
        &self.rotations
    }

    /// Whether the pattern is a glob.
    pub fn is_glob(&self) -> bool {
        has_meta(self.pattern.as_os_str())
    }
}

fn has_meta(s: &std::ffi::OsStr) -> bool {
    s.as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// A spec made ready: its glob compiled.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) spec: Spec,
    glob: Option<(String, glob::Pattern)>,
    /// Rotation patterns split at `{name}`: literal prefix, glob suffix.
    rotations: Vec<(String, glob::Pattern)>,
}

/// Whether a file name is a compressed rotation.
pub(crate) fn is_compressed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| COMPRESSED.contains(&e))
}

impl Compiled {
    pub(crate) fn new(spec: Spec) -> Result<Compiled, crate::Error> {
        let bad = |pattern: &str, e: glob::PatternError| crate::Error::Pattern {
            pattern: pattern.to_string(),
            reason: e.msg.to_string(),
        };
        let glob = if spec.is_glob() {
            let text = spec.pattern.to_str().ok_or_else(|| crate::Error::Pattern {
                pattern: spec.pattern.display().to_string(),
                reason: "a glob must be valid UTF-8".into(),
            })?;
            let p = glob::Pattern::new(text).map_err(|e| bad(text, e))?;
            Some((text.to_string(), p))
        } else {
            None
        };
        let mut rotations = Vec::new();
        for r in &spec.rotations {
            let Some((prefix, suffix)) = r.split_once("{name}") else {
                return Err(crate::Error::Pattern {
                    pattern: r.clone(),
                    reason: "a rotation pattern must contain {name}".into(),
                });
            };
            let suffix_pattern = glob::Pattern::new(suffix).map_err(|e| bad(r, e))?;
            rotations.push((prefix.to_string(), suffix_pattern));
        }
        Ok(Compiled {
            spec,
            glob,
            rotations,
        })
    }

    pub(crate) fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    /// Whether `path` is one this spec may produce (used to attribute saved
    /// checkpoint entries to specs).
    pub(crate) fn covers(&self, path: &Path) -> bool {
        match &self.glob {
            Some((_, p)) => p.matches_path(path),
            None => path == self.spec.pattern,
        }
    }

    /// The paths the spec names now: the plain path itself (existing or
    /// not), or the glob's matches minus directories, compressed files and
    /// rotations of other matches.
    pub(crate) fn expand(&self) -> Vec<PathBuf> {
        let Some((text, _)) = &self.glob else {
            return vec![self.spec.pattern.clone()];
        };
        let Ok(paths) = glob::glob(text) else {
            return Vec::new();
        };
        let found: Vec<PathBuf> = paths
            .filter_map(Result::ok)
            .filter(|p| !is_compressed(p) && !p.is_dir())
            .collect();
        let names: HashSet<(&Path, &str)> = found
            .iter()
            .filter_map(|p| Some((p.parent()?, p.file_name()?.to_str()?)))
            .collect();
        found
            .iter()
            .filter(|p| !self.is_rotation_of_any(p, &names))
            .cloned()
            .collect()
    }

    /// Whether `path`'s name is a rotation (per this spec's patterns) of
    /// another name in the same directory.
    fn is_rotation_of_any(&self, path: &Path, names: &HashSet<(&Path, &str)>) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return false;
        };
        self.rotations.iter().any(|(prefix, suffix)| {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                return false;
            };
            rest.char_indices()
                .skip(1)
                .any(|(i, _)| names.contains(&(dir, &rest[..i])) && suffix.matches(&rest[i..]))
        })
    }

    /// Where a rotated `path` may be now: the rotation patterns in its
    /// directory, and in its symlink target's directory.
    pub(crate) fn candidates(&self, path: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut places = vec![path.to_path_buf()];
        if let Ok(target) = std::fs::canonicalize(path)
            && target != path
        {
            places.push(target);
        }
        for place in places {
            let (Some(dir), Some(name)) =
                (place.parent(), place.file_name().and_then(|n| n.to_str()))
            else {
                continue;
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Some(dir_text) = dir.to_str() else {
                continue;
            };
            for (prefix, suffix) in &self.rotations {
                let pattern = format!(
                    "{}/{}{}{}",
                    glob::Pattern::escape(dir_text),
                    glob::Pattern::escape(prefix),
                    glob::Pattern::escape(name),
                    suffix.as_str()
                );
                if let Ok(paths) = glob::glob(&pattern) {
                    out.extend(paths.filter_map(Result::ok).filter(|p| !is_compressed(p)));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The directories whose name events can change what this spec names:
    /// for a plain path its directory (or, while that is missing, its
    /// nearest existing ancestor) and its symlink target's; for a glob every
    /// directory at every level of the pattern.
    pub(crate) fn watch_dirs(&self, targets: &[PathBuf]) -> Vec<PathBuf> {
        let mut dirs = match &self.glob {
            None => vec![nearest_dir(parent_of(&self.spec.pattern))],
            Some((text, _)) => glob_dirs(text),
        };
        for t in targets {
            if let Some(d) = link_dir(t) {
                dirs.push(d);
            }
        }
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `dir` if it is a directory, else its nearest ancestor that is.
fn nearest_dir(dir: &Path) -> PathBuf {
    let mut d = dir;
    loop {
        if d.is_dir() {
            return d.to_path_buf();
        }
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => d = p,
            _ => {
                return if dir.is_absolute() {
                    "/".into()
                } else {
                    ".".into()
                };
            }
        }
    }
}

/// The directory of a symlink's target (nearest existing), for a path that
/// is a symlink.
fn link_dir(path: &Path) -> Option<PathBuf> {
    let md = std::fs::symlink_metadata(path).ok()?;
    if !md.file_type().is_symlink() {
        return None;
    }
    let target = match std::fs::canonicalize(path) {
        Ok(t) => t,
        Err(_) => parent_of(path).join(std::fs::read_link(path).ok()?),
    };
    Some(nearest_dir(parent_of(&target)))
}

/// Every directory a glob's matches can appear in, at every level: the
/// fixed prefix (or its nearest existing ancestor) and the directories
/// matching each wildcard level but the last.
fn glob_dirs(pattern: &str) -> Vec<PathBuf> {
    let comps: Vec<Component<'_>> = Path::new(pattern).components().collect();
    let first = comps
        .iter()
        .position(|c| has_meta(c.as_os_str()))
        .unwrap_or(comps.len());
    let fixed: PathBuf = comps[..first].iter().collect();
    let fixed = if fixed.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        fixed
    };
    let mut dirs = vec![nearest_dir(&fixed)];
    for k in first..comps.len().saturating_sub(1) {
        let level: PathBuf = comps[..=k].iter().collect();
        let Some(text) = level.to_str() else { break };
        if let Ok(paths) = glob::glob(text) {
            dirs.extend(paths.filter_map(Result::ok).filter(|p| p.is_dir()));
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rampart-tail-spec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn glob_skips_rotations_compressed_files_and_directories() {
        let d = tmp("expand");
        for f in [
            "a.log",
            "a.log.1",
            "a.log-20260102",
            "a.log.2.gz",
            "b.log",
            "b.log.0",
            "c",
        ] {
            std::fs::write(d.join(f), "x\n").unwrap();
        }
        std::fs::create_dir(d.join("sub")).unwrap();
        let c = Compiled::new(Spec::new(d.join("*"))).unwrap();
        let names: Vec<String> = c
            .expand()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.log", "b.log", "c"]);
        let cands = c.candidates(&d.join("a.log"));
        assert_eq!(cands, vec![d.join("a.log-20260102"), d.join("a.log.1")]);
    }

    #[test]
    fn watch_dirs_walk_up_to_an_existing_ancestor_and_down_glob_levels() {
        let d = tmp("dirs");
        let plain = Compiled::new(Spec::new(d.join("x/y/app.log"))).unwrap();
        assert_eq!(plain.watch_dirs(&[]), vec![d.clone()]);
        std::fs::create_dir_all(d.join("u1/logs")).unwrap();
        std::fs::create_dir_all(d.join("u2")).unwrap();
        let g = Compiled::new(Spec::new(d.join("*/logs/*.log"))).unwrap();
        assert_eq!(
            g.watch_dirs(&[]),
            vec![d.clone(), d.join("u1"), d.join("u1/logs"), d.join("u2")]
        );
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(Compiled::new(Spec::new("/var/log/[.log")).is_err());
        assert!(Compiled::new(Spec::new("/var/log/a.log").with_rotations(["a.1"])).is_err());
    }
}
