#include "config.h"

#include "common/util.h"

#include "expect.h"
#include "template.h"

#include <ctype.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const cJSON *json_pointer(const cJSON *doc, const char *ptr)
{
	if (!ptr || !*ptr)
		return doc;
	if (*ptr != '/')
		return NULL;
	const cJSON *cur = doc;
	const char *p = ptr + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char tok[512];
		size_t k = 0;
		for (size_t i = 0; i < n && k < sizeof tok - 1; i++) {
			if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
				tok[k++] = p[i + 1] == '0' ? '~' : '/';
				i++;
			} else {
				tok[k++] = p[i];
			}
		}
		tok[k] = '\0';
		if (cJSON_IsArray(cur)) {
			/* An index is "0" or digits with no leading zero: no
			 * sign, no space, no "-" (past the end). */
			char *e;
			long idx = strtol(tok, &e, 10);
			if (!*tok || strspn(tok, "0123456789") != strlen(tok) ||
			    (tok[0] == '0' && tok[1]) || idx > INT_MAX)
				return NULL;
			cur = cJSON_GetArrayItem(cur, (int)idx);
		} else if (cJSON_IsObject(cur)) {
			cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
		} else {
			return NULL;
		}
		if (!cur || !slash)
			return cur;
		p = slash + 1;
	}
}

static int scalar_equal(const cJSON *a, const cJSON *b)
{
	/* "7" from a template equals 7 from the server, as a person means. */
	if (cJSON_IsNumber(a) && cJSON_IsString(b)) {
		char *e;
		double d = strtod(b->valuestring, &e);
		return *b->valuestring && !*e && d == a->valuedouble;
	}
	if (cJSON_IsString(a) && cJSON_IsNumber(b))
		return scalar_equal(b, a);
	return cJSON_Compare(a, b, 1);
}

int json_subset(const cJSON *have, const cJSON *want, char *where, size_t len)
{
	if (cJSON_IsObject(want)) {
		if (!cJSON_IsObject(have))
			return 0;
		const cJSON *w;
		cJSON_ArrayForEach(w, want)
		{
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
			size_t l = strlen(where);
			snprintf(where + l, len - l, "/%s", w->string);
			if (!h || !json_subset(h, w, where, len))
				return 0;
			where[l] = '\0';
		}
		return 1;
	}
	if (cJSON_IsArray(want)) {
		if (!cJSON_IsArray(have) || cJSON_GetArraySize(have) != cJSON_GetArraySize(want))
			return 0;
		for (int i = 0; i < cJSON_GetArraySize(want); i++) {
			size_t l = strlen(where);
			snprintf(where + l, len - l, "/%d", i);
			if (!json_subset(cJSON_GetArrayItem(have, i), cJSON_GetArrayItem(want, i),
					 where, len))
				return 0;
			where[l] = '\0';
		}
		return 1;
	}
	return scalar_equal(have, want);
}

/* JSON text for messages, cut to a readable length. */
static char *show(const cJSON *v)
{
	if (!v)
		return nrp_xstrdup("nothing (no such path)");
	char *s = cJSON_PrintUnformatted(v);
	if (s && strlen(s) > 200)
		strcpy(s + 197, "...");
	return s;
}

static const char *type_of(const cJSON *v)
{
	return cJSON_IsString(v) ? "string" : cJSON_IsNumber(v) ? "number"
	       : cJSON_IsBool(v) ? "boolean" : cJSON_IsNull(v) ? "null"
	       : cJSON_IsArray(v) ? "array" : cJSON_IsObject(v) ? "object" : "nothing";
}

static int compare(const char *op, const cJSON *have, const cJSON *want)
{
	double a, b;
	if (cJSON_IsNumber(have) && cJSON_IsNumber(want)) {
		a = have->valuedouble, b = want->valuedouble;
	} else if (cJSON_IsString(have) && cJSON_IsString(want)) {
		int c = strcmp(have->valuestring, want->valuestring);
		a = c, b = 0;
	} else {
		return -1;
	}
	if (!strcmp(op, "<")) return a < b;
	if (!strcmp(op, "<=")) return a <= b;
	if (!strcmp(op, ">")) return a > b;
	return a >= b;
}

static int regex_match(const char *re, const char *s)
{
	regex_t rx;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return 0;
	int m = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return m;
}

/* One assertion; 1 holds, 0 not, with the actual value shown in got. */
static int predicate(const cJSON *a, const cJSON *doc, char *got, size_t glen,
		     char *want_s, size_t wlen)
{
	const char *path = cJSON_GetObjectItemCaseSensitive(a, "path")->valuestring;
	const char *op = cJSON_GetObjectItemCaseSensitive(a, "op")->valuestring;
	const cJSON *want = cJSON_GetObjectItemCaseSensitive(a, "value");
	const cJSON *have = json_pointer(doc, path);
	char *hs = show(have), *ws = show(want);
	snprintf(got, glen, "%s", hs);
	snprintf(want_s, wlen, "%s%s%s", op, want ? " " : "", want ? ws : "");
	free(hs);
	free(ws);
	if (!strcmp(op, "exists"))
		return have != NULL;
	if (!strcmp(op, "not-exists"))
		return have == NULL;
	if (!have)
		return 0;
	if (!strcmp(op, "equals"))
		return json_subset(have, want, (char[512]){0}, 512) &&
		       json_subset(want, have, (char[512]){0}, 512);
	if (!strcmp(op, "not-equals"))
		return !(json_subset(have, want, (char[512]){0}, 512) &&
			 json_subset(want, have, (char[512]){0}, 512));
	if (op[0] == '<' || op[0] == '>')
		return compare(op, have, want) == 1;
	if (!strcmp(op, "contains")) {
		if (cJSON_IsString(have) && cJSON_IsString(want))
			return strstr(have->valuestring, want->valuestring) != NULL;
		if (cJSON_IsArray(have)) {
			const cJSON *it;
			cJSON_ArrayForEach(it, have) if (json_subset(it, want, (char[512]){0}, 512))
				return 1;
			return 0;
		}
		if (cJSON_IsObject(have) && cJSON_IsString(want))
			return cJSON_GetObjectItemCaseSensitive(have, want->valuestring) != NULL;
		return json_subset(have, want, (char[512]){0}, 512);
	}
	if (!strcmp(op, "matches") || !strcmp(op, "type")) {
		/* Checked as strings when the flow was read, but a template
		 * may have made them something else. */
		char *w = template_text(want);
		int m = !strcmp(op, "type") ? !strcmp(type_of(have), w)
			: cJSON_IsString(have) && regex_match(w, have->valuestring);
		if (!strcmp(op, "type"))
			snprintf(got, glen, "%s", type_of(have));
		free(w);
		return m;
	}
	if (!strcmp(op, "count") && cJSON_IsNumber(want)) {
		int n = cJSON_IsArray(have) || cJSON_IsObject(have) ? cJSON_GetArraySize(have)
			: cJSON_IsString(have) ? (int)strlen(have->valuestring) : -1;
		snprintf(got, glen, "%d", n);
		return n >= 0 && (double)n == want->valuedouble;
	}
	return 0;
}

char *header_value(const char *headers, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = headers; line && *line;) {
		const char *eol = strstr(line, "\r\n");
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (len > n && line[n] == ':' && !strncasecmp(line, name, n)) {
			const char *v = line + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = len - (size_t)(v - line);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			return nrp_xstrndup(v, vl);
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

int expect_check(const cJSON *e, const response *r, char *what, size_t wlen,
		 char *err, size_t errlen)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "status");
	if (st) {
		int ok = 0;
		const cJSON *one;
		if (cJSON_IsArray(st)) {
			cJSON_ArrayForEach(one, st) ok |= one->valuedouble == (double)r->status;
		} else {
			ok = st->valuedouble == (double)r->status;
		}
		if (!ok) {
			char *ws = cJSON_PrintUnformatted(st);
			snprintf(what, wlen, "status");
			snprintf(err, errlen, "expected %s%s, got %ld", cJSON_IsArray(st) ? "one of " : "",
				 ws, r->status);
			free(ws);
			return -1;
		}
	}
	const cJSON *hd = cJSON_GetObjectItemCaseSensitive(e, "headers");
	const cJSON *h;
	cJSON_ArrayForEach(h, hd)
	{
		char *v = header_value(r->headers, h->string);
		/* A template may have made it a number: compare as text. */
		char *want = template_text(h);
		/* A value starting with "~" is a regular expression. */
		int ok = v && (want[0] == '~' ? regex_match(want + 1, v) : !strcmp(v, want));
		if (!ok) {
			snprintf(what, wlen, "headers.%s", h->string);
			snprintf(err, errlen, "expected %s: %s, got %s", h->string, want,
				 v ? v : "no such header");
			free(v);
			free(want);
			return -1;
		}
		free(v);
		free(want);
	}
	const cJSON *want = cJSON_GetObjectItemCaseSensitive(e, "json");
	if (want) {
		char where[512] = "";
		if (!r->json) {
			snprintf(what, wlen, "json");
			snprintf(err, errlen, "expected a JSON body, got %s", r->body_len ? "text that is not JSON" : "an empty body");
			return -1;
		}
		if (!json_subset(r->json, want, where, sizeof where)) {
			char *ws = show(json_pointer(want, where)), *hs = show(json_pointer(r->json, where));
			snprintf(what, wlen, "json");
			snprintf(err, errlen, "at %s: expected %s, got %s", where[0] ? where : "/", ws, hs);
			free(ws);
			free(hs);
			return -1;
		}
	}
	const cJSON *as = cJSON_GetObjectItemCaseSensitive(e, "assert");
	int i = 0;
	const cJSON *a;
	cJSON_ArrayForEach(a, as)
	{
		char got[256], w[256];
		if (!r->json) {
			snprintf(what, wlen, "assert[%d]", i);
			snprintf(err, errlen, "expected a JSON body, got %s",
				 r->body_len ? "text that is not JSON" : "an empty body");
			return -1;
		}
		if (!predicate(a, r->json, got, sizeof got, w, sizeof w)) {
			snprintf(what, wlen, "assert[%d]", i);
			snprintf(err, errlen, "%s: expected %s, got %s",
				 cJSON_GetObjectItemCaseSensitive(a, "path")->valuestring[0]
					 ? cJSON_GetObjectItemCaseSensitive(a, "path")->valuestring
					 : "(the body)",
				 w, got);
			return -1;
		}
		i++;
	}
	const cJSON *bc = cJSON_GetObjectItemCaseSensitive(e, "body_contains");
	if (bc) {
		char *want = template_text(bc);
		int ok = r->body && strstr(r->body, want);
		if (!ok) {
			snprintf(what, wlen, "body_contains");
			snprintf(err, errlen, "expected the body to contain \"%s\"", want);
		}
		free(want);
		if (!ok)
			return -1;
	}
	return 0;
}

char *cookie_value(const char *jar, const char *name)
{
	/* Netscape cookie lines: domain, flag, path, secure, expiry, name,
	 * value, separated by tabs. */
	for (const char *line = jar; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *l = nrp_xstrndup(line, len);
		char *f[7] = {0};
		int n = 0;
		for (char *s = l, *tok; n < 7 && (tok = strsep(&s, "\t"));)
			f[n++] = tok;
		char *v = n == 7 && !strcmp(f[5], name) ? nrp_xstrdup(f[6]) : NULL;
		free(l);
		if (v)
			return v;
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

cJSON *capture_take(const cJSON *spec, const response *r, char *err, size_t errlen)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(spec, "json");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(spec, "header");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "cookie");
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(spec, "regex");
	if (j) {
		const cJSON *v = r->json ? json_pointer(r->json, j->valuestring) : NULL;
		if (!v) {
			snprintf(err, errlen, "json %s: %s", j->valuestring,
				 r->json ? "no such path in the body" : "the body is not JSON");
			return NULL;
		}
		return cJSON_Duplicate(v, 1);
	}
	if (h) {
		char *v = header_value(r->headers, h->valuestring);
		if (!v) {
			snprintf(err, errlen, "header %s: not in the response", h->valuestring);
			return NULL;
		}
		cJSON *o = cJSON_CreateString(v);
		free(v);
		return o;
	}
	if (c) {
		char *v = cookie_value(r->cookies, c->valuestring);
		if (!v) {
			snprintf(err, errlen, "cookie %s: the client has no such cookie",
				 c->valuestring);
			return NULL;
		}
		cJSON *o = cJSON_CreateString(v);
		free(v);
		return o;
	}
	regex_t rx;
	regmatch_t m[10];
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(spec, "group");
	/* Compared as a double first: a huge number cast to int is undefined. */
	int group = !cJSON_IsNumber(g) ? 1
		: g->valuedouble >= 0 && g->valuedouble <= 9 ? (int)g->valuedouble : -1;
	if (regcomp(&rx, re->valuestring, REG_EXTENDED)) {
		snprintf(err, errlen, "regex: does not compile");
		return NULL;
	}
	int ok = r->body && regexec(&rx, r->body, 10, m, 0) == 0;
	if (ok && (group < 0 || group > 9 || (size_t)group > rx.re_nsub))
		group = 0;
	regfree(&rx);
	if (!ok) {
		snprintf(err, errlen, "regex \"%s\": no match in the body", re->valuestring);
		return NULL;
	}
	if (m[group].rm_so < 0) {
		/* "(a)|b" matching "b": group 1 is nowhere in the match. */
		snprintf(err, errlen, "regex \"%s\": group %d took no part in the match",
			 re->valuestring, group);
		return NULL;
	}
	char *s = nrp_xstrndup(r->body + m[group].rm_so, (size_t)(m[group].rm_eo - m[group].rm_so));
	cJSON *o = cJSON_CreateString(s);
	free(s);
	return o;
}
