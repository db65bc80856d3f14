//! `rampart rules list` and `rampart rules test`.

use crate::cli::{Global, RuleSources, RulesListArgs, RulesTestArgs};
use crate::exit;
use crate::settings::{self, now};
use crate::views::{LineTestView, RuleView};
use anyhow::{Context, Result};
use rampart_core::text::escape_controls;
use rampart_core::time::TimeContext;
use rampart_core::vectors;
use std::io::Read;

/// Every rule loaded with `sources`, with its thresholds.
pub fn rule_views(global: &Global, sources: &RuleSources) -> Result<Vec<RuleView>> {
    let loaded = settings::load(global, sources)?;
    let det = loaded.detector()?;
    let groups = det.tracker().groups();
    Ok(loaded
        .rules
        .iter()
        .map(|r| {
            let reason = det.reason(&r.reason);
            let enabled = det
                .engine()
                .rules()
                .iter()
                .find(|x| x.def.id == r.id)
                .is_some_and(|x| x.def.enabled);
            let g = groups
                .iter()
                .find(|g| g.name == r.id || Some(&g.name) == r.group.as_ref())
                .or_else(|| groups.iter().find(|g| g.name == r.reason));
            RuleView {
                id: r.id.clone(),
                reason: r.reason.clone(),
                service: r.service.clone(),
                description: r.description.clone(),
                enabled,
                programs: r.programs.clone(),
                line: r.line,
                threshold: g.map(|g| g.threshold),
                window_secs: g.map(|g| g.window_secs),
                ban_secs: g.map(|g| g.ban_secs),
                title: reason.map(|x| x.title.clone()),
            }
        })
        .collect())
}

/// `rampart rules list`.
pub fn list(global: &Global, a: &RulesListArgs) -> Result<u8> {
    let rows: Vec<serde_json::Value> = rule_views(global, &a.sources)?
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(exit::OK);
    }
    println!(
        "{:<34} {:<14} {:<8} {:>9} {:>8}  description",
        "rule", "reason", "enabled", "threshold", "window"
    );
    for r in &rows {
        let field = |k: &str| escape_controls(r[k].as_str().unwrap_or("")).into_owned();
        println!(
            "{:<34} {:<14} {:<8} {:>9} {:>8}  {}",
            field("id"),
            field("reason"),
            if r["enabled"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            r["threshold"],
            r["window_secs"]
                .as_u64()
                .map(|w| format!("{w}s"))
                .unwrap_or_default(),
            field("description"),
        );
    }
    Ok(exit::OK)
}

/// `rampart rules test`.
pub fn test(global: &Global, a: &RulesTestArgs) -> Result<u8> {
    let loaded = settings::load_with_vectors(global, &a.sources)?;
    let mut lines: Vec<String> = a.lines.clone();
    if let Some(f) = &a.file {
        let mut text = String::new();
        if f.as_os_str() == "-" {
            std::io::stdin().read_to_string(&mut text)?;
        } else {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        lines.extend(text.lines().map(str::to_string));
    }
    if lines.is_empty() && a.file.is_none() {
        return run_vectors(&loaded, a.json);
    }
    let views = test_lines(&loaded, &lines)?;
    let matched = views.iter().filter(|v| v.rule.is_some()).count();
    let out: Vec<serde_json::Value> = views
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for v in &out {
            let field = |k: &str| escape_controls(v[k].as_str().unwrap_or("")).into_owned();
            println!("{}", field("line"));
            if v["rule"].is_null() {
                println!("    no rule matched");
                continue;
            }
            print!(
                "    rule {} (reason {}): ip={}",
                field("rule"),
                field("reason"),
                field("ip")
            );
            for k in ["user", "port", "rule_id", "time"] {
                if !v[k].is_null() {
                    let shown = v[k]
                        .as_str()
                        .map_or_else(|| v[k].to_string(), str::to_string);
                    print!(" {k}={}", escape_controls(&shown));
                }
            }
            if v["count"].as_u64() != Some(1) {
                print!(" count={}", v["count"]);
            }
            println!();
        }
    }
    Ok(if matched == lines.len() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}

/// What the rules make of each line (a fresh detector: nothing is counted
/// anywhere else).
pub fn test_lines(loaded: &settings::Loaded, lines: &[String]) -> Result<Vec<LineTestView>> {
    let mut det = loaded.detector()?;
    let ctx = TimeContext::in_zone(&loaded.config.log_zone, now());
    let mut out = Vec::new();
    for l in lines {
        let v = match det.process(l.as_bytes(), &ctx, ctx.reference) {
            Some((ev, _)) => {
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                LineTestView {
                    line: l.clone(),
                    rule: Some(ev.rule_name.to_string()),
                    reason: Some(ev.reason.to_string()),
                    ip: Some(ev.ip.to_string()),
                    user: Some(text(ev.user)),
                    port: Some(ev.port),
                    count: Some(ev.count),
                    rule_id: Some(text(ev.rule_id)),
                    time: Some(ev.time.map(rampart_core::time::format_rfc3339)),
                }
            }
            None => LineTestView {
                line: l.clone(),
                rule: None,
                reason: None,
                ip: None,
                user: None,
                port: None,
                count: None,
                rule_id: None,
                time: None,
            },
        };
        out.push(v);
    }
    Ok(out)
}

fn run_vectors(loaded: &settings::Loaded, json: bool) -> Result<u8> {
    let failures = vectors::check(&loaded.rules, now()).map_err(anyhow::Error::msg)?;
    let total: usize = loaded
        .rules
        .iter()
        .map(|r| r.must_match.len() + r.must_not_match.len())
        .sum();
    if json {
        let f: Vec<_> = failures
            .iter()
            .map(|f| serde_json::json!({"rule": f.rule, "line": f.line, "problem": f.problem}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"rules": loaded.rules.len(), "vectors": total, "failures": f})
        );
    } else {
        for f in &failures {
            println!("FAIL {}", escape_controls(&f.to_string()));
        }
        println!(
            "{} rules, {} vectors, {} failure(s)",
            loaded.rules.len(),
            total,
            failures.len()
        );
    }
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}
