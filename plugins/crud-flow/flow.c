#include "config.h"

#include "common/json-depth.h"
#include "common/util.h"
#include "flow.h"
#include "template.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_INCLUDE_DEPTH 8


int flow_looks_like(const cJSON *doc)
{
	return cJSON_IsObject(doc) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "steps"));
}

static const char *type_name(const cJSON *v)
{
	return cJSON_IsString(v) ? "a string" : cJSON_IsNumber(v) ? "a number"
	       : cJSON_IsBool(v) ? "a boolean" : cJSON_IsNull(v) ? "null"
	       : cJSON_IsArray(v) ? "an array" : "an object";
}

/* Only the keys listed; the error names the first other one. */
int flow_known_keys(const cJSON *o, const char *const *keys, const char *file,
		    const char *path, char *err, size_t errlen)
{
	const cJSON *k;
	cJSON_ArrayForEach(k, o)
	{
		int ok = 0;
		for (const char *const *q = keys; *q; q++)
			ok |= !strcmp(k->string, *q);
		if (!ok) {
			char list[512] = "";
			for (const char *const *q = keys; *q; q++) {
				if ((*q)[0] == '_')
					continue;
				if (list[0])
					strncat(list, ", ", sizeof list - strlen(list) - 1);
				strncat(list, *q, sizeof list - strlen(list) - 1);
			}
			return nrp_fail(err, errlen, "%s: %s%s%s: unknown key; use one of: %s",
				    file, path, path[0] ? "." : "", k->string, list);
		}
	}
	return 0;
}

/* --- loading and includes ---------------------------------------------- */

static void mark(cJSON *step, const char *file, const char *path)
{
	cJSON_DeleteItemFromObjectCaseSensitive(step, "_file");
	cJSON_DeleteItemFromObjectCaseSensitive(step, "_path");
	cJSON_AddStringToObject(step, "_file", file);
	cJSON_AddStringToObject(step, "_path", path);
}

/* Reads one file and, first, the files it includes: their steps run
 * before its own, and its vars and clients win over theirs. */
static int load_into(flow *f, const char *path, char *given, int depth,
		     char **stack, char *err, size_t errlen)
{
	if (depth > MAX_INCLUDE_DEPTH)
		return nrp_fail(err, errlen, "%s: include: more than %d levels deep; is there a cycle?",
			    path, MAX_INCLUDE_DEPTH);
	char real[PATH_MAX];
	if (!realpath(path, real))
		return nrp_fail(err, errlen, "%s: %s", path, strerror(errno));
	for (int i = 0; i < depth; i++)
		if (!strcmp(stack[i], real))
			return nrp_fail(err, errlen, "%s: include: it includes itself "
				    "(through %s); remove the cycle", path, f->file);
	stack[depth] = real;
	char *text = given ? given : nrp_read_text(path, NULL);
	if (!text)
		return nrp_fail(err, errlen, "%s: cannot read the flow: %s", path, strerror(errno));
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
	if (!doc) {
		int line = 1, col = 1;
		for (const char *p = text; end && p < end && *p; p++)
			if (*p == '\n')
				line++, col = 1;
			else
				col++;
		int deep = end && nrp_json_too_deep(text, (size_t)(end - text));
		if (text != given)
			free(text);
		if (deep)
			return nrp_fail(err, errlen, "%s:%d:%d: nested deeper than %d levels, "
				    "the most nrunner reads (cJSON's nesting limit); "
				    "flatten the JSON", path, line, col, CJSON_NESTING_LIMIT);
		return nrp_fail(err, errlen, "%s:%d:%d: not valid JSON; fix the syntax near "
			    "line %d, column %d", path, line, col, line, col);
	}
	if (text != given)
		free(text);
	int rc = -1;
	static const char *const top[] = {"name", "description", "base_url", "vars",
					  "clients", "include", "steps", "environment",
					  NULL};
	if (!cJSON_IsObject(doc)) {
		nrp_fail(err, errlen, "%s: a flow is a JSON object with \"steps\"", path);
		goto out;
	}
	if (flow_known_keys(doc, top, path, "", err, errlen) < 0)
		goto out;
	const cJSON *inc = cJSON_GetObjectItemCaseSensitive(doc, "include");
	if (inc && !cJSON_IsArray(inc)) {
		nrp_fail(err, errlen, "%s: include: must be an array of flow files", path);
		goto out;
	}
	int i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, inc)
	{
		if (!cJSON_IsString(it)) {
			nrp_fail(err, errlen, "%s: include[%d]: must be a file name", path, i);
			goto out;
		}
		/* Relative to the including file. */
		char incpath[PATH_MAX];
		const char *slash = strrchr(path, '/');
		if (it->valuestring[0] == '/' || !slash)
			snprintf(incpath, sizeof incpath, "%s", it->valuestring);
		else
			snprintf(incpath, sizeof incpath, "%.*s/%s", (int)(slash - path),
				 path, it->valuestring);
		if (access(incpath, R_OK) < 0) {
			nrp_fail(err, errlen, "%s: include[%d]: %s: %s", path, i, incpath,
			     strerror(errno));
			goto out;
		}
		if (load_into(f, incpath, NULL, depth + 1, stack, err, errlen) < 0)
			goto out;
		i++;
	}
	static const char *const objs[] = {"vars", "clients"};
	for (int k = 0; k < 2; k++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, objs[k]);
		if (o && !cJSON_IsObject(o)) {
			nrp_fail(err, errlen, "%s: %s: must be an object, not %s", path, objs[k],
			     type_name(o));
			goto out;
		}
		cJSON *into = k == 0 ? f->vars : f->clients;
		cJSON_ArrayForEach(it, o)
		{
			cJSON_DeleteItemFromObjectCaseSensitive(into, it->string);
			cJSON *copy = cJSON_Duplicate(it, 1);
			if (k == 1 && cJSON_IsObject(copy))
				cJSON_AddStringToObject(copy, "_file", path);
			cJSON_AddItemToObject(into, it->string, copy);
		}
	}
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(doc, "steps");
	if (!cJSON_IsArray(steps)) {
		nrp_fail(err, errlen, "%s: steps: %s; a flow needs an array of steps", path,
		     steps ? "must be an array" : "missing");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(it, steps)
	{
		char p[64];
		snprintf(p, sizeof p, "steps[%d]", i++);
		if (!cJSON_IsObject(it)) {
			nrp_fail(err, errlen, "%s: %s: a step is an object, not %s", path, p,
			     type_name(it));
			goto out;
		}
		cJSON *copy = cJSON_Duplicate(it, 1);
		mark(copy, path, p);
		cJSON_AddItemToArray(f->steps, copy);
	}
	if (depth == 0) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
		const cJSON *base = cJSON_GetObjectItemCaseSensitive(doc, "base_url");
		if (name && !cJSON_IsString(name)) {
			nrp_fail(err, errlen, "%s: name: must be a string", path);
			goto out;
		}
		if (base && !cJSON_IsString(base)) {
			nrp_fail(err, errlen, "%s: base_url: must be a string", path);
			goto out;
		}
		if (cJSON_IsString(name)) {
			f->name = nrp_xstrdup(name->valuestring);
		} else {
			/* The file's name without directory and extension. */
			const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
			f->name = nrp_xstrdup(b);
			char *dot = strchr(f->name, '.');
			if (dot && dot != f->name)
				*dot = '\0';
		}
		if (cJSON_IsString(base))
			f->base_url = nrp_xstrdup(base->valuestring);
		const cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "environment");
		if (env && !cJSON_IsObject(env)) {
			nrp_fail(err, errlen, "%s: environment: must be an object (see "
			     "nrunner-flow(5), ENVIRONMENT)", path);
			goto out;
		}
		if (env)
			f->environment = cJSON_Duplicate(env, 1);
	}
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}

/* --- shorthands -------------------------------------------------------- */

static cJSON *status_of(const cJSON *expect, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(expect, key);
	return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNumber(dflt);
}

static cJSON *plain(const char *name, const char *method, const char *path,
		    const cJSON *client, const char *file, const char *origin)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "name", name);
	cJSON_AddStringToObject(s, "method", method);
	cJSON_AddStringToObject(s, "path", path);
	if (client)
		cJSON_AddItemToObject(s, "client", cJSON_Duplicate(client, 1));
	mark(s, file, origin);
	return s;
}

/* {"crud": {...}} becomes six checked steps: create, read, update, list,
 * delete, and read again to see that the delete deleted. */
static int expand_crud(cJSON *out, const cJSON *step, char *err, size_t errlen)
{
	const char *file = cJSON_GetObjectItemCaseSensitive(step, "_file")->valuestring;
	const char *at = cJSON_GetObjectItemCaseSensitive(step, "_path")->valuestring;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(step, "crud");
	char p[256];
	snprintf(p, sizeof p, "%s.crud", at);
	static const char *const keys[] = {"name", "path", "create", "update", "method",
					   "id", "capture", "expect", "client",
					   "keep", NULL};
	static const char *const skeys[] = {"crud", "_file", "_path", NULL};
	if (!cJSON_IsObject(c))
		return nrp_fail(err, errlen, "%s: %s: must be an object with path, create "
			    "and update", file, p);
	if (flow_known_keys(step, skeys, file, at, err, errlen) < 0 ||
	    flow_known_keys(c, keys, file, p, err, errlen) < 0)
		return -1;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(c, "path");
	const cJSON *create = cJSON_GetObjectItemCaseSensitive(c, "create");
	const cJSON *update = cJSON_GetObjectItemCaseSensitive(c, "update");
	const cJSON *method = cJSON_GetObjectItemCaseSensitive(c, "method");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(c, "capture");
	const cJSON *expect = cJSON_GetObjectItemCaseSensitive(c, "expect");
	const cJSON *client = cJSON_GetObjectItemCaseSensitive(c, "client");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(c, "keep");
	/* An empty path has no last character to look at, and names no
	 * collection. */
	if (!cJSON_IsString(path) || !path->valuestring[0])
		return nrp_fail(err, errlen, "%s: %s.path: missing; the collection's path, "
			    "e.g. \"/api/actors/\"", file, p);
	if (!cJSON_IsObject(create) || !cJSON_IsObject(update))
		return nrp_fail(err, errlen, "%s: %s.%s: must be an object: the body to %s",
			    file, p, !cJSON_IsObject(create) ? "create" : "update",
			    !cJSON_IsObject(create) ? "create with" : "update with");
	if (method && (!cJSON_IsString(method) || (strcmp(method->valuestring, "PUT") &&
						   strcmp(method->valuestring, "PATCH"))))
		return nrp_fail(err, errlen, "%s: %s.method: use \"PUT\" or \"PATCH\"", file, p);
	if (id && !cJSON_IsString(id))
		return nrp_fail(err, errlen, "%s: %s.id: a JSON pointer to the id in the "
			    "create response, e.g. \"/id\"", file, p);
	if (expect && !cJSON_IsObject(expect))
		return nrp_fail(err, errlen, "%s: %s.expect: an object of status codes by "
			    "step: create, read, update, list, delete, gone", file, p);
	static const char *const ekeys[] = {"create", "read", "update", "list", "delete",
					    "gone", NULL};
	char ep[300];
	snprintf(ep, sizeof ep, "%s.expect", p);
	if (expect && flow_known_keys(expect, ekeys, file, ep, err, errlen) < 0)
		return -1;
	/* The resource's name: given, or the path's last word. */
	char res[64];
	if (cJSON_IsString(name)) {
		snprintf(res, sizeof res, "%s", name->valuestring);
	} else {
		char tmp[256];
		snprintf(tmp, sizeof tmp, "%s", path->valuestring);
		size_t n = strlen(tmp);
		while (n && tmp[n - 1] == '/')
			tmp[--n] = '\0';
		const char *b = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
		snprintf(res, sizeof res, "%s", b);
		/* The collection's name, singular: "tag-categories" is a
		 * collection of "tag-category". */
		size_t rl = strlen(res);
		if (rl > 3 && !strcmp(res + rl - 3, "ies"))
			strcpy(res + rl - 3, "y");
		else if (rl > 1 && res[rl - 1] == 's' && res[rl - 2] != 's')
			res[rl - 1] = '\0';
	}
	char var[96];
	snprintf(var, sizeof var, "%s", cJSON_IsString(cap) ? cap->valuestring : "");
	if (!var[0]) {
		snprintf(var, sizeof var, "%s_id", res);
		for (char *q = var; *q; q++)
			if (*q == '-')
				*q = '_';
	}
	const char *coll = path->valuestring;
	char item[512];
	snprintf(item, sizeof item, "%s%s{{%s}}/", coll,
		 coll[strlen(coll) - 1] == '/' ? "" : "/", var);
	const char *ptr = cJSON_IsString(id) ? id->valuestring : "/id";
	char sname[160], o[300];

	/* 1. create */
	snprintf(sname, sizeof sname, "create %s", res);
	snprintf(o, sizeof o, "%s (create)", p);
	cJSON *s = plain(sname, "POST", coll, client, file, o);
	cJSON_AddItemToObject(s, "json", cJSON_Duplicate(create, 1));
	cJSON *ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "create", 201));
	cJSON_AddItemToObject(ex, "json", cJSON_Duplicate(create, 1));
	cJSON *capt = cJSON_AddObjectToObject(s, "capture");
	cJSON *cv = cJSON_AddObjectToObject(capt, var);
	cJSON_AddStringToObject(cv, "json", ptr);
	cJSON_AddItemToArray(out, s);
	/* 2. read */
	snprintf(sname, sizeof sname, "read %s", res);
	snprintf(o, sizeof o, "%s (read)", p);
	s = plain(sname, "GET", item, client, file, o);
	ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "read", 200));
	cJSON_AddItemToObject(ex, "json", cJSON_Duplicate(create, 1));
	cJSON_AddItemToArray(out, s);
	/* 3. update */
	const char *um = cJSON_IsString(method) ? method->valuestring : "PATCH";
	snprintf(sname, sizeof sname, "update %s", res);
	snprintf(o, sizeof o, "%s (update)", p);
	s = plain(sname, um, item, client, file, o);
	cJSON_AddItemToObject(s, "json", cJSON_Duplicate(update, 1));
	ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "update", 200));
	cJSON_AddItemToObject(ex, "json", cJSON_Duplicate(update, 1));
	cJSON_AddItemToArray(out, s);
	/* 4. list: the collection holds the new id */
	snprintf(sname, sizeof sname, "list %s", res);
	snprintf(o, sizeof o, "%s (list)", p);
	s = plain(sname, "GET", coll, client, file, o);
	ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "list", 200));
	cJSON *asserts = cJSON_AddArrayToObject(ex, "assert");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "path", "");
	cJSON_AddStringToObject(a, "op", "contains");
	cJSON *want = cJSON_AddObjectToObject(a, "value");
	char tv[128];
	snprintf(tv, sizeof tv, "{{%s}}", var);
	/* The id's key: the pointer's last token. */
	cJSON_AddStringToObject(want, strrchr(ptr, '/') ? strrchr(ptr, '/') + 1 : "id", tv);
	cJSON_AddItemToArray(asserts, a);
	cJSON_AddItemToArray(out, s);
	if (cJSON_IsTrue(keep))
		return 0;
	/* 5. delete */
	snprintf(sname, sizeof sname, "delete %s", res);
	snprintf(o, sizeof o, "%s (delete)", p);
	s = plain(sname, "DELETE", item, client, file, o);
	ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "delete", 204));
	cJSON_AddItemToArray(out, s);
	/* 6. gone */
	snprintf(sname, sizeof sname, "read deleted %s", res);
	snprintf(o, sizeof o, "%s (gone)", p);
	s = plain(sname, "GET", item, client, file, o);
	ex = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(ex, "status", status_of(expect, "gone", 404));
	cJSON_AddItemToArray(out, s);
	return 0;
}

/* {"login": {"path", "json"|"form", "client", "expect"}}: a POST whose
 * session cookie stays in the client's jar. */
static int expand_login(cJSON *out, cJSON *clients, const cJSON *step, char *err,
			size_t errlen)
{
	const char *file = cJSON_GetObjectItemCaseSensitive(step, "_file")->valuestring;
	const char *at = cJSON_GetObjectItemCaseSensitive(step, "_path")->valuestring;
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(step, "login");
	char p[256];
	snprintf(p, sizeof p, "%s.login", at);
	static const char *const keys[] = {"path", "json", "form", "client", "expect",
					   "name", "capture", "bearer", NULL};
	static const char *const skeys[] = {"login", "_file", "_path", NULL};
	if (!cJSON_IsObject(l))
		return nrp_fail(err, errlen, "%s: %s: must be an object with path and json or form",
			    file, p);
	if (flow_known_keys(step, skeys, file, at, err, errlen) < 0 ||
	    flow_known_keys(l, keys, file, p, err, errlen) < 0)
		return -1;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(l, "path");
	if (!cJSON_IsString(path))
		return nrp_fail(err, errlen, "%s: %s.path: missing; the login endpoint, e.g. "
			    "\"/api/login/\"", file, p);
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
	const cJSON *client = cJSON_GetObjectItemCaseSensitive(l, "client");
	char sname[160];
	snprintf(sname, sizeof sname, "%s", cJSON_IsString(name) ? name->valuestring : "");
	if (!sname[0])
		snprintf(sname, sizeof sname, "log in%s%s", cJSON_IsString(client) ? " as " : "",
			 cJSON_IsString(client) ? client->valuestring : "");
	cJSON *s = plain(sname, "POST", path->valuestring, client, file, p);
	static const char *const body[] = {"json", "form"};
	for (int i = 0; i < 2; i++) {
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(l, body[i]);
		if (b)
			cJSON_AddItemToObject(s, body[i], cJSON_Duplicate(b, 1));
	}
	const cJSON *ex = cJSON_GetObjectItemCaseSensitive(l, "expect");
	cJSON *e = cJSON_AddObjectToObject(s, "expect");
	cJSON_AddItemToObject(e, "status", ex ? cJSON_Duplicate(ex, 1) : cJSON_CreateNumber(200));
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(l, "capture");
	if (cap)
		cJSON_AddItemToObject(s, "capture", cJSON_Duplicate(cap, 1));
	/* A token login: the token is captured (a secret) and becomes the
	 * client's bearer for the steps after this one; this request goes
	 * without it. */
	const cJSON *bearer = cJSON_GetObjectItemCaseSensitive(l, "bearer");
	if (bearer) {
		const char *cname = cJSON_IsString(client) ? client->valuestring : "default";
		char var[160], from[320];
		if (!strcmp(cname, "default"))
			snprintf(var, sizeof var, "token");
		else
			snprintf(var, sizeof var, "%s_token", cname);
		snprintf(from, sizeof from, "%s.bearer", p);
		if (!cJSON_IsObject(bearer)) {
			cJSON_Delete(s);
			return nrp_fail(err, errlen, "%s: %s: where the token is in the login's "
				       "response, as a capture: {\"json\": \"/access_token\"} or "
				       "{\"header\": \"X-Auth-Token\"}", file, from);
		}
		if (cJSON_GetObjectItemCaseSensitive(cap, var)) {
			cJSON_Delete(s);
			return nrp_fail(err, errlen, "%s: %s.capture.%s: the bearer token is "
				       "captured under that name; give it another", file, p, var);
		}
		cJSON *caps = cJSON_GetObjectItemCaseSensitive(s, "capture");
		if (!caps)
			caps = cJSON_AddObjectToObject(s, "capture");
		cJSON *tc = cJSON_Duplicate(bearer, 1);
		if (!cJSON_GetObjectItemCaseSensitive(tc, "secret"))
			cJSON_AddTrueToObject(tc, "secret");
		cJSON_AddItemToObject(caps, var, tc);
		cJSON *conf = cJSON_GetObjectItemCaseSensitive(clients, cname);
		if (!conf && !strcmp(cname, "default"))
			conf = cJSON_AddObjectToObject(clients, "default");
		if (cJSON_IsObject(conf)) {
			const cJSON *had = cJSON_GetObjectItemCaseSensitive(conf, "bearer");
			const cJSON *hf = cJSON_GetObjectItemCaseSensitive(conf, "_bearer_from");
			if (had) {
				cJSON_Delete(s);
				return nrp_fail(err, errlen, "%s: %s: the client \"%s\" has a bearer "
					       "already (%s); one login sets it", file, from, cname,
					       cJSON_IsString(hf) ? hf->valuestring
								  : "clients.*.bearer");
			}
			char tmpl[200];
			snprintf(tmpl, sizeof tmpl, "{{%s}}", var);
			cJSON_AddStringToObject(conf, "bearer", tmpl);
			cJSON_AddStringToObject(conf, "_bearer_from", from);
		}
		cJSON_AddTrueToObject(s, "_no_bearer");
		cJSON_AddStringToObject(s, "_bearer_var", var);
	}
	cJSON_AddItemToArray(out, s);
	return 0;
}

/* --- checking ---------------------------------------------------------- */

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE",
				      "HEAD", "OPTIONS", NULL};
static const char *const predicates[] = {
	"equals", "not-equals", "<", "<=", ">", ">=", "contains", "matches",
	"exists", "not-exists", "type", "count", NULL};

typedef struct ctx {
	const char *file, *path;
	cJSON *known;   /* object: defined variable names */
	cJSON *later;   /* object: variable name -> the first capture of it,
			 * "<file>: <path>" */
	const cJSON *clients;
	char *err;
	size_t errlen;
} ctx;

/* Where a variable used before it is defined is first captured: the
 * path, after its file when that is not the file of the step using it;
 * NULL when no step captures it. */
static const char *later_at(const ctx *c, const char *name)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(c->later, name);
	if (!cJSON_IsString(at))
		return NULL;
	size_t n = strlen(c->file);
	const char *s = at->valuestring;
	return !strncmp(s, c->file, n) && !strncmp(s + n, ": ", 2) ? s + n + 2 : s;
}

/* Every {{name}} in a string must be known by then. */
static int check_templates_in(ctx *c, const cJSON *v, const char *where)
{
	if (cJSON_IsString(v)) {
		char bad[128] = "";
		int r = template_check(v->valuestring, c->known, bad, sizeof bad);
		const char *at = r == TEMPLATE_UNKNOWN ? later_at(c, bad) : NULL;
		if (at)
			return nrp_fail(c->err, c->errlen, "%s: %s.%s: {{%s}} is used before it is "
				    "defined: %s defines it later", c->file, c->path, where, bad,
				    at);
		if (r == TEMPLATE_UNKNOWN)
			return nrp_fail(c->err, c->errlen, "%s: %s.%s: {{%s}} is not defined: no "
				    "earlier step captures it and vars does not set it",
				    c->file, c->path, where, bad);
		if (r == TEMPLATE_BAD)
			return nrp_fail(c->err, c->errlen, "%s: %s.%s: %s", c->file, c->path,
				    where, bad);
		return 0;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		if (it->string && !strcmp(it->string, "secret") && cJSON_IsString(it))
			continue;
		if (check_templates_in(c, it, where) < 0)
			return -1;
	}
	return 0;
}

static int check_status(ctx *c, const cJSON *st, const char *where)
{
	const cJSON *one = st;
	int n = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : 1;
	for (int i = 0; i < n; i++) {
		if (cJSON_IsArray(st))
			one = cJSON_GetArrayItem(st, i);
		if (!cJSON_IsNumber(one) || one->valuedouble < 100 || one->valuedouble > 599 ||
		    one->valuedouble != (int)one->valuedouble)
			return nrp_fail(c->err, c->errlen, "%s: %s: a status is an HTTP code "
				    "(100-599) or a list of them", c->file, where);
	}
	return 0;
}

static int check_regex(ctx *c, const char *re, const char *where)
{
	regex_t rx;
	int e = regcomp(&rx, re, REG_EXTENDED);
	if (e) {
		char msg[256];
		regerror(e, &rx, msg, sizeof msg);
		return nrp_fail(c->err, c->errlen, "%s: %s: invalid regular expression \"%s\": %s",
			    c->file, where, re, msg);
	}
	regfree(&rx);
	return 0;
}

static int check_pointer(ctx *c, const cJSON *p, const char *where)
{
	if (!cJSON_IsString(p) || (p->valuestring[0] && p->valuestring[0] != '/'))
		return nrp_fail(c->err, c->errlen, "%s: %s: a JSON pointer (RFC 6901) such as "
			    "\"/id\" or \"/results/0/name\", or \"\" for the whole body",
			    c->file, where);
	return 0;
}

static int check_expect(ctx *c, const cJSON *e)
{
	char w[512];
	snprintf(w, sizeof w, "%s.expect", c->path);
	static const char *const keys[] = {"status", "headers", "json", "assert",
					   "body_contains", NULL};
	if (!cJSON_IsObject(e))
		return nrp_fail(c->err, c->errlen, "%s: %s: must be an object", c->file, w);
	if (flow_known_keys(e, keys, c->file, w, c->err, c->errlen) < 0)
		return -1;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
	snprintf(w, sizeof w, "%s.expect.status", c->path);
	if (st && check_status(c, st, w) < 0)
		return -1;
	const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "headers");
	const cJSON *it;
	if (hd && !cJSON_IsObject(hd))
		return nrp_fail(c->err, c->errlen, "%s: %s.expect.headers: an object of header "
			    "name to value", c->file, c->path);
	cJSON_ArrayForEach(it, hd) if (!cJSON_IsString(it)) return nrp_fail(
		c->err, c->errlen, "%s: %s.expect.headers.%s: must be a string", c->file,
		c->path, it->string);
	const cJSON *as = cJSON_GetObjectItemCaseSensitive(e, "assert");
	if (as && !cJSON_IsArray(as))
		return nrp_fail(c->err, c->errlen, "%s: %s.expect.assert: an array of "
			    "{\"path\", \"op\", \"value\"}", c->file, c->path);
	int i = 0;
	cJSON_ArrayForEach(it, as)
	{
		snprintf(w, sizeof w, "%s.expect.assert[%d]", c->path, i);
		static const char *const akeys[] = {"path", "op", "value", NULL};
		if (!cJSON_IsObject(it))
			return nrp_fail(c->err, c->errlen, "%s: %s: must be an object", c->file, w);
		if (flow_known_keys(it, akeys, c->file, w, c->err, c->errlen) < 0)
			return -1;
		char wp[600];
		snprintf(wp, sizeof wp, "%s.path", w);
		if (check_pointer(c, cJSON_GetObjectItemCaseSensitive(it, "path"), wp) < 0)
			return -1;
		const cJSON *op = cJSON_GetObjectItemCaseSensitive(it, "op");
		int known = 0;
		for (const char *const *q = predicates; cJSON_IsString(op) && *q; q++)
			known |= !strcmp(op->valuestring, *q);
		if (!known)
			return nrp_fail(c->err, c->errlen, "%s: %s.op: %s%s%s; use equals, "
				    "not-equals, <, <=, >, >=, contains, matches, exists, "
				    "not-exists, type or count",
				    c->file, w, cJSON_IsString(op) ? "unknown predicate \"" : "missing",
				    cJSON_IsString(op) ? op->valuestring : "",
				    cJSON_IsString(op) ? "\"" : "");
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(it, "value");
		int needs = strcmp(op->valuestring, "exists") && strcmp(op->valuestring, "not-exists");
		if (needs && !val)
			return nrp_fail(c->err, c->errlen, "%s: %s.value: missing; \"%s\" compares "
				    "with a value", c->file, w, op->valuestring);
		if (!strcmp(op->valuestring, "matches")) {
			snprintf(wp, sizeof wp, "%s.value", w);
			if (!cJSON_IsString(val))
				return nrp_fail(c->err, c->errlen, "%s: %s: a regular expression "
					    "string", c->file, wp);
			/* With a template in it, it can only be checked once
			 * expanded, when the step runs. */
			if (!strstr(val->valuestring, "{{") &&
			    check_regex(c, val->valuestring, wp) < 0)
				return -1;
		}
		if (!strcmp(op->valuestring, "type")) {
			static const char *const types[] = {"string", "number", "boolean",
							    "null", "array", "object", NULL};
			int ok = 0;
			for (const char *const *q = types; cJSON_IsString(val) && *q; q++)
				ok |= !strcmp(val->valuestring, *q);
			if (!ok)
				return nrp_fail(c->err, c->errlen, "%s: %s.value: a type: string, "
					    "number, boolean, null, array or object", c->file, w);
		}
		if (!strcmp(op->valuestring, "count") &&
		    (!cJSON_IsNumber(val) || val->valuedouble < 0 || val->valuedouble > INT_MAX ||
		     val->valuedouble != (int)val->valuedouble))
			return nrp_fail(c->err, c->errlen, "%s: %s.value: a count is a whole number, "
				    "0 or more", c->file, w);
		i++;
	}
	const cJSON *bc = cJSON_GetObjectItemCaseSensitive(e, "body_contains");
	if (bc && !cJSON_IsString(bc))
		return nrp_fail(c->err, c->errlen, "%s: %s.expect.body_contains: must be a "
			    "string", c->file, c->path);
	snprintf(w, sizeof w, "expect");
	return check_templates_in(c, e, w);
}

static int check_capture(ctx *c, const cJSON *cap)
{
	char w[512];
	if (!cJSON_IsObject(cap))
		return nrp_fail(c->err, c->errlen, "%s: %s.capture: an object of variable name "
			    "to source", c->file, c->path);
	const cJSON *it;
	cJSON_ArrayForEach(it, cap)
	{
		snprintf(w, sizeof w, "%s.capture.%s", c->path, it->string);
		static const char *const keys[] = {"json", "header", "cookie", "regex",
						   "group", "secret", NULL};
		if (!cJSON_IsObject(it))
			return nrp_fail(c->err, c->errlen, "%s: %s: an object: {\"json\": \"/id\"}, "
				    "{\"header\": ...}, {\"cookie\": ...} or {\"regex\": ...}",
				    c->file, w);
		if (flow_known_keys(it, keys, c->file, w, c->err, c->errlen) < 0)
			return -1;
		int sources = 0;
		static const char *const srcs[] = {"json", "header", "cookie", "regex"};
		for (int k = 0; k < 4; k++) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, srcs[k]);
			if (!s)
				continue;
			sources++;
			if (!cJSON_IsString(s))
				return nrp_fail(c->err, c->errlen, "%s: %s.%s: must be a string",
					    c->file, w, srcs[k]);
		}
		if (sources != 1)
			return nrp_fail(c->err, c->errlen, "%s: %s: give exactly one of json, "
				    "header, cookie or regex", c->file, w);
		const cJSON *j = cJSON_GetObjectItemCaseSensitive(it, "json");
		char wp[600];
		snprintf(wp, sizeof wp, "%s.json", w);
		if (j && check_pointer(c, j, wp) < 0)
			return -1;
		const cJSON *re = cJSON_GetObjectItemCaseSensitive(it, "regex");
		snprintf(wp, sizeof wp, "%s.regex", w);
		if (re && check_regex(c, re->valuestring, wp) < 0)
			return -1;
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "group");
		if (g && (!re || !cJSON_IsNumber(g) || g->valuedouble < 0 || g->valuedouble > 9 ||
			  g->valuedouble != (int)g->valuedouble))
			return nrp_fail(c->err, c->errlen, "%s: %s.group: a group of the regex, "
				    "0-9, with \"regex\"", c->file, w);
		cJSON_AddTrueToObject(c->known, it->string);
	}
	return 0;
}

/* The first template of v (strings, in objects and arrays; not inside a
 * secret's own string) that is unknown or bad, as template_check says. */
static int first_unknown(const cJSON *v, const cJSON *known, char *bad, size_t len)
{
	if (cJSON_IsString(v))
		return template_check(v->valuestring, known, bad, len);
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		if (it->string && !strcmp(it->string, "secret") && cJSON_IsString(it))
			continue;
		int r = first_unknown(it, known, bad, len);
		if (r)
			return r;
	}
	return TEMPLATE_OK;
}

/* Whether the client's key (or header) `name` is one of the environment
 * file's defaults (the list `which`: _env_keys, _env_headers). */
static int client_from_env(const cJSON *conf, const char *which, const char *name)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(conf, which))
		if (cJSON_IsString(it) && !strcmp(it->valuestring, name))
			return 1;
	return 0;
}

/* What the step's client sends on every request (basic, bearer, headers)
 * must be defined by then too: a token that a later login captures is a
 * mistake seen now, not at run time.  The login that sets the bearer goes
 * without it. */
static int check_client(ctx *c, const cJSON *s)
{
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(s, "client");
	const char *cname = cJSON_IsString(cl) ? cl->valuestring : "default";
	const cJSON *conf = cJSON_GetObjectItemCaseSensitive(c->clients, cname);
	static const char *const fields[] = {"basic", "bearer", "headers"};
	for (int k = 0; k < 3; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(conf, fields[k]);
		if (!v || (k == 1 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "_no_bearer"))))
			continue;
		char bad[160], field[PATH_MAX + 300];
		int r = TEMPLATE_OK;
		snprintf(field, sizeof field, "clients.%s.%s", cname, fields[k]);
		/* A header may come from the environment file's defaults. */
		const cJSON *h = k == 2 ? v->child : NULL;
		for (; h && !r; h = h->next)
			if ((r = first_unknown(h, c->known, bad, sizeof bad)) &&
			    client_from_env(conf, "_env_headers", h->string))
				snprintf(field, sizeof field, "environment.client.headers.%s in %s",
					 h->string, cJSON_GetObjectItemCaseSensitive(conf, "_env_file")->valuestring);
		if (k != 2)
			r = first_unknown(v, c->known, bad, sizeof bad);
		if (r == TEMPLATE_BAD)
			return nrp_fail(c->err, c->errlen, "%s: %s: the client \"%s\" (%s): "
				       "%s", c->file, c->path, cname, field, bad);
		if (r != TEMPLATE_UNKNOWN)
			continue;
		const cJSON *from = cJSON_GetObjectItemCaseSensitive(conf, "_bearer_from");
		char set[400] = "";
		if (k == 1 && cJSON_IsString(from))
			snprintf(set, sizeof set, ", set by %s", from->valuestring);
		const char *at = later_at(c, bad);
		if (at)
			return nrp_fail(c->err, c->errlen, "%s: %s: the client \"%s\" sends {{%s}} "
				       "(%s%s) before it is defined: %s defines it "
				       "later; use the client after that step", c->file, c->path,
				       cname, bad, field, set, at);
		return nrp_fail(c->err, c->errlen, "%s: %s: the client \"%s\" sends {{%s}} "
			       "(%s%s), which nothing defines: no step captures it "
			       "and vars does not set it", c->file, c->path, cname, bad,
			       field, set);
	}
	return 0;
}

static int check_step(ctx *c, cJSON *s)
{
	static const char *const keys[] = {"name", "client", "method", "path", "url",
					   "headers", "query", "json", "form", "body",
					   "expect", "capture", "retry", "_file", "_path",
					   "_no_bearer", "_bearer_var", NULL};
	if (flow_known_keys(s, keys, c->file, c->path, c->err, c->errlen) < 0)
		return -1;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "method");
	if (m) {
		int ok = 0;
		for (const char *const *q = methods; cJSON_IsString(m) && *q; q++)
			ok |= !strcmp(m->valuestring, *q);
		if (!ok)
			return nrp_fail(c->err, c->errlen, "%s: %s.method: use GET, POST, PUT, "
				    "PATCH, DELETE, HEAD or OPTIONS", c->file, c->path);
	}
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "path");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "url");
	if (!!p + !!u != 1 || (p && !cJSON_IsString(p)) || (u && !cJSON_IsString(u)))
		return nrp_fail(c->err, c->errlen, "%s: %s: give \"path\" (relative to the base "
			    "URL) or \"url\", as a string", c->file, c->path);
	int bodies = 0;
	static const char *const bk[] = {"json", "form", "body"};
	for (int k = 0; k < 3; k++)
		bodies += cJSON_GetObjectItemCaseSensitive(s, bk[k]) != NULL;
	if (bodies > 1)
		return nrp_fail(c->err, c->errlen, "%s: %s: give one body: json, form or body",
			    c->file, c->path);
	const cJSON *form = cJSON_GetObjectItemCaseSensitive(s, "form");
	if (form && !cJSON_IsObject(form))
		return nrp_fail(c->err, c->errlen, "%s: %s.form: an object of field to value",
			    c->file, c->path);
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(s, "body");
	if (body && !cJSON_IsString(body))
		return nrp_fail(c->err, c->errlen, "%s: %s.body: a string (use json for JSON)",
			    c->file, c->path);
	static const char *const ok_obj[] = {"headers", "query"};
	for (int k = 0; k < 2; k++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(s, ok_obj[k]);
		if (o && !cJSON_IsObject(o))
			return nrp_fail(c->err, c->errlen, "%s: %s.%s: an object", c->file, c->path,
				    ok_obj[k]);
	}
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(s, "client");
	if (cl && (!cJSON_IsString(cl) ||
		   (strcmp(cl->valuestring, "default") &&
		    !cJSON_GetObjectItemCaseSensitive(c->clients, cl->valuestring))))
		return nrp_fail(c->err, c->errlen, "%s: %s.client: \"%s\" is not one of the "
			    "flow's clients; define it under \"clients\"", c->file, c->path,
			    cJSON_IsString(cl) ? cl->valuestring : "?");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(s, "retry");
	if (r) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "count");
		const cJSON *iv = cJSON_GetObjectItemCaseSensitive(r, "interval_ms");
		if (!cJSON_IsObject(r) || !cJSON_IsNumber(n) || n->valuedouble < 0 ||
		    n->valuedouble > 100 || (iv && (!cJSON_IsNumber(iv) || iv->valuedouble < 0)))
			return nrp_fail(c->err, c->errlen, "%s: %s.retry: {\"count\": 0-100, "
				    "\"interval_ms\": N}", c->file, c->path);
	}
	if (check_client(c, s) < 0)
		return -1;
	static const char *const tk[] = {"path", "url", "headers", "query", "json",
					 "form", "body"};
	for (int k = 0; k < 7; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, tk[k]);
		if (v && check_templates_in(c, v, tk[k]) < 0)
			return -1;
	}
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, "expect");
	if (e && check_expect(c, e) < 0)
		return -1;
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(s, "capture");
	return cap ? check_capture(c, cap) : 0;
}

/* Secrets: {"secret": "value"} anywhere in vars, clients or steps. */
static void collect_secrets(const cJSON *v, cJSON *out)
{
	const cJSON *it;
	if (cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "secret");
		if (cJSON_IsString(s) && s->valuestring[0]) {
			cJSON_AddItemToArray(out, cJSON_CreateString(s->valuestring));
			return;
		}
	}
	cJSON_ArrayForEach(it, v) collect_secrets(it, out);
}

static flow *flow_new(const char *path)
{
	flow *f = nrp_xcalloc(1, sizeof *f);
	f->file = nrp_xstrdup(path);
	f->vars = cJSON_CreateObject();
	f->clients = cJSON_CreateObject();
	f->secrets = cJSON_CreateArray();
	f->steps = cJSON_CreateArray();
	return f;
}

int flow_check_client_keys(const cJSON *cl, const char *file, const char *where, char *err,
			   size_t errlen)
{
	const cJSON *conn = cJSON_GetObjectItemCaseSensitive(cl, "connection");
	if (conn && (!cJSON_IsString(conn) || (strcmp(conn->valuestring, "quick-ack") &&
					       strcmp(conn->valuestring, "keep-alive") &&
					       strcmp(conn->valuestring, "fresh"))))
		return nrp_fail(err, errlen, "%s: %s.connection: \"quick-ack\" (the default), "
			       "\"keep-alive\" or \"fresh\"", file, where);
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(cl, "headers");
	if (hs && !cJSON_IsObject(hs))
		return nrp_fail(err, errlen, "%s: %s.headers: an object of header: value", file,
			       where);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(cl, "timeout_s");
	if (!t || (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble <= FLOW_MAX_TIMEOUT_S))
		return 0;
	return nrp_fail(err, errlen, "%s: %s.timeout_s: the seconds a request may take, "
		       "above 0 and at most %d, such as 30", file, where, FLOW_MAX_TIMEOUT_S);
}

/* Checks a flow whose steps are plain (the shorthands expanded) and
 * collects its secrets. */
static int flow_check(flow *f, char *err, size_t errlen)
{
	const char *path = f->file;
	cJSON *s;
	cJSON_Delete(f->secrets); /* checked again after flow_client_defaults */
	f->secrets = cJSON_CreateArray();
	if (!cJSON_GetArraySize(f->steps))
		return nrp_fail(err, errlen, "%s: steps: empty; a flow makes at least one request", path);
	/* Clients. */
	const cJSON *cl;
	cJSON_ArrayForEach(cl, f->clients)
	{
		static const char *const keys[] = {"basic", "bearer", "headers", "csrf",
						   "connection", "timeout_s", "_file", "_bearer_from",
						   "_env_file", "_env_keys", "_env_headers", NULL};
		char w[300];
		snprintf(w, sizeof w, "clients.%s", cl->string);
		const cJSON *cf = cJSON_GetObjectItemCaseSensitive(cl, "_file");
		const char *file = cJSON_IsString(cf) ? cf->valuestring : path;
		if (!cJSON_IsObject(cl))
			return nrp_fail(err, errlen, "%s: %s: must be an object", path, w);
		if (flow_known_keys(cl, keys, file, w, err, errlen) < 0)
			return -1;
		if (flow_check_client_keys(cl, file, w, err, errlen) < 0)
			return -1;
	}
	/* Steps, in order: each knows the variables defined before it. */
	ctx c = {.known = cJSON_CreateObject(), .later = cJSON_CreateObject(),
		 .clients = f->clients, .err = err, .errlen = errlen};
	/* Where each variable is first captured, to name it when a step uses
	 * it before. */
	cJSON_ArrayForEach(s, f->steps)
	{
		const cJSON *sf = cJSON_GetObjectItemCaseSensitive(s, "_file");
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(s, "_path");
		const cJSON *cap;
		cJSON_ArrayForEach(cap, cJSON_GetObjectItemCaseSensitive(s, "capture"))
		{
			char at[1024];
			if (!cap->string || cJSON_GetObjectItemCaseSensitive(c.later, cap->string))
				continue;
			snprintf(at, sizeof at, "%s: %s.capture.%s",
				 cJSON_IsString(sf) ? sf->valuestring : path,
				 cJSON_IsString(sp) ? sp->valuestring : "steps", cap->string);
			cJSON_AddStringToObject(c.later, cap->string, at);
		}
	}
	const cJSON *v;
	int rc = 0;
	cJSON_ArrayForEach(v, f->vars) cJSON_AddTrueToObject(c.known, v->string);
	cJSON_ArrayForEach(v, f->vars)
	{
		c.file = path;
		c.path = "vars";
		if ((rc = check_templates_in(&c, v, v->string)) < 0)
			break;
	}
	cJSON_ArrayForEach(s, f->steps)
	{
		if (rc < 0)
			break;
		const cJSON *sf = cJSON_GetObjectItemCaseSensitive(s, "_file");
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(s, "_path");
		if (!cJSON_IsString(sf) || !cJSON_IsString(sp)) {
			rc = nrp_fail(err, errlen, "%s: steps: a resolved step names its file "
				     "and path (_file, _path)", path);
			break;
		}
		c.file = sf->valuestring;
		c.path = sp->valuestring;
		rc = check_step(&c, s);
	}
	cJSON_Delete(c.known);
	cJSON_Delete(c.later);
	if (rc < 0)
		return -1;
	collect_secrets(f->vars, f->secrets);
	collect_secrets(f->clients, f->secrets);
	collect_secrets(f->steps, f->secrets);
	return 0;
}

flow *flow_parse(const char *path, char *text, char *err, size_t errlen)
{
	flow *f = flow_new(path);
	cJSON *raw = f->steps;
	char *stack[MAX_INCLUDE_DEPTH + 2];
	if (load_into(f, path, text, 0, stack, err, errlen) < 0)
		goto bad;
	/* Expand shorthands. */
	f->steps = cJSON_CreateArray();
	cJSON *s;
	int rc = 0;
	cJSON_ArrayForEach(s, raw)
	{
		if (cJSON_GetObjectItemCaseSensitive(s, "crud"))
			rc = expand_crud(f->steps, s, err, errlen);
		else if (cJSON_GetObjectItemCaseSensitive(s, "login"))
			rc = expand_login(f->steps, f->clients, s, err, errlen);
		else
			cJSON_AddItemToArray(f->steps, cJSON_Duplicate(s, 1));
		if (rc < 0)
			goto bad;
	}
	cJSON_Delete(raw);
	raw = NULL;
	if (flow_check(f, err, errlen) < 0)
		goto bad;
	return f;
bad:
	cJSON_Delete(raw == f->steps ? NULL : raw);
	flow_free(f);
	return NULL;
}

/* Whether an object has a key, in any case (HTTP's header names). */
static int has_key_nocase(const cJSON *o, const char *k)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
		if (!strcasecmp(it->string, k))
			return 1;
	return 0;
}

int flow_client_defaults(flow *f, const cJSON *defaults, const char *file, char *err,
			 size_t errlen)
{
	if (!cJSON_GetArraySize(defaults))
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(f->clients, "default"))
		cJSON_AddObjectToObject(f->clients, "default");
	const cJSON *dh = cJSON_GetObjectItemCaseSensitive(defaults, "headers");
	cJSON *cl;
	cJSON_ArrayForEach(cl, f->clients)
	{
		if (!cJSON_IsObject(cl))
			continue; /* flow_check says so */
		cJSON *keys = cJSON_CreateArray(), *names = cJSON_CreateArray();
		const cJSON *d;
		cJSON_ArrayForEach(d, defaults)
		{
			if (strcmp(d->string, "headers") &&
			    !cJSON_GetObjectItemCaseSensitive(cl, d->string)) {
				cJSON_AddItemToObject(cl, d->string, cJSON_Duplicate(d, 1));
				cJSON_AddItemToArray(keys, cJSON_CreateString(d->string));
			}
		}
		/* Headers merge: the environment's first, but for those the
		 * client sets itself, in any case. */
		cJSON *own = cJSON_DetachItemFromObjectCaseSensitive(cl, "headers");
		cJSON *hs = cJSON_CreateObject();
		cJSON_ArrayForEach(d, dh)
		{
			if (cJSON_IsObject(own) && has_key_nocase(own, d->string))
				continue;
			cJSON_AddItemToObject(hs, d->string, cJSON_Duplicate(d, 1));
			cJSON_AddItemToArray(names, cJSON_CreateString(d->string));
		}
		if (own && !cJSON_IsObject(own)) {
			cJSON_Delete(hs);
			hs = own; /* flow_check says so */
		} else {
			cJSON_ArrayForEach(d, own)
				cJSON_AddItemToObject(hs, d->string, cJSON_Duplicate(d, 1));
			cJSON_Delete(own);
		}
		if (cJSON_GetArraySize(hs) || !cJSON_IsObject(hs))
			cJSON_AddItemToObject(cl, "headers", hs);
		else
			cJSON_Delete(hs);
		cJSON_AddItemToObject(cl, "_env_keys", keys);
		cJSON_AddItemToObject(cl, "_env_headers", names);
		cJSON_AddStringToObject(cl, "_env_file", file);
	}
	return flow_check(f, err, errlen);
}

flow *flow_load(const char *path, char *err, size_t errlen)
{
	return flow_parse(path, NULL, err, errlen);
}

cJSON *flow_to_json(const flow *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", f->file);
	cJSON_AddStringToObject(o, "name", f->name);
	if (f->base_url)
		cJSON_AddStringToObject(o, "base_url", f->base_url);
	cJSON_AddItemToObject(o, "vars", cJSON_Duplicate(f->vars, 1));
	cJSON_AddItemToObject(o, "clients", cJSON_Duplicate(f->clients, 1));
	cJSON_AddItemToObject(o, "steps", cJSON_Duplicate(f->steps, 1));
	if (f->environment)
		cJSON_AddItemToObject(o, "environment", cJSON_Duplicate(f->environment, 1));
	return o;
}

flow *flow_from_json(const cJSON *o, char *err, size_t errlen)
{
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	const cJSON *base = cJSON_GetObjectItemCaseSensitive(o, "base_url");
	const cJSON *vars = cJSON_GetObjectItemCaseSensitive(o, "vars");
	const cJSON *clients = cJSON_GetObjectItemCaseSensitive(o, "clients");
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(o, "steps");
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(o, "environment");
	if (!cJSON_IsString(file) || !cJSON_IsString(name) || (base && !cJSON_IsString(base)) ||
	    !cJSON_IsObject(vars) || !cJSON_IsObject(clients) || !cJSON_IsArray(steps) ||
	    (env && !cJSON_IsObject(env))) {
		nrp_fail(err, errlen, "kwargs flow: not a resolved flow (file, name, vars, "
			"clients, steps); give the flow file as the uri instead");
		return NULL;
	}
	flow *f = flow_new(file->valuestring);
	f->name = nrp_xstrdup(name->valuestring);
	if (base)
		f->base_url = nrp_xstrdup(base->valuestring);
	cJSON_Delete(f->vars);
	cJSON_Delete(f->clients);
	cJSON_Delete(f->steps);
	f->vars = cJSON_Duplicate(vars, 1);
	f->clients = cJSON_Duplicate(clients, 1);
	f->steps = cJSON_Duplicate(steps, 1);
	if (env)
		f->environment = cJSON_Duplicate(env, 1);
	if (flow_check(f, err, errlen) < 0) {
		flow_free(f);
		return NULL;
	}
	return f;
}

void flow_free(flow *f)
{
	if (!f)
		return;
	free(f->file);
	free(f->name);
	free(f->base_url);
	cJSON_Delete(f->vars);
	cJSON_Delete(f->clients);
	cJSON_Delete(f->steps);
	cJSON_Delete(f->secrets);
	cJSON_Delete(f->environment);
	free(f);
}
