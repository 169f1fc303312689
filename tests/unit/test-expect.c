/* Unit tests of crud-flow's expectations (plugins/crud-flow/expect.c):
 * JSON pointers, subsets, status/headers/json/assert/body_contains
 * checks with their messages, captures, headers and cookies. */
#include "config.h"

#include "tap.h"
#include "crud-flow/expect.h"

#include <stdlib.h>

static const char *HEADERS = "HTTP/1.1 201 Created\r\n"
			     "Content-Type:  application/json; charset=utf-8 \r\n"
			     "X-Count: 3\r\n"
			     "Location: /api/actors/7/\r\n"
			     "X-Last:\tend";

static response resp(long status, const char *body)
{
	response r = {.status = status, .headers = (char *)HEADERS, .body = (char *)body,
		      .body_len = body ? strlen(body) : 0, .json = body ? cJSON_Parse(body) : NULL,
		      .cookies = (char *)"#HttpOnly_localhost\tFALSE\t/\tFALSE\t0\tsessionid\tabc123\n"
					 "localhost\tFALSE\t/\tFALSE\t0\tcsrftoken\tT0K\n"
					 "broken line without tabs\n"};
	return r;
}

/* "what|err" of expect_check, or "pass". */
static char out[1024];
static const char *check(const char *expect_json, const response *r)
{
	cJSON *e = cJSON_Parse(expect_json);
	if (!e)
		return "(bad test JSON)";
	char what[64] = "", err[512] = "";
	int rc = expect_check(e, r, what, sizeof what, err, sizeof err);
	cJSON_Delete(e);
	if (rc == 0)
		return "pass";
	snprintf(out, sizeof out, "%s|%s", what, err);
	return out;
}

/* A capture as JSON text, or "ERR: <err>". */
static char *capture(const char *spec_json, const response *r)
{
	cJSON *s = cJSON_Parse(spec_json);
	char err[256] = "";
	cJSON *v = capture_take(s, r, err, sizeof err);
	cJSON_Delete(s);
	char *t;
	if (v) {
		t = cJSON_PrintUnformatted(v);
		cJSON_Delete(v);
	} else {
		t = malloc(strlen(err) + 6);
		sprintf(t, "ERR: %s", err);
	}
	return t;
}

static void is_capture(const char *spec, const response *r, const char *want, const char *what)
{
	char *got = capture(spec, r);
	is_str(got, want, "capture: %s", what);
	free(got);
}

static const char *pointer(const cJSON *doc, const char *ptr)
{
	static char buf[256];
	const cJSON *v = json_pointer(doc, ptr);
	if (!v)
		return "(none)";
	char *s = cJSON_PrintUnformatted(v);
	snprintf(buf, sizeof buf, "%s", s);
	free(s);
	return buf;
}

static const char *subset(const char *have, const char *want)
{
	static char where[512];
	cJSON *h = cJSON_Parse(have), *w = cJSON_Parse(want);
	where[0] = '\0';
	int r = json_subset(h, w, where, sizeof where);
	cJSON_Delete(h);
	cJSON_Delete(w);
	if (r)
		return "yes";
	if (!where[0])
		return "no at the top";
	return where;
}

int main(void)
{
	/* --- json_pointer (RFC 6901) --------------------------------------- */
	cJSON *doc = cJSON_Parse("{\"a\": {\"b\": [10, {\"c\": \"d\"}]}, \"x/y\": 1, "
				 "\"m~n\": 2, \"\": 3, \"arr\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}");
	is_str(pointer(doc, ""), "{\"a\":{\"b\":[10,{\"c\":\"d\"}]},\"x/y\":1,\"m~n\":2,\"\":3,"
				 "\"arr\":[0,1,2,3,4,5,6,7,8,9,10,11]}",
	       "pointer: \"\" is the whole document");
	is_str(pointer(doc, "/a/b/0"), "10", "pointer: into an array");
	is_str(pointer(doc, "/a/b/1/c"), "\"d\"", "pointer: through an array into an object");
	is_str(pointer(doc, "/x~1y"), "1", "pointer: ~1 is /");
	is_str(pointer(doc, "/m~0n"), "2", "pointer: ~0 is ~");
	is_str(pointer(doc, "/"), "3", "pointer: \"/\" is the key \"\"");
	is_str(pointer(doc, "/arr/11"), "11", "pointer: a two-digit index");
	is_str(pointer(doc, "a"), "(none)", "pointer: no leading slash");
	is_str(pointer(doc, "/nope"), "(none)", "pointer: a missing key");
	is_str(pointer(doc, "/a/b/2"), "(none)", "pointer: past the end");
	is_str(pointer(doc, "/a/b/-1"), "(none)", "pointer: a negative index");
	is_str(pointer(doc, "/a/b/-"), "(none)", "pointer: \"-\" (past the end) is nothing");
	is_str(pointer(doc, "/a/b/x"), "(none)", "pointer: an index that is no number");
	is_str(pointer(doc, "/a/b/"), "(none)", "pointer: an empty index");
	is_str(pointer(doc, "/a/b/0/z"), "(none)", "pointer: through a scalar");
	is_str(pointer(doc, "/arr/01"), "(none)", "pointer: an index with a leading zero");
	is_str(pointer(doc, "/arr/ 1"), "(none)", "pointer: an index with a space");
	is_str(pointer(doc, "/arr/+1"), "(none)", "pointer: an index with a sign");
	is_str(pointer(doc, "/arr/99999999999999999999"), "(none)", "pointer: a huge index");
	ok(json_pointer(NULL, "/a") == NULL, "pointer: into nothing");
	cJSON_Delete(doc);

	/* --- json_subset ------------------------------------------------------ */
	is_str(subset("{\"a\":1,\"b\":2}", "{\"a\":1}"), "yes", "subset: fewer keys");
	is_str(subset("{\"a\":1}", "{\"a\":1,\"b\":2}"), "/b", "subset: a missing key, named");
	is_str(subset("{\"a\":{\"b\":[1,{\"c\":2}]}}", "{\"a\":{\"b\":[1,{\"c\":3}]}}"),
	       "/a/b/1/c", "subset: the pointer to the first difference");
	is_str(subset("[1,2,3]", "[1,2]"), "no at the top", "subset: arrays of other lengths");
	is_str(subset("[1,2]", "[1,2]"), "yes", "subset: equal arrays");
	is_str(subset("[{\"a\":1,\"b\":2}]", "[{\"a\":1}]"), "yes", "subset: objects in arrays");
	is_str(subset("7", "\"7\""), "yes", "subset: \"7\" equals 7");
	is_str(subset("\"7\"", "7"), "yes", "subset: 7 equals \"7\"");
	is_str(subset("7", "\"7.0\""), "yes", "subset: \"7.0\" equals 7");
	is_str(subset("7", "\"7x\""), "no at the top", "subset: \"7x\" is not 7");
	is_str(subset("0", "\"\""), "no at the top", "subset: \"\" is not 0");
	is_str(subset("1", "true"), "no at the top", "subset: true is not 1");
	is_str(subset("null", "null"), "yes", "subset: null is null");
	is_str(subset("\"a\"", "{\"a\":1}"), "no at the top", "subset: a string is no object");
	is_str(subset("{}", "[]"), "no at the top", "subset: an object is no array");

	/* --- header_value, cookie_value -------------------------------------- */
	char *v = header_value(HEADERS, "content-type");
	is_str(v, "application/json; charset=utf-8", "header: any case, spaces trimmed");
	free(v);
	v = header_value(HEADERS, "X-Last");
	is_str(v, "end", "header: the last line, no CRLF, a tab trimmed");
	free(v);
	ok(header_value(HEADERS, "X-Coun") == NULL, "header: a prefix of a name is not it");
	ok(header_value(HEADERS, "Content") == NULL, "header: nor is a shorter name");
	ok(header_value(NULL, "X-Count") == NULL, "header: no headers");
	ok(header_value("", "X-Count") == NULL, "header: empty headers");
	response r = resp(201, "{\"id\": 7, \"name\": \"Ada\", \"tags\": [\"a\", \"b\"],"
				" \"n\": 2.5, \"nested\": {\"k\": null}, \"empty\": []}");
	v = cookie_value(r.cookies, "sessionid");
	is_str(v, "abc123", "cookie: an HttpOnly cookie");
	free(v);
	v = cookie_value(r.cookies, "csrftoken");
	is_str(v, "T0K", "cookie: the second line");
	free(v);
	ok(cookie_value(r.cookies, "nope") == NULL, "cookie: no such cookie");
	ok(cookie_value(NULL, "sessionid") == NULL, "cookie: no cookie list");

	/* --- expect_check ----------------------------------------------------- */
	is_str(check("{}", &r), "pass", "check: no expectations");
	is_str(check("{\"status\": 201}", &r), "pass", "status: equal");
	is_str(check("{\"status\": 200}", &r), "status|expected 200, got 201", "status: other");
	is_str(check("{\"status\": [200, 201]}", &r), "pass", "status: one of a list");
	is_str(check("{\"status\": [200, 204]}", &r), "status|expected one of [200,204], got 201",
	       "status: none of a list");
	is_str(check("{\"headers\": {\"x-count\": \"3\"}}", &r), "pass", "headers: equal");
	is_str(check("{\"headers\": {\"X-Count\": 3}}", &r), "pass",
	       "headers: a number (from a template) compared as text");
	is_str(check("{\"headers\": {\"Content-Type\": \"~^application/json\"}}", &r), "pass",
	       "headers: ~ is a regular expression");
	is_str(check("{\"headers\": {\"Content-Type\": \"~^text/\"}}", &r),
	       "headers.Content-Type|expected Content-Type: ~^text/, got application/json; "
	       "charset=utf-8",
	       "headers: a regular expression that does not match");
	is_str(check("{\"headers\": {\"X-Count\": \"4\"}}", &r),
	       "headers.X-Count|expected X-Count: 4, got 3", "headers: another value");
	is_str(check("{\"headers\": {\"X-Nope\": \"1\"}}", &r),
	       "headers.X-Nope|expected X-Nope: 1, got no such header", "headers: missing");
	is_str(check("{\"json\": {\"id\": 7, \"tags\": [\"a\", \"b\"]}}", &r), "pass",
	       "json: a subset");
	is_str(check("{\"json\": {\"id\": \"7\"}}", &r), "pass", "json: \"7\" for 7");
	is_str(check("{\"json\": {\"name\": \"Bob\"}}", &r),
	       "json|at /name: expected \"Bob\", got \"Ada\"", "json: a different value");
	is_str(check("{\"json\": {\"tags\": [\"a\"]}}", &r),
	       "json|at /tags: expected [\"a\"], got [\"a\",\"b\"]", "json: an array of another length");
	is_str(check("{\"json\": {\"missing\": 1}}", &r),
	       "json|at /missing: expected 1, got nothing (no such path)", "json: a missing key");
	is_str(check("{\"json\": [1]}", &r), "json|at /: expected [1], got {\"id\":7,"
	       "\"name\":\"Ada\",\"tags\":[\"a\",\"b\"],\"n\":2.5,\"nested\":{\"k\":null},\"empty\":[]}",
	       "json: the top differs");
	is_str(check("{\"body_contains\": \"Ada\"}", &r), "pass", "body_contains: found");
	is_str(check("{\"body_contains\": \"Bob\"}", &r),
	       "body_contains|expected the body to contain \"Bob\"", "body_contains: not found");
	is_str(check("{\"body_contains\": 2.5}", &r), "pass",
	       "body_contains: a number (from a template) as text");
	/* The first failing part is the one reported, in order. */
	is_str(check("{\"status\": 500, \"json\": {\"id\": 8}}", &r),
	       "status|expected 500, got 201", "the status is checked first");

#define A(path, op, value) "{\"assert\": [{\"path\": \"" path "\", \"op\": \"" op "\"" value "}]}"
	is_str(check(A("/id", "equals", ", \"value\": 7"), &r), "pass", "equals");
	is_str(check(A("/id", "equals", ", \"value\": \"7\""), &r), "pass", "equals: \"7\"");
	is_str(check(A("/nested", "equals", ", \"value\": {}"), &r),
	       "assert[0]|/nested: expected equals {}, got {\"k\":null}",
	       "equals is both ways, not a subset");
	is_str(check(A("/id", "equals", ", \"value\": 8"), &r),
	       "assert[0]|/id: expected equals 8, got 7", "equals: other");
	is_str(check(A("/id", "not-equals", ", \"value\": 8"), &r), "pass", "not-equals");
	is_str(check(A("/id", "not-equals", ", \"value\": 7"), &r),
	       "assert[0]|/id: expected not-equals 7, got 7", "not-equals: equal");
	is_str(check(A("/n", "<", ", \"value\": 3"), &r), "pass", "<");
	is_str(check(A("/n", "<", ", \"value\": 2.5"), &r),
	       "assert[0]|/n: expected < 2.5, got 2.5", "<: equal");
	is_str(check(A("/n", "<=", ", \"value\": 2.5"), &r), "pass", "<=");
	is_str(check(A("/n", ">", ", \"value\": 2"), &r), "pass", ">");
	is_str(check(A("/n", ">=", ", \"value\": 2.6"), &r),
	       "assert[0]|/n: expected >= 2.6, got 2.5", ">=: less");
	is_str(check(A("/name", ">", ", \"value\": \"Aa\""), &r), "pass", ">: strings compare");
	is_str(check(A("/name", "<", ", \"value\": 3"), &r),
	       "assert[0]|/name: expected < 3, got \"Ada\"", "<: a string and a number do not compare");
	is_str(check(A("/name", "contains", ", \"value\": \"d\""), &r), "pass",
	       "contains: a substring");
	is_str(check(A("/tags", "contains", ", \"value\": \"b\""), &r), "pass",
	       "contains: an item of an array");
	is_str(check(A("/tags", "contains", ", \"value\": \"c\""), &r),
	       "assert[0]|/tags: expected contains \"c\", got [\"a\",\"b\"]",
	       "contains: not in the array");
	is_str(check(A("", "contains", ", \"value\": \"tags\""), &r), "pass",
	       "contains: a key of an object");
	is_str(check(A("", "contains", ", \"value\": {\"id\": 7}"), &r), "pass",
	       "contains: an object that holds another");
	is_str(check(A("/name", "matches", ", \"value\": \"^A.a$\""), &r), "pass", "matches");
	is_str(check(A("/name", "matches", ", \"value\": \"^B\""), &r),
	       "assert[0]|/name: expected matches \"^B\", got \"Ada\"", "matches: no");
	is_str(check(A("/id", "matches", ", \"value\": \"7\""), &r),
	       "assert[0]|/id: expected matches \"7\", got 7", "matches: only strings match");
	is_str(check(A("/id", "matches", ", \"value\": 7"), &r),
	       "assert[0]|/id: expected matches 7, got 7",
	       "matches: a value a template made a number");
	is_str(check(A("/name", "matches", ", \"value\": \"(\""), &r),
	       "assert[0]|/name: expected matches \"(\", got \"Ada\"",
	       "matches: a regex a template made invalid fails, no crash");
	is_str(check(A("/nested/k", "exists", ""), &r), "pass", "exists: a null");
	is_str(check(A("/nope", "exists", ""), &r),
	       "assert[0]|/nope: expected exists, got nothing (no such path)", "exists: no");
	is_str(check(A("/nope", "not-exists", ""), &r), "pass", "not-exists");
	is_str(check(A("/id", "not-exists", ""), &r),
	       "assert[0]|/id: expected not-exists, got 7", "not-exists: it does");
	is_str(check(A("/nope", "equals", ", \"value\": 1"), &r),
	       "assert[0]|/nope: expected equals 1, got nothing (no such path)",
	       "a predicate on nothing fails");
	is_str(check(A("/tags", "type", ", \"value\": \"array\""), &r), "pass", "type: array");
	is_str(check(A("/nested/k", "type", ", \"value\": \"null\""), &r), "pass", "type: null");
	is_str(check(A("/id", "type", ", \"value\": \"string\""), &r),
	       "assert[0]|/id: expected type \"string\", got number", "type: other, named");
	is_str(check(A("/tags", "count", ", \"value\": 2"), &r), "pass", "count: an array");
	is_str(check(A("/nested", "count", ", \"value\": 1"), &r), "pass", "count: an object");
	is_str(check(A("/name", "count", ", \"value\": 3"), &r), "pass", "count: a string's bytes");
	is_str(check(A("/empty", "count", ", \"value\": 1"), &r),
	       "assert[0]|/empty: expected count 1, got 0", "count: other");
	is_str(check(A("/id", "count", ", \"value\": 1"), &r),
	       "assert[0]|/id: expected count 1, got -1", "count: a number has none");
	/* tests/fuzz/crashes/fuzz-expect-huge-count */
	is_str(check(A("/tags", "count", ", \"value\": 1e300"), &r),
	       "assert[0]|/tags: expected count 1e+300, got 2", "count: a huge value, no crash");
	is_str(check(A("/tags", "count", ", \"value\": \"2\""), &r),
	       "assert[0]|/tags: expected count \"2\", got [\"a\",\"b\"]",
	       "count: of no number fails");
	is_str(check("{\"assert\": [{\"path\": \"/id\", \"op\": \"exists\"},"
		     " {\"path\": \"\", \"op\": \"type\", \"value\": \"array\"}]}", &r),
	       "assert[1]|(the body): expected type \"array\", got object",
	       "the failing assertion is numbered; the body is named");
	response text = resp(200, "not json");
	is_str(check(A("/id", "exists", ""), &text),
	       "assert[0]|expected a JSON body, got text that is not JSON", "assert: no JSON body");
	is_str(check("{\"json\": {}}", &text),
	       "json|expected a JSON body, got text that is not JSON", "json: no JSON body");
	response none = resp(204, NULL);
	is_str(check("{\"json\": {}}", &none), "json|expected a JSON body, got an empty body",
	       "json: an empty body");
	is_str(check(A("", "exists", ""), &none),
	       "assert[0]|expected a JSON body, got an empty body", "assert: an empty body");
	is_str(check("{\"body_contains\": \"x\"}", &none),
	       "body_contains|expected the body to contain \"x\"", "body_contains: no body");

	/* --- capture_take ----------------------------------------------------- */
	is_capture("{\"json\": \"/id\"}", &r, "7", "json: a number stays a number");
	is_capture("{\"json\": \"/tags\"}", &r, "[\"a\",\"b\"]", "json: an array");
	char *whole = cJSON_PrintUnformatted(r.json);
	is_capture("{\"json\": \"\"}", &r, whole, "json: \"\" is the whole body");
	free(whole);
	is_capture("{\"json\": \"/nope\"}", &r, "ERR: json /nope: no such path in the body",
		   "json: a missing path");
	is_capture("{\"json\": \"/id\"}", &text, "ERR: json /id: the body is not JSON",
		   "json: a body that is not JSON");
	is_capture("{\"header\": \"location\"}", &r, "\"/api/actors/7/\"", "header");
	is_capture("{\"header\": \"X-Nope\"}", &r, "ERR: header X-Nope: not in the response",
		   "header: missing");
	is_capture("{\"cookie\": \"sessionid\"}", &r, "\"abc123\"", "cookie");
	is_capture("{\"cookie\": \"nope\"}", &r, "ERR: cookie nope: the client has no such cookie",
		   "cookie: missing");
	is_capture("{\"regex\": \"\\\"id\\\": ([0-9]+)\"}", &r, "\"7\"", "regex: group 1 by default");
	is_capture("{\"regex\": \"\\\"id\\\": ([0-9]+)\", \"group\": 0}", &r, "\"\\\"id\\\": 7\"",
		   "regex: group 0 is the whole match");
	is_capture("{\"regex\": \"Ad.\"}", &r, "\"Ada\"", "regex: no group is the whole match");
	is_capture("{\"regex\": \"(A)(d)(a)\", \"group\": 3}", &r, "\"a\"", "regex: group 3");
	is_capture("{\"regex\": \"(A)da\", \"group\": 5}", &r, "\"Ada\"",
		   "regex: a group past the last is the whole match");
	/* tests/fuzz/crashes/fuzz-expect-huge-group */
	is_capture("{\"regex\": \"(A)da\", \"group\": -1e300}", &r, "\"Ada\"",
		   "regex: a huge negative group, no crash");
	is_capture("{\"regex\": \"(A)da\", \"group\": 1e300}", &r, "\"Ada\"",
		   "regex: a huge group, no crash");
	is_capture("{\"regex\": \"(Z)|Ada\"}", &r,
		   "ERR: regex \"(Z)|Ada\": group 1 took no part in the match",
		   "regex: a group that took no part in the match");
	is_capture("{\"regex\": \"Bob\"}", &r, "ERR: regex \"Bob\": no match in the body",
		   "regex: no match");
	is_capture("{\"regex\": \"x\"}", &none, "ERR: regex \"x\": no match in the body",
		   "regex: no body");
	is_capture("{\"regex\": \"(\"}", &r, "ERR: regex: does not compile",
		   "regex: a regex a template made invalid");

	cJSON_Delete(r.json);
	cJSON_Delete(text.json);
	return tap_done();
}
