/* exec-test: runs the program at uri as a test.  The return code becomes
 * the result, by the automake test-driver convention: 0 passes, 77 skips,
 * 99 is an error, anything else (or death by a signal) fails.  The skip
 * and error codes are configurable. */
#include "config.h"

#include "common/spawn.h"

#include <limits.h>
#include <nrunner/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKIP_KEY "runner.exectest.exitcodes.skip"
#define ERROR_KEY "runner.exectest.exitcodes.error"

/* 1 if code is in the list at config[key] (or the default), 0 if not,
 * -1 if the config value is not a list of integers. */
static int code_in(const nr_host *h, nr_task *t, const char *key, int dflt,
		   int code)
{
	const nr_value *v = h->get(h->config(t), key);
	if (h->type(v) == NR_TYPE_ABSENT || h->type(v) == NR_TYPE_NULL)
		return code == dflt;
	if (h->type(v) == NR_TYPE_NUMBER)
		return (int)h->number(v) == code;
	if (h->type(v) != NR_TYPE_ARRAY)
		return -1;
	int found = 0;
	for (size_t i = 0; i < h->size(v); i++) {
		const nr_value *c = h->item(v, i);
		if (h->type(c) != NR_TYPE_NUMBER)
			return -1;
		found |= (int)h->number(c) == code;
	}
	return found;
}

static int exec_test_run(const nr_host *h, nr_task *t)
{
	char why[512];
	static const char *const keys[] = {SKIP_KEY, ERROR_KEY};
	for (size_t i = 0; i < 2; i++) {
		if (code_in(h, t, keys[i], 0, 0) < 0) {
			snprintf(why, sizeof why,
				 "config \"%s\": must be a list of exit codes, "
				 "e.g. [77]", keys[i]);
			return h->finish(t, NR_RESULT_ERROR, why);
		}
	}
	nrp_spawn_result res;
	nrp_spawn_runnable(h, t, &res);
	int rc;
	if (nrp_spawn_finish_unstarted(h, t, &res, &rc))
		return rc;
	const char *result;
	why[0] = '\0';
	if (res.interrupted) {
		result = NR_RESULT_INTERRUPTED;
		snprintf(why, sizeof why, "interrupted while the test ran");
	} else if (res.signaled) {
		result = NR_RESULT_FAIL;
		snprintf(why, sizeof why, "killed by %s", nrp_spawn_signame(res.sig));
	} else if (res.code == 0) {
		result = NR_RESULT_PASS;
	} else if (code_in(h, t, SKIP_KEY, 77, res.code) == 1) {
		result = NR_RESULT_SKIP;
		snprintf(why, sizeof why, "exited with status %d (skip)", res.code);
	} else if (code_in(h, t, ERROR_KEY, 99, res.code) == 1) {
		result = NR_RESULT_ERROR;
		snprintf(why, sizeof why, "exited with status %d (hard error)",
			 res.code);
	} else {
		result = NR_RESULT_FAIL;
		snprintf(why, sizeof why, "exited with status %d", res.code);
	}
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", result);
	if (why[0])
		h->msg_string(m, "fail_reason", why);
	nrp_spawn_msg_status(h, m, &res);
	return h->msg_emit(m);
}

/* `nrunner run` claims: an executable regular file is a test. */
static int exec_test_resolve(const nr_host *h, nr_resolver *r, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return NR_RESOLVE_NOT_MINE;
	char abs[PATH_MAX];
	if (!realpath(path, abs)) {
		h->resolve_error(r, "cannot resolve the path");
		return NR_RESOLVE_ERROR;
	}
	/* The uri is absolute, so that a bare name is never searched in
	 * PATH; the identifier is the path as the user gave it. */
	if (h->resolve_add(r, "exec-test", abs, path) < 0)
		return NR_RESOLVE_ERROR;
	return NR_RESOLVE_CLAIMED;
}

static const char *const exec_test_config[] = {SKIP_KEY, ERROR_KEY,
						     "runner.exectest.clear_env", NULL};

static const nr_kind exec_test_kind = {
	.name = "exec-test",
	.summary = "Runs a program as a test: 0 passes, 77 skips, 99 errors",
	.run = exec_test_run,
	.config_used = exec_test_config,
	.resolve = exec_test_resolve,
};

static const nr_kind *const kinds[] = {&exec_test_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "exec-test",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
