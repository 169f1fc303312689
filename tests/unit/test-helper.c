/* core/helper.c: plugin code in a supervised child.  What the child
 * writes comes back, and however it ends (a return, a crash, an exit, a
 * hang, a grandchild that keeps the pipe open) the parent learns it and
 * goes on. */
#include "helper.h"
#include "tap.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int say_hello(void *arg, int out)
{
	(void)arg;
	return write(out, "hello", 5) == 5 ? 0 : 1;
}

static int write_then_crash(void *arg, int out)
{
	(void)arg;
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	(void)!write(out, "before", 6);
	signal(SIGSEGV, SIG_DFL); /* a real death, even under ASan */
	raise(SIGSEGV);
	return 0;
}

static int exit_3(void *arg, int out)
{
	(void)arg, (void)out;
	exit(3); /* as a plugin might: not _exit */
}

static int hang(void *arg, int out)
{
	(void)arg, (void)out;
	for (;;)
		pause();
	return 0;
}

/* A daemon it leaves behind holds the pipe's write end: the parent must
 * still learn that the child itself has ended. */
static int leave_grandchild(void *arg, int out)
{
	(void)arg;
	if (fork() == 0) {
		sleep(5);
		_exit(0);
	}
	(void)!write(out, "bye", 3);
	return 0;
}

static int big(void *arg, int out)
{
	size_t n = *(size_t *)arg;
	char *buf = malloc(n);
	memset(buf, 'x', n);
	ssize_t w = 0;
	for (size_t done = 0; done < n; done += (size_t)w)
		if ((w = write(out, buf + done, n - done)) <= 0)
			return 1;
	free(buf);
	return 0;
}

int main(void)
{
	char err[256];
	nrc_helper *h = nrc_helper_start(say_hello, NULL, 0, err, sizeof err);
	ok(h != NULL, "a helper starts");
	ok(nrc_helper_wait(h, 5000) == 1, "and ends by itself");
	is_str(nrc_helper_output(h, NULL), "hello", "what it wrote comes back");
	ok(nrc_helper_failure(h) == NULL, "returning 0 is no failure");
	nrc_helper_free(h);

	h = nrc_helper_start(write_then_crash, NULL, 0, err, sizeof err);
	nrc_helper_wait(h, 5000);
	is_str(nrc_helper_output(h, NULL), "before", "what a crashing child wrote first is kept");
	ok(strncmp(nrc_helper_failure(h), "crashed with SIGSEGV", 20) == 0,
	   "a crash is named with its signal: %s", nrc_helper_failure(h));
	nrc_helper_free(h);

	h = nrc_helper_start(exit_3, NULL, 0, err, sizeof err);
	nrc_helper_wait(h, 5000);
	is_str(nrc_helper_failure(h), "exited with status 3", "an exit is named with its status");
	ok(WIFEXITED(nrc_helper_status(h)) && WEXITSTATUS(nrc_helper_status(h)) == 3,
	   "and the raw status is there");
	nrc_helper_free(h);

	h = nrc_helper_start(hang, NULL, 0, err, sizeof err);
	ok(nrc_helper_wait(h, 200) == 0, "a hanging child is killed after the timeout");
	ok(strncmp(nrc_helper_failure(h), "was stopped by nrunner after 0.", 31) == 0,
	   "and that is what the failure says: %s", nrc_helper_failure(h));
	nrc_helper_free(h);

	h = nrc_helper_start(leave_grandchild, NULL, 0, err, sizeof err);
	ok(nrc_helper_wait(h, 3000) == 1,
	   "a child whose grandchild holds the pipe is still seen to end");
	is_str(nrc_helper_output(h, NULL), "bye", "with its output");
	nrc_helper_free(h);

	size_t n = 1 << 20;
	h = nrc_helper_start(big, &n, 0, err, sizeof err);
	nrc_helper_wait(h, 5000);
	size_t len = 0;
	nrc_helper_output(h, &len);
	ok(len == n && nrc_helper_failure(h) == NULL,
	   "output larger than a pipe's buffer is read while it is written");
	nrc_helper_free(h);

	h = nrc_helper_start(hang, NULL, NR_HELPER_OWN_GROUP, err, sizeof err);
	pid_t pid = nrc_helper_pid(h);
	usleep(50000);
	ok(getpgid(pid) == pid, "NR_HELPER_OWN_GROUP: it leads its own group");
	nrc_helper_free(h);
	ok(kill(pid, 0) < 0, "freeing a running helper kills and reaps it");
	return tap_done();
}
