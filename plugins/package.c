/* package: Avocado's package kind.  kwargs "name" (required) and "action"
 * (install, the default, check or remove), through the system's package
 * manager: dpkg-query and apt-get on Debian, rpm and dnf (or yum) where
 * those are found.  Results and messages are those of Avocado's runner
 * (avocado/plugins/runners/package.py): a missing package is an error of
 * "check", a package already there (or already gone) a pass of "install"
 * (or "remove").  A failure also quotes the manager's own answer, such as
 * apt-get's "are you root?". */
#include "config.h"

#include "common/spawn.h"

#include <ctype.h>
#include <limits.h>
#include <nrunner/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct manager {
	const char *probe;   /* on PATH when this manager is the system's */
	const char *query;   /* the program that says what is installed */
	const char *changer; /* the program that installs and removes */
	const char *fallback_changer; /* when changer is not on PATH */
	const char *yes;     /* its "assume yes" option */
	const char *wait;    /* its "wait for the lock" option, if it needs one */
} manager;

/* apt-get fails at once when another apt-get or dpkg holds the lock (two
 * package dependencies of one job, a system's daily upgrade); told to,
 * it waits for it.  dnf and yum wait by themselves. */
static const manager managers[] = {
	{"dpkg-query", "dpkg-query", "apt-get", NULL, "--yes", "-oDPkg::Lock::Timeout=300"},
	{"rpm", "rpm", "dnf", "yum", "--assumeyes", NULL},
};

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		char full[PATH_MAX];
		snprintf(full, sizeof full, "%.*s/%s", (int)len, len ? path : ".", prog);
		if (access(full, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

static const manager *find_manager(const char **changer)
{
	for (size_t i = 0; i < sizeof managers / sizeof *managers; i++) {
		const manager *m = &managers[i];
		if (!on_path(m->probe))
			continue;
		*changer = m->changer;
		if (!on_path(m->changer) && m->fallback_changer &&
		    on_path(m->fallback_changer))
			*changer = m->fallback_changer;
		return m;
	}
	return NULL;
}

/* What the manager said, in one line: its error lines (apt-get's "E: ",
 * dnf's "Error: ") when it wrote some, else its last line. */
static void manager_answer(const char *prog, const char *out, char *buf,
			   size_t len)
{
	char text[1024] = "";
	size_t n = 0;
	const char *last = NULL;
	int lastlen = 0;
	for (const char *l = out; *l; l += *l == '\n') {
		size_t ll = strcspn(l, "\n");
		const char *next = l + ll;
		while (ll && isspace((unsigned char)l[ll - 1]))
			ll--;
		if (ll) {
			last = l;
			lastlen = (int)ll;
		}
		if (ll && n < sizeof text && (!strncmp(l, "E: ", 3) || !strncmp(l, "Error:", 6) ||
					      !strncmp(l, "error:", 6)))
			n += (size_t)snprintf(text + n, sizeof text - n, "%s%.*s",
					      n ? " " : "", (int)ll, l);
		l = next;
	}
	if (!n)
		snprintf(text, sizeof text, "%.*s", last ? lastlen : 9,
			 last ? last : "no output");
	/* dpkg-query names itself; apt-get's "E: " does not. */
	size_t pl = strlen(prog);
	if (!strncmp(text, prog, pl) && text[pl] == ':')
		snprintf(buf, len, "%s", text);
	else
		snprintf(buf, len, "%s: %s", prog, text);
}

typedef struct run {
	const nr_host *h;
	nr_task *t;
	const manager *m;
	const char *changer;
	const char *name;
	char answer[1024]; /* the manager's last answer, one line */
	int interrupted;
} run;

/* Runs the manager; returns its exit status (-1: it did not run or was
 * killed), with its answer in r->answer. */
static int manager_run(run *r, const char *prog, char *const *argv)
{
	char tail[4096];
	nrp_spawn_result res;
	char cmd[512];
	size_t n = 0;
	for (size_t i = 0; argv[i] && n < sizeof cmd; i++)
		n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i ? " " : "", argv[i]);
	r->h->log(r->t, "running %s", cmd);
	if (nrp_spawn_capture(r->h, r->t, argv, tail, sizeof tail, &res) < 0) {
		snprintf(r->answer, sizeof r->answer, "%s: cannot run it: %s", prog,
			 strerror(res.error));
		return -1;
	}
	r->interrupted |= res.interrupted;
	manager_answer(prog, tail, r->answer, sizeof r->answer);
	if (res.signaled) {
		size_t n = strlen(r->answer);
		snprintf(r->answer + n, sizeof r->answer - n, " (killed by %s)",
			 nrp_spawn_signame(res.sig));
		return -1;
	}
	return res.code;
}

static int installed(run *r)
{
	char *argv[6];
	size_t n = 0;
	argv[n++] = (char *)r->m->query;
	if (!strcmp(r->m->query, "dpkg-query")) {
		/* "installed" only: a removed package may leave its
		 * configuration ("config-files"), which is not installed. */
		argv[n++] = "-W";
		argv[n++] = "-f=${db:Status-Status}\\n";
	} else {
		argv[n++] = "-q";
	}
	argv[n++] = (char *)r->name;
	argv[n] = NULL;
	int code = manager_run(r, r->m->query, argv);
	if (code != 0)
		return 0;
	if (!strcmp(r->m->query, "dpkg-query")) {
		char status[64];
		snprintf(status, sizeof status, "%s", r->answer + strlen("dpkg-query: "));
		if (strcmp(status, "installed")) {
			snprintf(r->answer, sizeof r->answer,
				 "dpkg-query: %.256s is %s", r->name, status);
			return 0;
		}
	}
	return 1;
}

static int change(run *r, const char *verb)
{
	char *argv[6];
	size_t n = 0;
	argv[n++] = (char *)r->changer;
	argv[n++] = (char *)r->m->yes;
	if (r->m->wait)
		argv[n++] = (char *)r->m->wait;
	argv[n++] = (char *)verb;
	argv[n++] = (char *)r->name;
	argv[n] = NULL;
	return manager_run(r, r->changer, argv);
}

/* Prints Avocado's message on the stream it uses (stdout for what went
 * well, stderr for what did not) and finishes. */
static int done(run *r, const char *result, const char *msg, int with_answer)
{
	int ok = !strcmp(result, NR_RESULT_PASS);
	fprintf(ok ? stdout : stderr, "%s", msg); /* no newline, as Avocado's */
	fflush(ok ? stdout : stderr);
	if (r->interrupted)
		return r->h->finish(r->t, NR_RESULT_INTERRUPTED,
				    "interrupted while the package manager ran");
	if (ok)
		return r->h->finish(r->t, result, NULL);
	char reason[2048];
	snprintf(reason, sizeof reason, "%s%s%s%s", msg, with_answer ? " (" : "",
		 with_answer ? r->answer : "", with_answer ? ")" : "");
	return r->h->finish(r->t, result, reason);
}

static int valid_name(const char *s)
{
	if (!*s || *s == '-')
		return 0; /* an option to the manager, not a name */
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 0;
	return 1;
}

static int package_run(const nr_host *h, nr_task *t)
{
	char msg[1024];
	const nr_value *kw = h->kwargs(t);
	const nr_value *av = h->get(kw, "action");
	const char *action = h->type(av) == NR_TYPE_ABSENT ? "install" : h->string(av);
	if (!action || (strcmp(action, "install") && strcmp(action, "check") &&
			strcmp(action, "remove"))) {
		char *json = h->to_json(av);
		snprintf(msg, sizeof msg, "Invalid action %s. Use one of 'install', "
			 "'check' or 'remove'", action ? action : json);
		h->free(json);
		fprintf(stderr, "%s", msg);
		return h->finish(t, NR_RESULT_ERROR, msg);
	}
	run r = {.h = h, .t = t, .name = h->string(h->get(kw, "name"))};
	if (!r.name) {
		snprintf(msg, sizeof msg, "Package name should be passed as kwargs "
			 "using name=\"package_name\".");
		return done(&r, NR_RESULT_ERROR, msg, 0);
	}
	if (!valid_name(r.name)) {
		snprintf(msg, sizeof msg, "kwarg \"name\": '%s' is not a package "
			 "name (empty, starts with '-' or holds a space)", r.name);
		return done(&r, NR_RESULT_ERROR, msg, 0);
	}
	r.m = find_manager(&r.changer);
	if (!r.m)
		return done(&r, NR_RESULT_ERROR,
			    "Package manager not supported or not available.", 0);
	/* apt-get and dpkg must never stop to ask: stdin is /dev/null. */
	setenv("DEBIAN_FRONTEND", "noninteractive", 1);

	int is = installed(&r);
	if (r.interrupted)
		return done(&r, NR_RESULT_ERROR, "interrupted", 0);
	if (!strcmp(action, "check")) {
		snprintf(msg, sizeof msg, is ? "Package %s already installed"
					     : "Package %s not installed", r.name);
		return done(&r, is ? NR_RESULT_PASS : NR_RESULT_ERROR, msg, 1);
	}
	int install = !strcmp(action, "install");
	if (is == install) {
		snprintf(msg, sizeof msg, is ? "Package %s already installed"
					     : "Package %s not installed", r.name);
		return done(&r, NR_RESULT_PASS, msg, 0);
	}
	int code = change(&r, action);
	char answer[sizeof r.answer];
	memcpy(answer, r.answer, sizeof answer);
	/* As Avocado: the manager may fail on a collision while the package
	 * still ends up as asked. */
	int now = code == 0 || r.interrupted ? install : installed(&r);
	memcpy(r.answer, answer, sizeof answer);
	if (now == install) {
		snprintf(msg, sizeof msg, "Package(s) %s %s successfully", r.name,
			 install ? "installed" : "removed");
		return done(&r, NR_RESULT_PASS, msg, 0);
	}
	snprintf(msg, sizeof msg, "Failed to %s %s. Check the package(s) name and "
		 "if sudo permission is granted.", action, r.name);
	return done(&r, NR_RESULT_ERROR, msg, 1);
}

static const nr_kind package_kind = {
	.name = "package",
	.summary = "Checks, installs or removes a system package (Avocado's package kind)",
	.run = package_run,
};

static const nr_kind *const kinds[] = {&package_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "package",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
