/* The mock host table (mock-host.h): the contract of <nrunner/plugin.h>,
 * recorded instead of sent. */
#include "config.h"

#include "mock-host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nr_task {
	char *kind, *uri, *identifier, *output_dir;
	cJSON *args, *kwargs, *config;
	cJSON *messages; /* array of the messages sent */
	cJSON *groups;   /* array of the live process groups */
	char *logs;      /* mock_task_logs()'s buffer */
	int interrupted, broken;
};

struct nr_msg {
	nr_task *task;
	cJSON *obj;
};

struct nr_resolver {
	cJSON *added;
	char *error;
};

static const cJSON *J(const nr_value *v) { return (const cJSON *)v; }
static const nr_value *V(const cJSON *j) { return (const nr_value *)j; }

static cJSON *parse_or_die(const char *json, const char *what)
{
	cJSON *j = cJSON_Parse(json);
	if (!j) {
		fprintf(stderr, "mock host: %s is not valid JSON: %s\n", what, json);
		abort();
	}
	return j;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* --- the runnable ------------------------------------------------------ */

static const char *h_kind(nr_task *t) { return t->kind; }
static const char *h_uri(nr_task *t) { return t->uri; }
static const char *h_identifier(nr_task *t)
{
	return t->identifier ? t->identifier : t->uri ? t->uri : t->kind;
}
static const nr_value *h_args(nr_task *t) { return V(t->args); }
static const nr_value *h_kwargs(nr_task *t) { return V(t->kwargs); }
static const nr_value *h_config(nr_task *t) { return V(t->config); }

/* --- values ------------------------------------------------------------ */

static nr_type h_type(const nr_value *v)
{
	const cJSON *j = J(v);
	return !j ? NR_TYPE_ABSENT : cJSON_IsNull(j) ? NR_TYPE_NULL
	       : cJSON_IsBool(j) ? NR_TYPE_BOOL : cJSON_IsNumber(j) ? NR_TYPE_NUMBER
	       : cJSON_IsString(j) ? NR_TYPE_STRING : cJSON_IsArray(j) ? NR_TYPE_ARRAY
	       : cJSON_IsObject(j) ? NR_TYPE_OBJECT : NR_TYPE_ABSENT;
}

static const nr_value *h_get(const nr_value *o, const char *key)
{
	return cJSON_IsObject(J(o)) && key ? V(cJSON_GetObjectItemCaseSensitive(J(o), key))
					   : NULL;
}

static size_t h_size(const nr_value *v)
{
	return cJSON_IsArray(J(v)) || cJSON_IsObject(J(v)) ? (size_t)cJSON_GetArraySize(J(v))
							   : 0;
}

static const nr_value *h_item(const nr_value *v, size_t i)
{
	if ((!cJSON_IsArray(J(v)) && !cJSON_IsObject(J(v))) || i > (size_t)INT32_MAX)
		return NULL;
	return V(cJSON_GetArrayItem(J(v), (int)i));
}

static const char *h_key_at(const nr_value *o, size_t i)
{
	const cJSON *it = cJSON_IsObject(J(o)) ? J(h_item(o, i)) : NULL;
	return it ? it->string : NULL;
}

static const char *h_string(const nr_value *v)
{
	return cJSON_IsString(J(v)) ? J(v)->valuestring : NULL;
}

static double h_number(const nr_value *v)
{
	return cJSON_IsNumber(J(v)) ? J(v)->valuedouble : 0;
}

static int h_boolean(const nr_value *v) { return cJSON_IsTrue(J(v)); }

static char *h_to_json(const nr_value *v)
{
	return J(v) ? cJSON_PrintUnformatted(J(v)) : NULL;
}

static void h_free(void *p) { free(p); }

/* --- messages ---------------------------------------------------------- */

static nr_msg *h_msg_new(nr_task *t, const char *status)
{
	nr_msg *m = calloc(1, sizeof *m);
	if (!m)
		abort();
	m->task = t;
	m->obj = cJSON_CreateObject();
	cJSON_AddStringToObject(m->obj, "status", status ? status : "running");
	return m;
}

static void set(nr_msg *m, const char *key, cJSON *v)
{
	if (!m || !key || !strcmp(key, "status")) {
		cJSON_Delete(v);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(m->obj, key);
	cJSON_AddItemToObject(m->obj, key, v);
}

static void h_msg_string(nr_msg *m, const char *key, const char *value)
{
	set(m, key, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

static void h_msg_int(nr_msg *m, const char *key, long long value)
{
	set(m, key, cJSON_CreateNumber((double)value));
}

static void h_msg_number(nr_msg *m, const char *key, double value)
{
	set(m, key, cJSON_CreateNumber(value));
}

static void h_msg_bool(nr_msg *m, const char *key, int value)
{
	set(m, key, cJSON_CreateBool(value));
}

/* Whether buf is UTF-8 with no NUL (overlong forms and surrogates not
 * told apart: the mock records, the core's own check is tested there). */
static int utf8_text(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c == 0 ? 0 : c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
			 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (!k || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static void h_msg_bytes(nr_msg *m, const char *key, const void *buf, size_t len)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = buf;
	if (utf8_text(p, len)) {
		char *s = strndup(buf, len);
		set(m, key, cJSON_CreateString(s));
		free(s);
		set(m, "encoding", cJSON_CreateString("utf-8"));
		return;
	}
	char *o = malloc(len / 3 * 4 + 5), *q = o;
	if (!o)
		abort();
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		*q++ = b64[v >> 18 & 63];
		*q++ = b64[v >> 12 & 63];
		*q++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*q++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*q = '\0';
	set(m, key, cJSON_CreateString(o));
	free(o);
	set(m, "encoding", cJSON_CreateString("base64"));
}

static int h_msg_json(nr_msg *m, const char *key, const char *json)
{
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	if (!v)
		return -1;
	set(m, key, v);
	return 0;
}

static int h_msg_emit(nr_msg *m)
{
	if (!m)
		return -1;
	nr_task *t = m->task;
	int rc = t->broken ? -1 : 0;
	if (rc == 0)
		cJSON_AddItemToArray(t->messages, m->obj);
	else
		cJSON_Delete(m->obj);
	free(m);
	return rc;
}

static int h_finish(nr_task *t, const char *result, const char *fail_reason)
{
	nr_msg *m = h_msg_new(t, "finished");
	h_msg_string(m, "result", result ? result : NR_RESULT_ERROR);
	if (fail_reason)
		h_msg_string(m, "fail_reason", fail_reason);
	return h_msg_emit(m);
}

static int h_log(nr_task *t, const char *fmt, ...)
{
	char *text;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	nr_msg *m = h_msg_new(t, "running");
	h_msg_string(m, "type", "log");
	h_msg_bytes(m, "log", text, (size_t)n);
	free(text);
	return h_msg_emit(m);
}

/* --- the task's situation ---------------------------------------------- */

static int job_interrupted;

static int h_interrupted(nr_task *t) { return t ? t->interrupted : job_interrupted; }
static const char *h_output_dir(nr_task *t) { return t->output_dir; }

static void h_process_group(nr_task *t, long pgid, int alive)
{
	for (int i = cJSON_GetArraySize(t->groups) - 1; i >= 0; i--)
		if (cJSON_GetArrayItem(t->groups, i)->valuedouble == (double)pgid)
			cJSON_DeleteItemFromArray(t->groups, i);
	if (alive)
		cJSON_AddItemToArray(t->groups, cJSON_CreateNumber((double)pgid));
}

/* --- resolving --------------------------------------------------------- */

static int h_resolve_add(nr_resolver *r, const char *kind, const char *uri,
			 const char *identifier)
{
	if (!kind || !uri)
		return -1;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "uri", uri);
	if (identifier)
		cJSON_AddStringToObject(o, "identifier", identifier);
	cJSON_AddItemToArray(r->added, o);
	return 0;
}

static int h_resolve_add_json(nr_resolver *r, const char *recipe_json)
{
	cJSON *o = recipe_json ? cJSON_Parse(recipe_json) : NULL;
	if (!cJSON_IsObject(o) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "kind"))) {
		cJSON_Delete(o);
		return -1;
	}
	cJSON_AddItemToArray(r->added, o);
	return 0;
}

static void h_resolve_error(nr_resolver *r, const char *fmt, ...)
{
	free(r->error);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&r->error, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* --- the job's data ---------------------------------------------------- */

static cJSON *job_data;
static int job_open;

static int key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n < 1 || n > 128)
		return 0;
	return strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789._-") == n;
}

void mock_job_put(const char *key, const char *value)
{
	if (!job_data)
		job_data = cJSON_CreateObject();
	cJSON *item = value ? cJSON_CreateString(value) : NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(job_data, key);
	if (item)
		cJSON_AddItemToObject(job_data, key, item);
}

static int h_job_set(const char *key, const char *value)
{
	if (!job_open || !key_ok(key))
		return -1;
	mock_job_put(key, value);
	return 0;
}

static const char *h_job_get(nr_task *t, const char *key)
{
	(void)t;
	const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(job_data, key) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void mock_job_begin(int open) { job_open = open; }
const cJSON *mock_job_data(void) { return job_data; }
void mock_job_interrupt(int on) { job_interrupted = on; }

void mock_job_clear(void)
{
	cJSON_Delete(job_data);
	job_data = NULL;
}

static const nr_host table = {
	.abi_major = NR_ABI_MAJOR,
	.abi_minor = NR_ABI_MINOR,
	.kind = h_kind,
	.uri = h_uri,
	.identifier = h_identifier,
	.args = h_args,
	.kwargs = h_kwargs,
	.config = h_config,
	.type = h_type,
	.get = h_get,
	.size = h_size,
	.item = h_item,
	.key_at = h_key_at,
	.string = h_string,
	.number = h_number,
	.boolean = h_boolean,
	.to_json = h_to_json,
	.free = h_free,
	.msg_new = h_msg_new,
	.msg_string = h_msg_string,
	.msg_int = h_msg_int,
	.msg_number = h_msg_number,
	.msg_bool = h_msg_bool,
	.msg_bytes = h_msg_bytes,
	.msg_json = h_msg_json,
	.msg_emit = h_msg_emit,
	.finish = h_finish,
	.log = h_log,
	.interrupted = h_interrupted,
	.output_dir = h_output_dir,
	.resolve_add = h_resolve_add,
	.resolve_add_json = h_resolve_add_json,
	.resolve_error = h_resolve_error,
	.process_group = h_process_group,
	.job_set = h_job_set,
	.job_get = h_job_get,
};

const nr_host *mock_host(void) { return &table; }

/* --- tasks ------------------------------------------------------------- */

nr_task *mock_task_new(const char *kind, const char *uri, const char *identifier,
		       const char *const *args, const char *kwargs_json,
		       const char *config_json)
{
	nr_task *t = calloc(1, sizeof *t);
	if (!t)
		abort();
	t->kind = dup_or_null(kind);
	t->uri = dup_or_null(uri);
	t->identifier = dup_or_null(identifier);
	t->args = cJSON_CreateArray();
	for (const char *const *a = args; a && *a; a++)
		cJSON_AddItemToArray(t->args, cJSON_CreateString(*a));
	t->kwargs = parse_or_die(kwargs_json ? kwargs_json : "{}", "kwargs");
	t->config = parse_or_die(config_json ? config_json : "{}", "config");
	t->messages = cJSON_CreateArray();
	t->groups = cJSON_CreateArray();
	return t;
}

void mock_task_free(nr_task *t)
{
	if (!t)
		return;
	free(t->kind);
	free(t->uri);
	free(t->identifier);
	free(t->output_dir);
	free(t->logs);
	cJSON_Delete(t->args);
	cJSON_Delete(t->kwargs);
	cJSON_Delete(t->config);
	cJSON_Delete(t->messages);
	cJSON_Delete(t->groups);
	free(t);
}

void mock_task_set_output_dir(nr_task *t, const char *dir)
{
	free(t->output_dir);
	t->output_dir = dup_or_null(dir);
}

void mock_task_interrupt(nr_task *t, int on) { t->interrupted = on; }
void mock_task_break(nr_task *t) { t->broken = 1; }
const cJSON *mock_task_messages(const nr_task *t) { return t->messages; }
const cJSON *mock_task_groups(const nr_task *t) { return t->groups; }

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mock_task_count(const nr_task *t, const char *status)
{
	int n = 0;
	const cJSON *m;
	cJSON_ArrayForEach(m, t->messages)
	{
		const char *s = str_of(m, "status");
		n += s && !strcmp(s, status);
	}
	return n;
}

const cJSON *mock_task_finished(const nr_task *t)
{
	const cJSON *m, *last = NULL;
	cJSON_ArrayForEach(m, t->messages)
	{
		const char *s = str_of(m, "status");
		if (s && !strcmp(s, "finished"))
			last = m;
	}
	return last;
}

const char *mock_task_finished_str(const nr_task *t, const char *key)
{
	return str_of(mock_task_finished(t), key);
}

const char *mock_task_logs(const nr_task *t)
{
	nr_task *w = (nr_task *)t;
	free(w->logs);
	size_t n = 0;
	w->logs = calloc(1, 1);
	const cJSON *m;
	cJSON_ArrayForEach(m, t->messages)
	{
		const char *type = str_of(m, "type"), *log = str_of(m, "log");
		if (!type || strcmp(type, "log") || !log)
			continue;
		size_t l = strlen(log);
		char *grown = realloc(w->logs, n + l + 2);
		if (!grown)
			abort();
		w->logs = grown;
		memcpy(w->logs + n, log, l);
		n += l;
		if (!l || log[l - 1] != '\n')
			w->logs[n++] = '\n';
		w->logs[n] = '\0';
	}
	return w->logs;
}

/* --- resolvers --------------------------------------------------------- */

nr_resolver *mock_resolver_new(void)
{
	nr_resolver *r = calloc(1, sizeof *r);
	if (!r)
		abort();
	r->added = cJSON_CreateArray();
	return r;
}

void mock_resolver_free(nr_resolver *r)
{
	if (!r)
		return;
	cJSON_Delete(r->added);
	free(r->error);
	free(r);
}

const cJSON *mock_resolver_added(const nr_resolver *r) { return r->added; }
const char *mock_resolver_error(const nr_resolver *r) { return r->error; }
