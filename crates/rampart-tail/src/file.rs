//! One open file and the reading of complete lines from it.
//!
//! Nothing of a line is kept between reads: a file's state is the offset
//! just after the last complete line delivered, and each read starts there
//! with `pread`. A line still being written at the end of the file is read
//! again, whole, once its newline is there — a few bytes read twice instead
//! of a partial-line buffer per file (a thousand followed files cost a
//! thousand offsets, not a thousand buffers), and a position that is always
//! exactly what was delivered.
//!
//! A line longer than `max_line` is cut to its first `max_line` bytes (plus
//! its newline). When such a line spans reads, the follower scans ahead for
//! its end without keeping it (`long_scan`), then reads its first
//! `max_line` bytes again: memory stays bounded by the read buffer
//! whatever a writer does.

use crate::open::{FileId, identity, read_at};
use crate::position::{HEAD_MAX, Head, Position};
use std::fs::File;
use std::time::Instant;

/// An open file being followed or drained.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub(crate) file: File,
    pub(crate) id: FileId,
    /// Just after the last complete line delivered.
    pub(crate) offset: u64,
    pub(crate) head: Head,
    /// The size last seen.
    pub(crate) size: u64,
    /// Scanning for the end of an over-long line that starts at `offset`:
    /// where to look next.
    long_scan: Option<u64>,
    /// The inotify watch on the file, if any.
    pub(crate) wd: Option<i32>,
    /// For a draining file: dropped once quiet until then.
    pub(crate) quiet_until: Option<Instant>,
    pub(crate) counters: Counters,
}

/// Per-file counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
    pub(crate) long_lines: u64,
    pub(crate) errors: u64,
}

/// What one read of a file did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
    /// Lines cut to the limit.
    pub(crate) cut: u64,
    /// Everything there is was read (up to a partial line).
    pub(crate) eof: bool,
    /// The file was truncated or rewritten, and where it was before:
    /// reading restarted at 0.
    pub(crate) truncated: Option<Position>,
}

/// Called with complete lines, how many there are, and the position after
/// them.
pub(crate) type Deliver<'a> = dyn FnMut(&[u8], u64, Position) + 'a;

impl OpenFile {
    pub(crate) fn new(file: File, id: FileId, offset: u64, size: u64) -> std::io::Result<OpenFile> {
        let head = head_of(&file, offset)?;
        Ok(OpenFile {
            file,
            id,
            offset,
            head,
            size,
            long_scan: None,
            wd: None,
            quiet_until: None,
            counters: Counters::default(),
        })
    }

    pub(crate) fn position(&self) -> Position {
        Position {
            dev: self.id.dev,
            ino: self.id.ino,
            offset: self.offset,
            head: self.head,
        }
    }

    /// Whether this file's first bytes still match `head`.
    pub(crate) fn head_matches(&self, head: Head) -> std::io::Result<bool> {
        if head.len == 0 {
            return Ok(true);
        }
        let mut buf = [0u8; HEAD_MAX as usize];
        let want = (head.len as usize).min(buf.len());
        let n = read_at(&self.file, &mut buf[..want], 0)?;
        Ok(n == want && Head::of(&buf[..n]) == head)
    }

    /// Reads complete lines, about `budget` bytes at most, into `buf` and
    /// hands them to `deliver`.
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        max_line: usize,
        budget: usize,
        deliver: &mut Deliver<'_>,
    ) -> std::io::Result<Report> {
        let mut report = Report::default();
        let (_, size) = identity(&self.file)?;
        self.size = size;
        if size == self.offset && self.long_scan.is_none() {
            report.eof = true;
            return Ok(report);
        }
        if size < self.offset || !self.head_matches(self.head)? {
            report.truncated = Some(self.position());
            self.restart();
        }
        while (report.bytes as usize) < budget {
            let step = match self.long_scan {
                Some(scan) => self.scan_long(buf, max_line, scan, deliver, &mut report)?,
                None => self.read_lines(buf, max_line, deliver, &mut report)?,
            };
            if !step {
                report.eof = true;
                break;
            }
        }
        self.counters.bytes += report.bytes;
        self.counters.lines += report.lines;
        self.counters.long_lines += report.cut;
        Ok(report)
    }

    /// Starts again from the beginning (truncation).
    fn restart(&mut self) {
        self.offset = 0;
        self.head = Head::of(&[]);
        self.long_scan = None;
    }

    /// One read at `offset`: delivers the complete lines. Returns whether
    /// there may be more to read now.
    fn read_lines(
        &mut self,
        buf: &mut [u8],
        max_line: usize,
        deliver: &mut Deliver<'_>,
        report: &mut Report,
    ) -> std::io::Result<bool> {
        let n = read_at(&self.file, buf, self.offset)?;
        let Some(last) = memchr::memrchr(b'\n', &buf[..n]) else {
            if n > max_line {
                // a line longer than the limit: find its end first
                self.long_scan = Some(self.offset + n as u64);
                return Ok(true);
            }
            return Ok(false);
        };
        let consumed = last + 1;
        let (len, lines, cut) = cut_long_lines(&mut buf[..consumed], max_line);
        self.advance(consumed as u64)?;
        deliver(&buf[..len], lines, self.position());
        report.bytes += consumed as u64;
        report.lines += lines;
        report.cut += cut;
        // a short read is the end of the file; the rest is a partial line
        // unless it is already longer than the limit
        Ok(n == buf.len() || n - consumed > max_line)
    }

    /// Looks for the end of an over-long line from `scan`; when found,
    /// delivers its first `max_line` bytes.
    fn scan_long(
        &mut self,
        buf: &mut [u8],
        max_line: usize,
        scan: u64,
        deliver: &mut Deliver<'_>,
        report: &mut Report,
    ) -> std::io::Result<bool> {
        let n = read_at(&self.file, buf, scan)?;
        let Some(i) = memchr::memchr(b'\n', &buf[..n]) else {
            self.long_scan = Some(scan + n as u64);
            report.bytes += n as u64;
            return Ok(n == buf.len());
        };
        let end = scan + i as u64 + 1;
        let kept = read_at(&self.file, &mut buf[..max_line], self.offset)?;
        buf[kept] = b'\n';
        let consumed = end - self.offset;
        self.long_scan = None;
        self.advance(consumed)?;
        deliver(&buf[..kept + 1], 1, self.position());
        report.bytes += (i + 1) as u64;
        report.lines += 1;
        report.cut += 1;
        Ok(true)
    }

    /// Moves the offset on by `n` delivered bytes, extending the head
    /// fingerprint while it covers less than [`HEAD_MAX`].
    fn advance(&mut self, n: u64) -> std::io::Result<()> {
        self.offset += n;
        if u64::from(self.head.len) < self.offset.min(u64::from(HEAD_MAX)) {
            self.head = head_of(&self.file, self.offset)?;
        }
        Ok(())
    }

    /// For a file being dropped: delivers its unterminated last line (cut
    /// to the limit) as a line, since nothing will ever complete it.
    pub(crate) fn finish(
        &mut self,
        buf: &mut [u8],
        max_line: usize,
        deliver: &mut Deliver<'_>,
    ) -> std::io::Result<bool> {
        let (_, size) = identity(&self.file)?;
        if size <= self.offset {
            return Ok(false);
        }
        let kept = read_at(
            &self.file,
            &mut buf[..max_line.min((size - self.offset) as usize)],
            self.offset,
        )?;
        buf[kept] = b'\n';
        self.long_scan = None;
        self.advance(size - self.offset)?;
        deliver(&buf[..kept + 1], 1, self.position());
        self.counters.bytes += kept as u64;
        self.counters.lines += 1;
        Ok(true)
    }
}

/// The fingerprint of a file's first `min(offset, HEAD_MAX)` bytes.
pub(crate) fn head_of(file: &File, offset: u64) -> std::io::Result<Head> {
    let mut buf = [0u8; HEAD_MAX as usize];
    let want = offset.min(u64::from(HEAD_MAX)) as usize;
    let n = read_at(file, &mut buf[..want], 0)?;
    Ok(Head::of(&buf[..n]))
}

/// The offset just after the last complete line of a file of `size` bytes
/// (where following starts when old lines are not wanted). A file whose
/// only line is still being written starts at 0; inside an over-long line,
/// at the end.
pub(crate) fn end_of_last_line(file: &File, size: u64, max_line: usize) -> std::io::Result<u64> {
    let len = size.min(max_line as u64 + 1) as usize;
    let mut buf = vec![0u8; len];
    let from = size - len as u64;
    let n = read_at(file, &mut buf, from)?;
    Ok(match memchr::memrchr(b'\n', &buf[..n]) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}

/// Cuts every line of `data` (complete lines) longer than `max` to its
/// first `max` bytes, in place. Returns the new length, the number of lines
/// and how many were cut.
pub(crate) fn cut_long_lines(data: &mut [u8], max: usize) -> (usize, u64, u64) {
    let mut lines = 0u64;
    let mut start = 0;
    let mut too_long = false;
    for nl in memchr::memchr_iter(b'\n', data) {
        lines += 1;
        too_long |= nl - start > max;
        start = nl + 1;
    }
    if !too_long {
        return (data.len(), lines, 0);
    }
    let (mut write, mut start, mut cut) = (0, 0, 0);
    while let Some(i) = memchr::memchr(b'\n', &data[start..]) {
        let keep = i.min(max);
        cut += u64::from(i > max);
        data.copy_within(start..start + keep, write);
        write += keep;
        data[write] = b'\n';
        write += 1;
        start += i + 1;
    }
    (write, lines, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_in_place() {
        let mut d = b"ab\nabcdef\n\nxyz\n".to_vec();
        let (len, lines, cut) = cut_long_lines(&mut d, 3);
        assert_eq!(&d[..len], b"ab\nabc\n\nxyz\n");
        assert_eq!((lines, cut), (4, 1));
        let mut ok = b"abc\n".to_vec();
        assert_eq!(cut_long_lines(&mut ok, 3), (4, 1, 0));
    }
}
