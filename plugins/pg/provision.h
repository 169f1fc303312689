/* The provision kinds' entry points (plugin.c), and the databases that
 * crud-flow's isolated flows make through them too. */
#ifndef NRPG_PROVISION_H
#define NRPG_PROVISION_H

#include <nrunner/plugin.h>

/* run() of provision-sql, provision-migrate and provision-template: the
 * kind's name says which. */
int nrpg_provision_run(const nr_host *h, nr_task *t);

#include "pg.h"

/* A database made for a task (or a flow's environment). */
typedef struct nrpg_db {
	char name[NRPG_NAMEMAX + 1];
	char template[NRPG_NAMEMAX + 1]; /* provision-template's, or "" */
	char *conninfo;  /* nrunner's own way in (no password) */
	/* How the app reaches it (nrpg_coords): the {{db.*}} values. */
	char *url, *host, *port, *user, *password, *socket;
	double provision_ms, template_build_ms, release_ms;
	int template_built;
	int from_pool;        /* a ready clone, renamed (pool.h) */
	int failure_is_error; /* on failure: the environment (error), not the
			       * schema (fail) */
} nrpg_db;

/* Makes a fresh database by the options' method (a clone of the template
 * when is_template); on failure nothing is left and err says why. */
int nrpg_provision(const nrpg_opts *o, int is_template, nrpg_db *db,
		    char *err, size_t errlen);
/* Drops it, or, with keep, marks it kept (the job's sweep spares it). */
int nrpg_release(const nrpg_opts *o, nrpg_db *db, int keep, char *err,
		  size_t errlen);
void nrpg_db_free(nrpg_db *db);
/* The notice of a kept database: its conninfo; on the job's private
 * server, which goes with the job, it is first dumped with pg_dump into
 * `dir` (the task's folder) as <name>.dump, and the notice says how to
 * restore it. */
void nrpg_kept_notice(const nrpg_opts *o, const nrpg_db *db, const char *dir,
		       char *out, size_t len);
/* Sets db's app coordinates (url, host, port, user, password, socket)
 * from what a connection to its server reports (nrpg_coords_from). */
void nrpg_db_set_coords(nrpg_db *db, const char *host, const char *port,
			 const char *user, const char *password);

/* A job's setup, for any plugin that provisions: remembers the servers
 * (dsns; NULL or "" for the default) to sweep at job end, and starts the
 * private server if one of them is the default and no server is named.
 * Each call, failed or not, is paired with one nrpg_job_end: the pool,
 * the sweep and the private server's stop come with the last. */
int nrpg_job_setup(const char *const *dsns, size_t n, char *err, size_t errlen);
/* Builds the template the options describe, if it is not there. */
int nrpg_prebuild(const nrpg_opts *o, char *err, size_t errlen);

/* The job hooks (ABI 1.2): the private server when no server is named,
 * templates built before the tasks fork, and a sweep of what killed tasks
 * left. */
int nrpg_job_begin(const nr_host *h, const nr_value *runnables, char *err,
		    size_t errlen);
void nrpg_job_end(const nr_host *h);
int nrpg_clean(const nr_host *h, const nr_value *kwargs, int dry_run,
		char *err, size_t errlen);

#endif
