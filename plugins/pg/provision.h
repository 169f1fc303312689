/* The provision kinds' entry points (plugin.c), and the databases that
 * crud-flow's isolated flows make through them too. */
#ifndef NR_PG_PROVISION_H
#define NR_PG_PROVISION_H

#include <nrunner/plugin.h>

/* run() of provision-sql, provision-migrate and provision-template: the
 * kind's name says which. */
int nr_pg_provision_run(const nr_host *h, nr_task *t);

#include "pg.h"

/* A database made for a task (or a flow's environment). */
typedef struct nr_pg_db {
	char name[NR_PG_NAMEMAX + 1];
	char template[NR_PG_NAMEMAX + 1]; /* provision-template's, or "" */
	char *conninfo;  /* nrunner's own way in (no password) */
	/* How the app reaches it (nr_pg_coords): the {{db.*}} values. */
	char *url, *host, *port, *user, *password, *socket;
	double provision_ms, template_build_ms, release_ms;
	int template_built;
	int from_pool;        /* a ready clone, renamed (pool.h) */
	int failure_is_error; /* on failure: the environment (error), not the
			       * schema (fail) */
} nr_pg_db;

/* Makes a fresh database by the options' method (a clone of the template
 * when is_template); on failure nothing is left and err says why. */
int nr_pg_provision(const nr_pg_opts *o, int is_template, nr_pg_db *db,
		    char *err, size_t errlen);
/* Drops it, or, with keep, marks it kept (the job's sweep spares it). */
int nr_pg_release(const nr_pg_opts *o, nr_pg_db *db, int keep, char *err,
		  size_t errlen);
void nr_pg_db_free(nr_pg_db *db);
/* The notice of a kept database: its conninfo; on the job's private
 * server, which goes with the job, it is first dumped with pg_dump into
 * `dir` (the task's folder) as <name>.dump, and the notice says how to
 * restore it. */
void nr_pg_kept_notice(const nr_pg_opts *o, const nr_pg_db *db, const char *dir,
		       char *out, size_t len);
/* Sets db's app coordinates (url, host, port, user, password, socket)
 * from what a connection to its server reports (nr_pg_coords_from). */
void nr_pg_db_set_coords(nr_pg_db *db, const char *host, const char *port,
			 const char *user, const char *password);

/* A job's setup, for any plugin that provisions: remembers the servers
 * (dsns; NULL or "" for the default) to sweep at job end, and starts the
 * private server if one of them is the default and no server is named. */
int nr_pg_job_setup(const char *const *dsns, size_t n, char *err, size_t errlen);
/* Builds the template the options describe, if it is not there. */
int nr_pg_prebuild(const nr_pg_opts *o, char *err, size_t errlen);

/* The job hooks (ABI 1.2): the private server when no server is named,
 * templates built before the tasks fork, and a sweep of what killed tasks
 * left. */
int nr_pg_job_begin(const nr_host *h, const nr_value *runnables, char *err,
		    size_t errlen);
void nr_pg_job_end(const nr_host *h);
int nr_pg_clean(const nr_host *h, const nr_value *kwargs, int dry_run,
		char *err, size_t errlen);

#endif
