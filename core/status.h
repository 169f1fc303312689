/* The status stream: where a task's messages go (stdout, status servers).
 * A status URI is Avocado's: "host:port" for TCP, or a Unix socket path. */
#ifndef NR_STATUS_H
#define NR_STATUS_H

#include <cjson/cJSON.h>

typedef struct nrc_status_out nrc_status_out;

/* id and job_id (either may be NULL) are added to every message. */
nrc_status_out *nrc_status_out_new(const char *id, const char *job_id);
/* Connects to a status URI within timeout_ms.  On failure reports one
 * line on stderr and returns -1; the stream goes on without it. */
int nrc_status_out_connect(nrc_status_out *s, const char *uri, int timeout_ms);
/* Messages go to the status servers only, not to stdout (nrunner run). */
void nrc_status_out_servers_only(nrc_status_out *s);
/* stdout lines are Python literals (core/pyrepr.h), as Avocado's runners
 * print them: nrunner under the name avocado-runner-KIND. */
void nrc_status_out_python(nrc_status_out *s);
/* Prints msg as one JSON line on stdout and sends it to every URI, in
 * Avocado's form (nrc_status_avocado_form). */
void nrc_status_out_send(nrc_status_out *s, cJSON *msg);
void nrc_status_out_free(nrc_status_out *s);

/* A message as Avocado's status server reads it: output bytes in "log"
 * become {"__base64_encoded__": ...}, with "encoding": "utf-8" kept when
 * they are text.  Returns a new object. */
cJSON *nrc_status_avocado_form(const cJSON *msg);

/* Whether result is one of the contract's seven (DESIGN.md, "Status
 * messages"): pass, fail, error, skip, warn, cancel, interrupted. */
int nrc_result_known(const char *result);
#define NR_RESULTS_KNOWN "pass, fail, error, skip, warn, cancel or interrupted"

#endif
