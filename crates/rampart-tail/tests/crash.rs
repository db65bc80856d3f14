//! Exactly once under crashes: a writer appends numbered lines (some
//! written in two parts), rotates by rename (with late writes to the old
//! file) and by copytruncate; a reader commits the checkpoint with the
//! lines of every batch, and is "killed" (dropped, the rest of its batches
//! never committed) at random batch boundaries, even in the middle of a
//! read, then restarted from the last committed checkpoint. In the end the
//! committed lines must be exactly the written ones: none lost, none twice.
//! Seeded, so a failure is reproducible.

#![allow(clippy::unwrap_used)]

use rampart_tail::{Batch, Checkpoint, Follower, Options, Spec, StartAt};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
#[path = "../../rampart-nft/tests/common/rng.rs"]
mod rng;
use rng::Rng;

/// The log and its writer.
struct Writer {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    seq: u64,
    rotations: u32,
    /// The rest of a line written in part.
    pending: Option<String>,
    written: Vec<String>,
}

impl Writer {
    fn new(dir: &Path) -> Writer {
        let path = dir.join("app.log");
        Writer {
            dir: dir.to_path_buf(),
            file: open_append(&path),
            path,
            seq: 0,
            rotations: 0,
            pending: None,
            written: Vec::new(),
        }
    }

    fn line(&mut self, rng: &mut Rng) -> String {
        self.seq += 1;
        let pad = "x".repeat(rng.below(120) as usize);
        format!("2026-01-01T00:00:00 line {:06} {pad}", self.seq)
    }

    fn finish_pending(&mut self) {
        if let Some(rest) = self.pending.take() {
            self.file.write_all(rest.as_bytes()).unwrap();
        }
    }

    fn append(&mut self, rng: &mut Rng) {
        self.finish_pending();
        let n = 1 + rng.below(30);
        let mut text = String::new();
        for _ in 0..n {
            let l = self.line(rng);
            text.push_str(&l);
            text.push('\n');
            self.written.push(l);
        }
        if rng.below(4) == 0 {
            // the last line only in part, for now
            let cut = text.len() - 1 - rng.below(20) as usize;
            self.pending = Some(text[cut..].to_string());
            text.truncate(cut);
        }
        self.file.write_all(text.as_bytes()).unwrap();
    }

    fn rotated_name(&mut self) -> PathBuf {
        self.rotations += 1;
        self.dir.join(format!("app.log-2026{:04}", self.rotations))
    }

    /// Rename rotation; the old file gets a few late lines.
    fn rename(&mut self, rng: &mut Rng) {
        self.finish_pending();
        let to = self.rotated_name();
        std::fs::rename(&self.path, &to).unwrap();
        for _ in 0..rng.below(3) {
            let l = self.line(rng);
            writeln!(self.file, "{l}").unwrap();
            self.written.push(l);
        }
        self.file = open_append(&self.path);
    }

    /// copytruncate rotation.
    fn copytruncate(&mut self) {
        self.finish_pending();
        let to = self.rotated_name();
        std::fs::copy(&self.path, &to).unwrap();
        self.file.set_len(0).unwrap();
    }
}

fn open_append(p: &Path) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap()
}

/// The reader and what it committed.
struct Reader {
    specs: Vec<Spec>,
    options: Options,
    follower: Follower,
    checkpoint: Checkpoint,
    committed: Vec<String>,
    crashes: u32,
}

impl Reader {
    fn new(path: &Path) -> Reader {
        let specs = vec![Spec::new(path)];
        let options = Options {
            // drained files are found again after every restart; a long
            // grace keeps late writes in the test
            grace: Duration::from_secs(3600),
            // the log is empty at the first start; a crash before the first
            // position was committed restarts from nothing, which must not
            // mean "from the end"
            start_existing: StartAt::Beginning,
            ..Options::default()
        };
        let checkpoint = Checkpoint::new();
        let follower = Follower::new(specs.clone(), options.clone(), &checkpoint).unwrap();
        Reader {
            specs,
            options,
            follower,
            checkpoint,
            committed: Vec::new(),
            crashes: 0,
        }
    }

    /// One read; with `crash_after = Some(k)`, only the first k batches are
    /// committed and the reader dies.
    fn read(&mut self, budget: usize, crash_after: Option<u64>) -> bool {
        let (cp, committed) = (&mut self.checkpoint, &mut self.committed);
        let mut batches = 0;
        let r = self.follower.read(budget, &mut |b: Batch<'_>| {
            if crash_after.is_some_and(|k| batches >= k) {
                return;
            }
            batches += 1;
            committed.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
            cp.record(&b);
        });
        if crash_after.is_some() {
            self.restart();
        }
        r.more
    }

    /// Whether the committed checkpoint knows the file now at `path`.
    fn knows_current(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(path).map(|m| m.ino()).ok();
        let last = self
            .checkpoint
            .get(path)
            .and_then(|f| f.last())
            .map(|p| p.ino);
        ino.is_some() && ino == last
    }

    /// Dies and starts again from the committed checkpoint (through JSON,
    /// as it would be stored).
    fn restart(&mut self) {
        self.crashes += 1;
        let text = serde_json::to_string(&self.checkpoint).unwrap();
        self.checkpoint = serde_json::from_str(&text).unwrap();
        self.follower =
            Follower::new(self.specs.clone(), self.options.clone(), &self.checkpoint).unwrap();
    }
}

fn run(seed: u64, steps: usize) {
    let dir =
        std::env::temp_dir().join(format!("rampart-tail-crash-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut w = Writer::new(&dir);
    let mut r = Reader::new(&w.path);
    let trace = std::env::var_os("TRACE").is_some();
    for _ in 0..steps {
        let op = rng.below(100);
        if trace {
            eprintln!(
                "op {op} seq {} committed {} crashes {} rot {}",
                w.seq,
                r.committed.len(),
                r.crashes,
                w.rotations
            );
            for n in r.follower.notices() {
                eprintln!("  notice {n}");
            }
        }
        match op {
            0..45 => w.append(&mut rng),
            // a file that comes and goes between two looks (rotated again
            // before the reader knew it) is not found: see the crate docs
            45..52 if r.knows_current(&w.path) => w.rename(&mut rng),
            // copytruncate loses lines written after the copy and before the
            // truncation, and a second one before the reader looked loses
            // the first copy's tail: only when everything is read
            52..56 if w.pending.is_none() && r.committed.len() == w.written.len() => {
                w.copytruncate()
            }
            56..66 => {
                let k = rng.below(4);
                r.read(1 + rng.below(64 << 10) as usize, Some(k));
            }
            _ => {
                let budget = 1 + rng.below(256 << 10) as usize;
                while r.read(budget, None) {}
            }
        }
    }
    w.finish_pending();
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.committed.len() < w.written.len() && Instant::now() < deadline {
        r.follower.wait(Some(Duration::from_millis(50)));
        while r.read(1 << 20, None) {}
    }
    let mut got = r.committed.clone();
    let mut want = w.written.clone();
    got.sort();
    want.sort();
    if got != want {
        let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
        eprintln!(
            "missing: {:?}",
            missing.iter().map(|l| &l[20..32]).collect::<Vec<_>>()
        );
    }
    let dups = got.windows(2).filter(|p| p[0] == p[1]).count();
    assert_eq!(dups, 0, "seed {seed}: lines delivered twice");
    assert_eq!(
        got.len(),
        want.len(),
        "seed {seed}: {} crashes, {} rotations",
        r.crashes,
        w.rotations
    );
    assert_eq!(got, want, "seed {seed}");
    assert!(
        r.crashes > 0 && w.rotations > 0,
        "seed {seed}: the run exercised nothing"
    );
    eprintln!(
        "seed {seed}: {} lines, {} crashes, {} rotations",
        got.len(),
        r.crashes,
        w.rotations
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crashes_at_random_batches_neither_repeat_nor_lose_a_line() {
    let seeds: u64 = std::env::var("RAMPART_TAIL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let first: u64 = std::env::var("RAMPART_TAIL_SEED0")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for seed in first..first + seeds {
        run(seed, 300);
    }
}
