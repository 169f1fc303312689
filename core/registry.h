/* The kind registry: which plugin provides each kind.  The first plugin in
 * search-path order wins a kind; a later one is reported as shadowed. */
#ifndef NR_REGISTRY_H
#define NR_REGISTRY_H

#include "jobhooks.h"
#include "loader.h"
#include "runnable.h"

#include <cjson/cJSON.h>
#include <stdio.h>

typedef struct nrc_registry nrc_registry;

nrc_registry *nrc_registry_new(void);
void nrc_registry_free(nrc_registry *reg);

/* Describes, opens and initialises every plugin (for listings). */
void nrc_registry_load_all(nrc_registry *reg);

/* Finds the plugin for one kind, opening only that plugin when the cache
 * knows the others.  On failure returns NULL with a one-line reason. */
const nr_kind *nrc_registry_find(nrc_registry *reg, const char *kind,
				const nrc_plugin_rec **plugin, char *err,
				size_t errlen);

/* Whether a usable plugin declares the kind, from the kind cache when it
 * is fresh, opening no plugin (so that its libraries are not mapped into
 * nrunner for nothing).  On failure returns 0 with nrc_registry_find's
 * reason. */
int nrc_registry_knows(nrc_registry *reg, const char *kind, char *err,
		      size_t errlen);

/* Asks each kind that can claim paths (nr_kind.resolve, plugins of ABI
 * minor >= 1), in registry order, whether `path` is one of its tests.
 * Returns NR_RESOLVE_CLAIMED, NR_RESOLVE_NOT_MINE or NR_RESOLVE_ERROR; the
 * resolver collects the runnables. */
struct nr_resolver;
int nrc_registry_claim(nrc_registry *reg, const char *path,
		      struct nr_resolver *r);

/* The job hooks of ABI 1.2, in a job helper (core/jobhooks.h): job_begin
 * of every plugin whose kinds the runnables use (all kinds must be known),
 * in search-path order.  Returns NR_SETUP_OK, or NR_SETUP_FAILED or
 * NR_SETUP_INTERRUPTED (a signal, the limits' timeout) with one line in
 * err; then the plugins already begun have been ended.  job_end ends them
 * all, in reverse order; -1 with one line in err when a hook crashed. */
int nrc_registry_job_begin(nrc_registry *reg, nrc_runnable *const *items,
			  size_t n, const nrc_setup_limits *limits, char *err,
			  size_t errlen);
int nrc_registry_job_end(nrc_registry *reg, char *err, size_t errlen);

/* `nrunner clean`: every plugin's clean entry.  Returns how many things
 * were found in all, or -1 if one failed (its reason printed). */
int nrc_registry_clean(nrc_registry *reg, const cJSON *kwargs, int dry_run);

/* --list-kinds, as a table or as JSON. */
void nrc_registry_print_table(nrc_registry *reg, FILE *out);
cJSON *nrc_registry_to_json(nrc_registry *reg);
/* The names of all kinds and the union of their config keys; with
 * `only`, of that one kind (none if it is not known). */
cJSON *nrc_registry_kind_names(nrc_registry *reg, const char *only);
cJSON *nrc_registry_config_used(nrc_registry *reg, const char *only);

#endif
