/* Small helpers every part of the core uses: errors, memory, time,
 * encodings.  Internal to the core; plugins never see these. */
#ifndef NR_UTIL_H
#define NR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define NR_PRINTF_ATTR(f, a) __attribute__((format(printf, f, a)))

/* Exit status bits, as Avocado's (see nrunner(1)). */
enum {
	NR_EXIT_OK = 0,
	NR_EXIT_FAIL = 1,        /* a test failed or errored */
	NR_EXIT_JOB_ERROR = 2,   /* bad input: usage, recipe, unknown kind */
	NR_EXIT_RUNNER_FAIL = 4, /* a runner crashed or broke its contract */
	NR_EXIT_INTERRUPTED = 8,
};

/* "nrunner: <message>" on stderr, one line. */
void nrc_error(const char *fmt, ...) NR_PRINTF_ATTR(1, 2);

void *nrc_xmalloc(size_t n);
void *nrc_xcalloc(size_t n, size_t size);
void *nrc_xrealloc(void *p, size_t n);
char *nrc_xstrdup(const char *s);
char *nrc_xasprintf(const char *fmt, ...) NR_PRINTF_ATTR(1, 2);

/* Seconds since the epoch, as a double with microseconds. */
double nrc_now(void);
/* Monotonic milliseconds. */
long long nrc_monotonic_ms(void);
/* The peak of nrunner's own memory, in KB (VmHWM).  getrusage's ru_maxrss
 * would also count the memory of whoever started nrunner, when it did by
 * vfork (Python's subprocess does): the old process's peak carries over
 * through exec. */
long nrc_peak_rss_kb(void);

/* Length of the longest prefix of buf that is complete, valid UTF-8, or
 * (size_t)-1 if the bytes are invalid (not just cut short at the end). */
size_t nrc_utf8_valid_prefix(const unsigned char *buf, size_t len);
/* Length (1-4) of the valid UTF-8 character at s, or 0 if the bytes there
 * are not one (invalid, or cut short by len). */
size_t nrc_utf8_char_len(const unsigned char *s, size_t len);
/* s with every byte that is not part of valid UTF-8 replaced by U+FFFD, or
 * NULL if s is valid already. */
char *nrc_utf8_fix(const char *s);
/* Writes s for a reader's eyes (a terminal, a TAP line): valid, printable
 * UTF-8 as it is; newline, tab and CR as \n, \t, \r; other control
 * characters (C0, DEL, C1) as \u00XX; invalid bytes as \xXX.  So a name
 * can neither move the cursor, ring, recolour, nor start a line of its own.
 * With an indent, a newline is kept, followed by the indent (a reason of
 * several lines stays readable, and still starts no line of its own). */
void nrc_fputs_safe(FILE *f, const char *s, const char *indent);

/* Base64 (RFC 4648).  encode returns a NUL-terminated string; decode
 * returns NULL on invalid input and sets *outlen.  Whitespace is ignored
 * when decoding, as Python's base64.decodebytes does. */
char *nrc_base64_encode(const void *buf, size_t len);
unsigned char *nrc_base64_decode(const char *s, size_t *outlen);

/* Reads a whole file; NULL with errno set on failure. */
char *nrc_read_file(const char *path, size_t *len);

/* The last max bytes of a file, NUL-terminated, with *len their count
 * and *before how many bytes came before them; NULL if it cannot be
 * read. */
char *nrc_read_tail(const char *path, size_t max, size_t *len, long *before);

/* Writes all of buf, retrying on EINTR and short writes. */
int nrc_write_all(int fd, const void *buf, size_t len);

/* mkdir -p. */
int nrc_mkdir_p(const char *path, mode_t mode);

/* A growable byte buffer. */
typedef struct nrc_buf {
	char *data;
	size_t len, cap;
} nrc_buf;
void nrc_buf_append(nrc_buf *b, const void *p, size_t n);
void nrc_buf_consume(nrc_buf *b, size_t n);
void nrc_buf_free(nrc_buf *b);

/* "SIGSEGV (Segmentation fault)". */
const char *nrc_signal_name(int sig);

#endif
