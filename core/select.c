/* Which of the runnables that `nrunner run` found it runs: --filter,
 * --tag, then --shard's share. */
#include "config.h"

#include "select.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Tags live in a runnable's config, as "tags": ["fast", "db"]. */
static int has_tag(const nrc_runnable *r, const char *tag, size_t len)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(r->config, "tags");
	const cJSON *t;
	cJSON_ArrayForEach(t, tags)
		if (cJSON_IsString(t) && strlen(t->valuestring) == len &&
		    !strncmp(t->valuestring, tag, len))
			return 1;
	return 0;
}

/* One --tag expression: "a,b" needs both, "-a" excludes a. */
static int tags_match(const nrc_runnable *r, const char *expr)
{
	const char *p = expr;
	while (*p) {
		size_t len = strcspn(p, ",");
		int neg = *p == '-';
		if (len - (size_t)neg > 0 &&
		    has_tag(r, p + neg, len - (size_t)neg) == neg)
			return 0;
		p += len;
		if (*p == ',')
			p++;
	}
	return 1;
}

static int selected(const nrc_runnable *r, const char **filters, size_t nf,
		    const char **tags, size_t nt)
{
	int ok = nf == 0;
	for (size_t i = 0; i < nf && !ok; i++)
		ok = strstr(nrc_runnable_identifier(r), filters[i]) != NULL;
	if (!ok)
		return 0;
	ok = nt == 0;
	for (size_t i = 0; i < nt && !ok; i++)
		ok = tags_match(r, tags[i]);
	return ok;
}

/* Keeps this shard's share of the selection (numbered 1..n in indexes),
 * and tells the engine that nrunner shards. */
static int take_shard(const nrc_shard *shard, const char *balance,
		      nrc_runnable_list *sel, size_t *indexes, char *err, size_t errlen)
{
	if (!shard->n)
		return 0;
	const char **ids = nrc_xcalloc(sel->n + 1, sizeof *ids);
	unsigned char *take = nrc_xcalloc(sel->n + 1, 1);
	for (size_t i = 0; i < sel->n; i++)
		ids[i] = nrc_runnable_identifier(sel->items[i]);
	int rc = nrc_shard_assign(shard, ids, sel->n, balance, take, err, errlen);
	if (rc == 0 && (rc = nrc_shard_ack(shard, err, errlen)) == 0) {
		size_t kept = 0;
		for (size_t i = 0; i < sel->n; i++) {
			if (!take[i]) {
				nrc_runnable_free(sel->items[i]);
				continue;
			}
			indexes[kept] = indexes[i];
			sel->items[kept++] = sel->items[i];
		}
		sel->n = kept;
	}
	free(ids);
	free(take);
	return rc;
}

int nrc_select(nrc_runnable_list *all, const nrc_select_opts *o, nrc_runnable_list *sel,
	       size_t **indexes, char *err, size_t errlen)
{
	/* Select, number in input order, then take this shard's share: the
	 * shards of one input are disjoint and together are the whole. */
	size_t *ix = nrc_xcalloc(all->n + 1, sizeof *ix);
	sel->items = nrc_xcalloc(all->n + 1, sizeof *sel->items);
	sel->n = 0;
	for (size_t i = 0; i < all->n; i++) {
		nrc_runnable *r = all->items[i];
		all->items[i] = NULL;
		if (!selected(r, o->filters, o->nf, o->tags, o->nt)) {
			nrc_runnable_free(r);
			continue;
		}
		ix[sel->n] = sel->n + 1;
		sel->items[sel->n++] = r;
	}
	*indexes = ix;
	return take_shard(o->shard, o->balance, sel, ix, err, errlen);
}
