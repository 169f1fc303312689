#!/usr/bin/python3
"""Avocado's status repo (avocado/core/status/repo.py and utils.py), as a
check of what a status server received: reads the JSON lines of FILE as
Avocado's job does (json_loads with the __base64_encoded__ hook) and
applies StatusRepo.process_message's rules, plus what Avocado's message
handlers (avocado/core/messages.py) need of each message.  Prints one line
per task, "ID RESULT", in the order they finished; exits 1 with every
broken rule printed.

usage: avocado-status-repo.py FILE JOB_ID"""
import base64
import json
import sys

STATUSES = {"SKIP", "ERROR", "FAIL", "WARN", "PASS", "INTERRUPTED", "CANCEL"}


def json_base64_decode(dct):
    if "__base64_encoded__" in dct:
        return base64.b64decode(dct["__base64_encoded__"])
    return dct


def main():
    path, job_id = sys.argv[1:3]
    errors, status, finished = [], {}, []
    for n, raw in enumerate(open(path, "rb").read().split(b"\n"), 1):
        if not raw.strip():
            continue
        where = "line %d" % n
        try:
            raw.decode("ascii")
        except UnicodeDecodeError:
            errors.append(f"{where}: not ASCII (Avocado's encoder escapes)")
        try:
            m = json.loads(raw.decode(), object_hook=json_base64_decode)
        except ValueError as e:
            errors.append(f"{where}: StatusMsgInvalidJSONError: {e}")
            continue
        for field in ("id", "job_id"):
            if field not in m:
                errors.append(f"{where}: StatusMsgMissingDataError: {field}")
        if m.get("job_id") != job_id:
            errors.append(f"{where}: a message for another job: {m.get('job_id')!r}")
            continue
        task, st = m.get("id"), m.get("status")
        if not isinstance(m.get("time"), (int, float)):
            errors.append(f"{where}: no time (the repo ignores the status)")
        prev = status.get(task)
        if prev == "finished":
            errors.append(f"{where}: a {st} message after finished")
        elif prev and st == "started":
            errors.append(f"{where}: started again")
        elif not prev and st != "started":
            errors.append(f"{where}: {st} before started")
        status[task] = st
        if st == "started":
            if "output_dir" not in m:
                errors.append(f"{where}: StatusMsgMissingDataError: output_dir")
        elif st == "running":
            # The job's handlers join these as bytes (messages.py).
            if m.get("type") in ("log", "stdout", "stderr") and not isinstance(
                    m.get("log"), bytes):
                errors.append(f"{where}: {m['type']} log is not __base64_encoded__ bytes")
            enc = m.get("encoding")
            if enc is not None:
                try:
                    m["log"].decode(enc)
                except (LookupError, UnicodeDecodeError, AttributeError) as e:
                    errors.append(f"{where}: encoding {enc!r}: {e}")
        elif st == "finished":
            result = m.get("result")
            if not isinstance(result, str) or result.upper() not in STATUSES:
                errors.append(f"{where}: unsupported result {result!r}")
            finished.append((task, result))
        else:
            errors.append(f"{where}: unknown status {st!r}")
    for task, st in status.items():
        if st != "finished":
            errors.append(f"task {task}: no finished message")
    for task, result in finished:
        print(task, result)
    for e in errors:
        print("error:", e, file=sys.stderr)
    return 1 if errors else 0


sys.exit(main())
