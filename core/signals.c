#include "config.h"

#include "signals.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int e = errno;
	unsigned char c = (unsigned char)sig;
	(void)!write(sig_pipe[1], &c, 1);
	errno = e;
}

int nrc_signals_fd(void)
{
	if (sig_pipe[0] >= 0)
		return sig_pipe[0];
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		nrc_error("cannot create a pipe: %s", strerror(errno));
		exit(NR_EXIT_RUNNER_FAIL);
	}
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_flags |= SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Orphans of a task (a daemon it forked) are reparented to nrunner
	 * rather than to init, so they stay ours to kill and to reap. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return sig_pipe[0];
}

size_t nrc_signals_read(int *sigs, size_t max)
{
	unsigned char buf[64];
	if (max > sizeof buf)
		max = sizeof buf;
	ssize_t n = read(sig_pipe[0], buf, max);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		sigs[i] = buf[i];
	return (size_t)n;
}

void nrc_signals_forget(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	if (sig_pipe[0] < 0)
		return;
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
}
