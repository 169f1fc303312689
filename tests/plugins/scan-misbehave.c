/* Plugins that misbehave while being loaded, one per build (-DHOW=...):
 *   1 crash-entry  - SIGSEGV in nr_plugin_entry();
 *   2 crash-init   - SIGSEGV in init();
 *   3 exit-ctor    - exit(0) in a constructor, before any entry is called;
 *   4 exit-entry   - exit(0) in nr_plugin_entry();
 *   5 abort-init   - abort() in init();
 *   6 bad-kind     - a kind name with a newline;
 *   7 bad-utf8     - a kind summary that is not UTF-8;
 *   8 hang-entry   - never returns from nr_plugin_entry().
 * nrunner must refuse each with the reason, and keep running the rest. */
#include <nrunner/plugin.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef HOW
#error "build with -DHOW=N"
#endif

static void crash(void)
{
	volatile int *volatile p = NULL;
	*p = 1;
}

static int run(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static int init(const nr_host *h, char *err, size_t errlen)
{
	(void)h, (void)err, (void)errlen;
	if (HOW == 2)
		crash();
	if (HOW == 5)
		abort();
	return 0;
}

#if HOW == 3
__attribute__((constructor)) static void ctor(void)
{
	exit(0);
}
#endif

static const nr_kind kind = {
	.name = HOW == 6 ? "bad\nkind" : HOW == 1 ? "crash-entry"
		: HOW == 2 ? "crash-init" : HOW == 3 ? "exit-ctor"
		: HOW == 4 ? "exit-entry" : HOW == 5 ? "abort-init"
		: HOW == 8 ? "hang-entry" : "bad-utf8",
	.summary = HOW == 7 ? "caf\xe9 \xff" : "Misbehaves while loading",
	.run = run,
};
static const nr_kind *const kinds[] = {&kind, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "scan-misbehave",
	.version = "1",
	.kinds = kinds,
	.init = init,
};

const nr_plugin *nr_plugin_entry(void)
{
	if (HOW == 1)
		crash();
	if (HOW == 4)
		exit(0);
	while (HOW == 8)
		pause();
	return &plugin;
}
