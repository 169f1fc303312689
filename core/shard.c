#include "config.h"

#include "shard.h"
#include "runnable.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The engines' contracts.  An engine is present when its index variable
 * is set (Bazel: its total, which is what asks a test to shard). */
typedef struct contract {
	const char *engine, *index, *total;
	int base; /* the first index: 0 or 1 */
} contract;

static const contract contracts[] = {
	{"Bazel", "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", 0},
	{"Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", "NRUNNER_SHARD_TOTAL", 0},
	{"GitLab CI", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1},
	{"CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0},
	{"Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0},
};
#define NCONTRACTS (sizeof contracts / sizeof *contracts)

static int parse_ulong(const char *s, unsigned long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 1000000)
		return -1;
	*out = v;
	return 0;
}

static int from_contract(const contract *c, nrc_shard *out, char *err,
			 size_t errlen)
{
	const char *is = getenv(c->index), *ts = getenv(c->total);
	unsigned long i, t;
	if (!ts || !*ts) {
		snprintf(err, errlen, "--shard auto: %s is set but %s is not; "
			 "%s gives the total number of shards (%s)",
			 c->index, c->total, c->total, c->engine);
		return -1;
	}
	if (!is || !*is) {
		snprintf(err, errlen, "--shard auto: %s is set but %s is not (%s)",
			 c->total, c->index, c->engine);
		return -1;
	}
	if (parse_ulong(ts, &t) < 0 || t < 1) {
		snprintf(err, errlen, "--shard auto: %s=%s: the number of shards "
			 "must be a whole number from 1 (%s)", c->total, ts,
			 c->engine);
		return -1;
	}
	if (parse_ulong(is, &i) < 0 || i < (unsigned long)c->base ||
	    i - (unsigned long)c->base >= t) {
		snprintf(err, errlen, "--shard auto: %s=%s: must be from %d to "
			 "%lu, as %s=%lu (%s)", c->index, is, c->base,
			 t - 1 + (unsigned long)c->base, c->total, t, c->engine);
		return -1;
	}
	out->k = i - (unsigned long)c->base + 1;
	out->n = t;
	out->source = c->engine;
	if (c == &contracts[0]) {
		const char *f = getenv("TEST_SHARD_STATUS_FILE");
		out->status_file = f && *f ? f : NULL;
	}
	return 0;
}

int nrc_shard_parse(const char *arg, nrc_shard *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	const char *bazel = getenv(contracts[0].total);
	if (!arg && bazel && *bazel) {
		if (from_contract(&contracts[0], out, err, errlen) < 0)
			return -1;
	} else if (!arg) {
		return 0;
	} else if (!strcmp(arg, "auto")) {
		const contract *found = NULL;
		for (size_t i = 0; i < NCONTRACTS && !found; i++) {
			const char *v = getenv(i == 0 ? contracts[i].total
						      : contracts[i].index);
			if (v && *v)
				found = &contracts[i];
		}
		if (!found) {
			size_t off = (size_t)snprintf(
				err, errlen, "--shard auto: no engine's shard "
				"variables are set; looked for");
			for (size_t i = 0; i < NCONTRACTS && off < errlen; i++)
				off += (size_t)snprintf(err + off, errlen - off,
					"%s %s/%s (%s)", i ? "," : "",
					contracts[i].index, contracts[i].total,
					contracts[i].engine);
			if (off < errlen)
				snprintf(err + off, errlen - off,
					 "; or give --shard K/N");
			return -1;
		}
		if (from_contract(found, out, err, errlen) < 0)
			return -1;
	} else {
		char extra;
		if (sscanf(arg, "%lu/%lu%c", &out->k, &out->n, &extra) != 2 ||
		    out->n < 1 || out->k < 1 || out->k > out->n) {
			snprintf(err, errlen, "--shard %s: write it as K/N with "
				 "1 <= K <= N, e.g. 2/4, or 'auto'", arg);
			return -1;
		}
		out->source = "--shard";
	}
	snprintf(out->label, sizeof out->label, "%lu/%lu", out->k, out->n);
	return 0;
}

int nrc_shard_ack(const nrc_shard *s, char *err, size_t errlen)
{
	if (!s->status_file)
		return 0;
	int fd = open(s->status_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "TEST_SHARD_STATUS_FILE=%s: cannot create: %s",
			 s->status_file, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* --- packing ----------------------------------------------------------- */

/* Durations are packed as whole microseconds: integer sums come out the
 * same on every machine, so every shard computes the same split. */
typedef struct item {
	long long us;
	size_t pos;
} item;

static int longest_first(const void *a, const void *b)
{
	const item *x = a, *y = b;
	if (x->us != y->us)
		return x->us < y->us ? 1 : -1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

static long long to_us(double s)
{
	return s > 0 && s < 1e9 ? llround(s * 1e6) : 0;
}

static void pack_us(item *items, size_t n, unsigned long shards,
		    unsigned long *bin)
{
	qsort(items, n, sizeof *items, longest_first);
	long long *load = nrc_xcalloc(shards, sizeof *load);
	for (size_t i = 0; i < n; i++) {
		unsigned long best = 0;
		for (unsigned long b = 1; b < shards; b++)
			if (load[b] < load[best])
				best = b;
		load[best] += items[i].us;
		bin[items[i].pos] = best;
	}
	free(load);
}

void nrc_shard_pack(const double *dur, size_t n, unsigned long shards,
		   unsigned long *bin)
{
	item *items = nrc_xcalloc(n + 1, sizeof *items);
	for (size_t i = 0; i < n; i++)
		items[i] = (item){to_us(dur[i]), i};
	pack_us(items, n, shards, bin);
	free(items);
}

/* A previous run's tasks: identifier, how many times it came before, and
 * the duration.  The k-th task named X in this run matches the k-th in
 * the file, so a suite that runs one recipe twice still matches. */
typedef struct known {
	const char *name;
	size_t occ;
	long long us;
} known;

static int by_name_occ(const void *a, const void *b)
{
	const known *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return (x->occ > y->occ) - (x->occ < y->occ);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* Sorts by name and numbers the occurrences of each name in input
 * order; pos receives each entry's input position. */
static void number_occurrences(known *k, size_t n, size_t *pos)
{
	for (size_t i = 0; i < n; i++)
		k[i].occ = i; /* input position: the tie-break */
	qsort(k, n, sizeof *k, by_name_occ);
	for (size_t i = 0; i < n; i++) {
		if (pos)
			pos[i] = k[i].occ;
		k[i].occ = i > 0 && !strcmp(k[i].name, k[i - 1].name)
				   ? k[i - 1].occ + 1
				   : 0;
	}
}

static const char *task_name(const cJSON *t)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "identifier");
	if (cJSON_IsString(v))
		return v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(t, "id");
	if (!cJSON_IsString(v))
		return NULL;
	/* "<index>-<identifier>" */
	const char *p = v->valuestring;
	while (*p >= '0' && *p <= '9')
		p++;
	return p > v->valuestring && *p == '-' ? p + 1 : v->valuestring;
}

int nrc_shard_assign(const nrc_shard *s, const char *const *ids, size_t n,
		    const char *balance, unsigned char *take, char *err,
		    size_t errlen)
{
	if (!s->n) {
		memset(take, 1, n);
		return 0;
	}
	if (!balance) {
		for (size_t i = 0; i < n; i++)
			take[i] = i % s->n == s->k - 1;
		return 0;
	}
	char *text = nrc_read_file(balance, NULL);
	if (!text) {
		snprintf(err, errlen, "--balance %s: cannot read: %s", balance,
			 strerror(errno));
		return -1;
	}
	cJSON *doc = nrc_json_parse(text, balance, err, errlen);
	free(text);
	if (!doc)
		return -1;
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(doc, "tasks");
	if (!cJSON_IsArray(tasks)) {
		snprintf(err, errlen, "--balance %s: \"tasks\": missing; give "
			 "the results.json of a previous run", balance);
		cJSON_Delete(doc);
		return -1;
	}
	size_t nk = 0, cap = (size_t)cJSON_GetArraySize(tasks);
	known *k = nrc_xcalloc(cap + 1, sizeof *k);
	long long *sorted = nrc_xcalloc(cap + 1, sizeof *sorted);
	const cJSON *t;
	cJSON_ArrayForEach(t, tasks)
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "duration");
		const char *name = task_name(t);
		if (!name || !cJSON_IsNumber(d))
			continue;
		k[nk].name = name;
		k[nk].us = to_us(d->valuedouble);
		sorted[nk] = k[nk].us;
		nk++;
	}
	number_occurrences(k, nk, NULL);
	qsort(sorted, nk, sizeof *sorted, cmp_ll);
	long long median = nk ? sorted[(nk - 1) / 2] : 1000000;
	if (median <= 0)
		median = 1;

	known *mine = nrc_xcalloc(n + 1, sizeof *mine);
	size_t *pos = nrc_xcalloc(n + 1, sizeof *pos);
	for (size_t i = 0; i < n; i++)
		mine[i].name = ids[i];
	number_occurrences(mine, n, pos);
	item *items = nrc_xcalloc(n + 1, sizeof *items);
	size_t unknown = 0;
	for (size_t i = 0; i < n; i++) {
		const known *hit = nk ? bsearch(&mine[i], k, nk, sizeof *k,
						by_name_occ)
				      : NULL;
		items[pos[i]].pos = pos[i];
		items[pos[i]].us = hit ? hit->us : median;
		unknown += !hit;
	}
	if (unknown)
		fprintf(stderr, "nrunner: --balance %s: %zu of %zu tests are not "
			"in it; each counts as the median, %.3f s\n", balance,
			unknown, n, (double)median / 1e6);
	unsigned long *bin = nrc_xcalloc(n + 1, sizeof *bin);
	pack_us(items, n, s->n, bin);
	for (size_t i = 0; i < n; i++)
		take[i] = bin[i] == s->k - 1;
	free(bin);
	free(pos);
	free(items);
	free(mine);
	free(k);
	free(sorted);
	cJSON_Delete(doc);
	return 0;
}
