"""Run by nrunner as a migrate command on the private server: checks the
coordinates it is given and that the TCP listener wants the password.
Writes the password to $T/password (outside the results) so that the test
can look for it in what the job wrote; prints the URL on stderr, which
nrunner must pass on redacted."""
import os
import sys
from urllib.parse import quote

import psycopg2

env = os.environ
failed = []


def check(what, cond):
    if not cond:
        failed.append(what)


check("DB_HOST is 127.0.0.1", env.get("DB_HOST") == "127.0.0.1")
check("DB_PORT is a number", env.get("DB_PORT", "").isdigit())
check("DB_PASSWORD is set", len(env.get("DB_PASSWORD", "")) >= 16)
check("PGPASSWORD is DB_PASSWORD", env.get("PGPASSWORD") == env.get("DB_PASSWORD"))
check("PGPORT is DB_PORT", env.get("PGPORT") == env.get("DB_PORT"))
sock = env.get("PGHOST", "")
check("PGHOST is the socket directory",
      os.path.exists(os.path.join(sock, ".s.PGSQL." + env.get("DB_PORT", ""))))
want = "postgresql://%s:%s@127.0.0.1:%s/%s" % (
    quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe=""),
    env["DB_PORT"], env["DB_NAME"])
check("DATABASE_URL is %s" % want.replace(env["DB_PASSWORD"], "PW"),
      env.get("DATABASE_URL") == want)

tcp = dict(host="127.0.0.1", port=env["DB_PORT"], user=env["DB_USER"],
           dbname=env["DB_NAME"], passfile=os.path.join(env["T"], "nopass"), connect_timeout=5)
open(tcp["passfile"], "w").close()
try:
    psycopg2.connect(password=env["DB_PASSWORD"], **tcp).close()
except psycopg2.Error as e:
    failed.append("the right password over TCP: %s" % e)
for pw, what in (("wrong", "a wrong password"), ("", "no password")):
    saved = os.environ.pop("PGPASSWORD", None)
    try:
        psycopg2.connect(password=pw, **tcp).close()
        failed.append("%s over TCP was let in" % what)
    except psycopg2.OperationalError as e:
        msg = str(e)
        if "password authentication failed" not in msg and "no password" not in msg:
            failed.append("%s over TCP: unexpected error %s" % (what, msg))
    finally:
        if saved is not None:
            os.environ["PGPASSWORD"] = saved
# The socket stays open to nrunner's own connections.
try:
    psycopg2.connect(host=sock, port=env["DB_PORT"], user=env["DB_USER"],
                     dbname=env["DB_NAME"], passfile=tcp["passfile"]).close()
except psycopg2.Error as e:
    failed.append("the socket: %s" % e)

with open(os.path.join(env["T"], "password"), "w") as f:
    f.write(env["DB_PASSWORD"])
print("connected to", env["DATABASE_URL"], file=sys.stderr)
if failed:
    print("FAILED: " + "; ".join(failed), file=sys.stderr)
    sys.exit(1)
