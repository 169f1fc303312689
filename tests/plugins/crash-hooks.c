/* Job hooks that crash: job_begin when the job has a runnable of kind
 * crash-begin, job_end when it has one of crash-end (its job_begin
 * remembers), clean always.  None of it may take nrunner down: the hooks
 * run in a job helper. */
#include <nrunner/plugin.h>
#include <string.h>

static int crash_at_end;

static void crash(void)
{
	volatile int *volatile p = NULL;
	*p = 1;
}

static int begin(const nr_host *h, const nr_value *runnables, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	for (size_t i = 0; i < h->size(runnables); i++) {
		const char *k = h->string(h->get(h->item(runnables, i), "kind"));
		if (k && !strcmp(k, "crash-begin"))
			crash();
		if (k && !strcmp(k, "crash-end"))
			crash_at_end = 1;
	}
	return 0;
}

static void end(const nr_host *h)
{
	(void)h;
	if (crash_at_end)
		crash();
}

static int clean(const nr_host *h, const nr_value *kwargs, int dry_run, char *err,
		 size_t errlen)
{
	(void)h, (void)kwargs, (void)dry_run, (void)err, (void)errlen;
	crash();
	return 0;
}

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static const nr_kind k_begin = {.name = "crash-begin", .summary = "Its job_begin crashes", .run = run};
static const nr_kind k_end = {.name = "crash-end", .summary = "Its job_end crashes", .run = run};
static const nr_kind *const kinds[] = {&k_begin, &k_end, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "crash-hooks",
	.version = "1",
	.kinds = kinds,
	.job_begin = begin,
	.job_end = end,
	.clean = clean,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
