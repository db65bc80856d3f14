//! The fleet's receiving side: other nodes' decisions from the JetStream
//! stream, verified against `trusted_keys`, judged by the share policy
//! ([`Gate`]) and sent to the detector as [`Input::Fleet`], which turns
//! them into bans through the same enforcer path as local ones.
//!
//! One ordered consumer does both catch-up and live delivery: it starts
//! with the *last message of every subject* (each target's current
//! decision) and then follows new ones. When the stream reports nothing
//! pending the source says [`FleetInput::CaughtUp`]; the daemon waits for
//! that (up to `catchup_timeout`) before it reports ready. After a lost
//! connection the ordered consumer resumes after the last message it saw.
//!
//! It runs on its own thread with its own current-thread tokio runtime:
//! when the detector is busy, `Feed::send` waits, and only this thread
//! waits with it.

use super::{Feed, Source};
use crate::daemon::events::{FleetDecision, FleetInput, Input};
use crate::daemon::fleet::conn::{self, now_ms};
use crate::daemon::fleet::policy::{Gate, Verdict};
use crate::daemon::fleet::state::{self, Shared};
use crate::daemon::fleet::wire::{Decision, Op, Rejected, Trusted};
use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer};
use futures_util::{FutureExt as _, StreamExt as _};
use rampart_core::config::FleetConfig;
use std::sync::Arc;
use std::time::Duration;

/// Messages handed to the detector at most at once.
const BATCH: usize = 512;

/// The fleet source.
pub struct FleetSource {
    cfg: FleetConfig,
    trusted: Trusted,
    shared: Arc<Shared>,
    gate: Gate,
    caught_up: bool,
}

impl FleetSource {
    /// A source for `cfg`.
    pub fn new(cfg: FleetConfig, trusted: Trusted, shared: Arc<Shared>) -> FleetSource {
        let gate = Gate::new(cfg.share.clone(), &cfg.node);
        FleetSource {
            cfg,
            trusted,
            shared,
            gate,
            caught_up: false,
        }
    }
}

impl Source for FleetSource {
    fn name(&self) -> String {
        "fleet".into()
    }

    fn run(self: Box<Self>, feed: Feed) {
        let rt = match conn::runtime() {
            Ok(rt) => rt,
            Err(e) => {
                feed.notice("fleet", format!("cannot start: {e}"), true);
                return;
            }
        };
        let mut me = *self;
        rt.block_on(me.serve(&feed));
    }
}

impl FleetSource {
    async fn serve(&mut self, feed: &Feed) {
        let client = match conn::connect(&self.cfg, "sub").await {
            Ok(c) => c,
            Err(e) => {
                feed.notice("fleet", format!("{e:#}"), true);
                return;
            }
        };
        let js = jetstream::new(client.clone());
        while !feed.stopped() {
            if let Err(e) = self.follow(&js, &client, feed).await {
                tracing::debug!("fleet: {e:#}; again in a second");
                self.link(&client);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    fn link(&self, client: &async_nats::Client) {
        let l = conn::link(client);
        self.shared.update(|s| s.subscriber = l);
    }

    /// Follows the stream until the daemon stops (`Ok`) or the consumer
    /// fails (`Err`: set up again).
    async fn follow(
        &mut self,
        js: &jetstream::Context,
        client: &async_nats::Client,
        feed: &Feed,
    ) -> Result<()> {
        let stream = conn::stream(js, &self.cfg).await?;
        let consumer = stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: client.new_inbox(),
                filter_subject: crate::daemon::fleet::wire::all_subjects(&self.cfg.subject_prefix),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the consumer: {e}"))?;
        if consumer.cached_info().num_pending == 0 {
            self.caught_up(feed);
        }
        let mut messages = consumer
            .messages()
            .await
            .context("cannot follow the stream")?;
        while !feed.stopped() {
            self.link(client);
            let Ok(next) = tokio::time::timeout(Duration::from_secs(1), messages.next()).await
            else {
                continue;
            };
            let Some(first) = next else {
                anyhow::bail!("the consumer ended");
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match messages.next().now_or_never() {
                    Some(Some(m)) => batch.push(m),
                    _ => break,
                }
            }
            self.handle(batch, feed);
        }
        Ok(())
    }

    fn caught_up(&mut self, feed: &Feed) {
        if !self.caught_up {
            self.caught_up = true;
            self.shared.update(|s| s.caught_up = true);
            feed.send(Input::Fleet(FleetInput::CaughtUp));
        }
    }

    fn handle(
        &mut self,
        batch: Vec<Result<jetstream::Message, consumer::push::OrderedError>>,
        feed: &Feed,
    ) {
        let mut pending = None;
        let mut payloads = Vec::with_capacity(batch.len());
        for m in batch {
            match m {
                Ok(m) => {
                    pending = m.info().ok().map(|i| i.pending).or(pending);
                    payloads.push(m.payload.clone());
                }
                Err(e) => tracing::debug!("fleet: {e}"),
            }
        }
        let opened = self.trusted.open_all(payloads.iter().map(|p| &p[..]));
        let out: Vec<FleetDecision> = opened.into_iter().filter_map(|d| self.judge(d)).collect();
        let awaiting = self.gate.awaiting() as u64;
        self.shared.update(|s| {
            s.pending = pending.unwrap_or(s.pending);
            s.awaiting_quorum = awaiting;
        });
        if !out.is_empty() {
            feed.send(Input::Fleet(FleetInput::Decisions(out)));
        }
        if pending == Some(0) {
            self.caught_up(feed);
        }
    }

    /// One opened message: counted, judged.
    fn judge(&mut self, opened: Result<Decision, Rejected>) -> Option<FleetDecision> {
        let now = now_ms();
        let d = match opened {
            Ok(d) => d,
            Err(r) => {
                self.shared.update(|s| {
                    s.received += 1;
                    match r {
                        Rejected::Untrusted => s.untrusted += 1,
                        Rejected::Malformed | Rejected::BadSignature => s.invalid += 1,
                    }
                });
                return None;
            }
        };
        let last = state::last(&d, now);
        let node = d.node.clone();
        let verdict = self.gate.judge(d, now / 1000);
        self.shared.update(|s| {
            s.received += 1;
            match &verdict {
                Verdict::Own => s.own += 1,
                Verdict::Expired => s.expired += 1,
                Verdict::Refused => s.refused_by_policy += 1,
                Verdict::AwaitQuorum => {}
                Verdict::Apply(_) => {
                    s.accepted += 1;
                    s.lag_ms = Some(last.lag_ms);
                }
            }
            if verdict != Verdict::Own {
                s.nodes.insert(node, last);
            }
        });
        match verdict {
            Verdict::Apply(d) => to_input(d),
            _ => None,
        }
    }
}

fn to_input(d: Decision) -> Option<FleetDecision> {
    Some(FleetDecision {
        target: d.net()?,
        ban: d.op == Op::Ban,
        decided_ms: d.decided_ms,
        node: d.node,
        reason: d.reason,
        rule: d.rule,
        summary: d.summary,
        evidence: d.evidence,
        expires: d.expires,
    })
}
