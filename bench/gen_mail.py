#!/usr/bin/env python3
# Ported unchanged from the workplace benchmark kit (shared/bench) so the
# benchmark is reproducible from this repository alone.
"""Synthetic mixed mail.log (postfix + dovecot, syslog format), deterministic.

Default 1,000,000 lines.  Failure classes (fractions of all lines):
  3.0%  postfix smtpd "NOQUEUE: reject: RCPT from ...: 554 5.7.1 ... Relay access denied"
        / "450 4.7.1 Client host rejected: cannot find your hostname"  (postfix mode=more/normal)
  3.0%  postfix smtpd "warning: unknown[IP]: SASL LOGIN authentication failed: ..."
        (postfix mode=auth/extra/aggressive only)
  4.0%  dovecot auth failures: imap/pop3-login "Disconnected (auth failed, N attempts ...)",
        "auth: passwd-file(user,IP): unknown user", "auth-worker(N): pam(user,IP):
        pam_authenticate() failed: Authentication failure (password mismatch?)"  (dovecot normal)
  0.5%  dovecot "Disconnected (no auth attempts in N secs)"  (dovecot mode=aggressive only)
  0.3%  postfix "warning: hostname X does not resolve to address IP" (postfix aggressive only)
The rest: benign postfix queue traffic and dovecot logins/logouts.
Writes LOG.truth.json with expected matches per filter/mode.
"""
import argparse
import datetime
import ipaddress
import json
import random

HOST = "mx1"
USERS = ["alice@example.org", "bob@example.org", "info@example.org", "sales@example.org",
         "carol@example.net", "dave@example.net"]
BAD_USERS = ["admin", "test", "info", "webmaster", "postmaster", "sales", "contact", "office",
             "support", "user1", "marketing", "noreply"]


def public_ipv4(rng):
    while True:
        a = ipaddress.IPv4Address(rng.getrandbits(32))
        if a.is_global and not a.is_multicast:
            return str(a)


def qid(rng):
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(10))


def sess(rng):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(16))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--lines", type=int, default=1_000_000)
    ap.add_argument("--ips", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--start", default="2025-03-01T00:00:00")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("-o", "--out", default="mail.log")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    ips = set()
    while len(ips) < a.ips:
        ips.add(public_ipv4(rng))
    ips = sorted(ips)
    rng.shuffle(ips)
    weights = [1.0 / (i + 1) ** 1.05 for i in range(len(ips))]
    good_relays = [public_ipv4(rng) for _ in range(200)]
    lan = ["10.1.0.%d" % i for i in range(2, 60)]
    start = datetime.datetime.fromisoformat(a.start)
    step = a.days * 86400.0 / a.lines
    c = {"postfix_reject": 0, "postfix_sasl": 0, "dovecot_authfail": 0,
         "dovecot_noauth": 0, "postfix_noresolve": 0, "benign": 0}
    fail_ips = {k: set() for k in c}
    pid = 3000
    with open(a.out, "w") as fh:
        for i in range(a.lines):
            t = start + datetime.timedelta(seconds=i * step)
            ts = t.strftime("%b ") + ("%2d" % t.day) + t.strftime(" %H:%M:%S")
            pid += rng.randrange(0, 3)
            r = rng.random()
            ip = rng.choices(ips, weights=weights)[0] if r < 0.108 else None
            if r < 0.030:
                k = "postfix_reject"
                if rng.random() < 0.6:
                    msg = ("postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 <%s@gmail.com>: "
                           "Relay access denied; from=<spam@%s.example> to=<%s@gmail.com> proto=ESMTP helo=<%s>"
                           % (pid, ip, rng.choice(BAD_USERS), rng.choice(BAD_USERS), rng.choice(BAD_USERS), ip))
                else:
                    msg = ("postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 450 4.7.1 Client host rejected: "
                           "cannot find your hostname, [%s]; from=<x@y.example> to=<%s> proto=ESMTP helo=<WIN-%d>"
                           % (pid, ip, ip, rng.choice(USERS), rng.randrange(1000, 9999)))
            elif r < 0.060:
                k = "postfix_sasl"
                msg = ("postfix/smtpd[%d]: warning: unknown[%s]: SASL %s authentication failed: %s"
                       % (pid, ip, rng.choice(["LOGIN", "PLAIN"]), rng.choice(["UGFzc3dvcmQ6", "authentication failure"])))
            elif r < 0.100:
                k = "dovecot_authfail"
                s = rng.random()
                if s < 0.5:
                    msg = ("dovecot: %s-login: Disconnected (auth failed, %d attempts in %d secs): user=<%s>, method=PLAIN, "
                           "rip=%s, lip=203.0.113.25, TLS, session=<%s>"
                           % (rng.choice(["imap", "pop3"]), rng.randrange(1, 4), rng.randrange(1, 20),
                              rng.choice(BAD_USERS), ip, sess(rng)))
                elif s < 0.75:
                    msg = "dovecot: auth: passwd-file(%s,%s): unknown user" % (rng.choice(BAD_USERS), ip)
                else:
                    msg = ("dovecot: auth-worker(%d): pam(%s,%s): pam_authenticate() failed: Authentication failure "
                           "(password mismatch?)" % (pid, rng.choice(USERS), ip))
            elif r < 0.105:
                k = "dovecot_noauth"
                msg = ("dovecot: imap-login: Disconnected (no auth attempts in %d secs): user=<>, rip=%s, "
                       "lip=203.0.113.25, TLS handshaking: Connection closed, session=<%s>" % (rng.randrange(0, 60), ip, sess(rng)))
            elif r < 0.108:
                k = "postfix_noresolve"
                msg = ("postfix/smtpd[%d]: warning: hostname %d-%d.dyn.example.net does not resolve to address %s"
                       % (pid, rng.randrange(1, 255), rng.randrange(1, 255), ip))
            else:
                k = "benign"
                s = rng.random()
                q = qid(rng)
                rel = rng.choice(good_relays)
                u = rng.choice(USERS)
                if s < 0.12:
                    msg = "postfix/smtpd[%d]: connect from mail-%d.example.com[%s]" % (pid, rng.randrange(1, 99), rel)
                elif s < 0.22:
                    msg = "postfix/smtpd[%d]: %s: client=mail-%d.example.com[%s]" % (pid, q, rng.randrange(1, 99), rel)
                elif s < 0.32:
                    msg = "postfix/cleanup[%d]: %s: message-id=<%s@example.com>" % (pid, q, sess(rng))
                elif s < 0.42:
                    msg = "postfix/qmgr[1021]: %s: from=<newsletter@example.com>, size=%d, nrcpt=1 (queue active)" % (q, rng.randrange(900, 90000))
                elif s < 0.52:
                    msg = ("postfix/lmtp[%d]: %s: to=<%s>, relay=mx1[private/dovecot-lmtp], delay=%.2f, delays=0.1/0/0/0.2, "
                           "dsn=2.0.0, status=sent (250 2.0.0 <%s> %s Saved)" % (pid, q, u, rng.random(), u, sess(rng)))
                elif s < 0.60:
                    msg = "postfix/qmgr[1021]: %s: removed" % q
                elif s < 0.70:
                    msg = ("postfix/smtpd[%d]: disconnect from mail-%d.example.com[%s] ehlo=1 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=6"
                           % (pid, rng.randrange(1, 99), rel))
                elif s < 0.80:
                    msg = ("dovecot: imap-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=10.1.0.1, mpid=%d, TLS, session=<%s>"
                           % (u, rng.choice(lan), pid, sess(rng)))
                elif s < 0.90:
                    msg = ("dovecot: imap(%s)<%d><%s>: Logged out in=%d out=%d deleted=0 expunged=0 trashed=0 hdr_count=0 "
                           "hdr_bytes=0 body_count=0 body_bytes=0" % (u, pid, sess(rng), rng.randrange(100, 9000), rng.randrange(100, 90000)))
                elif s < 0.95:
                    msg = ("postfix/smtp[%d]: %s: to=<friend@example.net>, relay=mx.example.net[%s]:25, delay=0.9, "
                           "delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)" % (pid, q, rel))
                else:
                    msg = ("postfix/submission/smtpd[%d]: %s: client=unknown[%s], sasl_method=PLAIN, sasl_username=%s"
                           % (pid, q, rng.choice(lan), u))
            c[k] += 1
            if ip:
                fail_ips[k].add(ip)
            fh.write("%s %s %s\n" % (ts, HOST, msg))
    truth = {"lines": a.lines, "classes": c,
             "expected": {
                 "postfix (mode=more, default)": c["postfix_reject"],
                 "postfix[mode=auth]": c["postfix_sasl"],
                 "postfix[mode=aggressive]": c["postfix_reject"] + c["postfix_sasl"] + c["postfix_noresolve"],
                 "dovecot (mode=normal)": c["dovecot_authfail"],
                 "dovecot[mode=aggressive]": c["dovecot_authfail"] + c["dovecot_noauth"]},
             "distinct_ips": {k: len(v) for k, v in fail_ips.items() if v},
             "seed": a.seed}
    with open(a.out + ".truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
