#!/usr/bin/python3
"""A status server for the tests: accepts connections on TCP (127.0.0.1, a
free port) or a Unix socket, and appends every line it receives to a file.
Writes its address to ADDR_FILE once listening; stops after STOP_AFTER
"finished" messages or 30 s, whichever comes first."""
import json
import os
import selectors
import socket
import sys
import time

kind, addr_file, out_file = sys.argv[1:4]
stop_after = int(sys.argv[4]) if len(sys.argv) > 4 else 1

if kind == "tcp":
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % srv.getsockname()[1]
else:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(kind)
    addr = kind
srv.listen(8)
tmp = addr_file + ".tmp"
with open(tmp, "w") as f:
    f.write(addr)
os.rename(tmp, addr_file)

sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)
bufs = {}
finished = 0
deadline = time.monotonic() + 30
with open(out_file, "ab") as out:
    while finished < stop_after and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj is srv:
                conn, _ = srv.accept()
                sel.register(conn, selectors.EVENT_READ)
                bufs[conn] = b""
                continue
            conn = key.fileobj
            data = conn.recv(65536)
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            bufs[conn] += data
            while b"\n" in bufs[conn]:
                line, bufs[conn] = bufs[conn].split(b"\n", 1)
                out.write(line + b"\n")
                out.flush()
                if json.loads(line).get("status") == "finished":
                    finished += 1
