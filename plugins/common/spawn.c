#include "config.h"

#include "spawn.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* environ with KEY=VALUE entries replaced or added. */
static char **build_env(const nr_host *h, nr_task *t, char ***owned,
			size_t *nowned)
{
	const nr_value *kw = h->kwargs(t);
	size_t nkw = h->size(kw), nenv = 0;
	while (environ[nenv])
		nenv++;
	char **env = calloc(nenv + nkw + 2, sizeof *env);
	*owned = calloc(nkw + 2, sizeof **owned);
	if (!env || !*owned) {
		free(env);
		return NULL;
	}
	size_t n = 0;
	for (size_t i = 0; i < nenv; i++)
		env[n++] = environ[i];
	for (size_t i = 0; i <= nkw; i++) {
		const char *key;
		char *val = NULL;
		if (i < nkw) {
			key = h->key_at(kw, i);
			const nr_value *v = h->item(kw, i);
			val = h->string(v) ? strdup(h->string(v)) : h->to_json(v);
		} else {
			key = "NRUNNER_TEST_OUTPUTDIR";
			if (!h->output_dir(t))
				continue;
			val = strdup(h->output_dir(t));
		}
		char *entry = NULL;
		if (!key || !val || asprintf(&entry, "%s=%s", key, val) < 0)
			entry = NULL;
		free(val);
		if (!entry)
			continue;
		(*owned)[(*nowned)++] = entry;
		size_t klen = strlen(key);
		size_t j = 0;
		while (j < n && !(strncmp(env[j], key, klen) == 0 && env[j][klen] == '='))
			j++;
		env[j] = entry;
		if (j == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

void nr_spawn_runnable(const nr_host *h, nr_task *t, nr_spawn_result *res)
{
	memset(res, 0, sizeof *res);
	const char *uri = h->uri(t);
	if (!uri || !*uri) {
		res->error = EINVAL;
		return;
	}
	const nr_value *args = h->args(t);
	size_t nargs = h->size(args);
	char **argv = calloc(nargs + 2, sizeof *argv);
	char **owned = NULL;
	size_t nowned = 0;
	char **env = argv ? build_env(h, t, &owned, &nowned) : NULL;
	if (!env) {
		free(argv);
		free(owned);
		res->error = ENOMEM;
		return;
	}
	argv[0] = (char *)uri;
	for (size_t i = 0; i < nargs; i++) {
		const char *a = h->string(h->item(args, i));
		argv[i + 1] = (char *)(a ? a : "");
	}
	pid_t pid;
	/* posix_spawn reports a failed exec (ENOENT, EACCES) as its return
	 * value, so "cannot be started" is told apart from "exited 127". */
	int e = strchr(uri, '/') ? posix_spawn(&pid, uri, NULL, NULL, argv, env)
				  : posix_spawnp(&pid, uri, NULL, NULL, argv, env);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(env);
	free(argv);
	if (e) {
		res->error = e;
		return;
	}
	res->started = 1;
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
	if (WIFEXITED(status)) {
		res->exited = 1;
		res->code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signaled = 1;
		res->sig = WTERMSIG(status);
	}
}

int nr_spawn_finish_unstarted(const nr_host *h, nr_task *t,
			      const nr_spawn_result *res, int *rc)
{
	if (res->started)
		return 0;
	if (!h->uri(t)) {
		*rc = h->finish(t, NR_RESULT_ERROR,
				"no program to run: give its path with -u PATH, "
				"or \"uri\" in the recipe");
		return 1;
	}
	char why[PATH_MAX + 256];
	snprintf(why, sizeof why, "cannot run '%s': %s", h->uri(t),
		 strerror(res->error));
	*rc = h->finish(t, NR_RESULT_ERROR, why);
	return 1;
}

void nr_spawn_msg_status(const nr_host *h, nr_msg *m, const nr_spawn_result *res)
{
	if (res->exited)
		h->msg_int(m, "returncode", res->code);
	if (res->signaled) {
		h->msg_int(m, "returncode", -res->sig);
		h->msg_string(m, "signal", nr_spawn_signame(res->sig));
	}
}

const char *nr_spawn_signame(int sig)
{
	static char buf[32];
	const char *a = sigabbrev_np(sig);
	snprintf(buf, sizeof buf, "SIG%s", a ? a : "?");
	return buf;
}
