#include "config.h"

#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define CLEAR_ENV_KEY "runner.exectest.clear_env"

typedef struct env_list {
	char **env;    /* NULL-terminated */
	size_t n, cap;
	char **owned;  /* the entries made here */
	size_t nowned;
} env_list;

static int env_grow(env_list *e)
{
	if (e->n + 2 <= e->cap)
		return 0;
	size_t cap = e->cap ? e->cap * 2 : 64;
	char **env = realloc(e->env, cap * sizeof *env);
	char **owned = realloc(e->owned, cap * sizeof *owned);
	if (env)
		e->env = env;
	if (owned)
		e->owned = owned;
	if (!env || !owned)
		return -1;
	e->cap = cap;
	return 0;
}

/* Sets key=val (val is taken), replacing an entry of the same key. */
static int env_set(env_list *e, const char *key, char *val)
{
	char *entry = NULL;
	if (!key || !val || env_grow(e) < 0 ||
	    asprintf(&entry, "%s=%s", key, val) < 0)
		entry = NULL;
	free(val);
	if (!entry)
		return -1;
	e->owned[e->nowned++] = entry;
	size_t klen = strlen(key), j = 0;
	while (j < e->n && !(strncmp(e->env[j], key, klen) == 0 && e->env[j][klen] == '='))
		j++;
	e->env[j] = entry;
	if (j == e->n)
		e->env[++e->n] = NULL;
	return 0;
}

static char *value_text(const nr_host *h, const nr_value *v)
{
	return h->string(v) ? strdup(h->string(v)) : h->to_json(v);
}

/* Avocado's variant kwarg: {"variant": [[PATH, [[PATH, KEY, VALUE],
 * ...]], ...]}; each parameter becomes KEY=VALUE. */
static void env_variant(const nr_host *h, env_list *e, const nr_value *variant)
{
	const nr_value *tree = h->get(variant, "variant");
	for (size_t i = 0; i < h->size(tree); i++) {
		const nr_value *params = h->item(h->item(tree, i), 1);
		for (size_t k = 0; k < h->size(params); k++) {
			const nr_value *p = h->item(params, k);
			if (h->size(p) == 3 && h->string(h->item(p, 1)))
				env_set(e, h->string(h->item(p, 1)),
					value_text(h, h->item(p, 2)));
		}
	}
}

static int getenv_in(const env_list *e, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->env[i], key, klen) && e->env[i][klen] == '=')
			return 1;
	return 0;
}

/* The program's environment: nrunner's (unless config
 * runner.exectest.clear_env is "system" or "all", as in Avocado), the
 * kwargs, the variant's parameters and the test's directories. */
static int build_env(const nr_host *h, nr_task *t, env_list *e)
{
	const nr_value *ce = h->get(h->config(t), CLEAR_ENV_KEY);
	const char *clear = h->string(ce);
	if (clear && strcmp(clear, "system") && strcmp(clear, "all"))
		return -1;
	if (env_grow(e) < 0)
		return -1;
	e->env[0] = NULL;
	for (size_t i = 0; !clear && environ[i]; i++) {
		if (env_grow(e) < 0)
			return -1;
		e->env[e->n++] = environ[i];
		e->env[e->n] = NULL;
	}
	const nr_value *kw = h->kwargs(t);
	for (size_t i = 0; i < h->size(kw); i++) {
		const char *key = h->key_at(kw, i);
		/* Avocado's kwargs are not environment variables: the
		 * task's directory, its tags, its variant (whose parameters
		 * are), and what the job resolves before the task. */
		if (key && !nrp_avocado_kwarg(key))
			env_set(e, key, value_text(h, h->item(kw, i)));
	}
	const char *dir = h->output_dir(t);
	if (!clear || strcmp(clear, "all")) {
		const char *uri = h->uri(t);
		char abs[PATH_MAX];
		if (uri && strchr(uri, '/') && realpath(uri, abs))
			env_set(e, "AVOCADO_TEST_BASEDIR", strdup(dirname(abs)));
		if (dir) {
			env_set(e, "NRUNNER_TEST_OUTPUTDIR", strdup(dir));
			env_set(e, "AVOCADO_TEST_OUTPUTDIR", strdup(dir));
			env_set(e, "AVOCADO_TEST_LOGDIR", strdup(dir));
		}
	}
	env_variant(h, e, h->get(kw, "variant"));
	if (clear && e->n && !getenv_in(e, "PATH") && getenv("PATH"))
		env_set(e, "PATH", strdup(getenv("PATH")));
	return 0;
}

/* posix_spawn reports a failed exec (ENOENT, EACCES) as its return
 * value, so "cannot be started" is told apart from "exited 127".  Returns
 * 0 or an errno. */
static int spawn_argv(char *const argv[], char *const envp[], int stdout_fd,
		      int own_group, pid_t *pid)
{
	posix_spawn_file_actions_t fa, *fap = NULL;
	posix_spawnattr_t attr, *attrp = NULL;
	if (stdout_fd >= 0 && posix_spawn_file_actions_init(&fa) == 0) {
		fap = &fa;
		posix_spawn_file_actions_adddup2(fap, stdout_fd, STDOUT_FILENO);
	}
	if (own_group && posix_spawnattr_init(&attr) == 0) {
		attrp = &attr;
		posix_spawnattr_setflags(attrp, POSIX_SPAWN_SETPGROUP);
		posix_spawnattr_setpgroup(attrp, 0);
	}
	int e = strchr(argv[0], '/') ? posix_spawn(pid, argv[0], fap, attrp, argv, envp)
				     : posix_spawnp(pid, argv[0], fap, attrp, argv, envp);
	if (fap)
		posix_spawn_file_actions_destroy(fap);
	if (attrp)
		posix_spawnattr_destroy(attrp);
	return e;
}

void nrp_spawn_runnable(const nr_host *h, nr_task *t, nrp_spawn_result *res)
{
	pid_t pid;
	if (nrp_spawn_start(h, t, -1, &pid, res) == 0)
		nrp_spawn_wait(h, t, pid, res);
}

int nrp_spawn_start(const nr_host *h, nr_task *t, int stdout_fd, pid_t *pidp,
		   nrp_spawn_result *res)
{
	memset(res, 0, sizeof *res);
	const char *uri = h->uri(t);
	if (!uri || !*uri) {
		res->error = EINVAL;
		return -1;
	}
	const nr_value *args = h->args(t);
	size_t nargs = h->size(args);
	char **argv = calloc(nargs + 2, sizeof *argv);
	env_list env = {0};
	int ok = argv && build_env(h, t, &env) == 0;
	if (!ok) {
		free(argv);
		for (size_t i = 0; i < env.nowned; i++)
			free(env.owned[i]);
		free(env.owned);
		free(env.env);
		res->error = EINVAL;
		res->why = "config \"" CLEAR_ENV_KEY "\": must be null, "
			   "\"system\" or \"all\"";
		return -1;
	}
	argv[0] = (char *)uri;
	for (size_t i = 0; i < nargs; i++) {
		const char *a = h->string(h->item(args, i));
		argv[i + 1] = (char *)(a ? a : "");
	}
	pid_t pid;
	int e = spawn_argv(argv, env.env, stdout_fd, 0, &pid);
	for (size_t i = 0; i < env.nowned; i++)
		free(env.owned[i]);
	free(env.owned);
	free(env.env);
	free(argv);
	if (e) {
		res->error = e;
		return -1;
	}
	res->started = 1;
	*pidp = pid;
	return 0;
}

static void status_into(int status, nrp_spawn_result *res)
{
	if (WIFEXITED(status)) {
		res->exited = 1;
		res->code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signaled = 1;
		res->sig = WTERMSIG(status);
	}
}

void nrp_spawn_wait(const nr_host *h, nr_task *t, pid_t pid, nrp_spawn_result *res)
{
	int status;
	for (;;) {
		pid_t w = waitpid(pid, &status, 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			res->error = errno;
			return;
		}
		/* EINTR: SIGTERM reached the task's whole group, the program
		 * included; wait for it to end (the core kills the group
		 * after its grace period). */
		if (h->interrupted(t))
			res->interrupted = 1;
	}
	if (h->interrupted(t))
		res->interrupted = 1;
	status_into(status, res);
}

/* Waits up to ms (< 0: no limit) for pid to end, without reaping it.
 * Returns 1 when it ended, 0 at the time limit, -1 when interrupted (a
 * signal to the task).  A pidfd says when it ends; without one (Linux <
 * 5.3, valgrind), it is asked every 10 ms. */
static int wait_ended(pid_t pid, int pfd, long ms)
{
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int r = poll(&p, 1, ms < 0 ? -1 : (int)ms);
		return r > 0 ? 1 : r == 0 ? 0 : -1;
	}
	siginfo_t si = {0};
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == pid)
		return 1;
	if (ms == 0)
		return 0;
	struct timespec ts = {0, 10 * 1000000L};
	return nanosleep(&ts, NULL) < 0 ? -1 : 0;
}

void nrp_spawn_command(const nr_host *h, nr_task *t, char *const argv[],
		      int stdout_fd, long timeout_ms, nrp_spawn_result *res)
{
	memset(res, 0, sizeof *res);
	pid_t pid;
	int e = spawn_argv(argv, environ, stdout_fd, 1, &pid);
	if (e) {
		res->error = e;
		return;
	}
	res->started = 1;
	/* The group is the command's own (a timeout must end what it
	 * started, not the task), so the core is told of it. */
	h->process_group(t, (long)pid, 1);
	int pfd = pidfd_open(pid, 0);
	double deadline = timeout_ms > 0 ? nrp_now_ms() + (double)timeout_ms : -1;
	for (;;) {
		long left = -1;
		if (deadline >= 0) {
			double d = deadline - nrp_now_ms();
			left = d > 0 ? (long)d + 1 : 0;
		}
		int r = wait_ended(pid, pfd, left);
		if (r == 1)
			break;
		if (r == 0 && left == 0) {
			res->timed_out = 1;
			break;
		}
		if (h->interrupted(t)) {
			res->interrupted = 1;
			break;
		}
	}
	if (pfd >= 0)
		close(pfd);
	/* Until the leader is reaped it holds the group's id, so this kill
	 * cannot reach an unrelated group. */
	kill(-pid, SIGKILL);
	h->process_group(t, (long)pid, 0);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			res->error = errno;
			return;
		}
	if (!res->timed_out && !res->interrupted)
		status_into(status, res);
}

int nrp_spawn_finish_unstarted(const nr_host *h, nr_task *t,
			      const nrp_spawn_result *res, int *rc)
{
	if (res->started)
		return 0;
	if (!h->uri(t)) {
		*rc = h->finish(t, NR_RESULT_ERROR,
				"no program to run: give its path with -u PATH, "
				"or \"uri\" in the recipe");
		return 1;
	}
	if (res->why) {
		*rc = h->finish(t, NR_RESULT_ERROR, res->why);
		return 1;
	}
	char why[PATH_MAX + 256];
	snprintf(why, sizeof why, "cannot run '%s': %s", h->uri(t),
		 strerror(res->error));
	*rc = h->finish(t, NR_RESULT_ERROR, why);
	return 1;
}

void nrp_spawn_msg_status(const nr_host *h, nr_msg *m, const nrp_spawn_result *res)
{
	if (res->exited)
		h->msg_int(m, "returncode", res->code);
	if (res->signaled) {
		h->msg_int(m, "returncode", -res->sig);
		h->msg_string(m, "signal", nrp_spawn_signame(res->sig));
	}
}

const char *nrp_spawn_signame(int sig)
{
	static char buf[32];
	const char *a = sigabbrev_np(sig);
	snprintf(buf, sizeof buf, "SIG%s", a ? a : "?");
	return buf;
}

/* Keeps the last tail_len - 1 bytes seen in tail (NUL-terminated). */
static void tail_add(char *tail, size_t tail_len, size_t *n, const char *buf,
		     size_t len)
{
	size_t cap = tail_len - 1;
	if (len >= cap) {
		memcpy(tail, buf + len - cap, cap);
		*n = cap;
	} else {
		if (*n + len > cap) {
			size_t drop = *n + len - cap;
			memmove(tail, tail + drop, *n - drop);
			*n -= drop;
		}
		memcpy(tail + *n, buf, len);
		*n += len;
	}
	tail[*n] = '\0';
}

int nrp_spawn_capture(const nr_host *h, nr_task *t, char *const *argv,
		     char *tail, size_t tail_len, nrp_spawn_result *res)
{
	memset(res, 0, sizeof *res);
	tail[0] = '\0';
	int fd[2];
	if (pipe2(fd, O_CLOEXEC) < 0) {
		res->error = errno;
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fd[1], STDERR_FILENO);
	pid_t pid;
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	if (e) {
		close(fd[0]);
		res->error = e;
		return -1;
	}
	res->started = 1;
	size_t n = 0;
	char buf[8192];
	for (;;) {
		ssize_t r = read(fd[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue; /* SIGTERM reached the program too */
		if (r <= 0)
			break;
		/* Its output is the task's log; a full disk there must not
		 * stop the program, so a short write is let go. */
		ssize_t w = write(STDOUT_FILENO, buf, (size_t)r);
		(void)w;
		tail_add(tail, tail_len, &n, buf, (size_t)r);
	}
	close(fd[0]);
	/* From a line's start, unless one line fills it all. */
	char *nl = strchr(tail, '\n');
	if (n == tail_len - 1 && nl && nl[1])
		memmove(tail, nl + 1, strlen(nl + 1) + 1);
	nrp_spawn_wait(h, t, pid, res);
	return 0;
}
