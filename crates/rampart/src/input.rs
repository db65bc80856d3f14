//! Reading log inputs: files, globs, gzip-compressed rotations and stdin,
//! line by line without allocating per line.

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file (gzip if it ends in .gz).
    File(PathBuf),
}

impl Input {
    /// How the input is named in output: the path, or `-`.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".into(),
            Input::File(p) => p.display().to_string(),
        }
    }

    /// Opens the input as a buffered reader.
    pub fn open(&self) -> Result<Box<dyn BufRead>> {
        // small enough to stay in the L2 cache between the kernel copy and the parse
        const CAP: usize = 128 << 10;
        match self {
            Input::Stdin => Ok(Box::new(BufReader::with_capacity(CAP, std::io::stdin()))),
            Input::File(p) => {
                let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
                let gz = p.extension().is_some_and(|e| e == "gz");
                let r: Box<dyn Read> = if gz {
                    Box::new(MultiGzDecoder::new(f))
                } else {
                    Box::new(f)
                };
                Ok(Box::new(BufReader::with_capacity(CAP, r)))
            }
        }
    }
}

/// Expands the command line's paths: `-` is stdin, a glob expands to its
/// matches oldest first (so `auth.log*` reads rotations in order), and a
/// plain path is kept as given (a missing one is reported when opened).
pub fn expand(paths: &[String]) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(Input::Stdin);
            continue;
        }
        if p.contains(['*', '?', '[']) {
            let mut matches: Vec<(std::time::SystemTime, PathBuf)> = glob::glob(p)
                .with_context(|| format!("bad glob {p:?}"))?
                .filter_map(|m| m.ok())
                .filter(|m| m.is_file())
                .map(|m| {
                    let t = m
                        .metadata()
                        .and_then(|md| md.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (t, m)
                })
                .collect();
            matches.sort();
            out.extend(matches.into_iter().map(|(_, m)| Input::File(m)));
            continue;
        }
        out.push(Input::File(PathBuf::from(p)));
    }
    Ok(out)
}

/// Standard log locations on Debian/Ubuntu, RHEL-family and cPanel servers.
pub const STANDARD_LOGS: &[&str] = &[
    "/var/log/auth.log",
    "/var/log/secure",
    "/var/log/mail.log",
    "/var/log/maillog",
    "/var/log/exim_mainlog",
    "/var/log/exim_rejectlog",
    "/var/log/exim4/mainlog",
    "/var/log/exim4/rejectlog",
    "/var/log/dovecot.log",
    "/var/log/messages",
    "/var/log/syslog",
    "/var/log/vsftpd.log",
    "/var/log/proftpd/proftpd.log",
    "/var/log/apache2/access.log",
    "/var/log/apache2/error.log",
    "/var/log/httpd/access_log",
    "/var/log/httpd/error_log",
    "/var/log/nginx/access.log",
    "/var/log/nginx/error.log",
    "/usr/local/apache/logs/access_log",
    "/usr/local/apache/logs/error_log",
    "/usr/local/cpanel/logs/login_log",
    "/var/log/directadmin/login.log",
    "/var/webmin/webmin.log",
    "/var/usermin/usermin.log",
    "/var/log/roundcube/errors.log",
    "/var/log/named/security.log",
    "/var/log/suricata/eve.json",
];

/// Calls `f(line_number, line)` for each line (without `\n` or `\r\n`).
/// Invalid UTF-8 and NUL bytes are passed through: matching works on bytes.
/// A line longer than `max` bytes is passed truncated to `max + 1` bytes
/// (so the caller can tell and count it) and the rest is skipped: memory
/// stays bounded whatever the input.
pub fn for_each_line(
    r: &mut dyn BufRead,
    max: usize,
    mut f: impl FnMut(u64, &[u8]),
) -> std::io::Result<u64> {
    // Lines wholly inside the reader's buffer are passed in place (no copy);
    // only a line that straddles two reads is assembled in `buf`.
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut n = 0u64;
    let mut skipping = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if !buf.is_empty() || skipping {
                n += 1;
                emit(&buf, &mut f, n);
            }
            return Ok(n);
        }
        let len = chunk.len();
        let mut start = 0;
        // finish a line carried over from the previous read
        if !buf.is_empty() || skipping {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    if !skipping {
                        let room = (max + 1).saturating_sub(buf.len());
                        buf.extend_from_slice(&chunk[..i.min(room)]);
                    }
                    n += 1;
                    emit(&buf, &mut f, n);
                    buf.clear();
                    start = i + 1;
                }
                None => {
                    if !skipping {
                        let room = (max + 1).saturating_sub(buf.len());
                        buf.extend_from_slice(&chunk[..len.min(room)]);
                        skipping = buf.len() > max;
                    }
                    r.consume(len);
                    continue;
                }
            }
        }
        let base = start;
        for i in memchr::memchr_iter(b'\n', &chunk[base..]) {
            let end = base + i;
            let line = &chunk[start..end];
            n += 1;
            emit(&line[..line.len().min(max + 1)], &mut f, n);
            start = end + 1;
        }
        // a partial last line waits for the next read
        let rest = &chunk[start..];
        buf.extend_from_slice(&rest[..rest.len().min(max + 1)]);
        skipping = rest.len() > max;
        r.consume(len);
    }
}

fn emit(buf: &[u8], f: &mut impl FnMut(u64, &[u8]), n: u64) {
    let l = buf.strip_suffix(b"\r").unwrap_or(buf);
    f(n, l);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_newlines_and_crlf() {
        let mut r: &[u8] = b"a\r\nb\n\nlast";
        let mut got = vec![];
        let n = for_each_line(&mut r, 100, |i, l| got.push((i, l.to_vec()))).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            got,
            vec![
                (1, b"a".to_vec()),
                (2, b"b".to_vec()),
                (3, vec![]),
                (4, b"last".to_vec())
            ]
        );
    }

    #[test]
    fn long_lines_are_truncated_not_buffered() {
        let mut data = vec![b'x'; 10_000];
        data.extend_from_slice(b"\nshort\n");
        // a tiny BufReader forces lines to span many chunks
        let mut r = std::io::BufReader::with_capacity(7, data.as_slice());
        let mut got = vec![];
        for_each_line(&mut r, 100, |i, l| got.push((i, l.len()))).unwrap();
        assert_eq!(got, vec![(1, 101), (2, 5)]);
    }
}
