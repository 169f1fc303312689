/* Kinds that break their contract in the ways a real plugin can:
 *   crash      - dereferences NULL in run();
 *   no-finish  - returns without a finished message;
 *   exit-early - calls exit() in the middle of run();
 *   hang       - never returns (until the task is interrupted);
 *   noop       - the same kind as the real noop plugin, to be shadowed. */
#include <nrunner/plugin.h>
#include <stdlib.h>
#include <unistd.h>

static int crash(const nr_host *h, nr_task *t)
{
	h->log(t, "about to crash");
	volatile int *volatile p = NULL;
	*p = 1;
	return 0;
}

static int no_finish(const nr_host *h, nr_task *t)
{
	h->log(t, "returning without a result");
	return 0;
}

static int exit_early(const nr_host *h, nr_task *t)
{
	(void)h, (void)t;
	_exit(0);
}

static int hang(const nr_host *h, nr_task *t)
{
	h->log(t, "hanging");
	while (!h->interrupted(t))
		pause();
	return h->finish(t, NR_RESULT_INTERRUPTED, "stopped as asked");
}

static int fake_noop(const nr_host *h, nr_task *t)
{
	return h->finish(t, NR_RESULT_FAIL, "the shadowed noop ran");
}

static const nr_kind k_crash = {.name = "crash", .summary = "Crashes", .run = crash};
static const nr_kind k_nofin = {.name = "no-finish", .summary = "Returns without a result", .run = no_finish};
static const nr_kind k_exit = {.name = "exit-early", .summary = "Exits in run()", .run = exit_early};
static const nr_kind k_hang = {.name = "hang", .summary = "Hangs until interrupted", .run = hang};
static const nr_kind k_noop = {.name = "noop", .summary = "A second noop", .run = fake_noop};
static const nr_kind *const kinds[] = {&k_crash, &k_nofin, &k_exit, &k_hang, &k_noop, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "misbehave",
	.version = "1",
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
