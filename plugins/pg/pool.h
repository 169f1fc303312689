/* The pool of ready clones (nrunner(1), provision-template, "The pool"): in a job, a clone of
 * a template takes ~13 ms, most of a flow's provisioning.  For each
 * template the job uses, a filler process keeps a few clones ready ahead,
 * off the tasks' path; a task takes one by renaming it to its own name,
 * ~2 ms with the connection, and clones as before when none is ready. */
#ifndef NR_PG_POOL_H
#define NR_PG_POOL_H

#include "pg.h"

/* In job_begin, once template `tpl` is built: starts its filler (once per
 * template), and waits a little for the first clones.  `token` is the
 * job's, so that its sweep drops what is left.  Best effort: returns
 * nothing, as the tasks clone when there is no pool. */
void nr_pg_pool_start(const nr_pg_opts *o, const char *tpl, const char *token);

/* In a task: renames a ready clone of `tpl` to `name`.  1 when it did,
 * 0 when there is no pool or no clone ready. */
int nr_pg_pool_claim(PGconn *admin, const char *tpl, const char *name);

/* In job_end, before the sweep: stops the fillers and ends their
 * sessions, so that no clone is being made after. */
void nr_pg_pool_stop(void);

#endif
