/* sysinfo: Avocado's runner that records the system's state before
 * ("pre") or after ("post") a test or a job: the output of a list of
 * commands and the content of a list of files, one file each, in the
 * folder sysinfo/<uri>/ of the task's output directory (where Avocado's
 * job puts what its runner sends).  A command that fails, hangs past its
 * timeout or cannot start, and a file that cannot be read, are recorded
 * in the task's log and do not fail the task, as in Avocado.
 *
 * kwargs, as Avocado's: "sysinfo" {"commands": [...], "files": [...],
 * "fail_commands": [...], "fail_files": [...]} (Avocado's default lists
 * of commands and files when it is absent), and "test_fail": true to add
 * the fail_ lists after a test that did not pass.  Config, as Avocado's:
 * sysinfo.collect.commands_timeout (seconds; <= 0: none), .locale (LC_ALL
 * of the commands, "C" by default) and .installed_packages. */
#include "config.h"

#include "common/spawn.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <nrunner/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TIMEOUT_KEY "sysinfo.collect.commands_timeout"
#define LOCALE_KEY "sysinfo.collect.locale"
#define PACKAGES_KEY "sysinfo.collect.installed_packages"

/* Avocado's defaults (avocado/etc/avocado/sysinfo/commands and files). */
static const char *const default_commands[] = {
	"df -mP", "dmesg", "uname -a", "lspci -vvnn", "gcc --version",
	"ld --version", "hostname", "uptime", "dmidecode", "ifconfig -a",
	"brctl show", "ip link", "numactl --hardware show", "lscpu",
	"fdisk -l", NULL};
static const char *const default_files[] = {
	"/proc/cmdline", "/proc/mounts", "/proc/pci", "/proc/meminfo",
	"/proc/slabinfo", "/proc/version", "/proc/cpuinfo", "/proc/modules",
	"/proc/interrupts", "/proc/partitions",
	"/sys/kernel/debug/sched_features",
	"/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
	"/sys/devices/system/clocksource/clocksource0/current_clocksource",
	NULL};

/* The list of installed packages, as Avocado's software manager makes it
 * (name-version), from dpkg or rpm, whichever the system has. */
static const char packages_command[] =
	"if command -v dpkg-query >/dev/null 2>&1; then "
	"dpkg-query -W -f '${db:Status-Abbrev} ${Package}-${Version}\\n' | "
	"sed -n 's/^ii  *//p'; "
	"elif command -v rpm >/dev/null 2>&1; then rpm -qa | sort; "
	"else echo 'no dpkg-query or rpm' >&2; exit 127; fi";

static const char *const lists[] = {"commands", "files", "fail_commands",
				    "fail_files", NULL};

/* Avocado's per-chunk size for what goes over the status stream. */
#define CHUNK 200000

typedef struct sysinfo {
	const nr_host *h;
	nr_task *t;
	const char *uri;
	char *dir;       /* <output_dir>/sysinfo/<uri>, or NULL: messages */
	long timeout_ms; /* <= 0: none */
	char **names;    /* the files written so far, once each */
	size_t nnames;
	int collected, failed;
} sysinfo;

/* Avocado's string_to_safe_path: a name any file system takes. */
static void safe_name(const char *in, char *out, size_t len)
{
	snprintf(out, len < NAME_MAX + 1 ? len : NAME_MAX + 1, "%s", in);
	for (char *p = out; *p; p++)
		if (strchr("<>:\"/\\|?*;", *p))
			*p = '_';
	if (out[0] == '.')
		out[0] = '_';
}

/* Once per name, as Avocado's set of collectibles. */
static int seen(sysinfo *s, const char *name)
{
	for (size_t i = 0; i < s->nnames; i++)
		if (!strcmp(s->names[i], name))
			return 1;
	char **n = nrp_xrealloc(s->names, (s->nnames + 1) * sizeof *n);
	char *copy = nrp_xstrdup(name);
	if (!n || !copy) {
		free(copy);
		if (n)
			s->names = n;
		return 0;
	}
	s->names = n;
	s->names[s->nnames++] = copy;
	return 0;
}

/* Where an item goes: a file of the folder, or a temporary file whose
 * content is then sent as messages. */
static int open_out(sysinfo *s, const char *name)
{
	if (!s->dir) {
		FILE *f = tmpfile();
		int fd = f ? dup(fileno(f)) : -1;
		if (f)
			fclose(f);
		return fd;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", s->dir, name);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
}

/* Without an output directory, the content goes as running messages of
 * type log with the path Avocado's file message would have. */
static void send_out(sysinfo *s, int fd, const char *name)
{
	if (s->dir || fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "sysinfo/%s/%s", s->uri, name);
	char *buf = nrp_xmalloc(CHUNK);
	ssize_t n;
	while (buf && (n = read(fd, buf, CHUNK)) > 0) {
		nr_msg *m = s->h->msg_new(s->t, "running");
		s->h->msg_string(m, "type", "log");
		s->h->msg_string(m, "path", path);
		s->h->msg_bytes(m, "log", buf, (size_t)n);
		s->h->msg_emit(m);
	}
	free(buf);
}

static void drop_out(sysinfo *s, const char *name)
{
	char path[PATH_MAX];
	if (s->dir && snprintf(path, sizeof path, "%s/%s", s->dir, name) < (int)sizeof path)
		unlink(path);
}

static void collect_command(sysinfo *s, const char *cmd, const char *as)
{
	char name[NAME_MAX + 1];
	safe_name(as ? as : cmd, name, sizeof name);
	if (!*cmd || seen(s, name))
		return;
	int fd = open_out(s, name);
	if (fd < 0) {
		s->h->log(s->t, "Not logging '%s' (cannot write %s: %s)", cmd,
			  name, strerror(errno));
		s->failed++;
		return;
	}
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	nrp_spawn_result res;
	nrp_spawn_command(s->h, s->t, argv, fd, s->timeout_ms, &res);
	send_out(s, fd, name);
	close(fd);
	s->collected++;
	if (!res.started) {
		s->h->log(s->t, "Could not execute \"%s\": %s", cmd, strerror(res.error));
	} else if (res.timed_out) {
		s->h->log(s->t, "'%s' timed out after %.3g s; its output so far is kept",
			  cmd, (double)s->timeout_ms / 1000.0);
	} else if (res.signaled) {
		s->h->log(s->t, "'%s' was killed by %s", cmd, nrp_spawn_signame(res.sig));
	} else if (res.exited && res.code) {
		s->h->log(s->t, "'%s' exited with status %d%s", cmd, res.code,
			  res.code == 127 ? " (command not found?)" : "");
	} else {
		return;
	}
	s->failed++;
}

static void collect_file(sysinfo *s, const char *path)
{
	char base[PATH_MAX], name[NAME_MAX + 1];
	snprintf(base, sizeof base, "%s", path);
	safe_name(basename(base), name, sizeof name);
	if (!*path || seen(s, name))
		return;
	int in = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0) {
		s->h->log(s->t, "Not logging %s (%s)", path,
			  errno == ENOENT ? "file not found"
			  : errno == EACCES || errno == EPERM ? "lack of permissions"
							     : strerror(errno));
		s->failed++;
		return;
	}
	int out = open_out(s, name);
	char buf[65536];
	ssize_t n = 0;
	int werr = out < 0 ? errno : 0;
	while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			werr = errno ? errno : ENOSPC;
			break;
		}
	int rerr = n < 0 ? errno : 0;
	close(in);
	if (rerr || werr) {
		s->h->log(s->t, "Not logging %s (%s%s)", path, werr ? "cannot write: " : "",
			  strerror(werr ? werr : rerr));
		if (out >= 0)
			close(out);
		drop_out(s, name);
		s->failed++;
		return;
	}
	send_out(s, out, name);
	close(out);
	s->collected++;
}

/* kwargs.sysinfo.<key> (a list of strings), or Avocado's default. */
static int check_list(const nr_host *h, const nr_value *v, const char *key,
		      char *err, size_t errlen)
{
	if (h->type(v) == NR_TYPE_ABSENT)
		return 0;
	int ok = h->type(v) == NR_TYPE_ARRAY;
	for (size_t i = 0; ok && i < h->size(v); i++)
		ok = h->string(h->item(v, i)) != NULL;
	if (!ok)
		return nrp_fail(err, errlen, "kwargs \"sysinfo\": \"%s\" must be a "
			       "list of strings", key);
	return 0;
}

static int check_input(const nr_host *h, nr_task *t, char *err, size_t errlen)
{
	static const char *const known[] = {"sysinfo", "test_fail", "name", NULL};
	const char *bad = nrp_kwargs_unknown(h, t, known);
	if (bad)
		return nrp_fail(err, errlen, "kwargs \"%s\": unknown; the sysinfo "
			       "kind takes sysinfo and test_fail", bad);
	const nr_value *si = h->get(h->kwargs(t), "sysinfo");
	if (h->type(si) != NR_TYPE_ABSENT && h->type(si) != NR_TYPE_OBJECT)
		return nrp_fail(err, errlen, "kwargs \"sysinfo\": must be an object "
			       "of lists, e.g. {\"commands\": [\"uname -a\"], "
			       "\"files\": [\"/proc/version\"]}");
	for (size_t i = 0; i < h->size(si); i++) {
		const char *key = h->key_at(si, i);
		int ok = 0;
		for (const char *const *l = lists; *l; l++)
			ok |= !strcmp(key, *l);
		if (!ok)
			return nrp_fail(err, errlen, "kwargs \"sysinfo\": \"%s\" is "
				       "unknown; it takes commands, files, "
				       "fail_commands and fail_files", key);
		if (check_list(h, h->item(si, i), key, err, errlen) < 0)
			return -1;
	}
	int tf = h->type(h->get(h->kwargs(t), "test_fail"));
	if (tf != NR_TYPE_ABSENT && tf != NR_TYPE_BOOL)
		return nrp_fail(err, errlen, "kwargs \"test_fail\": must be true or "
			       "false (json:true)");
	const nr_value *cfg = h->config(t);
	int ty = h->type(h->get(cfg, TIMEOUT_KEY));
	if (ty != NR_TYPE_ABSENT && ty != NR_TYPE_NULL && ty != NR_TYPE_NUMBER)
		return nrp_fail(err, errlen, "config \"" TIMEOUT_KEY "\": must be a "
			       "number of seconds (<= 0: no timeout)");
	ty = h->type(h->get(cfg, LOCALE_KEY));
	if (ty != NR_TYPE_ABSENT && ty != NR_TYPE_NULL && ty != NR_TYPE_STRING)
		return nrp_fail(err, errlen, "config \"" LOCALE_KEY "\": must be a "
			       "string, e.g. \"C\"");
	ty = h->type(h->get(cfg, PACKAGES_KEY));
	if (ty != NR_TYPE_ABSENT && ty != NR_TYPE_NULL && ty != NR_TYPE_BOOL)
		return nrp_fail(err, errlen, "config \"" PACKAGES_KEY "\": must be "
			       "true or false");
	return 0;
}

/* Each item of kwargs.sysinfo.<key>, or of the default list when there is
 * no sysinfo kwarg at all. */
static void each(sysinfo *s, const char *key, const char *const *dflt,
		 void (*fn)(sysinfo *, const char *))
{
	const nr_host *h = s->h;
	const nr_value *si = h->get(h->kwargs(s->t), "sysinfo");
	if (h->type(si) == NR_TYPE_ABSENT) {
		for (const char *const *p = dflt; p && *p && !h->interrupted(s->t); p++)
			fn(s, *p);
		return;
	}
	const nr_value *l = h->get(si, key);
	for (size_t i = 0; i < h->size(l) && !h->interrupted(s->t); i++)
		fn(s, h->string(h->item(l, i)));
}

static void one_command(sysinfo *s, const char *cmd)
{
	collect_command(s, cmd, NULL);
}

static int make_dir(sysinfo *s, const char *out, char *err, size_t errlen)
{
	if (asprintf(&s->dir, "%s/sysinfo", out) < 0) {
		s->dir = NULL;
		return nrp_fail(err, errlen, "out of memory");
	}
	if (mkdir(s->dir, 0755) < 0 && errno != EEXIST)
		return nrp_fail(err, errlen, "%s: cannot create: %s", s->dir, strerror(errno));
	char *dir = s->dir;
	if (asprintf(&s->dir, "%s/%s", dir, s->uri) < 0)
		s->dir = NULL;
	free(dir);
	if (!s->dir)
		return nrp_fail(err, errlen, "out of memory");
	if (mkdir(s->dir, 0755) < 0 && errno != EEXIST)
		return nrp_fail(err, errlen, "%s: cannot create: %s", s->dir,
			       strerror(errno));
	return 0;
}

static int sysinfo_run(const nr_host *h, nr_task *t)
{
	char err[PATH_MAX + 256];
	const char *uri = h->uri(t);
	if (!uri || (strcmp(uri, "pre") && strcmp(uri, "post"))) {
		/* Avocado's words. */
		snprintf(err, sizeof err, "Unsupported uri %s. Possible values, "
			 "'pre', 'post'", uri ? uri : "None");
		return h->finish(t, NR_RESULT_ERROR, err);
	}
	if (check_input(h, t, err, sizeof err) < 0)
		return h->finish(t, NR_RESULT_ERROR, err);

	const nr_value *cfg = h->config(t);
	sysinfo s = {.h = h, .t = t, .uri = uri};
	s.timeout_ms = (long)(h->number(h->get(cfg, TIMEOUT_KEY)) * 1000);
	const char *locale = h->string(h->get(cfg, LOCALE_KEY));
	if (h->type(h->get(cfg, LOCALE_KEY)) == NR_TYPE_ABSENT)
		locale = "C";
	/* The task's process is the kind's own: what it sets here reaches
	 * the commands it runs and nothing else. */
	if (locale && *locale)
		setenv("LC_ALL", locale, 1);
	if (!getenv("PATH"))
		setenv("PATH", "/usr/bin:/bin", 1);
	int rc;
	/* Avocado's kwarg output_dir is the folder of what is described (a
	 * test's, or under nrunner run --sysinfo the job's), which may not
	 * be the task's own. */
	const char *base = h->string(h->get(h->kwargs(t), "output_dir"));
	if (!base)
		base = h->output_dir(t);
	if (base && make_dir(&s, base, err, sizeof err) < 0) {
		rc = h->finish(t, NR_RESULT_ERROR, err);
		goto out;
	}

	int fail = !strcmp(uri, "post") && h->boolean(h->get(h->kwargs(t), "test_fail"));
	each(&s, "commands", default_commands, one_command);
	if (fail)
		each(&s, "fail_commands", NULL, one_command);
	each(&s, "files", default_files, collect_file);
	if (fail)
		each(&s, "fail_files", NULL, collect_file);
	if (h->boolean(h->get(cfg, PACKAGES_KEY)) && !h->interrupted(t))
		collect_command(&s, packages_command, "installed_packages");

	if (h->interrupted(t)) {
		rc = h->finish(t, NR_RESULT_INTERRUPTED, "interrupted while collecting");
		goto out;
	}
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", NR_RESULT_PASS);
	h->msg_int(m, "collected", s.collected);
	h->msg_int(m, "problems", s.failed);
	rc = h->msg_emit(m);
out:
	for (size_t i = 0; i < s.nnames; i++)
		free(s.names[i]);
	free(s.names);
	free(s.dir);
	return rc;
}

static const char *const sysinfo_config[] = {TIMEOUT_KEY, LOCALE_KEY,
					     PACKAGES_KEY, NULL};

static const nr_kind sysinfo_kind = {
	.name = "sysinfo",
	.summary = "Records commands' output and files (uri pre or post) into sysinfo/URI/",
	.run = sysinfo_run,
	.config_used = sysinfo_config,
};

static const nr_kind *const kinds[] = {&sysinfo_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "sysinfo",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
