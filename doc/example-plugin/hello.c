/*
 * hello.c - an out-of-tree nrunner plugin that provides the kind "hello".
 *
 * It greets the runnable's uri (or "world" when there is none) with a
 * "running" log message, then finishes "pass".  Keyword arguments:
 *
 *   greeting=TEXT   the word to greet with (default "Hello")
 *   fail=yes        finish "fail" instead, with a fail_reason
 *
 * It is built against the installed header alone:
 *
 *   cc -shared -fPIC $(pkg-config --cflags nrunner) \
 *      -Wl,--version-script=hello.map -o hello.so hello.c
 *
 * See nrunner-plugin(7) for a walk-through.
 */
#include <nrunner/plugin.h>

#include <string.h>

/* The kwarg `key` as a string: dflt when absent or null, NULL when it
 * has another type (key=json:... on the command line). */
static const char *kwarg(const nr_host *host, nr_task *task,
			 const char *key, const char *dflt)
{
	const nr_value *v = host->get(host->kwargs(task), key);
	switch (host->type(v)) {
	case NR_TYPE_ABSENT:
	case NR_TYPE_NULL:
		return dflt;
	case NR_TYPE_STRING:
		return host->string(v);
	default:
		return NULL;
	}
}

static int hello_run(const nr_host *host, nr_task *task)
{
	const char *name = host->uri(task) ? host->uri(task) : "world";
	const char *greeting = kwarg(host, task, "greeting", "Hello");
	const char *fail = kwarg(host, task, "fail", "no");
	const char *why = NULL;

	/* Bad input is the runnable's fault: say so in the result. */
	if (!greeting)
		why = "kwarg \"greeting\" must be a string";
	else if (!fail)
		why = "kwarg \"fail\" must be a string";
	if (why)
		return host->finish(task, NR_RESULT_ERROR, why);

	/* A "running" message with "type":"log".  -1 means the core has
	 * gone: there is nobody left to report to. */
	if (host->log(task, "%s, %s!", greeting, name) < 0)
		return -1;

	/* Asked to stop (Ctrl-C, timeout): stop, and say so. */
	if (host->interrupted(task)) {
		why = "interrupted before it was done";
		return host->finish(task, NR_RESULT_INTERRUPTED, why);
	}

	/* Exactly one "finished" message, with a field of our own. */
	nr_msg *m = host->msg_new(task, "finished");
	if (!strcmp(fail, "yes")) {
		why = "asked to fail (kwarg fail=yes)";
		host->msg_string(m, "result", NR_RESULT_FAIL);
		host->msg_string(m, "fail_reason", why);
	} else {
		host->msg_string(m, "result", NR_RESULT_PASS);
	}
	host->msg_string(m, "greeted", name);
	return host->msg_emit(m);
}

static const nr_kind hello_kind = {
	.name = "hello",
	.summary = "Greets the uri (or the world) and passes",
	.run = hello_run,
	.config_used = NULL, /* it reads no config keys */
};

static const nr_kind *const kinds[] = {&hello_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI, /* abi_major and abi_minor, always first */
	.name = "hello",
	.version = "1.0",
	.kinds = kinds,
	.init = NULL, /* nothing to check before running */
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
