/* Small helpers the plugins share (the core has its own). */
#ifndef NR_PLUGIN_UTIL_H
#define NR_PLUGIN_UTIL_H

#include <stddef.h>

/* Writes a one-line message to err and returns -1, for "return
 * nr_fail(err, errlen, ...)" on every error path. */
int nr_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The last three non-empty lines of a log file, joined by " | ": what a
 * failure quotes when a server or an app died. */
void nr_log_tail(const char *path, char *out, size_t len);

/* The abstract Unix socket address named `name` (no file: gone with the
 * last descriptor); returns its length for bind() or connect(). */
struct sockaddr_un;
unsigned nr_abstract_addr(struct sockaddr_un *un, const char *name);

/* A connection to the abstract socket `name` whose listener is a process
 * of this user: abstract names are open to every user.  -1 with errno
 * (EPERM: another user's).  Async-signal-safe, for a forked child. */
int nr_abstract_connect(const char *name);

#endif
