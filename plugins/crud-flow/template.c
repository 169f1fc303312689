#include "config.h"

#include "common/util.h"

#include "template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void random_chars(char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet);
	unsigned char buf[256];
	while (n) {
		size_t chunk = n < sizeof buf ? n : sizeof buf;
		if (getrandom(buf, chunk, 0) != (ssize_t)chunk)
			for (size_t i = 0; i < chunk; i++)
				buf[i] = (unsigned char)rand();
		for (size_t i = 0; i < chunk; i++)
			*out++ = alphabet[buf[i] % k];
		n -= chunk;
	}
	*out = '\0';
}

/* The name inside {{ }}, trimmed; returns its length, or 0 at a malformed
 * template (and sets *bad). */
static size_t name_at(const char *p, char *name, size_t len, const char **end)
{
	const char *close = strstr(p, "}}");
	if (!close)
		return 0;
	const char *a = p, *b = close;
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	size_t n = (size_t)(b - a);
	if (!n || n >= len)
		return 0;
	memcpy(name, a, n);
	name[n] = '\0';
	*end = close + 2;
	return n;
}

static int is_builtin(const char *name, long *random_n)
{
	*random_n = -1;
	if (!strcmp(name, "uuid") || !strcmp(name, "unique") || !strcmp(name, "now") ||
	    !strcmp(name, "timestamp"))
		return 1;
	if (!strncmp(name, "env.", 4) && name[4])
		return 1;
	if (!strncmp(name, "random(", 7)) {
		char *e;
		long n = strtol(name + 7, &e, 10);
		if (e != name + 7 && !strcmp(e, ")") && n > 0 && n <= 4096) {
			*random_n = n;
			return 1;
		}
		return -1;
	}
	return 0;
}

int template_check(const char *s, const cJSON *known, char *what, size_t len)
{
	const char *p = s;
	while ((p = strstr(p, "{{"))) {
		char name[256];
		const char *end;
		if (!name_at(p + 2, name, sizeof name, &end)) {
			snprintf(what, len, "an unclosed or empty {{ }} template");
			return TEMPLATE_BAD;
		}
		long rn;
		int b = is_builtin(name, &rn);
		if (b < 0) {
			snprintf(what, len, "{{%s}}: random takes a length from 1 to "
				 "4096, as in {{random(8)}}", name);
			return TEMPLATE_BAD;
		}
		if (!b && !cJSON_GetObjectItemCaseSensitive(known, name)) {
			snprintf(what, len, "%s", name);
			return TEMPLATE_UNKNOWN;
		}
		p = end;
	}
	return TEMPLATE_OK;
}

char *template_text(const cJSON *v)
{
	if (cJSON_IsString(v))
		return nrp_xstrdup(v->valuestring);
	/* Whole numbers as integers; only those that fit in a long long may
	 * be cast to one (1e300 may not). */
	if (cJSON_IsNumber(v) && v->valuedouble >= -9e18 && v->valuedouble <= 9e18 &&
	    v->valuedouble == (double)(long long)v->valuedouble) {
		char buf[32];
		snprintf(buf, sizeof buf, "%lld", (long long)v->valuedouble);
		return nrp_xstrdup(buf);
	}
	return cJSON_PrintUnformatted(v);
}

/* One template's value as text. */
static char *value_of(const char *name, const template_ctx *c, char *err, size_t errlen)
{
	long rn;
	int b = is_builtin(name, &rn);
	if (b > 0) {
		char buf[64];
		if (!strcmp(name, "uuid")) {
			random_chars(buf, 32, "0123456789abcdef");
			return nrp_xstrdup(buf);
		}
		if (!strcmp(name, "unique"))
			return nrp_xstrdup(c->unique ? c->unique : "");
		if (!strcmp(name, "now") || !strcmp(name, "timestamp")) {
			time_t now = time(NULL);
			struct tm tm;
			gmtime_r(&now, &tm);
			if (!strcmp(name, "now"))
				strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
			else
				snprintf(buf, sizeof buf, "%lld", (long long)now);
			return nrp_xstrdup(buf);
		}
		if (!strncmp(name, "env.", 4)) {
			const char *v = getenv(name + 4);
			if (!v) {
				snprintf(err, errlen, "{{%s}}: the environment variable %s is "
					 "not set", name, name + 4);
				return NULL;
			}
			return nrp_xstrdup(v);
		}
		char *out = nrp_xmalloc((size_t)rn + 1);
		random_chars(out, (size_t)rn,
			     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		return out;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->vars, name);
	if (!v) {
		snprintf(err, errlen, "{{%s}} is not defined (yet)", name);
		return NULL;
	}
	return template_text(v);
}

char *template_expand(const char *s, const template_ctx *c, char *err, size_t errlen)
{
	size_t cap = strlen(s) + 64, n = 0;
	char *out = nrp_xmalloc(cap);
	const char *p = s;
	for (;;) {
		const char *open = strstr(p, "{{");
		size_t lit = open ? (size_t)(open - p) : strlen(p);
		if (n + lit + 1 > cap)
			out = nrp_xrealloc(out, cap = (n + lit + 1) * 2);
		memcpy(out + n, p, lit);
		n += lit;
		if (!open)
			break;
		char name[256];
		const char *end;
		if (!name_at(open + 2, name, sizeof name, &end)) {
			snprintf(err, errlen, "an unclosed or empty {{ }} template");
			free(out);
			return NULL;
		}
		char *v = value_of(name, c, err, errlen);
		if (!v) {
			free(out);
			return NULL;
		}
		size_t vl = strlen(v);
		if (n + vl + 1 > cap)
			out = nrp_xrealloc(out, cap = (n + vl + 1) * 2);
		memcpy(out + n, v, vl);
		n += vl;
		free(v);
		p = end;
	}
	out[n] = '\0';
	return out;
}

cJSON *template_expand_json(const cJSON *v, const template_ctx *c, char *err,
			    size_t errlen)
{
	if (cJSON_IsString(v)) {
		/* Exactly one variable: keep its type. */
		char name[256];
		const char *end;
		if (!strncmp(v->valuestring, "{{", 2) &&
		    name_at(v->valuestring + 2, name, sizeof name, &end) && !*end &&
		    !strstr(v->valuestring + 2, "{{")) {
			const cJSON *var = cJSON_GetObjectItemCaseSensitive(c->vars, name);
			if (var)
				return cJSON_Duplicate(var, 1);
		}
		char *s = template_expand(v->valuestring, c, err, errlen);
		if (!s)
			return NULL;
		cJSON *r = cJSON_CreateString(s);
		free(s);
		return r;
	}
	if (cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1 &&
	    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "secret"))) {
		cJSON *x = template_expand_json(cJSON_GetObjectItemCaseSensitive(v, "secret"), c,
						err, errlen);
		/* What it expands to ({{env.TOKEN}}) is the secret. */
		if (cJSON_IsString(x) && x->valuestring[0] && c->secrets) {
			int known = 0;
			const cJSON *s;
			cJSON_ArrayForEach(s, c->secrets) known |= !strcmp(s->valuestring, x->valuestring);
			if (!known)
				cJSON_AddItemToArray(c->secrets, cJSON_CreateString(x->valuestring));
		}
		return x;
	}
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return cJSON_Duplicate(v, 1);
	cJSON *out = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
	const cJSON *it;
	cJSON_ArrayForEach(it, v)
	{
		cJSON *x = template_expand_json(it, c, err, errlen);
		if (!x) {
			cJSON_Delete(out);
			return NULL;
		}
		if (cJSON_IsArray(v))
			cJSON_AddItemToArray(out, x);
		else
			cJSON_AddItemToObject(out, it->string, x);
	}
	return out;
}
