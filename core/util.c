#include "config.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

void nrc_error(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One write, so lines from parallel processes do not interleave. */
	char out[4200];
	int n = snprintf(out, sizeof out, "nrunner: %s\n", line);
	if (n > (int)sizeof out - 1)
		n = sizeof out - 1;
	(void)nrc_write_all(STDERR_FILENO, out, (size_t)n);
}

static void oom(void)
{
	static const char msg[] = "nrunner: out of memory\n";
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	abort();
}

void *nrc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *nrc_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *nrc_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *nrc_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *nrc_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return p;
}

double nrc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

long long nrc_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t nrc_utf8_valid_prefix(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 2, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 3, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 4, min = 0x10000;
		} else {
			return (size_t)-1;
		}
		unsigned cp = c & (0x7F >> n);
		for (size_t k = 1; k < n; k++) {
			if (i + k >= len)
				return i; /* cut short: the rest may follow */
			if ((s[i + k] & 0xC0) != 0x80)
				return (size_t)-1;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return (size_t)-1;
		i += n;
	}
	return i;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t nrc_utf8_char_len(const unsigned char *s, size_t len)
{
	if (!len)
		return 0;
	unsigned char c = s[0];
	size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
		 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (!n || n > len)
		return 0;
	return nrc_utf8_valid_prefix(s, n) == n ? n : 0;
}

char *nrc_utf8_fix(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	if (nrc_utf8_valid_prefix(u, len) == len)
		return NULL;
	nrc_buf b = {0};
	for (size_t i = 0; i < len;) {
		size_t n = nrc_utf8_char_len(u + i, len - i);
		if (n) {
			nrc_buf_append(&b, u + i, n);
			i += n;
		} else {
			nrc_buf_append(&b, "\xEF\xBF\xBD", 3); /* U+FFFD */
			i++;
		}
	}
	nrc_buf_append(&b, "", 1);
	return b.data;
}

void nrc_fputs_safe(FILE *f, const char *s, const char *indent)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		size_t n = nrc_utf8_char_len(u + i, len - i);
		unsigned cp = n == 1 ? u[i] : n == 2 ? ((u[i] & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu) : 0x100;
		if (!n)
			fprintf(f, "\\x%02x", u[i]);
		else if (cp == '\n' && indent)
			fprintf(f, "\n%s", indent);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			fprintf(f, "\\u%04x", cp);
		else
			fwrite(u + i, 1, n, f);
		i += n ? n : 1;
	}
}

char *nrc_base64_encode(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	char *out = nrc_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

unsigned char *nrc_base64_decode(const char *s, size_t *outlen)
{
	size_t len = strlen(s);
	unsigned char *out = nrc_xmalloc(len / 4 * 3 + 3);
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0, pad = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		const char *q = strchr(b64, c);
		if (!q || !c || pad) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)(q - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be padding zeros of a well-formed quantum. */
	if (bits >= 6 || pad > 2) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

char *nrc_read_tail(const char *path, size_t max, size_t *len, long *before)
{
	FILE *in = fopen(path, "rb");
	if (!in)
		return NULL;
	long size = fseek(in, 0, SEEK_END) == 0 ? ftell(in) : -1;
	long from = size > (long)max ? size - (long)max : 0;
	char *buf = NULL;
	if (size >= 0 && fseek(in, from, SEEK_SET) == 0) {
		buf = nrc_xmalloc(max + 1);
		*len = fread(buf, 1, max, in);
		buf[*len] = '\0';
		*before = from;
	}
	fclose(in);
	return buf;
}

char *nrc_read_file(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		errno = EISDIR;
		return NULL;
	}
	nrc_buf b = {0};
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			nrc_buf_free(&b);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		nrc_buf_append(&b, chunk, (size_t)r);
	}
	close(fd);
	nrc_buf_append(&b, "", 1);
	if (lenp)
		*lenp = b.len - 1;
	return b.data;
}

int nrc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int nrc_mkdir_p(const char *path, mode_t mode)
{
	char *p = nrc_xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int r = mkdir(p, mode);
	free(p);
	return r < 0 && errno != EEXIST ? -1 : 0;
}

long nrc_peak_rss_kb(void)
{
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	struct rusage ru;
	if (kb < 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		kb = ru.ru_maxrss;
	return kb < 0 ? 0 : kb;
}

void nrc_buf_append(nrc_buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->data = nrc_xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void nrc_buf_consume(nrc_buf *b, size_t n)
{
	if (!n)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void nrc_buf_free(nrc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

const char *nrc_signal_name(int sig)
{
	static char buf[64];
	const char *abbrev = sigabbrev_np(sig);
	const char *desc = sigdescr_np(sig);
	snprintf(buf, sizeof buf, "SIG%s (%s)", abbrev ? abbrev : "?",
		 desc ? desc : "unknown signal");
	return buf;
}
