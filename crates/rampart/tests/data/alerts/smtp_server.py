"""A real SMTP server for the alert tests (aiosmtpd), on loopback.

usage: smtp_server.py MODE PORT OUTDIR [CERT KEY]
MODE: plain | starttls (STARTTLS required, AUTH alerts/s3cret required) |
      smtps (implicit TLS, AUTH alerts/s3cret required)
Each message received becomes OUTDIR/NNNNNN.json (parsed with Python's
email package: headers, decoded text parts, TLS and AUTH state).
OUTDIR/ready appears once the server listens.
"""
import email
import json
import os
import ssl
import sys
import time
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        parts = {}
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        auth = getattr(session, "auth_data", None)
        tls = server.transport.get_extra_info("ssl_object") is not None
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "kind": str(msg["x-rampart-kind"]),
            "date": str(msg["date"]),
            "message_id": str(msg["message-id"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
            "tls": tls,
            "auth": auth.login.decode() if isinstance(auth, LoginPassword) else None,
        }
        n = len([f for f in os.listdir(outdir) if f.endswith(".json")])
        tmp = os.path.join(outdir, ".%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(outdir, "%06d.json" % n))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"alerts"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok, auth_data=auth_data)


kw = {}
if mode in ("starttls", "smtps"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    kw["authenticator"] = authenticator
    if mode == "starttls":
        kw.update(tls_context=ctx, require_starttls=True, auth_require_tls=True, auth_required=True)
    else:
        kw.update(ssl_context=ctx, auth_require_tls=False, auth_required=True)
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kw)
controller.start()
open(os.path.join(outdir, "ready"), "w").close()
while True:
    time.sleep(3600)
