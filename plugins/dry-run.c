/* dry-run: Avocado's runner for --dry-run.  It runs nothing and reports
 * the test as cancelled, whatever the runnable holds (uri, args, kwargs
 * and config are not read: `nrunner run --dry-run` turns every test into
 * one of these, keeping the rest of the runnable as it was). */
#include "config.h"

#include <nrunner/plugin.h>

static int dry_run_run(const nr_host *host, nr_task *task)
{
	/* Avocado's exact reason (avocado/plugins/runners/dry_run.py). */
	return host->finish(task, NR_RESULT_CANCEL, "Test cancelled due to --dry-run");
}

static const nr_kind dry_run_kind = {
	.name = "dry-run",
	.summary = "Runs nothing: the test is cancelled (nrunner run --dry-run)",
	.run = dry_run_run,
};

static const nr_kind *const kinds[] = {&dry_run_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "dry-run",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
