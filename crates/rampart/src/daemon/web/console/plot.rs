//! The overview's timeline: deny decisions per time bucket, stacked by
//! reason, laid out here as plain geometry (rectangles, ticks, a legend)
//! that a template turns into inline SVG. No script, no library: the
//! browser draws it, and a test can read it.
//!
//! Buckets end at the next whole bucket after now (UTC), so bars are
//! whole hours (24 h view) or quarter days (7 d view). The y axis goes up
//! in steps of 1, 2 or 5 × 10ⁿ so its labels are round numbers.

use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_store::BucketCount;
use serde::Serialize;
use std::collections::BTreeMap;

/// Colours the legend cycles through (classes `s0`…`s7` in the CSS).
pub const SERIES_COLOURS: usize = 8;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// The period a timeline covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last 24 hours, per hour.
    Day,
    /// The last 7 days, per 6 hours.
    Week,
}

impl Range {
    /// `7d` is [`Range::Week`]; anything else the day.
    pub fn parse(s: Option<&str>) -> Range {
        match s {
            Some("7d") => Range::Week,
            _ => Range::Day,
        }
    }

    /// `24h` or `7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
        }
    }

    /// Seconds per bucket.
    pub fn bucket_secs(self) -> i64 {
        match self {
            Range::Day => 3600,
            Range::Week => 6 * 3600,
        }
    }

    /// Buckets shown.
    pub fn buckets(self) -> u32 {
        match self {
            Range::Day => 24,
            Range::Week => 28,
        }
    }

    /// The first bucket's start for a plot drawn at `now`.
    pub fn start(self, now: Timestamp) -> Timestamp {
        let b = self.bucket_secs();
        let end = (now.div_euclid(b) + 1) * b;
        end - b * i64::from(self.buckets())
    }
}

/// One bar segment: one reason's decisions in one bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// The colour class (`s0`…).
    pub class: String,
    /// The reason code.
    pub reason: String,
    /// Decisions in the segment.
    pub count: u64,
    /// A tooltip: reason, count, period.
    pub title: String,
}

/// An axis label at a position.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    /// x for the time axis, y for the count axis.
    pub at: f64,
    /// The text.
    pub label: String,
}

/// A legend entry.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The reason code.
    pub reason: String,
    /// The colour class.
    pub class: String,
    /// Its decisions over the whole period.
    pub total: u64,
}

/// A laid-out timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Plot {
    /// `24h` or `7d`.
    pub range: &'static str,
    /// The drawing's size.
    pub width: f64,
    /// The drawing's size.
    pub height: f64,
    /// The plotting area's edges.
    pub left: f64,
    /// The plotting area's edges.
    pub right: f64,
    /// The plotting area's edges.
    pub top: f64,
    /// The plotting area's edges (the x axis).
    pub bottom: f64,
    /// The bar segments.
    pub bars: Vec<Bar>,
    /// Count axis labels (y positions).
    pub y_ticks: Vec<Tick>,
    /// Time axis labels (x positions).
    pub x_ticks: Vec<Tick>,
    /// One entry per reason, most decisions first.
    pub legend: Vec<Series>,
    /// All decisions in the period.
    pub total: u64,
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `x` (and at least 1).
fn nice_step(x: f64) -> u64 {
    let mut p = 1u64;
    loop {
        for m in [1, 2, 5] {
            if (m * p) as f64 >= x {
                return m * p;
            }
        }
        p = p.saturating_mul(10);
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

fn time_label(range: Range, t: Timestamp) -> String {
    let s = format_rfc3339(t);
    match range {
        Range::Day => s.get(11..16).unwrap_or("").to_string(),
        Range::Week => {
            let wd = WEEKDAYS[usize::try_from(t.div_euclid(86400).rem_euclid(7)).unwrap_or(0)];
            format!("{wd} {}", s.get(8..10).unwrap_or(""))
        }
    }
}

fn period(range: Range, start: Timestamp) -> String {
    let (a, b) = (
        format_rfc3339(start),
        format_rfc3339(start + range.bucket_secs()),
    );
    let hm = |s: &str| s.get(11..16).unwrap_or("").to_string();
    match range {
        Range::Day => format!("{}–{} UTC", hm(&a), hm(&b)),
        Range::Week => format!("{} {}–{} UTC", a.get(5..10).unwrap_or(""), hm(&a), hm(&b)),
    }
}

/// The legend: reasons by total decisions, most first.
fn legend(counts: &[BucketCount]) -> Vec<Series> {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for c in counts {
        *totals.entry(&c.reason).or_default() += c.count;
    }
    let mut v: Vec<(&str, u64)> = totals.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .enumerate()
        .map(|(i, (r, total))| Series {
            reason: r.to_string(),
            class: format!("s{}", i % SERIES_COLOURS),
            total,
        })
        .collect()
}

/// Lays out `counts` (from [`rampart_store::Store::deny_timeline`] with
/// `range`'s start and bucket) as stacked bars.
pub fn layout(range: Range, start: Timestamp, counts: &[BucketCount]) -> Plot {
    let n = range.buckets();
    let legend = legend(counts);
    let mut stacks = vec![0u64; n as usize];
    for c in counts.iter().filter(|c| c.bucket < n) {
        stacks[c.bucket as usize] += c.count;
    }
    let most = stacks.iter().copied().max().unwrap_or(0);
    let step = nice_step(most as f64 / 4.0);
    let top_count = most.div_ceil(step).max(1) * step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let slot = plot_w / f64::from(n);
    let scale = plot_h / top_count as f64;
    let mut bars = Vec::new();
    let mut filled = vec![0u64; n as usize];
    for s in &legend {
        for c in counts
            .iter()
            .filter(|c| c.bucket < n && c.reason == s.reason)
        {
            let b = c.bucket as usize;
            let y0 = TOP + plot_h - (filled[b] + c.count) as f64 * scale;
            filled[b] += c.count;
            let from = start + i64::from(c.bucket) * range.bucket_secs();
            bars.push(Bar {
                x: round1(LEFT + slot * f64::from(c.bucket) + slot * 0.1),
                y: round1(y0),
                w: round1(slot * 0.8),
                h: round1(c.count as f64 * scale),
                class: s.class.clone(),
                reason: s.reason.clone(),
                count: c.count,
                title: format!("{}: {} ban(s), {}", s.reason, c.count, period(range, from)),
            });
        }
    }
    let y_ticks = (0..=top_count / step)
        .map(|i| Tick {
            at: round1(TOP + plot_h - (i * step) as f64 * scale),
            label: (i * step).to_string(),
        })
        .collect();
    let every = match range {
        Range::Day => 3,
        Range::Week => 4,
    };
    let x_ticks = (0..n)
        .filter(|i| i % every == 0)
        .map(|i| Tick {
            at: round1(LEFT + slot * f64::from(i)),
            label: time_label(range, start + i64::from(i) * range.bucket_secs()),
        })
        .collect();
    Plot {
        range: range.as_str(),
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: TOP + plot_h,
        total: stacks.iter().sum(),
        bars,
        y_ticks,
        x_ticks,
        legend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bc(bucket: u32, reason: &str, count: u64) -> BucketCount {
        BucketCount {
            bucket,
            reason: reason.into(),
            count,
        }
    }

    #[test]
    fn buckets_end_at_the_next_whole_hour() {
        let now = 1_764_230_400 + 8 * 3600 + 15 * 60; // 08:15 UTC
        let start = Range::Day.start(now);
        assert_eq!(start % 3600, 0);
        assert_eq!(start + 24 * 3600, now - 15 * 60 + 3600);
        assert_eq!(Range::Week.start(now) % (6 * 3600), 0);
    }

    #[test]
    fn bars_stack_by_reason_and_fit_the_axis() {
        let counts = [bc(0, "sshd", 3), bc(0, "smtp", 1), bc(5, "sshd", 6)];
        let p = layout(Range::Day, 0, &counts);
        assert_eq!(p.total, 10);
        assert_eq!(p.legend[0].reason, "sshd");
        assert_eq!(p.legend[0].total, 9);
        assert_eq!(p.bars.len(), 3);
        // the top label is a round number at least the highest stack
        let top: u64 = p.y_ticks.last().unwrap().label.parse().unwrap();
        assert!(top >= 6, "{top}");
        for b in &p.bars {
            assert!(b.y >= p.top - 0.1 && b.y + b.h <= p.bottom + 0.1, "{b:?}");
        }
        // bucket 0: smtp sits on sshd
        let sshd0 = p
            .bars
            .iter()
            .find(|b| b.reason == "sshd" && b.count == 3)
            .unwrap();
        let smtp0 = p.bars.iter().find(|b| b.reason == "smtp").unwrap();
        assert!((smtp0.y + smtp0.h - sshd0.y).abs() < 0.2);
        assert!(sshd0.h > smtp0.h * 2.5);
        assert_eq!(p.x_ticks.len(), 8);
        assert_eq!(p.x_ticks[1].label, "03:00");
    }

    #[test]
    fn an_empty_period_has_an_axis_and_no_bars() {
        let p = layout(Range::Week, 0, &[]);
        assert!(p.bars.is_empty() && p.legend.is_empty());
        assert_eq!(p.total, 0);
        assert_eq!(p.y_ticks.last().unwrap().label, "1");
        assert_eq!(p.x_ticks[0].label, "Thu 01");
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.0), 1);
        assert_eq!(nice_step(1.5), 2);
        assert_eq!(nice_step(3.0), 5);
        assert_eq!(nice_step(26.0), 50);
    }
}
