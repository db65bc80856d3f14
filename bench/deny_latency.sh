#!/usr/bin/env bash
# `rampart deny` end to end (process start to the element in the kernel set),
# N times, inside a throw-away network namespace (never the host's ruleset).
#   sudo bench/deny_latency.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
cargo build --release -q -p rampart
BIN=$PWD/target/release/rampart
NS=rampart-bench-$$
STATE=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$STATE"' EXIT
ip netns add "$NS"
ip netns exec "$NS" env BIN="$BIN" STATE="$STATE" N="$N" bash -c '
    export RAMPART_CONFIG=/dev/null
    "$BIN" --state-dir "$STATE" apply >/dev/null
    for i in $(seq 1 "$N"); do
        a=$(( i / 250 )); b=$(( i % 250 + 1 ))
        s=$(date +%s%N)
        "$BIN" --state-dir "$STATE" deny "198.51.$a.$b" --for 1h >/dev/null
        e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done' | sort -n | awk '{v[NR]=$1} END {printf "rampart deny x%d: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", NR, v[int(NR*0.5)]/1000, v[int(NR*0.9)]/1000, v[int(NR*0.99)]/1000, v[NR]/1000}'
ip netns exec "$NS" nft list set inet rampart deny4 | grep -c "expires" >/dev/null && echo "elements are in the kernel set"
