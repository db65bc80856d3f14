#!/usr/bin/env bash
# Builds the Debian package: release binary, man pages and completions
# (cargo xtask dist), then `cargo deb`. Prints the .deb's path last.
# Needs cargo-deb (`cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "cargo-deb is missing: cargo install cargo-deb" >&2
    exit 1
fi
cargo build --release -p rampart
rm -rf target/dist
cargo xtask dist target/dist >&2
cargo deb -p rampart --no-build --strip --output target/debian 2>&1 | tail -n 1
