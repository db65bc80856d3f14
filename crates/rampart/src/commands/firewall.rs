//! `apply` (and its rollback timer), `confirm`, `flush`, `status`,
//! `show-rules`.

use crate::cli::{ApplyArgs, Global, RollbackArgs, StatusArgs};
use crate::exit;
use crate::fw::{Ctx, apply_all, human_duration, ssh_client, with_json_errors};
use crate::settings::now;
use crate::views::KernelPlanView;
use anyhow::{Context, Result};
use rampart_core::addr::Net;
use rampart_core::text::escape_controls;
use rampart_core::time::format_rfc3339;
use rampart_firewall::Change;
use rampart_nft::{Ports, parse_ports};
use rampart_store::{Kind, NewEntry, Origin};
use std::path::{Path, PathBuf};

/// Ports with a listening socket on a non-loopback address, from /proc
/// (`/proc/net/tcp{,6}` state 0A; UDP: bound sockets): what strict mode
/// should probably keep open.
pub fn listening_ports() -> Ports {
    fn scan(path: &str, tcp: bool) -> Vec<u16> {
        let Ok(t) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        t.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (local, state) = (f.get(1)?, f.get(3)?);
                if tcp && *state != "0A" {
                    return None;
                }
                let (addr, port) = local.split_once(':')?;
                // skip loopback-only listeners (127.x / ::1)
                let loopback = addr == "0100007F"
                    || addr == "00000000000000000000000001000000"
                    || addr.ends_with("7F");
                if loopback {
                    return None;
                }
                u16::from_str_radix(port, 16).ok().filter(|p| *p != 0)
            })
            .collect()
    }
    let both = |a: &str, b: &str, tcp: bool| {
        let mut v = scan(a, tcp);
        v.extend(scan(b, tcp));
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(rampart_nft::PortRange::one).collect()
    };
    Ports {
        tcp: both("/proc/net/tcp", "/proc/net/tcp6", true),
        udp: both("/proc/net/udp", "/proc/net/udp6", false),
    }
}

/// Strict mode from an SSH session: that client stays allowed for a day;
/// and a note about listening ports the policy closes.
fn strict_mode_care(ctx: &mut Ctx, dry_run: bool) -> Result<Vec<String>> {
    let mut report = Vec::new();
    if !ctx.config.firewall.strict {
        return Ok(report);
    }
    if let Some(c) = ssh_client() {
        let now = now();
        let net = Net::host(c);
        let mut e = NewEntry::new(
            Kind::Allow,
            net,
            Origin::Manual,
            "manual",
            now,
            Some(now + 86400),
        );
        e.summary = format!("SSH client of `rampart apply` in strict mode: {net}");
        ctx.execute(&Change::Add(e), dry_run)?;
        report.push(format!("kept your SSH client {net} allowed for 1d"));
    }
    let configured = parse_ports(&ctx.config.firewall.tcp_in).unwrap_or_default();
    let closed: Vec<String> = listening_ports()
        .tcp
        .iter()
        .filter(|p| {
            !configured
                .iter()
                .any(|r| r.first <= p.first && p.first <= r.last)
        })
        .map(|p| p.first.to_string())
        .collect();
    if !closed.is_empty() {
        eprintln!(
            "rampart: note: strict mode closes TCP ports that have listeners on this host: {} (add them to [firewall] tcp_in if they should be reachable)",
            closed.join(",")
        );
    }
    Ok(report)
}

/// `rampart apply [--confirm SECS]`.
pub fn apply(global: &Global, a: &ApplyArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let mut ctx = Ctx::open(global, false)?;
        if a.dry_run {
            strict_mode_care(&mut ctx, true)?;
            ctx.execute(&Change::Apply, true)?;
            return Ok(exit::OK);
        }
        if let Some(secs) = a.confirm {
            arm_rollback(&ctx.state_dir, secs)?;
        }
        let mut report = strict_mode_care(&mut ctx, false)?;
        report.push(apply_all(&mut ctx)?);
        if a.json {
            println!(
                "{}",
                serde_json::json!({"ok": true, "report": report, "confirm_within_secs": a.confirm})
            );
        } else {
            println!("Applied: {}.", report.join("; "));
        }
        if let Some(secs) = a.confirm
            && !a.json
        {
            println!(
                "Run `rampart confirm` within {secs} seconds, or the previous ruleset comes back."
            );
        }
        Ok(exit::OK)
    })
}

fn rollback_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("rollback.nft"), dir.join("rollback.pending"))
}

/// Saves the current table and starts our own binary, detached, as the
/// rollback timer (`rampart __rollback --after SECS`): it restores the
/// saved table unless `rampart confirm` removed the marker first.
fn arm_rollback(state_dir: &Path, secs: u64) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let (snap, marker) = rollback_paths(state_dir);
    let current = std::process::Command::new("nft")
        .args(["list", "table", "inet", "rampart"])
        .output()
        .context("cannot run nft")?;
    let mut text = String::from("table inet rampart {}\ndelete table inet rampart\n");
    if current.status.success() {
        text.push_str(&String::from_utf8_lossy(&current.stdout));
    }
    std::fs::write(&snap, text)?;
    std::fs::write(&marker, b"")?;
    let exe = std::env::current_exe().context("cannot find our own program")?;
    std::process::Command::new(exe)
        .arg("--state-dir")
        .arg(state_dir)
        .args(["__rollback", "--after", &secs.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the rollback timer")?;
    Ok(())
}

/// `rampart __rollback --after SECS` (the timer `apply --confirm` starts).
pub fn rollback(global: &Global, a: &RollbackArgs) -> Result<u8> {
    std::thread::sleep(std::time::Duration::from_secs(a.after));
    let (snap, marker) = rollback_paths(&global.state_dir);
    if !marker.exists() {
        return Ok(exit::OK);
    }
    let st = std::process::Command::new("nft")
        .arg("-f")
        .arg(&snap)
        .status()
        .context("cannot run nft")?;
    let _ = std::fs::remove_file(&marker);
    Ok(if st.success() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}

/// `rampart confirm`.
pub fn confirm(global: &Global) -> Result<u8> {
    let (_, marker) = rollback_paths(&global.state_dir);
    match std::fs::remove_file(&marker) {
        Ok(()) => {
            println!("Confirmed: the new ruleset stays.");
            Ok(exit::OK)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "Nothing to confirm (no `apply --confirm` pending, or it already rolled back)."
            );
            Ok(exit::FOUND_PROBLEMS)
        }
        Err(e) => Err(e.into()),
    }
}

/// `rampart flush`: removes our table (only it). The store is kept; the
/// next command that changes the firewall, or `apply`, rebuilds it.
pub fn flush(global: &Global, a: &ApplyArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let mut ctx = Ctx::open(global, false)?;
        let out = ctx.execute(&Change::Flush, a.dry_run)?;
        if a.dry_run {
            return Ok(exit::OK);
        }
        if a.json {
            println!(
                "{}",
                serde_json::json!({"ok": true, "kernel": KernelPlanView::new(&out)})
            );
        } else {
            println!(
                "Removed table inet rampart (no other table was touched). The entries stay in the store: `rampart apply` loads them again."
            );
        }
        Ok(exit::OK)
    })
}

/// Everything `rampart status --json` (and `GET /api/v1/status`) shows.
#[derive(Debug, serde::Serialize)]
pub struct StatusView {
    /// Whether Rampart's table is loaded.
    pub table_loaded: bool,
    /// Whether kernel and store agree.
    pub agree: bool,
    /// How many elements differ.
    pub disagreements: usize,
    /// The comparison, set by set.
    pub reconcile: rampart_firewall::Report,
    /// `strict` or `ban-only`.
    pub mode: &'static str,
    /// Entries per list.
    pub store: serde_json::Value,
    /// The ports this host listens on.
    pub listening: serde_json::Value,
    /// The blocklists and their refresh state.
    pub blocklists: Vec<crate::views::BlocklistView>,
    /// The state directory.
    pub state_dir: String,
    /// The running daemon's own status (`null`: no daemon answers).
    pub daemon: Option<serde_json::Value>,
}

/// Reads the status of the firewall, the store and the daemon.
pub fn status_view(ctx: &mut Ctx) -> Result<StatusView> {
    let now = now();
    let c = ctx.store.counts(now)?;
    let rep = rampart_firewall::report(&mut ctx.store, &mut ctx.kernel, now)?;
    let defs = &ctx.kernel.layout().blocklists;
    let daemon = crate::ctl::request(&ctx.state_dir, &serde_json::json!({"cmd": "status"}));
    let lp = listening_ports();
    Ok(StatusView {
        table_loaded: rep.table_loaded,
        agree: rep.agrees(),
        disagreements: rep.disagreements(),
        mode: if ctx.config.firewall.strict {
            "strict"
        } else {
            "ban-only"
        },
        store: serde_json::json!({"deny": {"temporary": c.deny.temporary, "permanent": c.deny.permanent},
                  "allow": {"temporary": c.allow.temporary, "permanent": c.allow.permanent},
                  "ignore": {"temporary": c.ignore.temporary, "permanent": c.ignore.permanent},
                  "expired_pending": c.expired_pending}),
        listening: serde_json::json!({
            "tcp": lp.tcp.iter().map(|p| p.first).collect::<Vec<_>>(),
            "udp": lp.udp.iter().map(|p| p.first).collect::<Vec<_>>(),
        }),
        blocklists: defs
            .iter()
            .map(crate::views::BlocklistView::status)
            .collect(),
        state_dir: ctx.state_dir.display().to_string(),
        daemon,
        reconcile: rep,
    })
}

/// `rampart status`.
pub fn status(global: &Global, a: &StatusArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let mut ctx = Ctx::open(global, false)?;
        if a.json {
            let v = status_view(&mut ctx)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(exit::OK);
        }
        let now = now();
        let c = ctx.store.counts(now)?;
        let rep = rampart_firewall::report(&mut ctx.store, &mut ctx.kernel, now)?;
        let defs = ctx.kernel.layout().blocklists.clone();
        let daemon = crate::ctl::request(&ctx.state_dir, &serde_json::json!({"cmd": "status"}));
        let lp = listening_ports();
        print_status(&ctx, &rep, &c, daemon.as_ref(), &lp);
        for d in &defs {
            println!("{}", blocklist_line(d));
        }
        Ok(exit::OK)
    })
}

fn print_status(
    ctx: &Ctx,
    rep: &rampart_firewall::Report,
    c: &rampart_store::Counts,
    daemon: Option<&serde_json::Value>,
    lp: &Ports,
) {
    let mode = if ctx.config.firewall.strict {
        "strict"
    } else {
        "ban-only"
    };
    if rep.table_loaded {
        println!("Firewall: table inet rampart loaded ({mode} mode)");
    } else {
        println!("Firewall: table inet rampart NOT loaded (run `rampart apply`) ({mode} mode)");
    }
    println!(
        "Store {}: deny {} temporary + {} permanent, allow {} + {}, ignore {}",
        ctx.state_dir.join("rampart.db").display(),
        c.deny.temporary,
        c.deny.permanent,
        c.allow.temporary,
        c.allow.permanent,
        c.ignore.temporary + c.ignore.permanent
    );
    if rep.agrees() {
        println!("Kernel and store agree.");
    } else {
        println!(
            "Kernel and store DISAGREE ({} elements; `rampart apply` makes the kernel follow the store):",
            rep.disagreements()
        );
        for l in rep.lists.iter().filter(|l| l.missing + l.extra > 0) {
            println!(
                "  {}: {} missing from the kernel, {} extra in it",
                l.list, l.missing, l.extra
            );
        }
    }
    for l in &rep.lists {
        if let Some(k) = l.kernel
            && k > 0
        {
            println!("Kernel: {} {} elements", l.list, k);
        }
    }
    for w in &rep.warnings {
        println!("Warning: {}", escape_controls(w));
    }
    match daemon {
        Some(d) => println!(
            "Daemon: running (pid {}, up {}s): {} lines read, {} events, {} bans, {} addresses tracked",
            d["pid"], d["uptime_secs"], d["lines"], d["events"], d["bans"], d["tracked"]
        ),
        None => println!("Daemon: not running"),
    }
    let show = |v: &[rampart_nft::PortRange]| {
        v.iter()
            .map(|p| p.first.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "Listening now (suggested for strict mode: [firewall] tcp_in = \"{}\", udp_in = \"{}\")",
        show(&lp.tcp),
        show(&lp.udp)
    );
}

/// One line about a blocklist: entries, last success, failures.
pub fn blocklist_line(d: &rampart_firewall::blocklist::ListDef) -> String {
    let mut s = format!(
        "Blocklist {}: {} entries, last loaded {}",
        d.name,
        d.entries,
        d.updated
            .map(format_rfc3339)
            .unwrap_or_else(|| "never".into())
    );
    if d.refresh_secs > 0 {
        s.push_str(&format!(
            ", refreshed every {}",
            human_duration(d.refresh_secs)
        ));
    }
    if let Some(e) = &d.last_error {
        s.push_str(&format!(
            "; LAST LOAD FAILED ({} time(s) in a row): {}",
            d.failures,
            escape_controls(e)
        ));
    }
    s
}

/// `rampart show-rules`.
pub fn show_rules(_global: &Global, json: bool) -> Result<u8> {
    // -t: sets without their (possibly millions of) elements
    let args: &[&str] = if json {
        &["-j", "-t", "list", "table", "inet", "rampart"]
    } else {
        &["-t", "list", "table", "inet", "rampart"]
    };
    let o = std::process::Command::new("nft")
        .args(args)
        .output()
        .context("cannot run nft")?;
    if !o.status.success() {
        eprintln!(
            "rampart: table inet rampart is not loaded ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        return Ok(exit::FOUND_PROBLEMS);
    }
    print!("{}", String::from_utf8_lossy(&o.stdout));
    Ok(exit::OK)
}
