//! What the firewall commands share: opening the store and the kernel,
//! parsing addresses and durations at the edge (usage errors exit 2),
//! running a [`Change`] (or printing its plan for `--dry-run`), JSON and
//! error output. The state logic itself is `rampart-firewall`; the
//! commands are in `commands/`.

use crate::cli::Global;
use crate::exit;
use crate::settings::{self, now};
use anyhow::{Context, Result};
use rampart_core::addr::Net;
use rampart_core::config::Config;
use rampart_core::rule::parse_duration;
use rampart_firewall::{Change, Kernel, Layout, MAX_TIMEOUT_SECS, Mirror, Outcome};
use rampart_nft::NftFirewall;
use rampart_store::Store;
use std::io::IsTerminal;
use std::path::PathBuf;

/// A usage error (a bad address or duration): exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The process may not change netfilter: exit status 77.
#[derive(Debug)]
pub struct NeedsRoot;

impl std::fmt::Display for NeedsRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("needs root (CAP_NET_ADMIN)")
    }
}

impl std::error::Error for NeedsRoot {}

/// The exit status and message of a failed command.
pub fn classify(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Usage>().is_some() {
        exit::USAGE
    } else if e.downcast_ref::<NeedsRoot>().is_some()
        || e.chain().any(|c| {
            matches!(
                c.downcast_ref::<rampart_firewall::Error>(),
                Some(rampart_firewall::Error::NotPermitted)
            )
        })
    {
        exit::NOPERM
    } else if e.downcast_ref::<settings::ConfigErrors>().is_some() {
        exit::CONFIG
    } else {
        exit::SOFTWARE
    }
}

/// Runs a command body; with `--json`, a failure is printed as one JSON
/// object on standard output (`{"ok": false, "error", "exit"}`) instead of
/// a message on standard error.
pub fn with_json_errors(json: bool, body: impl FnOnce() -> Result<u8>) -> Result<u8> {
    match body() {
        Err(e) if json => {
            let code = classify(&e);
            let v = serde_json::json!({"ok": false, "error": format!("{e:#}"), "exit": code});
            println!("{v}");
            Ok(code)
        }
        other => other,
    }
}

/// Whether this process has CAP_NET_ADMIN (root normally has it).
fn has_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Everything a firewall command needs.
pub struct Ctx {
    pub config: Config,
    pub state_dir: PathBuf,
    pub store: Store,
    pub kernel: Kernel,
    /// The daemon's view of the deny set (`rampart run`).
    pub mirror: Option<Mirror>,
}

impl Ctx {
    /// Opens the store and nftables (or, for `run --dry-run`, the
    /// recorder). Without CAP_NET_ADMIN: [`NeedsRoot`], before anything
    /// else is touched.
    pub fn open(global: &Global, recorder: bool) -> Result<Ctx> {
        if !recorder && !has_net_admin() {
            return Err(NeedsRoot.into());
        }
        let config = settings::load_config_only(global)?;
        // created 0700 if missing, and verified: owned by root, not
        // writable by others, no symlinks
        let dir = rampart_store::StateDir::open(&global.state_dir)?
            .path()
            .to_path_buf();
        let store = Store::open(dir.join("rampart.db")).context("cannot open the ban store")?;
        let layout = Layout::load(&config, &dir)?;
        let kernel = if recorder {
            Kernel::recorder(layout)
        } else {
            let mut f = NftFirewall::new().context("cannot reach nftables")?;
            if std::io::stderr().is_terminal() {
                f.set_progress(Some(Box::new(|done, total| {
                    if total > 10_000 {
                        eprint!("\rloading {done}/{total} elements");
                        if done == total {
                            eprintln!();
                        }
                    }
                })));
            }
            Kernel::new(Box::new(f), layout)
        };
        Ok(Ctx {
            config,
            state_dir: dir,
            store,
            kernel,
            mirror: None,
        })
    }

    /// Re-reads the blocklist definitions into the layout.
    pub fn reload_layout(&mut self) -> Result<()> {
        let layout = Layout::load(&self.config, &self.state_dir)?;
        self.kernel.set_layout(layout);
        Ok(())
    }

    /// `[limits]` as kernel rules.
    pub fn limits(&self) -> Result<rampart_nft::Limits> {
        Ok(rampart_firewall::limits(&self.config)?)
    }

    /// Executes a change, or with `dry_run` prints its operations and
    /// changes nothing. Warnings (lists left as they were) go to stderr.
    pub fn execute(&mut self, change: &Change, dry_run: bool) -> Result<Outcome> {
        let now = now();
        let out = if dry_run {
            let out = rampart_firewall::plan(&mut self.store, &mut self.kernel, change, now)?;
            let text = out
                .plan
                .load_ruleset
                .then(|| self.kernel.layout().ruleset.render(&[]).unwrap_or_default());
            print!("{}", out.plan.to_nft_text(text.as_deref()));
            eprintln!("(dry run: nothing was changed, in the store or the kernel)");
            out
        } else if let Some(out) = self.through_daemon(change)? {
            out
        } else {
            rampart_firewall::apply_change(&mut self.store, &mut self.kernel, change, now)?
        };
        for w in &out.warnings {
            eprintln!("rampart: warning: {w}");
        }
        Ok(out)
    }
}

impl Ctx {
    /// When the daemon runs, it is the one writer: the change goes to it
    /// (its detectors see it at once, and it keeps the bans it has not
    /// recorded yet in the kernel). `None` when no daemon listens.
    fn through_daemon(&self, change: &Change) -> Result<Option<Outcome>> {
        let Ok(c) = serde_json::to_value(change) else {
            return Ok(None); // not a change the daemon takes (a blocklist body)
        };
        let req = serde_json::json!({"cmd": "change", "change": c});
        let wait = std::time::Duration::from_secs(120);
        let reply = crate::ctl::ask(&self.state_dir, &req, wait)
            .context("the running daemon did not confirm the change (see `rampart status`)")?;
        let Some(reply) = reply else { return Ok(None) };
        if reply["ok"] != true {
            let e = reply["error"].as_str().unwrap_or("unknown error");
            anyhow::bail!("the running daemon refused the change: {e}");
        }
        let out = serde_json::from_value(reply["outcome"].clone())
            .context("the daemon's answer was not understood")?;
        Ok(Some(out))
    }
}

/// Parses ADDR (usage error otherwise).
pub fn parse_target(s: &str) -> Result<Net> {
    Net::parse(s).ok_or_else(|| {
        Usage(format!(
            "{s:?} is not an IPv4/IPv6 address or CIDR (e.g. 198.51.100.7, 203.0.113.0/24, 2001:db8::/48)"
        ))
        .into()
    })
}

/// Parses `--for` (usage error otherwise): seconds, `None` permanent.
// TODO: use rampart-core's duration parser (`1h30m`, `1w`) when it lands.
pub fn parse_for(d: Option<&str>) -> Result<Option<u64>> {
    let Some(t) = d else { return Ok(None) };
    match parse_duration(t).map_err(|e| Usage(format!("--for {t:?}: {e}")))? {
        Some(0) => Err(Usage("--for: the duration must be positive".into()).into()),
        Some(s) if s > MAX_TIMEOUT_SECS => Err(Usage(format!(
            "--for {t:?}: longer than the kernel's element timeout limit ({MAX_TIMEOUT_SECS} s, about 584 years); leave --for out for a permanent entry"
        ))
        .into()),
        other => Ok(other),
    }
}

/// `2h`, `5m`, `1h30m`.
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s >= 86400 && s % 86400 == 0 => format!("{}d", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Who is running the command (for history).
pub fn who() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "root".into())
}

/// The SSH client running this command, if any.
pub fn ssh_client() -> Option<std::net::IpAddr> {
    let v = std::env::var("SSH_CONNECTION")
        .or_else(|_| std::env::var("SSH_CLIENT"))
        .ok()?;
    v.split_whitespace().next()?.parse().ok()
}

/// Makes the kernel match the store and the configuration (`apply`, and
/// the daemon at start); returns a one-line report.
pub fn apply_all(ctx: &mut Ctx) -> Result<String> {
    let out = ctx.execute(&Change::Apply, false)?;
    let mut report: Vec<String> = out
        .plan
        .lists
        .iter()
        .map(|l| {
            format!(
                "{}: {} elements",
                rampart_firewall::list_name(&l.list),
                l.after.len()
            )
        })
        .collect();
    if !out.expired.is_empty() {
        report.push(format!(
            "{} expired entries moved to history",
            out.expired.len()
        ));
    }
    let (del, add) = out.plan.counts();
    report.push(format!("kernel: {add} elements added, {del} removed"));
    Ok(report.join("; "))
}

/// `rampart reload`: through the control socket.
pub fn reload(global: &Global) -> Result<u8> {
    match crate::ctl::request(&global.state_dir, &serde_json::json!({"cmd": "reload"})) {
        Some(r) => {
            println!("{}", r["message"].as_str().unwrap_or("reloaded"));
            Ok(if r["ok"] == true {
                exit::OK
            } else {
                exit::CONFIG
            })
        }
        None => {
            eprintln!(
                "rampart: no daemon is running (nothing answers on {})",
                crate::ctl::socket_path(&global.state_dir).display()
            );
            Ok(exit::FOUND_PROBLEMS)
        }
    }
}
