#!/usr/bin/env python3
# Ported unchanged from the workplace benchmark kit (shared/bench) so the
# benchmark is reproducible from this repository alone.
"""Deterministic synthetic /var/log/auth.log generator for throughput comparisons.

Output: N lines (default 1,000,000) in traditional BSD-syslog format
("Nov 27 00:00:00 host prog[pid]: msg"), of which ~10% are sshd failure lines
of exactly two shapes:

    sshd[PID]: Failed password for root from IP port N ssh2
    sshd[PID]: Invalid user admin from IP port N

coming from exactly ATTACKERS (default 50,000) distinct IPv4 addresses.
Every attacker appears at least once; the remaining attack lines are spread
with a heavy-tailed (Zipf-like) weight so that a realistic minority of
addresses crosses typical thresholds (3, 5, 10 failures).

The other ~90% are benign noise from sshd (successful publickey logins,
session open/close, clean disconnects), CRON and systemd / systemd-logind,
all from a small pool of documentation-range "good" addresses that never
appear among attackers. No benign line matches common sshd failure filters
(no "[preauth]" closes, no "Did not receive identification", etc.).

Timestamps increase monotonically and the whole file spans SPAN seconds
(default 3000 s = 50 min), so with any find-time/detection window >= 1 h
the expected ban count is simply the number of attackers with >= T
failures. A ground-truth JSON is written next to the log (--truth).

Same --seed => byte-identical output.
"""
import argparse
import calendar
import collections
import json
import random
import sys
import time


def attacker_ips(rng, n):
    """n distinct public-looking IPv4 addresses (no 0/10/100.64/127/169.254/172.16/192.168/224+, no doc ranges)."""
    seen = set()
    out = []
    bad_first = {0, 10, 127}
    while len(out) < n:
        a = rng.randint(1, 223)
        b, c, d = rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)
        if a in bad_first:
            continue
        if (a == 100 and 64 <= b <= 127) or (a == 169 and b == 254) or (a == 172 and 16 <= b <= 31) \
                or (a == 192 and b == 168) or (a == 192 and b == 0) or (a == 198 and b in (18, 19, 51)) \
                or (a == 203 and b == 0):
            continue
        ip = f"{a}.{b}.{c}.{d}"
        if ip in seen:
            continue
        seen.add(ip)
        out.append(ip)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default="auth.log")
    ap.add_argument("--truth", default=None, help="ground-truth JSON path (default: OUT + '.truth.json')")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--attack-frac", type=float, default=0.10)
    ap.add_argument("--attackers", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--span", type=int, default=3000, help="seconds covered by the whole file")
    ap.add_argument("--start", default="2026-11-27 00:00:00", help="UTC time of first line (year is not printed)")
    ap.add_argument("--host", default="web01")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    n_attack = int(round(args.lines * args.attack_frac))
    if n_attack < args.attackers:
        sys.exit("attack lines must be >= attackers")

    ips = attacker_ips(rng, args.attackers)
    # every attacker at least once, the rest heavy-tailed by rank
    counts = [1] * args.attackers
    weights = [1.0 / (r + 1) ** 0.9 for r in range(args.attackers)]
    extra = rng.choices(range(args.attackers), weights=weights, k=n_attack - args.attackers)
    for i in extra:
        counts[i] += 1
    # attack events: (ip, kind); shuffle so each IP's attempts interleave over the file
    events = []
    for ip, c in zip(ips, counts):
        for _ in range(c):
            events.append((ip, 0 if rng.random() < 0.6 else 1))
    rng.shuffle(events)
    attack_positions = set(rng.sample(range(args.lines), n_attack))

    good_ips = [f"192.0.2.{i}" for i in range(1, 60)] + [f"198.51.100.{i}" for i in range(1, 60)]
    good_users = ["deploy", "alice", "bob", "backup", "ansible", "git"]
    cron_cmds = [
        "(root) CMD (cd / && run-parts --report /etc/cron.hourly)",
        "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
        "(www-data) CMD (php /var/www/app/artisan schedule:run >> /dev/null 2>&1)",
        "(root) CMD (   test -x /etc/cron.daily/popularity-contest && /etc/cron.daily/popularity-contest --crond)",
        "(backup) CMD (/usr/local/bin/backup.sh --incremental)",
    ]
    units = [
        ("Starting", "Daily apt download activities..."), ("Finished", "Daily apt download activities."),
        ("Starting", "Cleanup of Temporary Directories..."), ("Finished", "Cleanup of Temporary Directories."),
        ("Starting", "Rotate log files..."), ("Finished", "Rotate log files."),
        ("Started", "Session {sess} of User {user}."), ("Stopping", "User Manager for UID 1000..."),
        ("Started", "User Manager for UID 1000."), ("Reloading", "The nginx HTTP and reverse proxy server..."),
    ]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    t0 = calendar.timegm(time.strptime(args.start, "%Y-%m-%d %H:%M:%S"))  # UTC, TZ-independent

    def stamp(t):
        lt = time.gmtime(t)
        return f"{months[lt.tm_mon - 1]} {lt.tm_mday:2d} {lt.tm_hour:02d}:{lt.tm_min:02d}:{lt.tm_sec:02d}"

    per_ip = collections.Counter()
    kinds = collections.Counter()
    ev_iter = iter(events)
    sess = 1000
    out = open(args.out, "w", buffering=1 << 20)
    last_t, last_s = None, None
    for ln in range(args.lines):
        t = t0 + (ln * args.span) // args.lines
        if t != last_t:
            last_t, last_s = t, stamp(t)
        pid = rng.randint(1000, 65000)
        port = rng.randint(1024, 65535)
        if ln in attack_positions:
            ip, kind = next(ev_iter)
            per_ip[ip] += 1
            kinds[kind] += 1
            if kind == 0:
                msg = f"sshd[{pid}]: Failed password for root from {ip} port {port} ssh2"
            else:
                msg = f"sshd[{pid}]: Invalid user admin from {ip} port {port}"
        else:
            r = rng.random()
            user = rng.choice(good_users)
            gip = rng.choice(good_ips)
            if r < 0.10:
                msg = f"sshd[{pid}]: Accepted publickey for {user} from {gip} port {port} ssh2: ED25519 SHA256:{rng.getrandbits(128):032x}"
            elif r < 0.20:
                msg = f"sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"
            elif r < 0.30:
                msg = f"sshd[{pid}]: pam_unix(sshd:session): session closed for user {user}"
            elif r < 0.36:
                msg = f"sshd[{pid}]: Received disconnect from {gip} port {port}:11: disconnected by user"
            elif r < 0.42:
                msg = f"sshd[{pid}]: Disconnected from user {user} {gip} port {port}"
            elif r < 0.47:
                msg = f"sshd[{pid}]: Server listening on 0.0.0.0 port 22."
            elif r < 0.62:
                msg = f"CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            elif r < 0.72:
                msg = f"CRON[{pid}]: {rng.choice(cron_cmds)}"
            elif r < 0.80:
                msg = f"CRON[{pid}]: pam_unix(cron:session): session closed for user root"
            elif r < 0.88:
                sess += 1
                verb, what = rng.choice(units)
                msg = f"systemd[1]: {verb} {what.format(sess=sess, user=user)}"
            elif r < 0.94:
                sess += 1
                msg = f"systemd-logind[{rng.randint(300, 900)}]: New session {sess} of user {user}."
            else:
                msg = f"systemd-logind[{rng.randint(300, 900)}]: Removed session {rng.randint(1000, sess + 1)}."
        out.write(f"{last_s} {args.host} {msg}\n")
    out.close()

    hist = collections.Counter(per_ip.values())
    ge = {k: sum(1 for c in per_ip.values() if c >= k) for k in (1, 2, 3, 4, 5, 6, 10, 20, 50, 100)}
    truth = {
        "lines": args.lines,
        "attack_lines": n_attack,
        "failed_password_lines": kinds[0],
        "invalid_user_lines": kinds[1],
        "distinct_attackers": len(per_ip),
        "attackers_with_at_least": ge,
        "max_failures_one_ip": max(per_ip.values()),
        "span_seconds": args.span,
        "seed": args.seed,
        "count_histogram_first_10": {k: hist[k] for k in range(1, 11)},
    }
    with open(args.truth or args.out + ".truth.json", "w") as f:
        json.dump(truth, f, indent=1)
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
