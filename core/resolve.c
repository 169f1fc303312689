#include "config.h"

#include "resolve.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Directories never searched: hidden ones, and nrunner's own results. */
#define RESULTS_DIR_NAME "nrunner-results"
#define IGNORE_MARKER ".nrunnerignore"

int nrc_resolver_add(nr_resolver *r, const char *kind, const char *uri,
		    const char *identifier)
{
	if (!kind || !*kind) {
		nrc_resolver_error(r, "kind %s added a runnable with no kind",
				  r->kind);
		return -1;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", kind);
	if (uri)
		cJSON_AddStringToObject(o, "uri", uri);
	if (identifier)
		cJSON_AddStringToObject(o, "identifier", identifier);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	int rc = nrc_resolver_add_json(r, text);
	free(text);
	return rc;
}

int nrc_resolver_add_json(nr_resolver *r, const char *recipe_json)
{
	char err[8192], where[4096];
	snprintf(where, sizeof where, "%s (as kind %s)", r->path, r->kind);
	cJSON *obj = recipe_json ? cJSON_Parse(recipe_json) : NULL;
	nrc_runnable *rn = NULL;
	if (!obj)
		snprintf(err, sizeof err, "%s: the plugin made a runnable that "
			 "is not valid JSON", where);
	else
		rn = nrc_runnable_from_json(obj, where, err, sizeof err);
	cJSON_Delete(obj);
	if (!rn) {
		if (!r->error)
			r->error = nrc_xstrdup(err);
		return -1;
	}
	r->out->items = nrc_xrealloc(r->out->items,
				    (r->out->n + 1) * sizeof *r->out->items);
	r->out->items[r->out->n++] = rn;
	r->added++;
	return 0;
}

void nrc_resolver_error(nr_resolver *r, const char *fmt, ...)
{
	if (r->error)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* A message that already names the file (a syntax error's
	 * "file:line:col: ...") is taken as it is. */
	size_t pl = strlen(r->path);
	if (!strncmp(msg, r->path, pl) && (msg[pl] == ':' || msg[pl] == ' '))
		r->error = nrc_xstrdup(msg);
	else
		r->error = nrc_xasprintf("%s: %s", r->path, msg);
}

/* Is this parsed JSON meant as a recipe: an object with "kind", or an
 * array of objects with "kind"?  (A task recipe or a flow file is not.) */
static int looks_like_recipe(const cJSON *j)
{
	if (cJSON_IsArray(j))
		j = cJSON_GetArrayItem(j, 0);
	return cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "kind");
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcmp(s + n - m, suf);
}

static void list_move(nrc_runnable_list *to, nrc_runnable_list *from)
{
	if (!from->n)
		return;
	to->items = nrc_xrealloc(to->items, (to->n + from->n) * sizeof *to->items);
	memcpy(to->items + to->n, from->items, from->n * sizeof *from->items);
	to->n += from->n;
	free(from->items);
	from->items = NULL;
	from->n = 0;
}

/* One file.  `explicit`: named on the command line, so a file that nothing
 * takes is an error; found in a directory, it is simply not a test. */
static int resolve_file(nrc_registry *reg, const char *path, int explicit,
			nrc_runnable_list *out, char *err, size_t errlen)
{
	nrc_runnable_list got = {0};
	nr_resolver r = {.path = path, .out = &got};
	/* A recipe is a recipe: no kind is asked about it. */
	if (has_suffix(path, ".json")) {
		char *text = nrc_read_file(path, NULL);
		cJSON *j = text ? cJSON_Parse(text) : NULL;
		int recipe = looks_like_recipe(j);
		cJSON_Delete(j);
		if (recipe) {
			int rc = nrc_recipe_parse(text, path, &got, err, errlen);
			free(text);
			if (rc < 0)
				return -1;
			list_move(out, &got);
			return 0;
		}
		free(text);
	}
	int c = nrc_registry_claim(reg, path, &r);
	if (c == NR_RESOLVE_ERROR || r.error) {
		if (r.error)
			snprintf(err, errlen, "%s", r.error);
		else
			snprintf(err, errlen, "%s: kind %s could not resolve it "
				 "(its plugin gave no reason)", path, r.kind);
		free(r.error);
		nrc_runnable_list_free(&got);
		return -1;
	}
	if (c == NR_RESOLVE_CLAIMED) {
		if (!got.n && explicit) {
			snprintf(err, errlen, "%s: kind %s claimed it but found "
				 "nothing to run in it", path, r.kind);
			return -1;
		}
		list_move(out, &got);
		return 0;
	}
	if (has_suffix(path, ".json")) {
		char *text = nrc_read_file(path, NULL);
		if (!text) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 strerror(errno));
			return -1;
		}
		cJSON *j = cJSON_Parse(text);
		int recipe = looks_like_recipe(j), broken = j == NULL;
		cJSON_Delete(j);
		int rc = 0;
		/* A recipe, or an explicit JSON target (whose error then
		 * says what a recipe needs), or broken JSON anywhere: a
		 * broken recipe must never be skipped in silence. */
		if (recipe || explicit || broken)
			rc = nrc_recipe_parse(text, path, &got, err, errlen);
		free(text);
		if (rc < 0)
			return -1;
		list_move(out, &got);
		return 0;
	}
	if (explicit) {
		snprintf(err, errlen,
			 "%s: no kind claims this file and it is not a recipe; "
			 "an executable file runs as exec-test, a recipe is a "
			 ".json file (see nrunner-recipe(5))",
			 path);
		return -1;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory holding a file named .nrunnerignore is not searched when
 * found inside a target (named itself, it is): an app's sources, or flows
 * that are only included by others. */
static int ignored_dir(const char *dir)
{
	char *marker = nrc_xasprintf("%s/" IGNORE_MARKER, dir);
	int ignored = access(marker, F_OK) == 0;
	free(marker);
	return ignored;
}

static int resolve_dir(nrc_registry *reg, const char *dir, nrc_runnable_list *out,
		       char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s: cannot read directory: %s", dir,
			 strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, RESULTS_DIR_NAME))
			continue;
		names = nrc_xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = nrc_xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char *p = has_suffix(dir, "/") ? nrc_xasprintf("%s%s", dir, names[i])
					       : nrc_xasprintf("%s/%s", dir, names[i]);
		struct stat lst, st;
		if (rc == 0 && lstat(p, &lst) == 0) {
			/* Symbolic links to directories are not followed, so
			 * a link loop cannot trap the search. */
			if (S_ISDIR(lst.st_mode) && !ignored_dir(p))
				rc = resolve_dir(reg, p, out, err, errlen);
			else if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
				rc = resolve_file(reg, p, 0, out, err, errlen);
		}
		free(p);
		free(names[i]);
	}
	free(names);
	return rc;
}

int nrc_resolve_targets(nrc_registry *reg, char *const *targets, size_t n,
		       nrc_runnable_list *out, char *err, size_t errlen)
{
	nrc_runnable_list all = {0};
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int rc;
		if (stat(targets[i], &st) < 0) {
			snprintf(err, errlen, "%s: %s", targets[i], strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			size_t before = all.n;
			rc = resolve_dir(reg, targets[i], &all, err, errlen);
			if (rc == 0 && all.n == before) {
				snprintf(err, errlen,
					 "%s: no tests found in this directory "
					 "(no recipes, and no file that a kind "
					 "claims)",
					 targets[i]);
				rc = -1;
			}
		} else {
			rc = resolve_file(reg, targets[i], 1, &all, err, errlen);
		}
		if (rc < 0) {
			nrc_runnable_list_free(&all);
			return -1;
		}
	}
	list_move(out, &all);
	return 0;
}
