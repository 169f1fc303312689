/* Which of the runnables that `nrunner run` found it runs (nrunner(1),
 * --filter, --tag, --shard, --balance). */
#ifndef NRC_SELECT_H
#define NRC_SELECT_H

#include "runnable.h"
#include "shard.h"

#include <stddef.h>

typedef struct nrc_select_opts {
	const char **filters; /* any of them in the identifier */
	size_t nf;
	const char **tags;    /* any of these expressions ("a,b", "-a") */
	size_t nt;
	const nrc_shard *shard; /* no shards when shard->n is 0 */
	const char *balance;  /* a results.json to cut shards by, or NULL */
} nrc_select_opts;

/* Moves the selected runnables of `all` into `sel` (the others are
 * freed), numbered 1.. in input order in *indexes (the caller frees it),
 * then keeps this shard's share.  -1 with one line in err. */
int nrc_select(nrc_runnable_list *all, const nrc_select_opts *o, nrc_runnable_list *sel,
	       size_t **indexes, char *err, size_t errlen);

#endif
