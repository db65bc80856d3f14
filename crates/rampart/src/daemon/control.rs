//! Answers to control-socket requests, on the detector thread (the one
//! owner of what they read or change): `status`, `counts` (what the
//! detectors counted against an address, for `why`), `forget` (after an
//! unblock), `reload` and `fleet` (the fleet's status).

use super::Daemon;
use super::sinks::enforcer::EnforceCmd;
use rampart_core::time::format_rfc3339;
use serde_json::{Value, json};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

impl Daemon {
    /// Answers one request on `reply`. A change is handed to the enforcer
    /// with `reply`, so the detector does not wait for it.
    pub fn control(&mut self, req: &Value, reply: SyncSender<Value>) {
        if req["cmd"] == "change" {
            if let Err(e) = self.change(req, reply.clone()) {
                let _ = reply.send(e);
            }
            return;
        }
        let _ = reply.send(self.answer(req));
    }

    fn answer(&mut self, req: &Value) -> Value {
        let addr = || {
            req["addr"]
                .as_str()
                .and_then(rampart_core::addr::Net::parse)
                .map(|n| n.addr)
        };
        match req["cmd"].as_str().unwrap_or("") {
            "status" => self.status(),
            "counts" => match addr() {
                Some(ip) => json!({"ok": true, "counts": self.counts(ip)}),
                None => json!({"ok": false, "error": "addr"}),
            },
            // the unblock itself was published by the enforcer that applied it
            "forget" => match addr() {
                Some(ip) => json!({"ok": true, "forgotten": self.owner.forget(ip)}),
                None => json!({"ok": false, "error": "addr"}),
            },
            "reload" => self.reload(),
            "fleet" => self.fleet_status(),
            other => json!({"ok": false, "error": format!("unknown command {other:?}")}),
        }
    }

    /// A list change: handed to the enforcer, which answers the asker.
    /// The detectors see allow/ignore changes at their next batch (the
    /// store's data version moves); `unblock` then asks the daemon to
    /// forget the address's counts (`forget`).
    fn change(&mut self, req: &Value, reply: SyncSender<Value>) -> Result<(), Value> {
        let change: rampart_firewall::Change = serde_json::from_value(req["change"].clone())
            .map_err(|e| json!({"ok": false, "error": format!("bad change: {e}")}))?;
        self.enforcer
            .send(EnforceCmd::Change(Box::new(change), reply))
            .map_err(|_| json!({"ok": false, "error": "the daemon is stopping"}))
    }

    fn counts(&self, ip: std::net::IpAddr) -> Vec<Value> {
        let t = self.owner.det.tracker();
        let groups = t.groups();
        t.counts_for(ip)
            .into_iter()
            .map(|(g, n, last)| {
                let g = &groups[usize::from(g)];
                json!({"group": g.name, "reason": g.reason, "count": n, "threshold": g.threshold,
                    "window_secs": g.window_secs, "last_seen": format_rfc3339(last)})
            })
            .collect()
    }

    fn status(&self) -> Value {
        let o = &self.owner;
        let s = &o.det.stats;
        let (tx, rx) = sync_channel(1);
        let enforcer = if self.enforcer.send(EnforceCmd::Status(tx)).is_ok() {
            rx.recv_timeout(Duration::from_secs(5))
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        json!({
            "ok": true, "pid": std::process::id(), "uptime_secs": self.started.elapsed().as_secs(),
            "lines": s.lines, "events": s.events, "bans": o.bans, "tracked": o.det.tracker().tracked(),
            "dropped_full": s.dropped_full, "evicted_full": s.evicted_full,
            "max_tracked": o.config.max_tracked, "refused_by_kernel": o.refused,
            "watching": o.sources.iter().filter(|s| s.name != "journal").map(|s| &s.name).collect::<Vec<_>>(),
            "sources": o.sources,
            "journal": self.journal_status(),
            "enforcer": enforcer,
            "sinks": self.bus.report(),
            "alerts": self.alerts.as_ref().map(|a| a.report()),
            "messenger": self.messenger.as_ref().map(|m| m.stats.report()),
            "notices": self.notices,
        })
    }

    fn fleet_status(&self) -> Value {
        let Some(shared) = &self.fleet else {
            return json!({"ok": false, "error": "the fleet is not configured ([fleet] in rampart.toml)"});
        };
        let queue = self.bus.report().into_iter().find(|q| q.sink == "fleet");
        json!({
            "ok": true,
            "fleet": shared.get(),
            "refused_protected": self.owner.fleet_protected,
            "already_in_force": self.owner.fleet_redundant,
            "event_queue": queue,
        })
    }

    /// The journal source's counters (its lines, errors and last notice).
    fn journal_status(&self) -> Value {
        let journal = self.owner.sources.iter().find(|s| s.name == "journal");
        journal.map_or(Value::Null, |s| json!(s))
    }
}
