/* Kinds that break the status contract (DESIGN.md, "Status messages"),
 * through the host's functions or by writing to the message pipe behind
 * its back, as a plugin can:
 *   banana          - finishes with "result": "banana";
 *   result-number   - finishes with "result": 42;
 *   no-result       - finishes without a result;
 *   status-unknown  - sends "status": "bogus", then passes;
 *   type-unknown    - sends a running message of "type": "banana";
 *   second-started  - sends "started" again, then passes;
 *   after-finished  - passes, then writes a running message;
 *   finish-twice    - passes, then fails, through the host;
 *   not-json        - writes a line that is not JSON, then passes;
 *   cut-short       - passes, then writes half a message and exits;
 *   orphan-group    - starts a process in a group of its own, registers
 *                     the group, and passes, leaving it running. */
#include <fcntl.h>
#include <nrunner/plugin.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int banana(const nr_host *h, nr_task *t)
{
	return h->finish(t, "banana", "peeled");
}

static int result_number(const nr_host *h, nr_task *t)
{
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_json(m, "result", "42");
	return h->msg_emit(m);
}

static int no_result(const nr_host *h, nr_task *t)
{
	return h->msg_emit(h->msg_new(t, "finished"));
}

static int status_unknown(const nr_host *h, nr_task *t)
{
	h->msg_emit(h->msg_new(t, "bogus"));
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static int type_unknown(const nr_host *h, nr_task *t)
{
	nr_msg *m = h->msg_new(t, "running");
	h->msg_string(m, "type", "banana");
	h->msg_emit(m);
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static int second_started(const nr_host *h, nr_task *t)
{
	h->msg_emit(h->msg_new(t, "started"));
	return h->finish(t, NR_RESULT_PASS, NULL);
}

/* The message pipe: the only write-only FIFO above stderr. */
static int message_fd(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY && fstat(fd, &st) == 0 &&
		    S_ISFIFO(st.st_mode))
			return fd;
	}
	return -1;
}

static void raw(const char *line)
{
	(void)!write(message_fd(), line, strlen(line));
}

static int after_finished(const nr_host *h, nr_task *t)
{
	h->finish(t, NR_RESULT_PASS, NULL);
	raw("{\"status\":\"running\",\"type\":\"log\",\"log\":\"late\",\"time\":1}\n");
	return 0;
}

static int finish_twice(const nr_host *h, nr_task *t)
{
	h->finish(t, NR_RESULT_PASS, NULL);
	return h->finish(t, NR_RESULT_FAIL, "changed its mind");
}

static int not_json(const nr_host *h, nr_task *t)
{
	raw("this is not JSON\n");
	return h->finish(t, NR_RESULT_PASS, NULL);
}

static int cut_short(const nr_host *h, nr_task *t)
{
	h->log(t, "about to cut a message short");
	raw("{\"status\":\"finished\",\"result\":\"pa");
	_exit(0);
}

static int orphan_group(const nr_host *h, nr_task *t)
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(pid, pid);
	h->process_group(t, (long)pid, 1);
	return h->finish(t, NR_RESULT_PASS, "left its group running");
}

#define KIND(v, n) \
	static const nr_kind k_##v = {.name = n, .summary = "Breaks the contract", .run = v}
KIND(banana, "banana");
KIND(result_number, "result-number");
KIND(no_result, "no-result");
KIND(status_unknown, "status-unknown");
KIND(type_unknown, "type-unknown");
KIND(second_started, "second-started");
KIND(after_finished, "after-finished");
KIND(finish_twice, "finish-twice");
KIND(not_json, "not-json");
KIND(cut_short, "cut-short");
KIND(orphan_group, "orphan-group");
static const nr_kind *const kinds[] = {
	&k_banana, &k_result_number, &k_no_result, &k_status_unknown,
	&k_type_unknown, &k_second_started, &k_after_finished, &k_finish_twice, &k_not_json,
	&k_cut_short, &k_orphan_group, NULL};
static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "contract",
	.version = "1",
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
