#!/usr/bin/python3
"""Runs a command as user 65534 in a user namespace where no further user
namespace may be made (user.max_user_namespaces = 0 there): a machine
where unprivileged user namespaces are not allowed, without touching the
real machine's settings.  Needs root.  Usage: no-userns.py PROGRAM ARG..."""
import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
libc = ctypes.CDLL(None, use_errno=True)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(CLONE_NEWUSER) != 0:
        os._exit(99)
    os.write(ready_w, b"x")
    os.read(go_r, 1)  # the parent has written our id maps
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    os.execv(sys.argv[1], sys.argv[1:])
if os.read(ready_r, 1) != b"x":
    sys.exit("no-userns.py: cannot make a user namespace")
for m in ("uid_map", "gid_map"):
    with open("/proc/%d/%s" % (pid, m), "w") as f:
        f.write("0 0 65536")
os.write(go_w, b"x")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
