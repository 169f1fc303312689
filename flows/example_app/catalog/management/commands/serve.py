"""`manage.py serve`: Django's development server, tuned for flow tests.

It differs from `runserver` in what a test runner needs:
  - it listens on 127.0.0.1:$PORT (default 8000), or --port;
  - no autoreloader, no system checks: start-up is as short as it can be;
  - it prints one line, "listening on 127.0.0.1:PORT", once the socket is
    bound and listening, and flushes it;
  - a port already in use is a clear error and a non-zero exit;
  - TCP_NODELAY is set on every accepted connection.  The server writes the
    response headers and the body in separate send() calls; with Nagle's
    algorithm on, the body waits for the ACK of the headers, which a client
    on a kept-alive connection delays by ~40 ms (delayed ACK).  Without this,
    every request on a reused connection costs ~40 ms more than on a fresh one.
"""
import errno
import socket
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIServer, get_internal_wsgi_application, run
from django.urls import get_resolver

HOST = "127.0.0.1"


class NoDelayWSGIServer(WSGIServer):
    """Django's WSGIServer, announcing readiness and without Nagle's algorithm."""

    listening = False  # set once bound: later OSErrors are not "cannot listen"

    def server_activate(self):
        super().server_activate()  # listen()
        NoDelayWSGIServer.listening = True
        host, port = self.server_address[:2]
        sys.stdout.write("listening on %s:%d\n" % (host, port))
        sys.stdout.flush()

    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class Command(BaseCommand):
    help = "Serve the app on 127.0.0.1:$PORT with Django's threaded development server."

    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="port to listen on (default: $PORT, else 8000)",
        )

    def handle(self, *args, **options):
        port = options["port"] if options["port"] is not None else settings.PORT
        handler = get_internal_wsgi_application()
        # Import the URLconf (and with it the views, DRF, the serializers)
        # now rather than in the first request, so that "listening" means
        # ready and the first request costs what any other does.
        get_resolver().url_patterns
        try:
            run(HOST, port, handler, threading=True, server_cls=NoDelayWSGIServer)
        except OSError as e:
            if NoDelayWSGIServer.listening:
                raise
            if e.errno == errno.EADDRINUSE:
                raise CommandError("cannot listen on %s:%d: the port is already in use" % (HOST, port))
            if e.errno == errno.EACCES:
                raise CommandError("cannot listen on %s:%d: permission denied" % (HOST, port))
            raise CommandError("cannot listen on %s:%d: %s" % (HOST, port, e.strerror or e))
        except KeyboardInterrupt:
            pass
