/* A plugin whose init refuses to start: its kind must not appear, and the
 * reason it gave must be shown. */
#include <nrunner/plugin.h>
#include <stdio.h>

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static int init(const nr_host *h, char *err, size_t errlen)
{
	(void)h;
	snprintf(err, errlen, "NEEDED_SERVICE is not set");
	return -1;
}

static const nr_kind kind = {.name = "needs-service", .summary = "x", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "init-fail",
	.version = "1",
	.kinds = kinds,
	.init = init,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
