/* The pool of ready clones (nrunner(1), provision-template, "The pool").
 * In a job, a clone of a template takes 10-20 ms, and a task pays a
 * connection on top.  For each template the job uses, a filler process
 * keeps a few clones ready ahead, off the tasks' path, and hands them out
 * over an abstract Unix socket: a task takes one in well under a
 * millisecond, with no connection, and clones as before when none is
 * ready. */
#ifndef NRPG_POOL_H
#define NRPG_POOL_H

#include "pg.h"

typedef struct nrpg_db nrpg_db;

/* In job_begin, once template `tpl` is built, for each runnable that
 * uses it: starts its filler when a second one does (once per template
 * and server), and waits for its first clones (at most 2 s).  `token`
 * is the job's: the clones' names carry it, so that its sweep drops what
 * is left.  Best effort: without a pool the tasks clone. */
void nrpg_pool_start(const nrpg_opts *o, const char *tpl, const char *token);

/* In a task: takes a ready clone for the options' template, filling in
 * db's name, template and connection fields.  1 when it did, 0 when
 * there is no pool or no clone ready. */
int nrpg_pool_take(const nrpg_opts *o, nrpg_db *db);

/* In job_end, before the sweep: stops the fillers and ends their
 * sessions, so that no clone is being made after. */
void nrpg_pool_stop(void);

#endif
