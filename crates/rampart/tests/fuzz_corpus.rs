//! The fuzz targets' smoke run: every committed seed input
//! (`fuzz/corpus/TARGET/*`, including the inputs of past findings) through
//! the same target bodies cargo-fuzz runs (`fuzz/src/harness.rs`), as
//! ordinary tests. The fuzzing itself: see `fuzz/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/src/harness.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "no seed inputs for {target}");
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), harness::$name);
            }
        )*
    };
}

targets!(
    line_envelope,
    detector,
    config,
    blocklist,
    country_mmdb,
    country_csv,
    nflog,
    conntrack,
    rtnl,
);
