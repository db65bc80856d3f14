//! Rampart's fuzz targets. Each target's body lives in [`harness`], which
//! the workspace also compiles as an ordinary test
//! (`crates/rampart/tests/fuzz_corpus.rs`) to replay the committed seed
//! corpus (`fuzz/corpus/TARGET/`) on every `cargo test`.
#![allow(clippy::unwrap_used)]

pub mod harness;
