/* A flow's environment (nrunner-flow(5), "ENVIRONMENT"): shared, against
 * an app already running at a base URL; or isolated, with a fresh
 * database and a fresh app process on a free port for this flow alone.
 *
 * It is described once per suite in nrunner-env.json beside the flows,
 * may be overridden by a flow's "environment" object, and by the
 * runnable's kwargs (environment=shared|isolated, keep=..., base_url=...). */
#ifndef NR_FLOW_ENV_H
#define NR_FLOW_ENV_H

#include "flow.h"

#include <cjson/cJSON.h>
#include <nrunner/plugin.h>

#define ENV_FILE "nrunner-env.json"

typedef struct env_spec {
	int isolated;
	char *dir;        /* where relative paths start: the env file's dir */
	char *source;     /* the file that described it, for messages */
	cJSON *app;       /* {command, cwd, env, preload} */
	cJSON *ready;     /* {path, status, timeout_s} */
	cJSON *provision; /* {kind, uri, kwargs} */
	char *keep;       /* never | on-failure | always */
	cJSON *client;    /* the defaults of every client: {connection,
			   * headers, timeout_s}, or NULL */
	char *client_source; /* the file that gave them */
	int stop_grace_ms; /* app.stop: -1 kill at once (unless kept), else
			    * SIGTERM and this long before SIGKILL */
} env_spec;

/* What the environment file of the flow file at `path` holds, read once:
 * {"dir": where relative paths start, "file": the file when there is one,
 * "suite": its object (absent when it is not a JSON object)}. */
cJSON *env_source(const char *path);
/* The environment of the flow file at `path`: `source` (env_source()),
 * then the flow's own "environment", then the kwargs (may be NULL).  On
 * error returns -1 with one line naming the file and key. */
int env_load(const cJSON *source, const char *path, const cJSON *flow_env,
	     const char *kw_mode, const char *kw_keep, env_spec *e, char *err,
	     size_t errlen);
void env_free(env_spec *e);

/* A runnable's flow and environment, for job_begin and run(): from its
 * kwargs "flow" (what the resolve step made of the file, its includes and
 * its environment file: no file is read), else from the flow file `uri`.
 * The kwargs then decide: base_url (the app is already there: shared),
 * environment=shared|isolated, keep=...  -1 with one line in err.
 * The config key run.environment_file (nrunner run --environment FILE)
 * names the environment file instead of the one found from the flow.
 */
#define ENV_FILE_CONFIG "run.environment_file"
int env_flow_of(const nr_host *h, const char *uri, const nr_value *kwargs,
		const nr_value *config, flow **f, env_spec *e, char *err, size_t errlen);

/* What a running environment gives the flow. */
typedef struct env_run {
	char base_url[128];
	char db_name[64];
	int port;
	long app_pid;
	long app_pid_seen;   /* the last app process, for the record */
	int port_claim;      /* holds the port against other flows */
	char *log_path;
	int log_is_temp;
	void *db;            /* nrpg_db */
	void *opts;          /* nrpg_opts */
	int db_from_pool;    /* a clone made ahead by the job's pool */
	double provision_ms, app_start_ms, teardown_ms;
} env_run;

/* Provisions the database and starts the app until it is ready.  On
 * failure everything started is torn down and err says why (with the
 * app's last log lines when it died). */
int env_up(const nr_host *h, nr_task *t, const env_spec *e, const char *flow_name,
	   env_run *r, char *err, size_t errlen);
/* Stops the app's process, drops or keeps the database; says in note
 * what it kept. */
void env_down(const nr_host *h, nr_task *t, const env_spec *e, env_run *r,
	      int failed, char *note, size_t notelen);

/* For job_begin: the provisioning options of an environment. */
int env_pg_opts(const env_spec *e, const char *flow_name, void *opts, char *err,
		size_t errlen);

/* The plugin's job_begin: the private server when an isolated flow needs
 * it, every template built and every app preloader listening before the
 * flows fork. */
int env_job_begin(const nr_host *h, const nr_value *runnables, char *err,
		  size_t errlen);
/* The plugin's job_end: stops the preloaders and what job_begin started
 * for the databases. */
void env_job_end(const nr_host *h);

#endif
