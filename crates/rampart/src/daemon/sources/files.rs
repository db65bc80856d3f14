//! Log files as a source: a thread that follows each file across rename
//! and copytruncate rotations and sends complete lines with the position
//! after them (the offset of the end of the last complete line, so a line
//! cut at a crash or a stop is read whole after the restart).
//!
//! Positions are committed by the enforcer in the same store transaction
//! as the bans those lines led to (`Store::record_pass`).

use super::{Feed, Source};
use crate::daemon::events::{Checkpoint, Input, SourceId};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a file was left: persisted in `STATE_DIR/offsets.json`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// Follows one log file across rename and copytruncate rotations.
pub struct Tailer {
    pub path: PathBuf,
    file: Option<File>,
    pos: Position,
    partial: Vec<u8>,
    max_line: usize,
}

impl Tailer {
    /// Starts following `path`: at `saved` if it is the same file and not
    /// shorter, otherwise at the end of the existing file (nothing old is
    /// re-read on a first start); a file that appears later is read from 0.
    pub fn new(path: PathBuf, saved: Option<Position>, max_line: usize) -> Tailer {
        let mut t = Tailer {
            path,
            file: None,
            pos: Position::default(),
            partial: Vec::new(),
            max_line,
        };
        if let Ok(f) = File::open(&t.path)
            && let Ok(md) = f.metadata()
        {
            let (dev, ino, size) = (md.dev(), md.ino(), md.len());
            let offset = match saved {
                Some(s) if s.dev == dev && s.ino == ino && s.offset <= size => s.offset,
                _ => size,
            };
            t.pos = Position { dev, ino, offset };
            t.file = Some(f);
        }
        t
    }

    /// Where the tailer is.
    pub fn position(&self) -> Position {
        self.pos
    }

    /// Reads what was appended since the last call; `f` gets each complete
    /// line. Returns the number of bytes read.
    pub fn poll(&mut self, f: &mut dyn FnMut(&[u8])) -> std::io::Result<usize> {
        let mut read = 0;
        let current = std::fs::metadata(&self.path).ok();
        if self.file.is_none() {
            // the file appeared (or came back): read it from the start
            if let Some(md) = &current
                && let Ok(file) = File::open(&self.path)
            {
                self.pos = Position {
                    dev: md.dev(),
                    ino: md.ino(),
                    offset: 0,
                };
                self.file = Some(file);
            } else {
                return Ok(0);
            }
        }
        let rotated = current
            .as_ref()
            .is_some_and(|md| md.dev() != self.pos.dev || md.ino() != self.pos.ino);
        if rotated {
            // drain the old file to its end, then switch to the new one
            loop {
                let n = self.read_to_end(f)?;
                read += n;
                if n == 0 {
                    break;
                }
            }
            self.flush_partial(f);
            self.file = None;
            return Ok(read + self.poll(f)?);
        }
        if let Some(file) = &self.file
            && let Ok(md) = file.metadata()
            && md.len() < self.pos.offset
        {
            // copytruncate: the file was emptied in place
            self.pos.offset = 0;
            self.partial.clear();
        }
        read += self.read_to_end(f)?;
        Ok(read)
    }

    fn read_to_end(&mut self, f: &mut dyn FnMut(&[u8])) -> std::io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        file.seek(SeekFrom::Start(self.pos.offset))?;
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        // a bounded amount per call, so a flood on one file cannot starve
        // the others, the control socket or the bans (the loop comes back
        // at once while there is more)
        while total < READ_BUDGET {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n;
            self.pos.offset += n as u64;
            let mut start = 0;
            for i in memchr::memchr_iter(b'\n', &buf[..n]) {
                if self.partial.is_empty() {
                    emit(&buf[start..i], self.max_line, f);
                } else {
                    let room = (self.max_line + 1).saturating_sub(self.partial.len());
                    self.partial
                        .extend_from_slice(&buf[start..i][..(i - start).min(room)]);
                    emit(&self.partial, self.max_line, f);
                    self.partial.clear();
                }
                start = i + 1;
            }
            let room = (self.max_line + 1).saturating_sub(self.partial.len());
            let rest = &buf[start..n];
            self.partial
                .extend_from_slice(&rest[..rest.len().min(room)]);
        }
        Ok(total)
    }

    /// A rotated file's last line without a newline is complete.
    fn flush_partial(&mut self, f: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial, self.max_line, f);
            self.partial.clear();
        }
    }
}

fn emit(line: &[u8], max: usize, f: &mut dyn FnMut(&[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    f(&line[..line.len().min(max + 1)]);
}

/// Bytes read from one file per pass of the main loop.
const READ_BUDGET: usize = 4 << 20;

impl Tailer {
    /// Whether the file is open (it exists).
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The position of the end of the last complete line read.
    pub fn committed(&self) -> Position {
        Position {
            offset: self.pos.offset.saturating_sub(self.partial.len() as u64),
            ..self.pos
        }
    }
}

/// The store key of a file's position.
pub fn checkpoint_key(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// The files to follow, each with its source id.
pub struct FileSource {
    /// (source id, tailer)
    pub tailers: Vec<(SourceId, Tailer)>,
}

impl FileSource {
    /// A tailer's position as the store keeps it.
    pub fn initial(t: &Tailer) -> (String, String) {
        let c = Self::checkpoint(t);
        (c.key, c.value)
    }

    fn checkpoint(t: &Tailer) -> Checkpoint {
        Checkpoint {
            key: checkpoint_key(&t.path),
            value: serde_json::to_string(&t.committed()).unwrap_or_default(),
        }
    }

    /// One pass over every file; `false` when the daemon is stopping.
    fn pass(&mut self, feed: &Feed, buf: &mut Vec<u8>) -> Option<usize> {
        let mut read = 0;
        for (id, t) in &mut self.tailers {
            buf.clear();
            let r = t.poll(&mut |line| {
                buf.extend_from_slice(line);
                buf.push(b'\n');
            });
            match r {
                Ok(0) => continue,
                Ok(n) => read += n,
                Err(e) => {
                    feed.notice(
                        &t.path.display().to_string(),
                        format!("read error: {e}"),
                        true,
                    );
                    continue;
                }
            }
            let input = Input::Lines {
                source: *id,
                data: std::mem::take(buf),
                checkpoint: Some(Self::checkpoint(t)),
                read_at: Instant::now(),
            };
            if !feed.send(input) {
                return None;
            }
        }
        Some(read)
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        "files".into()
    }

    fn run(mut self: Box<Self>, feed: Feed) {
        let mut buf = Vec::new();
        while let Some(read) = self.pass(&feed, &mut buf) {
            if read == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(t: &mut Tailer) -> Vec<String> {
        let mut v = Vec::new();
        t.poll(&mut |l| v.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        v
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rampart-tail-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn starts_at_end_and_follows_appends() {
        let d = tmp("end");
        let p = d.join("a.log");
        append(&p, "old 1\nold 2\n");
        let mut t = Tailer::new(p.clone(), None, 1000);
        assert!(
            lines(&mut t).is_empty(),
            "old lines are not re-read on first start"
        );
        append(&p, "new 1\nnew");
        assert_eq!(lines(&mut t), vec!["new 1"]);
        append(&p, " 2\n");
        assert_eq!(
            lines(&mut t),
            vec!["new 2"],
            "a line written in two parts is one line"
        );
    }

    #[test]
    fn empty_file_then_written_is_read_once() {
        let d = tmp("empty");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "x\n");
        assert_eq!(lines(&mut t), vec!["x"]);
        assert!(lines(&mut t).is_empty(), "nothing is read twice");
    }

    #[test]
    fn rename_rotation_drains_the_old_file() {
        let d = tmp("rot");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n2\n");
        assert_eq!(lines(&mut t), vec!["1", "2"]);
        append(&p, "3\n4");
        std::fs::rename(&p, d.join("a.log.1")).unwrap();
        append(&p, "5\n");
        assert_eq!(
            lines(&mut t),
            vec!["3", "4", "5"],
            "the old file is drained, then the new one read from 0"
        );
    }

    #[test]
    fn copytruncate_restarts_at_zero() {
        let d = tmp("trunc");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n2\n");
        assert_eq!(lines(&mut t).len(), 2);
        std::fs::write(&p, "").unwrap();
        append(&p, "3\n");
        assert_eq!(lines(&mut t), vec!["3"]);
    }

    #[test]
    fn resumes_from_a_saved_position_and_waits_for_missing_files() {
        let d = tmp("resume");
        let p = d.join("a.log");
        append(&p, "");
        let mut t = Tailer::new(p.clone(), None, 1000);
        append(&p, "1\n");
        assert_eq!(lines(&mut t), vec!["1"]);
        let saved = t.position();
        append(&p, "2\n");
        let mut t2 = Tailer::new(p.clone(), Some(saved), 1000);
        assert_eq!(
            lines(&mut t2),
            vec!["2"],
            "no line read twice, none skipped"
        );
        let q = d.join("later.log");
        let mut t3 = Tailer::new(q.clone(), None, 1000);
        assert!(lines(&mut t3).is_empty());
        append(&q, "first\n");
        assert_eq!(
            lines(&mut t3),
            vec!["first"],
            "a file that appears later is read from the start"
        );
    }
}
