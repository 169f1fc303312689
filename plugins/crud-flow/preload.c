#include "config.h"

#include "app.h"
#include "common/util.h"
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS 2000

typedef struct preloader {
	long pid;
	char var[64];
	char name[96];
	char *source;  /* the environment file, for messages */
	int log;       /* until it listens; then -1 */
	double timeout_ms;
	struct preloader *next;
} preloader;

static preloader *started;

/* The key of the job's data naming e's preloader's socket: a hash of what
 * makes it one (the environment file's directory, the app's directory and
 * both commands). */
static void var_name(const env_spec *e, char *out, size_t len)
{
	const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(e->app, "cwd");
	char *app = cJSON_PrintUnformatted(e->app);
	unsigned long long h = nr_fnv1a(NR_FNV1A_INIT, e->dir);
	h = nr_fnv1a(h, cJSON_IsString(cwd) ? cwd->valuestring : ".");
	h = nr_fnv1a(h, app);
	free(app);
	snprintf(out, len, "crud-flow.preload.%016llx", h);
}

const char *preload_socket(const env_spec *e)
{
	if (!cJSON_GetObjectItemCaseSensitive(e->app, "preload"))
		return NULL;
	char var[64];
	var_name(e, var, sizeof var);
	const char *v = nr_jd_get(var);
	return v && *v ? v : NULL;
}

/* Whether a process of this user listens on the abstract socket. */
static int listening(const char *name)
{
	int s = nr_abstract_connect(name);
	if (s >= 0)
		close(s);
	return s >= 0;
}

/* The last lines of the log behind fd. */
static void log_tail(int fd, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	nr_log_tail(path, out, len);
}

int preload_begin(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(e->app, "preload");
	if (!pre || preload_socket(e))
		return 0;
	preloader *p = calloc(1, sizeof *p);
	var_name(e, p->var, sizeof p->var);
	unsigned char rnd[8] = {0};
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		free(p);
		return nr_fail(err, errlen, "cannot name the app's preloader socket: "
			       "getrandom: %s", strerror(errno));
	}
	snprintf(p->name, sizeof p->name,
		 "nrunner-preload-%ld-%02x%02x%02x%02x%02x%02x%02x%02x", (long)getpid(), rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	char extra[160];
	snprintf(extra, sizeof extra, "NRUNNER_PRELOAD_SOCKET=%s", p->name);
	const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(e->app, "cwd");
	const char *d = cJSON_IsString(cwd) ? cwd->valuestring : ".";
	char *dir = NULL;
	if (d[0] == '/' ? !(dir = strdup(d)) : asprintf(&dir, "%s/%s", e->dir, d) < 0) {
		free(p);
		return nr_fail(err, errlen, "out of memory");
	}
	app_cmd c;
	cJSON *vars = cJSON_CreateObject();
	int rc = app_cmd_build(cJSON_GetObjectItemCaseSensitive(pre, "command"),
			       cJSON_GetObjectItemCaseSensitive(pre, "env"), vars, dir, extra, &c,
			       err, errlen);
	cJSON_Delete(vars);
	free(dir);
	if (rc < 0) {
		char tmp[1024];
		snprintf(tmp, sizeof tmp, "%s: environment.app.preload: %s", e->source, err);
		snprintf(err, errlen, "%s", tmp);
		free(p);
		return -1;
	}
	/* Its log: a file with no name, gone with the last descriptor. */
	p->log = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (p->log < 0) {
		char tmpl[] = "/tmp/nrunner-preload.XXXXXX";
		if ((p->log = mkostemp(tmpl, O_CLOEXEC)) >= 0)
			unlink(tmpl);
	}
	int error = errno;
	p->pid = p->log < 0 ? -1 : app_start(&c, p->log, NULL, &error);
	if (p->pid < 0) {
		nr_fail(err, errlen, "cannot start the app's preloader '%s' "
			"(environment.app.preload.command[0] in %s) in %s: %s", c.argv[0],
			e->source, c.dir, strerror(error));
		app_cmd_free(&c);
		if (p->log >= 0)
			close(p->log);
		free(p);
		return -1;
	}
	app_cmd_free(&c);
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(e->ready, "timeout_s");
	p->timeout_ms = nr_now_ms() + (cJSON_IsNumber(to) ? to->valuedouble : 30) * 1000;
	p->source = strdup(e->source);
	p->next = started;
	started = p;
	if (nr_jd_set(p->var, p->name) < 0)
		return nr_fail(err, errlen, "cannot give the app's preloader to the flows "
			       "(the job's data takes it only in job_begin)");
	return 0;
}

/* Waits until p listens.  On failure stops it (not reaped: preload_end). */
static int wait_listening(preloader *p, char *err, size_t errlen)
{
	long step_us = 2000;
	char tail[1600];
	for (;;) {
		if (listening(p->name))
			return 0;
		if (app_exited(p->pid)) {
			siginfo_t si = {0};
			waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT);
			log_tail(p->log, tail, sizeof tail);
			char how[64];
			if (si.si_code == CLD_EXITED)
				snprintf(how, sizeof how, "exited with status %d", si.si_status);
			else
				snprintf(how, sizeof how, "was killed by signal %d", si.si_status);
			return nr_fail(err, errlen, "the app's preloader (environment.app.preload "
				       "in %s) %s before it listened; its log ends: %s", p->source,
				       how, tail[0] ? tail : "(empty)");
		}
		if (nr_now_ms() > p->timeout_ms) {
			log_tail(p->log, tail, sizeof tail);
			app_stop(p->pid, STOP_GRACE_MS);
			return nr_fail(err, errlen, "the app's preloader (environment.app.preload "
				       "in %s) did not listen within environment.ready.timeout_s; "
				       "its log ends: %s", p->source, tail[0] ? tail : "(empty)");
		}
		struct timespec ts = {0, step_us * 1000L};
		nanosleep(&ts, NULL);
		if (step_us < 50000)
			step_us += step_us / 2;
	}
}

int preload_wait(char *err, size_t errlen)
{
	for (preloader *p = started; p; p = p->next) {
		if (p->log < 0)
			continue;
		int rc = wait_listening(p, err, errlen);
		close(p->log);
		p->log = -1;
		if (rc < 0)
			return -1;
	}
	return 0;
}

void preload_end(void)
{
	while (started) {
		preloader *p = started;
		started = p->next;
		app_stop(p->pid, STOP_GRACE_MS);
		while (waitpid((pid_t)p->pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (p->log >= 0)
			close(p->log);
		free(p->source);
		free(p);
	}
}
