# A real PostgreSQL server for a test, started by the test itself: initdb
# and pg_ctl from Debian's postgresql, on a Unix socket in the test's
# scratch directory, as the postgres user when the test runs as root.
# Source it after tap.sh; it exports PGHOST, PGPORT and PGUSER, and stops
# the server when the test exits.  A missing server is a loud failure.
PG_BIN=$(pg_config --bindir 2>/dev/null)
[ -x "$PG_BIN/initdb" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$PG_BIN/initdb" ]; then
	echo "Bail out! PostgreSQL's initdb is not installed (apt-get install postgresql)"
	exit 1
fi
PGTEST=$TMP/pg
mkdir -p "$PGTEST"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PGTEST" && chmod 755 "$TMP"
as_pg "'$PG_BIN/initdb' -D '$PGTEST/data' -U postgres -A trust --no-sync >'$PGTEST/initdb.log' 2>&1" ||
	{ echo "Bail out! initdb failed: $(tail -3 "$PGTEST/initdb.log")"; exit 1; }
as_pg "'$PG_BIN/pg_ctl' -D '$PGTEST/data' -l '$PGTEST/server.log' -w -o \"-k '$PGTEST' -c listen_addresses= -c fsync=off -c full_page_writes=off -c max_connections=100\" start >/dev/null" ||
	{ echo "Bail out! the test's PostgreSQL did not start: $(tail -3 "$PGTEST/server.log")"; exit 1; }
export PGHOST="$PGTEST" PGPORT=5432 PGUSER=postgres
stop_pg() {
	as_pg "'$PG_BIN/pg_ctl' -D '$PGTEST/data' -m immediate stop >/dev/null 2>&1"
	rm -rf "$TMP"
}
trap stop_pg EXIT
# sql QUERY: one value per line
sql() { psql -X -q -At -d postgres -c "$1"; }
