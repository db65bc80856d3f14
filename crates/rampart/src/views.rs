//! The JSON shapes Rampart shows: one definition per thing, used by the
//! CLI's `--json` output and by the HTTP API alike (issue 13), so a script
//! written against `rampart why --json` reads `GET /api/v1/why/ADDR`
//! unchanged.
//!
//! Each view is a plain `Serialize` struct built from the store's or the
//! firewall's types by a constructor; times are RFC 3339 strings, lengths
//! are seconds. The OpenAPI document (`daemon::web::openapi`) describes
//! the same fields.

use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_firewall::Outcome;
use rampart_store::{EndReason, Entry, HistoryRecord, Kind, Origin};
use serde::Serialize;

/// A deny, allow or ignore entry (`rampart list --json`, and wherever an
/// entry is shown).
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    /// The store's id.
    pub id: i64,
    /// `deny`, `allow` or `ignore`.
    pub kind: Kind,
    /// Address or CIDR.
    pub target: String,
    /// The reason code.
    pub reason: String,
    /// The rule that triggered it, for detector bans.
    pub rule: Option<String>,
    /// The CSF-style summary.
    pub summary: String,
    /// The lines that led to it.
    pub evidence: Vec<String>,
    /// The country, when known.
    pub country: Option<String>,
    /// Who made it (`manual`, `detector`, ...).
    pub origin: Origin,
    /// The administrator's comment.
    pub comment: Option<String>,
    /// Since when the target is on the list.
    pub since: String,
    /// When this record was written.
    pub created: String,
    /// When it ends; `null` when permanent.
    pub expires: Option<String>,
    /// Whether it never ends.
    pub permanent: bool,
    /// Seconds left; `null` when permanent.
    pub remaining_secs: Option<u64>,
}

impl EntryView {
    /// The view of `e` at `now`.
    pub fn new(e: &Entry, now: Timestamp) -> EntryView {
        EntryView {
            id: e.id,
            kind: e.kind,
            target: e.target.to_string(),
            reason: e.reason.clone(),
            rule: e.rule.clone(),
            summary: e.summary.clone(),
            evidence: e.evidence.clone(),
            country: e.country.clone(),
            origin: e.origin,
            comment: e.comment.clone(),
            since: format_rfc3339(e.since),
            created: format_rfc3339(e.created),
            expires: e.expires.map(format_rfc3339),
            permanent: e.expires.is_none(),
            remaining_secs: e.remaining(now),
        }
    }

    /// The views of `entries`.
    pub fn all(entries: &[Entry], now: Timestamp) -> Vec<EntryView> {
        entries.iter().map(|e| EntryView::new(e, now)).collect()
    }
}

/// What the kernel was sent for a change.
#[derive(Debug, Clone, Serialize)]
pub struct KernelPlanView {
    /// Set elements added.
    pub elements_added: usize,
    /// Set elements deleted.
    pub elements_deleted: usize,
    /// Whether the whole ruleset was (re)loaded.
    pub ruleset_loaded: bool,
    /// Whether Rampart's table was removed (`flush`).
    pub table_removed: bool,
    /// Lists left as they were, and why.
    pub warnings: Vec<String>,
}

impl KernelPlanView {
    /// The plan of `out`.
    pub fn new(out: &Outcome) -> KernelPlanView {
        let (deleted, added) = out.plan.counts();
        KernelPlanView {
            elements_added: added,
            elements_deleted: deleted,
            ruleset_loaded: out.plan.load_ruleset,
            table_removed: out.plan.flush_table,
            warnings: out.warnings.clone(),
        }
    }
}

/// The result of `deny`, `allow` or `ignore`.
#[derive(Debug, Clone, Serialize)]
pub struct AddView {
    /// True.
    pub ok: bool,
    /// `inserted`, `extended` (a longer entry replaced a shorter one) or
    /// `kept` (an existing longer entry stays).
    pub action: &'static str,
    /// The entry in force now.
    pub entry: EntryView,
    /// What the kernel was sent.
    pub kernel: KernelPlanView,
}

impl AddView {
    /// The view of an add's outcome; `None` when nothing was added.
    pub fn new(out: &Outcome, now: Timestamp) -> Option<AddView> {
        let (action, e) = out.added.as_ref()?;
        let action = match action {
            rampart_store::AddAction::Inserted => "inserted",
            rampart_store::AddAction::Replaced { .. } => "extended",
            rampart_store::AddAction::Kept { .. } => "kept",
        };
        Some(AddView {
            ok: true,
            action,
            entry: EntryView::new(e, now),
            kernel: KernelPlanView::new(out),
        })
    }
}

/// The result of `unblock` or `remove`.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedView {
    /// Whether anything was removed.
    pub ok: bool,
    /// The entries removed.
    pub removed: Vec<EntryView>,
    /// Wider entries that still block the target.
    pub still_blocking: Vec<EntryView>,
    /// Whether the running daemon forgot what it had counted against it.
    pub daemon_counts_reset: bool,
    /// What the kernel was sent.
    pub kernel: KernelPlanView,
}

impl RemovedView {
    /// The view of a removal's outcome.
    pub fn new(out: &Outcome, forgot: bool, now: Timestamp) -> RemovedView {
        RemovedView {
            ok: !out.removed.is_empty(),
            removed: EntryView::all(&out.removed, now),
            still_blocking: EntryView::all(&out.still_blocking, now),
            daemon_counts_reset: forgot,
            kernel: KernelPlanView::new(out),
        }
    }
}

/// A kernel set element holding an address (`why`).
#[derive(Debug, Clone, Serialize)]
pub struct ElementView {
    /// The set (`deny`, `allow`, `blocklist NAME`, ...).
    pub list: String,
    /// The element (a range).
    pub element: String,
    /// When the kernel times it out; `null`: never.
    pub expires: Option<String>,
}

/// What the kernel does with an address (`why`).
#[derive(Debug, Clone, Serialize)]
pub struct KernelWhyView {
    /// Whether Rampart's table is loaded.
    pub table_loaded: bool,
    /// Whether the kernel drops the address's packets.
    pub blocked: bool,
    /// The elements holding it.
    pub elements: Vec<ElementView>,
}

/// A reason's plain-language explanation (`why`).
#[derive(Debug, Clone, Serialize)]
pub struct ExplanationView {
    /// The reason code.
    pub reason: String,
    /// Its title.
    pub title: String,
    /// What happened, for the blocked person.
    pub explanation: String,
    /// What they should do.
    pub remedy: String,
}

/// An entry that ended (`why`).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// The entry as it was.
    pub entry: EntryView,
    /// When it ended.
    pub ended: String,
    /// How it ended.
    pub how: EndReason,
    /// Who ended it.
    pub by: Option<String>,
    /// Their comment.
    pub comment: Option<String>,
}

impl HistoryView {
    /// The view of `h`.
    pub fn new(h: &HistoryRecord, now: Timestamp) -> HistoryView {
        HistoryView {
            entry: EntryView::new(&h.entry, now),
            ended: format_rfc3339(h.ended),
            how: h.end,
            by: h.by.clone(),
            comment: h.comment.clone(),
        }
    }
}

/// Everything `rampart why ADDR --json` says about an address.
#[derive(Debug, Clone, Serialize)]
pub struct WhyView {
    /// The address asked about.
    pub address: String,
    /// Whether the kernel blocks it.
    pub blocked: bool,
    /// The kernel's side.
    pub kernel: KernelWhyView,
    /// Whether the store says it should be blocked.
    pub store_blocked: bool,
    /// Whether kernel and store agree.
    pub agree: bool,
    /// What the running daemon counted against it (`null`: no daemon).
    pub detector_counts: Option<serde_json::Value>,
    /// Whether an allow entry covers it.
    pub allowed: bool,
    /// Whether an ignore entry covers it.
    pub ignored: bool,
    /// The entries covering it.
    pub entries: Vec<EntryView>,
    /// The blocklists listing it.
    pub blocklists: Vec<String>,
    /// Its country, when a database is configured.
    pub country: Option<String>,
    /// Whether its country is blocked.
    pub country_blocked: bool,
    /// The explanations of the deny entries' reasons.
    pub explanations: Vec<ExplanationView>,
    /// Entries that ended.
    pub history: Vec<HistoryView>,
    /// The state directory read.
    pub state_dir: String,
}

/// A blocklist as `rampart status --json` summarises it.
#[derive(Debug, Clone, Serialize)]
pub struct BlocklistView {
    /// Its name.
    pub name: String,
    /// Entries loaded.
    pub entries: usize,
    /// The last successful refresh.
    pub updated: Option<String>,
    /// Failed refreshes since then.
    pub failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the next refresh is due.
    pub next_due: Option<String>,
}

impl BlocklistView {
    /// The summary of `d`.
    pub fn status(d: &rampart_firewall::blocklist::ListDef) -> BlocklistView {
        BlocklistView {
            name: d.name.clone(),
            entries: d.entries,
            updated: d.updated.map(format_rfc3339),
            failures: d.failures,
            last_error: d.last_error.clone(),
            next_due: d.next_due.map(format_rfc3339),
        }
    }
}

/// A detection rule (`rampart rules list --json`).
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    /// Its id.
    pub id: String,
    /// Its reason code.
    pub reason: String,
    /// The service it reads.
    pub service: String,
    /// What it recognises.
    pub description: String,
    /// Whether it is on.
    pub enabled: bool,
    /// The syslog programs it reads.
    pub programs: Vec<String>,
    /// Whether it reads lines without a syslog header.
    pub line: bool,
    /// Events that trigger a ban.
    pub threshold: Option<u32>,
    /// Within this many seconds.
    pub window_secs: Option<u64>,
    /// The first ban's length (`null`: permanent).
    pub ban_secs: Option<Option<u64>>,
    /// The reason's title.
    pub title: Option<String>,
}

/// What a rule made of a line (`rampart rules test LINE --json`).
#[derive(Debug, Clone, Serialize)]
pub struct LineTestView {
    /// The line.
    pub line: String,
    /// The rule that took it (`null`: none).
    pub rule: Option<String>,
    /// Its reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The address blamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The account named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Option<String>>,
    /// The port named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Option<u16>>,
    /// How many failures the line reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The service's own rule id (mod_security, Suricata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Option<String>>,
    /// The time the line carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Option<String>>,
}

/// One configuration error.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticView {
    /// The file.
    pub file: String,
    /// The line, when known.
    pub line: Option<usize>,
    /// The dotted key.
    pub key: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// `rampart config check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigCheckView {
    /// The file checked.
    pub file: String,
    /// Whether it has no error.
    pub ok: bool,
    /// Every error.
    pub errors: Vec<DiagnosticView>,
}

/// Country blocking (`GET /api/v1/countries`).
#[derive(Debug, Clone, Serialize)]
pub struct CountriesView {
    /// The country database (`[country] database`).
    pub database: Option<String>,
    /// When the database file was last replaced (its refresh), if it exists.
    pub database_updated: Option<String>,
    /// Countries denied.
    pub deny: Vec<String>,
    /// Countries allowed (when set, only these).
    pub allow: Vec<String>,
    /// The ports `allow` applies to.
    pub allow_ports: Option<String>,
}

impl CountriesView {
    /// The view of `[country]` (reads the database file's time).
    pub fn new(c: &rampart_core::config::CountryConfig) -> CountriesView {
        let updated = c
            .database
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok()?.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format_rfc3339(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
        CountriesView {
            database: c.database.clone(),
            database_updated: updated,
            deny: c.deny.clone(),
            allow: c.allow.clone(),
            allow_ports: c.allow_ports.clone(),
        }
    }
}
