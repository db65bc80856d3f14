"""A webhook receiver for the alert tests, on loopback.

usage: http_receiver.py PORT OUTDIR STATUS [SECRET]
Answers every POST with STATUS; records each as OUTDIR/NNNNNN.json with the
path, the headers, the body and, with SECRET, whether X-Rampart-Signature
is HMAC-SHA256(SECRET, X-Rampart-Timestamp + "." + body) (computed here
with Python's hmac, independently of Rampart). OUTDIR/ready appears once
it listens.
"""
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, outdir, status = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
secret = sys.argv[4].encode() if len(sys.argv) > 4 else None
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rec = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        if secret is not None:
            ts = self.headers.get("X-Rampart-Timestamp", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            rec["signature_ok"] = hmac.compare_digest(want, self.headers.get("X-Rampart-Signature", ""))
        with lock:
            n = len([f for f in os.listdir(outdir) if f.endswith(".json")])
            tmp = os.path.join(outdir, ".%06d.tmp" % n)
            with open(tmp, "w") as f:
                json.dump(rec, f)
            os.rename(tmp, os.path.join(outdir, "%06d.json" % n))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
open(os.path.join(outdir, "ready"), "w").close()
server.serve_forever()
