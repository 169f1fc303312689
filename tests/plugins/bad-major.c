/* A plugin built for the next ABI major: the loader must refuse it and
 * name both versions. */
#include <nrunner/plugin.h>

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static const nr_kind kind = {.name = "future", .summary = "x", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	.abi_major = NR_ABI_MAJOR + 1,
	.abi_minor = 0,
	.name = "bad-major",
	.version = "1",
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
