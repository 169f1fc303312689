/* A plugin built for ABI 1.3, before the job's data: its job_begin gives
 * its tasks what they need in an environment variable, as 1.3 allowed,
 * and they still get it. */
#include <nrunner/plugin.h>
#include <stdlib.h>

static int begin(const nr_host *h, const nr_value *runnables, char *err, size_t errlen)
{
	(void)h, (void)runnables, (void)err, (void)errlen;
	return setenv("OLD_HOOKS_SERVER", "set-by-job_begin", 1);
}

static int run(const nr_host *h, nr_task *t)
{
	const char *v = getenv("OLD_HOOKS_SERVER");
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", v ? NR_RESULT_PASS : NR_RESULT_FAIL);
	h->msg_string(m, "server", v);
	return h->msg_emit(m);
}

static const nr_kind kind = {.name = "old-hooks", .summary = "Built for ABI 1.3", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	.abi_major = NR_ABI_MAJOR,
	.abi_minor = 3,
	.name = "old-hooks",
	.version = "1",
	.kinds = kinds,
	.job_begin = begin,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
