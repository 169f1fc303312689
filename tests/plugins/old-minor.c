/* A plugin that declares ABI minor 0, as one built against nrunner's first
 * header would: an older minor is accepted, and the core reads none of the
 * fields added since (nr_kind.resolve among them). */
#include <nrunner/plugin.h>

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static const nr_kind kind = {.name = "old-minor", .summary = "Built for ABI 1.0", .run = run};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	.abi_major = NR_ABI_MAJOR,
	.abi_minor = 0,
	.name = "old-minor",
	.version = "1",
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
