#include "config.h"

#include "util.h"

#include <nrunner/plugin.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void *nrp_oom(size_t n)
{
	char msg[80];
	int len = snprintf(msg, sizeof msg, "nrunner: out of memory (%zu bytes)\n", n);
	if (write(2, msg, (size_t)len) < 0) {
		/* nothing more to say */
	}
	abort();
}

void *nrp_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : nrp_oom(n);
}

void *nrp_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : nrp_oom(n * size);
}

void *nrp_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : nrp_oom(n);
}

char *nrp_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	return p ? p : nrp_oom(s ? strlen(s) + 1 : 1);
}

char *nrp_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s ? s : "", n);
	return p ? p : nrp_oom(n + 1);
}

int nrp_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void nrp_log_tail(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	char line[512], last[3][512] = {"", "", ""};
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		memmove(last[0], last[1], sizeof last[0] * 2);
		snprintf(last[2], sizeof last[2], "%s", line);
	}
	fclose(f);
	for (int i = 0; i < 3; i++)
		if (last[i][0])
			snprintf(out + strlen(out), len - strlen(out), "%s%s",
				 out[0] ? " | " : "", last[i]);
}

double nrp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

unsigned long long nrp_fnv1a(unsigned long long h, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (h ^ 0xffu) * 1099511628211ull;
}

unsigned nrp_abstract_addr(struct sockaddr_un *un, const char *name)
{
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	size_t nl = strlen(name);
	if (nl > sizeof un->sun_path - 2)
		nl = sizeof un->sun_path - 2;
	memcpy(un->sun_path + 1, name, nl);
	return (unsigned)(offsetof(struct sockaddr_un, sun_path) + 1 + nl);
}

int nrp_abstract_connect(const char *name)
{
	struct sockaddr_un un;
	socklen_t ul = nrp_abstract_addr(&un, name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ucred cr;
	socklen_t crl = sizeof cr;
	if (connect(s, (struct sockaddr *)&un, ul) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0 ||
	    (cr.uid != geteuid() && (errno = EPERM))) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

int nrp_avocado_kwarg(const char *key)
{
	static const char *const avocado[] = {"output_dir", "tags", "variant",
					      "dependencies", "assets", NULL};
	for (const char *const *k = avocado; *k; k++)
		if (!strcmp(key, *k))
			return 1;
	return 0;
}

const char *nrp_kwargs_unknown(const nr_host *h, nr_task *t,
			      const char *const *known)
{
	const nr_value *kw = h->kwargs(t);
	for (size_t i = 0; i < h->size(kw); i++) {
		const char *key = h->key_at(kw, i);
		int ok = nrp_avocado_kwarg(key);
		for (const char *const *k = known; !ok && *k; k++)
			ok = !strcmp(key, *k);
		if (!ok)
			return key;
	}
	return NULL;
}

static const nr_host *jd_host;
static nr_task *jd_task;

void nrp_jd_use(const nr_host *h, nr_task *t)
{
	jd_host = h;
	jd_task = t;
}

const char *nrp_jd_get(const char *key)
{
	return jd_host ? jd_host->job_get(jd_task, key) : NULL;
}

int nrp_jd_set(const char *key, const char *value)
{
	return jd_host ? jd_host->job_set(key, value) : -1;
}

int nrp_jd_interrupted(void)
{
	return jd_host ? jd_host->interrupted(jd_task) : 0;
}

char *nrp_read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap + 1);
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(buf, (cap *= 2) + 1);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		errno = bad ? EIO : ENOMEM;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Whether `python3 -m name` would find the module: importlib's find_spec,
 * which looks for it without importing it (a dotted name imports its
 * parent package).  Only on an error path: a Python start costs tens of
 * milliseconds. */
static int python_has_module(const char *name)
{
	char *const argv[] = {"python3", "-c",
			      "import importlib.util, sys\n"
			      "sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)",
			      (char *)name, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int e = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		return 0;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void nrp_module_hint(const char *prog, int error, char *out, size_t len)
{
	out[0] = '\0';
	/* Only a bare name that is not there, and that could be a module. */
	if (error != ENOENT || !prog || !*prog || strchr(prog, '/') ||
	    !(isalpha((unsigned char)prog[0]) || prog[0] == '_'))
		return;
	for (const char *p = prog; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
			return;
	if (python_has_module(prog))
		snprintf(out, len, "; python3 -m %s would run it (Debian installs some "
			 "Python programs only as modules): use [\"python3\", \"-m\", "
			 "\"%s\", ...]", prog, prog);
}

int nrp_loopback_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}
