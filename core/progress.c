#include "config.h"

#include "progress.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 500

struct nrc_progress {
	FILE *out;
	int tty, color;
	nrc_show show;
	size_t total, done, running;
	size_t pass, fail, error, skip, flaky, other;
	long long t0, last_draw;
	int line_drawn;
};

static const char *paint(const nrc_progress *p, const char *result)
{
	if (!p->color)
		return "";
	if (!strcmp(result, NR_RESULT_PASS))
		return "\033[32m";
	if (!strcmp(result, NR_RESULT_FAIL) || !strcmp(result, NR_RESULT_ERROR))
		return "\033[31;1m";
	if (!strcmp(result, NR_RESULT_INTERRUPTED))
		return "\033[35m";
	return "\033[33m";
}

static const char *reset(const nrc_progress *p) { return p->color ? "\033[0m" : ""; }

nrc_progress *nrc_progress_new(FILE *out, int tty, int color, nrc_show show)
{
	nrc_progress *p = nrc_xcalloc(1, sizeof *p);
	p->out = out;
	p->tty = tty;
	p->color = color;
	p->show = show;
	return p;
}

void nrc_progress_free(nrc_progress *p) { free(p); }

static void clear_line(nrc_progress *p)
{
	if (p->line_drawn) {
		fputs("\r\033[K", p->out);
		p->line_drawn = 0;
	}
}

static void draw(nrc_progress *p)
{
	if (!p->tty || p->show == NR_SHOW_NONE)
		return;
	double el = (double)(nrc_monotonic_ms() - p->t0) / 1000.0;
	fprintf(p->out, "\r\033[K[%zu/%zu] %s%zu passed%s, %s%zu failed%s, "
		"%zu skipped, %zu running, %.1f s",
		p->done, p->total, p->pass ? paint(p, "pass") : "", p->pass,
		reset(p), p->fail + p->error ? paint(p, "fail") : "",
		p->fail + p->error, reset(p), p->skip, p->running, el);
	fflush(p->out);
	p->line_drawn = 1;
	p->last_draw = nrc_monotonic_ms();
}

void nrc_progress_begin(nrc_progress *p, const nrc_job *job)
{
	p->total = job->n;
	p->t0 = nrc_monotonic_ms();
	if (p->show != NR_SHOW_NONE) {
		fprintf(p->out, "JOB ID     : %s\nJOB LOG    : %s\n", job->id,
			job->dir);
		if (job->opts.shuffled)
			fprintf(p->out, "SHUFFLE    : seed %llu (repeat with "
				"--shuffle=%llu)\n", job->opts.seed, job->opts.seed);
		fprintf(p->out, "TASKS      : %zu, %d at a time\n", job->n,
			job->opts.jobs);
	}
	draw(p);
}

void nrc_progress_started(nrc_progress *p, const nrc_job_task *t)
{
	(void)t;
	p->running++;
}

void nrc_progress_finished(nrc_progress *p, const nrc_job_task *t)
{
	if (t->was_running)
		p->running--;
	p->done++;
	const char *r = t->result;
	if (!strcmp(r, NR_RESULT_PASS))
		p->pass++;
	else if (!strcmp(r, NR_RESULT_FAIL))
		p->fail++;
	else if (!strcmp(r, NR_RESULT_ERROR))
		p->error++;
	else if (!strcmp(r, NR_RESULT_SKIP))
		p->skip++;
	else if (!strcmp(r, NR_RESULT_FLAKY))
		p->flaky++;
	else
		p->other++;
	int bad = strcmp(r, NR_RESULT_PASS) && strcmp(r, NR_RESULT_SKIP) &&
		  strcmp(r, NR_RESULT_WARN) && strcmp(r, NR_RESULT_FLAKY);
	if (p->show == NR_SHOW_ALL || (p->show == NR_SHOW_FAILURES && bad)) {
		clear_line(p);
		char tag[16];
		size_t i = 0;
		for (; r[i] && i < sizeof tag - 1; i++)
			tag[i] = (char)(r[i] >= 'a' && r[i] <= 'z' ? r[i] - 32 : r[i]);
		tag[i] = '\0';
		/* Names and reasons come from recipes and kinds: shown with
		 * their control characters escaped (nrc_fputs_safe). */
		fprintf(p->out, "%s%-11s%s ", paint(p, r), tag, reset(p));
		nrc_fputs_safe(p->out, t->id, NULL);
		fprintf(p->out, " (%.3f s)", t->duration);
		if (bad && t->fail_reason) {
			fputs(": ", p->out);
			nrc_fputs_safe(p->out, t->fail_reason, "    ");
		}
		if (t->attempts > 1)
			fprintf(p->out, " [try %d]", t->attempts);
		fputc('\n', p->out);
	}
	/* On a terminal, redraw at most every 50 ms: a thousand quick tasks
	 * must not cost a thousand screen updates. */
	if (p->tty && (bad || nrc_monotonic_ms() - p->last_draw >= 50 ||
		       p->done == p->total))
		draw(p);
}

void nrc_progress_retry(nrc_progress *p, const nrc_job_task *t)
{
	p->running--;
	if (p->show == NR_SHOW_NONE)
		return;
	clear_line(p);
	fprintf(p->out, "%s%-11s%s ", paint(p, t->result), "RETRY", reset(p));
	nrc_fputs_safe(p->out, t->id, NULL);
	fprintf(p->out, " (%.3f s): ", t->duration);
	nrc_fputs_safe(p->out, t->fail_reason ? t->fail_reason : t->result, "    ");
	fprintf(p->out, " [try %d, again]\n", t->attempts);
	draw(p);
}

void nrc_progress_note(nrc_progress *p, const char *msg)
{
	if (p->show == NR_SHOW_NONE)
		return;
	clear_line(p);
	fprintf(p->out, "%s\n", msg);
	draw(p);
}

void nrc_progress_error(nrc_progress *p, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	clear_line(p);
	fflush(p->out);
	nrc_error("%s", line);
	draw(p);
}

int nrc_progress_tick_ms(nrc_progress *p)
{
	if (!p->tty || p->show == NR_SHOW_NONE)
		return -1;
	long long left = p->last_draw + TICK_MS - nrc_monotonic_ms();
	return left > 0 ? (int)left : 0;
}

void nrc_progress_tick(nrc_progress *p)
{
	if (p->tty && nrc_monotonic_ms() - p->last_draw >= TICK_MS)
		draw(p);
}

int nrc_progress_summary(nrc_progress *p, const nrc_job *job,
			const char *const *files)
{
	clear_line(p);
	if (p->show == NR_SHOW_NONE)
		return 0;
	size_t counts[8] = {0};
	static const char *const names[8] = {
		NR_RESULT_PASS, NR_RESULT_FAIL, NR_RESULT_ERROR, NR_RESULT_SKIP,
		NR_RESULT_WARN, NR_RESULT_INTERRUPTED, NR_RESULT_CANCEL,
		NR_RESULT_FLAKY};
	size_t nbad = 0;
	for (size_t i = 0; i < job->n; i++) {
		const char *r = job->tasks[i].result;
		for (int k = 0; k < 8; k++)
			if (r && !strcmp(r, names[k]))
				counts[k]++;
		if (r && strcmp(r, NR_RESULT_PASS) && strcmp(r, NR_RESULT_SKIP) &&
		    strcmp(r, NR_RESULT_WARN) && strcmp(r, NR_RESULT_CANCEL) &&
		    strcmp(r, NR_RESULT_FLAKY))
			nbad++;
	}
	if (nbad) {
		fprintf(p->out, "\nFailures:\n");
		for (size_t i = 0; i < job->n; i++) {
			const nrc_job_task *t = &job->tasks[i];
			const char *r = t->result;
			if (!r || !strcmp(r, NR_RESULT_PASS) || !strcmp(r, NR_RESULT_SKIP) ||
			    !strcmp(r, NR_RESULT_WARN) || !strcmp(r, NR_RESULT_CANCEL) ||
			    !strcmp(r, NR_RESULT_FLAKY))
				continue;
			fprintf(p->out, "  %s%s%s ", paint(p, r), r, reset(p));
			nrc_fputs_safe(p->out, t->id, NULL);
			fputs(": ", p->out);
			nrc_fputs_safe(p->out, t->fail_reason ? t->fail_reason
							     : "(no reason given)", "    ");
			fputc('\n', p->out);
			if (t->dir) {
				fputs("      logs: ", p->out);
				nrc_fputs_safe(p->out, t->dir, NULL);
				fputc('\n', p->out);
			}
		}
	}
	/* A kind's "notice" in its finished message is for the user: a
	 * database kept for a post-mortem, say. */
	int notes = 0;
	for (size_t i = 0; i < job->n; i++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(job->tasks[i].finished, "notice");
		if (!cJSON_IsString(n))
			continue;
		if (!notes++)
			fprintf(p->out, "\nNotices:\n");
		fputs("  ", p->out);
		nrc_fputs_safe(p->out, job->tasks[i].id, NULL);
		fputs(": ", p->out);
		nrc_fputs_safe(p->out, n->valuestring, "    ");
		fputc('\n', p->out);
	}
	fprintf(p->out, "\nSUMMARY    : %zu passed, %zu failed, %zu errors, "
		"%zu skipped, %zu warned, %zu interrupted, %zu cancelled",
		counts[0], counts[1], counts[2], counts[3], counts[4], counts[5],
		counts[6]);
	/* Only with --retries, so that the line stays as it was for those
	 * who parse it. */
	if (job->opts.retries)
		fprintf(p->out, ", %zu flaky", counts[7]);
	fputc('\n', p->out);
	for (size_t i = 0; i < job->n; i++)
		if (job->tasks[i].flaky) {
			fputs("FLAKY      : ", p->out);
			nrc_fputs_safe(p->out, job->tasks[i].id, NULL);
			fprintf(p->out, " passed on try %d\n", job->tasks[i].attempts);
		}
	if (job->interrupt_reason)
		fprintf(p->out, "INTERRUPTED: %s\n", job->interrupt_reason);
	for (size_t i = 0; files && files[i]; i += 2) {
		fprintf(p->out, "%-11s: ", files[i]);
		nrc_fputs_safe(p->out, files[i + 1] ? files[i + 1]
						    : "(not written: see the error above)", NULL);
		fputc('\n', p->out);
	}
	fprintf(p->out, "JOB TIME   : %.2f s (%zu tasks, %d at a time)", job->duration,
		job->n, job->opts.jobs);
	if (job->setup_duration >= 0.01)
		fprintf(p->out, ", after %.2f s of setup (servers, templates)",
			job->setup_duration);
	fputc('\n', p->out);
	/* A full disk or a closed pipe for stdout must not pass unsaid. */
	int e = fflush(p->out) ? errno : 0;
	if (!e && !ferror(p->out))
		return 0;
	nrc_error("standard output: cannot write the job's progress and "
		 "summary%s%s", e ? ": " : "", e ? strerror(e) : "");
	return -1;
}
