//! Golden tests of the rendered nft text. Regenerate after an intended
//! change with `RAMPART_BLESS=1 cargo test -p rampart-nft --test golden`
//! and review the diff.

mod fixtures;

use std::path::PathBuf;

use rampart_nft::Ruleset;

fn check(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.nft"));
    if std::env::var_os("RAMPART_BLESS").is_some() {
        std::fs::write(&path, text).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with RAMPART_BLESS=1)", path.display()));
    assert_eq!(
        text,
        want,
        "{} differs from the rendering (bless with RAMPART_BLESS=1 if intended)",
        path.display()
    );
}

#[test]
fn ban_only_default() {
    check(
        "ban_only",
        &fixtures::ban_only().render(&[]).expect("render"),
    );
}

#[test]
fn ban_only_with_lists_filters_and_country_allow() {
    check(
        "ban_only_lists",
        &fixtures::ban_only_lists().render(&[]).expect("render"),
    );
}

#[test]
fn strict_csf_policy() {
    check(
        "strict_csf",
        &fixtures::strict_csf().render(&[]).expect("render"),
    );
}

#[test]
fn reload_deletes_stale_sets() {
    let existing: Vec<String> = ["allow4", "deny4", "bl4_gone", "bl6_gone", "bl4_dshield"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    check(
        "reload_stale",
        &fixtures::ban_only_lists()
            .render(&existing)
            .expect("render"),
    );
}

#[test]
fn ban_only_with_scan_log_and_limits() {
    check(
        "ban_only_guards",
        &fixtures::ban_only_guards().render(&[]).expect("render"),
    );
}

#[test]
fn strict_with_scan_log_and_limits() {
    check(
        "strict_guards",
        &fixtures::strict_guards().render(&[]).expect("render"),
    );
}

#[test]
fn reload_without_limits_deletes_their_sets() {
    let before = fixtures::ban_only_guards();
    let mut existing = before.set_names().expect("names");
    existing.extend(before.limit_set_names());
    let text = fixtures::ban_only().render(&existing).expect("render");
    for s in before.limit_set_names() {
        assert!(
            text.contains(&format!("delete set inet rampart {s}\n")),
            "{s} not deleted:\n{text}"
        );
    }
    // And keeping them keeps the sets (their meters survive a reload).
    let again = before.render(&existing).expect("render");
    assert!(!again.contains("delete set"), "{again}");
}

#[test]
fn flush_only_our_table() {
    check("flush", &Ruleset::render_flush());
}

#[test]
fn rendering_is_deterministic() {
    let a = fixtures::strict_csf().render(&[]).expect("render");
    let b = fixtures::strict_csf().render(&[]).expect("render");
    assert_eq!(a, b);
}

#[test]
fn ban_only_with_the_messenger() {
    check(
        "ban_only_messenger",
        &fixtures::ban_only_messenger().render(&[]).expect("render"),
    );
}

#[test]
fn turning_the_messenger_off_removes_its_chain_before_its_sets() {
    let existing: Vec<String> = ["deny4", "page4", "page6", "msgrate4", "msgconn6"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    check(
        "messenger_off",
        &fixtures::ban_only().render(&existing).expect("render"),
    );
}
