/* A minimal TAP producer for the C unit tests. */
#ifndef NR_TEST_TAP_H
#define NR_TEST_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                     \
	do {                                                              \
		int ok_ = !!(cond);                                       \
		printf("%sok %d - ", ok_ ? "" : "not ", ++tap_n);         \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		if (!ok_) {                                               \
			tap_failed++;                                     \
			printf("#   failed at %s:%d: %s\n", __FILE__,   \
			       __LINE__, #cond);                          \
		}                                                         \
	} while (0)

#define is_str(got, want, ...)                                            \
	do {                                                              \
		const char *g_ = (got), *w_ = (want);                     \
		int same_ = g_ && w_ ? !strcmp(g_, w_) : g_ == w_;        \
		ok(same_, __VA_ARGS__);                                   \
		if (!same_)                                               \
			printf("#   got:      '%s'\n#   expected: '%s'\n", \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");   \
	} while (0)

/* Writes a test's input file; a failure ends the test (exit 2). */
static inline void tap_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(2);
	}
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
