/* Unit tests of the runnable model: Avocado recipes, lists, the errors
 * for malformed ones, and the command-line encodings. */
#include "config.h"

#include "runnable.h"
#include "tap.h"

#include <stdlib.h>

static char err[4096];

static nrc_runnable_list parse(const char *text)
{
	nrc_runnable_list l = {0};
	err[0] = '\0';
	if (nrc_recipe_parse(text, "r.json", &l, err, sizeof err) < 0)
		l.n = 0;
	return l;
}

static void expect_error(const char *text, const char *want, const char *what)
{
	nrc_runnable_list l = parse(text);
	ok(l.n == 0, "%s is refused", what);
	is_str(err, want, "%s: the error names the file and field", what);
	nrc_runnable_list_free(&l);
}

int main(void)
{
	/* A recipe as Avocado writes it (avocado/schemas, all keys). */
	nrc_runnable_list l = parse(
		"{\"kind\": \"exec-test\", \"uri\": \"/bin/sh\",\n"
		" \"args\": [\"-c\", \"exit 0\"],\n"
		" \"kwargs\": {\"DEBUG\": \"1\", \"N\": 3},\n"
		" \"config\": {\"runner.identifier_format\": \"{uri}\",\n"
		"            \"runner.exectest.exitcodes.skip\": [77]},\n"
		" \"identifier\": \"sh-exit-0\"}");
	ok(l.n == 1, "an Avocado recipe with every key parses");
	if (l.n == 1) {
		nrc_runnable *r = l.items[0];
		is_str(r->kind, "exec-test", "kind");
		is_str(r->uri, "/bin/sh", "uri");
		is_str(nrc_runnable_identifier(r), "sh-exit-0", "identifier");
		ok(cJSON_GetArraySize(r->args) == 2, "two args");
		is_str(cJSON_GetArrayItem(r->args, 1)->valuestring, "exit 0",
		       "args keep their order");
		ok(cJSON_GetObjectItem(r->kwargs, "N")->valuedouble == 3,
		   "kwargs keep JSON types");
		ok(cJSON_IsArray(cJSON_GetObjectItem(
			   r->config, "runner.exectest.exitcodes.skip")),
		   "config keeps flat dotted keys");

		/* Writing and reading again gives the same runnable. */
		cJSON *j = nrc_runnable_to_json(r);
		char *text = cJSON_PrintUnformatted(j);
		nrc_runnable_list again = parse(text);
		ok(again.n == 1, "a written recipe reads back");
		if (again.n == 1) {
			cJSON *j2 = nrc_runnable_to_json(again.items[0]);
			ok(cJSON_Compare(j, j2, 1), "and is equal to the original");
			cJSON_Delete(j2);
		}
		nrc_runnable_list_free(&again);
		free(text);
		cJSON_Delete(j);
	}
	nrc_runnable_list_free(&l);

	l = parse("{\"kind\": \"noop\"}");
	ok(l.n == 1 && cJSON_GetArraySize(l.items[0]->args) == 0 &&
		   cJSON_IsObject(l.items[0]->kwargs) && !l.items[0]->uri,
	   "only kind: empty args, empty kwargs, no uri");
	if (l.n == 1)
		is_str(nrc_runnable_identifier(l.items[0]), "noop",
		       "with no identifier or uri, the kind identifies it");
	nrc_runnable_list_free(&l);

	l = parse("{\"kind\": \"noop\", \"uri\": null, \"args\": null}");
	ok(l.n == 1, "null for an optional key means absent (Python writes None)");
	nrc_runnable_list_free(&l);

	l = parse("[{\"kind\": \"noop\"}, {\"kind\": \"exec-test\", \"uri\": "
		  "\"/bin/true\"}, {\"kind\": \"noop\", \"identifier\": \"x\"}]");
	ok(l.n == 3, "a list recipe gives three runnables");
	if (l.n == 3) {
		is_str(l.items[1]->kind, "exec-test", "in file order");
		is_str(nrc_runnable_identifier(l.items[1]), "/bin/true",
		       "the uri identifies a runnable with no identifier");
	}
	nrc_runnable_list_free(&l);

	expect_error("{\"uri\": \"/bin/true\"}",
		     "r.json: \"kind\": missing; say which kind runs this (see "
		     "nrunner --list-kinds)",
		     "a recipe without kind");
	expect_error("{\"kind\": 7}",
		     "r.json: \"kind\": must be a non-empty string, not a number",
		     "a numeric kind");
	expect_error("{\"kind\": \"\"}",
		     "r.json: \"kind\": must be a non-empty string, not an empty string",
		     "an empty kind");
	expect_error("{\"kind\": \"exec\", \"args\": \"-v\"}",
		     "r.json: \"args\": must be an array of strings, not a string",
		     "args as a string");
	expect_error("{\"kind\": \"exec\", \"args\": [\"-v\", 2]}",
		     "r.json: \"args\"[1]: must be a string, not a number",
		     "a number among args");
	expect_error("{\"kind\": \"exec\", \"kwargs\": [1]}",
		     "r.json: \"kwargs\": must be an object, not an array",
		     "kwargs as an array");
	expect_error("{\"kind\": \"exec\", \"config\": \"x\"}",
		     "r.json: \"config\": must be an object, not a string",
		     "config as a string");
	expect_error("{\"kind\": \"exec\", \"uri\": 5}",
		     "r.json: \"uri\": must be a string, not a number",
		     "a numeric uri");
	expect_error("{\"kind\": \"noop\", \"tags\": []}",
		     "r.json: \"tags\": unknown key; a recipe has only kind, uri, "
		     "args, kwargs, config and identifier",
		     "an unknown key");
	expect_error("[{\"kind\": \"noop\"}, {\"kind\": 1}]",
		     "r.json: [1]: \"kind\": must be a non-empty string, not a number",
		     "a bad item in a list");
	expect_error("[]", "r.json: the list of runnables is empty", "an empty list");
	expect_error("\"noop\"",
		     "r.json: a runnable must be a JSON object with at least "
		     "\"kind\", not a string",
		     "a bare string");
	expect_error("{\"kind\": \"noop\",\n  \"uri\": }",
		     "r.json:2:10: not valid JSON; fix the syntax near line 2, "
		     "column 10",
		     "broken JSON");
	expect_error("  \n", "r.json: empty file; a recipe is a JSON object such "
			     "as {\"kind\": \"noop\"}",
		     "an empty file");

	/* Command-line pieces, with Avocado's prefixes. */
	nrc_runnable *r = nrc_runnable_new("exec");
	ok(nrc_runnable_add_arg(r, "plain", err, sizeof err) == 0, "a plain arg");
	ok(nrc_runnable_add_arg(r, "base64:aGVsbG8gd29ybGQ=", err, sizeof err) == 0,
	   "a base64: arg");
	is_str(cJSON_GetArrayItem(r->args, 1)->valuestring, "hello world",
	       "base64: args are decoded");
	ok(nrc_runnable_add_arg(r, "base64:@@", err, sizeof err) < 0,
	   "invalid base64 is refused");
	ok(nrc_runnable_add_arg(r, "base64:AP8=", err, sizeof err) < 0,
	   "base64 that decodes to binary is refused");
	ok(nrc_runnable_add_kwarg(r, "A=1", err, sizeof err) == 0, "KEY=VALUE");
	is_str(cJSON_GetObjectItem(r->kwargs, "A")->valuestring, "1",
	       "a plain value stays a string");
	ok(nrc_runnable_add_kwarg(r, "B=json:[1, 2]", err, sizeof err) == 0,
	   "KEY=json:VALUE");
	ok(cJSON_GetArraySize(cJSON_GetObjectItem(r->kwargs, "B")) == 2,
	   "json: values are parsed");
	ok(nrc_runnable_add_kwarg(r, "C=a=b", err, sizeof err) == 0 &&
		   !strcmp(cJSON_GetObjectItem(r->kwargs, "C")->valuestring, "a=b"),
	   "the value may contain '='");
	ok(nrc_runnable_add_kwarg(r, "A=2", err, sizeof err) == 0 &&
		   !strcmp(cJSON_GetObjectItem(r->kwargs, "A")->valuestring, "2") &&
		   cJSON_GetArraySize(r->kwargs) == 3,
	   "a repeated key replaces the earlier value");
	ok(nrc_runnable_add_kwarg(r, "novalue", err, sizeof err) < 0,
	   "a word without '=' is refused");
	ok(nrc_runnable_add_kwarg(r, "=x", err, sizeof err) < 0,
	   "an empty key is refused");
	ok(nrc_runnable_add_kwarg(r, "D=json:{", err, sizeof err) < 0,
	   "invalid json: is refused");
	ok(nrc_runnable_set_config(r, "{\"a.b\": 1}", err, sizeof err) == 0 &&
		   cJSON_GetObjectItem(r->config, "a.b"),
	   "-c takes a JSON object");
	ok(nrc_runnable_set_config(r, "[1]", err, sizeof err) < 0,
	   "-c refuses anything but an object");
	nrc_runnable_free(r);
	return tap_done();
}
