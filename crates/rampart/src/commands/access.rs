//! `rampart api token ...` and `rampart console user ...`: who may use the
//! daemon's HTTP side. Both work on the store directly (the daemon looks
//! tokens and users up there at each request or login), so a new token
//! works at once and a removed one is refused at once.

use crate::cli::{Global, NameArgs, StatusArgs, TokenAddArgs, TokenCmd, UserCmd};
use crate::daemon::web::auth;
use crate::exit;
use crate::settings::now;
use anyhow::{Context, Result};
use rampart_core::text::escape_controls as esc;
use rampart_core::time::format_rfc3339;
use rampart_store::{Scope, Store};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};

fn open_store(global: &Global) -> Result<Store> {
    let dir = rampart_store::StateDir::open(&global.state_dir)?;
    Store::open(dir.path().join("rampart.db")).context("cannot open the ban store")
}

/// Names people and scripts can type and logs can show.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(crate::fw::Usage(format!(
            "{:?}: a name is 1 to 64 letters, digits, '.', '_', '@' or '-'",
            esc(name)
        ))
        .into())
    }
}

/// `rampart api token add|list|remove`.
pub fn token(global: &Global, c: &TokenCmd) -> Result<u8> {
    match c {
        TokenCmd::Add(a) => crate::fw::with_json_errors(a.json, || token_add(global, a)),
        TokenCmd::List(a) => crate::fw::with_json_errors(a.json, || token_list(global, a)),
        TokenCmd::Remove(a) => crate::fw::with_json_errors(a.json, || {
            let removed = open_store(global)?.token_remove(&a.name)?;
            removed_report(a, removed, "token")
        }),
    }
}

fn token_add(global: &Global, a: &TokenAddArgs) -> Result<u8> {
    check_name(&a.name)?;
    let scope = Scope::parse(&a.scope).context("--scope is read or write")?;
    let secret = auth::new_token();
    let mut store = open_store(global)?;
    if !store.token_add(&a.name, scope, &auth::token_hash(&secret), now())? {
        let msg = format!("a token named {} exists; remove it first", a.name);
        if a.json {
            println!(
                "{}",
                json!({"ok": false, "error": msg, "exit": exit::FOUND_PROBLEMS})
            );
        } else {
            eprintln!("rampart: {msg}");
        }
        return Ok(exit::FOUND_PROBLEMS);
    }
    if a.json {
        println!(
            "{}",
            json!({"ok": true, "name": a.name, "scope": scope, "token": secret})
        );
    } else {
        eprintln!(
            "Token {} ({} scope) created. It is shown only now; send it as `Authorization: Bearer TOKEN`:",
            a.name,
            scope.as_str()
        );
        println!("{secret}");
    }
    Ok(exit::OK)
}

fn token_list(global: &Global, a: &StatusArgs) -> Result<u8> {
    let tokens = open_store(global)?.tokens()?;
    if a.json {
        let v: Vec<_> = tokens
            .iter()
            .map(
                |t| json!({"name": t.name, "scope": t.scope, "created": format_rfc3339(t.created)}),
            )
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::OK);
    }
    if tokens.is_empty() {
        println!("No API tokens (`rampart api token add NAME --scope read|write`).");
    }
    for t in &tokens {
        println!(
            "{:<24} {:<6} created {}",
            t.name,
            t.scope.as_str(),
            format_rfc3339(t.created)
        );
    }
    Ok(exit::OK)
}

fn removed_report(a: &NameArgs, removed: bool, what: &str) -> Result<u8> {
    if a.json {
        println!("{}", json!({"ok": removed, "name": a.name}));
    } else if removed {
        println!("Removed the {what} {}.", esc(&a.name));
    } else {
        eprintln!("rampart: no {what} named {}", esc(&a.name));
    }
    Ok(if removed {
        exit::OK
    } else {
        exit::FOUND_PROBLEMS
    })
}

/// `rampart console user add|list|remove`.
pub fn user(global: &Global, c: &UserCmd) -> Result<u8> {
    match c {
        UserCmd::Add(a) => crate::fw::with_json_errors(a.json, || user_add(global, a)),
        UserCmd::List(a) => crate::fw::with_json_errors(a.json, || {
            let users = open_store(global)?.users()?;
            if a.json {
                let v: Vec<_> = users
                    .iter()
                    .map(|u| json!({"name": u.name, "created": format_rfc3339(u.created)}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if users.is_empty() {
                println!("No console users (`rampart console user add NAME`).");
            }
            for u in users.iter().filter(|_| !a.json) {
                println!("{:<24} created {}", u.name, format_rfc3339(u.created));
            }
            Ok(exit::OK)
        }),
        UserCmd::Remove(a) => crate::fw::with_json_errors(a.json, || {
            let removed = open_store(global)?.user_remove(&a.name)?;
            removed_report(a, removed, "console user")
        }),
    }
}

/// Shortest password accepted.
const MIN_PASSWORD: usize = 10;

fn user_add(global: &Global, a: &NameArgs) -> Result<u8> {
    check_name(&a.name)?;
    let password = read_password()?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(crate::fw::Usage(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        ))
        .into());
    }
    let phc = auth::hash_password(&password).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    let new = open_store(global)?.user_set(&a.name, &phc, now())?;
    if a.json {
        println!("{}", json!({"ok": true, "name": a.name, "created": new}));
    } else if new {
        println!("Added console user {}.", a.name);
    } else {
        println!("Set a new password for console user {}.", a.name);
    }
    Ok(exit::OK)
}

/// One line from standard input, or asked twice on a terminal (no echo).
fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = ask_hidden("Password: ")?;
    let again = ask_hidden("Again: ")?;
    if first != again {
        return Err(crate::fw::Usage("the two passwords differ".into()).into());
    }
    Ok(first)
}

fn ask_hidden(prompt: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, OptionalActions::Now, &saved)?;
    eprintln!();
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
