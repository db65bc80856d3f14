//! Typed errors. Every error names the database file and what the store
//! was doing, so an admin reading `rampart status` can act on it.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be created or opened at all (missing directory,
    /// permissions, read-only file system).
    #[error("cannot open the ban store {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Another process held the database lock for longer than the busy
    /// timeout.
    #[error(
        "the ban store {path} is locked by another process (gave up after {timeout_ms} ms) while {context}"
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The busy timeout that expired.
        timeout_ms: u64,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },

    /// The file is not an SQLite database, or its pages are damaged.
    #[error(
        "the ban store {path} is corrupt or not an SQLite database (while {context}): {source}; move it aside and run `rampart apply` to start a new one"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },

    /// The database (or a companion file) is a symlink, owned by another
    /// user or writable by others: it is refused before SQLite opens it.
    #[error("unsafe ban store: {0}")]
    Unsafe(#[from] crate::statedir::StateDirError),

    /// The file is an SQLite database of another program.
    #[error(
        "{path} is not a Rampart ban store (SQLite application_id {found:#010x}, expected {expected:#010x})"
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// The application id found in the file.
        found: i32,
        /// Rampart's application id.
        expected: i32,
    },

    /// SQLite refused WAL mode (some network file systems cannot share
    /// memory between processes).
    #[error(
        "the ban store {path} cannot use WAL mode (journal mode stays {mode}); put STATE_DIR on a local file system"
    )]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },

    /// The database was written by a newer Rampart (a downgrade).
    #[error(
        "the ban store {path} has schema version {found}, newer than this Rampart understands ({supported}); upgrade Rampart"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// A schema migration failed; the database stays at the previous version.
    #[error("the ban store {path}: migration to schema version {version} failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version being migrated to.
        version: i64,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },

    /// A row holds a value this build cannot read (edited by hand, or damaged).
    #[error("the ban store {path}: {table} row {id}: {what}")]
    BadRow {
        /// The database file.
        path: PathBuf,
        /// `entries` or `history`.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// What is wrong with it.
        what: String,
    },

    /// The caller passed an entry that cannot be stored.
    #[error("invalid entry for {target}: {what}")]
    Invalid {
        /// The entry's target.
        target: String,
        /// What is wrong with it.
        what: String,
    },

    /// Any other SQLite error.
    #[error("the ban store {path}: {context}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        context: &'static str,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },
}

impl Error {
    /// Classifies an SQLite error: lock contention and corruption get their
    /// own variants, everything else is [`Error::Sqlite`].
    pub(crate) fn sqlite(
        path: &std::path::Path,
        context: &'static str,
        timeout_ms: u64,
        source: rusqlite::Error,
    ) -> Error {
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Locked {
                path,
                context,
                timeout_ms,
                source,
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::Corrupt {
                path,
                context,
                source,
            },
            _ => Error::Sqlite {
                path,
                context,
                source,
            },
        }
    }

    /// Whether this is lock contention (worth retrying later).
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Locked { .. })
    }

    /// Whether the database file is damaged or not a database.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}
