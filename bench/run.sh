#!/usr/bin/env bash
# Throughput benchmark of `rampart scan` with the whole built-in rule pack.
#
#   bench/run.sh            # build release, generate inputs (once), measure
#   RUNS=5 bench/run.sh     # more repetitions
#
# Inputs are generated deterministically into bench/data/ (not committed):
# a 1M-line auth.log (gen_auth.py, seed 42) and a 1M-line mail.log
# (gen_mail.py). Reports lines/s (wall clock, single thread: scan uses one
# core), user+sys CPU seconds and peak RSS, and checks the ban count.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-9}
mkdir -p bench/data
[ -s bench/data/auth.log ] || python3 bench/gen_auth.py -o bench/data/auth.log --truth bench/data/auth.truth.json >/dev/null
[ -s bench/data/mail.log ] || python3 bench/gen_mail.py -o bench/data/mail.log >/dev/null
cargo build --release -q -p rampart
BIN=target/release/rampart
export RAMPART_CONFIG=/dev/null

measure() { # name file
    local name=$1 file=$2 lines
    lines=$(wc -l < "$file")
    : > bench/data/$name.times
    for _ in $(seq "$RUNS"); do
        { /usr/bin/time -f "%e %U %S %M" "$BIN" scan --json "$file" > bench/data/$name.json; } 2>> bench/data/$name.times
    done
    python3 - "$name" "$lines" bench/data/$name.times bench/data/$name.json <<'PY'
import json, statistics, sys
name, lines, times, path = sys.argv[1:]
rows = [list(map(float, l.split())) for l in open(times) if l.strip()]
lines = int(lines)
best = min(rows, key=lambda r: r[0])
med = statistics.median(r[0] for r in rows)
d = json.load(open(path))
print(f"{name}: {lines} lines; best of {len(rows)}: {best[0]:.3f}s wall = {lines / best[0] / 1e6:.2f} M lines/s "
      f"(user {best[1]:.2f}s, sys {best[2]:.2f}s); median {med:.3f}s = {lines / med / 1e6:.2f} M lines/s; "
      f"peak RSS {max(r[3] for r in rows) / 1024:.1f} MiB; events {d['summary']['events']}; "
      f"bans {len(d['bans'])} ({d['summary']['addresses']} addresses)")
PY
}
measure auth bench/data/auth.log
measure mail bench/data/mail.log
