/* noop: does nothing and passes.  The smallest complete plugin, and the
 * baseline for measuring what the core itself costs. */
#include "config.h"

#include <nrunner/plugin.h>

static int noop_run(const nr_host *host, nr_task *task)
{
	return host->finish(task, NR_RESULT_PASS, NULL);
}

static const nr_kind noop_kind = {
	.name = "noop",
	.summary = "Does nothing and passes",
	.run = noop_run,
};

static const nr_kind *const kinds[] = {&noop_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "noop",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
