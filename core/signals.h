/* Signals as events: SIGINT, SIGTERM, SIGHUP and SIGCHLD are written to a
 * self-pipe, so the event loops wait on one more file descriptor and never
 * on a signal handler's flag. */
#ifndef NR_SIGNALS_H
#define NR_SIGNALS_H

#include <stddef.h>

/* Installs the handlers (once) and returns the pipe's read end.  Also
 * makes nrunner a child subreaper and ignores SIGPIPE. */
int nr_signals_fd(void);
/* Reads pending signal numbers; returns how many (0 if none). */
size_t nr_signals_read(int *sigs, size_t max);

#endif
