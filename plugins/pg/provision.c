/* What the three provision kinds do, in one place: the pg plugin
 * (plugin.c) is a descriptor over these functions. */
#include "config.h"

#include "common/redact.h"
#include "common/util.h"
#include "pg.h"
#include "pool.h"
#include "provision.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define KEPT_COMMENT "nrunner: kept"

static void built_key(const char *tpl, char *out, size_t len);

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A token unique to the job, in every database name it makes, so that
 * job_end can sweep what a killed task left: "j" and 8 hex digits.  The
 * job's data carries it from job_begin to the tasks; a process with no
 * job (none can be, but) makes one of its own. */
static int token_ok(const char *t)
{
	if (!t || t[0] != 'j' || strlen(t) != 9)
		return 0;
	for (const char *p = t + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static const char *job_token(void)
{
	static char own[16];
	const char *tok = nrp_jd_get(NRPG_KEY_TOKEN);
	if (token_ok(tok))
		return tok;
	if (!own[0]) {
		unsigned char b[4] = {0};
		if (getrandom(b, sizeof b, 0) != sizeof b) {
			unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL);
			memcpy(b, &v, sizeof b);
		}
		snprintf(own, sizeof own, "j%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
	}
	return own;
}

static void free_coords(nrpg_db *db)
{
	nrpg_coords co = {.host = db->host, .port = db->port, .user = db->user,
			   .password = db->password, .socket = db->socket, .url = db->url};
	nrpg_coords_free(&co);
	db->host = db->port = db->user = db->password = db->socket = db->url = NULL;
}

void nrpg_db_set_coords(nrpg_db *db, const char *host, const char *port,
			 const char *user, const char *password)
{
	nrpg_coords co;
	nrpg_coords_from(host, port, user, password, db->name, &co);
	free_coords(db);
	db->host = co.host;
	db->port = co.port;
	db->user = co.user;
	db->password = co.password;
	db->socket = co.socket;
	db->url = co.url;
}

void nrpg_db_free(nrpg_db *db)
{
	free(db->conninfo);
	free_coords(db);
	memset(db, 0, sizeof *db);
}

int nrpg_provision(const nrpg_opts *o, int is_template, nrpg_db *db,
		    char *err, size_t errlen)
{
	memset(db, 0, sizeof *db);
	db->failure_is_error = 1;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A clone made ahead by the job's pool: no connection, no clone. */
	if (is_template && nrpg_pool_take(o, db)) {
		db->provision_ms = ms_since(&t0);
		return 0;
	}
	PGconn *admin = nrpg_connect(o->dsn, NULL, err, errlen);
	if (!admin)
		return -1;
	char id[64];
	snprintf(id, sizeof id, "%s_%ld", job_token(), (long)getpid());
	nrpg_db_name(o->prefix, o->name, id, db->name);
	int rc = 0;
	double template_ms = 0;
	if (is_template) {
		struct timespec tb;
		clock_gettime(CLOCK_MONOTONIC, &tb);
		rc = nrpg_template_name(admin, o, db->template, err, errlen);
		if (rc == 0)
			rc = nrpg_ensure_template(admin, o, db->template, &db->template_built,
						   err, errlen);
		if (db->template_built)
			template_ms = ms_since(&tb);
		db->failure_is_error = 0;
		if (rc == 0) {
			db->failure_is_error = 1;
			rc = nrpg_create_db(admin, db->name, db->template, o->strategy, err, errlen);
		}
	} else {
		rc = nrpg_create_db(admin, db->name, NULL, o->strategy, err, errlen);
		if (rc == 0) {
			db->failure_is_error = 0;
			PGconn *c = nrpg_connect(o->dsn, db->name, err, errlen);
			rc = c ? nrpg_build_schema(c, o, err, errlen) : -1;
			PQfinish(c);
		}
	}
	/* The schema's own build time when the template was built here is
	 * not part of the clone. */
	db->provision_ms = ms_since(&t0) - template_ms;
	db->template_build_ms = template_ms;
	if (rc < 0) {
		/* Never leave a half-made database. */
		char e2[512];
		nrpg_drop_db(admin, db->name, e2, sizeof e2);
		PQfinish(admin);
		return -1;
	}
	db->conninfo = nrpg_conninfo(admin, db->name);
	nrpg_db_set_coords(db, PQhost(admin), PQport(admin), PQuser(admin), PQpass(admin));
	PQfinish(admin);
	return 0;
}

int nrpg_release(const nrpg_opts *o, nrpg_db *db, int keep, char *err,
		  size_t errlen)
{
	struct timespec tr;
	clock_gettime(CLOCK_MONOTONIC, &tr);
	PGconn *admin = nrpg_connect(o->dsn, NULL, err, errlen);
	if (!admin)
		return -1;
	int rc;
	if (keep && db->from_pool) {
		/* A kept clone from the pool gets the name a clone of the task's
		 * own would have had, for the post-mortem. */
		char id[64], name[NRPG_NAMEMAX + 1], sql[512];
		snprintf(id, sizeof id, "%s_%ld", job_token(), (long)getpid());
		nrpg_db_name(o->prefix, o->name, id, name);
		char *from = PQescapeIdentifier(admin, db->name, strlen(db->name));
		char *to = PQescapeIdentifier(admin, name, strlen(name));
		snprintf(sql, sizeof sql, "ALTER DATABASE %s RENAME TO %s", from ? from : "",
			 to ? to : "");
		PQfreemem(from);
		PQfreemem(to);
		if (nrpg_exec(admin, sql, "naming the kept database", err, errlen) == 0) {
			snprintf(db->name, sizeof db->name, "%s", name);
			free(db->conninfo);
			db->conninfo = nrpg_conninfo(admin, db->name);
			nrpg_db_set_coords(db, PQhost(admin), PQport(admin), PQuser(admin),
					    PQpass(admin));
		}
	}
	if (keep) {
		char *q = PQescapeIdentifier(admin, db->name, strlen(db->name));
		char sql[256];
		snprintf(sql, sizeof sql, "COMMENT ON DATABASE %s IS '" KEPT_COMMENT "'", q);
		PQfreemem(q);
		rc = nrpg_exec(admin, sql, "marking the database kept", err, errlen);
	} else {
		rc = nrpg_drop_db(admin, db->name, err, errlen);
	}
	PQfinish(admin);
	db->release_ms = ms_since(&tr);
	return rc;
}

void nrpg_kept_notice(const nrpg_opts *o, const nrpg_db *db, const char *dir,
		       char *out, size_t len)
{
	if (!nrp_jd_get(NRPG_KEY_PRIVATE) || (o->dsn && *o->dsn)) {
		snprintf(out, len, "kept database %s: %s", db->name, db->conninfo);
		return;
	}
	char bindir[PATH_MAX], dump[PATH_MAX + 16], path[2 * PATH_MAX], err[1024] = "";
	int rc = -1;
	if (!dir)
		snprintf(err, sizeof err, "the task has no folder to dump it into");
	else if (nrpg_bindir(bindir, sizeof bindir) < 0)
		snprintf(err, sizeof err, "no pg_dump found");
	if (dir && !err[0]) {
		snprintf(dump, sizeof dump, "%s/pg_dump", bindir);
		snprintf(path, sizeof path, "%s/%s.dump", dir, db->name);
		PGconn *c = nrpg_connect(o->dsn, db->name, err, sizeof err);
		char *argv[] = {dump, "--format=custom", "--no-owner", "--file", path, NULL};
		rc = c ? nrpg_run_command(argv, NULL, NULL, "pg_dump", c, err, sizeof err) : -1;
		PQfinish(c);
	}
	if (rc == 0)
		snprintf(out, len, "kept database %s: dumped to %s, since the job's private "
			 "server goes with the job; restore it with: createdb %s && "
			 "pg_restore --no-owner -d %s %s", db->name, path, db->name, db->name,
			 path);
	else
		snprintf(out, len, "kept database %s: %s (but on the job's private server, "
			 "which goes with the job, and it could not be dumped: %s; name a "
			 "server with dsn= or PGHOST to keep it after)", db->name, db->conninfo,
			 err);
}

int nrpg_provision_run(const nr_host *h, nr_task *t)
{
	char err[4096];
	nrp_jd_use(h, t);
	nrpg_opts o;
	if (nrpg_read_opts(h, h->kind(t), h->uri(t), h->identifier(t),
			    h->kwargs(t), &o, err, sizeof err) < 0)
		return h->finish(t, NR_RESULT_ERROR, err);
	const int is_template = !strcmp(h->kind(t), "provision-template");
	nrpg_db db;
	if (nrpg_provision(&o, is_template, &db, err, sizeof err) < 0) {
		int e = db.failure_is_error;
		nrpg_free_opts(&o);
		return h->finish(t, e ? NR_RESULT_ERROR : NR_RESULT_FAIL, err);
	}
	if (h->interrupted(t)) {
		nrpg_release(&o, &db, 0, err, sizeof err);
		nrpg_db_free(&db);
		nrpg_free_opts(&o);
		return h->finish(t, NR_RESULT_INTERRUPTED,
				    "interrupted while provisioning; the database was dropped");
	}
	int kept = o.keep == NRPG_KEEP_ALWAYS;
	if (nrpg_release(&o, &db, kept, err, sizeof err) < 0 && !kept) {
		nrpg_db_free(&db);
		nrpg_free_opts(&o);
		return h->finish(t, NR_RESULT_ERROR, err);
	}
	char notice[4096] = "";
	if (kept) {
		nrpg_kept_notice(&o, &db, h->output_dir(t), notice, sizeof notice);
		h->log(t, "%s", notice);
	}
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", NR_RESULT_PASS);
	h->msg_string(m, "database", db.name);
	h->msg_string(m, "conninfo", db.conninfo);
	/* The URL holds the password (the private server's is the job's):
	 * never in a message. */
	char shown[2048];
	snprintf(shown, sizeof shown, "%s", db.url);
	nrp_redact(shown, sizeof shown, db.password);
	h->msg_string(m, "url", shown);
	h->msg_bool(m, "kept", kept);
	if (kept)
		h->msg_string(m, "notice", notice);
	h->msg_number(m, "provision_ms", db.provision_ms);
	if (is_template)
		h->msg_bool(m, "from_pool", db.from_pool);
	if (!kept)
		h->msg_number(m, "release_ms", db.release_ms);
	if (is_template) {
		char key[128];
		built_key(db.template, key, sizeof key);
		const char *by_job = nrp_jd_get(key);
		h->msg_string(m, "template", db.template);
		h->msg_bool(m, "template_built", db.template_built);
		if (db.template_built)
			h->msg_number(m, "template_build_ms", db.template_build_ms);
		else if (by_job)
			h->msg_number(m, "template_build_ms_by_job", atof(by_job));
	}
	nrpg_db_free(&db);
	nrpg_free_opts(&o);
	return h->msg_emit(m);
}

/* --- the job ----------------------------------------------------------- */

/* The servers the job's runnables use, to sweep at its end; and how many
 * plugins of the job (pg, crud-flow) set it up and have not ended it: this
 * library is one copy in the process (libnrunner-pg.so), shared by both,
 * and the job's end is the last one's. */
static char **swept_dsns;
static size_t nswept;
static int began;

static void remember_dsn(const char *dsn)
{
	for (size_t i = 0; i < nswept; i++)
		if (!strcmp(swept_dsns[i], dsn ? dsn : ""))
			return;
	char **v = nrp_xrealloc(swept_dsns, (nswept + 1) * sizeof *v);
	char *d = nrp_xstrdup(dsn ? dsn : "");
	if (!v || !d) {
		free(d);
		if (v)
			swept_dsns = v;
		return;
	}
	swept_dsns = v;
	swept_dsns[nswept++] = d;
}

/* The key under which job_begin tells the tasks that it built a template,
 * and how long that took (template names are [a-z0-9_]). */
static void built_key(const char *tpl, char *out, size_t len)
{
	snprintf(out, len, "pg.built.%s", tpl);
}

int nrpg_prebuild(const nrpg_opts *o, char *err, size_t errlen)
{
	PGconn *admin = nrpg_connect(o->dsn, NULL, err, errlen);
	char tpl[NRPG_NAMEMAX + 1];
	int built = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = admin ? nrpg_template_name(admin, o, tpl, err, errlen) : -1;
	if (rc == 0)
		rc = nrpg_ensure_template(admin, o, tpl, &built, err, errlen);
	if (rc == 0 && built && !(o->dsn && *o->dsn) && nrp_jd_get(NRPG_KEY_PRIVATE))
		nrpg_template_cache_built();
	if (rc == 0 && built) {
		/* Tell the tasks, which report it: the build is the job's. */
		char key[128], val[32];
		built_key(tpl, key, sizeof key);
		snprintf(val, sizeof val, "%.3f", ms_since(&t0));
		nrp_jd_set(key, val);
	}
	PQfinish(admin);
	/* Clones made ahead, in a job. */
	if (rc == 0 && began)
		nrpg_pool_start(o, tpl, job_token());
	return rc;
}

/* Builds the template a provision-template runnable needs, before any
 * task forks: the tasks then only clone. */
static int prebuild_template(const nr_host *h, const nr_value *r, char *err,
			     size_t errlen)
{
	nrpg_opts o;
	const char *uri = h->string(h->get(r, "uri"));
	const char *id = h->string(h->get(r, "identifier"));
	if (nrpg_read_opts(h, "provision-template", uri, id ? id : "template",
			    h->get(r, "kwargs"), &o, err, errlen) < 0)
		return -1;
	int rc = nrpg_prebuild(&o, err, errlen);
	nrpg_free_opts(&o);
	return rc;
}

int nrpg_job_setup(const char *const *dsns, size_t n, char *err, size_t errlen)
{
	began++;
	/* The first plugin of the job to provision names it. */
	if (nrp_jd_set(NRPG_KEY_TOKEN, job_token()) < 0)
		return nrp_fail(err, errlen, "cannot store the job's token in the job's data");
	int need_private = 0;
	for (size_t i = 0; i < n; i++) {
		if (!dsns[i] || !*dsns[i])
			need_private = 1;
		remember_dsn(dsns[i]);
	}
	return need_private ? nrpg_private_start(err, errlen) : 0;
}

int nrpg_job_begin(const nr_host *h, const nr_value *runnables, char *err,
		    size_t errlen)
{
	nrp_jd_use(h, NULL);
	size_t n = h->size(runnables);
	const char **dsns = nrp_xcalloc(n + 1, sizeof *dsns);
	for (size_t i = 0; i < n; i++) {
		const nr_value *r = h->item(runnables, i);
		dsns[i] = h->string(h->get(h->get(r, "kwargs"), "dsn"));
		/* The templates it wants, for the template cache. */
		const char *kind = h->string(h->get(r, "kind"));
		nrpg_opts o;
		char e[512];
		const char *uri = h->string(h->get(r, "uri"));
		const char *id = h->string(h->get(r, "identifier"));
		if (kind && !strcmp(kind, "provision-template") &&
		    nrpg_read_opts(h, kind, uri, id ? id : "template", h->get(r, "kwargs"),
				    &o, e, sizeof e) == 0) {
			nrpg_template_cache_want(&o);
			nrpg_free_opts(&o);
		}
	}
	int rc = nrpg_job_setup(dsns, n, err, errlen);
	free(dsns);
	if (rc < 0) {
		nrpg_job_end(h);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const nr_value *r = h->item(runnables, i);
		const char *kind = h->string(h->get(r, "kind"));
		if (kind && !strcmp(kind, "provision-template") &&
		    prebuild_template(h, r, err, errlen) < 0) {
			nrpg_job_end(h);
			return -1;
		}
	}
	return 0;
}

/* Drops the databases of this job that are still there (a task killed
 * in the middle), except those kept on purpose. */
static void sweep(const char *dsn, const char *token)
{
	char err[1024];
	PGconn *admin = nrpg_connect(dsn, NULL, err, sizeof err);
	if (!admin)
		return;
	char pattern[64];
	snprintf(pattern, sizeof pattern, "%%\\_%s\\_%%", token);
	const char *vals[2] = {pattern, KEPT_COMMENT};
	PGresult *r = PQexecParams(admin,
		"SELECT datname FROM pg_database d WHERE datname LIKE $1 AND "
		"NOT datistemplate AND coalesce(shobj_description(d.oid, "
		"'pg_database'), '') <> $2",
		2, NULL, vals, NULL, NULL, 0);
	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		nrpg_drop_db(admin, PQgetvalue(r, i, 0), err, sizeof err);
	PQclear(r);
	PQfinish(admin);
}

void nrpg_job_end(const nr_host *h)
{
	nrp_jd_use(h, NULL);
	if (!began || --began > 0)
		return; /* not set up, or another plugin still runs the job */
	nrpg_pool_stop();
	const char *token = nrp_jd_get(NRPG_KEY_TOKEN);
	for (size_t i = 0; i < nswept; i++) {
		if (token_ok(token))
			sweep(swept_dsns[i][0] ? swept_dsns[i] : NULL, token);
		free(swept_dsns[i]);
	}
	free(swept_dsns);
	swept_dsns = NULL;
	nswept = 0;
	nrpg_private_stop();
}

/* --- nrunner clean ----------------------------------------------------- */

int nrpg_clean(const nr_host *h, const nr_value *kwargs, int dry_run,
		char *err, size_t errlen)
{
	nrp_jd_use(h, NULL);
	for (size_t i = 0; i < h->size(kwargs); i++) {
		const char *k = h->key_at(kwargs, i);
		if (strcmp(k, "dsn") && strcmp(k, "prefix") && strcmp(k, "all")) {
			snprintf(err, errlen, "%s=...: unknown; clean takes dsn= and prefix=", k);
			return -1;
		}
	}
	const char *dsn = h->string(h->get(kwargs, "dsn"));
	const char *prefix = h->string(h->get(kwargs, "prefix"));
	/* --all: the newest templates too, and the template cache. */
	int all = h->boolean(h->get(kwargs, "all"));
	if (!prefix)
		prefix = "nr_";
	int cached = all ? nrpg_template_cache_clean(dry_run) : 0;
	if ((!dsn || !*dsn) && !nrpg_server_named())
		return cached; /* the private server goes with its job */
	PGconn *admin = nrpg_connect(dsn, NULL, err, errlen);
	if (!admin)
		return -1;
	/* Per-flow databases; templates half built (never marked complete);
	 * templates superseded by a newer build of the same schema label. */
	/* The prefix is literal: '_' and '%' in it match only themselves. */
	char like[256];
	size_t k = 0;
	for (const char *p = prefix; *p && k < sizeof like - 3; p++) {
		if (*p == '_' || *p == '%' || *p == '\\')
			like[k++] = '\\';
		like[k++] = *p;
	}
	like[k++] = '%';
	like[k] = '\0';
	const char *vals[2] = {like, all ? "t" : "f"};
	PGresult *r = PQexecParams(admin,
		"SELECT datname, datistemplate, CASE "
		" WHEN datname NOT LIKE 'nr\\_tpl\\_%' THEN 'a per-flow database left behind' "
		" WHEN NOT datistemplate THEN 'a half-built template' "
		" WHEN EXISTS (SELECT 1 FROM pg_database n WHERE n.datistemplate AND "
		"  n.oid > d.oid AND regexp_replace(n.datname, '_[0-9a-f]{16}$', '') = "
		"  regexp_replace(d.datname, '_[0-9a-f]{16}$', '')) "
		"  THEN 'a stale template: a newer build of the same schema exists' "
		" ELSE 'the newest template of its schema: --all' END "
		"FROM pg_database d WHERE (datname LIKE $1 AND datname NOT LIKE 'nr\\_tpl\\_%') "
		"OR (datname LIKE 'nr\\_tpl\\_%' AND ($2::bool OR NOT datistemplate OR EXISTS ("
		"  SELECT 1 FROM pg_database n WHERE n.datistemplate AND n.oid > d.oid AND "
		"  regexp_replace(n.datname, '_[0-9a-f]{16}$', '') = "
		"  regexp_replace(d.datname, '_[0-9a-f]{16}$', '')))) ORDER BY datname",
		2, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "listing databases: %s", PQerrorMessage(admin));
		PQclear(r);
		PQfinish(admin);
		return -1;
	}
	int n = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		int is_tpl = !strcmp(PQgetvalue(r, i, 1), "t");
		char e[1024] = "";
		int ok = 1;
		/* A template still being built holds its advisory lock: leave
		 * it to its builder. */
		int busy = 0;
		if (!strncmp(name, "nr_tpl_", 7)) {
			const char *lv[1] = {name};
			PGresult *lr = PQexecParams(admin, "SELECT pg_try_advisory_lock(hashtext($1))",
						    1, NULL, lv, NULL, NULL, 0);
			busy = PQresultStatus(lr) == PGRES_TUPLES_OK && strcmp(PQgetvalue(lr, 0, 0), "t");
			PQclear(lr);
			if (!busy)
				PQclear(PQexecParams(admin, "SELECT pg_advisory_unlock(hashtext($1))",
						     1, NULL, lv, NULL, NULL, 0));
		}
		if (busy)
			continue;
		if (!dry_run) {
			if (is_tpl) {
				/* A template cannot be dropped as such. */
				char *q = PQescapeIdentifier(admin, name, strlen(name));
				char sql[256];
				snprintf(sql, sizeof sql, "ALTER DATABASE %s WITH IS_TEMPLATE false", q);
				PQfreemem(q);
				ok = nrpg_exec(admin, sql, "unmarking the template", e, sizeof e) == 0;
			}
			ok = ok && nrpg_drop_db(admin, name, e, sizeof e) == 0;
		}
		if (ok)
			printf("%s %s (%s)\n", dry_run ? "would drop" : "dropped", name,
			       PQgetvalue(r, i, 2));
		else
			printf("could not drop %s: %s\n", name, e);
		n += ok;
	}
	PQclear(r);
	PQfinish(admin);
	return n + cached;
}
