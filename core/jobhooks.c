#include "config.h"

#include "jobhooks.h"
#include "helper.h"
#include "host.h"
#include "signals.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* How long job_end hooks may take before the helper is killed. */
#define END_TIMEOUT_MS (10 * 60 * 1000)

extern char **environ;

struct nrc_jobhooks {
	nrc_helper *h;
	int cmd_fd;   /* the core's end: a byte (or EOF) asks for the job's end */
	size_t used;  /* of the helper's output, the lines already read */
	char *stage;  /* "plugin X's job_begin": the hook running now */
};

/* --- the helper's side ----------------------------------------------- */

typedef struct begin_arg {
	const nrc_jobhook_plugin *plugins;
	size_t n;
	int cmd_fd;
	pid_t parent;
} begin_arg;

static void on_stop(int sig)
{
	(void)sig;
	nrc_task_interrupted = 1; /* host->interrupted() reads it */
}

static void say(int out, cJSON *line)
{
	char *s = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	size_t n = strlen(s);
	s[n] = '\n';
	(void)nrc_write_all(out, s, n + 1);
	free(s);
}

static void say_hook(int out, const char *hook, const char *plugin)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "hook", hook);
	cJSON_AddStringToObject(o, "plugin", plugin);
	say(out, o);
}

static void end_all(const begin_arg *a, size_t begun, int out)
{
	while (begun > 0) {
		const nrc_jobhook_plugin *p = &a->plugins[--begun];
		if (!p->desc->job_end)
			continue;
		say_hook(out, "job_end", p->name);
		p->desc->job_end(&nrc_host_table);
	}
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		abort();
	return d;
}

/* What the job_begin of plugins of minor < 4 did to the environment:
 * {"NAME": "value"} for a variable set, {"NAME": null} for one removed. */
static cJSON *env_changes(char **before)
{
	cJSON *d = cJSON_CreateObject();
	for (char **e = environ; *e; e++) {
		int same = 0;
		for (char **b = before; *b && !same; b++)
			same = !strcmp(*b, *e);
		size_t k = strcspn(*e, "=");
		if (!same && (*e)[k] == '=') {
			char *name = xstrndup(*e, k);
			cJSON_AddStringToObject(d, name, *e + k + 1);
			free(name);
		}
	}
	for (char **b = before; *b; b++) {
		size_t k = strcspn(*b, "=");
		char *name = xstrndup(*b, k);
		if (!getenv(name))
			cJSON_AddNullToObject(d, name);
		free(name);
	}
	return d;
}

static int begin_child(void *arg, int out)
{
	begin_arg *a = arg;
	/* SIGTERM (from the core) and a Ctrl-C at the terminal (the helper
	 * is in nrunner's process group) interrupt the set-up: the hooks
	 * see host->interrupted(NULL) and stop.  No SA_RESTART, so that a
	 * hook blocked in poll() or waitpid() wakes up. */
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* If nrunner dies, the job still ends through job_end. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != a->parent)
		nrc_task_interrupted = 1;
	int old = 0;
	for (size_t i = 0; i < a->n; i++)
		old |= a->plugins[i].abi_minor < 4;
	size_t ne = 0;
	while (old && environ[ne])
		ne++;
	char **before = nrc_xcalloc(ne + 1, sizeof *before);
	for (size_t i = 0; i < ne; i++)
		before[i] = nrc_xstrdup(environ[i]);
	size_t begun = 0;
	char e[2048] = "";
	int failed = 0;
	for (size_t i = 0; i < a->n && !failed; i++) {
		const nrc_jobhook_plugin *p = &a->plugins[i];
		if (nrc_task_interrupted) {
			failed = 1;
			break;
		}
		say_hook(out, "job_begin", p->name);
		cJSON *runs = cJSON_Parse(p->runnables);
		nrc_job_data_writable(1);
		int rc = p->desc->job_begin(&nrc_host_table, (const nr_value *)runs, e, sizeof e);
		nrc_job_data_writable(0);
		cJSON_Delete(runs);
		if (rc != 0) {
			failed = 1;
			if (!e[0])
				snprintf(e, sizeof e, "plugin %s could not set up the job", p->name);
		} else {
			begun++;
		}
	}
	failed |= nrc_task_interrupted;
	cJSON *o = cJSON_CreateObject();
	if (failed) {
		cJSON_AddStringToObject(o, "error", e[0] ? e : "interrupted");
		say(out, o);
		end_all(a, begun, out);
		return 1;
	}
	cJSON_AddTrueToObject(o, "ready");
	const cJSON *data = nrc_job_data();
	cJSON_AddItemToObject(o, "data", data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
	if (old)
		cJSON_AddItemToObject(o, "env", env_changes(before));
	for (size_t i = 0; i < ne; i++)
		free(before[i]);
	free(before);
	say(out, o);
	/* Keep what job_begin started until the core asks for the end, or
	 * goes away. */
	char c;
	while (read(a->cmd_fd, &c, 1) < 0 && errno == EINTR && getppid() == a->parent)
		;
	end_all(a, begun, out);
	return 0;
}

/* --- the core's side --------------------------------------------------- */

/* Reads the helper's new lines; returns the "ready" or "error" line if one
 * came (the caller deletes it). */
static cJSON *read_lines(nrc_jobhooks *j)
{
	size_t len;
	const char *o = nrc_helper_output(j->h, &len);
	cJSON *last = NULL;
	while (j->used < len) {
		const char *nl = memchr(o + j->used, '\n', len - j->used);
		if (!nl)
			break;
		cJSON *line = cJSON_ParseWithLength(o + j->used, (size_t)(nl - (o + j->used)));
		j->used = (size_t)(nl - o) + 1;
		const cJSON *hook = cJSON_GetObjectItemCaseSensitive(line, "hook");
		const cJSON *plugin = cJSON_GetObjectItemCaseSensitive(line, "plugin");
		if (cJSON_IsString(hook) && cJSON_IsString(plugin)) {
			free(j->stage);
			j->stage = nrc_xasprintf("plugin %s's %s", plugin->valuestring,
						hook->valuestring);
			cJSON_Delete(line);
		} else if (line && !last) {
			last = line;
		} else {
			cJSON_Delete(line);
		}
	}
	return last;
}

static void take_data(const cJSON *ready)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ready, "data");
	cJSON *mine = cJSON_CreateObject();
	const cJSON *it;
	cJSON_ArrayForEach(it, data)
	{
		if (cJSON_IsString(it) && nrc_job_data_key_ok(it->string))
			cJSON_AddStringToObject(mine, it->string, it->valuestring);
	}
	nrc_job_data_replace(mine);
	/* ABI 1.3 and older: what job_begin set in its environment, which the
	 * tasks inherit. */
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ready, "env"))
	{
		if (cJSON_IsString(it))
			setenv(it->string, it->valuestring, 1);
		else if (cJSON_IsNull(it))
			unsetenv(it->string);
	}
}

static void free_hooks(nrc_jobhooks *j)
{
	if (j->cmd_fd >= 0)
		close(j->cmd_fd);
	nrc_helper_free(j->h);
	free(j->stage);
	free(j);
}

int nrc_jobhooks_begin(const nrc_jobhook_plugin *plugins, size_t n,
		      const nrc_setup_limits *limits, nrc_jobhooks **out, char *err,
		      size_t errlen)
{
	*out = NULL;
	int cmd[2];
	if (pipe2(cmd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return NR_SETUP_FAILED;
	}
	begin_arg a = {.plugins = plugins, .n = n, .cmd_fd = cmd[0], .parent = getpid()};
	nrc_helper *h = nrc_helper_start(begin_child, &a, 0, err, errlen);
	close(cmd[0]);
	if (!h) {
		close(cmd[1]);
		return NR_SETUP_FAILED;
	}
	nrc_jobhooks *j = nrc_xcalloc(1, sizeof *j);
	j->h = h;
	j->cmd_fd = cmd[1];
	int sigfd = nrc_signals_fd();
	long long now = nrc_monotonic_ms();
	long long deadline = limits && limits->timeout > 0
				     ? now + (long long)(limits->timeout * 1000) : -1;
	long long grace = (long long)((limits ? limits->grace : 5) * 1000);
	long long kill_at = -1;
	int nsig = 0;
	char *why = NULL;
	cJSON *answer = NULL;
	for (;;) {
		int over = nrc_helper_dispatch(h);
		if ((answer = read_lines(j)) || over)
			break;
		struct pollfd fds[3] = {{.fd = sigfd, .events = POLLIN}};
		int nf = 1 + nrc_helper_pollfds(h, fds + 1);
		now = nrc_monotonic_ms();
		long long next = deadline >= 0 && !why ? deadline : -1;
		if (kill_at >= 0 && (next < 0 || kill_at < next))
			next = kill_at;
		int r = poll(fds, (nfds_t)nf, next < 0 ? -1 : next > now ? (int)(next - now) : 0);
		if (r < 0 && errno != EINTR)
			break;
		if (fds[0].revents) {
			int sigs[64];
			size_t k = nrc_signals_read(sigs, 64);
			for (size_t i = 0; i < k; i++) {
				if (sigs[i] == SIGCHLD)
					continue;
				if (++nsig == 1) {
					free(why);
					why = nrc_xasprintf("interrupted by %s",
							   nrc_signal_name(sigs[i]));
					nrc_helper_kill(h, SIGTERM);
					kill_at = nrc_monotonic_ms() + grace;
				} else {
					nrc_helper_kill(h, SIGKILL); /* the second Ctrl-C */
				}
			}
		}
		now = nrc_monotonic_ms();
		if (deadline >= 0 && now >= deadline && !why) {
			why = nrc_xasprintf("job timeout after %g s", limits->timeout);
			nrc_helper_kill(h, SIGTERM);
			kill_at = now + grace;
		}
		if (kill_at >= 0 && now >= kill_at) {
			nrc_helper_kill(h, SIGKILL);
			kill_at = -1;
		}
	}
	int ready = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "ready"));
	if (ready && !why) {
		take_data(answer);
		cJSON_Delete(answer);
		*out = j;
		return NR_SETUP_OK;
	}
	int rc = NR_SETUP_FAILED;
	if (why) {
		/* The hooks stopped (or finished): let the helper end the job. */
		rc = NR_SETUP_INTERRUPTED;
		snprintf(err, errlen, "%s during the job's set-up; nothing was run", why);
		char e2[512];
		if (ready)
			nrc_jobhooks_end(j, e2, sizeof e2);
		else
			free_hooks(j);
	} else {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(answer, "error");
		nrc_helper_wait(h, END_TIMEOUT_MS);
		const char *how = nrc_helper_failure(h);
		if (cJSON_IsString(e))
			snprintf(err, errlen, "%s", e->valuestring);
		else
			snprintf(err, errlen, "%s %s; the job was not started",
				 j->stage ? j->stage : "the job's set-up",
				 how ? how : "ended without a word");
		free_hooks(j);
	}
	cJSON_Delete(answer);
	free(why);
	return rc;
}

int nrc_jobhooks_end(nrc_jobhooks *j, char *err, size_t errlen)
{
	if (!j)
		return 0;
	(void)!write(j->cmd_fd, "e", 1);
	close(j->cmd_fd);
	j->cmd_fd = -1;
	nrc_helper_wait(j->h, END_TIMEOUT_MS);
	cJSON_Delete(read_lines(j));
	const char *how = nrc_helper_failure(j->h);
	int rc = 0;
	if (how) {
		snprintf(err, errlen, "%s %s", j->stage ? j->stage : "the job's end", how);
		rc = -1;
	}
	free_hooks(j);
	return rc;
}

/* --- clean ----------------------------------------------------------- */

typedef struct clean_arg {
	const nr_plugin *desc;
	const void *kwargs;
	int dry_run;
} clean_arg;

static int clean_child(void *arg, int out)
{
	clean_arg *a = arg;
	char e[2048] = "";
	int n = a->desc->clean(&nrc_host_table, (const nr_value *)a->kwargs, a->dry_run, e,
			       sizeof e);
	fflush(stdout);
	char line[2100];
	int len = snprintf(line, sizeof line, "%d %s", n, e);
	(void)nrc_write_all(out, line, (size_t)len);
	return 0;
}

int nrc_jobhooks_clean(const nr_plugin *desc, const void *kwargs, int dry_run, char *err,
		      size_t errlen)
{
	clean_arg a = {desc, kwargs, dry_run};
	nrc_helper *h = nrc_helper_start(clean_child, &a, NR_HELPER_KEEP_STDOUT, err, errlen);
	if (!h)
		return -1;
	nrc_helper_wait(h, -1);
	const char *how = nrc_helper_failure(h);
	const char *o = nrc_helper_output(h, NULL);
	char *end = NULL;
	long n = strtol(o, &end, 10);
	int rc;
	if (how || end == o) {
		snprintf(err, errlen, "its clean %s", how ? how : "said nothing");
		rc = -1;
	} else if (n < 0) {
		snprintf(err, errlen, "%s", *end == ' ' && end[1] ? end + 1 : "failed without a reason");
		rc = -1;
	} else {
		rc = (int)n;
	}
	nrc_helper_free(h);
	return rc;
}
