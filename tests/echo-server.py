#!/usr/bin/python3
"""An HTTP server for crud-flow's tests: answers every request with JSON
describing it (method, path, headers, body, the client's port: one per
connection), and sets a cookie; /sleep/S answers after S seconds.  It
writes the headers and the body in two writes without TCP_NODELAY: the
delayed-ACK trap of nrunner-flow(5), CLIENTS, connection.  Writes its
port to PORT_FILE once listening; stops after 60 s or on SIGTERM."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        if self.path.startswith("/sleep/"):
            time.sleep(float(self.path[7:]))
        headers = {}  # a header sent twice shows both values: "a, b"
        for k, v in self.headers.items():
            headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
        out = json.dumps({"method": self.command, "path": self.path,
                          "headers": headers,
                          "body": body, "token": "tok-123", "n": 42,
                          "peer": str(self.client_address[1])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Set-Cookie", "csrftoken=csrf-abc; Path=/")
        self.send_header("X-Request-Id", "req-42")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    def log_message(self, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(60, srv.shutdown).start()
srv.serve_forever()
