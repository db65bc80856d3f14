//! Command-line definition.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::LazyLock;

const ABOUT: &str = "Rampart: host firewall and intrusion prevention for Linux servers";

const LONG_ABOUT: &str = "\
Rampart watches the logs of the services a server runs (SSH, mail, FTP, web, \
control panels), recognises attacks, and decides whom to block and why. Every \
block carries its reason, the evidence lines and a plain-language explanation.

`rampart scan` reads existing logs and reports who would be blocked: the \
safe way to see what Rampart would do before letting it block. The \
firewall commands (deny, allow, ignore, unblock, why, apply, ...) manage \
Rampart's own nftables table, `inet rampart`, and never touch any other.";

const AFTER: &str = "\
FILES:
    /etc/rampart/rampart.toml   configuration (optional; every setting has a default)
    /etc/rampart/rules.d/*.toml your own detection rules (same format as the built-in ones)
    /var/lib/rampart            state directory

ENVIRONMENT:
    RAMPART_CONFIG      path of the configuration file (like --config)
    RAMPART_STATE_DIR   state directory (like --state-dir)

EXIT STATUS:
    0   success (`why`: the kernel blocks the address)
    1   the command ran but found problems (unreadable inputs, failing rule vectors, config errors,
        a refused deny/allow, nothing to unblock); `why`: the kernel does not block the address
    2   usage error (a bad address, a bad duration, a bad option)
    70  internal error (the kernel or the store failed; nothing was recorded)
    77  needs root (CAP_NET_ADMIN)
    78  the configuration is invalid

EXAMPLES:
    rampart scan /var/log/auth.log /var/log/mail.log*
    rampart scan --json /var/log/exim_mainlog | jq '.bans[].ip'
    rampart rules test 'Nov 27 08:15:00 web1 sshd[1]: Invalid user admin from 198.51.100.7 port 4242'
    rampart config check
    rampart deny 198.51.100.7 --for 2h --reason 'brute force on webmail'
    rampart why 198.51.100.7
    rampart apply --confirm 120 && rampart confirm";

/// `rampart --version`: the version, the git commit it was built from and
/// the built-in rule pack's version.
pub static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\ncommit {}\nrule pack {} ({} rules)",
        env!("CARGO_PKG_VERSION"),
        env!("RAMPART_GIT_COMMIT"),
        rampart_core::builtin::pack_version(),
        rampart_core::builtin::rule_count()
    )
});

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, long_version = LONG_VERSION.as_str(), about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER)]
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
    /// Make the running daemon reload its configuration and rules (as SIGHUP)
    Reload,
    /// Follow logs live and block attackers (the daemon; foreground)
    #[command(long_about = "Follow logs live and block attackers.

Loads the firewall (as `rampart apply`), then follows each --watch file (or, \
without --watch, the standard log files that exist) across rename and \
copytruncate rotations, recognises attacks with the same rules as `rampart \
scan`, and bans through the store and the kernel within milliseconds. \
Read positions are saved in STATE_DIR/offsets.json: after a restart no line \
is read twice and none is skipped, and the counters are rebuilt from the \
recent part of each log. SIGTERM/SIGINT stop it cleanly; bans stay in the \
kernel and expire there.")]
    Run(RunArgs),
    /// Block an address or CIDR (permanently, or --for a while)
    #[command(
        long_about = "Block an address or CIDR, permanently or --for a duration.

The entry is recorded in the store (STATE_DIR/rampart.db) and loaded into the \
kernel (table inet rampart) at once, over netlink. Lockout protection: without \
--force, Rampart refuses to deny loopback, this host's own addresses, \
allowlisted or ignored addresses, the SSH client running the command, and ranges that overlap loopback, link-local or multicast networks (127.0.0.0/8, 0.0.0.0/1, fe80::/10, ::1, ...).

Overlapping entries are fine: the kernel holds their union, each part with the longest time of the entries covering it. Denying an address again for a shorter time keeps the longer ban (and says so). With --json the result (or the error) is one JSON object."
    )]
    Deny(DenyArgs),
    /// Let an address or CIDR through the firewall (beats every deny)
    #[command(
        long_about = "Let an address or CIDR through the firewall, permanently or --for a duration.

An allowed address is accepted before any deny, blocklist or country rule, \
and is opened by the strict port policy. (To only stop detectors from \
blocking an address, without opening anything, use `rampart ignore`.)

`allow --remove ADDR` removes the allow entry. Very wide ranges (0.0.0.0/0, \
::/0, anything wider than an IPv4 /16 or an IPv6 /32) need --force."
    )]
    Allow(DenyArgs),
    /// Never let a detector block an address (the firewall is unchanged)
    #[command(long_about = "Never let a detector block an address or CIDR.

Unlike `allow`, `ignore` opens nothing: the port policy still applies to \
the address; only automatic blocks (failed logins, scans, ...) skip it.

`ignore --remove ADDR` removes the ignore entry. Very wide ranges need --force.")]
    Ignore(AddrArgs),
    /// Remove an address (and everything denied inside it) from the deny list
    #[command(
        long_about = "Lift the deny entries, temporary or permanent, for ADDR and for every \
address or network inside it, and print what was removed. Wider deny entries \
that still cover it are reported (unblock them by name). Exit status 1 when \
nothing was denied."
    )]
    Unblock(AddrArgs),
    /// Remove an address from the allow, ignore or deny lists (all, or those named)
    Remove(RemoveArgs),
    /// List deny, allow and ignore entries
    List(ListArgs),
    /// Say whether an address is blocked, since when, why, and what to do
    #[command(
        long_about = "Say whether an address is blocked or allowed, by which entry, since when \
and until when, the reason, the evidence lines, and the plain-language \
explanation and remedy to give the person who was blocked. Also checks \
blocklists and blocked countries, and shows earlier entries.

What the kernel enforces (a lookup of the address in the sets of table inet \
rampart) is shown next to what the store says. Like grep, the exit status \
is 0 when the kernel blocks the address and 1 when it does not.

ADDR may also be the reference code a blocked person read on the messenger \
page (RMP-17-KW21G4): the block it names, in force or ended, is shown."
    )]
    Why(ReadArgs),
    /// Make the kernel match the store and the configuration
    #[command(
        long_about = "Make the kernel match the store and the configuration, atomically: the \
ruleset of table inet rampart, then each list's contents with their \
remaining time. Expired entries move to history; entries deleted by hand \
from the kernel come back. No other table is touched.

With --confirm SECS the previous ruleset comes back by itself unless \
`rampart confirm` runs within SECS seconds (for remote changes)."
    )]
    Apply(ApplyArgs),
    /// Keep the ruleset loaded by `apply --confirm`
    Confirm,
    /// Remove Rampart's table from the kernel (only it; the store is kept)
    Flush(ApplyArgs),
    /// Summary of the firewall and the store
    Status(StatusArgs),
    /// The ruleset as the kernel has it (table inet rampart)
    ShowRules(StatusArgs),
    /// Known-malicious address lists
    #[command(subcommand)]
    Blocklist(BlocklistCmd),
    /// Bring a CSF or fail2ban set-up over (a dry run unless --apply)
    #[command(
        subcommand,
        long_about = "Bring a CSF or fail2ban set-up over to Rampart.

Reads the other tool's configuration and lists and prints, without changing \
anything: the rampart.toml it converts to (each setting commented with the \
CSF or fail2ban setting it came from), the allow/deny/ignore entries, and a \
report of what was converted, what has no equivalent and why, what Rampart \
does differently, and what is left to do by hand. --apply writes the \
configuration (--config, default /etc/rampart/rampart.toml; an existing file \
only with --force) and adds the entries to the store; `rampart apply` then \
enforces them."
    )]
    Import(ImportCmd),
    /// Share bans across servers through NATS JetStream ([fleet])
    #[command(subcommand)]
    Fleet(FleetCmd),
    /// API tokens for the HTTP API and metrics ([api])
    #[command(subcommand)]
    Api(ApiCmd),
    /// Users of the web console ([api])
    #[command(subcommand)]
    Console(ConsoleCmd),
    /// (internal) the rollback timer of `apply --confirm`
    #[command(name = "__rollback", hide = true)]
    Rollback(RollbackArgs),
}

/// `__rollback` (started by `apply --confirm`).
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Seconds to wait for `rampart confirm`
    #[arg(long)]
    pub after: u64,
}

/// `remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Address or CIDR, exactly as it was entered
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Only from the deny list
    #[arg(long)]
    pub deny: bool,
    /// Only from the allow list
    #[arg(long)]
    pub allow: bool,
    /// Only from the ignore list
    #[arg(long)]
    pub ignore: bool,
    /// A comment kept in the history
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Print the kernel operations instead of doing them (nothing is changed)
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rampart import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// CSF/LFD: csf.conf, csf.allow, csf.deny, csf.ignore, temporary bans, blocklists, dyndns, custom regexes
    Csf(ImportCsfArgs),
    /// fail2ban: jail.conf, jail.d/*.conf, jail.local and the active bans in its database
    Fail2ban(ImportFail2banArgs),
}

/// Options of every `rampart import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tool's configuration directory [default: /etc/csf, /etc/fail2ban]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Write the configuration and add the entries to the store
    #[arg(long)]
    pub apply: bool,
    /// With --apply: overwrite an existing configuration file
    #[arg(long, requires = "apply")]
    pub force: bool,
    /// Print JSON: the configuration text, the entries and the report
    #[arg(long)]
    pub json: bool,
}

/// `rampart import csf`.
#[derive(Debug, Args)]
pub struct ImportCsfArgs {
    #[command(flatten)]
    pub common: ImportArgs,
    /// CSF's state directory, with csf.tempban and csf.tempallow
    #[arg(long, value_name = "DIR", default_value = "/var/lib/csf")]
    pub var_dir: PathBuf,
}

/// `rampart import fail2ban`.
#[derive(Debug, Args)]
pub struct ImportFail2banArgs {
    #[command(flatten)]
    pub common: ImportArgs,
    /// fail2ban's database [default: dbfile of fail2ban.conf/.local]
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// `rampart fleet ...`.
#[derive(Debug, Subcommand)]
pub enum FleetCmd {
    /// Create this node's signing key (mode 0600) and print its public half
    Keygen(KeygenArgs),
    /// Connection state, lag, queue length and the last decision per node
    Status(StatusArgs),
}

/// `rampart api ...`.
#[derive(Debug, Subcommand)]
pub enum ApiCmd {
    /// Manage API tokens (`Authorization: Bearer TOKEN`)
    #[command(subcommand)]
    Token(TokenCmd),
}

/// `rampart api token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token and print it once (the store keeps only its hash)
    Add(TokenAddArgs),
    /// List tokens (names, scopes, creation times; never the tokens)
    List(StatusArgs),
    /// Remove a token: requests with it are refused from now on
    Remove(NameArgs),
}

/// `api token add`.
#[derive(Debug, Args)]
pub struct TokenAddArgs {
    /// A name for the token (who or what uses it: grafana, backup-script)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// read: status, lists, why, rules, metrics; write: also deny/allow/ignore/unblock
    #[arg(long, value_parser = ["read", "write"])]
    pub scope: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// A command taking one name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The name
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `rampart console ...`.
#[derive(Debug, Subcommand)]
pub enum ConsoleCmd {
    /// Manage console users (passwords stored as argon2id hashes)
    #[command(subcommand)]
    User(UserCmd),
}

/// `rampart console user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user, or set an existing user's password. The password is read
    /// from standard input when it is not a terminal (one line), otherwise
    /// asked for twice
    Add(NameArgs),
    /// List users
    List(StatusArgs),
    /// Remove a user (their sessions end at the daemon's next restart)
    Remove(NameArgs),
}

/// `fleet keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write it (default: [fleet] key, else /var/lib/rampart/fleet.key)
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Replace an existing key (peers must then trust the new public key)
    #[arg(long)]
    pub force: bool,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A log file to follow (repeatable; default: the standard logs that exist)
    #[arg(long, value_name = "PATH")]
    pub watch: Vec<String>,
    /// Also follow the systemd journal (default: when no syslog file exists)
    #[arg(long)]
    pub journal: bool,
    /// Log format: text (journald-friendly) or json
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// The journalctl program
    #[arg(long, value_name = "PATH", default_value = "journalctl", hide = true)]
    pub journalctl: String,
    /// Detect and record, but print the kernel operations instead of doing them
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// `deny` / `allow`.
#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Address or CIDR, IPv4 or IPv6
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// How long: 90s, 15m, 2h, 7d (default: permanent)
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why (deny) or a comment (allow), kept in the store and shown by `why`
    #[arg(long = "reason", visible_alias = "comment", value_name = "TEXT")]
    pub text: Option<String>,
    /// Deny a protected address (loopback, own, allowed, ignored, your SSH client), or allow a very wide range
    #[arg(long)]
    pub force: bool,
    /// Print the kernel operations instead of doing them (nothing is changed)
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the entry for ADDR instead (allow --remove; deny --remove is unblock)
    #[arg(long, conflicts_with_all = ["duration", "force"])]
    pub remove: bool,
    /// Print JSON (the result, or the error)
    #[arg(long)]
    pub json: bool,
}

/// Commands taking one address.
#[derive(Debug, Args)]
pub struct AddrArgs {
    /// Address or CIDR, IPv4 or IPv6
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// A comment kept in the store
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Print the kernel operations instead of doing them (nothing is changed)
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the entry for ADDR instead (ignore --remove)
    #[arg(long)]
    pub remove: bool,
    /// Ignore even a very wide range
    #[arg(long)]
    pub force: bool,
    /// Print JSON (the result, or the error)
    #[arg(long)]
    pub json: bool,
}

/// Read commands on one address.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Address (or CIDR: its first address)
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Deny entries only
    #[arg(long)]
    pub deny: bool,
    /// Allow entries only
    #[arg(long)]
    pub allow: bool,
    /// Ignore entries only
    #[arg(long)]
    pub ignore: bool,
    /// Temporary entries only
    #[arg(long)]
    pub temp: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// `apply` / `flush`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Roll back unless `rampart confirm` runs within SECS seconds
    #[arg(long, value_name = "SECS")]
    pub confirm: Option<u64>,
    /// Print the kernel operations instead of doing them (nothing is changed)
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON (the result, or the error)
    #[arg(long)]
    pub json: bool,
}

/// `rampart blocklist ...`.
#[derive(Debug, Subcommand)]
pub enum BlocklistCmd {
    /// Add a list (a file, a URL, or a feed of the catalogue by name) and load it
    Add(BlocklistAddArgs),
    /// The catalogue of well-known public feeds (none is enabled by default)
    Catalogue(StatusArgs),
    /// Download/reread lists and load them (all, or NAME)
    Update(BlocklistNameOpt),
    /// Show the lists
    List(StatusArgs),
    /// Remove a list (and its sets)
    Remove(BlocklistName),
}

/// `blocklist add`.
#[derive(Debug, Args, Clone)]
pub struct BlocklistAddArgs {
    /// Name: 1-32 characters of a-z, 0-9, _ and -
    pub name: String,
    /// A local file (without --file or --url, NAME is taken from the catalogue)
    #[arg(long, conflicts_with = "url")]
    pub file: Option<PathBuf>,
    /// A URL (downloaded conditionally: ETag / If-Modified-Since)
    #[arg(long)]
    pub url: Option<String>,
    /// plain, spamhaus, dshield or firehol (default: detected)
    #[arg(long)]
    pub format: Option<String>,
    /// How often the daemon refreshes it (0: only `blocklist update`)
    #[arg(long, default_value = "1d")]
    pub refresh: String,
    /// Block connections from (in), to (out) or both
    #[arg(long, default_value = "in")]
    pub direction: String,
    /// Refuse a list with more entries than this
    #[arg(long)]
    pub max_entries: Option<usize>,
}

/// `blocklist update [NAME]`.
#[derive(Debug, Args)]
pub struct BlocklistNameOpt {
    /// The list (default: all)
    pub name: Option<String>,
}

/// `blocklist remove NAME`.
#[derive(Debug, Args)]
pub struct BlocklistName {
    /// The list
    pub name: String,
}

/// Rule sources shared by commands that load rules.
#[derive(Debug, Args, Clone, Default)]
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
    /// The inputs are this program's output (dropbear, sshd): lines
    /// without a syslog header (BusyBox/OpenWrt logread, a container's
    /// stdout) are read as its messages
    #[arg(long, value_name = "NAME", value_parser = program_name)]
    pub program: Option<String>,
    /// Evidence lines shown per ban in the human report
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub evidence: usize,
    #[command(flatten)]
    pub sources: RuleSources,
}

/// A program name as syslog tags it (`dropbear`, `sshd`, `postfix/smtpd`).
fn program_name(s: &str) -> Result<String, String> {
    let ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err("expected a program name as syslog tags it, like dropbear or sshd".into())
    }
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
