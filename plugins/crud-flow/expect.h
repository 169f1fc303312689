/* Checking a response against a step's expectations, and taking
 * captures from it. */
#ifndef NR_FLOW_EXPECT_H
#define NR_FLOW_EXPECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct response {
	long status;
	char *headers;   /* raw header block of the last response */
	char *body;
	size_t body_len;
	cJSON *json;     /* the body parsed, or NULL */
	char *cookies;   /* the client's cookie list, "name\tvalue" lines */
} response;

/* RFC 6901: "" is the whole document, "/a/0/b" a path into it. */
const cJSON *json_pointer(const cJSON *doc, const char *ptr);

/* Whether `have` contains `want`: equal scalars, objects with at least
 * want's keys (recursively), arrays of equal length matching item by
 * item.  On a mismatch, writes the pointer where it differs. */
int json_subset(const cJSON *have, const cJSON *want, char *where, size_t len);

/* Checks `expect` (already expanded); on the first failure returns -1
 * with "<which part>: expected X, got Y" in err, and the path suffix of
 * the expectation (e.g. "status", "assert[2]") in what. */
int expect_check(const cJSON *expect, const response *r, char *what, size_t wlen,
		 char *err, size_t errlen);

/* The value of one capture, as JSON, or NULL with the reason. */
cJSON *capture_take(const cJSON *spec, const response *r, char *err, size_t errlen);

/* A cookie's value from a client's cookie list, malloc'ed, or NULL. */
char *cookie_value(const char *jar, const char *name);

/* A header's value (case-insensitive name), malloc'ed, or NULL. */
char *header_value(const char *headers, const char *name);

#endif
