//! The blocklist refresher: a worker thread with its own store connection
//! and netlink socket that downloads the lists whose refresh is due
//! (`rampart_firewall::refresh_due`: conditional GET, jitter, the old list
//! kept on any failure) and loads the changed ones into their own sets.
//! Downloads are slow and may hang until their timeout, so they never run
//! on the enforcer's thread; the enforcer's mirror of the deny set notices
//! the store change through SQLite's data version.

use super::sources::Feed;
use crate::cli::Global;
use crate::fw::Ctx;
use crate::settings::now;
use rampart_firewall::blocklist::load_defs;
use std::path::Path;
use std::time::Duration;

/// Longest sleep between looks at the schedule (new lists added with the
/// CLI are noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Starts the refresher.
pub fn spawn(global: &Global, feed: Feed) -> std::io::Result<()> {
    let global = Global {
        config: global.config.clone(),
        state_dir: global.state_dir.clone(),
    };
    std::thread::Builder::new()
        .name("refresh".into())
        .spawn(move || run(&global, &feed))
        .map(|_| ())
}

fn run(global: &Global, feed: &Feed) {
    let mut ctx = None;
    while !feed.stopped() {
        let nap = sleep_for(&global.state_dir);
        tracing::debug!("blocklist refresher: next look in {nap:?}");
        std::thread::sleep(nap);
        if ctx.is_none() {
            ctx = Ctx::open(global, false)
                .inspect_err(|e| {
                    feed.notice("blocklists", format!("cannot refresh: {e:#}"), true);
                })
                .ok();
        }
        if let Some(c) = ctx.as_mut() {
            refresh(c, feed);
        }
    }
}

/// Until the next list is due (at most [`MAX_SLEEP`]).
fn sleep_for(state_dir: &Path) -> Duration {
    let now = now();
    let defs = load_defs(state_dir).unwrap_or_else(|e| {
        tracing::warn!("blocklist refresher: {e}");
        Vec::new()
    });
    defs.iter()
        .filter(|d| d.refresh_secs > 0)
        .map(|d| d.next_due.map_or(0, |t| (t - now).max(0)))
        .min()
        .map_or(MAX_SLEEP, |s| Duration::from_secs(s as u64).min(MAX_SLEEP))
        .max(Duration::from_millis(200))
}

fn refresh(ctx: &mut Ctx, feed: &Feed) {
    let state_dir = ctx.state_dir.clone();
    match rampart_firewall::refresh_due(&mut ctx.store, &mut ctx.kernel, &state_dir, now()) {
        Ok(reports) => {
            for r in reports {
                let source = format!("blocklist {}", r.name);
                let text = format!("{}: {}", r.outcome, r.message);
                feed.notice(&source, text, r.failed());
            }
        }
        Err(e) => {
            feed.notice("blocklists", format!("refresh failed: {e}"), true);
        }
    }
}
