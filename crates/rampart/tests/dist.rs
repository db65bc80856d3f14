//! The files the package installs: the commented default configuration
//! (`dist/rampart.toml`, /etc/rampart/rampart.toml) passes `rampart config
//! check`, documents every section, and its "# key = value" lines are
//! exactly the built-in defaults; `--version` names the commit and the
//! rule pack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_core::config::{self, ANY_RULE, Config};
use std::path::Path;
use std::process::Command;

fn default_toml() -> (String, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/rampart.toml");
    (
        p.display().to_string(),
        std::fs::read_to_string(&p).unwrap(),
    )
}

#[test]
fn the_default_configuration_passes_config_check() {
    let (path, _) = default_toml();
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["config", "check", &path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn its_commented_settings_are_exactly_the_defaults_and_cover_every_section() {
    let (path, text) = default_toml();
    // "# key = value" and "# [table]" lines, uncommented; "##" lines stay prose
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("# ").filter(|_| !l.starts_with("##")))
        .map(|l| format!("{l}\n"))
        .collect();
    let reasons: Vec<String> = rampart_core::explain::builtin()
        .into_iter()
        .map(|r| r.code)
        .collect();
    let codes: Vec<&str> = reasons.iter().map(String::as_str).collect();
    let parsed = config::parse(
        &path,
        &uncommented,
        &codes,
        ANY_RULE,
        &rampart::settings::SystemZones,
    )
    .unwrap();
    assert_eq!(
        parsed,
        Config::default(),
        "the documented defaults drifted:\n{uncommented}"
    );
    for table in [
        "detect",
        "ban",
        "distributed",
        "ids",
        "firewall",
        "country",
        "portscan",
        "limits",
        "sources",
        "api",
    ] {
        assert!(
            text.contains(&format!("# [{table}]\n")),
            "[{table}] is not documented"
        );
    }
    for doc in [
        "[reasons.sshd]",
        "[rules.\"",
        "log_timezone",
        "rules_dir",
        "tcp_out",
        "udp_out",
        "ssh_port",
        "database",
        "allow_ports",
        "synflood",
        "journal",
    ] {
        assert!(text.contains(doc), "{doc} is not documented");
    }
}

#[test]
fn version_names_the_commit_and_the_rule_pack() {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        concat!("rampart ", env!("CARGO_PKG_VERSION")),
        "{text}"
    );
    let commit = lines[1].strip_prefix("commit ").expect(&text);
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
    assert_eq!(
        lines[2],
        format!(
            "rule pack {} ({} rules)",
            rampart_core::builtin::pack_version(),
            rampart_core::builtin::rule_count()
        )
    );
}
