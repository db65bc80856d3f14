#!/usr/bin/env python3
"""Recompute the corpus scores with self-contradicting labels set aside.

Some lines appear more than once in a group with opposite labels (benign in
fail2ban's default mode, an attack in its aggressive mode). A detector that
reads one line at a time gives an identical line one verdict, so each such
pair costs either a false event or a miss whatever the rules do. This
prints them and the totals without them. Usage: CORPUS GROUPS BIN
"""
import collections, ipaddress, json, os, subprocess, sys, tempfile

corpus, groups, binary = sys.argv[1], sys.argv[2].split(","), sys.argv[3]

def norm(ip):
    if ip is None:
        return None
    s = str(ip).strip().strip("[]")
    try:
        a = ipaddress.ip_address(s)
        if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
            a = a.ipv4_mapped
        return str(a)
    except ValueError:
        return s

by_group = collections.OrderedDict()
for raw in open(corpus):
    o = json.loads(raw)
    if o["filter"] in groups:
        by_group.setdefault(o["filter"], []).append(o)

tot = collections.Counter()
conflicts = []
with tempfile.TemporaryDirectory() as d:
    for g, items in by_group.items():
        labels = collections.defaultdict(set)
        for o in items:
            labels[o["line"]].add(o["expect_ip"] is not None)
        path = os.path.join(d, g + ".log")
        with open(path, "w") as f:
            for o in items:
                f.write(o["line"] + "\n")
        out = subprocess.run([binary, "scan", "--events", path], capture_output=True, text=True).stdout
        got = collections.defaultdict(set)
        for ln in out.splitlines():
            e = json.loads(ln)
            got[e["line"]].add(norm(e["ip"]))
        for i, o in enumerate(items, 1):
            if len(labels[o["line"]]) > 1:
                if o["expect_ip"] is not None:
                    conflicts.append((g, o["line"]))
                continue
            want, have = norm(o["expect_ip"]), got.get(i, set())
            if want is None:
                tot["benign"] += 1
                tot["false"] += bool(have)
            else:
                tot["pos"] += 1
                tot["hit"] += want in have
                tot["wrong"] += bool(have) and want not in have
print(f"\nlines labelled both attack and benign (set aside): {len(conflicts)}")
for g, line in conflicts:
    print(f"    {g}: {line[:150]}")
pct = lambda n, d: 100.0 * n / d if d else 0.0
print(f"without them: positives={tot['pos']} hit={tot['hit']} recall={pct(tot['hit'], tot['pos']):.1f}% "
      f"wrong_ip={tot['wrong']} benign={tot['benign']} false={tot['false']} false_rate={pct(tot['false'], tot['benign']):.1f}%")
