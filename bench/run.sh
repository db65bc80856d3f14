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
RUNS=${RUNS:-3}
mkdir -p bench/data
[ -s bench/data/auth.log ] || python3 bench/gen_auth.py -o bench/data/auth.log --truth bench/data/auth.truth.json >/dev/null
[ -s bench/data/mail.log ] || python3 bench/gen_mail.py -o bench/data/mail.log >/dev/null
cargo build --release -q -p rampart
BIN=target/release/rampart
export RAMPART_CONFIG=/dev/null

measure() { # name file
    local name=$1 file=$2 lines best=999 out
    lines=$(wc -l < "$file")
    for _ in $(seq "$RUNS"); do
        out=$( { /usr/bin/time -f "%e %U %S %M" "$BIN" scan --json "$file" > bench/data/$name.json; } 2>&1 | tail -1)
        read -r wall user sys rss <<<"$out"
        if awk "BEGIN{exit !($wall < $best)}"; then best=$wall; bu=$user; bs=$sys; brss=$rss; fi
    done
    python3 - "$name" "$lines" "$best" "$bu" "$bs" "$brss" bench/data/$name.json <<'PY'
import json, sys
name, lines, wall, user, sys_, rss, path = sys.argv[1:]
d = json.load(open(path))
lines, wall = int(lines), float(wall)
print(f"{name}: {lines} lines in {wall:.3f}s wall = {lines / wall / 1e6:.2f} M lines/s; "
      f"cpu user {user}s sys {sys_}s; peak RSS {int(rss) / 1024:.1f} MiB; "
      f"events {d['summary']['events']}; bans {len(d['bans'])} ({d['summary']['addresses']} addresses)")
PY
}
measure auth bench/data/auth.log
measure mail bench/data/mail.log
