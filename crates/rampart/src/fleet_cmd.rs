//! `rampart fleet keygen` and `rampart fleet status`.

use crate::cli::{FleetCmd, Global, KeygenArgs, StatusArgs};
use crate::daemon::fleet::wire;
use crate::{exit, settings};
use anyhow::{Context, Result};
use rampart_core::text::escape_controls as esc;
use serde_json::Value;
use std::path::PathBuf;

/// Where `keygen` writes without `--key` or `[fleet] key`.
const DEFAULT_KEY: &str = "/var/lib/rampart/fleet.key";

/// Runs a `fleet` subcommand.
pub fn run(global: &Global, c: &FleetCmd) -> Result<u8> {
    match c {
        FleetCmd::Keygen(a) => keygen(global, a),
        FleetCmd::Status(a) => status(global, a),
    }
}

fn keygen(global: &Global, a: &KeygenArgs) -> Result<u8> {
    let path = a.key.clone().unwrap_or_else(|| {
        // a configuration still being written (no trusted keys yet) is fine here
        settings::load_config_only(global)
            .ok()
            .and_then(|c| c.fleet)
            .map_or_else(|| PathBuf::from(DEFAULT_KEY), |f| PathBuf::from(f.key))
    });
    if path.exists() && !a.force {
        eprintln!(
            "rampart: {} exists; its public key: {} (use --force to replace it)",
            path.display(),
            wire::load_key(&path)
                .map(|k| wire::public_b64(&k))
                .unwrap_or_else(|e| e.to_string())
        );
        return Ok(exit::FOUND_PROBLEMS);
    }
    let key = wire::keygen(&path, a.force).context("cannot write the key")?;
    eprintln!(
        "Wrote {} (mode 0600). Add this public key to trusted_keys on every node:",
        path.display()
    );
    println!("{}", wire::public_b64(&key));
    Ok(exit::OK)
}

fn status(global: &Global, a: &StatusArgs) -> Result<u8> {
    let req = serde_json::json!({"cmd": "fleet"});
    let Some(r) = crate::ctl::request(&global.state_dir, &req) else {
        eprintln!("rampart: no daemon answers (is `rampart run` running?)");
        return Ok(exit::FOUND_PROBLEMS);
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(if r["ok"] == true {
            exit::OK
        } else {
            exit::FOUND_PROBLEMS
        });
    }
    if r["ok"] != true {
        eprintln!("rampart: {}", esc(r["error"].as_str().unwrap_or("?")));
        return Ok(exit::FOUND_PROBLEMS);
    }
    print_status(&r);
    Ok(exit::OK)
}

fn print_status(r: &Value) {
    let f = &r["fleet"];
    let s = |v: &Value| esc(&v.as_str().map_or_else(|| v.to_string(), str::to_string)).into_owned();
    println!(
        "Node {}: publishing {}, receiving {}, {}",
        s(&f["node"]),
        s(&f["publisher"]),
        s(&f["subscriber"]),
        if f["caught_up"] == true {
            "caught up"
        } else {
            "catching up"
        }
    );
    println!(
        "Published {} (errors {}); queued {} (dropped {}); event queue dropped {}",
        f["published"],
        f["publish_errors"],
        f["queued"],
        f["queue_dropped"],
        r["event_queue"]["dropped"]
    );
    println!(
        "Received {}: accepted {}, untrusted {}, invalid {}, expired {}, refused by policy {}, protected here {}, awaiting quorum {}; pending {}; lag {} ms",
        f["received"],
        f["accepted"],
        f["untrusted"],
        f["invalid"],
        f["expired"],
        f["refused_by_policy"],
        r["refused_protected"],
        f["awaiting_quorum"],
        f["pending"],
        f["lag_ms"]
    );
    if let Some(nodes) = f["nodes"].as_object() {
        for (node, d) in nodes {
            println!(
                "  {:<16} last: {} {} ({}) decided {}, {} ms to arrive",
                esc(node),
                s(&d["op"]),
                s(&d["target"]),
                s(&d["reason"]),
                s(&d["decided"]),
                d["lag_ms"]
            );
        }
    }
}
