/* The runnable model and recipes (DESIGN.md, "Runnables and recipes").
 *
 * A runnable is Avocado's: kind, uri, args, kwargs, config, identifier.
 * A recipe is a JSON file holding one runnable or an array of them. */
#ifndef NR_RUNNABLE_H
#define NR_RUNNABLE_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct nrc_runnable {
	char *kind;
	char *uri;        /* NULL when absent */
	char *identifier; /* NULL when absent; see nrc_runnable_identifier() */
	cJSON *args;      /* array of strings, never NULL */
	cJSON *kwargs;    /* object, never NULL */
	cJSON *config;    /* object, never NULL */
	char *source;     /* where it was read, for errors ("x.json: [2]") */
	char *formatted;  /* the identifier by runner.identifier_format */
} nrc_runnable;

typedef struct nrc_runnable_list {
	nrc_runnable **items;
	size_t n;
} nrc_runnable_list;

nrc_runnable *nrc_runnable_new(const char *kind);
void nrc_runnable_free(nrc_runnable *r);
/* The identifier; when none was given, the one config
 * "runner.identifier_format" makes ("{uri}-{args}", "{kwargs[KEY]}", as
 * Avocado's), else the uri, else the kind. */
const char *nrc_runnable_identifier(const nrc_runnable *r);
/* Avocado's kwarg output_dir: where the task's files go (NULL if none). */
const char *nrc_runnable_output_dir(const nrc_runnable *r);
/* Makes r a runnable of another kind, keeping all the rest: its
 * identifier is pinned first, since without one it would become the new
 * kind's name (nrunner run --dry-run). */
void nrc_runnable_set_kind(nrc_runnable *r, const char *kind);

/* Builds a runnable from one JSON object.  `where` names the source for
 * errors ("recipes/x.json" or "recipes/x.json: [3]").  On error returns
 * NULL and writes one line to err: "<where>: <field>: <what is wrong>". */
nrc_runnable *nrc_runnable_from_json(const cJSON *obj, const char *where,
				   char *err, size_t errlen);

/* Parses JSON text; on a syntax error writes "<path>:<line>:<col>: not
 * valid JSON; ..." (or "<path>: empty file; ...") to err. */
cJSON *nrc_json_parse(const char *text, const char *path, char *err,
		     size_t errlen);

/* Makes every string and key of j valid UTF-8 (invalid bytes become
 * U+FFFD), so that printing it gives JSON that parsers take: cJSON copies
 * bytes as they are.  Returns how many strings it changed. */
size_t nrc_json_fix_utf8(cJSON *j);

/* Reads a recipe file: one runnable or an array of them. */
int nrc_recipe_read(const char *path, nrc_runnable_list *out, char *err,
		   size_t errlen);
/* Parses recipe text; `path` only names the source in errors. */
int nrc_recipe_parse(const char *text, const char *path, nrc_runnable_list *out,
		    char *err, size_t errlen);
void nrc_runnable_list_free(nrc_runnable_list *l);

/* A task recipe, as Avocado's task-run-recipe reads it: {"id", "runnable",
 * "status_uris", "job_id", "category"}. */
typedef struct nrc_task_recipe {
	nrc_runnable *runnable;
	char *id;
	char *job_id;   /* NULL when absent */
	char *category; /* NULL when absent */
	char **uris;
	size_t nuris;
} nrc_task_recipe;

/* Reads a task recipe file; on error returns -1 with one line in err that
 * names the file and the field. */
int nrc_task_recipe_read(const char *path, nrc_task_recipe *out, char *err,
			size_t errlen);
void nrc_task_recipe_free(nrc_task_recipe *t);

/* The runnable as a recipe object (caller deletes). */
cJSON *nrc_runnable_to_json(const nrc_runnable *r);

/* Command-line pieces, with Avocado's encodings: an argument may be
 * "base64:<data>"; a KEY=VALUE value may be "json:<json>". */
int nrc_runnable_add_arg(nrc_runnable *r, const char *arg, char *err,
			size_t errlen);
int nrc_runnable_add_kwarg(nrc_runnable *r, const char *keyval, char *err,
			  size_t errlen);
int nrc_runnable_set_config(nrc_runnable *r, const char *json, char *err,
			   size_t errlen);

#endif
