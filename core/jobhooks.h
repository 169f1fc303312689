/* The plugins' job hooks (ABI 1.2) run in a job helper: a child process
 * that the core supervises (core/helper.h), never in nrunner's own
 * process, so that a crash, an exit() or a hang there fails the job with a
 * message instead of taking nrunner down.
 *
 * The helper runs each plugin's job_begin, sends the core the job's data
 * (ABI 1.4; and, for plugins of older minors, the environment variables
 * their job_begin set), then waits, keeping what job_begin started (a
 * server, a preloader) as its own children, until the core asks for the
 * job's end, or nrunner goes away; then it runs the job_end hooks in the
 * reverse order.  Set-up can be interrupted: a signal to nrunner or the
 * job's timeout sends the helper SIGTERM, which host->interrupted(NULL)
 * reports to the hooks, and SIGKILL after the grace period. */
#ifndef NR_JOBHOOKS_H
#define NR_JOBHOOKS_H

#include <nrunner/plugin.h>
#include <stddef.h>

typedef struct nrc_jobhooks nrc_jobhooks;

/* One plugin's part of the job. */
typedef struct nrc_jobhook_plugin {
	const nr_plugin *desc;
	unsigned abi_minor;
	const char *name;       /* for messages */
	const char *runnables;  /* JSON array of its runnables */
} nrc_jobhook_plugin;

typedef struct nrc_setup_limits {
	double timeout; /* seconds from now; 0: none */
	double grace;   /* SIGTERM to SIGKILL, seconds */
} nrc_setup_limits;

enum { NR_SETUP_OK = 0, NR_SETUP_FAILED = -1, NR_SETUP_INTERRUPTED = -2 };

/* Runs the plugins' job_begin in a new job helper.  On NR_SETUP_OK, *out
 * is the running helper and the job's data is the core's (nrc_job_data).
 * Otherwise err says why in one line; the helper has ended (the plugins
 * already begun were ended). */
int nrc_jobhooks_begin(const nrc_jobhook_plugin *plugins, size_t n,
		      const nrc_setup_limits *limits, nrc_jobhooks **out, char *err,
		      size_t errlen);
/* Asks the helper to run the job_end hooks and waits for it.  Returns 0,
 * or -1 with one line in err when it crashed or hung; frees it. */
int nrc_jobhooks_end(nrc_jobhooks *j, char *err, size_t errlen);

/* Runs one plugin's clean in a helper child (its stdout is nrunner's).
 * Returns its count, or -1 with one line in err. */
int nrc_jobhooks_clean(const nr_plugin *desc, const void *kwargs, int dry_run, char *err,
		      size_t errlen);

#endif
