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

struct nr_helper {
	pid_t pid;
	int flags;
	int out_fd;  /* read end of the result pipe; -1 at EOF */
	int pid_fd;  /* readable once the child has ended; -1 once reaped */
	nr_buf out;
	int over, status;
	long long started_ms, killed_after_ms; /* -1: not killed by us */
	int killed_by; /* the signal nr_helper_kill() last sent, or 0 */
	char *failure;
};

static void child_main(nr_helper_fn fn, void *arg, int flags, int out)
{
	if (flags & NR_HELPER_OWN_GROUP)
		setpgid(0, 0);
	/* nrunner's handlers write to its self-pipe: the child gets the
	 * default handlers and no end of the pipe, so plugin code run here
	 * can neither report its signals as nrunner's nor write fake ones. */
	nr_signals_forget();
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

nr_helper *nr_helper_start(nr_helper_fn fn, void *arg, int flags, char *err,
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
	nr_helper *h = nr_xcalloc(1, sizeof *h);
	h->pid = pid;
	h->flags = flags;
	h->out_fd = p[0];
	/* A pidfd says when the child ends even if something it started
	 * still holds the pipe open. */
	h->pid_fd = pidfd_open(pid, 0);
	h->started_ms = nr_monotonic_ms();
	h->killed_after_ms = -1;
	return h;
}

int nr_helper_pollfds(const nr_helper *h, struct pollfd *fds)
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

static void read_out(nr_helper *h)
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
		nr_buf_append(&h->out, buf, (size_t)r);
		nr_buf_append(&h->out, "", 1); /* kept NUL-terminated */
		h->out.len--;
	}
}

static int reap(nr_helper *h, int options)
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

int nr_helper_dispatch(nr_helper *h)
{
	if (h->over)
		return 1;
	read_out(h);
	/* Without a pidfd, the end of the pipe stands for the child's. */
	return reap(h, h->pid_fd >= 0 || h->out_fd >= 0 ? WNOHANG : 0);
}

int nr_helper_wait(nr_helper *h, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : nr_monotonic_ms() + timeout_ms;
	while (!nr_helper_dispatch(h)) {
		struct pollfd fds[2];
		int n = nr_helper_pollfds(h, fds);
		int t = -1;
		if (deadline >= 0) {
			long long left = deadline - nr_monotonic_ms();
			if (left <= 0) {
				nr_helper_kill(h, SIGKILL);
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

void nr_helper_kill(nr_helper *h, int sig)
{
	if (h->over)
		return;
	h->killed_by = sig;
	h->killed_after_ms = nr_monotonic_ms() - h->started_ms;
	kill((h->flags & NR_HELPER_OWN_GROUP) ? -h->pid : h->pid, sig);
}

pid_t nr_helper_pid(const nr_helper *h) { return h->pid; }
int nr_helper_status(const nr_helper *h) { return h->status; }

const char *nr_helper_output(const nr_helper *h, size_t *len)
{
	if (len)
		*len = h->out.len;
	return h->out.len ? h->out.data : "";
}

const char *nr_helper_failure(nr_helper *h)
{
	if (!h->over)
		return "is still running";
	free(h->failure);
	h->failure = NULL;
	if (h->killed_by && WIFSIGNALED(h->status) &&
	    WTERMSIG(h->status) == h->killed_by)
		h->failure = nr_xasprintf("was stopped by nrunner after %lld.%01lld s",
					  h->killed_after_ms / 1000,
					  h->killed_after_ms % 1000 / 100);
	else if (WIFSIGNALED(h->status))
		h->failure = nr_xasprintf("crashed with %s",
					  nr_signal_name(WTERMSIG(h->status)));
	else if (WIFEXITED(h->status) && WEXITSTATUS(h->status) != 0)
		h->failure = nr_xasprintf("exited with status %d",
					  WEXITSTATUS(h->status));
	return h->failure;
}

void nr_helper_free(nr_helper *h)
{
	if (!h)
		return;
	if (!h->over) {
		nr_helper_kill(h, SIGKILL);
		reap(h, 0);
	}
	nr_buf_free(&h->out);
	free(h->failure);
	free(h);
}
