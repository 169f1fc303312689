#include "config.h"

#include "app.h"
#include "common/util.h"
#include "preload.h"
#include "template.h"
#include "crud-flow/warm-py.h"

#include <ctype.h>
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
	int warm;      /* the generic warm start: its failure is a notice */
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
	unsigned long long h = nrp_fnv1a(NRP_FNV1A_INIT, e->dir);
	h = nrp_fnv1a(h, cJSON_IsString(cwd) ? cwd->valuestring : ".");
	h = nrp_fnv1a(h, app);
	free(app);
	snprintf(out, len, "crud-flow.preload.%016llx", h);
}

/* Whether `name` (a file name) is a Python interpreter's: python,
 * python3, python3.11... */
static int python_name(const char *name)
{
	const char *b = strrchr(name, '/');
	b = b ? b + 1 : name;
	if (strncmp(b, "python", 6))
		return 0;
	for (b += 6; *b; b++)
		if (!isdigit((unsigned char)*b) && *b != '.')
			return 0;
	return 1;
}

/* The interpreter of a script's #! line when it is Python's (directly or
 * through env), in out. */
static int python_shebang(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ok = f && fgets(line, sizeof line, f) && !strncmp(line, "#!", 2);
	if (f)
		fclose(f);
	if (!ok)
		return 0;
	char *save = NULL, *interp = strtok_r(line + 2, " \t\r\n", &save);
	char *arg = strtok_r(NULL, " \t\r\n", &save);
	if (interp && python_name(interp) && !arg) {
		snprintf(out, len, "%s", interp);
		return 1;
	}
	const char *b = interp ? strrchr(interp, '/') : NULL;
	if (b && !strcmp(b, "/env") && arg && python_name(arg) && !strchr(arg, '/') &&
	    !strtok_r(NULL, " \t\r\n", &save)) {
		snprintf(out, len, "%s", arg);
		return 1;
	}
	return 0;
}

/* The Python interpreter e's app runs, or 0: its command's first word is
 * one, or a script whose #! line names one (looked up as exec would: in
 * the app's directory when it has a slash, else on PATH). */
static int app_python(const env_spec *e, const char *dir, char *out, size_t len)
{
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(e->app, "command");
	const cJSON *a0 = cJSON_GetArrayItem(cmd, 0);
	if (!cJSON_IsString(a0) || strstr(a0->valuestring, "{{"))
		return 0;
	const char *arg0 = a0->valuestring;
	if (python_name(arg0)) {
		snprintf(out, len, "%s", arg0);
		return 1;
	}
	char path[PATH_MAX];
	if (strchr(arg0, '/')) {
		snprintf(path, sizeof path, "%s%s%s", arg0[0] == '/' ? "" : dir,
			 arg0[0] == '/' ? "" : "/", arg0);
		return python_shebang(path, out, len);
	}
	const char *p = getenv("PATH");
	for (p = p ? p : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(path, sizeof path, "%.*s/%s", (int)n, p, arg0);
		if (n && access(path, X_OK) == 0)
			return python_shebang(path, out, len);
		p += n + (p[n] == ':');
	}
	return 0;
}

/* Whether e's app has the generic warm start (nrunner-flow(5), "Warm
 * start"): no preloader of its own, a Python app, and not turned off. */
static int warm_wanted(const env_spec *e, const char *dir, char *interp, size_t len)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(e->app, "warm");
	const char *off = getenv("NRUNNER_WARM");
	if (cJSON_GetObjectItemCaseSensitive(e->app, "preload") || cJSON_IsFalse(w) ||
	    (off && !strcmp(off, "off")))
		return 0;
	return app_python(e, dir, interp, len);
}

/* The app's directory: environment.app.cwd, from the environment file's. */
static char *app_dir(const env_spec *e)
{
	const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(e->app, "cwd");
	const char *d = cJSON_IsString(cwd) ? cwd->valuestring : ".";
	char *dir = NULL;
	if (d[0] == '/' ? !(dir = nrp_xstrdup(d)) : asprintf(&dir, "%s/%s", e->dir, d) < 0)
		return NULL;
	return dir;
}

const char *preload_socket(const env_spec *e)
{
	char var[64];
	var_name(e, var, sizeof var);
	const char *v = nrp_jd_get(var);
	return v && *v ? v : NULL;
}

/* The generic warm start's command and environment: the app's
 * interpreter runs warm.py (in the environment: a short command line),
 * with the app's environment entries that need no flow. */
static int warm_command(const env_spec *e, const char *interp, const char *dir,
			const char *socket, cJSON **cmd, cJSON **env, char **extra)
{
	*cmd = cJSON_CreateArray();
	cJSON_AddItemToArray(*cmd, cJSON_CreateString(interp));
	cJSON_AddItemToArray(*cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(*cmd, cJSON_CreateString(
		"import os; exec(os.environ['NRUNNER_WARM_SCRIPT'])"));
	*env = cJSON_CreateObject();
	cJSON *none = cJSON_CreateObject();
	const cJSON *it;
	char what[256];
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(e->app, "env"))
		if (cJSON_IsString(it) && !template_check(it->valuestring, none, what, sizeof what))
			cJSON_AddItemToObject(*env, it->string, cJSON_Duplicate(it, 0));
	cJSON_Delete(none);
	char *command = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e->app, "command"));
	const cJSON *mods = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(e->app, "warm"), "modules");
	char *modules = mods ? cJSON_PrintUnformatted(mods) : NULL;
	/* The cache's key has the app's inputs: these variables too. */
	char *key = cJSON_PrintUnformatted(*env);
	int rc = 0;
	if (asprintf(&extra[0], "NRUNNER_PRELOAD_SOCKET=%s", socket) < 0 ||
	    asprintf(&extra[1], "NRUNNER_WARM_SCRIPT=%s", warm_py) < 0 ||
	    asprintf(&extra[2], "NRUNNER_WARM_APP_DIR=%s", dir) < 0 ||
	    asprintf(&extra[3], "NRUNNER_WARM_COMMAND=%s", command ? command : "[]") < 0 ||
	    asprintf(&extra[4], "NRUNNER_WARM_KEY=%s", key ? key : "") < 0 ||
	    (modules && asprintf(&extra[5], "NRUNNER_WARM_MODULES=%s", modules) < 0))
		rc = -1;
	free(command);
	free(modules);
	free(key);
	return rc;
}

/* Whether a process of this user listens on the abstract socket. */
static int listening(const char *name)
{
	int s = nrp_abstract_connect(name);
	if (s >= 0)
		close(s);
	return s >= 0;
}

/* The last lines of the log behind fd. */
static void log_tail(int fd, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	nrp_log_tail(path, out, len);
}

/* The one-line notice of a warm start turned off. */
static void warm_off(const char *source, const char *why)
{
	fprintf(stderr, "nrunner: %s: warm start off: %s; the apps start cold "
		"(\"warm\": false in environment.app says so quietly)\n", source, why);
}

int preload_begin(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(e->app, "preload");
	char interp[PATH_MAX];
	char *dir = app_dir(e);
	if (!dir)
		return nrp_fail(err, errlen, "out of memory");
	int warm = !pre && warm_wanted(e, dir, interp, sizeof interp);
	if ((!pre && !warm) || preload_socket(e)) {
		free(dir);
		return 0;
	}
	preloader *p = nrp_xcalloc(1, sizeof *p);
	p->warm = warm;
	var_name(e, p->var, sizeof p->var);
	unsigned char rnd[8] = {0};
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		free(p);
		free(dir);
		return nrp_fail(err, errlen, "cannot name the app's preloader socket: "
			       "getrandom: %s", strerror(errno));
	}
	snprintf(p->name, sizeof p->name,
		 "nrunner-preload-%ld-%02x%02x%02x%02x%02x%02x%02x%02x", (long)getpid(), rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	char *extra[8] = {NULL};
	cJSON *wcmd = NULL, *wenv = NULL;
	int rc = 0;
	if (warm)
		rc = warm_command(e, interp, dir, p->name, &wcmd, &wenv, extra);
	else if (asprintf(&extra[0], "NRUNNER_PRELOAD_SOCKET=%s", p->name) < 0)
		rc = -1;
	app_cmd c;
	cJSON *vars = cJSON_CreateObject();
	if (rc == 0)
		rc = app_cmd_build(warm ? wcmd : cJSON_GetObjectItemCaseSensitive(pre, "command"),
				   warm ? wenv : cJSON_GetObjectItemCaseSensitive(pre, "env"), vars,
				   dir, (const char *const *)extra, &c, err, errlen);
	else
		nrp_fail(err, errlen, "out of memory");
	cJSON_Delete(vars);
	cJSON_Delete(wcmd);
	cJSON_Delete(wenv);
	for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
		free(extra[i]);
	free(dir);
	if (rc < 0) {
		char tmp[1024];
		snprintf(tmp, sizeof tmp, "%s: environment.app.%s: %s", e->source,
			 warm ? "command (warm start)" : "preload", err);
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
		nrp_fail(err, errlen, "cannot start the app's preloader '%s' "
			"(environment.app.%s in %s) in %s: %s", c.argv[0],
			warm ? "command[0], warm start" : "preload.command[0]", e->source, c.dir,
			strerror(error));
		app_cmd_free(&c);
		if (p->log >= 0)
			close(p->log);
		free(p);
		/* Nothing fails because of the warm start: the app starts cold. */
		if (warm)
			warm_off(e->source, err);
		return warm ? 0 : -1;
	}
	app_cmd_free(&c);
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(e->ready, "timeout_s");
	p->timeout_ms = nrp_now_ms() + (cJSON_IsNumber(to) ? to->valuedouble : 30) * 1000;
	p->source = nrp_xstrdup(e->source);
	p->next = started;
	started = p;
	if (nrp_jd_set(p->var, p->name) < 0)
		return nrp_fail(err, errlen, "cannot give the app's preloader to the flows "
			       "(the job's data takes it only in job_begin)");
	return 0;
}

/* The notice the warm preloader printed when it found its imports unsafe
 * to fork, if any. */
static void warm_notice(preloader *p)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/self/fd/%d", p->log);
	FILE *f = fopen(path, "r");
	static const char mark[] = "nrunner: warm start off: ";
	while (f && fgets(line, sizeof line, f)) {
		if (!strncmp(line, mark, sizeof mark - 1)) {
			line[strcspn(line, "\n")] = '\0';
			fprintf(stderr, "nrunner: %s: %s\n", p->source, line + 9);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* Waits until p listens.  On failure stops it (not reaped: preload_end),
 * but for a warm start's that is slow: -2, left running. */
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
			return nrp_fail(err, errlen, "the app's preloader (environment.app.%s "
				       "in %s) %s before it listened; its log ends: %s",
				       p->warm ? "command, warm start" : "preload", p->source,
				       how, tail[0] ? tail : "(empty)");
		}
		if (nrp_jd_interrupted())
			return nrp_fail(err, errlen, "interrupted while the app's preloader "
				       "(environment.app.preload in %s) started", p->source);
		if (nrp_now_ms() > p->timeout_ms) {
			if (p->warm)
				return -2; /* left to listen later */
			log_tail(p->log, tail, sizeof tail);
			app_stop(p->pid, STOP_GRACE_MS);
			return nrp_fail(err, errlen, "the app's preloader (environment.app.%s "
				       "in %s) did not listen within environment.ready.timeout_s; "
				       "its log ends: %s", p->warm ? "command, warm start" : "preload",
				       p->source, tail[0] ? tail : "(empty)");
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
		if (rc == 0 && p->warm)
			warm_notice(p);
		if (rc == -2) {
			/* The flows that start before it listens start cold. */
			fprintf(stderr, "nrunner: %s: warm start: the preloader did not listen "
				"within environment.ready.timeout_s; the apps start cold until it "
				"does\n", p->source);
			rc = 0;
		}
		if (rc < 0 && p->warm) {
			/* It exited: its flows start cold. */
			warm_off(p->source, err);
			nrp_jd_set(p->var, "");
			rc = 0;
		}
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
