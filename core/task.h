/* Task execution: one runnable in its own child process and process group
 * (DESIGN.md, "Isolation").
 *
 * The child runs the kind's run() and writes status messages to a pipe.
 * Its stdout and stderr go either to files in the task's output directory
 * or to pipes that the parent turns into "running" messages.  The parent
 * side is non-blocking: nrc_task_pollfds() says what to wait on, and
 * nrc_task_dispatch() reads what is ready, so one event loop can drive
 * one task or many. */
#ifndef NR_TASK_H
#define NR_TASK_H

#include "runnable.h"

#include <cjson/cJSON.h>
#include <nrunner/plugin.h>
#include <poll.h>
#include <sys/types.h>

typedef struct nrc_task_spec {
	const nrc_runnable *runnable;
	const nr_kind *kind;
	const char *plugin_file; /* named when the runner crashes */
	const char *output_dir;  /* NULL: output becomes messages */
	int spawner;             /* nrc_spawner (spawner.h); 0: a process group */
	/* With output_dir: a file the task process creates there beside
	 * stdout and stderr, empty, for the runner to write (the status
	 * log): the file system's work of making it is done beside the
	 * runner's event loop, not in it.  NULL: none. */
	const char *log_name;
} nrc_task_spec;

/* Called for every message, in order; the callee borrows msg. */
typedef void (*nrc_message_fn)(void *ctx, cJSON *msg);

typedef struct nrc_task_proc nrc_task_proc;

/* Forks the task.  Returns NULL with a one-line reason on failure. */
nrc_task_proc *nrc_task_start(const nrc_task_spec *spec, nrc_message_fn fn,
			    void *ctx, char *err, size_t errlen);

/* Fills up to 3 pollfds; returns how many. */
int nrc_task_pollfds(nrc_task_proc *p, struct pollfd *fds);
/* Reads what the pollfds reported. */
void nrc_task_dispatch(nrc_task_proc *p, const struct pollfd *fds, int n);
/* Call on SIGCHLD (or whenever): reaps the child if it has exited,
 * drains its pipes, kills what it left in its process group, and sends
 * the final message.  Returns 1 once the task is over. */
int nrc_task_check_exit(nrc_task_proc *p);
/* Reaps the members of ended tasks' process groups that have died since
 * (nrc_task_check_exit calls it too).  Call on SIGCHLD. */
void nrc_task_reap_orphans(void);

/* SIGTERM to the task's process group; reason goes into fail_reason if
 * the kind does not finish by itself. */
void nrc_task_interrupt(nrc_task_proc *p, const char *reason);
/* SIGKILL to the task's process group. */
void nrc_task_kill(nrc_task_proc *p);

pid_t nrc_task_pid(const nrc_task_proc *p);
/* The finished message (valid until nrc_task_free), once over. */
const cJSON *nrc_task_finished(const nrc_task_proc *p);
/* Non-zero if the runner crashed or broke the message contract. */
int nrc_task_runner_failed(const nrc_task_proc *p);
void nrc_task_free(nrc_task_proc *p);

#endif
