#include "config.h"

#include "common/redact.h"
#include "common/util.h"
#include "pg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;


/* libpq's messages end with a newline and may hold several lines: keep
 * them on one line. */
static void one_line(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

/* --- connecting -------------------------------------------------------- */

int nrpg_server_named(void)
{
	static const char *const vars[] = {"PGHOST", "PGHOSTADDR", "PGPORT",
					   "PGSERVICE", "PGDATABASE", NULL};
	for (const char *const *v = vars; *v; v++)
		if (getenv(*v) && *getenv(*v))
			return 1;
	return 0;
}

/* NOTICEs ("database does not exist, skipping") are not for the user. */
static void no_notice(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

PGconn *nrpg_connect(const char *dsn, const char *dbname, char *err,
		      size_t errlen)
{
	/* Later keywords win, and only the first "dbname" is expanded as a
	 * conninfo string or URI: the dsn names the server, then the
	 * database we want replaces whatever database it names. */
	const char *keys[5], *vals[5];
	int n = 0;
	if (!dsn || !*dsn)
		dsn = nrp_jd_get(NRPG_KEY_CONNINFO); /* the private server */
	keys[n] = "connect_timeout", vals[n++] = "10";
	if (dsn && *dsn)
		keys[n] = "dbname", vals[n++] = dsn;
	keys[n] = "dbname", vals[n++] = dbname ? dbname : "postgres";
	keys[n] = "application_name", vals[n++] = "nrunner";
	keys[n] = NULL, vals[n] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (c && PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, no_notice, NULL);
		return c;
	}
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
	one_line(msg);
	const char *host = c ? PQhost(c) : NULL;
	const char *port = c ? PQport(c) : NULL;
	char where[PATH_MAX + 64];
	if (host && *host == '/')
		snprintf(where, sizeof where, "socket %s/.s.PGSQL.%s", host,
			 port ? port : "5432");
	else
		snprintf(where, sizeof where, "%s:%s", host && *host ? host : "localhost",
			 port && *port ? port : "5432");
	int auth = strstr(msg, "authentication failed") || strstr(msg, "role \"") ||
		   strstr(msg, "password");
	nrp_fail(err, errlen,
	     "cannot connect to PostgreSQL at %s (database \"%s\"): %s; %s",
	     where, dbname ? dbname : "postgres", msg,
	     auth ? "check the user and password (PGUSER, PGPASSWORD, or dsn=...)"
		  : "start the server, or name another with dsn=... or PGHOST/PGPORT");
	PQfinish(c);
	return NULL;
}

/* --- names ------------------------------------------------------------- */

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Lower case, [a-z0-9_], runs of anything else as one '_'. */
static void sanitize(const char *in, char *clean, size_t cap)
{
	size_t n = 0;
	int under = 0;
	for (const char *p = in; *p && n < cap - 1; p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!ok) {
			/* runs of anything else become one '_' */
			if (under)
				continue;
			c = '_';
		}
		under = c == '_';
		clean[n++] = (char)c;
	}
	clean[n] = '\0';
}

void nrpg_db_name(const char *prefix, const char *flow, const char *id,
		   char out[NRPG_NAMEMAX + 1])
{
	char full[1024], head[1024], tail[256];
	snprintf(full, sizeof full, "%s%s_%s", prefix ? prefix : "", flow ? flow : "",
		 id ? id : "");
	snprintf(head, sizeof head, "%s%s", prefix ? prefix : "", flow ? flow : "");
	char h2[1024];
	sanitize(head, h2, sizeof h2);
	sanitize(id ? id : "", tail, sizeof tail);
	size_t hl = strlen(h2), tl = strlen(tail);
	char whole[2048];
	if (hl + 1 + tl <= NRPG_NAMEMAX) {
		snprintf(whole, sizeof whole, "%s_%s", h2, tail);
		memcpy(out, whole, strlen(whole) + 1);
		return;
	}
	/* Too long: cut the flow's name, never the id (the end-of-job sweep
	 * finds a database by its job token), and add a hash of the whole
	 * name, so two names that differ only past the cut still differ. */
	char hash[16];
	snprintf(hash, sizeof hash, "_%08x", fnv1a(full));
	size_t room = NRPG_NAMEMAX - strlen(hash) - 1 - tl;
	if (tl + strlen(hash) + 1 > NRPG_NAMEMAX)
		room = 0, tail[NRPG_NAMEMAX - strlen(hash)] = '\0';
	snprintf(whole, sizeof whole, "%.*s%s_%s", (int)room, h2, hash, tail);
	whole[NRPG_NAMEMAX] = '\0';
	memcpy(out, whole, strlen(whole) + 1);
}

void nrpg_like_escape(const char *s, char *out, size_t len)
{
	size_t k = 0;
	if (!len)
		return;
	for (const char *p = s ? s : ""; *p; p++) {
		int esc = *p == '_' || *p == '%' || *p == '\\';
		if (k + (size_t)esc + 1 >= len)
			break;
		if (esc)
			out[k++] = '\\';
		out[k++] = *p;
	}
	out[k] = '\0';
}

/* --- commands ---------------------------------------------------------- */

static void server_message(PGresult *r, PGconn *c, char *buf, size_t len)
{
	const char *sev = r ? PQresultErrorField(r, PG_DIAG_SEVERITY) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
	if (msg)
		snprintf(buf, len, "%s: %s%s%s", sev ? sev : "ERROR", msg,
			 detail ? " (" : "", detail ? detail : "");
	else
		snprintf(buf, len, "%s", PQerrorMessage(c));
	if (msg && detail)
		strncat(buf, ")", len - strlen(buf) - 1);
	one_line(buf);
}

/* PQexec or PQexecParams (nparams > 0), but the wait for the answer
 * watches for an interruption (a task's, or a job set-up's: a template
 * build can run for long), and cancels the statement then.  As PQexec,
 * returns the first error, else the last result. */
static PGresult *exec_watch(PGconn *c, const char *sql, int nparams,
			    const char *const *vals, const int *lens, const int *fmts)
{
	int sent = nparams ? PQsendQueryParams(c, sql, nparams, NULL, vals, lens, fmts, 0)
			   : PQsendQuery(c, sql);
	if (!sent)
		return NULL;
	int cancelled = 0;
	while (PQisBusy(c)) {
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		if (!cancelled && nrp_jd_interrupted()) {
			PGcancel *k = PQgetCancel(c);
			char e[256];
			if (k)
				PQcancel(k, e, sizeof e);
			PQfreeCancel(k);
			cancelled = 1;
		}
		if (!PQconsumeInput(c))
			break;
	}
	PGresult *keep = NULL, *r;
	while ((r = PQgetResult(c))) {
		ExecStatusType st = PQresultStatus(keep);
		if (keep && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
		    st != PGRES_EMPTY_QUERY) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	return keep;
}

int nrpg_exec(PGconn *c, const char *sql, const char *what, char *err,
	       size_t errlen)
{
	PGresult *r = exec_watch(c, sql, 0, NULL, NULL, NULL);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(r);
		return 0;
	}
	char msg[1024];
	server_message(r, c, msg, sizeof msg);
	PQclear(r);
	return nrp_fail(err, errlen, "%s: %s", what, msg);
}

static char *ident(PGconn *c, const char *name)
{
	return PQescapeIdentifier(c, name, strlen(name));
}

const char *nrpg_strategy_sql(PGconn *c, const char *strategy)
{
	if (!strategy || PQserverVersion(c) < 150000)
		return NULL;
	/* A keyword from our own list, never the text we were given. */
	static const char *const known[] = {"FILE_COPY", "WAL_LOG", NULL};
	for (const char *const *k = known; *k; k++)
		if (!strcmp(strategy, *k))
			return *k;
	return NULL;
}

int nrpg_create_db(PGconn *admin, const char *name, const char *tpl,
		    const char *strategy, char *err, size_t errlen)
{
	char *qn = ident(admin, name), *qt = tpl ? ident(admin, tpl) : NULL;
	if (!qn || (tpl && !qt)) {
		PQfreemem(qn);
		PQfreemem(qt);
		return nrp_fail(err, errlen, "cannot quote the name \"%s\": %s", name,
			    PQerrorMessage(admin));
	}
	char sql[512], what[256];
	const char *strat = nrpg_strategy_sql(admin, strategy);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s%s%s%s%s", qn,
		 qt ? " TEMPLATE " : "", qt ? qt : "",
		 strat ? " STRATEGY " : "", strat ? strat : "");
	snprintf(what, sizeof what, "creating database %s%s%s", name,
		 tpl ? " from template " : "", tpl ? tpl : "");
	int rc = nrpg_exec(admin, sql, what, err, errlen);
	PQfreemem(qn);
	PQfreemem(qt);
	return rc;
}

int nrpg_drop_db(PGconn *admin, const char *name, char *err, size_t errlen)
{
	char *qn = ident(admin, name);
	if (!qn)
		return nrp_fail(err, errlen, "cannot quote the name \"%s\"", name);
	char sql[256], what[128];
	/* WITH (FORCE) ends any session left on it (PostgreSQL 13+). */
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s%s", qn,
		 PQserverVersion(admin) >= 130000 ? " WITH (FORCE)" : "");
	snprintf(what, sizeof what, "dropping database %s", name);
	int rc = nrpg_exec(admin, sql, what, err, errlen);
	PQfreemem(qn);
	return rc;
}

/* Byte offset of the n-th character (1-based) of UTF-8 text, and its line
 * and column. */
static void locate(const char *text, long pos, int *line, int *col)
{
	*line = 1, *col = 1;
	long ch = 1;
	for (const unsigned char *p = (const unsigned char *)text; *p && ch < pos; p++) {
		if ((*p & 0xC0) == 0x80)
			continue; /* a continuation byte: same character */
		if (*p == '\n')
			(*line)++, *col = 1;
		else
			(*col)++;
		ch++;
	}
	/* The loop counted the character at pos-1's start; continuation
	 * bytes were skipped, so col is in characters. */
}

/* Runs a whole SQL text in one transaction; on error names the file with
 * the line and column of the server's error position. */
static int apply_text(PGconn *db, const char *text, const char *path,
		      char *err, size_t errlen)
{
	if (nrpg_exec(db, "BEGIN", path, err, errlen) < 0)
		return -1;
	PGresult *r = exec_watch(db, text, 0, NULL, NULL, NULL);
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
		PQclear(r);
		return nrpg_exec(db, "COMMIT", path, err, errlen);
	}
	char msg[1024];
	server_message(r, db, msg, sizeof msg);
	const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
	if (pos) {
		int line, col;
		locate(text, atol(pos), &line, &col);
		nrp_fail(err, errlen, "%s:%d:%d: %s", path, line, col, msg);
	} else {
		nrp_fail(err, errlen, "%s: %s", path, msg);
	}
	PQclear(r);
	PQclear(PQexec(db, "ROLLBACK"));
	return -1;
}

int nrpg_apply_file(PGconn *db, const char *path, char *err, size_t errlen)
{
	char *text = nrp_read_text(path, NULL);
	if (!text)
		return nrp_fail(err, errlen, "%s: cannot read the schema file: %s", path,
			    strerror(errno));
	int rc = apply_text(db, text, path, err, errlen);
	free(text);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.sql files of a directory, sorted; NULL-terminated. */
static char **sql_files(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		nrp_fail(err, errlen, "%s: cannot read the migrations directory: %s",
		     dir, strerror(errno));
		return NULL;
	}
	size_t n = 0;
	char **v = nrp_xcalloc(1, sizeof *v);
	struct dirent *e;
	while (v && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".sql"))
			continue;
		char **nv = nrp_xrealloc(v, (n + 2) * sizeof *v);
		if (!nv)
			break;
		v = nv;
		v[n++] = nrp_xstrdup(e->d_name);
		v[n] = NULL;
	}
	closedir(d);
	if (v && n)
		qsort(v, n, sizeof *v, cmp_str);
	return v;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int nrpg_apply_migrations(PGconn *db, const char *dir, char *err,
			   size_t errlen)
{
	char **files = sql_files(dir, err, errlen);
	if (!files)
		return -1;
	if (!files[0]) {
		free_strv(files);
		return nrp_fail(err, errlen, "%s: no *.sql migrations in this directory",
			    dir);
	}
	if (nrpg_exec(db, "CREATE TABLE IF NOT EXISTS nrunner_migrations ("
			   "name text PRIMARY KEY, applied_at timestamptz NOT "
			   "NULL DEFAULT now())",
		       "creating the migrations table", err, errlen) < 0) {
		free_strv(files);
		return -1;
	}
	int applied = 0;
	for (size_t i = 0; files[i]; i++) {
		const char *params[1] = {files[i]};
		PGresult *r = PQexecParams(db, "SELECT 1 FROM nrunner_migrations "
					       "WHERE name = $1", 1, NULL, params,
					   NULL, NULL, 0);
		int done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
		PQclear(r);
		if (done)
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		char *text = nrp_read_text(path, NULL);
		if (!text) {
			nrp_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			free_strv(files);
			return -1;
		}
		/* The migration and its record commit together. */
		size_t len = strlen(text) + strlen(files[i]) * 2 + 128;
		char *sql = nrp_xmalloc(len);
		char *qname = PQescapeLiteral(db, files[i], strlen(files[i]));
		snprintf(sql, len, "%s\n;INSERT INTO nrunner_migrations (name) VALUES (%s)",
			 text, qname ? qname : "''");
		PQfreemem(qname);
		free(text);
		int rc = apply_text(db, sql, path, err, errlen);
		free(sql);
		if (rc < 0) {
			free_strv(files);
			return -1;
		}
		applied++;
	}
	free_strv(files);
	return applied;
}

/* --- placeholders ------------------------------------------------------- */

typedef struct bytes {
	char *p;
	size_t n, cap;
} bytes;

static void add(bytes *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = nrp_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* The placeholders of the build's commands and env: the database being
 * built, and the environment. */
static const char *const db_vars[] = {"db.name", "db.host", "db.port", "db.user",
				      "db.url", "db.password", "db.socket", NULL};

char *nrpg_fill(const char *s, const char *const *vals, char *err, size_t errlen)
{
	bytes b = {0};
	add(&b, "", 0);
	for (const char *p = s; *p;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			add(&b, p, strlen(p));
			break;
		}
		add(&b, p, (size_t)(open - p));
		const char *close = strstr(open + 2, "}}");
		char name[256];
		size_t nl = close ? (size_t)(close - open - 2) : 0;
		snprintf(name, sizeof name, "%.*s", (int)(nl < sizeof name ? nl : sizeof name - 1),
			 open + 2);
		const char *v = NULL;
		for (size_t i = 0; close && db_vars[i]; i++)
			if (!strcmp(name, db_vars[i]))
				v = vals ? vals[i] : "";
		if (close && !v && !strncmp(name, "env.", 4) && name[4]) {
			v = vals ? getenv(name + 4) : "";
			if (!v) {
				free(b.p);
				nrp_fail(err, errlen, "{{%s}}: the environment variable %s is not set",
					name, name + 4);
				return NULL;
			}
		}
		if (!v) {
			free(b.p);
			if (!close)
				nrp_fail(err, errlen, "\"{{\" with no \"}}\"");
			else
				nrp_fail(err, errlen, "unknown placeholder {{%s}}; use " NRPG_PLACEHOLDERS,
					name);
			return NULL;
		}
		add(&b, v, strlen(v));
		p = close + 2;
	}
	b.p[b.n] = '\0';
	return b.p;
}

/* --- the migrate command ----------------------------------------------- */

static char *pct_encode(const char *s)
{
	size_t n = strlen(s);
	char *o = nrp_xmalloc(n * 3 + 1), *p = o;
	if (!o)
		abort();
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = '\0';
	return o;
}

void nrpg_coords_from(const char *host, const char *port, const char *user,
		       const char *password, const char *dbname, nrpg_coords *co)
{
	const char *priv = nrp_jd_get(NRPG_KEY_PRIVATE);
	const char *tcp = nrp_jd_get(NRPG_KEY_TCP_PORT);
	host = host ? host : "";
	memset(co, 0, sizeof *co);
	co->user = nrp_xstrdup(user);
	if (priv && tcp && !strcmp(host, priv)) {
		/* The job's private server: over TCP as apps expect, with
		 * the job's password; the socket for libpq's PGHOST. */
		co->host = nrp_xstrdup("127.0.0.1");
		co->port = nrp_xstrdup(tcp);
		co->password = nrp_xstrdup(nrp_jd_get(NRPG_KEY_PASSWORD));
		co->socket = nrp_xstrdup(priv);
	} else {
		co->host = nrp_xstrdup(host);
		co->port = nrp_xstrdup(port);
		co->password = nrp_xstrdup(password);
		co->socket = nrp_xstrdup(host[0] == '/' ? host : "");
	}
	char *u = pct_encode(co->user), *p = pct_encode(co->password);
	char *h = pct_encode(co->host), *d = pct_encode(dbname ? dbname : "");
	if (asprintf(&co->url, "postgresql://%s%s%s@%s:%s/%s", u, *p ? ":" : "", p, h,
		     co->port, d) < 0)
		abort();
	free(u);
	free(p);
	free(h);
	free(d);
}

void nrpg_coords_of(PGconn *c, const char *dbname, nrpg_coords *co)
{
	nrpg_coords_from(PQhost(c), PQport(c), PQuser(c), PQpass(c), dbname, co);
}

void nrpg_coords_free(nrpg_coords *co)
{
	free(co->host);
	free(co->port);
	free(co->user);
	if (co->password)
		explicit_bzero(co->password, strlen(co->password));
	free(co->password);
	free(co->socket);
	free(co->url);
	memset(co, 0, sizeof *co);
}

/* A conninfo value, quoted when it needs it. */
static void ci_value(char *out, size_t len, const char *key, const char *v)
{
	size_t o = strlen(out);
	if (!v)
		v = "";
	o += (size_t)snprintf(out + o, len - o, "%s%s='", o ? " " : "", key);
	for (; *v && o + 3 < len; v++) {
		if (*v == '\'' || *v == '\\')
			out[o++] = '\\';
		out[o++] = *v;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

char *nrpg_conninfo_of(const char *host, const char *port, const char *user,
			const char *dbname)
{
	char buf[2048] = "";
	ci_value(buf, sizeof buf, "host", host);
	ci_value(buf, sizeof buf, "port", port);
	ci_value(buf, sizeof buf, "user", user);
	if (dbname)
		ci_value(buf, sizeof buf, "dbname", dbname);
	return nrp_xstrdup(buf);
}

char *nrpg_conninfo(PGconn *c, const char *dbname)
{
	return nrpg_conninfo_of(PQhost(c), PQport(c), PQuser(c), dbname);
}

/* The quote of a failing command's stderr: all of it when it fits in
 * `limit` bytes, else its first lines and its last lines with "…" between
 * (the start names what is missing, the end says what failed), within
 * the limit; on one line. */
static void head_and_tail(const char *head, size_t hn, const char *tail, size_t tn,
			  int whole, char *out, size_t len, size_t limit)
{
	char h[4096], t[4096];
	snprintf(h, sizeof h, "%.*s", (int)hn, head);
	one_line(h);
	if (whole && strlen(h) <= limit) {
		snprintf(out, len, "%s", h);
		return;
	}
	/* The head: the first lines that fit in a third of the limit (the
	 * first line cut there if it alone does not). */
	size_t cut = hn < limit / 3 ? hn : limit / 3;
	for (size_t i = cut; i > 0; i--)
		if (head[i - 1] == '\n') {
			cut = i;
			break;
		}
	snprintf(h, sizeof h, "%.*s", (int)cut, head);
	one_line(h);
	/* The tail: the rest of the limit, from where a line starts if one
	 * does in its first half. */
	const char *src = whole ? head : tail;
	size_t sn = whole ? hn : tn;
	size_t room = limit - strlen(h) - strlen(" \u2026 ");
	size_t from = sn > room ? sn - room : 0;
	for (size_t i = from; from && i < from + room / 2 && i < sn; i++)
		if (src[i] == '\n') {
			from = i + 1;
			break;
		}
	snprintf(t, sizeof t, "%.*s", (int)(sn - from), src + from);
	one_line(t);
	const char *ts = t;
	while (*ts == ' ')
		ts++;
	snprintf(out, len, "%s \u2026 %s", h, ts);
}

int nrpg_run_command(char *const *argv0, const char *cwd, char *const *uenv,
		      const char *what, PGconn *db, char *err, size_t errlen)
{
	const char *dbname = PQdb(db);
	nrpg_coords co;
	nrpg_coords_of(db, dbname, &co);
	struct { const char *k, *v; } vars[] = {
		{"DB_NAME", dbname}, {"DB_HOST", co.host}, {"DB_PORT", co.port},
		{"DB_USER", co.user}, {"DB_PASSWORD", co.password},
		{"DATABASE_URL", co.url}, {"PGDATABASE", dbname},
		{"PGHOST", co.socket[0] ? co.socket : co.host}, {"PGPORT", co.port},
		{"PGUSER", co.user},
		/* Last: only when there is one (else libpq's ~/.pgpass). */
		{"PGPASSWORD", co.password}};
	/* In db_vars' order. */
	const char *const vals[] = {dbname, co.host, co.port, co.user, co.url,
				    co.password, co.socket};
	const char *secrets[] = {co.password[0] ? co.password : NULL, NULL};
	size_t nv = sizeof vars / sizeof *vars, ne = 0, nu = 0, na = 0;
	if (!co.password[0])
		nv--;
	while (environ[ne])
		ne++;
	while (uenv && uenv[nu])
		nu++;
	while (argv0[na])
		na++;
	char **env = nrp_xcalloc(ne + nv + nu + 1, sizeof *env);
	char **owned = nrp_xcalloc(nv + nu, sizeof *owned);
	char **argv = nrp_xcalloc(na + 1, sizeof *argv);
	size_t n = 0;
	int rc = -1;
	/* Its placeholders filled in: the database, the environment. */
	for (size_t i = 0; i < na; i++) {
		char e[512];
		if (!(argv[i] = nrpg_fill(argv0[i], vals, e, sizeof e))) {
			nrp_fail(err, errlen, "%s '%s': argument %zu: %s", what, argv0[0], i, e);
			goto out;
		}
	}
	for (size_t k = 0; k < nu; k++) {
		char e[512];
		const char *eq = strchr(uenv[k], '=');
		char *val = eq ? nrpg_fill(eq + 1, vals, e, sizeof e) : NULL;
		if (!val) {
			nrp_fail(err, errlen, "%s '%s': env %.*s: %s", what, argv0[0],
				(int)(eq ? eq - uenv[k] : 0), uenv[k], eq ? e : "not NAME=value");
			goto out;
		}
		if (asprintf(&owned[nv + k], "%.*s%s", (int)(eq - uenv[k] + 1), uenv[k], val) < 0)
			abort();
		free(val);
	}
	/* Its own env wins over nrunner's environment and the database's. */
	for (size_t i = 0; i < ne; i++) {
		int overridden = 0;
		for (size_t k = 0; k < nv + nu; k++) {
			const char *name = k < nv ? vars[k].k : owned[k];
			size_t kl = k < nv ? strlen(name) : (size_t)(strchr(name, '=') - name);
			overridden |= !strncmp(environ[i], name, kl) && environ[i][kl] == '=';
		}
		if (!overridden)
			env[n++] = environ[i];
	}
	for (size_t k = 0; k < nv; k++) {
		int mine = 0;
		for (size_t u = nv; u < nv + nu; u++) {
			size_t kl = strlen(vars[k].k);
			mine |= !strncmp(owned[u], vars[k].k, kl) && owned[u][kl] == '=';
		}
		if (asprintf(&owned[k], "%s=%s", vars[k].k, vars[k].v ? vars[k].v : "") < 0)
			abort();
		if (!mine)
			env[n++] = owned[k];
	}
	for (size_t u = nv; u < nv + nu; u++)
		env[n++] = owned[u];
	env[n] = NULL;

	int pipefd[2], outfd[2] = {-1, -1};
	if (pipe2(pipefd, O_CLOEXEC) < 0 || pipe2(outfd, O_CLOEXEC) < 0) {
		nrp_fail(err, errlen, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* Both are read here and passed on to our stderr: in a job's setup
	 * (a template build) nrunner's own stdout may be the status stream,
	 * which must stay JSON.  Only stderr is kept for the failure. */
	posix_spawn_file_actions_adddup2(&fa, outfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	pid_t pid;
	int e = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, NULL, argv, env)
				     : posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	close(outfd[1]);
	if (e) {
		close(pipefd[0]);
		close(outfd[0]);
		char hint[256];
		nrp_module_hint(argv[0], e, hint, sizeof hint);
		nrp_fail(err, errlen, "cannot run %s '%s'%s%s: %s%s",
		     what, argv[0], cwd ? " in " : "", cwd ? cwd : "", strerror(e), hint);
		goto out;
	}
	/* Keep the start and the end of its stderr for the failure, and pass
	 * it all on to the task's own stderr for the logs, the password
	 * redacted. */
	char head[2048], tail[4096];
	size_t hn = 0, tl = 0, total = 0;
	char buf[8192];
	ssize_t r;
	nrp_redact_out pass_on = {.fd = STDERR_FILENO, .secrets = secrets};
	struct pollfd pf[2] = {{.fd = pipefd[0], .events = POLLIN},
			       {.fd = outfd[0], .events = POLLIN}};
	int stopped = 0;
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		if (!stopped && nrp_jd_interrupted()) {
			/* Interrupted (a task's timeout, a job's set-up stopped):
			 * the command goes, the failure says why. */
			kill(pid, SIGKILL);
			stopped = 1;
		}
		int pr = poll(pf, 2, 100);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (pf[1].revents) {
			r = read(outfd[0], buf, sizeof buf);
			if (r > 0)
				nrp_redact_write(&pass_on, buf, (size_t)r);
			else if (r == 0 || errno != EINTR)
				pf[1].fd = -1;
		}
		if (!pf[0].revents)
			continue;
		r = read(pipefd[0], buf, sizeof buf);
		if (r <= 0) {
			if (r == 0 || errno != EINTR)
				pf[0].fd = -1;
			continue;
		}
		nrp_redact_write(&pass_on, buf, (size_t)r);
		for (ssize_t i = 0; i < r; i++) {
			if (hn < sizeof head)
				head[hn++] = buf[i];
			if (tl == sizeof tail - 1) {
				memmove(tail, tail + 1024, tl - 1024);
				tl -= 1024;
			}
			tail[tl++] = buf[i];
		}
		total += (size_t)r;
	}
	nrp_redact_flush(&pass_on);
	tail[tl] = '\0';
	close(pipefd[0]);
	close(outfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
		goto out;
	}
	char why[8256];
	head_and_tail(head, hn, tail, tl, total <= sizeof head, why, sizeof why, 600);
	char how[64];
	if (WIFEXITED(status))
		snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
	nrp_fail(err, errlen, "%s '%s' failed (%s): %s", what, argv[0], how,
	     *why ? why : "(nothing on stderr)");
out:
	/* A filled-in argument may hold the password too. */
	if (rc < 0)
		nrp_redact_all(err, errlen, secrets);
	for (size_t k = 0; k < nv + nu; k++)
		free(owned[k]);
	for (size_t i = 0; i < na; i++)
		free(argv[i]);
	free(argv);
	free(owned);
	free(env);
	nrpg_coords_free(&co);
	return rc;
}

/* --- options ----------------------------------------------------------- */

static char **strv_from(const nr_host *h, const nr_value *v, const char *key,
			char *err, size_t errlen, int *bad)
{
	*bad = 0;
	if (h->type(v) == NR_TYPE_ABSENT || h->type(v) == NR_TYPE_NULL)
		return NULL;
	size_t n = h->type(v) == NR_TYPE_ARRAY ? h->size(v) : 1;
	char **out = nrp_xcalloc(n + 1, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		const nr_value *it = h->type(v) == NR_TYPE_ARRAY ? h->item(v, i) : v;
		if (!h->string(it)) {
			*bad = 1;
			nrp_fail(err, errlen, "kwargs \"%s\": must be a list of strings, "
			     "e.g. %s=json:'[\"python3\", \"manage.py\", \"migrate\"]'",
			     key, key);
			free_strv(out);
			return NULL;
		}
		out[i] = nrp_xstrdup(h->string(it));
	}
	return out;
}

int nrpg_check_placeholders(const nrpg_opts *o, const char *where, char *err,
			     size_t errlen)
{
	char e[512];
	char *f;
	for (size_t i = 0; o->command && o->command[i]; i++) {
		if (!(f = nrpg_fill(o->command[i], NULL, e, sizeof e)))
			return nrp_fail(err, errlen, "%s.command[%zu]: %s", where, i, e);
		free(f);
	}
	for (size_t i = 0; o->env && o->env[i]; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (!(f = nrpg_fill(eq + 1, NULL, e, sizeof e)))
			return nrp_fail(err, errlen, "%s.env.%.*s: %s", where, (int)(eq - o->env[i]),
				       o->env[i], e);
		free(f);
	}
	for (size_t k = 0; k < o->nfixtures; k++)
		for (size_t i = 0; o->fixtures[k].argv && o->fixtures[k].argv[i]; i++) {
			if (!(f = nrpg_fill(o->fixtures[k].argv[i], NULL, e, sizeof e)))
				return nrp_fail(err, errlen, "%s.fixtures[%zu][%zu]: %s", where, k,
					       i, e);
			free(f);
		}
	return 0;
}

#define FIXTURES_USAGE "a list of SQL files (\"fixtures/users.sql\") and commands " \
	"([\"python3\", \"manage.py\", \"loaddata\", \"users.json\"])"

int nrpg_read_opts(const nr_host *h, const char *kind, const char *uri,
		    const char *identifier, const nr_value *kw,
		    nrpg_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	static const char *const known[] = {"dsn", "prefix", "name", "keep",
					    "strategy", "command", "cwd",
					    "inputs", "env", "fixtures", NULL};
	for (size_t i = 0; i < h->size(kw); i++) {
		const char *k = h->key_at(kw, i);
		int ok = 0;
		for (const char *const *q = known; *q; q++)
			ok |= !strcmp(k, *q);
		if (!ok)
			return nrp_fail(err, errlen, "kwargs \"%s\": unknown; the provision "
				    "kinds take dsn, prefix, name, keep, strategy, "
				    "command, cwd, inputs, env and fixtures", k);
		if (strcmp(k, "command") && strcmp(k, "inputs") && strcmp(k, "env") &&
		    strcmp(k, "fixtures") && !h->string(h->item(kw, i)))
			return nrp_fail(err, errlen, "kwargs \"%s\": must be a string", k);
	}
	o->dsn = h->string(h->get(kw, "dsn"));
	o->prefix = h->string(h->get(kw, "prefix"));
	if (!o->prefix)
		o->prefix = "nr_";
	o->name = h->string(h->get(kw, "name"));
	if (!o->name)
		o->name = identifier;
	o->strategy = h->string(h->get(kw, "strategy"));
	if (!o->strategy)
		o->strategy = "FILE_COPY";
	if (strcmp(o->strategy, "FILE_COPY") && strcmp(o->strategy, "WAL_LOG"))
		return nrp_fail(err, errlen, "kwargs \"strategy\": \"%s\": use FILE_COPY "
			    "or WAL_LOG", o->strategy);
	const char *keep = h->string(h->get(kw, "keep"));
	if (!keep || !strcmp(keep, "never"))
		o->keep = NRPG_KEEP_NEVER;
	else if (!strcmp(keep, "on-failure"))
		o->keep = NRPG_KEEP_ON_FAILURE;
	else if (!strcmp(keep, "always"))
		o->keep = NRPG_KEEP_ALWAYS;
	else
		return nrp_fail(err, errlen, "kwargs \"keep\": \"%s\": use never, "
			    "on-failure or always", keep);
	o->cwd = h->string(h->get(kw, "cwd"));
	int bad;
	o->command = strv_from(h, h->get(kw, "command"), "command", err, errlen, &bad);
	if (bad)
		return -1;
	if (o->command && !o->command[0]) {
		nrpg_free_opts(o);
		return nrp_fail(err, errlen, "kwargs \"command\": is empty");
	}
	o->inputs = strv_from(h, h->get(kw, "inputs"), "inputs", err, errlen, &bad);
	if (bad) {
		nrpg_free_opts(o);
		return -1;
	}
	const nr_value *env = h->get(kw, "env");
	if (h->type(env) != NR_TYPE_ABSENT) {
		size_t n = h->type(env) == NR_TYPE_OBJECT ? h->size(env) : 0;
		o->env = nrp_xcalloc(n + 1, sizeof *o->env);
		for (size_t i = 0; i < n; i++) {
			const char *k = h->key_at(env, i), *v = h->string(h->item(env, i));
			if (!v || !*k || strchr(k, '='))
				break;
			if (asprintf(&o->env[i], "%s=%s", k, v) < 0)
				abort();
		}
		if (h->type(env) != NR_TYPE_OBJECT || (n && !o->env[n - 1])) {
			nrpg_free_opts(o);
			return nrp_fail(err, errlen, "kwargs \"env\": the build commands' "
				       "environment, an object of NAME: \"value\", e.g. "
				       "env=json:'{\"DJANGO_SETTINGS_MODULE\": \"app.settings\"}'");
		}
	}
	const nr_value *fx = h->get(kw, "fixtures");
	if (h->type(fx) != NR_TYPE_ABSENT) {
		size_t n = h->type(fx) == NR_TYPE_ARRAY ? h->size(fx) : 0;
		o->fixtures = nrp_xcalloc(n + 1, sizeof *o->fixtures);
		int ok = h->type(fx) == NR_TYPE_ARRAY;
		for (size_t i = 0; ok && i < n; i++) {
			const nr_value *it = h->item(fx, i);
			o->nfixtures++;
			if (h->string(it) && *h->string(it))
				o->fixtures[i].sql = nrp_xstrdup(h->string(it));
			else if (h->type(it) == NR_TYPE_ARRAY && h->size(it))
				o->fixtures[i].argv = strv_from(h, it, "fixtures", err, errlen, &bad);
			else
				bad = 1;
			ok = !bad;
		}
		if (!ok) {
			nrpg_free_opts(o);
			return nrp_fail(err, errlen, "kwargs \"fixtures\": " FIXTURES_USAGE);
		}
	}
	if (nrpg_check_placeholders(o, "kwargs", err, errlen) < 0) {
		nrpg_free_opts(o);
		return -1;
	}
	return nrpg_finish_opts(kind, uri, o, err, errlen);
}

int nrpg_finish_opts(const char *kind, const char *uri, nrpg_opts *o, char *err,
		      size_t errlen)
{
	if (!o->prefix)
		o->prefix = "nr_";
	if (!o->strategy)
		o->strategy = "FILE_COPY";
	if (strcmp(o->strategy, "FILE_COPY") && strcmp(o->strategy, "WAL_LOG")) {
		nrpg_free_opts(o);
		return nrp_fail(err, errlen, "\"strategy\": \"%s\": use FILE_COPY or WAL_LOG",
			    o->strategy);
	}
	struct stat st;
	if (uri && stat(uri, &st) < 0) {
		int e = errno;
		nrpg_free_opts(o);
		return nrp_fail(err, errlen, "%s: %s", uri, strerror(e));
	}
	const char *unused = !strcmp(kind, "provision-sql")
				     ? (o->command ? "command" : o->inputs ? "inputs"
					: o->cwd ? "cwd" : NULL)
			     : !strcmp(kind, "provision-migrate") && o->inputs ? "inputs" : NULL;
	if (unused) {
		nrpg_free_opts(o);
		return nrp_fail(err, errlen, "kwargs \"%s\": %s does not use it%s", unused, kind,
			    !strcmp(unused, "inputs") ? " (only provision-template hashes inputs)"
						      : " (use provision-migrate for a command)");
	}
	if (!strcmp(kind, "provision-sql")) {
		if (!uri || !S_ISREG(st.st_mode)) {
			nrpg_free_opts(o);
			return nrp_fail(err, errlen, "provision-sql needs the schema file as "
				    "its uri (-u schema.sql)");
		}
		o->sql_file = uri;
	} else if (o->command) {
		if (uri && !S_ISDIR(st.st_mode)) {
			nrpg_free_opts(o);
			return nrp_fail(err, errlen, "give either a migrate command or a "
				    "schema as the uri, not both");
		}
		if (!o->cwd && uri)
			o->cwd = uri; /* the uri is the project directory */
	} else if (uri && S_ISDIR(st.st_mode)) {
		o->migrations_dir = uri;
	} else if (uri && !strcmp(kind, "provision-template")) {
		o->sql_file = uri;
	} else {
		nrpg_free_opts(o);
		return nrp_fail(err, errlen, "%s needs %s", kind,
			    !strcmp(kind, "provision-migrate")
				    ? "a directory of *.sql migrations as its uri, "
				      "or command=json:'[...]'"
				    : "a schema file or a directory of migrations as "
				      "its uri, or command=json:'[...]'");
	}
	return 0;
}

void nrpg_free_opts(nrpg_opts *o)
{
	free_strv(o->command);
	free_strv(o->inputs);
	free_strv(o->env);
	for (size_t i = 0; i < o->nfixtures; i++) {
		free(o->fixtures[i].sql);
		free_strv(o->fixtures[i].argv);
	}
	free(o->fixtures);
	o->command = o->inputs = o->env = NULL;
	o->fixtures = NULL;
	o->nfixtures = 0;
}

static int build_method(PGconn *db, const nrpg_opts *o, char *err, size_t errlen)
{
	if (o->sql_file)
		return nrpg_apply_file(db, o->sql_file, err, errlen);
	if (o->migrations_dir)
		return nrpg_apply_migrations(db, o->migrations_dir, err, errlen) < 0 ? -1 : 0;
	if (o->command)
		return nrpg_run_command(o->command, o->cwd, o->env, "the migrate command", db,
					 err, errlen);
	return nrp_fail(err, errlen, "nothing describes the schema");
}

/* A fixture's SQL file: relative to cwd when it is set. */
static void fixture_path(const nrpg_opts *o, const char *sql, char *out, size_t len)
{
	if (o->cwd && sql[0] != '/')
		snprintf(out, len, "%s/%s", o->cwd, sql);
	else
		snprintf(out, len, "%s", sql);
}

int nrpg_build_schema(PGconn *db, const nrpg_opts *o, char *err,
		       size_t errlen)
{
	if (build_method(db, o, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < o->nfixtures; i++) {
		const nrpg_fixture *f = &o->fixtures[i];
		char what[64], e[4096], path[PATH_MAX];
		snprintf(what, sizeof what, "fixture %zu", i + 1);
		int rc;
		if (f->sql) {
			fixture_path(o, f->sql, path, sizeof path);
			rc = nrpg_apply_file(db, path, e, sizeof e);
		} else {
			rc = nrpg_run_command(f->argv, o->cwd, o->env, what, db, e, sizeof e);
		}
		if (rc < 0)
			return nrp_fail(err, errlen, "%s%s", f->sql ? "fixture " : "", e);
	}
	return 0;
}

/* --- templates --------------------------------------------------------- */

/* A file's name (as the schema knows it, not where it happens to be) and
 * contents. */
static int add_file(bytes *b, const char *path, const char *name, char *err,
		    size_t errlen)
{
	size_t len;
	char *text = nrp_read_text(path, &len);
	if (!text)
		return nrp_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	add(b, name, strlen(name) + 1);
	add(b, text, len);
	add(b, "", 1);
	free(text);
	return 0;
}

void nrpg_template_label(const nrpg_opts *o, char *out, size_t len)
{
	const char *src = o->sql_file ? o->sql_file
			  : o->migrations_dir ? o->migrations_dir
			  : o->cwd ? o->cwd : o->command[0];
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", src);
	size_t n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
	char *dot = strrchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	size_t k = 0;
	for (const char *p = base; *p && k < len - 1 && k < 20; p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);
		out[k++] = (char)(isalnum(c) ? c : '_');
	}
	out[k] = '\0';
}

/* Everything that shapes the schema, but the server: the files' names
 * and contents, or the command and its declared inputs. */
static int template_inputs(bytes *b, const nrpg_opts *o, char *err, size_t errlen)
{
	int rc = 0;
	if (o->sql_file) {
		const char *base = strrchr(o->sql_file, '/') ? strrchr(o->sql_file, '/') + 1
							     : o->sql_file;
		rc = add_file(b, o->sql_file, base, err, errlen);
	} else if (o->migrations_dir) {
		char **files = sql_files(o->migrations_dir, err, errlen);
		if (!files)
			rc = -1;
		for (size_t i = 0; files && files[i] && rc == 0; i++) {
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%s/%s", o->migrations_dir, files[i]);
			/* Names relative to the directory: moving the project
			 * does not change the schema. */
			rc = add_file(b, path, files[i], err, errlen);
		}
		free_strv(files);
	} else {
		for (char **a = o->command; *a; a++)
			add(b, *a, strlen(*a) + 1);
		/* The files the command declares as its inputs (globs such
		 * as app/migrations/NNNN_x.py), relative to its directory. */
		for (char **g = o->inputs; g && *g && rc == 0; g++) {
			char pat[PATH_MAX];
			if (o->cwd && **g != '/')
				snprintf(pat, sizeof pat, "%s/%s", o->cwd, *g);
			else
				snprintf(pat, sizeof pat, "%s", *g);
			glob_t gl;
			int gr = glob(pat, 0, NULL, &gl);
			if (gr == GLOB_NOMATCH) {
				rc = nrp_fail(err, errlen, "kwargs \"inputs\": \"%s\" matches no "
					  "file", *g);
				break;
			}
			size_t skip = o->cwd && **g != '/' ? strlen(o->cwd) + 1 : 0;
			for (size_t i = 0; gr == 0 && i < gl.gl_pathc && rc == 0; i++)
				rc = add_file(b, gl.gl_pathv[i], gl.gl_pathv[i] + skip, err,
					      errlen);
			globfree(&gl);
		}
	}
	/* The commands' env, and the fixtures. */
	for (char **e = o->env; e && *e && rc == 0; e++) {
		add(b, "env", 4);
		add(b, *e, strlen(*e) + 1);
	}
	for (size_t i = 0; i < o->nfixtures && rc == 0; i++) {
		const nrpg_fixture *f = &o->fixtures[i];
		add(b, "fixture", 8);
		if (f->sql) {
			char path[PATH_MAX];
			fixture_path(o, f->sql, path, sizeof path);
			rc = add_file(b, path, f->sql, err, errlen);
		}
		for (char **a = f->argv; a && *a; a++)
			add(b, *a, strlen(*a) + 1);
	}
	return rc;
}

int nrpg_template_key(const nrpg_opts *o, unsigned long long *key, char *err,
		       size_t errlen)
{
	bytes b = {0};
	int rc = template_inputs(&b, o, err, errlen);
	unsigned long long h = NRP_FNV1A_INIT;
	/* FNV-1a over the NUL-separated pieces, the separators included. */
	for (size_t i = 0; rc == 0 && i < b.n; i += strlen(b.p + i) + 1)
		h = nrp_fnv1a(h, b.p + i);
	free(b.p);
	*key = h;
	return rc;
}

int nrpg_template_name(PGconn *admin, const nrpg_opts *o,
			char out[NRPG_NAMEMAX + 1], char *err, size_t errlen)
{
	bytes b = {0};
	char ver[32];
	snprintf(ver, sizeof ver, "server %d", PQserverVersion(admin));
	add(&b, ver, strlen(ver) + 1);
	int rc = template_inputs(&b, o, err, errlen);
	if (rc < 0) {
		free(b.p);
		return -1;
	}
	/* SHA-256 by the server itself: no hashing code of ours. */
	const char *vals[1] = {b.p};
	int lens[1] = {(int)b.n}, fmts[1] = {1};
	PGresult *r = PQexecParams(admin, "SELECT encode(sha256($1::bytea), 'hex')",
				   1, NULL, vals, lens, fmts, 0);
	free(b.p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char msg[512];
		server_message(r, admin, msg, sizeof msg);
		PQclear(r);
		return nrp_fail(err, errlen, "hashing the schema: %s", msg);
	}
	char label[32];
	nrpg_template_label(o, label, sizeof label);
	snprintf(out, NRPG_NAMEMAX + 1, "nr_tpl_%s_%.16s", label, PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* A query with one text parameter that must return rows; NULL on error,
 * with "<what> <param>: <server message>" in err. */
static PGresult *query1(PGconn *c, const char *sql, const char *param,
			const char *what, char *err, size_t errlen)
{
	const char *vals[1] = {param};
	PGresult *r = exec_watch(c, sql, 1, vals, NULL, NULL);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	char msg[512];
	server_message(r, c, msg, sizeof msg);
	PQclear(r);
	nrp_fail(err, errlen, "%s %s: %s", what, param, msg);
	return NULL;
}

/* Whether a complete template of that name exists.  Completion is marked
 * by datistemplate, set only after a successful build. */
static int template_state(PGconn *admin, const char *tpl, char *err, size_t errlen)
{
	PGresult *r = query1(admin, "SELECT datistemplate FROM pg_database WHERE datname = $1",
			     tpl, "looking up template", err, errlen);
	if (!r)
		return -1;
	int state = PQntuples(r) == 0 ? 0 : !strcmp(PQgetvalue(r, 0, 0), "t") ? 2 : 1;
	PQclear(r);
	return state; /* 0 none, 1 half-built, 2 complete */
}

int nrpg_ensure_template(PGconn *admin, const nrpg_opts *o, const char *tpl,
			  int *built, char *err, size_t errlen)
{
	*built = 0;
	int st = template_state(admin, tpl, err, errlen);
	if (st == 2)
		return 0;
	if (st < 0)
		return -1;
	/* One builder at a time, across tasks and jobs: a session-level
	 * advisory lock keyed by the template's name. */
	char ignored[512];
	PGresult *r = query1(admin, "SELECT pg_advisory_lock(hashtext($1))", tpl,
			     "locking template", err, errlen);
	if (!r)
		return -1;
	PQclear(r);
	int rc = 0;
	st = template_state(admin, tpl, err, errlen);
	if (st == 2 || st < 0) {
		rc = st < 0 ? -1 : 0;
		goto unlock;
	}
	/* Absent, or left half-built by a builder that died: build anew. */
	if (nrpg_drop_db(admin, tpl, err, errlen) < 0 ||
	    nrpg_create_db(admin, tpl, NULL, NULL, err, errlen) < 0) {
		rc = -1;
		goto unlock;
	}
	PGconn *db = nrpg_connect(o->dsn, tpl, err, errlen);
	if (!db || nrpg_build_schema(db, o, err, errlen) < 0) {
		PQfinish(db);
		char e2[256];
		nrpg_drop_db(admin, tpl, e2, sizeof e2);
		rc = -1;
		goto unlock;
	}
	/* Nothing stays connected to a template: a clone of a database with
	 * a session on it waits, then fails (SQLSTATE 55006). */
	PQfinish(db);
	char *q = ident(admin, tpl);
	char sql[256];
	snprintf(sql, sizeof sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS false "
		 "IS_TEMPLATE true", q);
	PQfreemem(q);
	rc = nrpg_exec(admin, sql, "marking the template complete", err, errlen);
	if (rc == 0)
		*built = 1;
unlock:
	/* An unlock that fails changes nothing: the lock goes with the
	 * session anyway. */
	PQclear(query1(admin, "SELECT pg_advisory_unlock(hashtext($1))", tpl,
		       "unlocking template", ignored, sizeof ignored));
	return rc;
}
