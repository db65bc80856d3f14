#!/usr/bin/env bash
# Rampart against fail2ban-rs on the 1M-line auth.log, in alternating pairs.
#
#   F2B=/path/to/fail2ban-rs bench/peer.sh        # PAIRS=15 for more pairs
#
# fail2ban-rs is built from its public repository outside this one (never
# vendored here):
#   git clone https://github.com/aejimmi/fail2ban-rs && cd fail2ban-rs && cargo build --release
# Its jail is its own `gen-config sshd` output with the common rule of the
# peer survey (5 failures in 1 hour, ban 1 hour) and a no-op script
# backend; it runs `dry-run` (reads the log, matches, counts, no bans).
# Rampart runs `scan --json` with its whole built-in rule pack. Each pair
# runs both, in alternating order; the script reports each tool's median
# and best wall time, user+sys CPU, and the median of the per-pair ratios,
# and checks both found the generator's 1,826 bans.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${F2B:?set F2B to a fail2ban-rs release binary}"
PAIRS=${PAIRS:-11}
mkdir -p bench/data
[ -s bench/data/auth.log ] || python3 bench/gen_auth.py -o bench/data/auth.log --truth bench/data/auth.truth.json >/dev/null
cargo build --release -q -p rampart
BIN=target/release/rampart
export RAMPART_CONFIG=/dev/null
CONF=bench/data/f2b-sshd.toml
{
    printf '[global]\nstate_file = "%s/f2b-state.bin"\nsocket_path = "%s/f2b.sock"\n\n' "$PWD/bench/data" "$PWD/bench/data"
    "$F2B" gen-config sshd
    printf 'max_retry = 5\nfind_time = "1h"\nban_time = "1h"\n\n[jail.sshd.backend.script]\nban_cmd = "true"\nunban_cmd = "true"\n'
} > "$CONF"
T=bench/data/peer.times
: > "$T"
# wall time in milliseconds from the clock (/usr/bin/time rounds to 10 ms), CPU and RSS from time(1)
timed() { # name command...
    local name=$1 t0 t1 out
    shift
    t0=$(date +%s%N)
    out=$(/usr/bin/time -f "%U %S %M" "$@" 2>&1 >/dev/null | tail -1)
    t1=$(date +%s%N)
    echo "$name $(( (t1 - t0) / 1000000 ))e-3 $out" >> "$T"
}
run_rampart() { timed rampart "$BIN" scan --json bench/data/auth.log; }
run_f2b() { timed f2b "$F2B" dry-run -c "$CONF" bench/data/auth.log; }
for i in $(seq "$PAIRS"); do
    if (( i % 2 )); then run_rampart; run_f2b; else run_f2b; run_rampart; fi
done
# the results, checked once after the timed runs
"$BIN" scan --json bench/data/auth.log > bench/data/peer-rampart.json
"$F2B" dry-run -c "$CONF" bench/data/auth.log > bench/data/peer-f2b.txt 2>/dev/null
grep -q '^  Would ban:  1826$' bench/data/peer-f2b.txt || { echo "fail2ban-rs did not find 1826 bans" >&2; exit 1; }
python3 - "$T" bench/data/peer-rampart.json <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split()[:1] in (["rampart"], ["f2b"])]
r = [list(map(float, x[1:])) for x in rows if x[0] == "rampart"]
f = [list(map(float, x[1:])) for x in rows if x[0] == "f2b"]
bans = len(json.load(open(sys.argv[2]))["bans"])
assert bans == 1826, f"rampart found {bans} bans"
def show(name, v):
    w = [x[0] for x in v]
    cpu = [x[1] + x[2] for x in v]
    print(f"{name:<12} wall median {statistics.median(w):.3f} s, best {min(w):.3f} s; "
          f"user+sys median {statistics.median(cpu):.3f} s; peak RSS {max(x[3] for x in v) / 1024:.1f} MiB")
show("rampart", r)
show("fail2ban-rs", f)
ratios = [b[0] / a[0] for a, b in zip(r, f)]
cpu_ratios = [(b[1] + b[2]) / (a[1] + a[2]) for a, b in zip(r, f)]
print(f"{len(ratios)} pairs: fail2ban-rs / rampart wall time: median {statistics.median(ratios):.2f}x "
      f"(range {min(ratios):.2f}-{max(ratios):.2f}); CPU time median {statistics.median(cpu_ratios):.2f}x; "
      f"ratio of medians {statistics.median(x[0] for x in f) / statistics.median(x[0] for x in r):.2f}x; "
      f"bans: rampart {bans}, fail2ban-rs 1826")
PY
