//! `rampart scan`: offline log analysis.

use crate::cli::{Global, ScanArgs};
use crate::exit;
use crate::input::{self, Input};
use crate::settings::{self, now};
use anyhow::Result;
use rampart_core::addr::Net;
use rampart_core::detect::{Detector, Event};
use rampart_core::text::escape_controls;
use rampart_core::time::{TimeContext, Timestamp, format_rfc3339};
use rampart_core::tracker::{BanDecision, Outcome};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// One would-be ban in the report. Fields in alphabetical order: the
/// order of the JSON report's keys.
#[derive(Debug, Serialize)]
struct BanRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    /// The ban's length in seconds; null for permanent.
    ban_secs: Option<i64>,
    count: u64,
    /// Earlier bans of the same target (escalation).
    earlier_bans: u32,
    evidence: Vec<String>,
    #[serde(serialize_with = "rfc3339")]
    first_seen: Timestamp,
    ip: String,
    #[serde(serialize_with = "rfc3339")]
    last_seen: Timestamp,
    permanent: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<u16>,
    reason: String,
    rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_id: Option<String>,
    summary: String,
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_rfc3339(*t))
}

/// The `--json` report, serialised straight from the scan's own records.
#[derive(Serialize)]
struct Report<'a> {
    bans: &'a [BanRecord],
    explanations: BTreeMap<&'a str, Explanation<'a>>,
    summary: ReportSummary<'a>,
}

#[derive(Serialize)]
struct Explanation<'a> {
    explanation: &'a str,
    remedy: &'a str,
    title: &'a str,
}

#[derive(Serialize)]
struct ReportSummary<'a> {
    addresses: usize,
    bans: usize,
    by_reason: &'a BTreeMap<String, ReasonSummary>,
    events: u64,
    inputs: &'a [InputSummary],
    lines: u64,
    seconds: f64,
    skipped: Skipped,
}

#[derive(Serialize)]
struct Skipped {
    oversized_lines: u64,
    protected_addresses: u64,
    tracker_evicted: u64,
    tracker_full: u64,
    trusted_proxy_without_client: u64,
    unparsable_addresses: u64,
}

#[derive(Debug, Serialize)]
struct EventOut<'a> {
    source: &'a str,
    line: u64,
    rule: &'a str,
    reason: &'a str,
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_id: Option<&'a str>,
    /// Not counted: it repeats an attempt its session already counted, or
    /// a port its source already hit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    repeat: bool,
}

#[derive(Debug, Default, Serialize)]
struct ReasonSummary {
    addresses: u64,
    bans: u64,
    events: u64,
}

#[derive(Debug, Serialize)]
struct InputSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    lines: u64,
    source: String,
}

/// Events of one reason not yet added to the per-reason summary: logs come
/// in long runs of one reason, so counting an event is one string
/// comparison instead of a map look-up.
#[derive(Default)]
struct Run {
    reason: String,
    events: u64,
}

impl Run {
    fn count(&mut self, reason: &str, per_reason: &mut BTreeMap<String, ReasonSummary>) {
        if self.reason != reason {
            self.end(per_reason);
            self.reason = reason.to_string();
        }
        self.events += 1;
    }

    fn end(&mut self, per_reason: &mut BTreeMap<String, ReasonSummary>) {
        if self.events > 0 {
            let reason = std::mem::take(&mut self.reason);
            per_reason.entry(reason).or_default().events += self.events;
            self.events = 0;
        }
    }
}

struct Scan<'a> {
    det: Detector,
    bans: Vec<BanRecord>,
    /// target → index of its current ban record
    active: HashMap<Net, usize>,
    per_reason: BTreeMap<String, ReasonSummary>,
    run: Run,
    evidence_max: usize,
    events_out: Option<Box<dyn Write + 'a>>,
    /// `--program`: the inputs are this program's output.
    program: Option<String>,
}

impl Scan<'_> {
    fn record(&mut self, d: &BanDecision) {
        let g = &self.det.tracker().groups()[usize::from(d.group)];
        let rule = self.det.rule(d.rule).id.clone();
        let mut evidence = d.evidence.clone();
        evidence.truncate(self.evidence_max.max(1));
        let target = d.target.to_string();
        let rec = BanRecord {
            ip: target.clone(),
            reason: g.reason.clone(),
            rule,
            rule_id: d.rule_id.clone(),
            summary: self.det.summary(d),
            count: d.count,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            ban_secs: d.until.map(|u| u - d.last_seen),
            permanent: d.until.is_none(),
            earlier_bans: d.earlier_bans,
            account: d.account.clone(),
            ports: g.ports.clone(),
            evidence,
        };
        self.per_reason.entry(rec.reason.clone()).or_default().bans += 1;
        self.bans.push(rec);
        self.active.insert(d.target, self.bans.len() - 1);
    }

    fn line(
        &mut self,
        source: &str,
        n: u64,
        line: &[u8],
        ctx: &TimeContext,
        fallback: &mut Timestamp,
    ) -> std::io::Result<()> {
        let (outcome, count, time) = {
            let processed = match self.program.as_deref() {
                Some(p) => self.det.process_as(p.as_bytes(), line, ctx, *fallback),
                None => self.det.process(line, ctx, *fallback),
            };
            let Some((ev, outcome)) = processed else {
                return Ok(());
            };
            self.run.count(ev.reason, &mut self.per_reason);
            if let Some(w) = self.events_out.as_mut() {
                write_event(w, source, n, &ev, matches!(outcome, Outcome::Repeat))?;
            }
            (outcome, ev.count, ev.time)
        };
        if let Some(t) = time {
            *fallback = t;
        }
        match outcome {
            Outcome::Banned(ds) => {
                for d in &ds {
                    self.record(d);
                }
            }
            Outcome::AlreadyBanned(target) => {
                if let Some(&i) = self.active.get(&target) {
                    let b = &mut self.bans[i];
                    b.count += u64::from(count);
                    b.last_seen = b.last_seen.max(time.unwrap_or(*fallback));
                    if b.evidence.len() < self.evidence_max {
                        b.evidence.push(String::from_utf8_lossy(line).into_owned());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn write_event(
    w: &mut dyn Write,
    source: &str,
    n: u64,
    ev: &Event<'_>,
    repeat: bool,
) -> std::io::Result<()> {
    let user = ev.user.map(String::from_utf8_lossy);
    let rule_id = ev.rule_id.map(String::from_utf8_lossy);
    let e = EventOut {
        source,
        line: n,
        rule: ev.rule_name,
        reason: ev.reason,
        ip: ev.ip.to_string(),
        user: user.as_deref(),
        port: ev.port,
        count: ev.count,
        time: ev.time.map(format_rfc3339),
        rule_id: rule_id.as_deref(),
        repeat,
    };
    serde_json::to_writer(&mut *w, &e)?;
    w.write_all(b"\n")
}

/// `rampart scan`.
pub fn run(global: &Global, a: &ScanArgs) -> Result<u8> {
    let loaded = settings::load(global, &a.sources)?;
    let det = loaded.detector()?;
    let max_line = det.engine().max_line_bytes;
    let inputs = if a.paths.is_empty() {
        let found: Vec<Input> = input::STANDARD_LOGS
            .iter()
            .filter(|p| std::path::Path::new(p).is_file())
            .map(|p| Input::File(p.into()))
            .collect();
        if found.is_empty() {
            eprintln!(
                "rampart: no PATH given and none of the standard log files exist; pass files to scan, or - for standard input"
            );
            return Ok(exit::USAGE);
        }
        eprintln!(
            "rampart: scanning {}",
            escape_controls(&found.iter().map(Input::name).collect::<Vec<_>>().join(", "))
        );
        found
    } else {
        input::expand(&a.paths)?
    };
    let ctx = TimeContext::in_zone(&loaded.config.log_zone, now());
    let stdout = std::io::stdout();
    let events_out: Option<Box<dyn Write>> = if a.events {
        Some(Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            stdout.lock(),
        )))
    } else {
        None
    };
    let mut scan = Scan {
        det,
        bans: Vec::new(),
        active: HashMap::new(),
        per_reason: BTreeMap::new(),
        run: Run::default(),
        evidence_max: if a.json || a.events { 5 } else { a.evidence },
        events_out,
        program: a.program.clone(),
    };
    let started = std::time::Instant::now();
    let mut summaries = Vec::new();
    let mut failed = false;
    let mut fallback = ctx.reference;
    for inp in &inputs {
        let name = inp.name();
        let mut lines = 0;
        let mut error = None;
        match inp.open() {
            Err(e) => error = Some(format!("{e:#}")),
            Ok(mut r) => {
                let mut write_err = None;
                let mut since_evict = 0u32;
                let res = input::for_each_line(&mut *r, max_line, |n, l| {
                    lines = n;
                    if write_err.is_none()
                        && let Err(e) = scan.line(&name, n, l, &ctx, &mut fallback)
                    {
                        write_err = Some(e);
                    }
                    since_evict += 1;
                    if since_evict == 1 << 18 {
                        since_evict = 0;
                        scan.det.evict_idle(fallback);
                    }
                });
                if let Some(e) = write_err {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(exit::OK);
                    }
                    return Err(e.into());
                }
                if let Err(e) = res {
                    error = Some(format!("read error after line {lines}: {e}"));
                }
            }
        }
        if let Some(e) = &error {
            eprintln!(
                "rampart: {}: {}",
                escape_controls(&name),
                escape_controls(e)
            );
            failed = true;
        }
        summaries.push(InputSummary {
            source: name,
            lines,
            error,
        });
    }
    if let Some(mut w) = scan.events_out.take() {
        w.flush()?;
    }
    scan.run.end(&mut scan.per_reason);
    let elapsed = started.elapsed().as_secs_f64();
    let mut addrs: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for b in &scan.bans {
        addrs.entry(&b.reason).or_default().insert(&b.ip);
    }
    let addr_counts: Vec<(String, u64)> = addrs
        .iter()
        .map(|(r, s)| (r.to_string(), s.len() as u64))
        .collect();
    for (r, n) in addr_counts {
        if let Some(s) = scan.per_reason.get_mut(&r) {
            s.addresses = n;
        }
    }
    if a.json {
        write_json(&scan, &summaries, elapsed)?;
    } else if !a.events {
        print_report(&scan, &summaries, elapsed, a.evidence)?;
    }
    // The process ends now: skip freeing the counting state piece by piece.
    std::mem::forget(scan);
    Ok(if failed {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

/// Writes the `--json` report to standard output, buffered, serialising
/// the records in place (no intermediate JSON tree).
fn write_json(scan: &Scan<'_>, inputs: &[InputSummary], elapsed: f64) -> Result<()> {
    let stats = &scan.det.stats;
    let distinct: std::collections::BTreeSet<&str> =
        scan.bans.iter().map(|b| b.ip.as_str()).collect();
    let explanations = scan
        .per_reason
        .keys()
        .filter_map(|code| scan.det.reason(code))
        .map(|r| {
            let e = Explanation {
                explanation: &r.explanation,
                remedy: &r.remedy,
                title: &r.title,
            };
            (r.code.as_str(), e)
        })
        .collect();
    let report = Report {
        bans: &scan.bans,
        explanations,
        summary: ReportSummary {
            addresses: distinct.len(),
            bans: scan.bans.len(),
            by_reason: &scan.per_reason,
            events: stats.events,
            inputs,
            lines: stats.lines,
            seconds: elapsed,
            skipped: Skipped {
                oversized_lines: stats.oversized,
                protected_addresses: stats.protected,
                tracker_evicted: stats.evicted_full,
                tracker_full: stats.dropped_full,
                trusted_proxy_without_client: stats.trusted_proxy,
                unparsable_addresses: stats.bad_address,
            },
        },
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn human_secs(s: i64) -> String {
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn print_report(
    scan: &Scan<'_>,
    inputs: &[InputSummary],
    elapsed: f64,
    evidence: usize,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let stats = &scan.det.stats;
    let distinct: std::collections::BTreeSet<&str> =
        scan.bans.iter().map(|b| b.ip.as_str()).collect();
    writeln!(
        out,
        "Scanned {} lines in {} input(s) in {:.2}s: {} attack events, {} would-be bans of {} addresses.",
        stats.lines,
        inputs.len(),
        elapsed,
        stats.events,
        scan.bans.len(),
        distinct.len()
    )?;
    if !scan.bans.is_empty() {
        writeln!(out)?;
    }
    for b in &scan.bans {
        let len = if b.permanent {
            "permanent ban".to_string()
        } else {
            format!("ban {}", human_secs(b.ban_secs.unwrap_or(0)))
        };
        let esc = if b.earlier_bans > 0 {
            format!(", escalated after {} earlier ban(s)", b.earlier_bans)
        } else {
            String::new()
        };
        writeln!(out, "{}", escape_controls(&b.summary))?;
        writeln!(
            out,
            "    rule {}: {} events from {} to {}; {len}{esc}",
            escape_controls(&b.rule),
            b.count,
            format_rfc3339(b.first_seen),
            format_rfc3339(b.last_seen)
        )?;
        for e in b.evidence.iter().take(evidence) {
            writeln!(out, "    | {}", escape_controls(e))?;
        }
    }
    if !scan.per_reason.is_empty() {
        writeln!(out, "\nBy reason:")?;
        writeln!(
            out,
            "  {:<16} {:>10} {:>8} {:>10}",
            "reason", "events", "bans", "addresses"
        )?;
        for (r, s) in &scan.per_reason {
            writeln!(
                out,
                "  {:<16} {:>10} {:>8} {:>10}",
                escape_controls(r),
                s.events,
                s.bans,
                s.addresses
            )?;
        }
    }
    let banned_reasons: std::collections::BTreeSet<&str> =
        scan.bans.iter().map(|b| b.reason.as_str()).collect();
    if !banned_reasons.is_empty() {
        writeln!(
            out,
            "\nWhat these blocks mean (the text a blocked customer is shown):"
        )?;
        for code in banned_reasons {
            if let Some(r) = scan.det.reason(code) {
                writeln!(out, "  {} ({code})", r.title)?;
                writeln!(out, "    Why: {}", r.explanation)?;
                writeln!(out, "    What to do: {}", r.remedy)?;
            }
        }
    }
    let skipped = stats.oversized + stats.bad_address + stats.trusted_proxy;
    if skipped > 0 || stats.protected > 0 {
        writeln!(
            out,
            "\nNot counted: {} oversized lines, {} unparsable addresses, {} trusted-proxy lines without a client, {} events from protected addresses.",
            stats.oversized, stats.bad_address, stats.trusted_proxy, stats.protected
        )?;
    }
    out.flush()?;
    Ok(())
}
