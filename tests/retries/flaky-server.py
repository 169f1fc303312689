#!/usr/bin/python3
"""An HTTP server for the retries test: GET /flake answers 503 the first
time and 200 after.  Writes its port to PORT_FILE once listening; stops
after 60 s or on SIGTERM."""
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

calls = 0


class Flake(BaseHTTPRequestHandler):
    def do_GET(self):
        global calls
        calls += 1
        body = b'{"call": %d}' % calls
        self.send_response(503 if calls == 1 else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", 0), Flake)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(60, srv.shutdown).start()
srv.serve_forever()
