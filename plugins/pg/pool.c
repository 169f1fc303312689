#include "config.h"

#include "common/util.h"
#include "pool.h"
#include "provision.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Clones kept ready per template: the tasks that start together (-j)
 * take them, and the filler makes the next ones while the flows run. */
#define POOL_SIZE 2
#define FIRST_FILL_MS 2000
#define TAKE_TIMEOUT_MS 1000

typedef struct filler {
	pid_t pid;
	char *dsn;
	char appname[64];
	struct filler *next;
} filler;

static filler *fillers;

/* The key of the options' template: what makes it (without reading the
 * schema or asking the server, which is what the pool saves).  It names
 * the job's data that tells the tasks the pool, and the pool's clones. */
static unsigned long long pool_key(const nrpg_opts *o)
{
	unsigned long long h = NRP_FNV1A_INIT;
	h = nrp_fnv1a(h, o->dsn);
	h = nrp_fnv1a(h, o->prefix);
	h = nrp_fnv1a(h, o->strategy);
	h = nrp_fnv1a(h, o->sql_file);
	h = nrp_fnv1a(h, o->migrations_dir);
	h = nrp_fnv1a(h, o->cwd);
	for (char **a = o->command; a && *a; a++)
		h = nrp_fnv1a(h, *a);
	h = nrp_fnv1a(h, "inputs");
	for (char **a = o->inputs; a && *a; a++)
		h = nrp_fnv1a(h, *a);
	return h;
}

static void pool_data_key(unsigned long long key, char *out, size_t len)
{
	snprintf(out, len, "pg.pool.%016llx", key);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* --- the filler's process ------------------------------------------------ */

typedef struct ready {
	char *line; /* name, template, host, port, user, password, conninfo; tabs */
	struct ready *next;
} ready;

/* Hands the oldest ready clone to a task that connected (a line), or
 * says there is none (an empty line). */
static int hand_out(int lfd, ready **head, int *nready)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return 0;
	struct ucred cr;
	socklen_t crl = sizeof cr;
	int ok = getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0 && cr.uid == geteuid();
	int given = 0;
	if (ok && *head) {
		ready *r = *head;
		size_t n = strlen(r->line);
		if (send(c, r->line, n, MSG_NOSIGNAL) == (ssize_t)n) {
			*head = r->next;
			free(r->line);
			free(r);
			(*nready)--;
			given = 1;
		}
	} else if (ok) {
		(void)!send(c, "\n", 1, MSG_NOSIGNAL);
	}
	close(c);
	return given;
}

static int start_clone(PGconn *c, const char *tpl, const char *name, const char *strategy)
{
	char *qn = PQescapeIdentifier(c, name, strlen(name));
	char *qt = PQescapeIdentifier(c, tpl, strlen(tpl));
	char sql[512];
	const char *strat = nrpg_strategy_sql(c, strategy);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s%s%s", qn ? qn : "", qt ? qt : "",
		 strat ? " STRATEGY " : "", strat ? strat : "");
	PQfreemem(qn);
	PQfreemem(qt);
	return qn && qt && PQsendQuery(c, sql) == 1 ? 0 : -1;
}

/* Keeps POOL_SIZE clones of tpl ready, one CREATE DATABASE at a time, sent
 * without waiting (libpq's asynchronous API), so that tasks are served
 * while a clone is being made. */
_Noreturn static void fill(const nrpg_opts *o, const char *tpl, const char *stem,
			   const char *appname, int lfd, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	setpgid(0, 0); /* a Ctrl-C is nrunner's to handle */
	char err[1024];
	PGconn *c = nrpg_connect(o->dsn, NULL, err, sizeof err);
	if (!c)
		_exit(1);
	/* Named, so that job_end can end the session.  A parameter, as any
	 * text that reaches SQL. */
	const char *vals[1] = {appname};
	PGresult *named = PQexecParams(c, "SELECT set_config('application_name', $1, false)",
				       1, NULL, vals, NULL, NULL, 0);
	int ok = PQresultStatus(named) == PGRES_TUPLES_OK;
	PQclear(named);
	if (!ok)
		_exit(1);
	/* Blocking mode: PQsendQuery sends the whole statement, then the
	 * answer is read as it comes. */
	ready *head = NULL, **tail = &head;
	int nready = 0, busy = 0, failures = 0;
	long backoff = 50;
	unsigned long n = 0;
	char making[NRPG_NAMEMAX + 1] = "";
	for (;;) {
		if (!busy && nready < POOL_SIZE) {
			char id[160];
			snprintf(id, sizeof id, "%s%lu", stem, n++);
			nrpg_db_name(o->prefix, "pool", id, making);
			if (start_clone(c, tpl, making, o->strategy) < 0)
				_exit(1);
			busy = 1;
		}
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN},
				      {.fd = PQsocket(c), .events = POLLIN}};
		if (poll(p, busy ? 2 : 1, 1000) < 0 && errno != EINTR)
			_exit(1);
		if (p[0].revents & POLLIN && hand_out(lfd, &head, &nready) && !head)
			tail = &head;
		if (!busy || !(p[1].revents & POLLIN))
			continue;
		if (!PQconsumeInput(c))
			_exit(1);
		if (PQisBusy(c))
			continue;
		int made = 1;
		PGresult *r;
		while (!PQisBusy(c) && (r = PQgetResult(c))) {
			made &= PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
		}
		if (PQisBusy(c))
			continue; /* the rest of the answer is on its way */
		busy = 0;
		if (!made) {
			/* The template busy, a full disk: later, less and less
			 * often, and not for ever. */
			if (++failures > 20)
				_exit(1);
			sleep_ms(backoff);
			if (backoff < 2000)
				backoff *= 2;
			continue;
		}
		failures = 0;
		backoff = 50;
		char *ci = nrpg_conninfo(c, making);
		ready *rd = nrp_xcalloc(1, sizeof *rd);
		/* What the connection reports, for the taker's coordinates
		 * (nrpg_coords_from): the password may be empty. */
		if (!ci || !rd ||
		    asprintf(&rd->line, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", making, tpl, PQhost(c),
			     PQport(c), PQuser(c), PQpass(c) ? PQpass(c) : "", ci) < 0)
			_exit(1);
		free(ci);
		for (tail = &head; *tail; tail = &(*tail)->next)
			;
		*tail = rd;
		nready++;
	}
}

/* --- the job and the tasks ----------------------------------------------- */

/* Whether the pool key was asked for before in this job. */
static char **asked;
static size_t nasked;

static int seen_once(const char *var)
{
	for (size_t i = 0; i < nasked; i++)
		if (!strcmp(asked[i], var))
			return 1;
	char **v = nrp_xrealloc(asked, (nasked + 1) * sizeof *v);
	if (v) {
		asked = v;
		asked[nasked++] = nrp_xstrdup(var);
	}
	return 0;
}

void nrpg_pool_start(const nrpg_opts *o, const char *tpl, const char *token)
{
	const char *off = getenv("NRUNNER_PG_POOL");
	if (off && !strcmp(off, "off"))
		return;
	unsigned long long key = pool_key(o);
	char var[64];
	pool_data_key(key, var, sizeof var);
	if (nrp_jd_get(var))
		return;
	/* A job of one task would only pay for clones it does not use: the
	 * pool starts when a second runnable needs the same template. */
	if (!seen_once(var))
		return;
	/* Names <prefix>pool_<job token>_<pool key>_<n> (nrpg_db_name cuts
	 * the prefix, never the token, and cleans it as it does for tasks). */
	unsigned h = (unsigned)(key & 0xffffffffu);
	char stem[96], sock[96];
	snprintf(stem, sizeof stem, "%s_%08x_", token, h);
	unsigned char rnd[6];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return;
	snprintf(sock, sizeof sock, "nrunner-pgpool-%ld-%02x%02x%02x%02x%02x%02x", (long)getpid(),
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	/* Listening before any task starts. */
	struct sockaddr_un un;
	socklen_t ul = nrp_abstract_addr(&un, sock);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&un, ul) < 0 || listen(lfd, 64) < 0) {
		if (lfd >= 0)
			close(lfd);
		return;
	}
	filler *f = nrp_xcalloc(1, sizeof *f);
	snprintf(f->appname, sizeof f->appname, "nrunner-pool-%s-%08x", token, h);
	f->dsn = o->dsn ? nrp_xstrdup(o->dsn) : NULL;
	pid_t parent = getpid();
	f->pid = fork();
	if (f->pid == 0)
		fill(o, tpl, stem, f->appname, lfd, parent);
	close(lfd);
	if (f->pid < 0) {
		free(f->dsn);
		free(f);
		return;
	}
	f->next = fillers;
	fillers = f;
	nrp_jd_set(var, sock);
	/* The first clones, for the first tasks: part of the job's set-up. */
	char err[512];
	PGconn *c = nrpg_connect(o->dsn, NULL, err, sizeof err);
	char like[256] = "%";
	nrpg_like_escape(stem, like + 1, sizeof like - 2);
	strcat(like, "%");
	const char *vals[1] = {like};
	/* An interrupted set-up stops waiting at once (job_begin then fails). */
	for (int waited = 0; c && waited < FIRST_FILL_MS && !nrp_jd_interrupted(); waited += 5) {
		PGresult *r = PQexecParams(c, "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
					   1, NULL, vals, NULL, NULL, 0);
		int nr = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : 0;
		PQclear(r);
		if (nr >= POOL_SIZE)
			break;
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			/* It could not work (no connection, say): no pool. */
			f->pid = -1;
			nrp_jd_set(var, NULL);
			break;
		}
		sleep_ms(5);
	}
	PQfinish(c);
}

int nrpg_pool_take(const nrpg_opts *o, nrpg_db *db)
{
	char var[64];
	pool_data_key(pool_key(o), var, sizeof var);
	const char *sock = nrp_jd_get(var);
	if (!sock || !*sock)
		return 0;
	/* Only our own filler: abstract names are open to every user. */
	int s = nrp_abstract_connect(sock);
	if (s < 0)
		return 0;
	char line[4096];
	size_t got = 0;
	struct pollfd in = {.fd = s, .events = POLLIN};
	while (got < sizeof line - 1 && poll(&in, 1, TAKE_TIMEOUT_MS) > 0) {
		ssize_t n = read(s, line + got, sizeof line - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(s);
	line[got] = '\0';
	char *f[7], *p = line;
	int nf = 0;
	if (got && line[got - 1] == '\n') {
		line[got - 1] = '\0';
		/* strsep: an empty field (no password) stays a field. */
		for (char *t; nf < 7 && (t = strsep(&p, "\t")); )
			f[nf++] = t;
	}
	if (nf != 7 || strlen(f[0]) > NRPG_NAMEMAX || strlen(f[1]) > NRPG_NAMEMAX)
		return 0;
	snprintf(db->name, sizeof db->name, "%s", f[0]);
	snprintf(db->template, sizeof db->template, "%s", f[1]);
	nrpg_db_set_coords(db, f[2], f[3], f[4], f[5]);
	db->conninfo = nrp_xstrdup(f[6]);
	db->from_pool = 1;
	return 1;
}

void nrpg_pool_stop(void)
{
	for (size_t i = 0; i < nasked; i++)
		free(asked[i]);
	free(asked);
	asked = NULL;
	nasked = 0;
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
		PGconn *c = nrpg_connect(f->dsn, NULL, err, sizeof err);
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
		free(f->dsn);
		free(f);
	}
}
