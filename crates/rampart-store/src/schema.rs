//! Versioned schema migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`; the file is
//! marked as Rampart's with `PRAGMA application_id`. [`MIGRATIONS`] is
//! ordered: migration `n` takes a database from version `n - 1` to `n`.
//! Each runs in its own `BEGIN IMMEDIATE` transaction together with the
//! version bump, so a failed or interrupted migration leaves the database
//! at the previous version, and two processes opening an old database at
//! once migrate it exactly once. Never edit a released migration: append
//! a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Rampart's SQLite `application_id` ("RPMT").
pub const APPLICATION_ID: i32 = 0x5250_4d54;

/// One schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version this migration produces.
    pub version: i64,
    /// What it changes.
    pub description: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "entries (deny, allow, ignore) and their history",
        sql: r#"
CREATE TABLE entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: history refers to it
    kind       TEXT    NOT NULL CHECK (kind IN ('deny', 'allow', 'ignore')),
    target     TEXT    NOT NULL,             -- canonical address or CIDR
    family     INTEGER NOT NULL CHECK (family IN (4, 6)),
    prefix     INTEGER NOT NULL,
    first_addr BLOB    NOT NULL,             -- big-endian, 4 or 16 bytes
    last_addr  BLOB    NOT NULL,
    reason     TEXT    NOT NULL,             -- reason code
    rule       TEXT,                         -- rule id
    summary    TEXT    NOT NULL DEFAULT '',  -- admin summary (reason text)
    evidence   TEXT    NOT NULL DEFAULT '[]', -- JSON array of log lines
    country    TEXT,
    origin     TEXT    NOT NULL CHECK (origin IN ('detector', 'manual', 'blocklist', 'country', 'cluster')),
    comment    TEXT,
    since      INTEGER NOT NULL,             -- continuously on the list since
    created    INTEGER NOT NULL,             -- this record's decision time
    expires    INTEGER                       -- NULL: permanent
) STRICT;
CREATE UNIQUE INDEX entries_target_kind ON entries (target, kind);
CREATE INDEX entries_expires ON entries (expires) WHERE expires IS NOT NULL;
CREATE INDEX entries_range ON entries (family, first_addr);

CREATE TABLE history (
    history_id  INTEGER PRIMARY KEY,
    entry_id    INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    rule        TEXT,
    summary     TEXT    NOT NULL,
    evidence    TEXT    NOT NULL,
    country     TEXT,
    origin      TEXT    NOT NULL,
    comment     TEXT,
    since       INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    expires     INTEGER,
    ended       INTEGER NOT NULL,
    end_reason  TEXT    NOT NULL CHECK (end_reason IN ('expired', 'unblocked', 'removed', 'replaced', 'escalated', 'flushed')),
    ended_by    TEXT,
    end_comment TEXT,
    successor   INTEGER                      -- entry that replaced this record
) STRICT;
CREATE INDEX history_target ON history (target, ended);
CREATE INDEX history_ended ON history (ended);
"#,
    },
    Migration {
        version: 2,
        description: "escalation level of detector bans; ban-window index",
        sql: r#"
ALTER TABLE entries ADD COLUMN level INTEGER;
ALTER TABLE history ADD COLUMN level INTEGER;
DROP INDEX history_target;
CREATE INDEX history_window ON history (target, kind, created);
"#,
    },
    Migration {
        version: 3,
        description: "read positions of the daemon's sources, committed with the bans they led to",
        sql: r#"
CREATE TABLE positions (
    source  TEXT PRIMARY KEY,   -- 'file:/var/log/auth.log', 'journal'
    value   TEXT NOT NULL,      -- the source's own JSON (file identity and offset, or cursor)
    updated INTEGER NOT NULL
) STRICT;
"#,
    },
    // FLEET OUTBOX (branch `fleet`): the lead renumbers at merge if another
    // migration 4 lands first.
    Migration {
        version: 4,
        description: "fleet outbox: decisions waiting for NATS (bounded, oldest dropped first)",
        sql: r#"
CREATE TABLE fleet_outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT, -- publication order
    subject TEXT    NOT NULL,                  -- the NATS subject
    msg_id  TEXT    NOT NULL,                  -- Nats-Msg-Id (JetStream de-duplication)
    payload BLOB    NOT NULL,                  -- the signed decision
    created INTEGER NOT NULL
) STRICT;
"#,
    },
    // API AND CONSOLE (branch `api`): the lead renumbers at merge if
    // another migration 5 lands first.
    Migration {
        version: 5,
        description: "API tokens (hashed, with a scope) and console users (argon2 password hashes)",
        sql: r#"
CREATE TABLE api_tokens (
    name      TEXT PRIMARY KEY,          -- the administrator's label
    scope     TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    hash      TEXT NOT NULL UNIQUE,      -- SHA-256 of the token, hex (the token itself is never kept)
    created   INTEGER NOT NULL
) STRICT;
CREATE TABLE console_users (
    name     TEXT PRIMARY KEY,
    password TEXT NOT NULL,              -- argon2id PHC string
    created  INTEGER NOT NULL
) STRICT;
"#,
    },
    Migration {
        version: 6,
        description: "entries by kind (the allow and ignore lists are read without scanning every ban)",
        sql: r#"
CREATE INDEX entries_kind ON entries (kind);
"#,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Brings the database to `target` (at most [`SCHEMA_VERSION`]); returns
/// the version found before.
pub(crate) fn migrate_to(
    conn: &mut Connection,
    path: &Path,
    timeout_ms: u64,
    target: i64,
) -> Result<i64> {
    let sq = |context| move |e| Error::sqlite(path, context, timeout_ms, e);
    let found = user_version(conn).map_err(sq("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Only a database that needs a migration takes the write lock.
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > found && m.version <= target)
    {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq("starting a schema migration"))?;
        // Re-read under the write lock: another process may have migrated.
        let current = user_version(&tx).map_err(sq("reading the schema version"))?;
        if current >= m.version {
            continue;
        }
        let mig = |source| match Error::sqlite(path, "migrating", timeout_ms, source) {
            e @ (Error::Locked { .. } | Error::Corrupt { .. }) => e,
            Error::Sqlite { source, .. } => Error::Migration {
                path: path.to_path_buf(),
                version: m.version,
                source,
            },
            e => e,
        };
        tx.execute_batch(m.sql).map_err(mig)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(mig)?;
        tx.commit().map_err(mig)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
    }
}
