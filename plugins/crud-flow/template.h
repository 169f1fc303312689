/* {{...}} templates in flow files: variables (from vars and captures),
 * and the built-ins {{uuid}} (new each time), {{unique}} (one per flow
 * run), {{random(N)}} (N letters and digits), {{now}} (ISO 8601, UTC),
 * {{timestamp}} (seconds since the epoch) and {{env.NAME}}. */
#ifndef NR_FLOW_TEMPLATE_H
#define NR_FLOW_TEMPLATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

enum { TEMPLATE_OK = 0, TEMPLATE_UNKNOWN = 1, TEMPLATE_BAD = 2 };

/* Checks that every variable a string uses is in `known` (an object
 * whose keys are the names).  On TEMPLATE_UNKNOWN, `what` holds the name;
 * on TEMPLATE_BAD, what is wrong. */
int template_check(const char *s, const cJSON *known, char *what, size_t len);

typedef struct template_ctx {
	const cJSON *vars;  /* name -> value */
	const char *unique; /* this run's {{unique}} */
	cJSON *secrets;     /* expanded {"secret": ...} values are added here */
} template_ctx;

/* The string with its templates filled in (malloc'ed), or NULL with the
 * reason in err. */
char *template_expand(const char *s, const template_ctx *c, char *err, size_t errlen);

/* A deep copy of a JSON value with every string expanded.  A string that
 * is exactly one variable ("{{id}}") takes that variable's JSON value, so
 * a captured number stays a number.  {"secret": "x"} becomes "x". */
cJSON *template_expand_json(const cJSON *v, const template_ctx *c, char *err,
			    size_t errlen);

/* A variable's value as text: strings as they are, anything else as JSON. */
char *template_text(const cJSON *v);

#endif
