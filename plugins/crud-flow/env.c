#include "config.h"

#include "app.h"
#include "common/redact.h"
#include "common/util.h"
#include "env.h"
#include "preload.h"
#include "pg/provision.h"
#include "template.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>


#define PORT_TRIES 3
#define STOP_GRACE_MS 5000


static char *rel(const char *dir, const char *p)
{
	char *out;
	if (p[0] == '/' || !dir || !*dir)
		return nrp_xstrdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

/* --- reading ------------------------------------------------------------ */

static void merge(cJSON *into, const cJSON *from)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, from)
	{
		cJSON_DeleteItemFromObjectCaseSensitive(into, it->string);
		cJSON_AddItemToObject(into, it->string, cJSON_Duplicate(it, 1));
	}
}


/* Every field's placeholders are checked one way: "<file>: <path>:
 * unknown placeholder {{name}}; use <use>", or what is wrong with it. */
static int check_field(const env_spec *e, const char *path, const cJSON *v,
		       const cJSON *known, const char *use, char *err, size_t errlen)
{
	char what[256];
	if (!cJSON_IsString(v))
		return nrp_fail(err, errlen, "%s: %s: must be a string", e->source, path);
	int t = template_check(v->valuestring, known, what, sizeof what);
	if (t == TEMPLATE_UNKNOWN)
		return nrp_fail(err, errlen, "%s: %s: unknown placeholder {{%s}}; use %s", e->source,
			       path, what, use);
	if (t)
		return nrp_fail(err, errlen, "%s: %s: %s", e->source, path, what);
	return 0;
}

/* check_field over an array's items (path[i]) or an object's (path.NAME). */
static int check_fields(const env_spec *e, const char *path, const cJSON *v,
			const cJSON *known, const char *use, char *err, size_t errlen)
{
	const cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, v)
	{
		char p[512];
		if (cJSON_IsArray(v))
			snprintf(p, sizeof p, "%s[%d]", path, i++);
		else
			snprintf(p, sizeof p, "%s.%s", path, it->string);
		if (check_field(e, p, it, known, use, err, errlen) < 0)
			return -1;
	}
	return 0;
}

#define PRELOAD_USE "{{env.NAME}} only: the preloader starts before any flow"
#define APP_USE "{{port}}, {{db.name}}, {{db.host}}, {{db.port}}, {{db.user}}, " \
	"{{db.password}}, {{db.url}}, {{db.socket}} or {{env.NAME}}"

/* environment.app.preload: {command, env}, with {{env.NAME}} templates
 * only (it starts before any flow). */
static int check_preload(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(e->app, "preload");
	if (!pre)
		return 0;
	static const char *const prek[] = {"command", "env", NULL};
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(pre, "command");
	if (!cJSON_IsObject(pre) || !cJSON_IsArray(cmd) || !cJSON_GetArraySize(cmd))
		return nrp_fail(err, errlen, "%s: environment.app.preload.command: the "
			       "preloader's command, as an argument vector such as "
			       "[\"/usr/bin/python3\", \"manage.py\", \"preload\"]", e->source);
	if (flow_known_keys(pre, prek, e->source, "environment.app.preload", err, errlen) < 0)
		return -1;
	cJSON *none = cJSON_CreateObject();
	int rc = check_fields(e, "environment.app.preload.command", cmd, none, PRELOAD_USE,
			      err, errlen);
	const cJSON *penv = cJSON_GetObjectItemCaseSensitive(pre, "env");
	if (rc == 0 && penv && !cJSON_IsObject(penv))
		rc = nrp_fail(err, errlen, "%s: environment.app.preload.env: an object of "
			     "strings", e->source);
	if (rc == 0)
		rc = check_fields(e, "environment.app.preload.env", penv, none, PRELOAD_USE, err,
				  errlen);
	cJSON_Delete(none);
	return rc;
}

/* Whether v is an HTTP status: a whole number from 100 to 599. */
static int http_status(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 100 && v->valuedouble <= 599 &&
	       v->valuedouble == (double)(int)v->valuedouble;
}

/* environment.ready.status: a status, or a non-empty list of them. */
static int check_ready_status(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e->ready, "status");
	int ok = !st || http_status(st) || (cJSON_IsArray(st) && cJSON_GetArraySize(st) > 0);
	const cJSON *it;
	if (cJSON_IsArray(st))
		cJSON_ArrayForEach(it, st)
			ok = ok && http_status(it);
	if (!ok)
		return nrp_fail(err, errlen, "%s: environment.ready.status: the status the "
			       "probe waits for, such as 200, or a list of them, such as "
			       "[200, 301]", e->source);
	return 0;
}

/* environment.app.stop: how the app is stopped after its flow.  "kill"
 * (the default): SIGKILL to its process group at once when its database
 * is dropped next, since nothing it could still write would be kept (an
 * ASGI server's graceful shutdown alone takes 0.3 s); "graceful": SIGTERM,
 * then SIGKILL after 5 s; {"graceful": S}: after S seconds.  A kept
 * database always gets a graceful stop. */
static int check_stop(env_spec *e, char *err, size_t errlen)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e->app, "stop");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(st, "graceful");
	e->stop_grace_ms = -1;
	if (!st || (cJSON_IsString(st) && !strcmp(st->valuestring, "kill")))
		return 0;
	if (cJSON_IsString(st) && !strcmp(st->valuestring, "graceful")) {
		e->stop_grace_ms = STOP_GRACE_MS;
		return 0;
	}
	if (cJSON_IsObject(st) && cJSON_GetArraySize(st) == 1 && cJSON_IsNumber(g) &&
	    g->valuedouble > 0 && g->valuedouble <= 300) {
		e->stop_grace_ms = (int)(g->valuedouble * 1000);
		return 0;
	}
	return nrp_fail(err, errlen, "%s: environment.app.stop: \"kill\" (the default: at "
		       "once, the database is dropped next), \"graceful\" (SIGTERM, then "
		       "SIGKILL after 5 s) or {\"graceful\": SECONDS} (0-300)", e->source);
}

/* environment.ready.path: a path, with no placeholder (the probe fills
 * none). */
static int check_ready_path(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(e->ready, "path");
	if (!p)
		return 0;
	if (!cJSON_IsString(p) || p->valuestring[0] != '/')
		return nrp_fail(err, errlen, "%s: environment.ready.path: the path the probe "
			       "asks for, such as \"/api/health/\"", e->source);
	const char *open = strstr(p->valuestring, "{{"), *close = open ? strstr(open, "}}") : NULL;
	if (open)
		return nrp_fail(err, errlen, "%s: environment.ready.path: unknown placeholder "
			       "{{%.*s}}; the probe's path takes none", e->source,
			       close ? (int)(close - open - 2) : (int)strlen(open + 2), open + 2);
	return 0;
}

/* environment.app.warm: true, false, or {"modules": [names]}. */
static int check_warm(const env_spec *e, char *err, size_t errlen)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(e->app, "warm");
	if (!w || cJSON_IsBool(w))
		return 0;
	static const char *const wk[] = {"modules", NULL};
	const cJSON *mods = cJSON_GetObjectItemCaseSensitive(w, "modules");
	int ok = cJSON_IsObject(w) && cJSON_IsArray(mods);
	const cJSON *it;
	cJSON_ArrayForEach(it, mods)
		ok = ok && cJSON_IsString(it) && it->valuestring[0];
	if (!ok)
		return nrp_fail(err, errlen, "%s: environment.app.warm: true, false (no warm "
			       "start), or {\"modules\": [\"django\", ...]}, the modules to "
			       "preload", e->source);
	return flow_known_keys(w, wk, e->source, "environment.app.warm", err, errlen);
}

/* environment.client: the defaults of every client of every flow
 * (connection, headers, timeout_s), checked as a flow's client is.  A
 * header's {{variable}} is the flow's: flow_client_defaults checks that
 * each flow defines it; here only that the template is well formed. */
static int check_client_defaults(const cJSON *cl, const char *file, char *err, size_t errlen)
{
	static const char *const keys[] = {"connection", "headers", "timeout_s", NULL};
	if (!cJSON_IsObject(cl))
		return nrp_fail(err, errlen, "%s: environment.client: an object of what every "
			       "client of every flow sends by default: connection, headers, "
			       "timeout_s", file);
	if (flow_known_keys(cl, keys, file, "environment.client", err, errlen) < 0)
		return -1;
	if (flow_check_client_keys(cl, file, "environment.client", err, errlen) < 0)
		return -1;
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(cl, "headers"), *h;
	cJSON *none = cJSON_CreateObject();
	int rc = 0;
	cJSON_ArrayForEach(h, hs)
	{
		const cJSON *sec = cJSON_GetObjectItemCaseSensitive(h, "secret");
		char what[256];
		if (!cJSON_IsString(h) && !(cJSON_IsObject(h) && cJSON_GetArraySize(h) == 1 &&
					    cJSON_IsString(sec))) {
			rc = nrp_fail(err, errlen, "%s: environment.client.headers.%s: a string, or "
				     "{\"secret\": \"...\"}", file, h->string);
			break;
		}
		if (cJSON_IsString(h) &&
		    template_check(h->valuestring, none, what, sizeof what) == TEMPLATE_BAD) {
			rc = nrp_fail(err, errlen, "%s: environment.client.headers.%s: %s", file,
				     h->string, what);
			break;
		}
	}
	cJSON_Delete(none);
	return rc;
}

/* The environment file of a flow in dir: the nearest nrunner-env.json in
 * dir or the directories above it, up to the project's root (the first
 * with a .git) or /.  Sets file to its path and dir to its directory (as
 * given when it is dir's own); file is dir's own when there is none. */
static void find_env_file(char *dir, size_t dirlen, char *file, size_t filelen)
{
	snprintf(file, filelen, "%s/" ENV_FILE, dir);
	char cur[PATH_MAX], probe[PATH_MAX + 32];
	if (access(file, F_OK) == 0 || !realpath(dir, cur))
		return;
	for (;;) {
		snprintf(probe, sizeof probe, "%s/.git", cur);
		char *up = strrchr(cur, '/');
		if (access(probe, F_OK) == 0 || !up || up == cur)
			return;
		*up = '\0';
		snprintf(probe, sizeof probe, "%s/" ENV_FILE, cur);
		if (access(probe, F_OK) == 0) {
			snprintf(file, filelen, "%s", probe);
			snprintf(dir, dirlen, "%s", cur);
			return;
		}
	}
}

static cJSON *source_of(const char *dir, const char *file);

/* The directory of a file's path ("." for a bare name). */
static void dir_of(const char *path, char *dir, size_t len)
{
	snprintf(dir, len, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	else if (slash)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, ".");
}

cJSON *env_source(const char *path)
{
	char dir[PATH_MAX];
	dir_of(path, dir, sizeof dir);
	char file[PATH_MAX + 32];
	find_env_file(dir, sizeof dir, file, sizeof file);
	return source_of(dir, file);
}

static cJSON *source_of(const char *dir, const char *file)
{
	cJSON *src = cJSON_CreateObject();
	cJSON_AddStringToObject(src, "dir", dir);
	char *text = nrp_read_text(file, NULL);
	if (text) {
		cJSON *suite = cJSON_Parse(text);
		free(text);
		cJSON_AddStringToObject(src, "file", file);
		if (cJSON_IsObject(suite))
			cJSON_AddItemToObject(src, "suite", suite);
		else
			cJSON_Delete(suite);
	}
	return src;
}

int env_load(const cJSON *source, const char *path, const cJSON *flow_env,
	     const char *kw_mode, const char *kw_keep, env_spec *e, char *err,
	     size_t errlen)
{
	memset(e, 0, sizeof *e);
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(source, "dir");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(source, "file");
	const cJSON *suite = cJSON_GetObjectItemCaseSensitive(source, "suite");
	if (!cJSON_IsString(dir) || (file && !cJSON_IsString(file)))
		return nrp_fail(err, errlen, "%s: kwargs flow: its environment names no "
			       "directory; give the flow file as the uri instead", path);
	e->dir = nrp_xstrdup(dir->valuestring);
	cJSON *spec = cJSON_CreateObject();
	const char *src = path;
	if (file) {
		if (!cJSON_IsObject(suite)) {
			cJSON_Delete(spec);
			env_free(e);
			return nrp_fail(err, errlen, "%s: not a JSON object; it describes the "
				    "flows' environment (see nrunner-flow(5))", file->valuestring);
		}
		merge(spec, suite);
		src = file->valuestring;
	}
	/* A flow's own clients are under its "clients". */
	static const char *const flowtop[] = {"mode", "app", "ready", "provision", "keep",
					      NULL};
	if (flow_env && flow_known_keys(flow_env, flowtop, path, "environment", err,
					errlen) < 0)
		goto bad;
	if (flow_env)
		merge(spec, flow_env);
	e->source = nrp_xstrdup(flow_env ? path : src);
	static const char *const top[] = {"mode", "app", "ready", "provision", "keep",
					  "client", NULL};
	if (flow_known_keys(spec, top, e->source, "environment", err, errlen) < 0)
		goto bad;
	e->client = cJSON_DetachItemFromObjectCaseSensitive(spec, "client");
	e->client_source = nrp_xstrdup(src);
	if (e->client && check_client_defaults(e->client, src, err, errlen) < 0)
		goto bad;
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(spec, "mode");
	/* NRUNNER_BASE_URL names an app already running: shared. */
	const char *named = getenv("NRUNNER_BASE_URL");
	if (!kw_mode && named && *named)
		kw_mode = "shared";
	const char *m = kw_mode ? kw_mode : cJSON_IsString(mode) ? mode->valuestring : NULL;
	if (m && strcmp(m, "isolated") && strcmp(m, "shared")) {
		nrp_fail(err, errlen, "%s: environment.mode: \"%s\": use \"isolated\" or "
		     "\"shared\"", kw_mode ? "kwargs environment" : e->source, m);
		goto bad;
	}
	e->app = cJSON_DetachItemFromObjectCaseSensitive(spec, "app");
	e->ready = cJSON_DetachItemFromObjectCaseSensitive(spec, "ready");
	e->provision = cJSON_DetachItemFromObjectCaseSensitive(spec, "provision");
	e->isolated = m ? !strcmp(m, "isolated") : e->app != NULL;
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(spec, "keep");
	const char *k = kw_keep ? kw_keep : cJSON_IsString(keep) ? keep->valuestring : "never";
	if (strcmp(k, "never") && strcmp(k, "on-failure") && strcmp(k, "always")) {
		nrp_fail(err, errlen, "%s: keep: \"%s\": use never, on-failure or always",
		     kw_keep ? "kwargs" : e->source, k);
		goto bad;
	}
	e->keep = nrp_xstrdup(k);
	if (!e->isolated) {
		cJSON_Delete(spec);
		return 0;
	}
	/* The app. */
	static const char *const appk[] = {"command", "cwd", "env", "preload", "warm",
					   "stop", NULL};
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(e->app, "command");
	if (!cJSON_IsObject(e->app) || !cJSON_IsArray(cmd) || !cJSON_GetArraySize(cmd)) {
		nrp_fail(err, errlen, "%s: environment.app.command: an isolated environment "
		     "needs the app's command, as an argument vector such as "
		     "[\"/usr/bin/python3\", \"manage.py\", \"serve\"]", e->source);
		goto bad;
	}
	if (flow_known_keys(e->app, appk, e->source, "environment.app", err, errlen) < 0)
		goto bad;
	cJSON *known = cJSON_CreateObject();
	static const char *const vars[] = {"port", "db.name", "db.host", "db.port",
					   "db.user", "db.password", "db.url",
					   "db.socket", NULL};
	for (const char *const *v = vars; *v; v++)
		cJSON_AddTrueToObject(known, *v);
	const cJSON *aenv = cJSON_GetObjectItemCaseSensitive(e->app, "env");
	if (check_fields(e, "environment.app.command", cmd, known, APP_USE, err, errlen) < 0 ||
	    check_fields(e, "environment.app.env", aenv, known, APP_USE, err, errlen) < 0) {
		cJSON_Delete(known);
		goto bad;
	}
	cJSON_Delete(known);
	if (check_preload(e, err, errlen) < 0 || check_warm(e, err, errlen) < 0 ||
	    check_stop(e, err, errlen) < 0)
		goto bad;
	static const char *const readyk[] = {"path", "status", "timeout_s", NULL};
	if (e->ready && (!cJSON_IsObject(e->ready) ||
			 flow_known_keys(e->ready, readyk, e->source, "environment.ready", err,
				    errlen) < 0)) {
		if (!cJSON_IsObject(e->ready))
			nrp_fail(err, errlen, "%s: environment.ready: an object: path, status, "
			     "timeout_s", e->source);
		goto bad;
	}
	if (check_ready_status(e, err, errlen) < 0 || check_ready_path(e, err, errlen) < 0)
		goto bad;
	static const char *const provk[] = {"kind", "uri", "kwargs", NULL};
	if (e->provision && (!cJSON_IsObject(e->provision) ||
			     flow_known_keys(e->provision, provk, e->source,
					"environment.provision", err, errlen) < 0)) {
		if (!cJSON_IsObject(e->provision))
			nrp_fail(err, errlen, "%s: environment.provision: an object: kind, uri, "
			     "kwargs", e->source);
		goto bad;
	}
	const cJSON *pk = cJSON_GetObjectItemCaseSensitive(e->provision, "kind");
	if (pk && (!cJSON_IsString(pk) || (strcmp(pk->valuestring, "provision-sql") &&
					   strcmp(pk->valuestring, "provision-migrate") &&
					   strcmp(pk->valuestring, "provision-template")))) {
		nrp_fail(err, errlen, "%s: environment.provision.kind: use provision-sql, "
		     "provision-migrate or provision-template", e->source);
		goto bad;
	}
	cJSON_Delete(spec);
	return 0;
bad:
	cJSON_Delete(spec);
	env_free(e);
	return -1;
}

void env_free(env_spec *e)
{
	free(e->dir);
	free(e->source);
	free(e->keep);
	free(e->client_source);
	cJSON_Delete(e->client);
	cJSON_Delete(e->app);
	cJSON_Delete(e->ready);
	cJSON_Delete(e->provision);
	memset(e, 0, sizeof *e);
}

int env_flow_of(const nr_host *h, const char *uri, const nr_value *kw,
		const nr_value *config, flow **fp,
		env_spec *e, char *err, size_t errlen)
{
	*fp = NULL;
	memset(e, 0, sizeof *e);
	const nr_value *given = h->get(kw, "flow");
	cJSON *resolved = NULL, *source = NULL;
	flow *f;
	/* nrunner run --environment FILE: that file, not the one found
	 * from the flow. */
	const char *named = h->string(h->get(config, ENV_FILE_CONFIG));
	if (named) {
		char dir[PATH_MAX];
		dir_of(named, dir, sizeof dir);
		if (access(named, R_OK) < 0)
			return nrp_fail(err, errlen, "--environment %s (config %s): cannot read "
				       "it: %s", named, ENV_FILE_CONFIG, strerror(errno));
		source = source_of(dir, named);
	}
	if (given) {
		char *j = h->to_json(given);
		resolved = j ? cJSON_Parse(j) : NULL;
		h->free(j);
		f = flow_from_json(resolved, err, errlen);
	} else {
		f = flow_load(uri, err, errlen);
		if (!source)
			source = f ? env_source(uri) : NULL;
	}
	int rc = -1;
	if (f) {
		/* A base URL in the kwargs means the app is already there. */
		const char *base = h->string(h->get(kw, "base_url"));
		rc = env_load(source ? source : cJSON_GetObjectItemCaseSensitive(resolved, "env_file"),
			      f->file, f->environment,
			      base ? "shared" : h->string(h->get(kw, "environment")),
			      h->string(h->get(kw, "keep")), e, err, errlen);
		if (rc == 0 && flow_client_defaults(f, e->client, e->client_source, err,
						    errlen) < 0) {
			env_free(e);
			rc = -1;
		}
	}
	cJSON_Delete(resolved);
	cJSON_Delete(source);
	if (rc < 0) {
		flow_free(f);
		return -1;
	}
	*fp = f;
	return 0;
}

static char **strv(const cJSON *v)
{
	if (!v)
		return NULL;
	int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
	char **out = nrp_xcalloc((size_t)n + 1, sizeof *out);
	for (int i = 0; i < n; i++) {
		const cJSON *it = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : v;
		out[i] = nrp_xstrdup(cJSON_IsString(it) ? it->valuestring : "");
	}
	return out;
}

/* The provisioning options; strings point into e (and a static buffer
 * for the resolved paths, kept in the opts' owner). */
typedef struct pg_opts_box {
	nrpg_opts o;
	char *uri, *cwd;
} pg_opts_box;

/* environment.provision.kwargs env and fixtures into o (SQL files relative
 * to the environment file's directory), and the placeholders of every
 * build command checked. */
static int build_env_fixtures(const env_spec *e, const cJSON *kw, nrpg_opts *o, char *err,
			      size_t errlen)
{
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(kw, "env");
	const cJSON *fx = cJSON_GetObjectItemCaseSensitive(kw, "fixtures");
	const cJSON *it;
	int i = 0;
	if (env) {
		o->env = nrp_xcalloc((size_t)cJSON_GetArraySize(env) + 1, sizeof *o->env);
		int ok = cJSON_IsObject(env);
		if (ok)
			cJSON_ArrayForEach(it, env)
				ok = ok && cJSON_IsString(it) && it->string[0] &&
				     !strchr(it->string, '=');
		if (!ok)
			return nrp_fail(err, errlen, "%s: environment.provision.kwargs.env: the "
				       "build commands' environment, an object of NAME: "
				       "\"value\"", e->source);
		cJSON_ArrayForEach(it, env)
			if (asprintf(&o->env[i++], "%s=%s", it->string, it->valuestring) < 0)
				abort();
	}
	if (fx && (!cJSON_IsArray(fx) || !cJSON_GetArraySize(fx)))
		return nrp_fail(err, errlen, "%s: environment.provision.kwargs.fixtures: a list "
			       "of SQL files and commands, applied in order after the "
			       "schema", e->source);
	if (fx) {
		o->fixtures = nrp_xcalloc((size_t)cJSON_GetArraySize(fx) + 1, sizeof *o->fixtures);
		cJSON_ArrayForEach(it, fx)
		{
			nrpg_fixture *f = &o->fixtures[o->nfixtures++];
			int ok = cJSON_IsArray(fx) && ((cJSON_IsString(it) && it->valuestring[0]) ||
						       (cJSON_IsArray(it) && cJSON_GetArraySize(it)));
			const cJSON *a;
			if (cJSON_IsArray(it))
				cJSON_ArrayForEach(a, it)
					ok = ok && cJSON_IsString(a);
			if (!ok)
				return nrp_fail(err, errlen, "%s: environment.provision.kwargs."
					       "fixtures[%zu]: a SQL file (\"fixtures/users.sql\") or a "
					       "command ([\"python3\", \"manage.py\", \"loaddata\", "
					       "\"users.json\"])", e->source, o->nfixtures - 1);
			if (cJSON_IsString(it))
				f->sql = rel(e->dir, it->valuestring);
			else
				f->argv = strv(it);
		}
	}
	char where[PATH_MAX + 64];
	snprintf(where, sizeof where, "%s: environment.provision.kwargs", e->source);
	return nrpg_check_placeholders(o, where, err, errlen);
}

int env_pg_opts(const env_spec *e, const char *flow_name, void *box_, char *err,
		size_t errlen)
{
	pg_opts_box *b = box_;
	memset(b, 0, sizeof *b);
	const cJSON *p = e->provision;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(p, "kind");
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(p, "uri");
	const cJSON *kw = cJSON_GetObjectItemCaseSensitive(p, "kwargs");
	static const char *const kwk[] = {"dsn", "prefix", "strategy", "command", "cwd",
					  "inputs", "env", "fixtures", NULL};
	if (kw && flow_known_keys(kw, kwk, e->source, "environment.provision.kwargs", err,
			     errlen) < 0)
		return -1;
	const cJSON *s;
	b->o.dsn = cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(kw, "dsn")) ? s->valuestring : NULL;
	b->o.prefix = cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(kw, "prefix")) ? s->valuestring : NULL;
	b->o.strategy = cJSON_IsString(s = cJSON_GetObjectItemCaseSensitive(kw, "strategy")) ? s->valuestring : NULL;
	b->o.name = flow_name;
	const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(kw, "cwd");
	if (cJSON_IsString(cwd))
		b->o.cwd = b->cwd = rel(e->dir, cwd->valuestring);
	b->o.command = strv(cJSON_GetObjectItemCaseSensitive(kw, "command"));
	b->o.inputs = strv(cJSON_GetObjectItemCaseSensitive(kw, "inputs"));
	if (cJSON_IsString(uri))
		b->uri = rel(e->dir, uri->valuestring);
	int rc = build_env_fixtures(e, kw, &b->o, err, errlen);
	if (rc < 0) {
		nrpg_free_opts(&b->o);
		free(b->uri);
		free(b->cwd);
		b->uri = b->cwd = NULL;
		return -1;
	}
	rc = nrpg_finish_opts(cJSON_IsString(kind) ? kind->valuestring : "provision-template",
				   b->uri, &b->o, err, errlen);
	if (rc < 0) {
		/* Name the file the options came from. */
		char tmp[2048];
		snprintf(tmp, sizeof tmp, "%s: environment.provision: %s", e->source, err);
		snprintf(err, errlen, "%s", tmp);
		free(b->uri);
		free(b->cwd);
		b->uri = b->cwd = NULL;
	}
	return rc;
}

/* Tells the template cache the template the flow's environment wants
 * (before the private server starts). */
static void env_want_template(const env_spec *e, const char *flow_name)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e->provision, "kind");
	if (cJSON_IsString(kind) && strcmp(kind->valuestring, "provision-template"))
		return;
	pg_opts_box box;
	char ignored[1024];
	if (env_pg_opts(e, flow_name, &box, ignored, sizeof ignored) < 0)
		return; /* said when it is built */
	nrpg_template_cache_want(&box.o);
	nrpg_free_opts(&box.o);
	free(box.uri);
	free(box.cwd);
}

static void pg_opts_box_free(pg_opts_box *b)
{
	if (!b)
		return;
	nrpg_free_opts(&b->o);
	free(b->uri);
	free(b->cwd);
	free(b);
}

/* --- running ------------------------------------------------------------ */

/* A free port, and a claim on it: the kernel may give a port just closed
 * to the next bind(0), so two flows starting at once could pick the same
 * one.  Each flow holds an abstract Unix socket named after its port (gone
 * with the process, leaving nothing behind); a port claimed by another
 * flow, of this job or another, is skipped. */
static int free_port(int *claim)
{
	for (int tries = 0; tries < 64; tries++) {
		int port = nrp_loopback_port();
		if (port < 0)
			return -1;
		int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char name[32];
		snprintf(name, sizeof name, "nrunner-port-%d", port);
		struct sockaddr_un un;
		socklen_t ul = nrp_abstract_addr(&un, name);
		if (u >= 0 && bind(u, (struct sockaddr *)&un, ul) == 0) {
			*claim = u;
			return port;
		}
		if (u >= 0)
			close(u);
	}
	return -1;
}


/* The app's environment: environment.app.env, and, when its database is
 * on the job's private server, libpq's PGHOST (its socket: trust, no
 * password exchange on each connection), PGPORT, PGUSER and PGPASSWORD
 * for it (unless app.env sets them): the server is the job's, named in no
 * variable of nrunner's own environment. */
static cJSON *app_env(const env_spec *e, int private_pg)
{
	cJSON *env = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e->app, "env"), 1);
	if (!env)
		env = cJSON_CreateObject();
	static const char *const pg[][2] = {{"PGHOST", "{{db.socket}}"},
					    {"PGPORT", "{{db.port}}"},
					    {"PGUSER", "{{db.user}}"},
					    {"PGPASSWORD", "{{db.password}}"}};
	for (size_t i = 0; private_pg && i < sizeof pg / sizeof *pg; i++)
		if (!cJSON_GetObjectItemCaseSensitive(env, pg[i][0]))
			cJSON_AddStringToObject(env, pg[i][0], pg[i][1]);
	return env;
}

static long spawn_app(const env_spec *e, cJSON *vars, int private_pg, const char *log,
		      char *err, size_t errlen)
{
	const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(e->app, "cwd");
	char *dir = rel(e->dir, cJSON_IsString(cwd) ? cwd->valuestring : ".");
	app_cmd c;
	cJSON *env = app_env(e, private_pg);
	int rc = app_cmd_build(cJSON_GetObjectItemCaseSensitive(e->app, "command"), env, vars,
			       dir, NULL, &c, err, errlen);
	cJSON_Delete(env);
	free(dir);
	if (rc < 0)
		return -1;
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int error = errno;
	long pid = out < 0 ? -1 : app_start(&c, out, preload_socket(e), &error);
	if (out >= 0)
		close(out);
	if (pid < 0) {
		char hint[256];
		nrp_module_hint(c.argv[0], error, hint, sizeof hint);
		nrp_fail(err, errlen, "cannot start the app '%s' (environment.app.command[0] "
		     "in %s) in %s: %s%s", c.argv[0], e->source, c.dir, strerror(error), hint);
	}
	app_cmd_free(&c);
	return pid;
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
	(void)d, (void)u;
	return s * n;
}

/* Whether code is what ready.status asks for (200 by default). */
static int ready_status(const cJSON *st, long code)
{
	if (!st)
		return code == 200;
	if (!cJSON_IsArray(st))
		return code == st->valueint;
	const cJSON *it;
	cJSON_ArrayForEach(it, st)
		if (code == it->valueint)
			return 1;
	return 0;
}

/* Waits for the app to answer its readiness probe.  0 ready, 1 it exited
 * (status in *status), -1 timeout or interrupted (err says). */
static int wait_ready(const nr_host *h, nr_task *t, const env_spec *e, const char *base,
		      long pid, int *status, char *err, size_t errlen)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(e->ready, "path");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e->ready, "status");
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(e->ready, "timeout_s");
	(void)status; /* the caller reaps the app, and reads its status then */
	/* One status or a list (checked when the file was read). */
	char want[128] = "200";
	if (st) {
		want[0] = '\0';
		int n = cJSON_IsArray(st) ? cJSON_GetArraySize(st) : 1;
		for (int i = 0; i < n; i++) {
			const cJSON *w = cJSON_IsArray(st) ? cJSON_GetArrayItem(st, i) : st;
			size_t l = strlen(want);
			snprintf(want + l, sizeof want - l, "%s%d", i == 0 ? "" : i == n - 1 ? " or " : ", ",
				 w->valueint);
		}
	}
	double timeout_ms = (cJSON_IsNumber(to) ? to->valuedouble : 30) * 1000;
	char url[1024];
	snprintf(url, sizeof url, "%s%s", base, cJSON_IsString(path) ? path->valuestring : "/");
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	double t0 = nrp_now_ms();
	long step_us = 2000, last_code = 0;
	char last_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, last_err);
	int rc = -1;
	for (;;) {
		/* WNOWAIT: an exited app stays a zombie, holding its group id,
		 * until the caller has told the core the group is gone. */
		if (app_exited(pid)) {
			rc = 1;
			break;
		}
		last_err[0] = '\0';
		if (curl_easy_perform(c) == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &last_code);
			if (ready_status(st, last_code)) {
				rc = 0;
				break;
			}
		}
		if (h->interrupted(t)) {
			nrp_fail(err, errlen, "interrupted while waiting for the app");
			break;
		}
		if (nrp_now_ms() - t0 > timeout_ms) {
			char got[CURL_ERROR_SIZE + 32];
			if (last_err[0])
				snprintf(got, sizeof got, "%s", last_err);
			else
				snprintf(got, sizeof got, "it answered %ld", last_code);
			nrp_fail(err, errlen, "the app was not ready after %g s: GET %s expected %s, "
			     "%s", timeout_ms / 1000, url, want, got);
			break;
		}
		/* A short back-off: a preloaded app is ready in tens of
		 * milliseconds, one started afresh in most of a second. */
		struct timespec ts = {0, step_us * 1000L};
		nanosleep(&ts, NULL);
		if (step_us < 100000)
			step_us += step_us / 2;
	}
	curl_easy_cleanup(c);
	return rc;
}

static void stop_app(const nr_host *h, nr_task *t, long pid, int grace_ms)
{
	if (pid <= 0)
		return;
	app_stop(pid, grace_ms);
	h->process_group(t, pid, 0);
	while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int env_up(const nr_host *h, nr_task *t, const env_spec *e, const char *flow_name,
	   env_run *r, char *err, size_t errlen)
{
	nrp_jd_use(h, t);
	memset(r, 0, sizeof *r);
	r->app_pid = -1;
	r->port_claim = -1;
	pg_opts_box *box = nrp_xcalloc(1, sizeof *box);
	nrpg_db *db = nrp_xcalloc(1, sizeof *db);
	r->opts = box;
	r->db = db;
	double t0 = nrp_now_ms();
	if (env_pg_opts(e, flow_name, box, err, errlen) < 0) {
		free(box);
		free(db);
		r->opts = r->db = NULL;
		return -1;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e->provision, "kind");
	int is_template = !cJSON_IsString(kind) || !strcmp(kind->valuestring, "provision-template");
	if (nrpg_provision(&box->o, is_template, db, err, errlen) < 0) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "provisioning the flow's database: %s", err);
		snprintf(err, errlen, "%s", tmp);
		pg_opts_box_free(box);
		free(db);
		r->opts = r->db = NULL;
		return -1;
	}
	r->provision_ms = nrp_now_ms() - t0;
	r->db_from_pool = db->from_pool;
	snprintf(r->db_name, sizeof r->db_name, "%s", db->name);
	/* The app's log: in the task's directory, else a temporary file. */
	const char *od = h->output_dir(t);
	if (od) {
		if (asprintf(&r->log_path, "%s/app.log", od) < 0)
			r->log_path = NULL;
	} else {
		char tmpl[] = "/tmp/nrunner-app.XXXXXX";
		int fd = mkstemp(tmpl);
		if (fd >= 0)
			close(fd);
		r->log_path = nrp_xstrdup(tmpl);
		r->log_is_temp = 1;
	}
	double t1 = nrp_now_ms();
	cJSON *vars = cJSON_CreateObject();
	cJSON_AddStringToObject(vars, "db.name", db->name);
	cJSON_AddStringToObject(vars, "db.host", db->host);
	cJSON_AddStringToObject(vars, "db.port", db->port);
	cJSON_AddStringToObject(vars, "db.user", db->user);
	cJSON_AddStringToObject(vars, "db.url", db->url);
	cJSON_AddStringToObject(vars, "db.password", db->password);
	cJSON_AddStringToObject(vars, "db.socket", db->socket);
	int private_pg = !(box->o.dsn && *box->o.dsn) && !nrpg_server_named() &&
			 nrp_jd_get(NRPG_KEY_PRIVATE);
	int rc = -1;
	for (int attempt = 1; attempt <= PORT_TRIES; attempt++) {
		if (r->port_claim >= 0)
			close(r->port_claim);
		r->port_claim = -1;
		r->port = free_port(&r->port_claim);
		char ps[16];
		snprintf(ps, sizeof ps, "%d", r->port);
		cJSON_DeleteItemFromObjectCaseSensitive(vars, "port");
		cJSON_AddStringToObject(vars, "port", ps);
		snprintf(r->base_url, sizeof r->base_url, "http://127.0.0.1:%d", r->port);
		r->app_pid = spawn_app(e, vars, private_pg, r->log_path, err, errlen);
		if (r->app_pid < 0)
			break;
		r->app_pid_seen = r->app_pid;
		/* Its own group: the core kills it too, however the task ends. */
		h->process_group(t, r->app_pid, 1);
		int status = 0;
		int w = wait_ready(h, t, e, r->base_url, r->app_pid, &status, err, errlen);
		if (w == 0) {
			rc = 0;
			break;
		}
		char tail[1600];
		nrp_log_tail(r->log_path, tail, sizeof tail);
		nrp_redact(tail, sizeof tail, db->password);
		if (w == 1) {
			h->process_group(t, r->app_pid, 0);
			while (waitpid((pid_t)r->app_pid, &status, 0) < 0 && errno == EINTR)
				;
			r->app_pid = -1;
			/* Lost the race for the port: another one. */
			if (attempt < PORT_TRIES && strstr(tail, "in use"))
				continue;
			char how[64];
			if (WIFEXITED(status))
				snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
			else
				snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
			nrp_fail(err, errlen, "the app %s before it was ready; its log ends: %s", how,
			     tail[0] ? tail : "(empty)");
			break;
		}
		stop_app(h, t, r->app_pid, 0);
		r->app_pid = -1;
		if (tail[0])
			snprintf(err + strlen(err), errlen - strlen(err), "; its log ends: %s", tail);
		break;
	}
	cJSON_Delete(vars);
	r->app_start_ms = nrp_now_ms() - t1;
	if (rc < 0) {
		char note[16];
		env_down(h, t, e, r, 0, note, sizeof note);
	}
	return rc;
}

void env_down(const nr_host *h, nr_task *t, const env_spec *e, env_run *r,
	      int failed, char *note, size_t notelen)
{
	(void)t;
	double t0 = nrp_now_ms();
	note[0] = '\0';
	int keep = !strcmp(e->keep, "always") || (failed && !strcmp(e->keep, "on-failure"));
	/* The flow has ended: unless its database is kept, nothing the app
	 * could still write matters, and it goes at once. */
	stop_app(h, t, r->app_pid,
		 keep ? (e->stop_grace_ms > 0 ? e->stop_grace_ms : STOP_GRACE_MS)
		      : (e->stop_grace_ms > 0 ? e->stop_grace_ms : 0));
	r->app_pid = -1;
	if (r->port_claim >= 0)
		close(r->port_claim);
	r->port_claim = -1;
	pg_opts_box *box = r->opts;
	nrpg_db *db = r->db;
	if (db && db->password && db->password[0]) {
		/* The app may have printed its database URL: the log is kept
		 * with the task's results. */
		const char *secrets[] = {db->password, NULL};
		if (nrp_redact_file(r->log_path, secrets) < 0)
			h->log(t, "could not redact the database password in %s", r->log_path);
	}
	if (db && box) {
		char err[1024];
		if (nrpg_release(&box->o, db, keep, err, sizeof err) < 0)
			h->log(t, "releasing the database: %s", err);
		else if (keep)
			nrpg_kept_notice(&box->o, db, h->output_dir(t), note, notelen);
		nrpg_db_free(db);
	}
	free(db);
	pg_opts_box_free(box);
	r->db = r->opts = NULL;
	if (r->log_is_temp && r->log_path)
		unlink(r->log_path);
	free(r->log_path);
	r->log_path = NULL;
	r->teardown_ms = nrp_now_ms() - t0;
}

/* --- the job ------------------------------------------------------------ */

/* Whether this job_begin set up the pg library's job (nrpg_job_setup),
 * which its job_end then ends, once. */
static int pg_set_up;

int env_job_begin(const nr_host *h, const nr_value *runnables, char *err, size_t errlen)
{
	nrp_jd_use(h, NULL);
	size_t n = h->size(runnables);
	env_spec *specs = nrp_xcalloc(n + 1, sizeof *specs);
	char **names = nrp_xcalloc(n + 1, sizeof *names);
	const char **dsns = nrp_xcalloc(n + 1, sizeof *dsns);
	size_t nd = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const nr_value *rv = h->item(runnables, i);
		const char *uri = h->string(h->get(rv, "uri"));
		const nr_value *kw = h->get(rv, "kwargs");
		if (!uri && !h->get(kw, "flow"))
			continue;
		flow *f;
		rc = env_flow_of(h, uri, kw, h->get(rv, "config"), &f, &specs[i], err, errlen);
		if (rc < 0)
			break;
		names[i] = nrp_xstrdup(f->name);
		flow_free(f);
		if (rc == 0 && specs[i].isolated) {
			const cJSON *pkw = cJSON_GetObjectItemCaseSensitive(specs[i].provision, "kwargs");
			const cJSON *dsn = cJSON_GetObjectItemCaseSensitive(pkw, "dsn");
			dsns[nd++] = cJSON_IsString(dsn) ? dsn->valuestring : NULL;
			env_want_template(&specs[i], names[i]);
		}
	}
	/* The apps' preloaders first: they import their apps while the
	 * databases are set up. */
	for (size_t i = 0; i < n && rc == 0; i++)
		if (specs[i].isolated)
			rc = preload_begin(&specs[i], err, errlen);
	if (rc == 0 && nd) {
		pg_set_up = 1;
		rc = nrpg_job_setup(dsns, nd, err, errlen);
	}
	/* Templates are built once, before any flow starts. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!specs[i].isolated)
			continue;
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(specs[i].provision, "kind");
		if (cJSON_IsString(kind) && strcmp(kind->valuestring, "provision-template"))
			continue;
		pg_opts_box box;
		rc = env_pg_opts(&specs[i], names[i], &box, err, errlen);
		if (rc == 0) {
			rc = nrpg_prebuild(&box.o, err, errlen);
			nrpg_free_opts(&box.o);
			free(box.uri);
			free(box.cwd);
		}
	}
	/* The preloaders have imported their apps meanwhile. */
	if (rc == 0)
		rc = preload_wait(err, errlen);
	for (size_t i = 0; i < n; i++) {
		env_free(&specs[i]);
		free(names[i]);
	}
	free(specs);
	free(names);
	free(dsns);
	if (rc < 0)
		env_job_end(h);
	return rc;
}

void env_job_end(const nr_host *h)
{
	nrp_jd_use(h, NULL);
	preload_end();
	if (pg_set_up)
		nrpg_job_end(h);
	pg_set_up = 0;
}
