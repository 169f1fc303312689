/* A plugin built against a newer minor than the core's: refused, since it
 * may rely on host functions this core does not have. */
#include <nrunner/plugin.h>

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static const nr_kind kind = {.name = "newer", .summary = "x", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	.abi_major = NR_ABI_MAJOR,
	.abi_minor = NR_ABI_MINOR + 1,
	.name = "newer-minor",
	.version = "1",
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
