/* tap: runs a program that speaks TAP (the Test Anything Protocol) and
 * judges its stream as Avocado's tap runner does: any "not ok" outside a
 * TODO fails; a plan of nothing but skips ("1..0", or every test SKIP) is
 * skip; "Bail out!", a test number out of order, or a count that
 * disagrees with the plan is error; a TODO test that passes is warn.  A
 * stream with neither a plan nor a test line is not TAP: error, quoting
 * its first line.  The program's exit status is reported, not judged. */
#include "config.h"

#include "common/spawn.h"

#include <errno.h>
#include <stdarg.h>
#include <nrunner/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct tap_state {
	const char *result; /* NULL until something decides */
	char reason[512];
	int done;           /* a decisive event: the rest is not read */
	int plan, planned, tests, version, saw_tap, in_yaml, after_test;
	int lineno;
	char first[160];    /* the first non-empty line, for "not TAP" */
} tap_state;

static void decide(tap_state *s, const char *result, const char *fmt, ...)
	NR_PRINTF(3, 4);
static void decide(tap_state *s, const char *result, const char *fmt, ...)
{
	s->result = result;
	s->done = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof s->reason, fmt, ap);
	va_end(ap);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* "# SKIP why" or "# TODO why" after a test or a plan: 'S', 'T' or 0. */
static int directive(const char *p, const char **why)
{
	const char *hash = strchr(p, '#');
	while (hash && hash > p && hash[-1] == '\\')
		hash = strchr(hash + 1, '#');
	if (!hash)
		return 0;
	const char *d = skip_ws(hash + 1);
	int kind = !strncasecmp(d, "skip", 4) ? 'S' : !strncasecmp(d, "todo", 4) ? 'T' : 0;
	if (kind) {
		d += 4;
		while (*d && *d != ' ' && *d != '\t')
			d++;
		*why = skip_ws(d);
	}
	return kind;
}

static void test_line(tap_state *s, const char *line)
{
	int ok = strncmp(line, "not ok", 6) != 0;
	const char *p = skip_ws(line + (ok ? 2 : 6));
	s->tests++;
	int num = s->tests;
	if (*p >= '0' && *p <= '9')
		num = (int)strtol(p, (char **)&p, 10);
	if (num != s->tests) {
		decide(s, NR_RESULT_ERROR, "TAP format error: out of order test "
		       "numbers (line %d)", s->lineno);
		return;
	}
	const char *why = "";
	int d = directive(p, &why);
	if (d == 'T') {
		if (ok)
			decide(s, NR_RESULT_WARN, "TODO test %d unexpectedly passed", num);
		return; /* "not ok # TODO": expected */
	}
	if (d == 'S' && ok) {
		if (!s->result)
			s->result = NR_RESULT_SKIP;
		return;
	}
	if (!ok) {
		decide(s, NR_RESULT_FAIL, "%s", line);
		return;
	}
	s->result = NR_RESULT_PASS;
}

static void plan_line(tap_state *s, const char *line)
{
	if (s->plan) {
		decide(s, NR_RESULT_ERROR, "TAP format error: more than one plan "
		       "(line %d)", s->lineno);
		return;
	}
	s->plan = 1;
	s->planned = atoi(line + 3);
	const char *why = "";
	int d = directive(line, &why);
	if (d == 'S' && s->planned > 0) {
		decide(s, NR_RESULT_ERROR, "TAP format error: invalid SKIP "
		       "directive for plan (line %d)", s->lineno);
		return;
	}
	if ((s->planned == 0 || d == 'S') && !s->result)
		s->result = NR_RESULT_SKIP;
}

/* One line of the stream, without its newline. */
static void tap_line(tap_state *s, char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		line[--n] = '\0';
	s->lineno++;
	if (!s->first[0] && n)
		snprintf(s->first, sizeof s->first, "%s", line);
	/* Subtests are indented; their parent line sums them up. */
	if (!strncmp(line, "    ", 4))
		return;
	if (s->in_yaml) {
		if (!strcmp(skip_ws(line), "..."))
			s->in_yaml = 0;
		return;
	}
	int after_test = s->after_test;
	s->after_test = 0;
	if (after_test && s->version >= 13 && !strncmp(skip_ws(line), "---", 3) &&
	    line[0] == ' ') {
		s->in_yaml = 1;
		return;
	}
	if (line[0] == '#' || !n)
		return;
	if (!strncmp(line, "ok", 2) || !strncmp(line, "not ok", 6)) {
		s->saw_tap = 1;
		test_line(s, line);
		s->after_test = 1;
	} else if (!strncmp(line, "1..", 3) && line[3] >= '0' && line[3] <= '9') {
		s->saw_tap = 1;
		plan_line(s, line);
	} else if (!strncmp(line, "Bail out!", 9)) {
		s->saw_tap = 1;
		decide(s, NR_RESULT_ERROR, "%s", line);
	} else if (!strncmp(line, "TAP version ", 12) && s->lineno == 1) {
		s->version = atoi(line + 12);
	}
	/* Any other line is TAP's "unknown" line, which a parser ignores. */
}

static void tap_end(tap_state *s)
{
	if (s->done)
		return;
	if (!s->saw_tap) {
		if (s->first[0])
			decide(s, NR_RESULT_ERROR, "not TAP: no plan and no test "
			       "line; the output begins \"%s\"", s->first);
		else
			decide(s, NR_RESULT_ERROR, "not TAP: the program wrote "
			       "nothing on its standard output");
	} else if (s->plan && s->tests != s->planned) {
		decide(s, NR_RESULT_ERROR, "TAP format error: too %s tests run "
		       "(expected %d, got %d)",
		       s->tests < s->planned ? "few" : "many", s->planned, s->tests);
	} else if (!s->result) {
		decide(s, NR_RESULT_ERROR, "no test passed, failed or was skipped");
	}
}

/* Copies the program's stdout to the task's and judges it line by line. */
static void read_stream(int fd, tap_state *s)
{
	char buf[65536];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r < 0 && errno == EINTR)
			continue; /* SIGTERM: the program gets it too, and ends */
		if (r <= 0)
			break;
		(void)!write(STDOUT_FILENO, buf + len, (size_t)r);
		len += (size_t)r;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
			*nl = '\0';
			if (!s->done)
				tap_line(s, start);
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof buf - 1) { /* a line longer than the buffer */
			buf[len] = '\0';
			if (!s->done)
				tap_line(s, buf);
			len = 0;
		}
	}
	if (len) {
		buf[len] = '\0';
		if (!s->done)
			tap_line(s, buf);
	}
}

static int tap_run(const nr_host *h, nr_task *t)
{
	int p[2];
	if (pipe(p) < 0)
		return h->finish(t, NR_RESULT_ERROR, "cannot create a pipe");
	nrp_spawn_result res;
	pid_t pid;
	int started = nrp_spawn_start(h, t, p[1], &pid, &res) == 0;
	close(p[1]);
	int rc;
	if (!started) {
		close(p[0]);
		nrp_spawn_finish_unstarted(h, t, &res, &rc);
		return rc;
	}
	tap_state s = {0};
	read_stream(p[0], &s);
	close(p[0]);
	nrp_spawn_wait(h, t, pid, &res);
	tap_end(&s);
	const char *result = s.result;
	if (res.interrupted) {
		result = NR_RESULT_INTERRUPTED;
		snprintf(s.reason, sizeof s.reason, "interrupted while the test ran");
	}
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", result);
	if (s.reason[0])
		h->msg_string(m, "fail_reason", s.reason);
	nrp_spawn_msg_status(h, m, &res);
	return h->msg_emit(m);
}

static const nr_kind tap_kind = {
	.name = "tap",
	.summary = "Runs a program that writes TAP and judges the stream",
	.run = tap_run,
};

static const nr_kind *const kinds[] = {&tap_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "tap",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
