/* Secrets out of text (DESIGN.md, "Trust and secrets"): a value marked
 * secret never reaches a message, a report or a kept log, in any encoding
 * it can come back in: as it is, percent-encoded (a URL, a form),
 * JSON-escaped, or base64 (an Authorization header). */
#ifndef NRP_REDACT_H
#define NRP_REDACT_H

#include <stddef.h>

#define NRP_REDACTED "***"

/* Replaces every occurrence of `secret` in the string s (of capacity cap)
 * by "***", in each encoding; an empty secret changes nothing.  Returns
 * how many it replaced. */
size_t nrp_redact(char *s, size_t cap, const char *secret);

/* The same over a NULL-terminated list of secrets. */
size_t nrp_redact_all(char *s, size_t cap, const char *const *secrets);

/* Redacts a file in place (an app's log, after the app is gone); a file
 * over 64 MiB is left as it is, with -1.  0 when nothing was there or it
 * was rewritten. */
int nrp_redact_file(const char *path, const char *const *secrets);

/* A stream of output passed on to fd with the secrets redacted: text is
 * held until a newline (or 4 KiB), so that a secret cut between two
 * reads is still seen whole. */
typedef struct nrp_redact_out {
	int fd;
	const char *const *secrets;
	char buf[4096 + 1];
	size_t n;
} nrp_redact_out;

void nrp_redact_write(nrp_redact_out *o, const char *p, size_t n);
void nrp_redact_flush(nrp_redact_out *o);

#endif
