/* Job data (ABI 1.4): job_begin stores a value with host->job_set, and
 * the kind's run() and job_end read it with host->job_get; none of it is
 * in any task's environment.  The test reads what run() reports in its
 * finished message, and what job_end wrote to $JOBDATA_END. */
#include <nrunner/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static char marker[64];

static int begin(const nr_host *h, const nr_value *runnables, char *err, size_t errlen)
{
	snprintf(marker, sizeof marker, "jobdata-marker-%ld", (long)getpid());
	char n[32];
	snprintf(n, sizeof n, "%zu", h->size(runnables));
	if (h->job_set("jobdata.marker", marker) < 0 || h->job_set("jobdata.runnables", n) < 0 ||
	    h->job_set("jobdata.gone", "x") < 0 || h->job_set("jobdata.gone", NULL) < 0) {
		snprintf(err, errlen, "job_set refused a good key");
		return 1;
	}
	/* Keys are [A-Za-z0-9._-], 1 to 128 bytes. */
	char longkey[200];
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	int refused = h->job_set("bad key", "x") < 0 && h->job_set("", "x") < 0 &&
		      h->job_set(longkey, "x") < 0 && h->job_set(NULL, "x") < 0;
	h->job_set("jobdata.bad_keys_refused", refused ? "yes" : "no");
	return 0;
}

static void end(const nr_host *h)
{
	const char *path = getenv("JOBDATA_END");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		const char *m = h->job_get(NULL, "jobdata.marker");
		fprintf(f, "%s\n", m ? m : "(none)");
		fclose(f);
	}
}

static int run(const nr_host *h, nr_task *t)
{
	const char *m = h->job_get(t, "jobdata.marker");
	int in_env = 0;
	for (char **e = environ; m && *e; e++)
		in_env |= strstr(*e, m) != NULL;
	nr_msg *msg = h->msg_new(t, "finished");
	h->msg_string(msg, "result", m ? NR_RESULT_PASS : NR_RESULT_FAIL);
	h->msg_string(msg, "marker", m);
	h->msg_string(msg, "runnables", h->job_get(t, "jobdata.runnables"));
	h->msg_bool(msg, "gone_is_gone", h->job_get(t, "jobdata.gone") == NULL);
	h->msg_string(msg, "bad_keys_refused", h->job_get(t, "jobdata.bad_keys_refused"));
	h->msg_bool(msg, "set_in_run_refused", h->job_set("jobdata.late", "x") < 0);
	h->msg_bool(msg, "in_environment", in_env);
	return h->msg_emit(msg);
}

static const nr_kind kind = {.name = "jobdata", .summary = "Reads the job's data", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "jobdata",
	.version = "1",
	.kinds = kinds,
	.job_begin = begin,
	.job_end = end,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
