#!/bin/sh
# A status server under load (issue: beyond one machine): 10,000 tasks'
# messages (started, one line of output, finished: 30,000 messages) from
# 8 senders at once, 4 over TCP and 4 over a Unix socket.  Prints the
# messages per second and the server's peak RSS, against a floor measured
# in the same run: the same 8 senders writing the same bytes to
# /dev/null.  Medians over RUNS repetitions (default 5).
set -eu
RUNS=${RUNS:-5}
: "${NRUNNER:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$PYTHON" - "$NRUNNER" "$RUNS" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
nrunner, runs = sys.argv[1], int(sys.argv[2])
TASKS, SENDERS = 10000, 8

def payload(k):
    lines = []
    for i in range(k, TASKS, SENDERS):
        tid, job = "%d-tests/t%05d.sh" % (i + 1, i), "job-%d" % k
        t = 1.7e9 + i
        lines.append({"status": "started", "id": tid, "job_id": job, "time": t,
                      "kind": "exec-test", "uri": "tests/t%05d.sh" % i})
        lines.append({"status": "running", "type": "stdout", "log": "ok %d\n" % i,
                      "encoding": "utf-8", "id": tid, "job_id": job, "time": t + 0.001})
        lines.append({"status": "finished", "result": "pass" if i % 50 else "fail",
                      "returncode": 0 if i % 50 else 1, "id": tid, "job_id": job,
                      "time": t + 0.002})
    return "".join(json.dumps(m, separators=(",", ":")) + "\n" for m in lines).encode()

blobs = [payload(k) for k in range(SENDERS)]
nbytes = sum(len(b) for b in blobs)

def senders(addrs):
    """Forks the 8 senders; returns when all have sent everything."""
    pids = []
    for k in range(SENDERS):
        pid = os.fork()
        if pid == 0:
            a = addrs[k % len(addrs)]
            if a == "/dev/null":
                with open(a, "wb") as f:
                    f.write(blobs[k])
            elif "/" in a:
                s = socket.socket(socket.AF_UNIX); s.connect(a); s.sendall(blobs[k]); s.close()
            else:
                h, p = a.rsplit(":", 1)
                s = socket.create_connection((h, int(p))); s.sendall(blobs[k]); s.close()
            os._exit(0)
        pids.append(pid)
    for p in pids:
        os.waitpid(p, 0)

def one_run():
    for f in ("ports",):
        if os.path.exists(f):
            os.remove(f)
    srv = subprocess.Popen([nrunner, "status-server", "-q", "--listen", "127.0.0.1:0",
                            "--listen", os.path.abspath("s.sock"), "--tasks", str(TASKS),
                            "--port-file", "ports", "--results-dir", "res"],
                           stdout=subprocess.DEVNULL)
    while not os.path.exists("ports"):
        time.sleep(0.01)
    addrs = open("ports").read().split()
    t = time.monotonic()
    senders(addrs)
    srv.wait()
    dt = time.monotonic() - t
    d = json.load(open("res/results.json"))
    assert len(d["tasks"]) == TASKS, len(d["tasks"])
    return dt, d["runner_max_rss_kb"]

def floor_run():
    t = time.monotonic()
    senders(["/dev/null"])
    return time.monotonic() - t

runs_srv = [one_run() for _ in range(runs)]
floor = statistics.median(floor_run() for _ in range(runs))
dt = statistics.median(r[0] for r in runs_srv)
rss = statistics.median(r[1] for r in runs_srv)
msgs = TASKS * 3
print(f"status-server benchmark: {TASKS} tasks, {msgs} messages ({nbytes / 1e6:.1f} MB) "
      f"from {SENDERS} senders (4 TCP, 4 Unix), medians of {runs} runs, {os.cpu_count()} CPUs")
print(f"  senders to /dev/null (floor)        {floor:7.3f} s")
print(f"  status server, until all are in     {dt:7.3f} s  {msgs / dt:9.0f} msgs/s  "
      f"{dt / floor:5.2f}x floor")
print(f"  status server peak RSS              {rss:7d} KB")
PY
