/* Running a program for a kind: the helper shared by exec, exec-test and
 * any kind that starts a command.  The program inherits the task's stdout
 * and stderr, which the core captures, and stays in the task's process
 * group, so a timeout or Ctrl-C reaches it too. */
#ifndef NRP_SPAWN_H
#define NRP_SPAWN_H

#include <nrunner/plugin.h>
#include <sys/types.h>

typedef struct nrp_spawn_result {
	int started;     /* the program was executed */
	int error;       /* errno when it could not be started */
	int exited;      /* it exited: code holds the status */
	int code;
	int signaled;    /* it was killed: sig holds the signal */
	int sig;
	int interrupted; /* the task was asked to stop meanwhile */
	int timed_out;   /* nrp_spawn_command's timeout ended it */
	const char *why; /* why it was not started, when not errno's */
} nrp_spawn_result;

/* Runs the runnable's uri with its args.  kwargs become environment
 * variables (strings as they are, other values as JSON text), except
 * Avocado's output_dir, tags, variant, dependencies and assets; the
 * parameters of Avocado's variant kwarg do too.  NRUNNER_TEST_OUTPUTDIR,
 * AVOCADO_TEST_OUTPUTDIR and AVOCADO_TEST_LOGDIR name the task's output
 * directory, if any, and AVOCADO_TEST_BASEDIR the program's.  Config
 * "runner.exectest.clear_env" is Avocado's: "system" starts from an empty
 * environment, "all" also leaves out the directories.  A uri without a
 * slash is searched in PATH. */
void nrp_spawn_runnable(const nr_host *host, nr_task *task, nrp_spawn_result *res);

/* nrp_spawn_runnable in two steps, for a kind that reads the program's
 * output: starts it with its stdout on stdout_fd (-1: the task's), and
 * returns 0 with *pid set, or -1 with res saying why; then waits. */
int nrp_spawn_start(const nr_host *host, nr_task *task, int stdout_fd,
		   pid_t *pid, nrp_spawn_result *res);
void nrp_spawn_wait(const nr_host *host, nr_task *task, pid_t pid,
		   nrp_spawn_result *res);

/* Runs argv (argv[0] searched in PATH) with its stdout and stderr on one
 * pipe that is read here: all of it goes on to the task's stdout, for
 * the logs, and its last bytes (at most tail_len - 1, from a line's
 * start when there is one) are kept in tail, for a failure to quote.
 * Returns 0 once it ran (res says how it ended), -1 when it could not be
 * started (res->error). */
int nrp_spawn_capture(const nr_host *host, nr_task *task, char *const *argv,
		     char *tail, size_t tail_len, nrp_spawn_result *res);

/* Runs argv (argv[0] searched in PATH when it has no slash) in nrunner's
 * environment, with its stdout on stdout_fd (-1: the task's) and its
 * stderr on the task's, in a process group of its own that the core
 * knows of (host->process_group), and waits for it.  After timeout_ms
 * (<= 0: no limit), or when the task is interrupted, the whole group is
 * killed and res says which.  For a kind that runs commands of its own
 * (not the runnable's uri), each of which may hang: a timeout ends the
 * command and what it started, not the task. */
void nrp_spawn_command(const nr_host *host, nr_task *task, char *const argv[],
		      int stdout_fd, long timeout_ms, nrp_spawn_result *res);

/* "SIGSEGV" for SIGSEGV. */
const char *nrp_spawn_signame(int sig);

/* When the program could not be started: finishes the task with "error"
 * and the reason, and returns 1 (with *rc set to the finish's result).
 * Otherwise returns 0. */
int nrp_spawn_finish_unstarted(const nr_host *h, nr_task *t,
			      const nrp_spawn_result *res, int *rc);

/* Adds "returncode" (minus the signal, as Python's subprocess has it, when
 * a signal killed the program) and "signal" to a finished message. */
void nrp_spawn_msg_status(const nr_host *h, nr_msg *m, const nrp_spawn_result *res);

#endif
