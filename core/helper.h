/* Helper children: run code that nrunner must survive (a plugin's entry
 * function, its init, a job hook) in a child process that the core
 * supervises, as GStreamer runs gst-plugin-scanner.
 *
 * The child runs fn(arg, out) and exits with its return value; it writes
 * what the parent should learn to `out`, the write end of a pipe.  The
 * parent collects those bytes and learns how the child ended: a crash, an
 * exit() from inside a plugin or a hang costs the child, never nrunner.
 *
 * Blocking use:
 *     nrc_helper *h = nrc_helper_start(fn, arg, 0, err, sizeof err);
 *     nrc_helper_wait(h, 10000);            // kills it after 10 s
 *     out = nrc_helper_output(h, &len);     // everything it wrote
 *     why = nrc_helper_failure(h);          // NULL: it returned 0
 *     nrc_helper_free(h);
 * An event loop instead polls nrc_helper_pollfds() beside its own fds and
 * calls nrc_helper_dispatch() until it returns 1. */
#ifndef NR_HELPER_H
#define NR_HELPER_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct nrc_helper nrc_helper;

/* Runs in the child.  Returns the child's exit status (0: success). */
typedef int (*nrc_helper_fn)(void *arg, int out);

enum {
	/* The child's stdout stays nrunner's stdout.  By default it is
	 * nrunner's stderr, so that nothing a plugin prints can corrupt
	 * machine-readable output. */
	NR_HELPER_KEEP_STDOUT = 1,
	/* The child leads a process group of its own, and a kill reaches
	 * everything it started.  By default it stays in nrunner's group, so
	 * that a Ctrl-C at the terminal reaches it too. */
	NR_HELPER_OWN_GROUP = 2,
};

/* Forks the child (stdio flushed first, so nothing is written twice).
 * Returns NULL with a one-line reason if it cannot. */
nrc_helper *nrc_helper_start(nrc_helper_fn fn, void *arg, int flags, char *err,
			   size_t errlen);

/* Fills up to 2 pollfds (POLLIN) to wait on; returns how many. */
int nrc_helper_pollfds(const nrc_helper *h, struct pollfd *fds);
/* Reads what is ready without blocking, and reaps the child once it has
 * ended.  Returns 1 once it is over, else 0. */
int nrc_helper_dispatch(nrc_helper *h);
/* Blocks until the child is over.  After timeout_ms from now (-1: no
 * limit) it is killed with SIGKILL and reaped; returns 0 then, 1 if it
 * ended by itself. */
int nrc_helper_wait(nrc_helper *h, int timeout_ms);

/* Sends sig to the child (its group with NR_HELPER_OWN_GROUP). */
void nrc_helper_kill(nrc_helper *h, int sig);

pid_t nrc_helper_pid(const nrc_helper *h);
/* What the child wrote so far, NUL-terminated; owned by h. */
const char *nrc_helper_output(const nrc_helper *h, size_t *len);
/* Once over: the status from waitpid(). */
int nrc_helper_status(const nrc_helper *h);
/* Once over: NULL if fn returned 0, else how it ended, as a phrase:
 * "crashed with SIGSEGV (Segmentation fault)", "exited with status 3",
 * "was stopped by nrunner after 10.0 s" (a signal nrc_helper_kill() sent).
 * Owned by h. */
const char *nrc_helper_failure(nrc_helper *h);
/* Kills (SIGKILL) and reaps the child if it still runs, and frees. */
void nrc_helper_free(nrc_helper *h);

#endif
