#include "config.h"

#include "util.h"

#include <nrunner/plugin.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int nr_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void nr_log_tail(const char *path, char *out, size_t len)
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

double nr_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

unsigned long long nr_fnv1a(unsigned long long h, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (h ^ 0xffu) * 1099511628211ull;
}

unsigned nr_abstract_addr(struct sockaddr_un *un, const char *name)
{
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	size_t nl = strlen(name);
	if (nl > sizeof un->sun_path - 2)
		nl = sizeof un->sun_path - 2;
	memcpy(un->sun_path + 1, name, nl);
	return (unsigned)(offsetof(struct sockaddr_un, sun_path) + 1 + nl);
}

int nr_abstract_connect(const char *name)
{
	struct sockaddr_un un;
	socklen_t ul = nr_abstract_addr(&un, name);
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

static const nr_host *jd_host;
static nr_task *jd_task;

void nr_jd_use(const nr_host *h, nr_task *t)
{
	jd_host = h;
	jd_task = t;
}

const char *nr_jd_get(const char *key)
{
	return jd_host ? jd_host->job_get(jd_task, key) : NULL;
}

int nr_jd_set(const char *key, const char *value)
{
	return jd_host ? jd_host->job_set(key, value) : -1;
}

int nr_jd_interrupted(void)
{
	return jd_host ? jd_host->interrupted(jd_task) : 0;
}

char *nr_read_text(const char *path, size_t *len)
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
