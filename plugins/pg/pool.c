#include "config.h"

#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Clones kept ready per template: the tasks that start together (-j)
 * take them, and the filler makes the next ones while the flows run. */
#define POOL_SIZE 2
#define FIRST_FILL_MS 500

typedef struct filler {
	pid_t pid;
	char *dsn;
	char appname[64];
	char var[128];
	struct filler *next;
} filler;

static filler *fillers;

/* The variable that tells the tasks the pool of a template: its stem. */
static void pool_var(const char *tpl, char *out, size_t len)
{
	snprintf(out, len, "NRUNNER_PG_POOL_%s", tpl);
	for (char *p = out; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
}

/* LIKE pattern of the pool's databases: the stem, literal, then '%'. */
static void stem_like(const char *stem, char *out, size_t len)
{
	size_t k = 0;
	for (const char *p = stem; *p && k + 3 < len; p++) {
		if (*p == '_' || *p == '%' || *p == '\\')
			out[k++] = '\\';
		out[k++] = *p;
	}
	out[k++] = '%';
	out[k] = '\0';
}

static int ready_count(PGconn *c, const char *stem)
{
	char like[256];
	stem_like(stem, like, sizeof like);
	const char *vals[1] = {like};
	PGresult *r = PQexecParams(c, "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
				   1, NULL, vals, NULL, NULL, 0);
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The filler's process: keeps POOL_SIZE clones of tpl ready, and makes
 * more when a task's NOTIFY says it took one. */
_Noreturn static void fill(const nr_pg_opts *o, const char *tpl, const char *stem,
			   const char *appname, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	setpgid(0, 0); /* a Ctrl-C is nrunner's to handle */
	char err[1024];
	PGconn *c = nr_pg_connect(o->dsn, NULL, err, sizeof err);
	if (!c)
		_exit(1);
	char sql[256];
	char *chan = PQescapeIdentifier(c, stem, strlen(stem));
	snprintf(sql, sizeof sql, "SET application_name = '%s'", appname);
	if (!chan || nr_pg_exec(c, sql, "naming the session", err, sizeof err) < 0)
		_exit(1);
	snprintf(sql, sizeof sql, "LISTEN %s", chan);
	if (nr_pg_exec(c, sql, "listening", err, sizeof err) < 0)
		_exit(1);
	PQfreemem(chan);
	unsigned long n = 0;
	for (;;) {
		int ready = ready_count(c, stem);
		if (ready < 0)
			_exit(1);
		for (; ready < POOL_SIZE; ready++) {
			char name[NR_PG_NAMEMAX + 1];
			snprintf(name, sizeof name, "%s%lu", stem, n++);
			if (nr_pg_create_db(c, name, tpl, o->strategy, err, sizeof err) < 0) {
				sleep_ms(100); /* the template busy, say: later */
				break;
			}
		}
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		poll(&p, 1, 1000);
		if (!PQconsumeInput(c))
			_exit(1);
		PGnotify *nf;
		while ((nf = PQnotifies(c)))
			PQfreemem(nf);
	}
}

void nr_pg_pool_start(const nr_pg_opts *o, const char *tpl, const char *token)
{
	char var[128];
	pool_var(tpl, var, sizeof var);
	if (getenv(var))
		return;
	/* <prefix>pool_<job token>_<hash of the template>_<n> */
	uint32_t h = 2166136261u;
	for (const char *p = tpl; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	char stem[NR_PG_NAMEMAX + 1];
	snprintf(stem, sizeof stem, "%spool_%s_%08x_", o->prefix ? o->prefix : "nr_", token, h);
	filler *f = calloc(1, sizeof *f);
	snprintf(f->appname, sizeof f->appname, "nrunner-pool-%s-%08x", token, h);
	snprintf(f->var, sizeof f->var, "%s", var);
	f->dsn = o->dsn ? strdup(o->dsn) : NULL;
	pid_t parent = getpid();
	f->pid = fork();
	if (f->pid == 0)
		fill(o, tpl, stem, f->appname, parent);
	if (f->pid < 0) {
		free(f->dsn);
		free(f);
		return;
	}
	f->next = fillers;
	fillers = f;
	setenv(var, stem, 1);
	/* The first clones, for the first tasks: part of the job's set-up. */
	char err[512];
	PGconn *c = nr_pg_connect(o->dsn, NULL, err, sizeof err);
	for (int waited = 0; c && waited < FIRST_FILL_MS; waited += 5) {
		if (ready_count(c, stem) >= POOL_SIZE)
			break;
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = -1;
			break;
		}
		sleep_ms(5);
	}
	PQfinish(c);
}

int nr_pg_pool_claim(PGconn *admin, const char *tpl, const char *name)
{
	char var[128], like[256];
	pool_var(tpl, var, sizeof var);
	const char *stem = getenv(var);
	if (!stem || !*stem)
		return 0;
	stem_like(stem, like, sizeof like);
	const char *vals[1] = {like};
	PGresult *r = PQexecParams(admin, "SELECT datname FROM pg_database WHERE datname "
				   "LIKE $1 ORDER BY oid", 1, NULL, vals, NULL, NULL, 0);
	int claimed = 0;
	char *to = PQescapeIdentifier(admin, name, strlen(name));
	for (int i = 0; to && !claimed && PQresultStatus(r) == PGRES_TUPLES_OK &&
			i < PQntuples(r); i++) {
		const char *from = PQgetvalue(r, i, 0);
		char *q = PQescapeIdentifier(admin, from, strlen(from));
		char sql[256], err[512];
		snprintf(sql, sizeof sql, "ALTER DATABASE %s RENAME TO %s", q, to);
		PQfreemem(q);
		/* Another task may have taken it first: then the next. */
		claimed = q && nr_pg_exec(admin, sql, "taking a ready clone", err, sizeof err) == 0;
	}
	PQclear(r);
	PQfreemem(to);
	if (claimed) {
		char *chan = PQescapeIdentifier(admin, stem, strlen(stem));
		char sql[256], err[512];
		snprintf(sql, sizeof sql, "NOTIFY %s", chan ? chan : "nrunner_pool");
		nr_pg_exec(admin, sql, "asking for another clone", err, sizeof err);
		PQfreemem(chan);
	}
	return claimed;
}

void nr_pg_pool_stop(void)
{
	while (fillers) {
		filler *f = fillers;
		fillers = f->next;
		if (f->pid > 0) {
			kill(f->pid, SIGKILL);
			while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		/* Its session may still be making a clone: end it, and wait
		 * until it is gone, so that the sweep after finds everything. */
		char err[512];
		PGconn *c = nr_pg_connect(f->dsn, NULL, err, sizeof err);
		const char *vals[1] = {f->appname};
		for (int i = 0; c && i < 200; i++) {
			PGresult *r = PQexecParams(c, "SELECT count(pg_terminate_backend(pid)) FROM "
						   "pg_stat_activity WHERE application_name = $1",
						   1, NULL, vals, NULL, NULL, 0);
			int left = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : 0;
			PQclear(r);
			if (!left)
				break;
			sleep_ms(10);
		}
		PQfinish(c);
		unsetenv(f->var);
		free(f->dsn);
		free(f);
	}
}
