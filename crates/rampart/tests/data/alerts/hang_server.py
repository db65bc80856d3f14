"""A server that accepts connections and then says nothing, ever (a hung
SMTP server or webhook). usage: hang_server.py PORT OUTDIR; OUTDIR/ready
appears once it listens; OUTDIR/accepted counts the connections."""
import os
import socket
import sys

port, outdir = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
open(os.path.join(outdir, "ready"), "w").close()
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    with open(os.path.join(outdir, "accepted"), "w") as f:
        f.write(str(len(held)))
