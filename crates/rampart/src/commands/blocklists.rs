//! `blocklist add|update|list|remove|catalogue`.

use crate::cli::{BlocklistAddArgs, BlocklistCmd, Global};
use crate::commands::firewall::blocklist_line;
use crate::exit;
use crate::fw::{Ctx, Usage, human_duration};
use crate::settings::now;
use anyhow::{Result, anyhow, bail};
use rampart_core::rule::parse_duration;
use rampart_core::text::escape_controls;
use rampart_core::time::format_rfc3339;
use rampart_firewall::blocklist::{ListDef, cache_path, load_defs, save_defs};
use rampart_firewall::{Change, update_list};
use rampart_nft::SetList;

/// `rampart blocklist ...`.
pub fn blocklist(global: &Global, cmd: &BlocklistCmd) -> Result<u8> {
    match cmd {
        BlocklistCmd::Add(a) => add(global, a),
        BlocklistCmd::Catalogue(a) => catalogue(a.json),
        BlocklistCmd::Update(a) => update(global, a.name.as_deref()),
        BlocklistCmd::List(a) => list(global, a.json),
        BlocklistCmd::Remove(a) => remove(global, &a.name),
    }
}

fn catalogue(json: bool) -> Result<u8> {
    let feeds = rampart_lists::catalogue().map_err(|e| anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&feeds)?);
        return Ok(exit::OK);
    }
    println!("Well-known feeds (enable one with `rampart blocklist add NAME`):");
    for f in &feeds {
        println!(
            "  {:<22} {:<9} every {:<4} {}",
            f.name,
            f.format.name(),
            f.refresh,
            f.description
        );
        println!("  {:<22} {} ({})", "", f.url, f.licence);
    }
    Ok(exit::OK)
}

/// `blocklist add` arguments → a definition (usage errors exit 2).
fn parse_add(a: &BlocklistAddArgs) -> Result<ListDef> {
    let mut a = a.clone();
    if a.file.is_none() && a.url.is_none() {
        let f = rampart_lists::catalogue::feed(&a.name).ok_or_else(|| {
            Usage("give --file or --url, or the name of a catalogue feed (`rampart blocklist catalogue`)".into())
        })?;
        a.url = Some(f.url.clone());
        a.format.get_or_insert_with(|| f.format.name().to_string());
        if a.refresh == "1d" {
            a.refresh = f.refresh.clone();
        }
        if a.direction == "in" {
            a.direction = match f.direction {
                rampart_lists::Direction::In => "in",
                rampart_lists::Direction::Out => "out",
                rampart_lists::Direction::Both => "both",
            }
            .to_string();
        }
    }
    SetList::blocklist(&a.name).map_err(|e| Usage(e.to_string()))?;
    if let Some(f) = &a.format {
        f.parse::<rampart_lists::Format>()
            .map_err(|e| Usage(format!("--format {f:?}: {e}")))?;
    }
    if !matches!(a.direction.as_str(), "in" | "out" | "both") {
        return Err(Usage(format!(
            "--direction {:?}: expected in, out or both",
            a.direction
        ))
        .into());
    }
    let refresh = match a.refresh.as_str() {
        "0" | "never" => 0,
        r => parse_duration(r)
            .map_err(|e| Usage(format!("--refresh {r:?}: {e}")))?
            .unwrap_or(86400),
    };
    let mut d = ListDef::new(&a.name, refresh, &a.direction);
    d.file = a.file.as_ref().map(|p| p.display().to_string());
    d.url = a.url.clone();
    d.format = a.format.clone();
    d.max_entries = a.max_entries;
    Ok(d)
}

fn add(global: &Global, a: &BlocklistAddArgs) -> Result<u8> {
    let mut d = parse_add(a)?;
    let mut ctx = Ctx::open(global, false)?;
    let mut defs = load_defs(&ctx.state_dir)?;
    if defs.iter().any(|x| x.name == d.name) {
        bail!("a blocklist named {} exists; remove it first", d.name);
    }
    defs.push(d.clone());
    save_defs(&ctx.state_dir, &defs)?;
    ctx.reload_layout()?;
    let now = now();
    let r = update_list(
        &mut ctx.store,
        &mut ctx.kernel,
        &ctx.state_dir.clone(),
        &mut d,
        now,
    );
    d.next_due = (d.refresh_secs > 0).then(|| now + i64::try_from(d.refresh_secs).unwrap_or(0));
    save_one(&ctx, &d)?;
    if r.failed() {
        eprintln!(
            "rampart: blocklist {} added, but the first load failed: {}",
            d.name,
            escape_controls(&r.message)
        );
        return Ok(exit::FOUND_PROBLEMS);
    }
    println!(
        "Added blocklist {}: {}",
        d.name,
        escape_controls(&r.message)
    );
    Ok(exit::OK)
}

/// Writes back one definition (re-reading the others, which the daemon
/// may have updated meanwhile).
fn save_one(ctx: &Ctx, d: &ListDef) -> Result<()> {
    let mut defs = load_defs(&ctx.state_dir)?;
    if let Some(slot) = defs.iter_mut().find(|x| x.name == d.name) {
        *slot = d.clone();
    }
    save_defs(&ctx.state_dir, &defs)?;
    Ok(())
}

fn update(global: &Global, name: Option<&str>) -> Result<u8> {
    let mut ctx = Ctx::open(global, false)?;
    let defs = load_defs(&ctx.state_dir)?;
    if let Some(n) = name
        && !defs.iter().any(|d| d.name == n)
    {
        return Err(Usage(format!("no blocklist named {n}")).into());
    }
    let mut failed = false;
    let dir = ctx.state_dir.clone();
    for mut d in defs
        .into_iter()
        .filter(|d| name.is_none_or(|n| n == d.name))
    {
        let r = update_list(&mut ctx.store, &mut ctx.kernel, &dir, &mut d, now());
        if r.failed() {
            failed = true;
            eprintln!(
                "rampart: blocklist {}: {} (the previous list stays in force)",
                d.name,
                escape_controls(&r.message)
            );
        } else {
            println!("{}: {}", d.name, escape_controls(&r.message));
        }
        save_one(&ctx, &d)?;
    }
    Ok(if failed {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

fn list(global: &Global, json: bool) -> Result<u8> {
    let defs = load_defs(&global.state_dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&defs)?);
    } else if defs.is_empty() {
        println!(
            "No blocklists. Add one with `rampart blocklist add NAME --url URL` (catalogue: `rampart blocklist catalogue`)."
        );
    } else {
        for d in &defs {
            println!(
                "{:<20} {:<6} every {:<6} {:>8} entries  {}",
                d.name,
                d.direction,
                if d.refresh_secs == 0 {
                    "-".to_string()
                } else {
                    human_duration(d.refresh_secs)
                },
                d.entries,
                escape_controls(d.url.as_deref().or(d.file.as_deref()).unwrap_or(""))
            );
            println!("  {}", blocklist_line(d));
            if let Some(t) = d.next_due {
                println!("  next refresh due {}", format_rfc3339(t));
            }
        }
    }
    Ok(exit::OK)
}

fn remove(global: &Global, name: &str) -> Result<u8> {
    let mut ctx = Ctx::open(global, false)?;
    let mut defs = load_defs(&ctx.state_dir)?;
    let before = defs.len();
    defs.retain(|d| d.name != name);
    if defs.len() == before {
        eprintln!("rampart: no blocklist named {name}");
        return Ok(exit::FOUND_PROBLEMS);
    }
    save_defs(&ctx.state_dir, &defs)?;
    let _ = std::fs::remove_file(cache_path(&ctx.state_dir, name));
    ctx.reload_layout()?;
    ctx.execute(&Change::Apply, false)?;
    println!("Removed blocklist {name}.");
    Ok(exit::OK)
}
