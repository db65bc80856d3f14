//! The typed events the daemon's parts speak.
//!
//! Two directions, two types:
//!
//! - [`Input`]: what sources send to the detector thread (lines with the
//!   position they were read up to, kernel reports, control requests,
//!   signals, the enforcer's reports). One bounded channel carries them all,
//!   so the detector waits on one thing and wakes only when there is work.
//! - [`Event`]: what the detector and the enforcer publish to the sinks
//!   through the [`Bus`](super::bus::Bus): attacks, bans decided, applied
//!   or failed, unblocks, source trouble. Sinks (the log, the messenger's
//!   page sets, metrics, alerts, the fleet and the console's live feed)
//!   read these, never ad-hoc strings.

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

/// Where a source has read up to, as the store keeps it: a key
/// (`file:/var/log/auth.log`, `journal`) and the source's own JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The source's key in the store's `positions` table.
    pub key: String,
    /// The source's own serialised position.
    pub value: String,
}

/// Which source a batch of lines came from (index into the plan's sources).
pub type SourceId = usize;

/// What sources send to the detector thread.
#[derive(Debug)]
pub enum Input {
    /// Complete lines (each ends in `\n`) and the position after them.
    Lines {
        /// The source.
        source: SourceId,
        /// The lines.
        data: Vec<u8>,
        /// The position after the last line, when the source has one.
        checkpoint: Option<Checkpoint>,
        /// When the source read them (for line→kernel latency).
        read_at: Instant,
    },
    /// Packets the kernel logged (port-scan and limit rules).
    Packets(Vec<rampart_nft::LoggedPacket>),
    /// Connections per source from a conntrack dump.
    ConnCounts(std::collections::BTreeMap<IpAddr, usize>),
    /// A control-socket request and where its reply goes.
    Control(serde_json::Value, SyncSender<serde_json::Value>),
    /// A signal.
    Signal(Signal),
    /// A source's trouble or notice (logged, counted, shown in status).
    Notice(SourceNotice),
    /// The enforcer's report on the bans it was given.
    Enforced(Vec<Enforced>),
    /// The host's own addresses changed (all of them, as they are now).
    OwnAddresses(Vec<Net>),
    /// Other nodes' decisions, verified and past the share policy.
    Fleet(FleetInput),
    /// A failed console login or an unknown API token (the web runtime):
    /// counted under reason `console` like a log line.
    LoginFailed(LoginFailure),
}

/// A failed attempt to authenticate to the console or the API.
#[derive(Debug, Clone)]
pub struct LoginFailure {
    /// From where.
    pub addr: IpAddr,
    /// The user name tried (console logins), as sent.
    pub user: Option<String>,
    /// An unknown API token rather than a wrong password.
    pub token: bool,
}

/// What the fleet source sends the detector.
#[derive(Debug)]
pub enum FleetInput {
    /// Peers' decisions, in the order the stream delivered them.
    Decisions(Vec<FleetDecision>),
    /// Every still-active decision the stream held at start was sent.
    CaughtUp,
}

/// A peer's decision, verified.
#[derive(Debug, Clone)]
pub struct FleetDecision {
    /// The node that decided it.
    pub node: String,
    /// Ban or lift.
    pub ban: bool,
    /// The target.
    pub target: Net,
    /// The reason code.
    pub reason: String,
    /// The rule that triggered there.
    pub rule: String,
    /// The node's summary.
    pub summary: String,
    /// The evidence digest.
    pub evidence: Vec<String>,
    /// When the node decided it (Unix milliseconds).
    pub decided_ms: i64,
    /// When the ban ends (Unix seconds); `None`: permanent.
    pub expires: Option<Timestamp>,
}

/// Signals the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM / SIGINT: stop.
    Stop,
    /// SIGHUP: reload the configuration and rules.
    Reload,
}

/// Something a source wants known.
#[derive(Debug, Clone)]
pub struct SourceNotice {
    /// The source's name (a path, `journal`, `nflog`, `conntrack`).
    pub source: String,
    /// What happened.
    pub message: String,
    /// Whether it is an error (it stopped reading) or only a notice.
    pub error: bool,
}

/// Who decided a ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanOrigin {
    /// A log rule's counting group.
    Detector,
    /// A kernel-side detector (port scan, connection limits).
    Kernel,
    /// CSF's NETBLOCK: many bans inside one network.
    Netblock,
    /// An administrator (`rampart deny`, the console, the API): published
    /// so the log, alerts and the fleet see it; the store already holds it.
    Manual,
    /// Another node of the fleet (`fleet:NODE`).
    Fleet {
        /// The node's name.
        node: String,
    },
}

impl BanOrigin {
    /// The origin's kind: `detector`, `kernel`, `netblock`, `manual`,
    /// `fleet` (a label for metrics, alerts and the feed).
    pub fn kind(&self) -> &'static str {
        match self {
            BanOrigin::Detector => "detector",
            BanOrigin::Kernel => "kernel",
            BanOrigin::Netblock => "netblock",
            BanOrigin::Manual => "manual",
            BanOrigin::Fleet { .. } => "fleet",
        }
    }
}

/// A ban the detector decided: what the store records and the kernel
/// enforces, with what `why` and the alerts show.
#[derive(Debug, Clone)]
pub struct Ban {
    /// The address or network.
    pub target: Net,
    /// The reason code.
    pub reason: String,
    /// The rule (or kernel detector) that triggered.
    pub rule: String,
    /// The CSF-style summary.
    pub summary: String,
    /// The lines (or kernel reports) that led to it.
    pub evidence: Vec<String>,
    /// Seconds; `None` is permanent.
    pub len: Option<i64>,
    /// Earlier bans of the target within the history window.
    pub level: u32,
    /// The group's first-ban length, for escalation (`None` for bans that
    /// do not escalate).
    pub base_len: Option<Option<i64>>,
    /// Who decided it.
    pub origin: BanOrigin,
    /// When it was decided (wall clock).
    pub decided: Timestamp,
    /// When the line that triggered it was read (latency measurements).
    pub read_at: Instant,
    /// The address whose event triggered it (inside `target`, which may
    /// be its /64 or a netblock).
    pub offender: IpAddr,
}

/// The enforcer's word on one ban.
#[derive(Debug, Clone)]
pub struct Enforced {
    /// The ban.
    pub target: Net,
    /// `None`: in the kernel; `Some(error)`: the kernel refused it (it is
    /// retried, and shown as unenforced until it succeeds).
    pub error: Option<String>,
}

/// A matched attack line.
#[derive(Debug, Clone)]
pub struct Attack {
    /// The rule's id.
    pub rule: String,
    /// The reason code.
    pub reason: String,
    /// Whom it blames.
    pub ip: IpAddr,
    /// The account, when named (escaped for display).
    pub user: Option<String>,
    /// The time the line carries, or when it was read.
    pub time: Timestamp,
}

/// What the sinks receive.
#[derive(Debug, Clone)]
pub enum Event {
    /// A line a rule recognised (only built for sinks that want them).
    Attack(Attack),
    /// A ban was decided.
    BanDecided(Arc<Ban>),
    /// A ban is in the kernel.
    BanApplied(Arc<Ban>),
    /// The kernel refused a ban; it is retried.
    BanFailed(Arc<Ban>, String),
    /// Entries were lifted (CLI, console, expiry).
    Unblocked {
        /// What was lifted.
        target: Net,
        /// By whom (`cli`, `fleet:web2`, ...).
        by: String,
        /// The fleet node that decided it; `None` when this node did.
        peer: Option<String>,
    },
    /// A source's trouble.
    Source(SourceNotice),
    /// The daemon started, reloaded, or is stopping.
    Lifecycle(String),
    /// A reload was refused; the running configuration stays. Carries the
    /// configuration errors, one per line.
    ReloadRefused(String),
    /// A blocklist or the country database could not be refreshed (the
    /// previous data stays in force).
    RefreshFailed {
        /// What: `blocklist NAME` or `country database`.
        what: String,
        /// Why.
        error: String,
    },
    /// Someone logged in to the console (produced by the console).
    ConsoleLogin {
        /// The account.
        user: String,
        /// From where.
        from: Option<IpAddr>,
    },
    /// A blocked person lifted their own block (produced by the
    /// blocked-person page).
    SelfUnblock {
        /// What was lifted.
        target: Net,
        /// What they were blocked for (reason code).
        reason: String,
    },
}

impl Event {
    /// A short name, for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Attack(_) => "attack",
            Event::BanDecided(_) => "ban_decided",
            Event::BanApplied(_) => "ban_applied",
            Event::BanFailed(..) => "ban_failed",
            Event::Unblocked { .. } => "unblocked",
            Event::Source(_) => "source",
            Event::Lifecycle(_) => "lifecycle",
            Event::ReloadRefused(_) => "reload_refused",
            Event::RefreshFailed { .. } => "refresh_failed",
            Event::ConsoleLogin { .. } => "console_login",
            Event::SelfUnblock { .. } => "self_unblock",
        }
    }
}
