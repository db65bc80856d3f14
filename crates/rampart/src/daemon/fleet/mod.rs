//! The fleet: bans shared across servers through NATS JetStream.
//!
//! ```text
//!  this node                                   NATS JetStream              peers
//!  enforcer ─BanApplied/Unblocked─▶ Bus ─▶ sinks::fleet ──signed──▶ stream RAMPART_FLEET ──▶ …
//!                                    (bridge thread → publisher     one message per target
//!                                     runtime; outbox in the store   (max_msgs_per_subject=1)
//!                                     while NATS is down)
//!  detector ◀─Input::Fleet─ sources::fleet ◀── ordered consumer (last per subject, then live)
//!     └─ Ban{origin: Fleet{node}} ─▶ enforcer (kernel, then store: origin `cluster`, comment `fleet:NODE`)
//! ```
//!
//! - [`wire`]: the signed decision format, subjects, key files.
//! - [`policy`]: what a node accepts (reasons, minimum length, quorum).
//! - [`conn`]: connecting (credentials, TLS) and the stream's configuration.
//! - [`state`]: the counters `rampart fleet status` shows.
//!
//! The publishing side is `sinks::fleet`, the receiving side
//! `sources::fleet`; each runs its own current-thread tokio runtime on its
//! own threads, so the detector and the enforcer never depend on NATS or on
//! tokio. Loopback, the host's own addresses, allowed and ignored
//! addresses always win: the detector refuses fleet bans that cover any of
//! its protected networks. Subjects, limits and rates: `docs/fleet.md`.

pub mod conn;
pub mod policy;
pub mod state;
pub mod wire;

use anyhow::{Context, Result};
use rampart_core::config::FleetConfig;
use state::Shared;
use std::sync::Arc;

/// What `rampart run` needs to start the fleet: checked before anything
/// starts, so a missing key is an error at start, not a silent fleet.
pub struct Fleet {
    /// The configuration.
    pub cfg: FleetConfig,
    /// This node's signing key.
    pub key: ed25519_dalek::SigningKey,
    /// The keys whose decisions are believed.
    pub trusted: wire::Trusted,
    /// The counters both sides update.
    pub shared: Arc<Shared>,
}

impl Fleet {
    /// Loads the key and the trusted keys.
    pub fn prepare(cfg: &FleetConfig) -> Result<Fleet> {
        let key = wire::load_key(std::path::Path::new(&cfg.key))
            .context("fleet.key (create one with `rampart fleet keygen`)")?;
        let trusted = wire::Trusted::new(&cfg.trusted_keys)
            .map_err(|e| anyhow::anyhow!("fleet.trusted_keys: {e}"))?;
        Ok(Fleet {
            cfg: cfg.clone(),
            key,
            trusted,
            shared: Arc::new(Shared::new(&cfg.node)),
        })
    }
}
