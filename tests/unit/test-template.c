/* Unit tests of crud-flow's templates (plugins/crud-flow/template.c):
 * checking, expanding into text and into JSON, secrets, built-ins. */
#include "config.h"

#include "tap.h"
#include "crud-flow/template.h"

#include <ctype.h>
#include <stdlib.h>

static cJSON *known;

static const char *check(const char *s, int want_rc)
{
	static char what[256];
	what[0] = '\0';
	int rc = template_check(s, known, what, sizeof what);
	if (rc != want_rc)
		printf("# template_check(\"%s\") gave %d, not %d\n", s, rc, want_rc);
	return rc == want_rc ? what : "(wrong return code)";
}

/* template_expand's result, or "ERR: <err>"; the caller frees it. */
static char *expand(const char *s, const template_ctx *c)
{
	char err[256] = "";
	char *out = template_expand(s, c, err, sizeof err);
	if (out)
		return out;
	char *e = malloc(strlen(err) + 6);
	sprintf(e, "ERR: %s", err);
	return e;
}

static void is_expand(const char *s, const template_ctx *c, const char *want,
		      const char *what)
{
	char *got = expand(s, c);
	is_str(got, want, "expand: %s", what);
	free(got);
}

static char *expand_json(const char *json, const template_ctx *c)
{
	cJSON *in = cJSON_Parse(json);
	char err[256] = "";
	cJSON *out = template_expand_json(in, c, err, sizeof err);
	cJSON_Delete(in);
	char *s;
	if (out) {
		s = cJSON_PrintUnformatted(out);
	} else {
		s = malloc(strlen(err) + 6);
		sprintf(s, "ERR: %s", err);
	}
	cJSON_Delete(out);
	return s;
}

static void is_json(const char *json, const template_ctx *c, const char *want,
		    const char *what)
{
	char *got = expand_json(json, c);
	is_str(got, want, "expand_json: %s", what);
	free(got);
}

static int all_in(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

static void text_of(const char *json, const char *want)
{
	cJSON *v = cJSON_Parse(json);
	char *t = template_text(v);
	is_str(t, want, "template_text(%s)", json);
	free(t);
	cJSON_Delete(v);
}

int main(void)
{
	known = cJSON_Parse("{\"id\": true, \"token\": true}");

	/* --- template_check ------------------------------------------------ */
	is_str(check("no templates at all", TEMPLATE_OK), "", "check: plain text");
	is_str(check("/a/{{id}}/b", TEMPLATE_OK), "", "check: a known variable");
	is_str(check("{{ id }}", TEMPLATE_OK), "", "check: spaces inside the braces are trimmed");
	is_str(check("{{uuid}} {{unique}} {{now}} {{timestamp}}", TEMPLATE_OK), "",
	       "check: the built-ins need no variable");
	is_str(check("{{env.HOME}} {{random(1)}} {{random(4096)}}", TEMPLATE_OK), "",
	       "check: env.NAME and random(1..4096)");
	is_str(check("/a/{{idd}}", TEMPLATE_UNKNOWN), "idd", "check: an unknown name is named");
	is_str(check("{{id}}{{ nope }}", TEMPLATE_UNKNOWN), "nope",
	       "check: the first unknown one, trimmed");
	is_str(check("{{env.}}", TEMPLATE_UNKNOWN), "env.",
	       "check: env. with no name is no built-in");
	is_str(check("{{Id}}", TEMPLATE_UNKNOWN), "Id", "check: names are case-sensitive");
	is_str(check("{{id", TEMPLATE_BAD), "an unclosed or empty {{ }} template",
	       "check: an unclosed template");
	is_str(check("x{{}}", TEMPLATE_BAD), "an unclosed or empty {{ }} template",
	       "check: an empty template");
	is_str(check("{{   }}", TEMPLATE_BAD), "an unclosed or empty {{ }} template",
	       "check: a blank template");
	char longname[300] = "{{";
	memset(longname + 2, 'a', 260);
	strcpy(longname + 262, "}}");
	is_str(check(longname, TEMPLATE_BAD), "an unclosed or empty {{ }} template",
	       "check: a name longer than 255 bytes is refused, not cut");
	is_str(check("{{random(0)}}", TEMPLATE_BAD),
	       "{{random(0)}}: random takes a length from 1 to 4096, as in {{random(8)}}",
	       "check: random(0)");
	is_str(check("{{random(4097)}}", TEMPLATE_BAD),
	       "{{random(4097)}}: random takes a length from 1 to 4096, as in {{random(8)}}",
	       "check: random(4097)");
	is_str(check("{{random(8}}", TEMPLATE_BAD),
	       "{{random(8}}: random takes a length from 1 to 4096, as in {{random(8)}}",
	       "check: random( with no )");
	is_str(check("{{random(x)}}", TEMPLATE_BAD),
	       "{{random(x)}}: random takes a length from 1 to 4096, as in {{random(8)}}",
	       "check: random of no number");
	is_str(check("}} {{id}} }}", TEMPLATE_OK), "", "check: stray closing braces are text");

	/* --- template_text ------------------------------------------------- */
	text_of("\"a b\"", "a b");
	text_of("42", "42");
	text_of("-7", "-7");
	text_of("0.5", "0.5");
	text_of("true", "true");
	text_of("null", "null");
	text_of("[1,\"x\"]", "[1,\"x\"]");
	text_of("{\"k\":1}", "{\"k\":1}");
	/* tests/fuzz/crashes/fuzz-template-huge-number: a number that does not
	 * fit a long long was cast to one (undefined). */
	text_of("1e300", "1e+300");
	text_of("-1e300", "-1e+300");

	/* --- template_expand ----------------------------------------------- */
	cJSON *vars = cJSON_Parse("{\"id\": 7, \"name\": \"Ada\", \"big\": 1e300,"
				  " \"obj\": {\"k\": [1]}, \"flag\": false, \"nul\": null}");
	cJSON *secrets = cJSON_CreateArray();
	template_ctx c = {.vars = vars, .unique = "u1234", .secrets = secrets};
	is_expand("/actors/{{id}}/", &c, "/actors/7/", "a number variable as text");
	is_expand("{{name}}-{{ id }}", &c, "Ada-7", "two variables, one with spaces");
	is_expand("{{big}}", &c, "1e+300", "a huge number");
	is_expand("{{obj}}", &c, "{\"k\":[1]}", "an object as JSON text");
	is_expand("{{flag}}/{{nul}}", &c, "false/null", "false and null as JSON text");
	is_expand("", &c, "", "the empty string");
	is_expand("no braces", &c, "no braces", "text without templates");
	is_expand("{{unique}}", &c, "u1234", "{{unique}} is the run's");
	template_ctx nou = {.vars = vars};
	is_expand("[{{unique}}]", &nou, "[]", "{{unique}} with none given is empty");
	is_expand("/{{nope}}", &c, "ERR: {{nope}} is not defined (yet)", "an undefined variable");
	is_expand("/{{id", &c, "ERR: an unclosed or empty {{ }} template", "an unclosed template");
	setenv("NR_UNIT_TEMPLATE", "from-env", 1);
	unsetenv("NR_UNIT_TEMPLATE_UNSET");
	is_expand("{{env.NR_UNIT_TEMPLATE}}", &c, "from-env", "{{env.NAME}}");
	is_expand("{{env.NR_UNIT_TEMPLATE_UNSET}}", &c,
		  "ERR: {{env.NR_UNIT_TEMPLATE_UNSET}}: the environment variable "
		  "NR_UNIT_TEMPLATE_UNSET is not set",
		  "an unset environment variable");
	char *u1 = expand("{{uuid}}", &c), *u2 = expand("{{uuid}}", &c);
	ok(strlen(u1) == 32 && all_in(u1, "0123456789abcdef"), "{{uuid}}: 32 hex digits (%s)", u1);
	ok(strcmp(u1, u2), "{{uuid}}: new each time");
	free(u1);
	free(u2);
	char *r = expand("{{random(12)}}", &c);
	ok(strlen(r) == 12 && all_in(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789"),
	   "{{random(12)}}: 12 letters and digits (%s)", r);
	free(r);
	r = expand("{{random(4096)}}", &c);
	ok(strlen(r) == 4096, "{{random(4096)}}: the longest");
	free(r);
	r = expand("{{now}}", &c);
	ok(strlen(r) == 20 && r[4] == '-' && r[10] == 'T' && r[19] == 'Z',
	   "{{now}}: ISO 8601 in UTC (%s)", r);
	free(r);
	r = expand("{{timestamp}}", &c);
	ok(all_in(r, "0123456789") && strtoll(r, NULL, 10) > 1700000000,
	   "{{timestamp}}: seconds since the epoch (%s)", r);
	free(r);
	/* A long value into a short string: the buffer grows. */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cJSON_AddStringToObject(vars, "long", big);
	r = expand("a{{long}}b{{long}}c", &c);
	ok(strlen(r) == 3 + 2 * strlen(big) && r[0] == 'a' && r[strlen(r) - 1] == 'c',
	   "expand: values longer than the template grow the output");
	free(r);

	/* --- template_expand_json ------------------------------------------ */
	is_json("\"{{id}}\"", &c, "7", "exactly one variable keeps its type (number)");
	is_json("\"{{ obj }}\"", &c, "{\"k\":[1]}", "exactly one variable keeps its type (object)");
	is_json("\"{{flag}}\"", &c, "false", "exactly one variable keeps its type (false)");
	is_json("\"{{id}}/\"", &c, "\"7/\"", "a variable and text make a string");
	is_json("\"{{id}}{{id}}\"", &c, "\"77\"", "two variables make a string");
	is_json("\"{{unique}}\"", &c, "\"u1234\"", "a lone built-in is a string");
	is_json("{\"a\": [\"{{name}}\", 1, true, null], \"b\": {\"c\": \"{{id}}\"}}", &c,
		"{\"a\":[\"Ada\",1,true,null],\"b\":{\"c\":7}}",
		"objects and arrays are expanded in depth, other values copied");
	is_json("[\"ok\", {\"x\": \"{{missing}}\"}]", &c,
		"ERR: {{missing}} is not defined (yet)", "an error deep inside is the result");
	is_json("\"{{missing}}\"", &c, "ERR: {{missing}} is not defined (yet)",
		"a lone undefined variable");
	is_json("{\"secret\": \"{{env.NR_UNIT_TEMPLATE}}\"}", &c, "\"from-env\"",
		"{\"secret\": ...} becomes its value");
	is_json("{\"pw\": {\"secret\": \"{{env.NR_UNIT_TEMPLATE}}\"}}", &c,
		"{\"pw\":\"from-env\"}", "a secret inside an object");
	ok(cJSON_GetArraySize(secrets) == 1 &&
	   !strcmp(cJSON_GetArrayItem(secrets, 0)->valuestring, "from-env"),
	   "a secret's value is added to the secrets once, however often expanded");
	is_json("{\"secret\": \"\"}", &c, "\"\"", "an empty secret");
	ok(cJSON_GetArraySize(secrets) == 1, "an empty secret is not added");
	is_json("{\"secret\": \"s\", \"other\": 1}", &c, "{\"secret\":\"s\",\"other\":1}",
		"an object with more than \"secret\" is an object");
	ok(cJSON_GetArraySize(secrets) == 1, "... and adds no secret");
	is_json("{\"secret\": 5}", &c, "{\"secret\":5}", "a secret that is no string is an object");
	template_ctx nosec = {.vars = vars, .unique = "u"};
	is_json("{\"secret\": \"x{{id}}\"}", &nosec, "\"x7\"", "a secret with no secrets list");

	cJSON_Delete(vars);
	cJSON_Delete(secrets);
	cJSON_Delete(known);
	return tap_done();
}
