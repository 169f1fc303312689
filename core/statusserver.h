/* `nrunner status-server`: collects the status streams of tasks (as
 * `task-run -s` and `run -s` send them, or Avocado's own task-run) from
 * any number of tasks and jobs at once, over TCP and Unix sockets, and
 * writes a results directory as they finish (DESIGN.md, "Scale beyond
 * one machine").  Also `nrunner report collect`, the same from logs
 * saved to files. */
#ifndef NR_STATUSSERVER_H
#define NR_STATUSSERVER_H

#include "job.h"
#include "status.h"

#include <stddef.h>

typedef struct nrc_status_server_opts {
	const char *const *listen; /* URIs: HOST:PORT (port 0 picks one), or
				      a Unix socket's path */
	size_t nlisten;
	const char *results_dir;   /* results.json, junit.xml, results.tap */
	unsigned long tasks;       /* end after this many; 0: on a signal */
	const char *port_file;     /* the URIs listened on, one a line */
	int quiet;                 /* lines only for tasks that did not pass */
} nrc_status_server_opts;

/* Serves until opts->tasks tasks have finished, or SIGINT/SIGTERM, then
 * writes the results and a summary.  Returns the exit status. */
int nrc_status_server_run(const nrc_status_server_opts *opts);

/* Builds results_dir from status logs: files, or directories searched
 * for *.jsonl and *.log.  Returns the exit status. */
int nrc_report_collect(char *const *paths, size_t n, const char *results_dir,
		      const char *junit, const char *tap, int quiet);

/* run -s: a job's status servers.  Connects to each URI (one that cannot
 * be reached is reported once, and the job goes on without it). */
nrc_status_out *nrc_status_fanout_new(const char *const *uris, size_t n);
/* An nrc_job_opts observer (ctx: the fanout): sends the message with the
 * job's and the task's ids; "started" also names the kind and uri. */
void nrc_status_fanout_observe(void *ctx, const nrc_job_task *t, cJSON *msg);

#endif
