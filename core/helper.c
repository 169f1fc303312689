#include "config.h"

#include "helper.h"
#include "signals.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct nrc_helper {
	pid_t pid;
	int flags;
	int out_fd;  /* read end of the result pipe; -1 at EOF */
	int pid_fd;  /* readable once the child has ended; -1 once reaped */
	nrc_buf out;
	int over, status;
	long long started_ms, killed_after_ms; /* -1: not killed by us */
	int killed_by; /* the signal nrc_helper_kill() last sent, or 0 */
	char *failure;
};

static void child_main(nrc_helper_fn fn, void *arg, int flags, int out)
{
	if (flags & NR_HELPER_OWN_GROUP)
		setpgid(0, 0);
	/* nrunner's handlers write to its self-pipe: the child gets the
	 * default handlers and no end of the pipe, so plugin code run here
	 * can neither report its signals as nrunner's nor write fake ones. */
	nrc_signals_forget();
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (!(flags & NR_HELPER_KEEP_STDOUT))
		dup2(STDERR_FILENO, STDOUT_FILENO);
	int rc = fn(arg, out);
	/* _exit: the parent's atexit handlers and stdio buffers are not the
	 * child's to run. */
	_exit(rc & 0xff);
}

nrc_helper *nrc_helper_start(nrc_helper_fn fn, void *arg, int flags, char *err,
			   size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return NULL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot fork a helper process: %s",
			 strerror(errno));
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(fn, arg, flags, p[1]);
	}
	close(p[1]);
	if (flags & NR_HELPER_OWN_GROUP)
		setpgid(pid, pid); /* whichever of the two runs first */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	nrc_helper *h = nrc_xcalloc(1, sizeof *h);
	h->pid = pid;
	h->flags = flags;
	h->out_fd = p[0];
	/* A pidfd says when the child ends even if something it started
	 * still holds the pipe open. */
	h->pid_fd = pidfd_open(pid, 0);
	h->started_ms = nrc_monotonic_ms();
	h->killed_after_ms = -1;
	return h;
}

int nrc_helper_pollfds(const nrc_helper *h, struct pollfd *fds)
{
	int n = 0;
	if (h->over)
		return 0;
	if (h->out_fd >= 0)
		fds[n++] = (struct pollfd){.fd = h->out_fd, .events = POLLIN};
	if (h->pid_fd >= 0)
		fds[n++] = (struct pollfd){.fd = h->pid_fd, .events = POLLIN};
	return n;
}

static void read_out(nrc_helper *h)
{
	char buf[8192];
	while (h->out_fd >= 0) {
		ssize_t r = read(h->out_fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			close(h->out_fd);
			h->out_fd = -1;
			return;
		}
		nrc_buf_append(&h->out, buf, (size_t)r);
		nrc_buf_append(&h->out, "", 1); /* kept NUL-terminated */
		h->out.len--;
	}
}

static int reap(nrc_helper *h, int options)
{
	pid_t r;
	while ((r = waitpid(h->pid, &h->status, options)) < 0 && errno == EINTR)
		;
	if (r != h->pid)
		return 0;
	read_out(h); /* what it wrote before it ended */
	if (h->out_fd >= 0) {
		/* Something it started holds the pipe: stop listening. */
		close(h->out_fd);
		h->out_fd = -1;
	}
	if (h->pid_fd >= 0) {
		close(h->pid_fd);
		h->pid_fd = -1;
	}
	h->over = 1;
	return 1;
}

int nrc_helper_dispatch(nrc_helper *h)
{
	if (h->over)
		return 1;
	read_out(h);
	/* Without a pidfd, the end of the pipe stands for the child's. */
	return reap(h, h->pid_fd >= 0 || h->out_fd >= 0 ? WNOHANG : 0);
}

int nrc_helper_wait(nrc_helper *h, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : nrc_monotonic_ms() + timeout_ms;
	while (!nrc_helper_dispatch(h)) {
		struct pollfd fds[2];
		int n = nrc_helper_pollfds(h, fds);
		int t = -1;
		if (deadline >= 0) {
			long long left = deadline - nrc_monotonic_ms();
			if (left <= 0) {
				nrc_helper_kill(h, SIGKILL);
				reap(h, 0);
				return 0;
			}
			t = (int)left;
		}
		if (poll(fds, (nfds_t)n, t) < 0 && errno != EINTR)
			reap(h, 0); /* cannot wait on events: block instead */
	}
	return 1;
}

void nrc_helper_kill(nrc_helper *h, int sig)
{
	if (h->over)
		return;
	h->killed_by = sig;
	h->killed_after_ms = nrc_monotonic_ms() - h->started_ms;
	kill((h->flags & NR_HELPER_OWN_GROUP) ? -h->pid : h->pid, sig);
}

pid_t nrc_helper_pid(const nrc_helper *h) { return h->pid; }
int nrc_helper_status(const nrc_helper *h) { return h->status; }

const char *nrc_helper_output(const nrc_helper *h, size_t *len)
{
	if (len)
		*len = h->out.len;
	return h->out.len ? h->out.data : "";
}

const char *nrc_helper_failure(nrc_helper *h)
{
	if (!h->over)
		return "is still running";
	free(h->failure);
	h->failure = NULL;
	if (h->killed_by && WIFSIGNALED(h->status) &&
	    WTERMSIG(h->status) == h->killed_by)
		h->failure = nrc_xasprintf("was stopped by nrunner after %lld.%01lld s",
					  h->killed_after_ms / 1000,
					  h->killed_after_ms % 1000 / 100);
	else if (WIFSIGNALED(h->status))
		h->failure = nrc_xasprintf("crashed with %s",
					  nrc_signal_name(WTERMSIG(h->status)));
	else if (WIFEXITED(h->status) && WEXITSTATUS(h->status) != 0)
		h->failure = nrc_xasprintf("exited with status %d",
					  WEXITSTATUS(h->status));
	return h->failure;
}

void nrc_helper_free(nrc_helper *h)
{
	if (!h)
		return;
	if (!h->over) {
		nrc_helper_kill(h, SIGKILL);
		reap(h, 0);
	}
	nrc_buf_free(&h->out);
	free(h->failure);
	free(h);
}
