#include "config.h"

#include "host.h"
#include "resolve.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t nrc_task_interrupted;

/* nr_value is the core's cJSON node seen through an opaque type. */
static const cJSON *J(const nr_value *v) { return (const cJSON *)v; }
static const nr_value *V(const cJSON *j) { return (const nr_value *)j; }

struct nr_msg {
	nr_task *task;
	cJSON *obj;
};

int nrc_task_send(nr_task *t, cJSON *msg)
{
	if (t->broken) {
		cJSON_Delete(msg);
		return -1;
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(msg, "status");
	int finished = cJSON_IsString(st) && !strcmp(st->valuestring, "finished");
	/* A message after "finished" is a kind's bug: it goes to the core,
	 * which checks the contract (task.c) and makes the task an error. */
	if (!cJSON_GetObjectItemCaseSensitive(msg, "time"))
		cJSON_AddNumberToObject(msg, "time", nrc_now());
	char *line = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: written with its length */
	int r = nrc_write_all(t->msg_fd, line, n + 1);
	free(line);
	if (r < 0) {
		t->broken = 1;
		return -1;
	}
	if (finished)
		t->finished = 1;
	return 0;
}

static const char *h_kind(nr_task *t) { return t->runnable->kind; }
static const char *h_uri(nr_task *t) { return t->runnable->uri; }
static const char *h_identifier(nr_task *t)
{
	return nrc_runnable_identifier(t->runnable);
}
static const nr_value *h_args(nr_task *t) { return V(t->runnable->args); }
static const nr_value *h_kwargs(nr_task *t) { return V(t->runnable->kwargs); }
static const nr_value *h_config(nr_task *t) { return V(t->runnable->config); }

static nr_type h_type(const nr_value *v)
{
	const cJSON *j = J(v);
	if (!j)
		return NR_TYPE_ABSENT;
	if (cJSON_IsNull(j))
		return NR_TYPE_NULL;
	if (cJSON_IsBool(j))
		return NR_TYPE_BOOL;
	if (cJSON_IsNumber(j))
		return NR_TYPE_NUMBER;
	if (cJSON_IsString(j))
		return NR_TYPE_STRING;
	if (cJSON_IsArray(j))
		return NR_TYPE_ARRAY;
	if (cJSON_IsObject(j))
		return NR_TYPE_OBJECT;
	return NR_TYPE_ABSENT;
}

static const nr_value *h_get(const nr_value *o, const char *key)
{
	if (!cJSON_IsObject(J(o)) || !key)
		return NULL;
	return V(cJSON_GetObjectItemCaseSensitive(J(o), key));
}

static size_t h_size(const nr_value *v)
{
	const cJSON *j = J(v);
	if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
		return 0;
	return (size_t)cJSON_GetArraySize(j);
}

static const nr_value *h_item(const nr_value *v, size_t i)
{
	const cJSON *j = J(v);
	if ((!cJSON_IsArray(j) && !cJSON_IsObject(j)) || i > (size_t)INT32_MAX)
		return NULL;
	return V(cJSON_GetArrayItem(j, (int)i));
}

static const char *h_key_at(const nr_value *o, size_t i)
{
	if (!cJSON_IsObject(J(o)))
		return NULL;
	const cJSON *it = J(h_item(o, i));
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

static nr_msg *h_msg_new(nr_task *t, const char *status)
{
	nr_msg *m = nrc_xmalloc(sizeof *m);
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

static void h_msg_bytes(nr_msg *m, const char *key, const void *buf, size_t len)
{
	if (!memchr(buf, '\0', len) &&
	    nrc_utf8_valid_prefix(buf, len) == len) {
		char *s = strndup(buf, len);
		set(m, key, cJSON_CreateString(s));
		free(s);
		set(m, "encoding", cJSON_CreateString("utf-8"));
		return;
	}
	char *b = nrc_base64_encode(buf, len);
	set(m, key, cJSON_CreateString(b));
	free(b);
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
	int r = nrc_task_send(m->task, m->obj);
	free(m);
	return r;
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

static int h_interrupted(nr_task *t)
{
	(void)t;
	return nrc_task_interrupted != 0;
}

static const char *h_output_dir(nr_task *t) { return t->output_dir; }

/* An internal message, taken out of the stream by the parent (task.c). */
static void h_process_group(nr_task *t, long pgid, int alive)
{
	if (pgid <= 1)
		return;
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "status", "running");
	cJSON_AddStringToObject(m, "type", NR_MSG_PROCESS_GROUP);
	cJSON_AddNumberToObject(m, "pgid", (double)pgid);
	cJSON_AddBoolToObject(m, "alive", alive);
	nrc_task_send(t, m);
}

/* --- the job's data (ABI 1.4) ----------------------------------------- */

static cJSON *job_data;  /* an object of strings */
static int job_data_open; /* inside a job_begin */

int nrc_job_data_key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n < 1 || n > NR_JOB_DATA_KEYMAX)
		return 0;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

void nrc_job_data_writable(int on) { job_data_open = on; }

const cJSON *nrc_job_data(void) { return job_data; }

void nrc_job_data_replace(cJSON *data)
{
	cJSON_Delete(job_data);
	job_data = data;
}

static int h_job_set(const char *key, const char *value)
{
	if (!job_data_open || !nrc_job_data_key_ok(key))
		return -1;
	if (!job_data)
		job_data = cJSON_CreateObject();
	/* The value may be the one stored (a plugin setting back what job_get
	 * gave it): copy it before the old item is freed. */
	cJSON *item = value ? cJSON_CreateString(value) : NULL;
	if (value && !item)
		return -1;
	cJSON_DeleteItemFromObjectCaseSensitive(job_data, key);
	if (item)
		cJSON_AddItemToObject(job_data, key, item);
	return 0;
}

static const char *h_job_get(nr_task *t, const char *key)
{
	(void)t; /* a task is a fork of the process that holds the data */
	const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(job_data, key) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const nr_host nrc_host_table = {
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
	.resolve_add = nrc_resolver_add,
	.resolve_add_json = nrc_resolver_add_json,
	.resolve_error = nrc_resolver_error,
	.process_group = h_process_group,
	.job_set = h_job_set,
	.job_get = h_job_get,
};
