/* Resolving `nrunner run` targets into runnables: recipe files, paths a
 * kind claims (nr_kind.resolve, ABI 1.1), and directories searched for
 * both. */
#ifndef NR_RESOLVE_H
#define NR_RESOLVE_H

#include "registry.h"
#include "runnable.h"

struct nr_resolver {
	const char *path;       /* the path being resolved */
	const char *kind;       /* the kind asked */
	nrc_runnable_list *out;
	size_t added;
	char *error;            /* the first error, one line */
};

/* The host functions behind host->resolve_add and host->resolve_error. */
int nrc_resolver_add(nr_resolver *r, const char *kind, const char *uri,
		    const char *identifier);
int nrc_resolver_add_json(nr_resolver *r, const char *recipe_json);
void nrc_resolver_error(nr_resolver *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends the runnables of every target, in order (a directory's files in
 * name order).  On the first bad target returns -1 with one line in err
 * that names the file (and field); nothing is appended then. */
int nrc_resolve_targets(nrc_registry *reg, char *const *targets, size_t n,
		       nrc_runnable_list *out, char *err, size_t errlen);

#endif
