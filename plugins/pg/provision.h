/* The provision kinds' entry points, shared by their three plugins. */
#ifndef NR_PG_PROVISION_H
#define NR_PG_PROVISION_H

#include <nrunner/plugin.h>

/* run() of provision-sql, provision-migrate and provision-template: the
 * kind's name says which. */
int nr_pg_provision_run(const nr_host *h, nr_task *t);

/* The job hooks (ABI 1.2): the private server when no server is named,
 * templates built before the tasks fork, and a sweep of what killed tasks
 * left. */
int nr_pg_job_begin(const nr_host *h, const nr_value *runnables, char *err,
		    size_t errlen);
void nr_pg_job_end(const nr_host *h);
int nr_pg_clean(const nr_host *h, const nr_value *kwargs, int dry_run,
		char *err, size_t errlen);

/* A provision plugin: one kind over the shared entry points. */
#define NR_PG_PLUGIN(kind_name, kind_summary)                                \
	static const nr_kind kind_ = {                                       \
		.name = kind_name,                                           \
		.summary = kind_summary,                                     \
		.run = nr_pg_provision_run,                                  \
	};                                                                   \
	static const nr_kind *const kinds_[] = {&kind_, NULL};               \
	static const nr_plugin plugin_ = {                                   \
		NR_PLUGIN_ABI,                                               \
		.name = kind_name,                                           \
		.version = PACKAGE_VERSION,                                  \
		.kinds = kinds_,                                             \
		.job_begin = nr_pg_job_begin,                                \
		.job_end = nr_pg_job_end,                                    \
		.clean = nr_pg_clean,                                        \
	};                                                                   \
	const nr_plugin *nr_plugin_entry(void) { return &plugin_; }

#endif
