# nrunner's generic warm start for Python apps (nrunner-flow(5), "Warm start").
#
# The crud-flow plugin starts this once per job, with the app's own
# interpreter, in the app's directory, as [python, -c, "exec(...)"]: the
# text comes in $NRUNNER_WARM_SCRIPT.  It imports what the app imports from
# outside its own tree (Django, DRF, the database driver...), then listens
# on the abstract socket $NRUNNER_PRELOAD_SOCKET and speaks the protocol of
# an app's own preloader (app.c): one JSON line {"argv", "env", "cwd"} with
# the requester's stdin, stdout and stderr (SCM_RIGHTS); the app's wait
# status back as a decimal line when it ends.
#
# For each request it forks a child that becomes the app as if exec'd: the
# requester's process group and files, the flow's environment, directory
# and argv, sys.path[0] as Python sets it, then the app's own command run
# in-process (runpy: a script, -m MODULE or -c CODE).  The app's own
# modules and settings are imported after the fork, so they read that
# flow's environment.
#
# What to import is learned from one ordinary start: with no list, the
# first app of a job runs with nothing preloaded, and when it calls
# listen() it writes the modules then loaded from outside its tree into
# the cache ($XDG_CACHE_HOME/nrunner/py-warm), keyed by the app's inputs
# (the interpreter, the command, the app's *.py files).  Later jobs import
# them.  A list in the environment file (app.warm.modules) replaces it.
#
# Fork safety: after the imports, a thread, a socket or a database
# connection left open makes the preloader say so on one line and start
# over without the imports (NRUNNER_WARM_UNSAFE): its children then exec
# the app's command, a cold start.  So does a request whose interpreter
# settings (PYTHON* variables, the locale) differ from the preloader's.
import gc
import json
import os
import re
import selectors
import signal
import socket
import struct
import sys
import time
import traceback

SCRIPT = os.environ.pop("NRUNNER_WARM_SCRIPT", "")
SOCKET = os.environ.pop("NRUNNER_PRELOAD_SOCKET", "")
APP_DIR = os.path.realpath(os.environ.pop("NRUNNER_WARM_APP_DIR", "."))
COMMAND = json.loads(os.environ.pop("NRUNNER_WARM_COMMAND", "[]"))
MODULES = os.environ.pop("NRUNNER_WARM_MODULES", "")
KEY = os.environ.pop("NRUNNER_WARM_KEY", "")
UNSAFE = os.environ.pop("NRUNNER_WARM_UNSAFE", "")
REEXEC = os.environ.pop("NRUNNER_WARM_REEXEC", "")
# What the interpreter read at its start: a request that differs is cold.
INTERP_VARS = re.compile(r"PYTHON.*|LANG|LC_ALL|LC_CTYPE")
BASE_ENV = {k: v for k, v in os.environ.items() if INTERP_VARS.fullmatch(k)}

PR_SET_PDEATHSIG = 1
F_SETSIG = 10
MAX_REQUEST = 1 << 20
REQUEST_TIMEOUT_S = 5
PYTHON = re.compile(r"python[0-9.]*")
VALUE_OPTS = "WX"  # interpreter options that take a value


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse(argv):
    """A Python command line as (interpreter options, mode, target, rest):
    mode "file" (a script), "m" or "c"; None when it runs no script (stdin,
    the REPL)."""
    if not argv:
        return None
    if not PYTHON.fullmatch(os.path.basename(argv[0])):
        return [], "file", argv[0], argv[1:]  # a script with a #! line
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        if a.startswith("--"):
            return None  # --help, --version, --check-hash-based-pycs...
        j = 1
        while j < len(a):
            c = a[j]
            if c in "mc":
                value = a[j + 1:] or (argv[i + 1] if i + 1 < len(argv) else None)
                if value is None:
                    return None
                nxt = i + 1 if a[j + 1:] else i + 2
                opts = argv[1:i] + ([a[:j]] if j > 1 else [])
                return opts, c, value, argv[nxt:]
            if c in VALUE_OPTS:
                if j + 1 == len(a):
                    i += 1
                break
            j += 1
        i += 1
    if i >= len(argv) or argv[i] == "-":
        return None
    return argv[1:i], "file", argv[i], argv[i + 1:]


def path0(mode, target):
    """sys.path[0] as Python sets it for this command, in the current
    directory."""
    if mode == "file":
        return os.path.dirname(os.path.realpath(target))
    if mode == "m":
        return os.getcwd()
    return ""


def outside(path):
    """Whether a module's file is outside the app's own tree (an installed
    package inside it, in a virtualenv say, counts as outside)."""
    real = os.path.realpath(path)
    if "/site-packages/" in real or "/dist-packages/" in real:
        return True
    return not (real == APP_DIR or real.startswith(APP_DIR.rstrip("/") + "/"))


# --- the list and its cache ---------------------------------------------------

def cache_dir():
    """The cache's directory, or None where another user could write to it
    (it and the one above must be this user's, writable by no one else)."""
    xdg, home = os.environ.get("XDG_CACHE_HOME", ""), os.environ.get("HOME", "")
    if xdg.startswith("/"):
        root = os.path.join(xdg, "nrunner")
    elif home.startswith("/"):
        root = os.path.join(home, ".cache", "nrunner")
    else:
        return None
    d = os.path.join(root, "py-warm")
    for path in (root, d):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            try:
                os.mkdir(path, 0o700)
                st = os.lstat(path)
            except OSError:
                return None
        except OSError:
            return None
        if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
    return d


def tree_signature():
    """The app's own *.py files, by path, size and time: what it imports
    from outside can change with any of them."""
    import hashlib
    h = hashlib.sha256()
    for top, dirs, files in os.walk(APP_DIR):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"
                         and not os.path.exists(os.path.join(top, d, "pyvenv.cfg")))
        for f in sorted(files):
            if f.endswith(".py"):
                p = os.path.join(top, f)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                h.update(("%s\0%d\0%d\n" % (os.path.relpath(p, APP_DIR), st.st_size, st.st_mtime_ns)).encode())
    return h.hexdigest()


def cache_file():
    d = cache_dir()
    if d is None:
        return None
    import hashlib
    exe = os.path.realpath(sys.executable)
    try:
        st = os.stat(exe)
        exe_id = "%s\0%d\0%d\0%d" % (exe, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        exe_id = exe
    h = hashlib.sha256()
    for part in (KEY, exe_id, sys.version, repr(sys.flags), APP_DIR, json.dumps(COMMAND), tree_signature()):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return os.path.join(d, h.hexdigest()[:32] + ".json")


def read_list(path):
    """{"modules": [...], "blocked": [...]}, or None."""
    if MODULES:
        return {"modules": json.loads(MODULES), "blocked": []}
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
        if isinstance(entry.get("modules"), list) and isinstance(entry.get("blocked"), list):
            return entry
    except (OSError, ValueError, AttributeError):
        pass
    return None


def record(path, skip):
    """Writes the modules loaded now from outside the app's tree to path,
    in the order they were first imported."""
    modules, blocked = [], []
    for name, mod in list(sys.modules.items()):
        if name in skip or name.split(".")[0] in ("__main__", "__mp_main__"):
            continue
        if mod is None:
            blocked.append(name)
            continue
        f = getattr(mod, "__file__", None)
        if isinstance(f, str) and outside(f):
            modules.append(name)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"modules": modules, "blocked": blocked}, f)
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def preload(entry):
    """Imports the list; the number imported and the names that failed."""
    import importlib
    for name in entry["blocked"]:
        sys.modules.setdefault(name, None)
    done, failed = 0, []
    for name in entry["modules"]:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
            done += 1
        except (Exception, SystemExit):
            # One that needs the app's settings, say: the app imports it
            # after the fork.
            failed.append(name)
    return done, failed


def unsafe():
    """Why forking now would not be safe, or None."""
    tasks = os.listdir("/proc/self/task")
    if len(tasks) > 1:
        names = []
        if "threading" in sys.modules:
            import threading
            names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        return "%d thread(s) running after the imports%s" % (
            len(tasks) - 1, " (%s)" % ", ".join(names) if names else "")
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            return "%s open after the imports (fd %s)" % (describe_socket(int(fd)), fd)
    return None


def describe_socket(fd):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return "a socket"
    try:
        peer = s.getpeername()
    except OSError:
        peer = None
    finally:
        s.close()
    if (isinstance(peer, str) and ".s.PGSQL." in peer) or (isinstance(peer, tuple) and peer[1] in (5432, 3306)):
        return "a database connection"
    return "a socket"


def start_over_cold(reason):
    """Execs this preloader again, importing nothing: its apps start cold."""
    env = dict(os.environ, NRUNNER_WARM_SCRIPT=SCRIPT, NRUNNER_PRELOAD_SOCKET=SOCKET,
               NRUNNER_WARM_APP_DIR=APP_DIR, NRUNNER_WARM_COMMAND=json.dumps(COMMAND),
               NRUNNER_WARM_UNSAFE=reason)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, own_argv(), env)


def own_argv():
    with open("/proc/self/cmdline", "rb") as f:
        return [os.fsdecode(a) for a in f.read().split(b"\0")[:-1]]


# --- serving ------------------------------------------------------------------

class Preloader:
    def __init__(self, learn_to, opts):
        self.learn_to = learn_to  # the cache file to learn into, or None
        self.opts = opts
        self.pid = os.getpid()
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

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
        except OSError as e:
            sys.stderr.write("warm start: cannot accept a request: %s\n" % e)
            time.sleep(0.01)
            return
        fds = []
        try:
            request, fds, pgid = read_request(conn)
        except Exception as e:
            refuse(conn, fds, e)
            return
        if request is None:  # nrunner's probe: is it listening?
            conn.close()
            return
        learn_to, self.learn_to = self.learn_to, None  # the first app only
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            child = os.fork()
        except OSError as e:
            refuse(conn, fds, e)
            return
        if child == 0:
            code = 1
            try:
                sel.close()
                listener.close()
                for fd, (_, other) in children.items():
                    os.close(fd)
                    other.close()
                code = self.become_app(conn, fds, request, pgid, learn_to)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))):
                    sys.stderr.write("%s\n" % e.code)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    import atexit
                    atexit._run_exitfuncs()
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
            refuse(conn, [], e)
            return
        children[pidfd] = (child, conn)
        sel.register(pidfd, selectors.EVENT_READ, (child, conn))

    def become_app(self, conn, fds, request, pgid, learn_to):
        os.setpgid(0, pgid)
        if self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != self.pid:
            return 1
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        # The requester holds the other end of conn: when it goes (its
        # flow ended, or it was killed), the kernel sends this app SIGKILL.
        fd = conn.fileno()
        import fcntl
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(fd, F_SETSIG, signal.SIGKILL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
        argv = request["argv"]
        os.chdir(request["cwd"])
        env = dict(kv.split("=", 1) for kv in request["env"] if "=" in kv)
        parsed = parse(argv)
        why = UNSAFE
        if not why and (parsed is None or parsed[0] != self.opts):
            why = "the command is not a Python script, -m or -c with the options of the environment file's"
        if not why:
            differ = sorted(k for k in set(env) | set(BASE_ENV)
                            if INTERP_VARS.fullmatch(k) and env.get(k) != BASE_ENV.get(k))
            if differ:
                why = "the flow sets %s, which the interpreter reads when it starts" % ", ".join(differ)
        if why:
            sys.stderr.write("nrunner: warm start off: %s; the app starts cold\n" % why)
            sys.stderr.flush()
            os.execvpe(argv[0], argv, env)
        _, mode, target, rest = parsed
        os.environ.clear()
        os.environ.update(env)
        if (mode == "file" and os.path.basename(target) == "manage.py" and rest[:1] == ["runserver"]
                and "--noreload" not in rest and env.get("RUN_MAIN") != "true"):
            # runserver's autoreloader would start the app again in a new
            # (cold) process with RUN_MAIN=true: be that process.
            sys.stderr.write("nrunner: warm start: runserver's autoreloader runs in this process "
                             "(RUN_MAIN=true); --noreload turns it off\n")
            os.environ["RUN_MAIN"] = "true"
        sys.stderr.write("nrunner: warm start: app process %d, forked by the preloader %d%s\n"
                         % (os.getpid(), self.pid, "; learning what it imports" if learn_to else ""))
        sys.stderr.flush()
        if learn_to:
            learn_at_listen(learn_to)
        sys.path[0] = path0(mode, target)
        run_main(mode, target, rest)
        return 0


def run_main(mode, target, rest):
    """Runs the command's script, module or code as __main__, in a fresh
    __main__ module, as the interpreter would."""
    import builtins
    import runpy
    import types
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    if mode == "m":
        sys.argv = [target] + rest
        runpy._run_module_as_main(target)
    elif mode == "c":
        sys.argv = ["-c"] + rest
        exec(compile(target, "<string>", "exec"), main.__dict__)
    elif not os.path.isfile(target):
        sys.argv = [target] + rest
        runpy.run_path(target, run_name="__main__")  # a directory or a zip file
    else:
        import io
        from importlib.machinery import SourceFileLoader
        sys.argv = [target] + rest
        with io.open_code(target) as f:
            code = compile(f.read(), target, "exec")
        main.__dict__.update(__file__=target, __cached__=None, __package__=None, __spec__=None,
                             __loader__=SourceFileLoader("__main__", target))
        exec(code, main.__dict__)


def learn_at_listen(path):
    """Records the modules outside the app's tree when the app first
    listens: it has imported what it needs to serve by then."""
    skip = set(sys.modules)  # the preloader's own
    original = socket.socket.listen

    def listen(self, *args):
        socket.socket.listen = original
        record(path, skip)
        return original(self, *args)
    socket.socket.listen = listen


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
        request = json.loads(data.decode("utf-8", "surrogateescape"))
        conn.settimeout(None)
        return request, fds, os.getpgid(pid)
    except Exception as e:
        e.fds = fds
        raise


def refuse(conn, fds, error):
    """Says why in the requester's log (its stderr) and in ours."""
    fds = fds or getattr(error, "fds", [])
    line = ("warm start: cannot start the app: %s\n" % error).encode("utf-8", "replace")
    sys.stderr.write(line.decode())
    if len(fds) == 3:
        try:
            os.write(fds[2], line)
        except OSError:
            pass
    for fd in fds:
        os.close(fd)
    conn.close()


def main():
    if not SOCKET:
        sys.exit("warm start: NRUNNER_PRELOAD_SOCKET is not set: nrunner sets it")
    parsed = parse(COMMAND)
    if parsed is None:
        sys.exit("warm start: the app's command %s runs no Python script" % json.dumps(COMMAND))
    opts, mode, target, _ = parsed
    if opts and not REEXEC:
        # The app's interpreter options (-u, -X dev...) apply to the
        # preloader too: start again with them.
        argv = own_argv()
        os.environ.update(NRUNNER_WARM_SCRIPT=SCRIPT, NRUNNER_PRELOAD_SOCKET=SOCKET,
                          NRUNNER_WARM_APP_DIR=APP_DIR, NRUNNER_WARM_COMMAND=json.dumps(COMMAND),
                          NRUNNER_WARM_MODULES=MODULES, NRUNNER_WARM_KEY=KEY,
                          NRUNNER_WARM_UNSAFE=UNSAFE, NRUNNER_WARM_REEXEC="1")
        os.execv(sys.executable, [argv[0]] + opts + argv[1:])
    learn_to = None
    if UNSAFE:
        say("nrunner: warm start off: %s; the apps start cold" % UNSAFE)
    else:
        sys.path[0] = path0(mode, target)
        cache = None if MODULES else cache_file()
        entry = read_list(cache)
        if entry is None:
            learn_to = cache
            say("warm start: nothing to preload yet; %s" % (
                "the first app learns what to import" if cache else "no cache to learn into"))
        else:
            t0 = time.monotonic()
            done, failed = preload(entry)
            say("warm start: preloaded %d modules in %.0f ms%s" % (
                done, (time.monotonic() - t0) * 1000,
                "; left for the app: %s" % ", ".join(failed) if failed else ""))
            why = unsafe()
            if why:
                start_over_cold(why)
    # Objects alive now are shared with every fork: keep the collector
    # from touching (and so copying) their pages.
    gc.freeze()
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError) as e:
        sys.exit("warm start: this system has no pidfd_open (Linux 5.3, Python 3.9): %s" % e)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind("\0" + SOCKET)
    except OSError as e:
        sys.exit("warm start: cannot listen on @%s: %s" % (SOCKET, e.strerror or e))
    listener.listen(64)
    say("warm start: listening on @%s" % SOCKET)
    Preloader(learn_to, opts).serve_forever(listener)


main()
