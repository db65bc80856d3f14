//! `rampart`: the command-line front end and I/O shell around
//! `rampart-core`. The binary (`main.rs`) only parses the command line and
//! dispatches here:
//!
//! - detection offline: [`commands::scan`], [`commands::rules`], [`settings`] (config check);
//! - the firewall commands: [`commands`] (lists, why, apply, blocklists)
//!   over `rampart-firewall`, with [`fw`] the shared context;
//! - migration: [`import`] (`rampart import csf|fail2ban`);
//! - the daemon: [`daemon`] (`rampart run`) and its control socket client
//!   [`ctl`].

pub mod cli;
pub mod commands;
pub mod ctl;
pub mod daemon;
pub mod fleet_cmd;
pub mod fw;
pub mod import;
pub mod input;
pub mod settings;
pub mod views;

/// Exit codes (sysexits-style where one fits).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran, but found problems (failed vectors, unreadable inputs, config errors).
    pub const FOUND_PROBLEMS: u8 = 1;
    /// Usage error (bad arguments).
    pub const USAGE: u8 = 2;
    /// Configuration error (sysexits EX_CONFIG).
    pub const CONFIG: u8 = 78;
    /// Other failure (sysexits EX_SOFTWARE).
    pub const SOFTWARE: u8 = 70;
    /// Needs root / CAP_NET_ADMIN (sysexits EX_NOPERM).
    pub const NOPERM: u8 = 77;
}
