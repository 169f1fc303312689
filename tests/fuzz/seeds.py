#!/usr/bin/python3
"""Seed corpora for the fuzzers, from the tree's own inputs.

seeds.py SRCDIR OUTDIR writes OUTDIR/{recipe,flow,template,expect}/:
recipes: recipes/ and tests/bad/*.json; flows: flows/ and tests/flows/;
templates: every string of a flow that holds "{{", with that flow's vars;
expectations: every step with "expect" or "capture", with a made-up
response in the harness's format (step NUL headers NUL body)."""
import glob
import hashlib
import json
import os
import sys


def put(d, data):
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def main():
    src, out = sys.argv[1], sys.argv[2]
    dirs = {k: os.path.join(out, k) for k in ("recipe", "flow", "template", "expect")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    for p in glob.glob(f"{src}/recipes/*.json") + glob.glob(f"{src}/tests/bad/*.json"):
        put(dirs["recipe"], open(p, "rb").read())
    flows = (glob.glob(f"{src}/flows/*.json") + glob.glob(f"{src}/flows/lib/*.json")
             + glob.glob(f"{src}/tests/flows/*/*.json"))
    headers = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=b\r\n\r\n"
    for p in flows:
        raw = open(p, "rb").read()
        put(dirs["flow"], raw)
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if not isinstance(doc, dict):
            continue
        vars_ = json.dumps(doc.get("vars", {}))
        for s in strings(doc):
            if "{{" in s:
                put(dirs["template"], s.replace("\n", " ") + "\n" + vars_)
        steps = doc.get("steps") if isinstance(doc.get("steps"), list) else []
        for st in steps:
            if isinstance(st, dict) and ("expect" in st or "capture" in st):
                body = json.dumps({"id": 1, "name": "x", "items": [{"id": 2}]})
                put(dirs["expect"], json.dumps(st) + "\0" + headers + "\0" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
