//! Command-line definition.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Rampart: host firewall and intrusion prevention for Linux servers";

const LONG_ABOUT: &str = "\
Rampart watches the logs of the services a server runs (SSH, mail, FTP, web, \
control panels), recognises attacks, and decides whom to block and why. Every \
block carries its reason, the evidence lines and a plain-language explanation.

This release ships offline analysis: `rampart scan` reads existing logs and \
reports who would be blocked, which is also the safe way to see what Rampart \
would do on your server before letting it block.";

const AFTER: &str = "\
FILES:
    /etc/rampart/rampart.toml   configuration (optional; every setting has a default)
    /etc/rampart/rules.d/*.toml your own detection rules (same format as the built-in ones)
    /var/lib/rampart            state directory

ENVIRONMENT:
    RAMPART_CONFIG      path of the configuration file (like --config)
    RAMPART_STATE_DIR   state directory (like --state-dir)

EXIT STATUS:
    0   success
    1   the command ran but found problems (unreadable inputs, failing rule vectors, config errors)
    2   usage error
    70  internal error
    78  the configuration is invalid

EXAMPLES:
    rampart scan /var/log/auth.log /var/log/mail.log*
    rampart scan --json /var/log/exim_mainlog | jq '.bans[].ip'
    rampart rules test 'Nov 27 08:15:00 web1 sshd[1]: Invalid user admin from 198.51.100.7 port 4242'
    rampart config check";

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file [default: /etc/rampart/rampart.toml; missing is fine]
    #[arg(long, global = true, env = "RAMPART_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// State directory (database, offsets, control socket)
    #[arg(
        long,
        global = true,
        env = "RAMPART_STATE_DIR",
        value_name = "DIR",
        default_value = "/var/lib/rampart"
    )]
    pub state_dir: PathBuf,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse existing logs offline: who would be blocked, and why
    #[command(
        long_about = "Analyse existing logs offline: who would be blocked, and why.

Reads files, globs, gzip-compressed rotated logs (*.gz) and standard input (-), \
in the order given (glob matches oldest first). Windows use the times written \
in the logs, so a scan of last week's log decides as the daemon would have. \
With no PATH, scans the standard log files of Debian/Ubuntu, RHEL-family and \
cPanel servers that exist on this machine.

Output: a report of the would-be bans with their reasons and evidence (default), \
one JSON object (--json), or one JSON object per attack event (--events)."
    )]
    Scan(ScanArgs),
    /// List and test detection rules
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Check the configuration
    #[command(subcommand)]
    Config(ConfigCmd),
}

/// Rule sources shared by commands that load rules.
#[derive(Debug, Args, Clone)]
pub struct RuleSources {
    /// Also load rules from this file or directory of *.toml (repeatable)
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rule pack (only --rules and rules.d)
    #[arg(long)]
    pub no_builtin: bool,
}

/// `rampart scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files, globs or - for standard input
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Print one JSON object: the would-be bans and a summary
    #[arg(long, conflicts_with = "events")]
    pub json: bool,
    /// Print NDJSON: one object per line that a rule recognises as an attack
    #[arg(long)]
    pub events: bool,
    /// Evidence lines shown per ban in the human report
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub evidence: usize,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// `rampart rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// List the detection rules
    List(RulesListArgs),
    /// Test log lines against the rules, or run the rules' test vectors
    #[command(
        long_about = "Test log lines against the rules, or run the rules' test vectors.

With LINEs or --file: prints, for each line, the rule that matched and what it \
captured (address, user, count), or that no rule did. Without: runs every \
rule's built-in test vectors (lines that must match and must not), the \
built-in pack's and those of --rules and rules.d, and exits 1 if any fails."
    )]
    Test(RulesTestArgs),
}

/// `rampart rules list`.
#[derive(Debug, Args)]
pub struct RulesListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// `rampart rules test`.
#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// Log lines to test
    #[arg(value_name = "LINE")]
    pub lines: Vec<String>,
    /// Read the lines to test from a file (- for standard input)
    #[arg(long, value_name = "F")]
    pub file: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// `rampart config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a configuration file and report every error at once
    Check(ConfigCheckArgs),
}

/// `rampart config check`.
#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// The file to check [default: --config, or /etc/rampart/rampart.toml]
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
