/* Signals as events: SIGINT, SIGTERM, SIGHUP and SIGCHLD are written to a
 * self-pipe, so the event loops wait on one more file descriptor and never
 * on a signal handler's flag. */
#ifndef NR_SIGNALS_H
#define NR_SIGNALS_H

#include <stddef.h>

/* Installs the handlers (once) and returns the pipe's read end.  Also
 * makes nrunner a child subreaper and ignores SIGPIPE. */
int nrc_signals_fd(void);
/* Reads pending signal numbers; returns how many (0 if none). */
size_t nrc_signals_read(int *sigs, size_t max);
/* In a child that runs plugin code: the handlers back to their defaults
 * and the pipe closed, so that neither a signal to the child nor a write
 * by the plugin can pose as a signal to nrunner. */
void nrc_signals_forget(void);

#endif
