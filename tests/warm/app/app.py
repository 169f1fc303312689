"""A tiny HTTP app for tests/warm.test: imports the modules named in
$WARM_TEST_LIBS (from ../lib, outside the app's tree), then answers every
GET with 200 and {"pid": ...} on 127.0.0.1:$PORT."""
import http.server
import importlib
import json
import os

for name in filter(None, os.environ.get("WARM_TEST_LIBS", "").split(",")):
    importlib.import_module(name)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
