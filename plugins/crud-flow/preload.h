/* The app's preloader (nrunner-flow(5), "Preload"): a process started once
 * per job that has imported the app already, and forks one app per flow
 * on request.  job_begin starts one per distinct environment that has
 * app.preload, and gives its socket's name to the tasks in the job's data
 * (crud-flow.preload.<hash>); job_end stops them all. */
#ifndef NR_FLOW_PRELOAD_H
#define NR_FLOW_PRELOAD_H

#include "env.h"

/* Starts e's preloader, unless this job has started it already.  -1 with
 * one line in err when it cannot be started. */
int preload_begin(const env_spec *e, char *err, size_t errlen);

/* Waits until every preloader started listens (each within its
 * environment.ready.timeout_s).  -1 with one line in err, with the
 * preloader's last log lines. */
int preload_wait(char *err, size_t errlen);

/* The abstract socket name of e's preloader in this job, or NULL. */
const char *preload_socket(const env_spec *e);

/* Stops every preloader this process started. */
void preload_end(void);

#endif
