/*
 * <nrunner/plugin.h> - the one header a runner plugin is built against.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * nr_plugin_entry().  The core calls it, reads the ABI version from the
 * first two fields of the returned descriptor, and refuses the plugin when
 * the major differs or the minor is newer than its own.  Those two fields
 * stay first in every version of this header, so any core can read them
 * from any plugin.
 *
 * Nothing from a third-party library crosses this boundary: the plugin sees
 * opaque handles (nr_task, nr_value, nr_msg) and reaches the core through
 * the nr_host table it is handed.  New minor versions only append fields at
 * the end of nr_host, nr_kind and nr_plugin, so a plugin built against an
 * older minor keeps working; a field added in minor M is read only from
 * plugins that declare minor >= M.
 */
#ifndef NRUNNER_PLUGIN_H
#define NRUNNER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NR_ABI_MAJOR 1
#define NR_ABI_MINOR 4

/* ABI history:
 *   1.0  entry symbol, descriptor, host table, kinds with run().
 *   1.1  nr_kind.resolve and host->resolve_add, resolve_add_json and
 *        resolve_error: a kind may claim paths given to `nrunner run`.
 *   1.2  nr_plugin.job_begin, job_end and clean: a plugin may set up what
 *        its tasks share (a server, a template) before they fork, tear it
 *        down after, and clean up what a crashed job left behind.
 *   1.3  host->process_group: a kind that starts a process in a group of
 *        its own (an app server) tells the core, which kills that group
 *        too when the task ends, however it ends.
 *   1.4  host->job_set and host->job_get: the job's data.  What a
 *        job_begin sets up for the tasks (a server's address, a socket's
 *        name, the job's token) is data the core keeps for the job and
 *        hands to every task's run() and to job_end; it never travels
 *        through environment variables, which every task (and everything
 *        a task starts) would inherit. */

/* The entry symbol's name, for the core's lookup and libtool's
 * -export-symbols-regex. */
#define NR_PLUGIN_ENTRY_SYMBOL "nr_plugin_entry"

#if defined(__GNUC__)
#define NR_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#define NR_EXPORT __attribute__((visibility("default")))
#else
#define NR_PRINTF(fmt, first)
#define NR_EXPORT
#endif

/* The task a kind is running: one runnable, its messages, its directory. */
typedef struct nr_task nr_task;
/* A read-only JSON value owned by the core (a runnable field, a kwarg, a
 * config entry).  Valid until the kind's run() returns. */
typedef struct nr_value nr_value;
/* A status message being built; sent and freed by msg_emit(). */
typedef struct nr_msg nr_msg;
/* Collects the runnables a kind makes of a path (ABI 1.1). */
typedef struct nr_resolver nr_resolver;

typedef enum nr_type {
	NR_TYPE_ABSENT = 0, /* a NULL handle: the key or index is not there */
	NR_TYPE_NULL,
	NR_TYPE_BOOL,
	NR_TYPE_NUMBER,
	NR_TYPE_STRING,
	NR_TYPE_ARRAY,
	NR_TYPE_OBJECT
} nr_type;

/* Results a finished message may carry (DESIGN.md, "Status messages"). */
#define NR_RESULT_PASS "pass"
#define NR_RESULT_FAIL "fail"
#define NR_RESULT_ERROR "error"
#define NR_RESULT_SKIP "skip"
#define NR_RESULT_WARN "warn"
#define NR_RESULT_CANCEL "cancel"
#define NR_RESULT_INTERRUPTED "interrupted"

typedef struct nr_host {
	uint32_t abi_major;
	uint32_t abi_minor;

	/* --- the runnable (ABI 1.0) ------------------------------------- */
	const char *(*kind)(nr_task *t);
	const char *(*uri)(nr_task *t);        /* NULL when not given */
	const char *(*identifier)(nr_task *t); /* never NULL */
	const nr_value *(*args)(nr_task *t);   /* array of strings */
	const nr_value *(*kwargs)(nr_task *t); /* object */
	const nr_value *(*config)(nr_task *t); /* object, flat dotted keys */

	/* --- reading values (ABI 1.0) ----------------------------------- */
	nr_type (*type)(const nr_value *v);
	const nr_value *(*get)(const nr_value *object, const char *key);
	size_t (*size)(const nr_value *v); /* array or object; else 0 */
	const nr_value *(*item)(const nr_value *v, size_t i);
	const char *(*key_at)(const nr_value *object, size_t i);
	const char *(*string)(const nr_value *v); /* NULL unless a string */
	double (*number)(const nr_value *v);      /* 0 unless a number */
	int (*boolean)(const nr_value *v);        /* 0 unless true */
	/* The value as compact JSON text; free it with host->free(). */
	char *(*to_json)(const nr_value *v);
	void (*free)(void *p);

	/* --- status messages (ABI 1.0) ---------------------------------- *
	 * The core sends "started" before run() and stamps every message
	 * with "time".  A kind sends any number of "running" messages and
	 * exactly one "finished" message with a "result". */
	nr_msg *(*msg_new)(nr_task *t, const char *status);
	void (*msg_string)(nr_msg *m, const char *key, const char *value);
	void (*msg_int)(nr_msg *m, const char *key, long long value);
	void (*msg_number)(nr_msg *m, const char *key, double value);
	void (*msg_bool)(nr_msg *m, const char *key, int value);
	/* Bytes as a string: UTF-8 as is, anything else as base64 with an
	 * extra "encoding":"base64" key. */
	void (*msg_bytes)(nr_msg *m, const char *key, const void *buf,
			  size_t len);
	/* A JSON text parsed into the message; returns -1 if it is invalid. */
	int (*msg_json)(nr_msg *m, const char *key, const char *json);
	/* Sends the message and frees it; returns -1 if it could not be sent
	 * (the core has gone): the kind should stop. */
	int (*msg_emit)(nr_msg *m);

	/* Shorthands over the above. */
	int (*finish)(nr_task *t, const char *result, const char *fail_reason);
	int (*log)(nr_task *t, const char *fmt, ...) NR_PRINTF(2, 3);

	/* --- the task's situation (ABI 1.0) ----------------------------- */
	/* Non-zero once the task was asked to stop (timeout, Ctrl-C): the
	 * kind should clean up and finish with NR_RESULT_INTERRUPTED.  In a
	 * job hook (t NULL): the job's set-up was stopped; job_begin should
	 * undo what it made and return an error. */
	int (*interrupted)(nr_task *t);
	/* The task's own output directory, or NULL when it has none. */
	const char *(*output_dir)(nr_task *t);

	/* --- claiming paths (ABI 1.1) ----------------------------------- */
	/* Adds a runnable of `kind` for `uri`, identified as `identifier`
	 * (NULL: by the uri).  Returns -1 on error. */
	int (*resolve_add)(nr_resolver *r, const char *kind, const char *uri,
			   const char *identifier);
	/* Adds a runnable written as a recipe object in JSON text, for one
	 * that needs args, kwargs or config (see nrunner-recipe(5)); it is
	 * checked as a recipe file is.  Returns -1 if it is not valid. */
	int (*resolve_add_json)(nr_resolver *r, const char *recipe_json);
	/* Says why a claimed path cannot be run; the job then stops before
	 * anything starts, with this line naming the path. */
	void (*resolve_error)(nr_resolver *r, const char *fmt, ...) NR_PRINTF(2, 3);

	/* --- process groups (ABI 1.3) ----------------------------------- */
	/* The task owns process group `pgid` (alive != 0), or no longer
	 * does (alive == 0: call this after killing it and before reaping
	 * its leader, so the id cannot have been reused).  When the task
	 * ends, by itself, by a timeout or by a crash, the core kills every
	 * group still owned. */
	void (*process_group)(nr_task *t, long pgid, int alive);

	/* --- the job's data (ABI 1.4) ----------------------------------- *
	 * Text values under keys of 1 to 128 bytes of [A-Za-z0-9._-], by
	 * convention prefixed with the plugin's name ("pg.conninfo").  One
	 * set per job, shared by all its plugins: a plugin's job_begin sees
	 * what the plugins begun before it stored. */
	/* In job_begin only: stores `value` (NULL: removes the key), which
	 * the job then hands to every task's run(), to later job_begin calls
	 * and to job_end.  Returns -1 outside job_begin, or for a bad key. */
	int (*job_set)(const char *key, const char *value);
	/* The value stored under `key`, or NULL.  In run(), pass the task;
	 * in job_begin, job_end and clean, pass NULL.  Valid until run() or
	 * the hook returns. */
	const char *(*job_get)(nr_task *t, const char *key);
} nr_host;

/* Runs one runnable of this kind.  The task's stdin is /dev/null and its
 * stdout and stderr are captured by the core, so a program the kind starts
 * can simply inherit them.  Returns 0, or -1 on an internal failure (the
 * core then finishes the task with "error" if the kind did not). */
typedef int (*nr_run_fn)(const nr_host *host, nr_task *task);

/* Return values of nr_kind.resolve. */
#define NR_RESOLVE_NOT_MINE 0
#define NR_RESOLVE_CLAIMED 1
#define NR_RESOLVE_ERROR (-1)

/* ABI 1.1, optional: is this path (a file given to `nrunner run`, or found
 * in a directory given to it) a test of this kind?  If so, add its
 * runnables with host->resolve_add() and return NR_RESOLVE_CLAIMED. */
typedef int (*nr_resolve_fn)(const nr_host *host, nr_resolver *r,
			     const char *path);

typedef struct nr_kind {
	const char *name;    /* e.g. "exec-test" */
	const char *summary; /* one line, for --list-kinds */
	nr_run_fn run;
	/* NULL-terminated list of the config keys the kind reads, for
	 * "nrunner capabilities" (may be NULL). */
	const char *const *config_used;

	/* ABI 1.1.  Read only from plugins that declare minor >= 1. */
	nr_resolve_fn resolve;
} nr_kind;

typedef struct nr_plugin {
	/* These two fields come first in every ABI version. */
	uint32_t abi_major;
	uint32_t abi_minor;

	const char *name;
	const char *version;
	/* NULL-terminated array of pointers, so nr_kind can grow. */
	const nr_kind *const *kinds;
	/* Optional: called once in the process that runs or lists the
	 * plugin's kinds.  Returns 0, or non-zero with a one-line reason
	 * written to err. */
	int (*init)(const nr_host *host, char *err, size_t errlen);

	/* ABI 1.2, all optional.  Read only from plugins that declare
	 * minor >= 2.
	 *
	 * The hooks run in a job helper, a child process that the core
	 * supervises: a crash there fails the job, never nrunner.
	 *
	 * job_begin: called before any task of the job starts (for `runnable-run` too, as a job of one), when the job
	 * has runnables of this plugin's kinds; `runnables` is an array of
	 * them as recipe objects.  What it sets up (environment variables
	 * included) is inherited by the tasks.  Returns 0, or non-zero with
	 * one line in err: the job then starts nothing. */
	int (*job_begin)(const nr_host *host, const nr_value *runnables,
			 char *err, size_t errlen);
	/* job_end: called once every task has ended, also after a Ctrl-C,
	 * when job_begin succeeded; host->job_get(NULL, key) reads the
	 * job's data. */
	void (*job_end)(const nr_host *host);
	/* clean: `nrunner clean`.  Removes what jobs left behind (with
	 * dry_run, only lists it), printing one line per thing on stdout.
	 * `kwargs` holds the command's KEY=VALUE arguments.  Returns how many
	 * things it found, or -1 with one line in err. */
	int (*clean)(const nr_host *host, const nr_value *kwargs, int dry_run,
		     char *err, size_t errlen);
} nr_plugin;

/* The one symbol a plugin exports. */
NR_EXPORT const nr_plugin *nr_plugin_entry(void);

/* Fills the two version fields with the ABI this header describes. */
#define NR_PLUGIN_ABI .abi_major = NR_ABI_MAJOR, .abi_minor = NR_ABI_MINOR

#ifdef __cplusplus
}
#endif

#endif /* NRUNNER_PLUGIN_H */
