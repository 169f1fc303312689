#include "config.h"

#include "redact.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (64u << 20)

/* Every occurrence of v (vl bytes) in the first *len bytes of s becomes
 * "***"; the text only shrinks, or keeps its length. */
static size_t replace(char *s, size_t *len, const char *v, size_t vl)
{
	size_t n = 0, at = 0;
	char *p;
	if (vl < 3)
		return 0; /* "***" for "ab" would grow the text */
	while ((p = memmem(s + at, *len - at, v, vl))) {
		size_t off = (size_t)(p - s);
		memmove(p + 3, p + vl, *len - off - vl);
		memcpy(p, NRP_REDACTED, 3);
		*len -= vl - 3;
		at = off + 3;
		n++;
	}
	return n;
}

/* RFC 3986's unreserved characters stay; the rest becomes %XX, as
 * libcurl and most URL builders write it (both hex cases are tried). */
static char *percent(const char *s, int lower)
{
	char *o = malloc(strlen(s) * 3 + 1), *p = o;
	if (!o)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char)c;
		else
			p += sprintf(p, lower ? "%%%02x" : "%%%02X", c);
	}
	*p = '\0';
	return o;
}

static char *json_escaped(const char *s)
{
	char *o = malloc(strlen(s) * 6 + 1), *p = o;
	if (!o)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			*p++ = '\\', *p++ = (char)c;
		else if (c == '\n')
			*p++ = '\\', *p++ = 'n';
		else if (c == '\t')
			*p++ = '\\', *p++ = 't';
		else if (c == '\r')
			*p++ = '\\', *p++ = 'r';
		else if (c < 0x20)
			p += sprintf(p, "\\u%04x", c);
		else
			*p++ = (char)c;
	}
	*p = '\0';
	return o;
}

/* The base64 characters that depend only on the secret when it starts
 * `shift` bytes (0-2) into a 3-byte group: the first characters of its
 * first group and the last of its last one also hold the bytes around
 * it, and are left out. */
static char *base64_core(const char *s, int shift)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), total = n + (size_t)shift;
	unsigned char *in = calloc(total + 3, 1);
	char *o = malloc(total / 3 * 4 + 8);
	if (!in || !o) {
		free(in);
		free(o);
		return NULL;
	}
	memcpy(in + shift, s, n);
	size_t k = 0;
	for (size_t i = 0; i < total; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		size_t have = total - i < 3 ? total - i : 3;
		/* Character j of the group holds bits 6j..6j+5 of its 24. */
		for (size_t j = 0; j < 4; j++) {
			size_t first = i * 8 + j * 6, last = first + 5;
			if (first < (size_t)shift * 8 || last >= (i + have) * 8)
				continue;
			o[k++] = tab[(v >> (18 - 6 * j)) & 63];
		}
	}
	o[k] = '\0';
	free(in);
	return o;
}

/* In the first *len bytes of s. */
static size_t redact_mem(char *s, size_t *len, const char *secret)
{
	if (!s || !secret || !*secret)
		return 0;
	size_t n = replace(s, len, secret, strlen(secret));
	char *forms[3] = {percent(secret, 0), percent(secret, 1), json_escaped(secret)};
	for (int i = 0; i < 3; i++)
		if (forms[i] && strcmp(forms[i], secret))
			n += replace(s, len, forms[i], strlen(forms[i]));
	for (int i = 0; i < 3; i++)
		free(forms[i]);
	/* base64, at each alignment; too short a core would hide innocent
	 * text. */
	for (int shift = 0; shift < 3; shift++) {
		char *b = base64_core(secret, shift);
		if (b && strlen(b) >= 6)
			n += replace(s, len, b, strlen(b));
		free(b);
	}
	return n;
}

size_t nrp_redact(char *s, size_t cap, const char *secret)
{
	(void)cap; /* the text never grows */
	if (!s)
		return 0;
	size_t len = strlen(s);
	size_t n = redact_mem(s, &len, secret);
	s[len] = '\0';
	return n;
}

size_t nrp_redact_all(char *s, size_t cap, const char *const *secrets)
{
	size_t n = 0;
	for (size_t i = 0; secrets && secrets[i]; i++)
		n += nrp_redact(s, cap, secrets[i]);
	return n;
}

int nrp_redact_file(const char *path, const char *const *secrets)
{
	if (!path || !secrets || !secrets[0])
		return 0;
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	if ((size_t)st.st_size > MAX_FILE)
		return -1;
	size_t len = 0;
	char *text = nrp_read_text(path, &len);
	if (!text)
		return -1;
	size_t changed = 0;
	for (size_t i = 0; secrets[i]; i++)
		changed += redact_mem(text, &len, secrets[i]);
	int rc = 0;
	if (changed) {
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(text, 1, len, f) != len)
			rc = -1;
		if (f && fclose(f) != 0)
			rc = -1;
	}
	free(text);
	return rc;
}

void nrp_redact_flush(nrp_redact_out *o)
{
	if (!o->n)
		return;
	o->buf[o->n] = '\0';
	nrp_redact_all(o->buf, sizeof o->buf, o->secrets);
	size_t len = strlen(o->buf);
	(void)!write(o->fd, o->buf, len);
	o->n = 0;
}

void nrp_redact_write(nrp_redact_out *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		o->buf[o->n++] = p[i];
		if (p[i] == '\n' || o->n == sizeof o->buf - 1)
			nrp_redact_flush(o);
	}
}
