/* A status message as a Python literal, the way Avocado's runners print
 * theirs on stdout: print(dict), so repr() of str, bytes, int, float,
 * bool, None, list and dict, with the output in "log" as bytes. */
#include "config.h"

#include "pyrepr.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(nrc_buf *b, const char *s) { nrc_buf_append(b, s, strlen(s)); }

static void put_hex(nrc_buf *b, const char *fmt, unsigned v)
{
	char h[12];
	snprintf(h, sizeof h, fmt, v);
	put(b, h);
}

/* Python picks ' unless the text holds ' and no ". */
static char quote_for(const unsigned char *p, size_t n)
{
	int single = 0, dbl = 0;
	for (size_t i = 0; i < n; i++) {
		single |= p[i] == '\'';
		dbl |= p[i] == '"';
	}
	return single && !dbl ? '"' : '\'';
}

static int escape_common(nrc_buf *b, unsigned c, char q)
{
	switch (c) {
	case '\\': put(b, "\\\\"); return 1;
	case '\n': put(b, "\\n"); return 1;
	case '\r': put(b, "\\r"); return 1;
	case '\t': put(b, "\\t"); return 1;
	}
	if (c == (unsigned char)q) {
		char e[3] = {'\\', q, 0};
		put(b, e);
		return 1;
	}
	return 0;
}

/* bytes: printable ASCII as is, the rest \xhh. */
static void repr_bytes(nrc_buf *b, const unsigned char *p, size_t n)
{
	char q = quote_for(p, n);
	char open[3] = {'b', q, 0};
	put(b, open);
	for (size_t i = 0; i < n; i++) {
		if (escape_common(b, p[i], q))
			continue;
		if (p[i] < 0x20 || p[i] >= 0x7f)
			put_hex(b, "\\x%02x", p[i]);
		else
			nrc_buf_append(b, &p[i], 1);
	}
	nrc_buf_append(b, &q, 1);
}

/* Code points str.isprintable() refuses beyond ASCII's controls: C1
 * controls, the no-break and other spaces, soft hyphen, line and paragraph
 * separators, the BOM, the surrogates and the private use area are the
 * ones a log is likely to hold. */
static int unprintable(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad ||
	       (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
	       (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff ||
	       (cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xfff9 && cp <= 0xfffb);
}

/* str: valid UTF-8 (cJSON's strings are, nrc_json_fix_utf8), printable
 * characters as they are, the rest \xhh, \uhhhh. */
static void repr_str(nrc_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char q = quote_for(p, n);
	nrc_buf_append(b, &q, 1);
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + len > n)
			len = n - i;
		unsigned cp = len == 1 ? c
			      : len == 2 ? ((c & 0x1fu) << 6) | (p[i + 1] & 0x3fu)
			      : len == 3 ? ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6) |
					   (p[i + 2] & 0x3fu)
					 : ((c & 0x07u) << 18) | ((p[i + 1] & 0x3fu) << 12) |
					   ((p[i + 2] & 0x3fu) << 6) | (p[i + 3] & 0x3fu);
		if (escape_common(b, cp, q))
			;
		else if (!unprintable(cp))
			nrc_buf_append(b, p + i, len);
		else if (cp <= 0xff)
			put_hex(b, "\\x%02x", cp);
		else
			put_hex(b, "\\u%04x", cp);
		i += len;
	}
	nrc_buf_append(b, &q, 1);
}

/* repr(float): the shortest digits that read back as the same double,
 * in fixed notation from 1e-4 to 1e16, with ".0" when integral. */
static void repr_float(nrc_buf *b, double v)
{
	char s[64];
	if (isnan(v)) {
		put(b, "nan");
		return;
	}
	if (isinf(v)) {
		put(b, v < 0 ? "-inf" : "inf");
		return;
	}
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(s, sizeof s, "%.*e", prec - 1, v);
		if (strtod(s, NULL) == v)
			break;
	}
	snprintf(s, sizeof s, "%.*e", prec - 1, v);
	int exp10 = atoi(strchr(s, 'e') + 1);
	if (exp10 < -4 || exp10 >= 16) {
		/* 1e+16, 1.5e-05: Python's exponent has at least two digits. */
		char *e = strchr(s, 'e');
		*e = '\0';
		char mant[40];
		snprintf(mant, sizeof mant, "%s", s);
		char *dot = strchr(mant, '.');
		if (dot && !dot[1])
			*dot = '\0';
		char out[64];
		snprintf(out, sizeof out, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
		put(b, out);
		return;
	}
	int decimals = prec - 1 - exp10;
	snprintf(s, sizeof s, "%.*f", decimals > 0 ? decimals : 0, v);
	put(b, s);
	if (decimals <= 0)
		put(b, ".0");
}

static void repr_value(nrc_buf *b, const cJSON *v, const char *key);

static void repr_log(nrc_buf *b, const cJSON *m, const cJSON *v)
{
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(m, "encoding");
	if (cJSON_IsString(enc) && !strcmp(enc->valuestring, "base64")) {
		size_t n = 0;
		unsigned char *raw = nrc_base64_decode(v->valuestring, &n);
		if (raw) {
			repr_bytes(b, raw, n);
			free(raw);
			return;
		}
	}
	repr_bytes(b, (const unsigned char *)v->valuestring, strlen(v->valuestring));
}

static void repr_value(nrc_buf *b, const cJSON *v, const char *key)
{
	if (cJSON_IsString(v)) {
		repr_str(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		/* JSON has one number; a whole one is Python's int, except
		 * the time, which Avocado's runners give as a float. */
		if (d == floor(d) && fabs(d) < 1e16 && !(key && !strcmp(key, "time"))) {
			char s[32];
			snprintf(s, sizeof s, "%.0f", d);
			put(b, s);
		} else {
			repr_float(b, d);
		}
	} else if (cJSON_IsBool(v)) {
		put(b, cJSON_IsTrue(v) ? "True" : "False");
	} else if (cJSON_IsArray(v)) {
		put(b, "[");
		const cJSON *it;
		int first = 1;
		cJSON_ArrayForEach(it, v)
		{
			if (!first)
				put(b, ", ");
			first = 0;
			repr_value(b, it, NULL);
		}
		put(b, "]");
	} else if (cJSON_IsObject(v)) {
		put(b, "{");
		const cJSON *it;
		int first = 1;
		cJSON_ArrayForEach(it, v)
		{
			/* The log is bytes; what it was encoded as is JSON's
			 * concern, not Python's. */
			if (v->child && key == NULL && !strcmp(it->string, "encoding") &&
			    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "log")))
				continue;
			if (!first)
				put(b, ", ");
			first = 0;
			repr_str(b, it->string);
			put(b, ": ");
			if (key == NULL && !strcmp(it->string, "log") && cJSON_IsString(it))
				repr_log(b, v, it);
			else
				repr_value(b, it, it->string);
		}
		put(b, "}");
	} else {
		put(b, "None");
	}
}

char *nrc_python_repr_line(const cJSON *msg, size_t *len)
{
	nrc_buf b = {0};
	repr_value(&b, msg, NULL);
	nrc_buf_append(&b, "\n", 1);
	*len = b.len;
	nrc_buf_append(&b, "", 1);
	return b.data;
}
