#!/usr/bin/python3
"""Checks a status message stream (DESIGN.md, "Status messages").

Reads JSON lines on stdin.  Always checks the contract: every line is a JSON
object with a "status" and a numeric "time"; the first is "started"; there
is exactly one "finished", it is the last, and it has a valid "result".
Options add checks on the finished message and the output payloads.
Exit status 0 if all hold; otherwise each failure is printed."""
import argparse
import ast
import base64
import json
import sys

RESULTS = {"pass", "fail", "error", "skip", "warn", "cancel", "interrupted"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--result")
    ap.add_argument("--field", action="append", default=[],
                    help="KEY=JSON: the finished message has this value")
    ap.add_argument("--absent", action="append", default=[],
                    help="KEY: the finished message lacks this key")
    ap.add_argument("--reason", help="substring of fail_reason")
    ap.add_argument("--every", action="append", default=[],
                    help="KEY=JSON: every message has this value")
    ap.add_argument("--output", nargs=2, action="append", default=[],
                    metavar=("TYPE", "FILE"),
                    help="the payloads of TYPE, joined, equal FILE's bytes")
    ap.add_argument("--log", help="substring of some log-type payload")
    args = ap.parse_args()

    errors = []
    msgs = []
    for n, line in enumerate(sys.stdin.buffer.read().split(b"\n"), 1):
        if not line:
            continue
        if line.startswith(b"{'"):
            # nrunner as avocado-runner-KIND prints what Avocado's runners
            # print: repr() of a dict, its output bytes in "log".  It must
            # read back as a Python literal and print back the same.
            try:
                text = line.decode()
                m = ast.literal_eval(text)
            except (ValueError, SyntaxError, UnicodeDecodeError) as e:
                errors.append(f"line {n}: not a Python literal ({e}): {line[:200]!r}")
                continue
            if repr(m) != text:
                errors.append(f"line {n}: not as Python prints it: {line[:200]!r}")
            if isinstance(m, dict) and isinstance(m.get("log"), bytes):
                m["log"] = base64.b64encode(m["log"]).decode()
                m["encoding"] = "base64"
        else:
            try:
                m = json.loads(line)
            except ValueError as e:
                errors.append(f"line {n}: not JSON ({e}): {line[:200]!r}")
                continue
        if not isinstance(m, dict) or "status" not in m:
            errors.append(f"line {n}: no status: {line[:200]!r}")
            continue
        if not isinstance(m.get("time"), (int, float)):
            errors.append(f"line {n}: no numeric time")
        msgs.append(m)
    if not msgs:
        errors.append("no messages")
    else:
        if msgs[0]["status"] != "started":
            errors.append(f"first message is {msgs[0]['status']!r}, not started")
        fins = [m for m in msgs if m["status"] == "finished"]
        if len(fins) != 1:
            errors.append(f"{len(fins)} finished messages, not exactly one")
        elif msgs[-1] is not fins[0]:
            errors.append("finished is not the last message")
        for m in msgs[1:-1]:
            if m["status"] != "running":
                errors.append(f"unexpected status {m['status']!r} mid-stream")
        fin = msgs[-1]
        if fin.get("result") not in RESULTS:
            errors.append(f"finished has result {fin.get('result')!r}")
        if args.result and fin.get("result") != args.result:
            errors.append(f"result is {fin.get('result')!r}, expected "
                          f"{args.result!r} (fail_reason: "
                          f"{fin.get('fail_reason')!r})")
        for kv in args.field:
            k, v = kv.split("=", 1)
            if fin.get(k, "<absent>") != json.loads(v):
                errors.append(f"finished {k} is {fin.get(k, '<absent>')!r}, "
                              f"expected {v}")
        for k in args.absent:
            if k in fin:
                errors.append(f"finished has {k}={fin[k]!r}, expected none")
        if args.reason and args.reason not in str(fin.get("fail_reason")):
            errors.append(f"fail_reason {fin.get('fail_reason')!r} lacks "
                          f"{args.reason!r}")
        for kv in args.every:
            k, v = kv.split("=", 1)
            bad = [m for m in msgs if m.get(k, "<absent>") != json.loads(v)]
            if bad:
                errors.append(f"{len(bad)} messages lack {k}={v}")
        for typ, path in args.output:
            got = b""
            for m in msgs:
                if m.get("type") != typ:
                    continue
                if m.get("encoding") == "base64":
                    got += base64.b64decode(m["log"])
                else:
                    got += m["log"].encode()
            want = open(path, "rb").read()
            if got != want:
                errors.append(f"{typ}: {len(got)} bytes streamed, "
                              f"{len(want)} expected, or they differ")
        if args.log:
            logs = [base64.b64decode(m["log"]).decode(errors="replace")
                    if m.get("encoding") == "base64" else m.get("log", "")
                    for m in msgs if m.get("type") == "log"]
            if not any(args.log in x for x in logs):
                errors.append(f"no log message contains {args.log!r}")
    for e in errors:
        print(f"#   {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
