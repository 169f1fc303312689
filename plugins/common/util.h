/* The plugin kit (libnrcommon): small helpers the plugins share, under
 * the prefix nrp_.  The core has its own (nrc_), and <nrunner/plugin.h> alone
 * is nr_.  Its allocators abort on failure: a plugin runs in its task's own
 * process, where running out of memory ends the task (the core reports the
 * signal), which is better than a NULL dereferenced later or a half-built
 * value. */
#ifndef NRP_UTIL_H
#define NRP_UTIL_H

#include <stddef.h>

/* malloc, calloc, realloc, strdup (NULL as ""), strndup that never return
 * NULL: they write "out of memory" to stderr and abort(). */
void *nrp_xmalloc(size_t n);
void *nrp_xcalloc(size_t n, size_t size);
void *nrp_xrealloc(void *p, size_t n);
char *nrp_xstrdup(const char *s);
char *nrp_xstrndup(const char *s, size_t n);

/* Writes a one-line message to err and returns -1, for "return
 * nrp_fail(err, errlen, ...)" on every error path. */
int nrp_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The last three non-empty lines of a log file, joined by " | ": what a
 * failure quotes when a server or an app died. */
void nrp_log_tail(const char *path, char *out, size_t len);

/* A whole file, NUL-terminated (its length in *len when len is not
 * NULL); NULL with errno when it cannot be read. */
char *nrp_read_text(const char *path, size_t *len);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * released), or -1.  Another process may take it before the caller binds
 * it: callers try again on another. */
int nrp_loopback_port(void);

/* When `prog` could not be run for `error` (ENOENT) and `python3 -m prog`
 * would run it, a hint to append to the message ("; python3 -m uvicorn
 * would run it ..."); else "". */
void nrp_module_hint(const char *prog, int error, char *out, size_t len);

/* Milliseconds on the monotonic clock, for durations. */
double nrp_now_ms(void);

/* FNV-1a of the string s (NULL as ""), then of a separator byte, so that
 * hashing strings one after the other is unambiguous; start from
 * NRP_FNV1A_INIT.  For names and cache keys, not for security. */
#define NRP_FNV1A_INIT 1469598103934665603ull
unsigned long long nrp_fnv1a(unsigned long long h, const char *s);

/* The abstract Unix socket address named `name` (no file: gone with the
 * last descriptor); returns its length for bind() or connect(). */
struct sockaddr_un;
unsigned nrp_abstract_addr(struct sockaddr_un *un, const char *name);

/* A connection to the abstract socket `name` whose listener is a process
 * of this user: abstract names are open to every user.  -1 with errno
 * (EPERM: another user's).  Async-signal-safe, for a forked child. */
int nrp_abstract_connect(const char *name);

/* 1 when key is one of Avocado's runnable kwargs that belong to the job,
 * not to a kind: output_dir, tags, variant, dependencies, assets. */
int nrp_avocado_kwarg(const char *key);

/* The first kwarg of the task that is neither in known (NULL-terminated)
 * nor one of Avocado's (nrp_avocado_kwarg), or NULL: for a kind that
 * refuses a misspelt kwarg rather than ignore it. */
struct nr_host;
struct nr_task;
const char *nrp_kwargs_unknown(const struct nr_host *h, struct nr_task *t,
			      const char *const *known);

/* The job's data (ABI 1.4, host->job_set and job_get), for code far
 * from the hook or run() that holds the host: nrp_jd_use() at their entry
 * says where to read (the task; NULL in a job hook) and write. */
void nrp_jd_use(const struct nr_host *h, struct nr_task *t);
/* NULL when there is no such key, or before nrp_jd_use(). */
const char *nrp_jd_get(const char *key);
/* -1 outside job_begin (see host->job_set). */
int nrp_jd_set(const char *key, const char *value);
/* host->interrupted() of the task, or of the job hook (set-up stopped by a
 * signal or the job's timeout); 0 before nrp_jd_use(). */
int nrp_jd_interrupted(void);

#endif /* NRP_UTIL_H */
