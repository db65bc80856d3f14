//! Typed errors of the nftables backend.

use std::io;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// An address, CIDR or range could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    Address {
        /// The text that was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A CSF-style advanced filter could not be parsed.
    #[error("invalid filter {input:?}: {reason}")]
    Filter {
        /// The whole filter text.
        input: String,
        /// Which field is wrong and what is accepted.
        reason: String,
    },
    /// A ruleset setting is invalid (a port, a list name...).
    #[error("invalid ruleset: {0}")]
    Ruleset(String),
    /// Starting or talking to the `nft` program failed.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program that was started.
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// `nft` ran and refused the input.
    #[error("nft {action} failed (exit status {status}): {stderr}")]
    Nft {
        /// What we asked nft to do.
        action: String,
        /// Its exit status, `-1` when killed by a signal.
        status: i32,
        /// What it printed on standard error.
        stderr: String,
    },
    /// `nft -j` printed something we could not understand.
    #[error("cannot parse nft JSON output: {0}")]
    Json(String),
    /// A netlink socket operation failed.
    #[error("netlink {op}: {source}")]
    Socket {
        /// The socket call (socket, bind, send, recv, setsockopt).
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The kernel refused a message of a batch.
    #[error("kernel refused {op} on set {set:?}: {}{hint}", io::Error::from_raw_os_error(*.errno))]
    Kernel {
        /// The operation (add, delete, flush, list).
        op: &'static str,
        /// The set concerned (empty when unknown).
        set: String,
        /// The positive errno.
        errno: i32,
        /// A hint on the likely cause.
        hint: &'static str,
    },
    /// The kernel answered with a malformed or unexpected message.
    #[error("unexpected netlink answer: {0}")]
    Protocol(String),
    /// A set name is not one of ours or not valid.
    #[error("invalid set name {0:?}")]
    SetName(String),
}

/// This crate's result type.
pub type Result<T, E = NftError> = std::result::Result<T, E>;

impl NftError {
    /// Whether the kernel said the set (or table) does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, NftError::Kernel { errno, .. } if *errno == rustix::io::Errno::NOENT.raw_os_error())
    }

    /// Whether the kernel refused for lack of privilege (not root, no
    /// CAP_NET_ADMIN).
    pub fn is_permission(&self) -> bool {
        let perm = |e: i32| {
            e == rustix::io::Errno::PERM.raw_os_error()
                || e == rustix::io::Errno::ACCESS.raw_os_error()
        };
        match self {
            NftError::Kernel { errno, .. } => perm(*errno),
            NftError::Socket { source, .. } => source.raw_os_error().is_some_and(perm),
            _ => false,
        }
    }
}
