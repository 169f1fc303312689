/* A job's dependencies, as Avocado resolves them: a runnable's kwargs
 * "dependencies" (a list of {"type": KIND, ...}), and the list of
 * `nrunner run --job-dependency FILE` for every test.  Each distinct
 * dependency runs once, as a task of the kind its type names, before the
 * tests, its logs under dependencies/ of the job's results; one that
 * passes is recorded in a cache that later jobs trust
 * ($XDG_CACHE_HOME/nrunner/dependencies); a test whose dependency did not
 * pass is skipped, "Dependency was not fulfilled.".  The core knows no
 * kind here: a type is a kind's name. */
#ifndef NR_DEPS_H
#define NR_DEPS_H

#include "job.h"
#include "registry.h"

#include <stdio.h>

typedef struct nrc_deps nrc_deps;

/* Reads and checks the job's dependencies (job_file may be NULL).  On bad
 * input returns NULL with one line in err (the file or runnable, the
 * field, and what is wrong, e.g. a type that no kind has); else a set,
 * maybe empty. */
nrc_deps *nrc_deps_collect(nrc_registry *reg, const nrc_job *job,
			 const char *job_file, char *err, size_t errlen);
void nrc_deps_free(nrc_deps *d);
size_t nrc_deps_count(const nrc_deps *d);

/* Looks each dependency up in the cache; returns the runnables of those
 * that must run (the set owns them), for the plugins' job_begin. */
nrc_runnable *const *nrc_deps_pending(nrc_deps *d, size_t *n);

/* Makes `job` run the dependencies before its tests (opts.before_tasks):
 * call before nrc_job_run.  `quiet` shows only the dependencies that fail. */
void nrc_deps_attach(nrc_deps *d, nrc_job *job, nrc_registry *reg, int quiet);

/* `nrunner cache list` and `nrunner cache clear`: print the recorded
 * dependencies, or remove them saying what went.  Return an exit status. */
int nrc_deps_cache_list(FILE *out);
int nrc_deps_cache_clear(FILE *out);

#endif
