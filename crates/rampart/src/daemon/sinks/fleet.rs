//! The fleet's publishing side: every ban this node applies and every
//! unblock it decides, signed and published to NATS JetStream (see
//! `docs/fleet.md` and [`crate::daemon::fleet`]).
//!
//! Nothing here can hold up detection. The bus hands events to a bridge
//! thread (its queue drops and counts when full, like any sink's), which
//! signs them and passes them to the publisher: a current-thread tokio
//! runtime on a thread of its own. While NATS is unreachable (or does not
//! acknowledge), decisions go to the store's outbox — bounded, oldest
//! dropped first, kept across restarts — and are published in order as
//! soon as the connection returns; new decisions queue behind them so a
//! target's ban and unban never swap places.

use crate::daemon::bus::SinkRx;
use crate::daemon::events::{BanOrigin, Event};
use crate::daemon::fleet::conn::{self, now_ms};
use crate::daemon::fleet::state::Shared;
use crate::daemon::fleet::wire::{self, Decision, Op};
use async_nats::jetstream;
use ed25519_dalek::SigningKey;
use rampart_core::config::{FleetConfig, SharePolicy};
use rampart_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Publications handed from the bridge to the publisher at most at once.
const BATCH: usize = 1000;

/// Which events the fleet takes: bans this node applied and unblocks
/// decided here (published), and peers' bans applied here (only their
/// delay from the peer's decision is measured).
pub fn wants(ev: &Event) -> bool {
    match ev {
        Event::BanApplied(_) => true,
        Event::Unblocked { peer, .. } => peer.is_none(),
        _ => false,
    }
}

/// One signed publication.
struct Out {
    subject: String,
    msg_id: String,
    payload: Vec<u8>,
}

/// Turns events into signed decisions.
struct Signer {
    key: SigningKey,
    node: String,
    prefix: String,
    publish: Vec<String>,
    shared: Arc<Shared>,
}

impl Signer {
    fn decision(&self, ev: &Event) -> Option<Decision> {
        let (op, target, reason, rule, summary, evidence, expires) = match ev {
            Event::BanApplied(b) => {
                if !SharePolicy::lists(&self.publish, &b.reason) {
                    return None;
                }
                let expires = b.len.map(|l| b.decided + l);
                let ev = wire::digest(&b.evidence);
                let (r, s) = (b.rule.clone(), b.summary.clone());
                (Op::Ban, b.target, b.reason.clone(), r, s, ev, expires)
            }
            Event::Unblocked { target, by, .. } => {
                let s = format!("unblocked by {by}");
                (
                    Op::Unban,
                    *target,
                    "unblock".into(),
                    String::new(),
                    s,
                    Vec::new(),
                    None,
                )
            }
            _ => return None,
        };
        Some(Decision {
            v: wire::VERSION,
            op,
            node: self.node.clone(),
            target: target.to_string(),
            reason,
            rule,
            summary,
            evidence,
            decided_ms: now_ms(),
            expires,
        })
    }

    fn seal(&self, ev: &Event) -> Option<Out> {
        let d = self.decision(ev)?;
        let target = d.net()?;
        Some(Out {
            subject: wire::subject(&self.prefix, target),
            msg_id: d.msg_id(),
            payload: wire::seal(&d, &self.key),
        })
    }
}

/// Starts the bridge and the publisher threads.
pub fn spawn(
    cfg: FleetConfig,
    key: SigningKey,
    shared: Arc<Shared>,
    store: PathBuf,
    rx: SinkRx,
) -> std::io::Result<()> {
    let signer = Signer {
        key,
        node: cfg.node.clone(),
        prefix: cfg.subject_prefix.clone(),
        publish: cfg.share.publish.clone(),
        shared: Arc::clone(&shared),
    };
    let (tx, out_rx) = mpsc::channel::<Out>(BATCH * 4);
    std::thread::Builder::new()
        .name("sink-fleet".into())
        .spawn(move || {
            while let Ok(next) = rx.next(Duration::from_secs(3600)) {
                if let Some(Event::BanApplied(b)) = next.as_deref()
                    && matches!(b.origin, BanOrigin::Fleet { .. })
                {
                    signer.shared.applied(b.read_at.elapsed());
                    continue;
                }
                if let Some(out) = next.and_then(|ev| signer.seal(&ev))
                    && tx.blocking_send(out).is_err()
                {
                    return;
                }
            }
        })?;
    let rt = conn::runtime()?;
    std::thread::Builder::new()
        .name("fleet-pub".into())
        .spawn(move || {
            rt.block_on(async move {
                match Publisher::start(&cfg, shared, &store).await {
                    Ok(p) => p.run(out_rx).await,
                    Err(e) => tracing::error!("fleet: not publishing: {e:#}"),
                }
            })
        })
        .map(|_| ())
}

/// The publisher: NATS when it answers, the outbox when not.
struct Publisher {
    cfg: FleetConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    stream_ok: bool,
    store: Store,
    /// Publications in the outbox.
    backlog: u64,
    shared: Arc<Shared>,
}

impl Publisher {
    async fn start(
        cfg: &FleetConfig,
        shared: Arc<Shared>,
        store: &std::path::Path,
    ) -> anyhow::Result<Publisher> {
        let opts = rampart_store::Options {
            busy_timeout: Duration::from_secs(2),
        };
        let store = Store::open_with(store, opts)?;
        let backlog = store.outbox_len()?;
        let client = conn::connect(cfg, "pub").await?;
        let js = jetstream::new(client.clone());
        Ok(Publisher {
            cfg: cfg.clone(),
            client,
            js,
            stream_ok: false,
            store,
            backlog,
            shared,
        })
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Out>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                m = rx.recv() => {
                    let Some(first) = m else { break };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        let Ok(o) = rx.try_recv() else { break };
                        batch.push(o);
                    }
                    self.send(batch).await;
                }
                _ = tick.tick() => self.drain().await,
            }
            let (link, queued) = (conn::link(&self.client), self.backlog);
            self.shared.update(|s| {
                s.publisher = link;
                s.queued = queued;
            });
        }
    }

    /// Whether publications can go out now (connected, the stream exists).
    async fn ready(&mut self) -> bool {
        if conn::link(&self.client) != super::super::fleet::state::Link::Connected {
            return false;
        }
        if !self.stream_ok {
            match conn::stream(&self.js, &self.cfg).await {
                Ok(_) => self.stream_ok = true,
                Err(e) => tracing::debug!("fleet: {e:#}"),
            }
        }
        self.stream_ok
    }

    async fn send(&mut self, batch: Vec<Out>) {
        // behind an outbox, new decisions wait their turn
        if self.backlog > 0 || !self.ready().await {
            self.queue(&batch);
            return;
        }
        let done = self.publish(&batch).await;
        if done < batch.len() {
            self.queue(&batch[done..]);
        }
    }

    /// Publishes in order; returns how many leading publications JetStream
    /// acknowledged.
    async fn publish(&mut self, batch: &[Out]) -> usize {
        let mut acks = Vec::with_capacity(batch.len());
        for o in batch {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", o.msg_id.as_str());
            let sent = self
                .js
                .publish_with_headers(o.subject.clone(), h, o.payload.clone().into())
                .await;
            match sent {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    tracing::debug!("fleet: publishing failed: {e}");
                    break;
                }
            }
        }
        let mut done = 0;
        for ack in acks {
            if let Err(e) = ack.await {
                tracing::debug!("fleet: not acknowledged: {e}");
                break;
            }
            done += 1;
        }
        let failed = u64::from(done < batch.len());
        if failed > 0 {
            self.stream_ok = false;
        }
        self.shared.update(|s| {
            s.published += done as u64;
            s.publish_errors += failed;
        });
        done
    }

    fn queue(&mut self, items: &[Out]) {
        let rows: Vec<(String, String, Vec<u8>)> = items
            .iter()
            .map(|o| (o.subject.clone(), o.msg_id.clone(), o.payload.clone()))
            .collect();
        let max = u64::from(self.cfg.queue_max);
        match self.store.outbox_push(&rows, max, crate::settings::now()) {
            Ok(dropped) => {
                if self.backlog == 0 {
                    tracing::warn!("fleet: NATS unreachable; queueing decisions in the store");
                }
                self.backlog = (self.backlog + rows.len() as u64 - dropped).min(max);
                self.shared.update(|s| s.queue_dropped += dropped);
            }
            Err(e) => {
                tracing::error!(
                    "fleet: {} decision(s) lost: cannot queue them: {e}",
                    rows.len()
                );
                self.shared.update(|s| s.queue_dropped += rows.len() as u64);
            }
        }
    }

    /// Publishes the outbox, oldest first, while NATS acknowledges.
    async fn drain(&mut self) {
        while self.backlog > 0 && self.ready().await {
            let queued = match self.store.outbox_peek(BATCH) {
                Ok(q) if !q.is_empty() => q,
                Ok(_) => {
                    self.backlog = 0;
                    break;
                }
                Err(e) => {
                    tracing::warn!("fleet: cannot read the outbox: {e}");
                    break;
                }
            };
            let batch: Vec<Out> = queued
                .iter()
                .map(|q| Out {
                    subject: q.subject.clone(),
                    msg_id: q.msg_id.clone(),
                    payload: q.payload.clone(),
                })
                .collect();
            let done = self.publish(&batch).await;
            if done > 0
                && self
                    .store
                    .outbox_remove_through(queued[done - 1].id)
                    .is_ok()
            {
                self.backlog = self.backlog.saturating_sub(done as u64);
            }
            if done < batch.len() {
                break;
            }
            if self.backlog == 0 {
                tracing::info!("fleet: the queued decisions are published");
            }
        }
    }
}
