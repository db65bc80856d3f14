"""Real mail and FTP clients (Python's smtplib, poplib, imaplib, ftplib)
connecting from SRC to DST; prints one JSON object: protocol -> what the
client raised (or "connected" when no error came)."""
import ftplib
import imaplib
import json
import poplib
import smtplib
import socket
import sys

src, dst = sys.argv[1], sys.argv[2]
_orig = socket.create_connection


def _from_src(address, timeout=5, source_address=None, **kw):
    return _orig(address, timeout, (src, 0), **kw)


socket.create_connection = _from_src  # every client connects from SRC

CLIENTS = {
    "smtp": lambda: smtplib.SMTP(dst, 25, timeout=5),
    "submission": lambda: smtplib.SMTP(dst, 587, timeout=5),
    "pop3": lambda: poplib.POP3(dst, 110, timeout=5),
    "imap": lambda: imaplib.IMAP4(dst, 143, timeout=5),
    "ftp": lambda: ftplib.FTP(dst, timeout=5),
}
out = {}
for name, connect in CLIENTS.items():
    try:
        connect()
        out[name] = "connected"
    except Exception as e:  # the refusal is what we want to see
        out[name] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
