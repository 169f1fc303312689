#include "config.h"

#include "runnable.h"
#include "common/json-depth.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const recipe_keys[] = {"kind",   "uri",    "args",
					  "kwargs", "config", "identifier",
					  NULL};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	NR_PRINTF_ATTR(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "invalid";
}

nrc_runnable *nrc_runnable_new(const char *kind)
{
	nrc_runnable *r = nrc_xcalloc(1, sizeof *r);
	r->kind = nrc_xstrdup(kind);
	r->args = cJSON_CreateArray();
	r->kwargs = cJSON_CreateObject();
	r->config = cJSON_CreateObject();
	return r;
}

void nrc_runnable_free(nrc_runnable *r)
{
	if (!r)
		return;
	free(r->kind);
	free(r->uri);
	free(r->identifier);
	free(r->source);
	free(r->formatted);
	cJSON_Delete(r->args);
	cJSON_Delete(r->kwargs);
	cJSON_Delete(r->config);
	free(r);
}

/* Appends the text of one "{uri}", "{args}", "{args[N]}", "{kwargs}" or
 * "{kwargs[KEY]}" field; returns 0 if the field is not one of them. */
static int format_field(const nrc_runnable *r, const char *name, size_t len,
			nrc_buf *b)
{
	const char *idx = memchr(name, '[', len);
	size_t base = idx ? (size_t)(idx - name) : len;
	const cJSON *list;
	if (base == 3 && !strncmp(name, "uri", 3) && !idx) {
		if (r->uri)
			nrc_buf_append(b, r->uri, strlen(r->uri));
		return 1;
	}
	if (base == 4 && !strncmp(name, "args", 4))
		list = r->args;
	else if (base == 6 && !strncmp(name, "kwargs", 6))
		list = r->kwargs;
	else
		return 0;
	if (idx) { /* one item: args by index, kwargs by key */
		if (name[len - 1] != ']')
			return 0;
		char *key = strndup(idx + 1, len - base - 2);
		const cJSON *v = list == r->args
			? cJSON_GetArrayItem(list, atoi(key))
			: cJSON_GetObjectItemCaseSensitive(list, key);
		free(key);
		if (!v)
			return 0;
		char *s = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
		const char *t = s ? s : v->valuestring;
		nrc_buf_append(b, t, strlen(t));
		free(s);
		return 1;
	}
	const cJSON *v;
	int first = 1;
	cJSON_ArrayForEach(v, list)
	{
		char *s = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
		const char *t = s ? s : v->valuestring;
		if (!first)
			nrc_buf_append(b, "-", 1);
		nrc_buf_append(b, t, strlen(t));
		free(s);
		first = 0;
	}
	return 1;
}

/* Avocado's config "runner.identifier_format": "{uri}" by default. */
static char *format_identifier(const nrc_runnable *r, const char *fmt)
{
	nrc_buf b = {0};
	const char *p = fmt;
	while (*p) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (close && format_field(r, p + 1, (size_t)(close - p - 1), &b)) {
			p = close + 1;
			continue;
		}
		nrc_buf_append(&b, p, 1);
		p++;
	}
	nrc_buf_append(&b, "", 1);
	return b.data;
}

const char *nrc_runnable_identifier(const nrc_runnable *r)
{
	if (r->identifier)
		return r->identifier;
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(
		r->config, "runner.identifier_format");
	if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "{uri}")) {
		/* Formatted once, when first asked: the runnable is complete
		 * by then. */
		nrc_runnable *w = (nrc_runnable *)r;
		if (!w->formatted)
			w->formatted = format_identifier(r, fmt->valuestring);
		if (*w->formatted)
			return w->formatted;
	}
	return r->uri ? r->uri : r->kind;
}

void nrc_runnable_set_kind(nrc_runnable *r, const char *kind)
{
	if (!r->identifier)
		r->identifier = nrc_xstrdup(nrc_runnable_identifier(r));
	free(r->kind);
	r->kind = nrc_xstrdup(kind);
}

const char *nrc_runnable_output_dir(const nrc_runnable *r)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(r->kwargs, "output_dir");
	return cJSON_IsString(d) && d->valuestring[0] ? d->valuestring : NULL;
}

nrc_runnable *nrc_runnable_from_json(const cJSON *obj, const char *where,
				   char *err, size_t errlen)
{
	if (!cJSON_IsObject(obj)) {
		fail(err, errlen,
		     "%s: a runnable must be a JSON object with at least "
		     "\"kind\", not %s",
		     where, type_name(obj));
		return NULL;
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, obj)
	{
		int known = 0;
		for (const char *const *k = recipe_keys; *k; k++)
			known |= f->string && !strcmp(f->string, *k);
		if (!known) {
			fail(err, errlen,
			     "%s: \"%s\": unknown key; a recipe has only kind, "
			     "uri, args, kwargs, config and identifier",
			     where, f->string ? f->string : "");
			return NULL;
		}
		for (const cJSON *g = obj->child; g != f; g = g->next)
			if (!strcmp(g->string, f->string)) {
				fail(err, errlen,
				     "%s: \"%s\": given twice; keep one",
				     where, f->string);
				return NULL;
			}
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	if (!kind) {
		fail(err, errlen,
		     "%s: \"kind\": missing; say which kind runs this "
		     "(see nrunner --list-kinds)",
		     where);
		return NULL;
	}
	if (!cJSON_IsString(kind) || !kind->valuestring[0]) {
		fail(err, errlen, "%s: \"kind\": must be a non-empty string, not %s",
		     where, cJSON_IsString(kind) ? "an empty string" : type_name(kind));
		return NULL;
	}
	static const char *const string_keys[] = {"uri", "identifier"};
	for (size_t i = 0; i < 2; i++) {
		f = cJSON_GetObjectItemCaseSensitive(obj, string_keys[i]);
		if (f && !cJSON_IsString(f) && !cJSON_IsNull(f)) {
			fail(err, errlen, "%s: \"%s\": must be a string, not %s",
			     where, string_keys[i], type_name(f));
			return NULL;
		}
	}
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "args");
	if (args && !cJSON_IsNull(args)) {
		if (!cJSON_IsArray(args)) {
			fail(err, errlen,
			     "%s: \"args\": must be an array of strings, not %s",
			     where, type_name(args));
			return NULL;
		}
		int i = 0;
		cJSON_ArrayForEach(f, args)
		{
			if (!cJSON_IsString(f)) {
				fail(err, errlen,
				     "%s: \"args\"[%d]: must be a string, not %s",
				     where, i, type_name(f));
				return NULL;
			}
			i++;
		}
	}
	static const char *const object_keys[] = {"kwargs", "config"};
	for (size_t i = 0; i < 2; i++) {
		f = cJSON_GetObjectItemCaseSensitive(obj, object_keys[i]);
		if (f && !cJSON_IsObject(f) && !cJSON_IsNull(f)) {
			fail(err, errlen, "%s: \"%s\": must be an object, not %s",
			     where, object_keys[i], type_name(f));
			return NULL;
		}
	}

	nrc_runnable *r = nrc_runnable_new(kind->valuestring);
	r->source = nrc_xstrdup(where);
	f = cJSON_GetObjectItemCaseSensitive(obj, "uri");
	if (cJSON_IsString(f))
		r->uri = nrc_xstrdup(f->valuestring);
	f = cJSON_GetObjectItemCaseSensitive(obj, "identifier");
	if (cJSON_IsString(f))
		r->identifier = nrc_xstrdup(f->valuestring);
	if (cJSON_IsArray(args)) {
		cJSON_Delete(r->args);
		r->args = cJSON_Duplicate(args, 1);
	}
	f = cJSON_GetObjectItemCaseSensitive(obj, "kwargs");
	if (cJSON_IsObject(f)) {
		cJSON_Delete(r->kwargs);
		r->kwargs = cJSON_Duplicate(f, 1);
	}
	f = cJSON_GetObjectItemCaseSensitive(obj, "config");
	if (cJSON_IsObject(f)) {
		cJSON_Delete(r->config);
		r->config = cJSON_Duplicate(f, 1);
	}
	return r;
}

static void list_push(nrc_runnable_list *l, nrc_runnable *r)
{
	l->items = nrc_xrealloc(l->items, (l->n + 1) * sizeof *l->items);
	l->items[l->n++] = r;
}

void nrc_runnable_list_free(nrc_runnable_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		nrc_runnable_free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* Line and column (1-based) of byte offset `off` in text. */
static void position(const char *text, size_t off, int *line, int *col)
{
	*line = 1, *col = 1;
	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n')
			(*line)++, *col = 1;
		else
			(*col)++;
	}
}

cJSON *nrc_json_parse(const char *text, const char *path, char *err,
		     size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
	if (root)
		return root;
	int line, col;
	size_t off = end ? (size_t)(end - text) : 0;
	position(text, off, &line, &col);
	if (nrp_json_too_deep(text, off))
		fail(err, errlen,
		     "%s:%d:%d: nested deeper than %d levels, the most nrunner "
		     "reads (cJSON's nesting limit); flatten the JSON",
		     path, line, col, CJSON_NESTING_LIMIT);
	else if (!text[strspn(text, " \t\r\n")])
		fail(err, errlen,
		     "%s: empty file; a recipe is a JSON object such as "
		     "{\"kind\": \"noop\"}",
		     path);
	else
		fail(err, errlen,
		     "%s:%d:%d: not valid JSON; fix the syntax near line %d, "
		     "column %d",
		     path, line, col, line, col);
	return NULL;
}

size_t nrc_json_fix_utf8(cJSON *j)
{
	size_t n = 0;
	for (; j; j = j->next) {
		char *fixed;
		if (j->string && !(j->type & cJSON_StringIsConst) &&
		    (fixed = nrc_utf8_fix(j->string))) {
			cJSON_free(j->string);
			j->string = fixed;
			n++;
		}
		if (cJSON_IsString(j) && j->valuestring &&
		    (fixed = nrc_utf8_fix(j->valuestring))) {
			cJSON_free(j->valuestring);
			j->valuestring = fixed;
			n++;
		}
		n += nrc_json_fix_utf8(j->child);
	}
	return n;
}

int nrc_recipe_parse(const char *text, const char *path, nrc_runnable_list *out,
		    char *err, size_t errlen)
{
	cJSON *root = nrc_json_parse(text, path, err, errlen);
	if (!root)
		return -1;
	nrc_runnable_list l = {0};
	char where[4096];
	if (cJSON_IsArray(root)) {
		int i = 0;
		const cJSON *item;
		if (!cJSON_GetArraySize(root)) {
			cJSON_Delete(root);
			return fail(err, errlen,
				    "%s: the list of runnables is empty", path);
		}
		cJSON_ArrayForEach(item, root)
		{
			snprintf(where, sizeof where, "%s: [%d]", path, i++);
			nrc_runnable *r =
				nrc_runnable_from_json(item, where, err, errlen);
			if (!r) {
				nrc_runnable_list_free(&l);
				cJSON_Delete(root);
				return -1;
			}
			list_push(&l, r);
		}
	} else {
		nrc_runnable *r = nrc_runnable_from_json(root, path, err, errlen);
		if (!r) {
			cJSON_Delete(root);
			return -1;
		}
		list_push(&l, r);
	}
	cJSON_Delete(root);
	*out = l;
	return 0;
}

int nrc_recipe_read(const char *path, nrc_runnable_list *out, char *err,
		   size_t errlen)
{
	char *text = nrc_read_file(path, NULL);
	if (!text)
		return fail(err, errlen, "%s: cannot read recipe: %s", path,
			    strerror(errno));
	int r = nrc_recipe_parse(text, path, out, err, errlen);
	free(text);
	return r;
}

cJSON *nrc_runnable_to_json(const nrc_runnable *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", r->kind);
	if (r->uri)
		cJSON_AddStringToObject(o, "uri", r->uri);
	if (r->identifier)
		cJSON_AddStringToObject(o, "identifier", r->identifier);
	cJSON_AddItemToObject(o, "args", cJSON_Duplicate(r->args, 1));
	cJSON_AddItemToObject(o, "kwargs", cJSON_Duplicate(r->kwargs, 1));
	cJSON_AddItemToObject(o, "config", cJSON_Duplicate(r->config, 1));
	return o;
}

int nrc_runnable_add_arg(nrc_runnable *r, const char *arg, char *err,
			size_t errlen)
{
	static const char prefix[] = "base64:";
	if (!strncmp(arg, prefix, sizeof prefix - 1)) {
		size_t n;
		unsigned char *dec = nrc_base64_decode(arg + sizeof prefix - 1, &n);
		if (!dec)
			return fail(err, errlen,
				    "-a %s: invalid base64 after \"base64:\"",
				    arg);
		if (memchr(dec, '\0', n) ||
		    nrc_utf8_valid_prefix(dec, n) != n) {
			free(dec);
			return fail(err, errlen,
				    "-a %s: the decoded argument is not text "
				    "(UTF-8 without NUL bytes)",
				    arg);
		}
		cJSON_AddItemToArray(r->args, cJSON_CreateString((char *)dec));
		free(dec);
		return 0;
	}
	cJSON_AddItemToArray(r->args, cJSON_CreateString(arg));
	return 0;
}

int nrc_runnable_add_kwarg(nrc_runnable *r, const char *keyval, char *err,
			  size_t errlen)
{
	const char *eq = strchr(keyval, '=');
	if (!eq || eq == keyval)
		return fail(err, errlen,
			    "\"%s\": invalid keyword argument; write it as "
			    "KEY=VALUE",
			    keyval);
	char *key = strndup(keyval, (size_t)(eq - keyval));
	const char *val = eq + 1;
	cJSON *v;
	static const char prefix[] = "json:";
	if (!strncmp(val, prefix, sizeof prefix - 1)) {
		v = cJSON_Parse(val + sizeof prefix - 1);
		if (!v) {
			fail(err, errlen,
			     "%s: invalid JSON after \"json:\"; quote strings "
			     "as in json:'\"text\"'",
			     key);
			free(key);
			return -1;
		}
	} else {
		v = cJSON_CreateString(val);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(r->kwargs, key);
	cJSON_AddItemToObject(r->kwargs, key, v);
	free(key);
	return 0;
}

int nrc_runnable_set_config(nrc_runnable *r, const char *json, char *err,
			   size_t errlen)
{
	cJSON *c = cJSON_Parse(json);
	if (!c || !cJSON_IsObject(c)) {
		cJSON_Delete(c);
		return fail(err, errlen,
			    "-c: the config must be a JSON object, such as "
			    "'{\"runner.exectest.exitcodes.skip\": [77]}'");
	}
	cJSON_Delete(r->config);
	r->config = c;
	return 0;
}

static char *opt_string(const cJSON *v)
{
	return cJSON_IsString(v) ? nrc_xstrdup(v->valuestring) : NULL;
}

int nrc_task_recipe_read(const char *path, nrc_task_recipe *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof *out);
	char *text = nrc_read_file(path, NULL);
	if (!text)
		return fail(err, errlen, "%s: cannot read task recipe: %s", path,
			    strerror(errno));
	cJSON *root = nrc_json_parse(text, path, err, errlen);
	free(text);
	if (!root)
		return -1;
	static const char *const task_keys[] = {"id", "runnable", "status_uris",
						"job_id", "category", NULL};
	int rc = -1;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	const cJSON *rn = cJSON_GetObjectItemCaseSensitive(root, "runnable");
	const cJSON *uris = cJSON_GetObjectItemCaseSensitive(root, "status_uris");
	const cJSON *job = cJSON_GetObjectItemCaseSensitive(root, "job_id");
	const cJSON *cat = cJSON_GetObjectItemCaseSensitive(root, "category");
	for (const cJSON *k = root->child; cJSON_IsObject(root) && k; k = k->next) {
		int known = 0;
		for (const char *const *t = task_keys; *t; t++)
			known |= !strcmp(k->string, *t);
		if (!known) {
			fail(err, errlen, "%s: \"%s\": unknown key; a task recipe "
			     "has only id, runnable, status_uris, job_id and "
			     "category", path, k->string);
			goto out;
		}
	}
	if (!cJSON_IsObject(root)) {
		fail(err, errlen, "%s: not a task recipe: expected a JSON object "
		     "with \"id\" and \"runnable\"", path);
	} else if (!cJSON_IsString(id) || !id->valuestring[0]) {
		fail(err, errlen, "%s: \"id\": %s; give the task a non-empty "
		     "string id", path, !id ? "missing" : cJSON_IsString(id)
		     ? "empty" : "must be a string");
	} else if (uris && !cJSON_IsNull(uris) && !cJSON_IsArray(uris)) {
		fail(err, errlen, "%s: \"status_uris\": must be an array of "
		     "strings", path);
	} else if (job && !cJSON_IsNull(job) && !cJSON_IsString(job)) {
		fail(err, errlen, "%s: \"job_id\": must be a string", path);
	} else if (cat && !cJSON_IsNull(cat) && !cJSON_IsString(cat)) {
		fail(err, errlen, "%s: \"category\": must be a string", path);
	} else if (!rn) {
		fail(err, errlen, "%s: \"runnable\": missing; it holds the "
		     "runnable recipe, e.g. {\"kind\": \"noop\"}", path);
	} else {
		char *where = nrc_xasprintf("%s: \"runnable\"", path);
		out->runnable = nrc_runnable_from_json(rn, where, err, errlen);
		free(where);
		if (!out->runnable)
			goto out;
		out->uris = nrc_xcalloc((size_t)cJSON_GetArraySize(uris) + 1,
				       sizeof *out->uris);
		const cJSON *u;
		cJSON_ArrayForEach(u, uris)
		{
			if (!cJSON_IsString(u)) {
				fail(err, errlen, "%s: \"status_uris\"[%zu]: must "
				     "be a string", path, out->nuris);
				goto out;
			}
			out->uris[out->nuris++] = nrc_xstrdup(u->valuestring);
		}
		out->id = nrc_xstrdup(id->valuestring);
		out->job_id = opt_string(job);
		out->category = opt_string(cat);
		rc = 0;
	}
out:
	cJSON_Delete(root);
	if (rc < 0)
		nrc_task_recipe_free(out);
	return rc;
}

void nrc_task_recipe_free(nrc_task_recipe *t)
{
	nrc_runnable_free(t->runnable);
	for (size_t i = 0; i < t->nuris; i++)
		free(t->uris[i]);
	free(t->uris);
	free(t->id);
	free(t->job_id);
	free(t->category);
	memset(t, 0, sizeof *t);
}
