/* exec: runs the program at uri with args.  Its stdout and stderr stream
 * as "running" messages (or go to the output directory), and "finished"
 * carries the return code, or the signal that killed it.  Like Avocado's
 * exec runner it judges nothing about the code: the result is "pass" when
 * the program ran to its end, "error" when it could not be started. */
#include "config.h"

#include "common/spawn.h"

#include <nrunner/plugin.h>

static int exec_run(const nr_host *h, nr_task *t)
{
	nrp_spawn_result res;
	nrp_spawn_runnable(h, t, &res);
	int rc;
	if (nrp_spawn_finish_unstarted(h, t, &res, &rc))
		return rc;
	nr_msg *m = h->msg_new(t, "finished");
	if (res.interrupted) {
		h->msg_string(m, "result", NR_RESULT_INTERRUPTED);
		h->msg_string(m, "fail_reason", "interrupted while the program ran");
	} else {
		h->msg_string(m, "result", NR_RESULT_PASS);
	}
	nrp_spawn_msg_status(h, m, &res);
	return h->msg_emit(m);
}

static const nr_kind exec_kind = {
	.name = "exec",
	.summary = "Runs a program and reports its return code",
	.run = exec_run,
};

static const nr_kind *const kinds[] = {&exec_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "exec",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
