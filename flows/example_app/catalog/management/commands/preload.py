"""`manage.py preload`: the app's preloader, for nrunner's isolated flows.

Starting the app costs about half a second of CPU, nearly all of it
importing Django, Django REST framework and the app.  When the environment's
app has a "preload" command (nrunner-flow(5), "Preload"), nrunner starts this
once per job, before any flow, and stops it after the last.  It imports
everything once, then listens on the abstract Unix socket named by
$NRUNNER_PRELOAD_SOCKET.

Each connection is one flow's app process asking to be started.  It sends
one JSON line, {"argv": [...], "env": ["NAME=value", ...], "cwd": "..."},
with its standard input, output and error attached (SCM_RIGHTS).  For each,
the preloader forks a process that
  - joins the requester's process group, so that stopping the flow's app
    (its group) stops it too;
  - takes over the three files, the environment and the directory;
  - applies the settings that come from the environment again
    (example_app.settings.environ_settings);
  - runs the management command of the argument vector, `serve`, which
    imports nothing new.
When that process ends, the preloader writes its wait status back on the
connection as a decimal line, and the requester exits the same way.

Only processes of the same user may connect (SO_PEERCRED).  A forked app
dies with the preloader (PR_SET_PDEATHSIG) and with its requester (it
exits when the connection closes).
"""
import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback

from django.conf import settings
from django.core.management import execute_from_command_line, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import get_internal_wsgi_application
from django.urls import get_resolver

PR_SET_PDEATHSIG = 1
MAX_REQUEST = 1 << 20
REQUEST_TIMEOUT_S = 5


class Command(BaseCommand):
    help = "Preload the app and fork one app process per request on $NRUNNER_PRELOAD_SOCKET (for nrunner)."

    requires_system_checks = []

    def handle(self, *args, **options):
        name = os.environ.get("NRUNNER_PRELOAD_SOCKET")
        if not name:
            raise CommandError("NRUNNER_PRELOAD_SOCKET is not set: nrunner sets it when it starts the preloader")
        # What `serve` would import, imported now: the handler, the URLconf
        # (views, serializers, DRF) and the command itself.
        get_internal_wsgi_application()
        get_resolver().url_patterns
        load_command_class(get_commands()["serve"], "serve")
        try:  # each app is waited for through a pidfd (Linux 5.3)
            os.close(os.pidfd_open(os.getpid()))
        except (AttributeError, OSError) as e:
            raise CommandError("this system has no pidfd_open (Linux 5.3, Python 3.9): %s" % e)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.pid = os.getpid()
        # Objects alive now are shared with every fork: keep the collector
        # from touching (and so copying) their pages.
        gc.freeze()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind("\0" + name)
        except OSError as e:
            raise CommandError("cannot listen on @%s: %s" % (name, e.strerror or e))
        listener.listen(64)
        sys.stdout.write("preloaded; listening on @%s\n" % name)
        sys.stdout.flush()
        self.serve_forever(listener)

    def serve_forever(self, listener):
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ, None)
        children = {}  # pidfd -> (pid, connection)
        while True:
            for key, _ in sel.select():
                if key.data is None:
                    self.accept(listener, sel, children)
                    continue
                pid, conn = key.data
                _, status = os.waitpid(pid, 0)
                sel.unregister(key.fd)
                os.close(key.fd)
                del children[key.fd]
                try:
                    conn.sendall(b"%d\n" % status)
                except OSError:
                    pass  # the requester is gone
                conn.close()

    def accept(self, listener, sel, children):
        try:
            conn, _ = listener.accept()
        except OSError as e:  # out of descriptors, say: the next one may do
            sys.stderr.write("preload: cannot accept a request: %s\n" % e)
            time.sleep(0.01)
            return
        fds = []
        try:
            request, fds, pgid = self.read_request(conn)
        except Exception as e:
            self.refuse(conn, fds, e)
            return
        if request is None:  # nrunner's probe: is it listening?
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            child = os.fork()
        except OSError as e:
            self.refuse(conn, fds, e)
            return
        if child == 0:
            code = 1
            try:
                listener.close()
                sel.close()
                for fd, (_, other) in children.items():
                    os.close(fd)
                    other.close()
                code = self.become_app(conn, fds, request, pgid)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        for fd in fds:
            os.close(fd)
        try:
            pidfd = os.pidfd_open(child)
        except OSError as e:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            self.refuse(conn, [], e)
            return
        children[pidfd] = (child, conn)
        sel.register(pidfd, selectors.EVENT_READ, (child, conn))

    @staticmethod
    def read_request(conn):
        """(request, its 3 files, the requester's process group), or
        (None, [], None) for a connection that sends nothing."""
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != os.getuid():
            raise ValueError("refused a process of uid %d" % uid)
        deadline = time.monotonic() + REQUEST_TIMEOUT_S
        conn.settimeout(REQUEST_TIMEOUT_S)
        data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        if not data and not fds:
            return None, [], None
        try:
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ValueError("the request took more than %d s" % REQUEST_TIMEOUT_S)
                conn.settimeout(left)
                more = conn.recv(65536)
                if not more or len(data) > MAX_REQUEST:
                    raise ValueError("an incomplete request")
                data += more
            if len(fds) != 3:
                raise ValueError("a request without its 3 files")
            # The environment's bytes as they are, even when not UTF-8.
            request = json.loads(data.decode("utf-8", "surrogateescape"))
            return request, fds, os.getpgid(pid)
        except Exception as e:
            e.fds = fds
            raise

    @staticmethod
    def refuse(conn, fds, error):
        """Says why in the requester's log (its stderr) and in ours."""
        fds = fds or getattr(error, "fds", [])
        line = ("preload: cannot start the app: %s\n" % error).encode("utf-8", "replace")
        sys.stderr.write(line.decode())
        if len(fds) == 3:
            try:
                os.write(fds[2], line)
            except OSError:
                pass
        for fd in fds:
            os.close(fd)
        conn.close()

    def become_app(self, conn, fds, request, pgid):
        os.setpgid(0, pgid)
        if self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != self.pid:
            return 1
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        argv = request["argv"]
        if len(argv) < 3 or os.path.basename(argv[1]) != "manage.py":
            sys.stderr.write("preload: the app's command must be [python, manage.py, COMMAND, ...], not %s\n"
                             % json.dumps(argv))
            return 2
        sys.stderr.write("preload: app process %d, forked by the preloader %d\n" % (os.getpid(), self.pid))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(kv.split("=", 1) for kv in request["env"] if "=" in kv)
        self.apply_environment()
        # The requester holds the other end: when it goes, so does this app.
        threading.Thread(target=self.exit_with, args=(conn,), daemon=True).start()
        sys.argv = argv[1:]
        execute_from_command_line(sys.argv)
        return 0

    @staticmethod
    def apply_environment():
        """The settings that come from the environment, from this process's."""
        module = sys.modules[settings.SETTINGS_MODULE]
        fresh = module.environ_settings(os.environ)
        # In place: the database connection handler may hold this dict
        # already, with its defaults filled in.
        settings.DATABASES["default"].update(fresh.pop("DATABASES")["default"])
        for key, value in fresh.items():
            setattr(settings, key, value)

    @staticmethod
    def exit_with(conn):
        conn.settimeout(None)
        while True:
            try:
                if not conn.recv(1):
                    break
            except OSError:
                break
        os._exit(1)
