//! Connecting to NATS as `[fleet]` says (credentials, TLS), and the
//! stream that holds the decisions.
//!
//! Connections retry from the start and reconnect forever with a short
//! delay (at most a second), so a node that starts while NATS is down, or
//! loses it, catches up as soon as it is back.

use super::wire;
use anyhow::{Context, Result};
use async_nats::jetstream::{self, stream};
use rampart_core::config::FleetConfig;
use std::time::Duration;

/// Connects (in the background: the client is returned at once and
/// connects, and reconnects, by itself).
pub async fn connect(cfg: &FleetConfig, role: &str) -> Result<async_nats::Client> {
    let mut o = async_nats::ConnectOptions::new()
        .name(format!("rampart-{}-{role}", cfg.node))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 100).min(1000)));
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        o = o.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &cfg.token {
        o = o.token(t.clone());
    }
    if let Some(path) = &cfg.nkey {
        let seed = std::fs::read_to_string(path)
            .with_context(|| format!("fleet.nkey: cannot read {path}"))?;
        o = o.nkey(seed.trim().to_string());
    }
    if let Some(path) = &cfg.creds {
        o = o
            .credentials_file(path)
            .await
            .with_context(|| format!("fleet.creds: cannot read {path}"))?;
    }
    if let Some(ca) = &cfg.tls_ca {
        o = o.add_root_certificates(ca.into()).require_tls(true);
    }
    if let (Some(c), Some(k)) = (&cfg.tls_cert, &cfg.tls_key) {
        o = o
            .add_client_certificate(c.into(), k.into())
            .require_tls(true);
    }
    let servers: Vec<async_nats::ServerAddr> = cfg
        .servers
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .context("fleet.servers")?;
    o.connect(servers)
        .await
        .context("cannot set up the NATS connection")
}

/// The stream's configuration: one message per subject (a target's latest
/// decision), file storage, duplicates within two minutes dropped,
/// decisions nothing replaced removed after `retention`.
pub fn stream_config(cfg: &FleetConfig) -> stream::Config {
    stream::Config {
        name: cfg.stream.clone(),
        subjects: vec![wire::all_subjects(&cfg.subject_prefix)],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(cfg.retention_secs),
        num_replicas: usize::from(cfg.replicas),
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(120),
        max_message_size: 16 * 1024,
        ..Default::default()
    }
}

/// The stream, created when missing.
pub async fn stream(js: &jetstream::Context, cfg: &FleetConfig) -> Result<stream::Stream> {
    js.get_or_create_stream(stream_config(cfg))
        .await
        .map_err(|e| anyhow::anyhow!("JetStream stream {}: {e}", cfg.stream))
}

/// A client's state as `status` shows it.
pub fn link(c: &async_nats::Client) -> super::state::Link {
    match c.connection_state() {
        async_nats::connection::State::Connected => super::state::Link::Connected,
        async_nats::connection::State::Disconnected => super::state::Link::Disconnected,
        async_nats::connection::State::Pending => super::state::Link::Connecting,
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A runtime for one fleet thread (the detector never depends on it).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
