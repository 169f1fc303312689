/* A mock of the host table of <nrunner/plugin.h>, for unit tests of
 * plugin code without the core (as collectd's libplugin_mock): values are
 * cJSON nodes seen through nr_value, and everything a plugin does through
 * the table is recorded for the test to check: the messages it sends (in
 * order, as JSON objects), its logs, the job data it sets, the process
 * groups it registers, and the runnables (or the error) it resolves.
 *
 * Like the core's table, the job's data is one set per process, writable
 * only while a job_begin runs (mock_job_begin()). */
#ifndef NR_TEST_MOCK_HOST_H
#define NR_TEST_MOCK_HOST_H

#include <cjson/cJSON.h>
#include <nrunner/plugin.h>

/* The table, for a plugin's run(), resolve() or hooks. */
const nr_host *mock_host(void);

/* A task running one runnable.  kwargs_json and config_json are JSON
 * objects as text (NULL: {}); args NULL-terminated (NULL: none).  A bad
 * JSON text aborts: it is the test's mistake. */
nr_task *mock_task_new(const char *kind, const char *uri, const char *identifier,
		       const char *const *args, const char *kwargs_json,
		       const char *config_json);
void mock_task_free(nr_task *t);
/* What host->output_dir returns (NULL by default). */
void mock_task_set_output_dir(nr_task *t, const char *dir);
/* What host->interrupted returns from now on. */
void mock_task_interrupt(nr_task *t, int on);
/* From now on, msg_emit fails (returns -1) as when the core has gone. */
void mock_task_break(nr_task *t);

/* The messages the task sent, in order: an array of objects. */
const cJSON *mock_task_messages(const nr_task *t);
/* How many it sent with this status ("running", "finished"). */
int mock_task_count(const nr_task *t, const char *status);
/* The last "finished" message, or NULL. */
const cJSON *mock_task_finished(const nr_task *t);
/* A string field of that message ("result", "fail_reason"), or NULL. */
const char *mock_task_finished_str(const nr_task *t, const char *key);
/* The logs (host->log, and running messages of type log), one per line,
 * in order: "" when none.  Valid until the next call. */
const char *mock_task_logs(const nr_task *t);
/* The process groups registered and still alive: an array of numbers. */
const cJSON *mock_task_groups(const nr_task *t);

/* The job's data: mock_job_begin(1) opens it to host->job_set, as the
 * core does around job_begin; mock_job_begin(0) closes it. */
void mock_job_begin(int open);
/* Sets a key directly (a test's setup: what an earlier job_begin set). */
void mock_job_put(const char *key, const char *value);
/* The whole set (an object of strings; NULL when empty), and clearing it. */
const cJSON *mock_job_data(void);
void mock_job_clear(void);
/* What job hooks see from host->interrupted(NULL). */
void mock_job_interrupt(int on);

/* A resolver for a kind's resolve(): what it added (an array of recipe
 * objects) and the error it gave (NULL when none). */
nr_resolver *mock_resolver_new(void);
void mock_resolver_free(nr_resolver *r);
const cJSON *mock_resolver_added(const nr_resolver *r);
const char *mock_resolver_error(const nr_resolver *r);

#endif
