/* exec: runs the program at uri with args.  Its stdout and stderr stream
 * as "running" messages (or go to the output directory), and "finished"
 * carries the return code, or the signal that killed it.  Like Avocado's
 * exec runner it judges nothing about the code: the result is "pass" when
 * the program ran to its end, "error" when it could not be started. */
#include "config.h"

#include "common/spawn.h"

#include <nrunner/plugin.h>
#include <stdio.h>
#include <string.h>

static int exec_run(const nr_host *h, nr_task *t)
{
	nr_spawn_result res;
	nr_spawn_runnable(h, t, &res);
	char why[512];
	if (!res.started && !h->uri(t)) {
		return h->finish(t, NR_RESULT_ERROR,
				 "no program to run: give its path with -u PATH, "
				 "or \"uri\" in the recipe");
	} else if (!res.started) {
		snprintf(why, sizeof why, "cannot run '%s': %s", h->uri(t),
			 strerror(res.error));
		return h->finish(t, NR_RESULT_ERROR, why);
	}
	nr_msg *m = h->msg_new(t, "finished");
	if (res.interrupted) {
		h->msg_string(m, "result", NR_RESULT_INTERRUPTED);
		h->msg_string(m, "fail_reason", "interrupted while the program ran");
	} else {
		h->msg_string(m, "result", NR_RESULT_PASS);
	}
	if (res.exited)
		h->msg_int(m, "returncode", res.code);
	if (res.signaled) {
		/* As Python's subprocess reports it: minus the signal. */
		h->msg_int(m, "returncode", -res.sig);
		h->msg_string(m, "signal", nr_spawn_signame(res.sig));
	}
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
