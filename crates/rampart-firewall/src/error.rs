//! Typed errors of firewall changes.

use rampart_nft::NftError;

/// What can go wrong in a firewall change. In every case nothing was
/// recorded in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The process may not change netfilter.
    #[error("needs root (CAP_NET_ADMIN)")]
    NotPermitted,
    /// The kernel refused the change; the store change was rolled back.
    #[error("the kernel refused the change, so nothing was recorded: {0}")]
    Kernel(#[source] NftError),
    /// The ruleset could not be loaded (the `nft` program failed).
    #[error("cannot load the ruleset of table inet rampart: {0}")]
    Ruleset(#[source] NftError),
    /// Rampart's table is not in the kernel (removed by `flush` or by
    /// hand); a resync rebuilds it.
    #[error("table inet rampart is not loaded")]
    TableMissing,
    /// The kernel's sets could not be read.
    #[error("cannot read the kernel's sets: {0}")]
    Read(#[source] NftError),
    /// The store failed (locked, corrupt, unwritable).
    #[error(transparent)]
    Store(#[from] rampart_store::Error),
    /// The configuration or a blocklist definition cannot become a ruleset.
    #[error("{0}")]
    Layout(String),
    /// A value the caller gave is not acceptable (checked before anything
    /// is written).
    #[error("{0}")]
    Invalid(String),
    /// A blocklist or country database could not be read.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// A kernel error, classified: lack of privilege becomes
    /// [`Error::NotPermitted`].
    pub(crate) fn kernel(e: NftError) -> Error {
        if e.is_permission() {
            Error::NotPermitted
        } else {
            Error::Kernel(e)
        }
    }

    pub(crate) fn read(e: NftError) -> Error {
        if e.is_permission() {
            Error::NotPermitted
        } else {
            Error::Read(e)
        }
    }

    pub(crate) fn ruleset(e: NftError) -> Error {
        match &e {
            NftError::Nft { stderr, .. } if stderr.contains("Operation not permitted") => {
                Error::NotPermitted
            }
            _ if e.is_permission() => Error::NotPermitted,
            _ => Error::Ruleset(e),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
