"""A blocklist server for tests: serves DIR/list.txt at /list.txt with an
ETag (honouring If-None-Match with 304). DIR/mode selects a failure:
"500" answers 500, "truncate" announces more bytes than it sends. Every
request is appended to DIR/requests.log as "STATUS IF-NONE-MATCH"."""
import hashlib
import http.server
import os
import sys

PORT, DIR = int(sys.argv[1]), sys.argv[2]


def read(name, default=b""):
    try:
        with open(os.path.join(DIR, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return default


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log(self, status):
        with open(os.path.join(DIR, "requests.log"), "a") as f:
            f.write(f"{status} {self.headers.get('If-None-Match', '-')}\n")

    def do_GET(self):
        mode = read("mode").decode().strip()
        body = read("list.txt")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if mode == "500":
            self.log(500)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == etag and mode != "truncate":
            self.log(304)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.log(200)
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "text/plain")
        if mode == "truncate":
            self.send_header("Content-Length", str(len(body) + 1000))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
