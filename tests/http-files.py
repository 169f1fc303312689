#!/usr/bin/python3
"""An HTTP server of a directory's files, for the asset tests: listens on
127.0.0.1, a free port, writes that port to PORT_FILE once listening, and
logs every request ("GET /path") to LOG_FILE.  A path under /slow/ is the
same file, served after SLOW seconds (default 1), so that two fetchers
overlap; /redirect-file/NAME answers a redirect to file:///NAME.  Runs
until killed (or 120 s).

usage: http-files.py DIR PORT_FILE LOG_FILE [SLOW]"""
import functools
import http.server
import os
import sys
import threading
import time

root, port_file, log_file = sys.argv[1:4]
slow = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
log = open(log_file, "a", buffering=1)


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        log.write("GET %s\n" % self.path)
        if self.path.startswith("/redirect-file/"):
            self.send_response(302)
            self.send_header("Location", "file:///" + self.path[len("/redirect-file/"):])
            self.end_headers()
            return
        if self.path.startswith("/slow/"):
            time.sleep(slow)
            self.path = self.path[len("/slow"):]
        super().do_GET()

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=root))
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
threading.Timer(120, lambda: os._exit(0)).start()
srv.serve_forever()
