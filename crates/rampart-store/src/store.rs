//! The store: one SQLite connection on `STATE_DIR/rampart.db`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_core::addr::Net;
use rampart_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Params, Row, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::model::{
    Active, AddAction, Added, Counts, EndReason, Entry, HistoryRecord, Kind, KindCounts,
    ListFilter, NewEntry, Origin, Permanence, Removal, Unblocked,
};
use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};
use crate::target::{bounds, canonical, containing_keys, family, within};

/// SQLite's page cache per connection, in KiB. The daemon holds a few
/// connections for its whole life and each cache only ever grows to this,
/// so it bounds the daemon's memory; 8 MiB holds the working set of a store
/// with 100,000 entries (measured: BENCHMARKS.md, sustained load).
const CACHE_KIB: i64 = 8192;

/// How a [`Store`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How long to wait for another process's lock before failing with
    /// [`Error::Locked`]. Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The path and timeout, for error context.
#[derive(Debug)]
pub(crate) struct Ctx {
    path: PathBuf,
    timeout_ms: u64,
}

impl Ctx {
    pub(crate) fn err(&self, context: &'static str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| Error::sqlite(&self.path, context, self.timeout_ms, e)
    }

    fn bad(&self, table: &'static str, id: i64, what: impl Into<String>) -> Error {
        Error::BadRow {
            path: self.path.clone(),
            table,
            id,
            what: what.into(),
        }
    }
}

/// The ban store: every deny, allow and ignore entry, and the history of
/// ended entries, in an SQLite database (WAL mode).
///
/// One `Store` is one connection; it is `Send` but not `Sync`. Several
/// processes (the daemon and CLI commands) may open the same file: readers
/// never block and are never blocked (WAL); writers wait up to
/// [`Options::busy_timeout`] for each other.
///
/// Time is injected: every method that needs "now" takes it, and
/// [`Store::add`] uses the entry's `created`.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) ctx: Ctx,
}

const ENTRY_COLS: &str = "id, kind, target, reason, rule, summary, evidence, country, origin, \
     comment, since, created, expires, level";
const HISTORY_COLS: &str = "entry_id, kind, target, reason, rule, summary, evidence, country, \
     origin, comment, since, created, expires, level";
const HISTORY_SELECT: &str = "history_id, entry_id, kind, target, reason, rule, summary, \
     evidence, country, origin, comment, since, created, expires, level, ended, end_reason, \
     ended_by, end_comment, successor";
const IN_FORCE: &str = "(expires IS NULL OR expires > ?1)";

/// A row as SQLite gives it, before validation.
struct RawEntry {
    id: i64,
    kind: String,
    target: String,
    reason: String,
    rule: Option<String>,
    summary: String,
    evidence: String,
    country: Option<String>,
    origin: String,
    comment: Option<String>,
    since: i64,
    created: i64,
    expires: Option<i64>,
    level: Option<i64>,
}

impl RawEntry {
    /// Reads the 14 entry columns starting at `at`.
    fn read(row: &Row<'_>, at: usize) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            id: row.get(at)?,
            kind: row.get(at + 1)?,
            target: row.get(at + 2)?,
            reason: row.get(at + 3)?,
            rule: row.get(at + 4)?,
            summary: row.get(at + 5)?,
            evidence: row.get(at + 6)?,
            country: row.get(at + 7)?,
            origin: row.get(at + 8)?,
            comment: row.get(at + 9)?,
            since: row.get(at + 10)?,
            created: row.get(at + 11)?,
            expires: row.get(at + 12)?,
            level: row.get(at + 13)?,
        })
    }

    fn into_entry(self, ctx: &Ctx, table: &'static str, row_id: i64) -> Result<Entry> {
        let kind = Kind::parse(&self.kind)
            .ok_or_else(|| ctx.bad(table, row_id, format!("unknown kind {:?}", self.kind)))?;
        let target = Net::parse(&self.target)
            .ok_or_else(|| ctx.bad(table, row_id, format!("bad target {:?}", self.target)))?;
        let origin = Origin::parse(&self.origin)
            .ok_or_else(|| ctx.bad(table, row_id, format!("unknown origin {:?}", self.origin)))?;
        let evidence: Vec<String> = serde_json::from_str(&self.evidence).map_err(|e| {
            ctx.bad(
                table,
                row_id,
                format!("evidence is not a JSON string array: {e}"),
            )
        })?;
        let level = self
            .level
            .map(u32::try_from)
            .transpose()
            .map_err(|_| ctx.bad(table, row_id, "level out of range"))?;
        Ok(Entry {
            id: self.id,
            kind,
            target,
            reason: self.reason,
            rule: self.rule,
            summary: self.summary,
            evidence,
            country: self.country,
            origin,
            comment: self.comment,
            since: self.since,
            created: self.created,
            expires: self.expires,
            level,
        })
    }
}

fn select_entries<P: Params>(
    conn: &Connection,
    ctx: &Ctx,
    tail: &str,
    params: P,
) -> Result<Vec<Entry>> {
    let sql = format!("SELECT {ENTRY_COLS} FROM entries {tail}");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(ctx.err("reading entries"))?;
    let raws = stmt
        .query_map(params, |r| RawEntry::read(r, 0))
        .map_err(ctx.err("reading entries"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(ctx.err("reading entries"))?;
    raws.into_iter()
        .map(|r| {
            let id = r.id;
            r.into_entry(ctx, "entries", id)
        })
        .collect()
}

/// `?2, ?3, …` for `n` parameters after the first.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies entries matching `filter` into history.
#[allow(clippy::too_many_arguments)]
fn archive(
    conn: &Connection,
    ctx: &Ctx,
    filter: &str,
    filter_params: &[Value],
    end: EndReason,
    ended: Option<Timestamp>,
    removal: &Removal,
    successor: Option<i64>,
) -> Result<usize> {
    // ?1..?5 are the ending; the filter's parameters follow from ?6.
    let sql = format!(
        "INSERT INTO history ({HISTORY_COLS}, ended, end_reason, ended_by, end_comment, successor) \
         SELECT {ENTRY_COLS}, COALESCE(?1, expires), ?2, ?3, ?4, ?5 FROM entries WHERE {filter}"
    );
    let mut values = vec![
        ended.map_or(Value::Null, Value::Integer),
        Value::Text(end.as_str().to_owned()),
        removal.by.clone().map_or(Value::Null, Value::Text),
        removal.comment.clone().map_or(Value::Null, Value::Text),
        successor.map_or(Value::Null, Value::Integer),
    ];
    values.extend_from_slice(filter_params);
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(ctx.err("recording history"))?;
    stmt.execute(rusqlite::params_from_iter(values))
        .map_err(ctx.err("recording history"))
}

fn delete_ids(conn: &Connection, ctx: &Ctx, ids: &[i64]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached("DELETE FROM entries WHERE id = ?1")
        .map_err(ctx.err("removing entries"))?;
    for id in ids {
        stmt.execute([id]).map_err(ctx.err("removing entries"))?;
    }
    Ok(())
}

fn archive_ids(
    conn: &Connection,
    ctx: &Ctx,
    ids: &[i64],
    end: EndReason,
    ended: Option<Timestamp>,
    removal: &Removal,
) -> Result<()> {
    for &id in ids {
        archive(
            conn,
            ctx,
            "id = ?6",
            &[Value::Integer(id)],
            end,
            ended,
            removal,
            None,
        )?;
    }
    delete_ids(conn, ctx, ids)
}

fn validate(e: &NewEntry) -> Result<()> {
    if let Some(exp) = e.expires
        && exp <= e.created
    {
        return Err(Error::Invalid {
            target: e.target.to_string(),
            what: format!(
                "expires ({exp}) is not after created ({}); a temporary entry must last at least a second",
                e.created
            ),
        });
    }
    Ok(())
}

/// Whether an entry ending at `new` outlasts one ending at `old`.
fn outlasts(new: Option<Timestamp>, old: Option<Timestamp>) -> bool {
    match (new, old) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(n), Some(o)) => n > o,
    }
}

fn evidence_json(e: &NewEntry) -> Result<String> {
    serde_json::to_string(&e.evidence).map_err(|err| Error::Invalid {
        target: e.target.to_string(),
        what: format!("evidence cannot be encoded: {err}"),
    })
}

fn insert_new(conn: &Connection, ctx: &Ctx, e: &NewEntry, target: &Net) -> Result<Option<i64>> {
    let (first, last) = bounds(target);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO entries (kind, target, family, prefix, first_addr, last_addr, reason, \
             rule, summary, evidence, country, origin, comment, since, created, expires, level) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16) \
             ON CONFLICT (target, kind) DO NOTHING",
        )
        .map_err(ctx.err("adding an entry"))?;
    let n = stmt
        .execute(params![
            e.kind.as_str(),
            target.to_string(),
            family(target),
            i64::from(target.prefix),
            first,
            last,
            e.reason,
            e.rule,
            e.summary,
            evidence_json(e)?,
            e.country,
            e.origin.as_str(),
            e.comment,
            e.created,
            e.expires,
            e.level.map(i64::from),
        ])
        .map_err(ctx.err("adding an entry"))?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

fn add_in(conn: &Connection, ctx: &Ctx, e: &NewEntry) -> Result<Added> {
    validate(e)?;
    let target = canonical(e.target);
    // The common case, a target not yet on this list: one statement.
    if let Some(id) = insert_new(conn, ctx, e, &target)? {
        return Ok(Added {
            id,
            action: AddAction::Inserted,
        });
    }
    let now = e.created;
    let Some(old) = select_entries(
        conn,
        ctx,
        "WHERE target = ?1 AND kind = ?2",
        params![target.to_string(), e.kind.as_str()],
    )?
    .into_iter()
    .next() else {
        return Err(Error::Invalid {
            target: target.to_string(),
            what: "the entry conflicted with one that cannot be found".into(),
        });
    };
    if !old.in_force(now) {
        // Expired but not yet swept: it ended at its expiry.
        archive_ids(
            conn,
            ctx,
            &[old.id],
            EndReason::Expired,
            None,
            &Removal::default(),
        )?;
        let id = insert_new(conn, ctx, e, &target)?.ok_or_else(|| Error::Invalid {
            target: target.to_string(),
            what: "the expired entry could not be replaced".into(),
        })?;
        return Ok(Added {
            id,
            action: AddAction::Inserted,
        });
    }
    if !outlasts(e.expires, old.expires) {
        return Ok(Added {
            id: old.id,
            action: AddAction::Kept {
                existing: Box::new(old),
            },
        });
    }
    let escalated = old.origin == Origin::Detector
        && e.origin == Origin::Detector
        && e.level.unwrap_or(0) > old.level.unwrap_or(0);
    let end = if escalated {
        EndReason::Escalated
    } else {
        EndReason::Replaced
    };
    archive(
        conn,
        ctx,
        "id = ?6",
        &[Value::Integer(old.id)],
        end,
        Some(now),
        &Removal::default(),
        Some(old.id),
    )?;
    let mut stmt = conn
        .prepare_cached(
            "UPDATE entries SET reason = ?1, rule = ?2, summary = ?3, evidence = ?4, \
             country = ?5, origin = ?6, comment = ?7, created = ?8, expires = ?9, \
             level = ?10 WHERE id = ?11",
        )
        .map_err(ctx.err("replacing an entry"))?;
    stmt.execute(params![
        e.reason,
        e.rule,
        e.summary,
        evidence_json(e)?,
        e.country,
        e.origin.as_str(),
        e.comment,
        e.created,
        e.expires,
        e.level.map(i64::from),
        old.id
    ])
    .map_err(ctx.err("replacing an entry"))?;
    Ok(Added {
        id: old.id,
        action: AddAction::Replaced {
            previous: Box::new(old),
        },
    })
}

/// One write: its own `BEGIN IMMEDIATE` transaction, or a savepoint when
/// the caller already holds one ([`Store::transaction`]), so that every
/// method can run inside a caller's transaction.
enum Write<'c> {
    Tx(rusqlite::Transaction<'c>),
    Savepoint(rusqlite::Savepoint<'c>),
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Write::Tx(t) => t,
            Write::Savepoint(s) => s,
        }
    }
}

impl Write<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        match self {
            Write::Tx(t) => t.commit(),
            Write::Savepoint(s) => s.commit(),
        }
    }
}

fn write_tx(conn: &mut Connection) -> rusqlite::Result<Write<'_>> {
    if conn.is_autocommit() {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .map(Write::Tx)
    } else {
        conn.savepoint().map(Write::Savepoint)
    }
}

impl Store {
    /// Opens (creating if needed, mode 0600) the database at `path` with
    /// default [`Options`], switches it to WAL and migrates its schema to
    /// [`SCHEMA_VERSION`]. The directory must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, Options::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        Store::open_at_version(path.as_ref(), options, SCHEMA_VERSION)
    }

    /// Opens and migrates up to `version` (tests build old databases with it).
    pub(crate) fn open_at_version(path: &Path, options: Options, version: i64) -> Result<Store> {
        let ctx = Ctx {
            path: path.to_path_buf(),
            timeout_ms: u64::try_from(options.busy_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        crate::statedir::check_database(path)?;
        create_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(ctx.err("opening the database"))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(ctx.err("setting the busy timeout"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(ctx.err("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::NoWal {
                path: ctx.path.clone(),
                mode,
            });
        }
        conn.pragma_update(None, "cache_size", -CACHE_KIB)
            .map_err(ctx.err("setting the cache size"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(ctx.err("setting synchronous mode"))?;
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(ctx.err("reading the application id"))?;
        if app != 0 && app != APPLICATION_ID {
            return Err(Error::Foreign {
                path: ctx.path.clone(),
                found: app,
                expected: APPLICATION_ID,
            });
        }
        if app == 0 {
            let version = schema::user_version(&conn).map_err(ctx.err("reading the schema"))?;
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                    [],
                    |r| r.get(0),
                )
                .map_err(ctx.err("reading the schema"))?;
            if version != 0 || tables != 0 {
                // An SQLite database of someone else's, without an id.
                return Err(Error::Foreign {
                    path: ctx.path.clone(),
                    found: 0,
                    expected: APPLICATION_ID,
                });
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(ctx.err("marking the database"))?;
        }
        schema::migrate_to(&mut conn, path, ctx.timeout_ms, version)?;
        Ok(Store { conn, ctx })
    }

    /// Runs `f` inside one write transaction (`BEGIN IMMEDIATE`: it waits
    /// for other writers, up to the busy timeout, and then no other
    /// process can write until it ends): committed when `f` returns `Ok`,
    /// rolled back when it returns `Err`. Every method called on the store
    /// inside `f` is part of the transaction. This is how a firewall
    /// change is recorded only if the kernel accepted it.
    ///
    /// # Errors
    ///
    /// `f`'s error, or the store's when the transaction cannot begin or
    /// commit (then nothing was recorded).
    pub fn transaction<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.ctx.err("starting a write"))?;
        match f(self) {
            Ok(v) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    Err(Error::sqlite(&self.ctx.path, "committing", self.ctx.timeout_ms, e).into())
                }
            },
            Err(e) => {
                // Nothing to roll back if SQLite already did (a failed
                // statement can end the transaction by itself).
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// SQLite's `PRAGMA data_version`: changes whenever another connection
    /// (another process) commits to the database, never for this
    /// connection's own commits. A cheap way for a cache of the entries
    /// to notice that it is stale.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(self.ctx.err("reading the data version"))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.ctx.path
    }

    /// The database's schema version (equal to [`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> Result<i64> {
        schema::user_version(&self.conn).map_err(self.ctx.err("reading the schema version"))
    }

    /// Adds an entry; returns the id of the entry in force for its target
    /// and what happened.
    ///
    /// There is at most one entry per (kind, target). When one exists:
    /// - if it has already expired (at `entry.created`), it goes to history
    ///   as expired and the new entry is inserted;
    /// - if the new entry lasts longer (permanent beats temporary, a later
    ///   expiry beats an earlier one), it replaces the existing entry's
    ///   record in place: the id and `since` stay, everything else is the
    ///   new decision's; the old record goes to history as `escalated`
    ///   (a detector ban replaced by a higher-level detector ban) or
    ///   `replaced`;
    /// - otherwise the existing entry is kept unchanged ([`AddAction::Kept`]):
    ///   adding never shortens a ban (unblock first to shorten one).
    ///
    /// `entry.created` is "now". A temporary entry must expire after it is
    /// created ([`Error::Invalid`] otherwise).
    pub fn add(&mut self, entry: &NewEntry) -> Result<Added> {
        let ctx = &self.ctx;
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let added = add_in(&tx, ctx, entry)?;
        tx.commit().map_err(ctx.err("committing an entry"))?;
        Ok(added)
    }

    /// Adds many entries in one transaction, each as [`Store::add`] (an
    /// entry may replace one added earlier in the same batch). All or
    /// nothing: on error no entry is stored.
    pub fn add_many(&mut self, entries: &[NewEntry]) -> Result<Vec<Added>> {
        let ctx = &self.ctx;
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            out.push(add_in(&tx, ctx, e)?);
        }
        tx.commit().map_err(ctx.err("committing entries"))?;
        Ok(out)
    }

    /// Records one pass of the daemon as one fact: the entries it decided
    /// and the read positions of the sources up to which those decisions
    /// were made, in one transaction. After a crash at any instant either
    /// both are stored or neither, so re-reading from the stored positions
    /// neither repeats a recorded ban nor loses one.
    pub fn record_pass(
        &mut self,
        entries: &[NewEntry],
        positions: &[(String, String)],
        now: Timestamp,
    ) -> Result<Vec<Added>> {
        let ctx = &self.ctx;
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            out.push(add_in(&tx, ctx, e)?);
        }
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO positions (source, value, updated) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (source) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                )
                .map_err(ctx.err("saving read positions"))?;
            for (source, value) in positions {
                st.execute(params![source, value, now])
                    .map_err(ctx.err("saving read positions"))?;
            }
        }
        tx.commit().map_err(ctx.err("committing a pass"))?;
        Ok(out)
    }

    /// Changes how long writes wait for another process's lock (the daemon
    /// waits long at start, then only briefly: a locked database must not
    /// hold up the kernel).
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.conn
            .busy_timeout(timeout)
            .map_err(self.ctx.err("setting the busy timeout"))?;
        self.ctx.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        Ok(())
    }

    /// The read positions saved by [`Store::record_pass`], by source.
    pub fn positions(&self) -> Result<Vec<(String, String)>> {
        let ctx = &self.ctx;
        let mut st = self
            .conn
            .prepare_cached("SELECT source, value FROM positions ORDER BY source")
            .map_err(ctx.err("reading read positions"))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(ctx.err("reading read positions"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ctx.err("reading read positions"))
    }

    /// The entry with this id, if it is still stored (in force or expired
    /// but not yet swept).
    pub fn get(&self, id: i64) -> Result<Option<Entry>> {
        Ok(
            select_entries(&self.conn, &self.ctx, "WHERE id = ?1", [id])?
                .into_iter()
                .next(),
        )
    }

    /// The entry of `kind` for exactly `target`, if stored.
    pub fn find(&self, kind: Kind, target: Net) -> Result<Option<Entry>> {
        let key = canonical(target).to_string();
        Ok(select_entries(
            &self.conn,
            &self.ctx,
            "WHERE target = ?1 AND kind = ?2",
            params![key, kind.as_str()],
        )?
        .into_iter()
        .next())
    }

    /// Removes the `kind` entry for exactly `target` (moving it to history
    /// as `removed`, with `removal`'s who and comment); returns it, or
    /// `None` if there was none.
    pub fn remove(
        &mut self,
        kind: Kind,
        target: Net,
        removal: &Removal,
        now: Timestamp,
    ) -> Result<Option<Entry>> {
        let ctx = &self.ctx;
        let key = canonical(target).to_string();
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let found = select_entries(
            &tx,
            ctx,
            "WHERE target = ?1 AND kind = ?2",
            params![key, kind.as_str()],
        )?;
        let ids: Vec<i64> = found.iter().map(|e| e.id).collect();
        archive_ids(&tx, ctx, &ids, EndReason::Removed, Some(now), removal)?;
        tx.commit().map_err(ctx.err("committing a removal"))?;
        Ok(found.into_iter().next())
    }

    /// Unblocks `target`: removes the deny entry (temporary or permanent)
    /// whose target is exactly `target`, moving it to history as
    /// `unblocked`. Deny entries for wider networks containing it, and
    /// for narrower ones inside it, are not removed: they are reported so
    /// the caller can tell the admin the address is still blocked (or
    /// offer to unblock them too). Allow and ignore entries are untouched.
    pub fn unblock(&mut self, target: Net, removal: &Removal, now: Timestamp) -> Result<Unblocked> {
        let ctx = &self.ctx;
        let target = canonical(target);
        let key = target.to_string();
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let removed = select_entries(
            &tx,
            ctx,
            "WHERE target = ?1 AND kind = 'deny'",
            params![key],
        )?;
        let ids: Vec<i64> = removed.iter().map(|e| e.id).collect();
        archive_ids(&tx, ctx, &ids, EndReason::Unblocked, Some(now), removal)?;
        let covering = covering_in(&tx, ctx, target.addr, now)?
            .into_iter()
            .filter(|e| e.kind == Kind::Deny && e.target.prefix < target.prefix)
            .collect();
        let inside = if target.is_host() {
            Vec::new()
        } else {
            let (first, last) = bounds(&target);
            select_entries(
                &tx,
                ctx,
                &format!(
                    "WHERE {IN_FORCE} AND kind = 'deny' AND family = ?2 AND first_addr >= ?3 \
                     AND first_addr <= ?4 AND prefix > ?5 ORDER BY first_addr, prefix"
                ),
                params![now, family(&target), first, last, i64::from(target.prefix)],
            )?
            .into_iter()
            .filter(|e| within(&e.target, &target))
            .collect()
        };
        tx.commit().map_err(ctx.err("committing an unblock"))?;
        Ok(Unblocked {
            removed,
            covering,
            inside,
        })
    }

    /// Removes every entry (of `kind`, or of all kinds), moving them to
    /// history as `flushed`; returns how many.
    pub fn flush(&mut self, kind: Option<Kind>, removal: &Removal, now: Timestamp) -> Result<u64> {
        let ctx = &self.ctx;
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let kind_value = kind.map_or(Value::Null, |k| Value::Text(k.as_str().to_owned()));
        archive(
            &tx,
            ctx,
            "(?6 IS NULL OR kind = ?6)",
            std::slice::from_ref(&kind_value),
            EndReason::Flushed,
            Some(now),
            removal,
            None,
        )?;
        let n = tx
            .execute(
                "DELETE FROM entries WHERE (?1 IS NULL OR kind = ?1)",
                [kind_value],
            )
            .map_err(ctx.err("flushing entries"))?;
        tx.commit().map_err(ctx.err("committing a flush"))?;
        Ok(n as u64)
    }

    /// Entries in force at `now` matching `filter`, oldest first.
    /// (Entries past their expiry are left out even before
    /// [`Store::expire`] moves them.)
    pub fn list(&self, filter: &ListFilter, now: Timestamp) -> Result<Vec<Entry>> {
        let mut tail = format!("WHERE {IN_FORCE}");
        let mut values = vec![Value::Integer(now)];
        if let Some(kind) = filter.kind {
            values.push(Value::Text(kind.as_str().to_owned()));
            tail.push_str(&format!(" AND kind = ?{}", values.len()));
        }
        if let Some(origin) = filter.origin {
            values.push(Value::Text(origin.as_str().to_owned()));
            tail.push_str(&format!(" AND origin = ?{}", values.len()));
        }
        match filter.permanence {
            Permanence::Any => {}
            Permanence::Temporary => tail.push_str(" AND expires IS NOT NULL"),
            Permanence::Permanent => tail.push_str(" AND expires IS NULL"),
        }
        tail.push_str(" ORDER BY id");
        select_entries(
            &self.conn,
            &self.ctx,
            &tail,
            rusqlite::params_from_iter(values),
        )
    }

    /// Every entry in force at `now` (any kind) whose network contains
    /// `ip`: the address itself and every CIDR around it. Most specific
    /// first, then allow, deny, ignore. This is what `rampart why` shows.
    pub fn covering(&self, ip: IpAddr, now: Timestamp) -> Result<Vec<Entry>> {
        covering_in(&self.conn, &self.ctx, ip, now)
    }

    /// Moves every entry that has expired by `now` to history as
    /// `expired` (ended at its expiry time); returns them.
    pub fn expire(&mut self, now: Timestamp) -> Result<Vec<Entry>> {
        let ctx = &self.ctx;
        let tx = write_tx(&mut self.conn).map_err(ctx.err("starting a write"))?;
        let gone = select_entries(
            &tx,
            ctx,
            "WHERE expires IS NOT NULL AND expires <= ?1 ORDER BY expires, id",
            [now],
        )?;
        if !gone.is_empty() {
            archive(
                &tx,
                ctx,
                "expires IS NOT NULL AND expires <= ?6",
                &[Value::Integer(now)],
                EndReason::Expired,
                None,
                &Removal::default(),
                None,
            )?;
            tx.execute(
                "DELETE FROM entries WHERE expires IS NOT NULL AND expires <= ?1",
                [now],
            )
            .map_err(ctx.err("removing expired entries"))?;
        }
        tx.commit().map_err(ctx.err("committing expiry"))?;
        Ok(gone)
    }

    /// What the kernel should hold at `now`: every entry in force, with
    /// the seconds it has left (its element timeout). Light records
    /// without evidence, in id order.
    pub fn active(&self, now: Timestamp) -> Result<Vec<Active>> {
        let ctx = &self.ctx;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, kind, target, origin, expires FROM entries WHERE {IN_FORCE} ORDER BY id"
            ))
            .map_err(ctx.err("reading active entries"))?;
        let rows = stmt
            .query_map([now], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(ctx.err("reading active entries"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, target, origin, expires) =
                row.map_err(ctx.err("reading active entries"))?;
            let kind = Kind::parse(&kind)
                .ok_or_else(|| ctx.bad("entries", id, format!("unknown kind {kind:?}")))?;
            let target = Net::parse(&target)
                .ok_or_else(|| ctx.bad("entries", id, format!("bad target {target:?}")))?;
            let origin = Origin::parse(&origin)
                .ok_or_else(|| ctx.bad("entries", id, format!("unknown origin {origin:?}")))?;
            out.push(Active {
                id,
                kind,
                target,
                origin,
                expires,
                remaining: expires.map(|e| u64::try_from(e - now).unwrap_or(0)),
            });
        }
        Ok(out)
    }

    /// Ended entries whose network contains `ip`, most recently ended first.
    pub fn history_for(&self, ip: IpAddr) -> Result<Vec<HistoryRecord>> {
        let keys = containing_keys(ip);
        let sql = format!(
            "SELECT {HISTORY_SELECT} FROM history WHERE target IN ({}) \
             ORDER BY ended DESC, history_id DESC",
            placeholders(1, keys.len())
        );
        self.select_history(&sql, rusqlite::params_from_iter(keys))
    }

    /// The history records of entry `id` (every record it had before it
    /// was replaced or ended), most recently ended first.
    pub fn history_of_entry(&self, id: i64) -> Result<Vec<HistoryRecord>> {
        let sql = format!(
            "SELECT {HISTORY_SELECT} FROM history WHERE entry_id = ?1 \
             ORDER BY ended DESC, history_id DESC"
        );
        self.select_history(&sql, rusqlite::params![id])
    }

    fn select_history<P: Params>(&self, sql: &str, params: P) -> Result<Vec<HistoryRecord>> {
        let ctx = &self.ctx;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(ctx.err("reading history"))?;
        type Tail = (
            i64,
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows = stmt
            .query_map(params, |r| {
                let hid: i64 = r.get(0)?;
                let raw = RawEntry::read(r, 1)?;
                let tail: Tail = (
                    hid,
                    r.get(15)?,
                    r.get(16)?,
                    r.get(17)?,
                    r.get(18)?,
                    r.get(19)?,
                );
                Ok((raw, tail))
            })
            .map_err(ctx.err("reading history"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ctx.err("reading history"))?;
        rows.into_iter()
            .map(|(raw, (hid, ended, end, by, comment, successor))| {
                let end = EndReason::parse(&end)
                    .ok_or_else(|| ctx.bad("history", hid, format!("unknown end {end:?}")))?;
                Ok(HistoryRecord {
                    history_id: hid,
                    entry: raw.into_entry(ctx, "history", hid)?,
                    ended,
                    end,
                    by,
                    comment,
                    successor,
                })
            })
            .collect()
    }

    /// Counts for `rampart status`: entries in force at `now` per list,
    /// temporary and permanent; deny entries per origin; entries past
    /// their expiry not yet swept; history records.
    pub fn counts(&self, now: Timestamp) -> Result<Counts> {
        let ctx = &self.ctx;
        let err = ctx.err("counting entries");
        let mut counts = Counts::default();
        {
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT kind, expires IS NULL, count(*) FROM entries WHERE {IN_FORCE} \
                     GROUP BY 1, 2"
                ))
                .map_err(&err)?;
            let rows = stmt
                .query_map([now], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(&err)?;
            for row in rows {
                let (kind, permanent, n) = row.map_err(&err)?;
                let slot: &mut KindCounts = match Kind::parse(&kind) {
                    Some(Kind::Deny) => &mut counts.deny,
                    Some(Kind::Allow) => &mut counts.allow,
                    Some(Kind::Ignore) => &mut counts.ignore,
                    None => continue,
                };
                let n = u64::try_from(n).unwrap_or(0);
                if permanent {
                    slot.permanent += n;
                } else {
                    slot.temporary += n;
                }
            }
        }
        {
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT origin, count(*) FROM entries WHERE {IN_FORCE} AND kind = 'deny' \
                     GROUP BY 1 ORDER BY 1"
                ))
                .map_err(&err)?;
            let rows = stmt
                .query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(&err)?;
            for row in rows {
                let (origin, n) = row.map_err(&err)?;
                if let Some(o) = Origin::parse(&origin) {
                    counts
                        .deny_by_origin
                        .push((o, u64::try_from(n).unwrap_or(0)));
                }
            }
        }
        let pending: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM entries WHERE expires IS NOT NULL AND expires <= ?1",
                [now],
                |r| r.get(0),
            )
            .map_err(&err)?;
        let history: i64 = self
            .conn
            .query_row("SELECT count(*) FROM history", [], |r| r.get(0))
            .map_err(&err)?;
        counts.expired_pending = u64::try_from(pending).unwrap_or(0);
        counts.history = u64::try_from(history).unwrap_or(0);
        Ok(counts)
    }

    /// How many detector bans of exactly `target` were decided at or
    /// after `since`: the entry in force, expired ones, and replaced or
    /// escalated records. Bans that an admin unblocked, and flushed ones,
    /// do not count (an unblock says the ban was a mistake). This is the
    /// `earlier` count for `BanPolicy::length`, surviving restarts.
    pub fn bans_in_window(&self, target: Net, since: Timestamp) -> Result<u32> {
        let key = canonical(target).to_string();
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM entries WHERE target = ?1 AND kind = 'deny' \
                   AND origin = 'detector' AND created >= ?2) \
                 + (SELECT count(*) FROM history WHERE target = ?1 AND kind = 'deny' \
                   AND origin = 'detector' AND created >= ?2 \
                   AND end_reason NOT IN ('unblocked', 'flushed'))",
            )
            .and_then(|mut s| s.query_row(params![key, since], |r| r.get(0)))
            .map_err(self.ctx.err("counting earlier bans"))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Deletes history records that ended before `before`; returns how many.
    pub fn prune_history(&mut self, before: Timestamp) -> Result<u64> {
        let n = self
            .conn
            .execute("DELETE FROM history WHERE ended < ?1", [before])
            .map_err(self.ctx.err("pruning history"))?;
        Ok(n as u64)
    }

    /// SQLite's `quick_check`: an empty list when the file is sound,
    /// otherwise the problems found.
    pub fn quick_check(&self) -> Result<Vec<String>> {
        let ctx = &self.ctx;
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(ctx.err("checking the database"))?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(ctx.err("checking the database"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ctx.err("checking the database"))?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    /// Closes the connection, reporting any error (dropping the store
    /// closes it too, silently).
    pub fn close(self) -> Result<()> {
        let Store { conn, ctx } = self;
        conn.close()
            .map_err(|(_, e)| Error::sqlite(&ctx.path, "closing", ctx.timeout_ms, e))
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn covering_in(conn: &Connection, ctx: &Ctx, ip: IpAddr, now: Timestamp) -> Result<Vec<Entry>> {
    let keys = containing_keys(ip);
    let mut values = vec![Value::Integer(now)];
    values.extend(keys.into_iter().map(Value::Text));
    let tail = format!(
        "WHERE {IN_FORCE} AND target IN ({})",
        placeholders(2, values.len() - 1)
    );
    let mut out = select_entries(conn, ctx, &tail, rusqlite::params_from_iter(values))?;
    let rank = |k: Kind| match k {
        Kind::Allow => 0,
        Kind::Deny => 1,
        Kind::Ignore => 2,
    };
    out.sort_by_key(|e| (std::cmp::Reverse(e.target.prefix), rank(e.kind), e.id));
    Ok(out)
}

/// Creates the file with mode 0600 if it does not exist (the evidence
/// lines name accounts); SQLite gives its -wal and -shm files the same mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::Open {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Listing one kind (the daemon reads the allow and ignore lists after
    /// every commit of another connection) searches the kind index
    /// instead of scanning every ban.
    #[test]
    fn one_kind_is_listed_through_its_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("rampart.db")).expect("open");
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {ENTRY_COLS} FROM entries WHERE {IN_FORCE} AND kind = ?2 ORDER BY id"
        );
        let mut stmt = store.conn().prepare(&sql).expect("prepare");
        let plan: Vec<String> = stmt
            .query_map(params![0, "allow"], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert!(
            plan.iter().any(|p| p.contains("USING INDEX entries_kind")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }

    /// A database written by a version-1 Rampart (no escalation levels)
    /// is migrated on open, keeping its entries and history.
    #[test]
    fn migrates_a_v1_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rampart.db");
        {
            let v1 = Store::open_at_version(&path, Options::default(), 1).expect("open v1");
            assert_eq!(v1.schema_version().expect("version"), 1);
            let conn = v1.conn();
            // What a v1 build wrote: no `level` column yet.
            conn.execute_batch(
                r#"
INSERT INTO entries (kind, target, family, prefix, first_addr, last_addr, reason, rule,
    summary, evidence, country, origin, comment, since, created, expires)
VALUES ('deny', '198.51.100.0/24', 4, 24, x'c6336400', x'c63364ff', 'sshd', 'sshd.failed_auth',
    '(sshd) Failed SSH login', '["line 1","line 2"]', 'NL', 'detector', NULL, 100, 100, 4000),
    ('allow', '2001:db8::1', 6, 128, x'20010db8000000000000000000000001',
    x'20010db8000000000000000000000001', 'manual', NULL, '', '[]', NULL, 'manual', 'office', 50, 50, NULL);
INSERT INTO history (entry_id, kind, target, reason, rule, summary, evidence, country, origin,
    comment, since, created, expires, ended, end_reason, ended_by, end_comment, successor)
VALUES (7, 'deny', '198.51.100.7', 'sshd', NULL, 'old', '[]', NULL, 'detector', NULL,
    10, 10, 20, 20, 'expired', NULL, NULL, NULL);
"#,
            )
            .expect("v1 rows");
            let has_level: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'level'",
                    [],
                    |r| r.get(0),
                )
                .expect("table info");
            assert_eq!(has_level, 0);
        }
        let mut store = Store::open(&path).expect("open migrates");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let all = store.list(&ListFilter::default(), 200).expect("list");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].target.to_string(), "198.51.100.0/24");
        assert_eq!(all[0].evidence, vec!["line 1", "line 2"]);
        assert_eq!(all[0].level, None);
        assert_eq!(all[1].comment.as_deref(), Some("office"));
        let hist = store
            .history_for("198.51.100.7".parse().expect("ip"))
            .expect("history");
        assert_eq!(hist.len(), 1);
        assert_eq!(hist[0].entry.summary, "old");
        // The migrated schema takes v2 fields.
        let mut ban = NewEntry::new(
            Kind::Deny,
            Net::parse("198.51.100.0/24").expect("net"),
            Origin::Detector,
            "sshd",
            300,
            Some(90_000),
        );
        ban.level = Some(2);
        let added = store.add(&ban).expect("add");
        assert_eq!(added.id, all[0].id);
        assert!(matches!(added.action, AddAction::Replaced { .. }));
        assert_eq!(
            store.get(added.id).expect("get").and_then(|e| e.level),
            Some(2)
        );
        // Opening again is a no-op.
        drop(store);
        let again = Store::open(&path).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), SCHEMA_VERSION);
    }
}
