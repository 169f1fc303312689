/* Unit tests of crud-flow's model (plugins/crud-flow/flow.c): a flow file
 * loaded into plain steps (the crud and login shorthands expanded,
 * includes spliced in), and every check's one-line message with its path
 * into the file.  The files are written in a directory of this test's. */
#include "config.h"

#include "tap.h"
#include "crud-flow/flow.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char err[4096];
static char *written[64];
static int nwritten;

static void put(const char *name, const char *text)
{
	tap_write(name, text);
	for (int i = 0; i < nwritten; i++)
		if (!strcmp(written[i], name))
			return;
	if (nwritten < 64)
		written[nwritten++] = strdup(name);
}

/* The file loaded, or NULL with the message in err. */
static flow *load(const char *name, const char *text)
{
	if (text)
		put(name, text);
	err[0] = '\0';
	return flow_load(name, err, sizeof err);
}

/* The message loading gives, or "(loaded)". */
static const char *bad(const char *text)
{
	flow *f = load("f.json", text);
	if (f) {
		flow_free(f);
		return "(loaded)";
	}
	return err;
}

#define BAD(text, want, ...) is_str(bad(text), want, __VA_ARGS__)
#define ONE(step) "{\"steps\": [" step "]}"

static const char *sget(const cJSON *o, const char *path)
{
	/* "a.b.0.c": keys and indexes, for reading steps. */
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	const cJSON *cur = o;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok))
					 : cJSON_GetObjectItemCaseSensitive(cur, tok);
	static char out[512];
	if (!cur)
		return "(none)";
	if (cJSON_IsString(cur))
		return cur->valuestring;
	char *s = cJSON_PrintUnformatted(cur);
	snprintf(out, sizeof out, "%s", s);
	free(s);
	return out;
}

static void basics(void)
{
	flow *f = load("min.json", ONE("{\"path\": \"/\"}"));
	ok(f != NULL, "a minimal flow loads (%s)", err);
	if (!f)
		return;
	is_str(f->name, "min", "its name is the file's, without the extension");
	ok(f->base_url == NULL && f->environment == NULL, "no base_url, no environment");
	ok(cJSON_GetArraySize(f->steps) == 1, "one step");
	is_str(sget(f->steps, "0._file"), "min.json", "a step names its file");
	is_str(sget(f->steps, "0._path"), "steps[0]", "and its path in the file");
	ok(cJSON_GetArraySize(f->secrets) == 0, "no secrets");
	flow_free(f);

	f = load("my.flow.json", "{\"name\": \"Named\", \"base_url\": \"http://h:1/\","
				 " \"description\": \"d\", \"environment\": {\"app\": {}},"
				 " \"vars\": {\"a\": 1, \"b\": \"{{a}}x\"},"
				 " \"steps\": [{\"path\": \"/{{b}}\"}]}");
	ok(f != NULL, "a flow with every top-level key loads (%s)", err);
	if (!f)
		return;
	is_str(f->name, "Named", "the name given");
	is_str(f->base_url, "http://h:1/", "base_url");
	is_str(sget(f->environment, "app"), "{}", "environment kept as is");
	is_str(sget(f->vars, "b"), "{{a}}x", "vars kept unexpanded; one may use another");
	flow_free(f);

	f = load("my.flow.json", ONE("{\"path\": \"/\"}"));
	is_str(f ? f->name : err, "my", "the name stops at the first dot");
	flow_free(f);

	/* flow_parse reads the text given, not the file. */
	put("given.json", "not json at all");
	char text[] = ONE("{\"url\": \"http://x/\"}");
	f = flow_parse("given.json", text, err, sizeof err);
	ok(f && !strcmp(sget(f->steps, "0.url"), "http://x/"), "flow_parse reads the text given");
	flow_free(f);
	f = flow_parse("nowhere.json", text, err, sizeof err);
	is_str(f ? "(loaded)" : err, "nowhere.json: No such file or directory",
	       "flow_parse still needs the file (for its includes)");

	cJSON *d = cJSON_Parse("{\"steps\": []}");
	ok(flow_looks_like(d), "looks like a flow: an object with steps");
	cJSON_Delete(d);
	d = cJSON_Parse("{\"steps\": {}}");
	ok(!flow_looks_like(d), "not a flow: steps that are no array");
	cJSON_Delete(d);
	d = cJSON_Parse("[{\"steps\": []}]");
	ok(!flow_looks_like(d) && !flow_looks_like(NULL), "not a flow: an array, or nothing");
	cJSON_Delete(d);

	static const char *const keys[] = {"a", "_hidden", "b", NULL};
	d = cJSON_Parse("{\"a\": 1, \"c\": 2}");
	ok(flow_known_keys(d, keys, "x.json", "", err, sizeof err) < 0, "known keys: c is not");
	is_str(err, "x.json: c: unknown key; use one of: a, b",
	       "known keys: the message leaves out internal keys");
	flow_known_keys(d, keys, "x.json", "steps[2]", err, sizeof err);
	is_str(err, "x.json: steps[2].c: unknown key; use one of: a, b",
	       "known keys: under a path");
	cJSON_Delete(d);
}

static void file_level(void)
{
	BAD("[1]", "f.json: a flow is a JSON object with \"steps\"", "an array is no flow");
	BAD("{\"steps\": x}", "f.json:1:11: not valid JSON; fix the syntax near line 1, column 11",
	    "bad JSON: line and column");
	BAD("{\n  \"steps\": [\n    x]}",
	    "f.json:3:5: not valid JSON; fix the syntax near line 3, column 5",
	    "bad JSON: on the third line");
	BAD("", "f.json:1:1: not valid JSON; fix the syntax near line 1, column 1", "an empty file");
	BAD(ONE("{\"path\": \"/\"}") " trailing",
	    "f.json:1:28: not valid JSON; fix the syntax near line 1, column 28",
	    "text after the JSON");
	char deep[1200] = "{\"steps\": ";
	memset(deep + strlen(deep), '[', 1001);
	is_str(bad(deep), "f.json:1:1010: nested deeper than 1000 levels, the most nrunner reads "
			  "(cJSON's nesting limit); flatten the JSON",
	       "nesting deeper than cJSON reads");
	BAD("{\"steps\": [{\"path\": \"/\"}], \"nme\": 1}",
	    "f.json: nme: unknown key; use one of: name, description, base_url, vars, clients, "
	    "include, steps, environment",
	    "an unknown top-level key");
	BAD("{}", "f.json: steps: missing; a flow needs an array of steps", "no steps");
	BAD("{\"steps\": {}}", "f.json: steps: must be an array; a flow needs an array of steps",
	    "steps that are no array");
	BAD("{\"steps\": []}", "f.json: steps: empty; a flow makes at least one request",
	    "no step");
	BAD("{\"steps\": [3]}", "f.json: steps[0]: a step is an object, not a number",
	    "a step that is a number");
	BAD("{\"steps\": [{\"path\": \"/\"}, null]}", "f.json: steps[1]: a step is an object, not null",
	    "a step that is null");
	BAD("{\"vars\": [1], \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: vars: must be an object, not an array", "vars that are an array");
	BAD("{\"clients\": \"x\", \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: clients: must be an object, not a string", "clients that are a string");
	BAD("{\"name\": 1, \"steps\": [{\"path\": \"/\"}]}", "f.json: name: must be a string",
	    "a name that is no string");
	BAD("{\"base_url\": true, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: base_url: must be a string", "a base_url that is no string");
	BAD("{\"environment\": [], \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: environment: must be an object (see nrunner-flow(5), ENVIRONMENT)",
	    "an environment that is no object");
}

static void includes(void)
{
	mkdir("sub", 0700);
	put("sub/inc2.json", "{\"vars\": {\"deep\": 1}, \"steps\": [{\"path\": \"/inc2\"}]}");
	put("sub/inc.json", "{\"include\": [\"inc2.json\"], \"vars\": {\"a\": 1, \"b\": 1},"
			    " \"clients\": {\"c\": {\"headers\": {}}},"
			    " \"name\": \"not the flow's\", \"base_url\": \"http://not/\","
			    " \"steps\": [{\"path\": \"/inc\"}]}");
	flow *f = load("f.json", "{\"include\": [\"sub/inc.json\"], \"vars\": {\"b\": 2},"
				 " \"steps\": [{\"path\": \"/main\", \"client\": \"c\"}]}");
	ok(f != NULL, "a flow with nested includes loads (%s)", err);
	if (f) {
		ok(cJSON_GetArraySize(f->steps) == 3, "the included steps come first, in order");
		is_str(sget(f->steps, "0.path"), "/inc2", "an include's include first");
		is_str(sget(f->steps, "0._file"), "sub/inc2.json",
		       "relative to the including file");
		is_str(sget(f->steps, "1._file"), "sub/inc.json", "then the include");
		is_str(sget(f->steps, "2._path"), "steps[0]", "then the flow's own steps");
		is_str(sget(f->vars, "b"), "2", "the including file's vars win");
		is_str(sget(f->vars, "a"), "1", "an include's vars are the flow's");
		is_str(sget(f->vars, "deep"), "1", "and its include's");
		is_str(sget(f->clients, "c._file"), "sub/inc.json", "a client knows its file");
		is_str(f->name, "f", "an include's name is not the flow's");
		ok(f->base_url == NULL, "nor its base_url");
	}
	flow_free(f);

	BAD("{\"include\": \"x.json\", \"steps\": []}",
	    "f.json: include: must be an array of flow files", "include that is no array");
	BAD("{\"include\": [1], \"steps\": []}", "f.json: include[0]: must be a file name",
	    "an include that is no string");
	BAD("{\"include\": [\"sub/inc.json\", \"nowhere.json\"], \"steps\": []}",
	    "f.json: include[1]: nowhere.json: No such file or directory", "a missing include");
	put("a.json", "{\"include\": [\"b.json\"], \"steps\": [{\"path\": \"/\"}]}");
	put("b.json", "{\"include\": [\"a.json\"], \"steps\": [{\"path\": \"/\"}]}");
	flow *c = load("a.json", NULL);
	is_str(c ? "(loaded)" : err, "a.json: include: it includes itself (through a.json); "
				     "remove the cycle", "an include cycle");
	flow_free(c);
	c = load("self.json", "{\"include\": [\"self.json\"], \"steps\": [{\"path\": \"/\"}]}");
	is_str(c ? "(loaded)" : err, "self.json: include: it includes itself (through "
				     "self.json); remove the cycle", "a file that includes itself");
	flow_free(c);
	char name[32], text[128];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "d%d.json", i);
		snprintf(text, sizeof text, "{\"include\": [\"d%d.json\"], \"steps\": [{\"path\": \"/\"}]}",
			 i + 1);
		put(name, i < 9 ? text : ONE("{\"path\": \"/\"}"));
	}
	c = load("d0.json", NULL);
	is_str(c ? "(loaded)" : err, "d9.json: include: more than 8 levels deep; is there a cycle?",
	       "includes nine deep");
	flow_free(c);
	c = load("d1.json", NULL);
	ok(c != NULL, "includes eight deep load (%s)", err);
	flow_free(c);

	put("inc-bad.json", ONE("{\"path\": \"/\", \"method\": \"GET2\"}"));
	BAD("{\"include\": [\"inc-bad.json\"], \"steps\": [{\"path\": \"/\"}]}",
	    "inc-bad.json: steps[0].method: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
	    "an error in an include names the include");
	put("inc-json.json", "{\"steps\": [}");
	BAD("{\"include\": [\"inc-json.json\"], \"steps\": [{\"path\": \"/\"}]}",
	    "inc-json.json:1:12: not valid JSON; fix the syntax near line 1, column 12",
	    "bad JSON in an include names the include");
	put("inc-client.json", "{\"clients\": {\"z\": {\"bad\": 1}}, \"steps\": [{\"path\": \"/\"}]}");
	BAD("{\"include\": [\"inc-client.json\"], \"steps\": [{\"path\": \"/\"}]}",
	    "inc-client.json: clients.z.bad: unknown key; use one of: basic, bearer, headers, "
	    "csrf, connection, timeout_s",
	    "a bad client from an include names the include");
	put("inc-use.json", ONE("{\"path\": \"/{{x}}\"}"));
	BAD("{\"include\": [\"inc-use.json\"], \"steps\": [{\"path\": \"/\", \"capture\": "
	    "{\"x\": {\"json\": \"/x\"}}}]}",
	    "inc-use.json: steps[0].path: {{x}} is used before it is defined: f.json: "
	    "steps[0].capture.x defines it later",
	    "an include that uses what the flow captures later names both files");
	put("inc-cap.json", ONE("{\"path\": \"/\", \"capture\": {\"y\": {\"json\": \"/y\"}}}"));
	BAD("{\"include\": [\"inc-cap.json\"], \"steps\": [{\"path\": \"/{{y}}\"}]}", "(loaded)",
	    "a flow uses what its include captured");
}

static void crud(void)
{
	flow *f = load("f.json", ONE("{\"crud\": {\"path\": \"/api/actors/\", \"create\": "
				     "{\"name\": \"A\"}, \"update\": {\"name\": \"B\"}}}"));
	ok(f != NULL, "a crud step loads (%s)", err);
	if (!f)
		return;
	ok(cJSON_GetArraySize(f->steps) == 6, "crud: six steps");
	static const char *const names[] = {"create actor", "read actor", "update actor",
					    "list actor", "delete actor", "read deleted actor"};
	static const char *const methods[] = {"POST", "GET", "PATCH", "GET", "DELETE", "GET"};
	static const char *const statuses[] = {"201", "200", "200", "200", "204", "404"};
	static const char *const origins[] = {"create", "read", "update", "list", "delete",
					      "gone"};
	for (int i = 0; i < 6; i++) {
		char k[32], want[64];
		snprintf(k, sizeof k, "%d.name", i);
		is_str(sget(f->steps, k), names[i], "crud step %d: its name", i);
		snprintf(k, sizeof k, "%d.method", i);
		is_str(sget(f->steps, k), methods[i], "crud step %d: %s", i, methods[i]);
		snprintf(k, sizeof k, "%d.expect.status", i);
		is_str(sget(f->steps, k), statuses[i], "crud step %d: expects %s", i, statuses[i]);
		snprintf(k, sizeof k, "%d._path", i);
		snprintf(want, sizeof want, "steps[0].crud (%s)", origins[i]);
		is_str(sget(f->steps, k), want, "crud step %d: its origin", i);
	}
	is_str(sget(f->steps, "0.path"), "/api/actors/", "crud: create posts to the collection");
	is_str(sget(f->steps, "0.capture.actor_id.json"), "/id", "crud: and captures the id");
	is_str(sget(f->steps, "1.path"), "/api/actors/{{actor_id}}/", "crud: the item's path");
	is_str(sget(f->steps, "1.expect.json"), "{\"name\":\"A\"}", "crud: read expects the body");
	is_str(sget(f->steps, "2.json"), "{\"name\":\"B\"}", "crud: update sends the update");
	is_str(sget(f->steps, "3.expect.assert"),
	       "[{\"path\":\"\",\"op\":\"contains\",\"value\":{\"id\":\"{{actor_id}}\"}}]",
	       "crud: list expects the new id in the collection");
	flow_free(f);

	f = load("f.json", ONE("{\"crud\": {\"path\": \"/api/tag-categories\", \"create\": {},"
			       " \"update\": {}, \"keep\": true, \"method\": \"PUT\","
			       " \"id\": \"/data/pk\", \"expect\": {\"create\": 200, \"list\": [200, 206]},"
			       " \"client\": \"default\"}}"));
	ok(f != NULL, "a crud step with every option loads (%s)", err);
	if (!f)
		return;
	ok(cJSON_GetArraySize(f->steps) == 4, "crud keep: no delete, no gone");
	is_str(sget(f->steps, "0.name"), "create tag-category", "crud: -ies is -y");
	is_str(sget(f->steps, "1.path"), "/api/tag-categories/{{tag_category_id}}/",
	       "crud: a path without a slash; - in the variable is _");
	is_str(sget(f->steps, "0.capture.tag_category_id.json"), "/data/pk", "crud: the id pointer");
	is_str(sget(f->steps, "2.method"), "PUT", "crud: update by PUT");
	is_str(sget(f->steps, "0.expect.status"), "200", "crud: expect overrides a status");
	is_str(sget(f->steps, "3.expect.status"), "[200,206]", "crud: a list of statuses");
	is_str(sget(f->steps, "3.expect.assert.0.value"), "{\"pk\":\"{{tag_category_id}}\"}",
	       "crud: the id's key is the pointer's last token");
	is_str(sget(f->steps, "0.client"), "default", "crud: the client goes to each step");
	flow_free(f);

	f = load("f.json", ONE("{\"crud\": {\"path\": \"/people/\", \"name\": \"person\","
			       " \"capture\": \"pid\", \"create\": {}, \"update\": {}}}"));
	is_str(f ? sget(f->steps, "4.path") : err, "/people/{{pid}}/", "crud: the capture named");
	is_str(f ? sget(f->steps, "5.name") : err, "read deleted person", "crud: the name given");
	flow_free(f);

#define CRUD(extra) ONE("{\"crud\": {\"path\": \"/a/\", \"create\": {}, \"update\": {}" extra "}}")
	BAD(ONE("{\"crud\": 1}"), "f.json: steps[0].crud: must be an object with path, create "
	    "and update", "crud: no object");
	BAD(ONE("{\"crud\": {\"path\": \"/a/\", \"create\": {}, \"update\": {}}, \"name\": \"x\"}"),
	    "f.json: steps[0].name: unknown key; use one of: crud", "crud: a key beside it");
	BAD(CRUD(", \"foo\": 1"), "f.json: steps[0].crud.foo: unknown key; use one of: name, path, "
	    "create, update, method, id, capture, expect, client, keep", "crud: an unknown key");
	BAD(ONE("{\"crud\": {\"create\": {}, \"update\": {}}}"),
	    "f.json: steps[0].crud.path: missing; the collection's path, e.g. \"/api/actors/\"",
	    "crud: no path");
	BAD(ONE("{\"crud\": {\"path\": \"\", \"create\": {}, \"update\": {}}}"),
	    "f.json: steps[0].crud.path: missing; the collection's path, e.g. \"/api/actors/\"",
	    "crud: an empty path");
	BAD(ONE("{\"crud\": {\"path\": \"/a/\", \"update\": {}}}"),
	    "f.json: steps[0].crud.create: must be an object: the body to create with",
	    "crud: no create");
	BAD(CRUD(", \"method\": \"POST\""), "f.json: steps[0].crud.method: use \"PUT\" or \"PATCH\"",
	    "crud: update by POST");
	BAD(CRUD(", \"id\": 1"), "f.json: steps[0].crud.id: a JSON pointer to the id in the "
	    "create response, e.g. \"/id\"", "crud: an id that is no string");
	BAD(CRUD(", \"expect\": []"), "f.json: steps[0].crud.expect: an object of status codes "
	    "by step: create, read, update, list, delete, gone", "crud: expect that is no object");
	BAD(CRUD(", \"expect\": {\"made\": 201}"), "f.json: steps[0].crud.expect.made: unknown "
	    "key; use one of: create, read, update, list, delete, gone",
	    "crud: an unknown step in expect, with the step's path");
	BAD(CRUD(", \"expect\": {\"gone\": 999}"), "f.json: steps[0].crud (gone).expect.status: "
	    "a status is an HTTP code (100-599) or a list of them",
	    "crud: a bad status names the step it made");
	BAD(CRUD(", \"client\": \"bob\""), "f.json: steps[0].crud (create).client: \"bob\" is "
	    "not one of the flow's clients; define it under \"clients\"",
	    "crud: an unknown client");
}

static void login(void)
{
	flow *f = load("f.json", "{\"clients\": {\"ada\": {}}, \"steps\": [{\"login\": "
				 "{\"path\": \"/login/\", \"form\": {\"u\": \"ada\"}, \"client\": \"ada\","
				 " \"expect\": 302}}]}");
	ok(f != NULL, "a login step loads (%s)", err);
	if (f) {
		is_str(sget(f->steps, "0.name"), "log in as ada", "login: its name");
		is_str(sget(f->steps, "0.method"), "POST", "login: a POST");
		is_str(sget(f->steps, "0.form"), "{\"u\":\"ada\"}", "login: the form");
		is_str(sget(f->steps, "0.expect.status"), "302", "login: the status expected");
		is_str(sget(f->steps, "0._path"), "steps[0].login", "login: its origin");
	}
	flow_free(f);
	f = load("f.json", "{\"steps\": [{\"login\": {\"path\": \"/token/\", \"json\": {},"
			   " \"bearer\": {\"json\": \"/access\"}}}, {\"path\": \"/me/\"}]}");
	ok(f != NULL, "a token login loads (%s)", err);
	if (f) {
		is_str(sget(f->steps, "0.name"), "log in", "login: the default client's name");
		is_str(sget(f->steps, "0.expect.status"), "200", "login: 200 by default");
		is_str(sget(f->steps, "0.capture.token"), "{\"json\":\"/access\",\"secret\":true}",
		       "login: the token is captured as a secret");
		is_str(sget(f->steps, "0._no_bearer"), "true", "login: sent without the bearer");
		is_str(sget(f->clients, "default.bearer"), "{{token}}",
		       "login: the default client's bearer is the token");
		is_str(sget(f->clients, "default._bearer_from"), "steps[0].login.bearer",
		       "login: and says where it is set");
	}
	flow_free(f);
	f = load("f.json", "{\"clients\": {\"bo\": {}}, \"steps\": [{\"login\": {\"path\": \"/t/\","
			   " \"client\": \"bo\", \"bearer\": {\"header\": \"X-T\", \"secret\": false}}},"
			   " {\"path\": \"/\", \"client\": \"bo\"}]}");
	is_str(f ? sget(f->clients, "bo.bearer") : err, "{{bo_token}}",
	       "login: another client's token is <client>_token");
	is_str(f ? sget(f->steps, "0.capture.bo_token.secret") : err, "false",
	       "login: a secret flag given is kept");
	flow_free(f);

	BAD(ONE("{\"login\": []}"), "f.json: steps[0].login: must be an object with path and "
	    "json or form", "login: no object");
	BAD(ONE("{\"login\": {\"json\": {}}}"), "f.json: steps[0].login.path: missing; the login "
	    "endpoint, e.g. \"/api/login/\"", "login: no path");
	BAD(ONE("{\"login\": {\"path\": \"/\", \"pw\": 1}}"), "f.json: steps[0].login.pw: unknown "
	    "key; use one of: path, json, form, client, expect, name, capture, bearer",
	    "login: an unknown key");
	BAD(ONE("{\"login\": {\"path\": \"/\"}, \"x\": 1}"),
	    "f.json: steps[0].x: unknown key; use one of: login", "login: a key beside it");
	BAD(ONE("{\"login\": {\"path\": \"/\", \"bearer\": \"/token\"}}"),
	    "f.json: steps[0].login.bearer: where the token is in the login's response, as a "
	    "capture: {\"json\": \"/access_token\"} or {\"header\": \"X-Auth-Token\"}",
	    "login: a bearer that is no capture");
	BAD(ONE("{\"login\": {\"path\": \"/\", \"bearer\": {\"json\": \"/t\"}, \"capture\": "
		"{\"token\": {\"json\": \"/t\"}}}}"),
	    "f.json: steps[0].login.capture.token: the bearer token is captured under that "
	    "name; give it another", "login: a capture under the token's name");
	BAD("{\"steps\": [{\"login\": {\"path\": \"/\", \"bearer\": {\"json\": \"/t\"}}},"
	    " {\"login\": {\"path\": \"/\", \"bearer\": {\"json\": \"/t\"}}}]}",
	    "f.json: steps[1].login.bearer: the client \"default\" has a bearer already "
	    "(steps[0].login.bearer); one login sets it", "login: two token logins of one client");
	BAD("{\"clients\": {\"ada\": {\"bearer\": \"x\"}}, \"steps\": [{\"login\": {\"path\": \"/\","
	    " \"client\": \"ada\", \"bearer\": {\"json\": \"/t\"}}}]}",
	    "f.json: steps[0].login.bearer: the client \"ada\" has a bearer already "
	    "(clients.*.bearer); one login sets it", "login: a client with a bearer of its own");
	BAD(ONE("{\"login\": {\"path\": \"/\", \"client\": \"ghost\"}}"),
	    "f.json: steps[0].login.client: \"ghost\" is not one of the flow's clients; define "
	    "it under \"clients\"", "login: an unknown client");
}

#define STEP(extra) ONE("{\"path\": \"/\"" extra "}")

static void steps(void)
{
	BAD(STEP(", \"nope\": 1"), "f.json: steps[0].nope: unknown key; use one of: name, client, "
	    "method, path, url, headers, query, json, form, body, expect, capture, retry",
	    "step: an unknown key");
	BAD(STEP(", \"method\": \"get\""), "f.json: steps[0].method: use GET, POST, PUT, PATCH, "
	    "DELETE, HEAD or OPTIONS", "step: a method in lower case");
	BAD(STEP(", \"method\": 1"), "f.json: steps[0].method: use GET, POST, PUT, PATCH, "
	    "DELETE, HEAD or OPTIONS", "step: a method that is no string");
	BAD(STEP(", \"method\": \"OPTIONS\""), "(loaded)", "step: OPTIONS");
	BAD(STEP(", \"url\": \"http://x/\""), "f.json: steps[0]: give \"path\" (relative to the "
	    "base URL) or \"url\", as a string", "step: path and url");
	BAD(ONE("{\"name\": \"x\"}"), "f.json: steps[0]: give \"path\" (relative to the base URL) "
	    "or \"url\", as a string", "step: neither path nor url");
	BAD(ONE("{\"path\": 1}"), "f.json: steps[0]: give \"path\" (relative to the base URL) or "
	    "\"url\", as a string", "step: a path that is no string");
	BAD(STEP(", \"json\": {}, \"form\": {}"), "f.json: steps[0]: give one body: json, form "
	    "or body", "step: two bodies");
	BAD(STEP(", \"form\": []"), "f.json: steps[0].form: an object of field to value",
	    "step: a form that is no object");
	BAD(STEP(", \"body\": {}"), "f.json: steps[0].body: a string (use json for JSON)",
	    "step: a body that is no string");
	BAD(STEP(", \"headers\": []"), "f.json: steps[0].headers: an object",
	    "step: headers that are no object");
	BAD(STEP(", \"query\": 1"), "f.json: steps[0].query: an object", "step: a query that is no object");
	BAD(STEP(", \"client\": \"bob\""), "f.json: steps[0].client: \"bob\" is not one of the "
	    "flow's clients; define it under \"clients\"", "step: an unknown client");
	BAD(STEP(", \"client\": 1"), "f.json: steps[0].client: \"?\" is not one of the flow's "
	    "clients; define it under \"clients\"", "step: a client that is no string");
	BAD(STEP(", \"client\": \"default\""), "(loaded)", "step: the default client needs no clients");
	BAD(STEP(", \"retry\": {\"count\": 101}"), "f.json: steps[0].retry: {\"count\": 0-100, "
	    "\"interval_ms\": N}", "step: retry more than 100 times");
	BAD(STEP(", \"retry\": 3"), "f.json: steps[0].retry: {\"count\": 0-100, \"interval_ms\": N}",
	    "step: a retry that is no object");
	BAD(STEP(", \"retry\": {\"count\": 2, \"interval_ms\": -1}"), "f.json: steps[0].retry: "
	    "{\"count\": 0-100, \"interval_ms\": N}", "step: a negative interval");
	BAD(STEP(", \"retry\": {\"count\": 2, \"interval_ms\": 50}"), "(loaded)", "step: a retry");

	/* Templates: defined by vars or an earlier capture. */
	BAD(ONE("{\"path\": \"/{{x}}\"}"), "f.json: steps[0].path: {{x}} is not defined: no "
	    "earlier step captures it and vars does not set it", "templates: undefined in path");
	BAD(STEP(", \"headers\": {\"A\": \"{{y}}\"}"), "f.json: steps[0].headers: {{y}} is not "
	    "defined: no earlier step captures it and vars does not set it",
	    "templates: undefined in a header");
	BAD(STEP(", \"json\": {\"a\": [1, {\"b\": \"{{z}}\"}]}"), "f.json: steps[0].json: {{z}} is "
	    "not defined: no earlier step captures it and vars does not set it",
	    "templates: undefined deep in json");
	BAD(ONE("{\"path\": \"/{{\"}"), "f.json: steps[0].path: an unclosed or empty {{ }} template",
	    "templates: an unclosed one");
	BAD(ONE("{\"url\": \"{{random(0)}}\"}"), "f.json: steps[0].url: {{random(0)}}: random "
	    "takes a length from 1 to 4096, as in {{random(8)}}", "templates: random(0)");
	BAD("{\"vars\": {\"a\": \"{{b}}\"}, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: vars.a: {{b}} is not defined: no earlier step captures it and vars does not "
	    "set it", "templates: a var using an undefined name");
	BAD(ONE("{\"path\": \"/{{uuid}}/{{env.HOME}}/{{ unique }}\"}"), "(loaded)",
	    "templates: built-ins");
	BAD("{\"steps\": [{\"path\": \"/\", \"capture\": {\"id\": {\"json\": \"/id\"}}},"
	    " {\"path\": \"/{{id}}\"}]}", "(loaded)", "templates: a capture of an earlier step");
	BAD("{\"steps\": [{\"path\": \"/{{id}}\"}, {\"path\": \"/\", \"capture\": {\"id\": "
	    "{\"json\": \"/id\"}}}]}", "f.json: steps[0].path: {{id}} is used before it is "
	    "defined: steps[1].capture.id defines it later", "templates: a later capture");
	BAD(STEP(", \"expect\": {\"json\": {\"id\": \"{{id}}\"}}, \"capture\": {\"id\": {\"json\": "
		 "\"/id\"}}"), "f.json: steps[0].expect: {{id}} is used before it is defined: "
	    "steps[0].capture.id defines it later", "templates: expect cannot use its own capture");
}

#define EXPECT(e) STEP(", \"expect\": " e)
#define ASSERT(a) EXPECT("{\"assert\": [" a "]}")
#define CAPTURE(c) STEP(", \"capture\": " c)

static void expectations(void)
{
	BAD(EXPECT("1"), "f.json: steps[0].expect: must be an object", "expect: no object");
	BAD(EXPECT("{\"status\": 600}"), "f.json: steps[0].expect.status: a status is an HTTP code "
	    "(100-599) or a list of them", "expect: status 600");
	BAD(EXPECT("{\"status\": 99}"), "f.json: steps[0].expect.status: a status is an HTTP code "
	    "(100-599) or a list of them", "expect: status 99");
	BAD(EXPECT("{\"status\": 200.5}"), "f.json: steps[0].expect.status: a status is an HTTP "
	    "code (100-599) or a list of them", "expect: a status that is no whole number");
	BAD(EXPECT("{\"status\": \"200\"}"), "f.json: steps[0].expect.status: a status is an HTTP "
	    "code (100-599) or a list of them", "expect: a status that is a string");
	BAD(EXPECT("{\"status\": [200, \"x\"]}"), "f.json: steps[0].expect.status: a status is an "
	    "HTTP code (100-599) or a list of them", "expect: a bad status in a list");
	BAD(EXPECT("{\"status\": [100, 599]}"), "(loaded)", "expect: 100 and 599");
	BAD(EXPECT("{\"headers\": []}"), "f.json: steps[0].expect.headers: an object of header "
	    "name to value", "expect: headers that are no object");
	BAD(EXPECT("{\"headers\": {\"X-A\": 1}}"), "f.json: steps[0].expect.headers.X-A: must be a "
	    "string", "expect: a header that is no string");
	BAD(EXPECT("{\"body_contains\": 1}"), "f.json: steps[0].expect.body_contains: must be a "
	    "string", "expect: body_contains that is no string");
	BAD(EXPECT("{\"json\": {\"id\": \"{{nope}}\"}}"), "f.json: steps[0].expect: {{nope}} is not "
	    "defined: no earlier step captures it and vars does not set it",
	    "expect: an undefined template");
	BAD(EXPECT("{\"assert\": {}}"), "f.json: steps[0].expect.assert: an array of {\"path\", "
	    "\"op\", \"value\"}", "assert: no array");
	BAD(ASSERT("1"), "f.json: steps[0].expect.assert[0]: must be an object",
	    "assert: an item that is no object");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"exists\"}, {\"path\": \"/a\", \"op\": \"exists\","
		   " \"x\": 1}"), "f.json: steps[0].expect.assert[1].x: unknown key; use one of: "
	    "path, op, value", "assert: an unknown key, numbered");
	BAD(ASSERT("{\"path\": \"a\", \"op\": \"exists\"}"), "f.json: steps[0].expect.assert[0].path: "
	    "a JSON pointer (RFC 6901) such as \"/id\" or \"/results/0/name\", or \"\" for the "
	    "whole body", "assert: a path that is no pointer");
	BAD(ASSERT("{\"op\": \"exists\"}"), "f.json: steps[0].expect.assert[0].path: a JSON pointer "
	    "(RFC 6901) such as \"/id\" or \"/results/0/name\", or \"\" for the whole body",
	    "assert: no path");
	BAD(ASSERT("{\"path\": \"\"}"), "f.json: steps[0].expect.assert[0].op: missing; use equals, "
	    "not-equals, <, <=, >, >=, contains, matches, exists, not-exists, type or count",
	    "assert: no op");
	BAD(ASSERT("{\"path\": \"\", \"op\": 1}"), "f.json: steps[0].expect.assert[0].op: missing; "
	    "use equals, not-equals, <, <=, >, >=, contains, matches, exists, not-exists, type or "
	    "count", "assert: an op that is no string");
	BAD(ASSERT("{\"path\": \"\", \"op\": \"equals\"}"), "f.json: steps[0].expect.assert[0].value: "
	    "missing; \"equals\" compares with a value", "assert: equals without a value");
	BAD(ASSERT("{\"path\": \"\", \"op\": \"not-exists\"}"), "(loaded)",
	    "assert: not-exists needs no value");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"matches\", \"value\": 1}"),
	    "f.json: steps[0].expect.assert[0].value: a regular expression string",
	    "assert: matches a number");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"matches\", \"value\": \"(\"}"),
	    "f.json: steps[0].expect.assert[0].value: invalid regular expression \"(\": "
	    "Unmatched ( or \\(", "assert: matches an invalid regex");
	BAD("{\"vars\": {\"x\": \"a\"}, \"steps\": [{\"path\": \"/\", \"expect\": {\"assert\": "
	    "[{\"path\": \"/a\", \"op\": \"matches\", \"value\": \"({{x}}\"}]}}]}", "(loaded)",
	    "assert: a regex with a template is checked when it runs");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"type\", \"value\": \"str\"}"),
	    "f.json: steps[0].expect.assert[0].value: a type: string, number, boolean, null, "
	    "array or object", "assert: an unknown type");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"count\", \"value\": -1}"),
	    "f.json: steps[0].expect.assert[0].value: a count is a whole number, 0 or more",
	    "assert: a negative count");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"count\", \"value\": 1.5}"),
	    "f.json: steps[0].expect.assert[0].value: a count is a whole number, 0 or more",
	    "assert: a fractional count");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"count\", \"value\": \"2\"}"),
	    "f.json: steps[0].expect.assert[0].value: a count is a whole number, 0 or more",
	    "assert: a count that is a string");
	BAD(ASSERT("{\"path\": \"/a\", \"op\": \"count\", \"value\": 0}, {\"path\": \"/a\", "
		   "\"op\": \"<=\", \"value\": 3}"), "(loaded)", "assert: count 0, and <=");

	BAD(CAPTURE("[]"), "f.json: steps[0].capture: an object of variable name to source",
	    "capture: no object");
	BAD(CAPTURE("{\"id\": \"/id\"}"), "f.json: steps[0].capture.id: an object: {\"json\": "
	    "\"/id\"}, {\"header\": ...}, {\"cookie\": ...} or {\"regex\": ...}",
	    "capture: a pointer with no source named");
	BAD(CAPTURE("{\"id\": {\"jsn\": \"/id\"}}"), "f.json: steps[0].capture.id.jsn: unknown key; "
	    "use one of: json, header, cookie, regex, group, secret", "capture: an unknown key");
	BAD(CAPTURE("{\"id\": {}}"), "f.json: steps[0].capture.id: give exactly one of json, "
	    "header, cookie or regex", "capture: no source");
	BAD(CAPTURE("{\"id\": {\"json\": \"/id\", \"header\": \"X\"}}"), "f.json: steps[0].capture.id: "
	    "give exactly one of json, header, cookie or regex", "capture: two sources");
	BAD(CAPTURE("{\"id\": {\"cookie\": 1}}"), "f.json: steps[0].capture.id.cookie: must be a "
	    "string", "capture: a source that is no string");
	BAD(CAPTURE("{\"id\": {\"json\": \"id\"}}"), "f.json: steps[0].capture.id.json: a JSON "
	    "pointer (RFC 6901) such as \"/id\" or \"/results/0/name\", or \"\" for the whole body",
	    "capture: a json that is no pointer");
	BAD(CAPTURE("{\"id\": {\"regex\": \"a[\"}}"), "f.json: steps[0].capture.id.regex: invalid "
	    "regular expression \"a[\": Invalid regular expression",
	    "capture: an invalid regex");
	BAD(CAPTURE("{\"id\": {\"json\": \"/id\", \"group\": 1}}"), "f.json: steps[0].capture.id.group: "
	    "a group of the regex, 0-9, with \"regex\"", "capture: a group without a regex");
	BAD(CAPTURE("{\"id\": {\"regex\": \"(a)\", \"group\": 10}}"), "f.json: steps[0].capture.id."
	    "group: a group of the regex, 0-9, with \"regex\"", "capture: group 10");
	BAD(CAPTURE("{\"id\": {\"regex\": \"(a)\", \"group\": 1.5}}"), "f.json: steps[0].capture.id."
	    "group: a group of the regex, 0-9, with \"regex\"", "capture: a fractional group");
	/* tests/fuzz/crashes/fuzz-expect-huge-group, as a flow. */
	BAD(CAPTURE("{\"g\": {\"regex\": \"(a)\", \"group\": -1e300}}"), "f.json: steps[0].capture.g."
	    "group: a group of the regex, 0-9, with \"regex\"", "capture: a huge negative group");
	BAD(CAPTURE("{\"id\": {\"header\": \"X-Id\", \"secret\": true}, \"c\": {\"regex\": \"(a)(b)\","
		    " \"group\": 2}}"), "(loaded)", "capture: header, regex and group");
}

static void clients(void)
{
	BAD("{\"clients\": {\"a\": 1}, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: clients.a: must be an object", "client: no object");
	BAD("{\"clients\": {\"a\": {\"token\": \"x\"}}, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: clients.a.token: unknown key; use one of: basic, bearer, headers, csrf, "
	    "connection, timeout_s", "client: an unknown key");
	BAD("{\"clients\": {\"a\": {\"connection\": \"close\"}}, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: clients.a.connection: \"quick-ack\" (the default), \"keep-alive\" or "
	    "\"fresh\"", "client: a bad connection");
	BAD("{\"clients\": {\"a\": {\"connection\": \"fresh\", \"csrf\": true}}, \"steps\": "
	    "[{\"path\": \"/\", \"client\": \"a\"}]}", "(loaded)", "client: fresh connections, csrf");
	BAD("{\"clients\": {\"default\": {\"headers\": {\"X\": \"{{tok}}\"}}}, \"steps\": "
	    "[{\"path\": \"/\"}]}", "f.json: steps[0]: the client \"default\" sends {{tok}} "
	    "(clients.default.headers), which nothing defines: no step captures it and vars "
	    "does not set it", "client: a header that nothing defines");
	BAD("{\"clients\": {\"default\": {\"basic\": \"{{\"}}, \"steps\": [{\"path\": \"/\"}]}",
	    "f.json: steps[0]: the client \"default\" (clients.default.basic): an unclosed or "
	    "empty {{ }} template", "client: a bad template");
	BAD("{\"clients\": {\"a\": {\"bearer\": \"{{t}}\"}}, \"steps\": [{\"path\": \"/\", "
	    "\"capture\": {\"t\": {\"json\": \"/t\"}}}, {\"path\": \"/\", \"client\": \"a\"}]}",
	    "(loaded)", "client: a bearer captured before the client is used");
	BAD("{\"clients\": {\"a\": {\"bearer\": \"{{t}}\"}}, \"steps\": [{\"path\": \"/\", "
	    "\"client\": \"a\"}, {\"path\": \"/\", \"capture\": {\"t\": {\"json\": \"/t\"}}}]}",
	    "f.json: steps[0]: the client \"a\" sends {{t}} (clients.a.bearer) before it is "
	    "defined: steps[1].capture.t defines it later; use the client after that step",
	    "client: a bearer captured after the client is used");
	BAD("{\"clients\": {\"a\": {\"headers\": {\"X\": \"{{tok}}\"}}}, \"steps\": "
	    "[{\"path\": \"/\"}]}", "(loaded)", "client: a client no step uses is not checked");
}

static void secrets_and_json(void)
{
	flow *f = load("f.json", "{\"vars\": {\"pw\": {\"secret\": \"hunter2\"}, \"e\": {\"secret\":"
				 " \"\"}}, \"clients\": {\"default\": {\"basic\": {\"secret\": \"u:p\"}}},"
				 " \"steps\": [{\"path\": \"/\", \"json\": {\"k\": {\"secret\": \"s3\"}}}]}");
	ok(f != NULL, "a flow with secrets loads (%s)", err);
	if (!f)
		return;
	char *s = cJSON_PrintUnformatted(f->secrets);
	is_str(s, "[\"hunter2\",\"u:p\",\"s3\"]", "secrets: from vars, clients and steps; none empty");
	free(s);

	/* The resolved form round-trips, and is checked again. */
	cJSON *j = flow_to_json(f);
	is_str(sget(j, "file"), "f.json", "to_json: the file");
	is_str(sget(j, "name"), "f", "to_json: the name");
	ok(!cJSON_GetObjectItemCaseSensitive(j, "base_url"), "to_json: no base_url when none");
	flow *g = flow_from_json(j, err, sizeof err);
	ok(g != NULL, "from_json: takes what to_json made (%s)", err);
	if (g) {
		cJSON *j2 = flow_to_json(g);
		ok(cJSON_Compare(j, j2, 1), "from_json: the same flow again");
		cJSON_Delete(j2);
		char *s2 = cJSON_PrintUnformatted(g->secrets);
		is_str(s2, "[\"hunter2\",\"u:p\",\"s3\"]", "from_json: the same secrets");
		free(s2);
	}
	flow_free(g);
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(j, "steps"), 0), "_file");
	g = flow_from_json(j, err, sizeof err);
	is_str(g ? "(loaded)" : err, "f.json: steps: a resolved step names its file and path "
				     "(_file, _path)", "from_json: a step without its file");
	flow_free(g);
	cJSON_ReplaceItemInObjectCaseSensitive(j, "steps", cJSON_Parse(
		"[{\"path\": \"/\", \"method\": \"BREW\", \"_file\": \"g.json\", \"_path\": \"steps[4]\"}]"));
	g = flow_from_json(j, err, sizeof err);
	is_str(g ? "(loaded)" : err, "g.json: steps[4].method: use GET, POST, PUT, PATCH, DELETE, "
				     "HEAD or OPTIONS", "from_json: a step is checked as in a file");
	flow_free(g);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "vars");
	g = flow_from_json(j, err, sizeof err);
	is_str(g ? "(loaded)" : err, "kwargs flow: not a resolved flow (file, name, vars, clients, "
				     "steps); give the flow file as the uri instead",
	       "from_json: no vars");
	flow_free(g);
	g = flow_from_json(NULL, err, sizeof err);
	is_str(g ? "(loaded)" : err, "kwargs flow: not a resolved flow (file, name, vars, clients, "
				     "steps); give the flow file as the uri instead",
	       "from_json: nothing");
	cJSON_Delete(j);
	flow_free(f);
}

int main(void)
{
	snprintf(dir, sizeof dir, "%s/nr-test-flow.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		perror(dir);
		return 2;
	}
	basics();
	file_level();
	includes();
	crud();
	login();
	steps();
	expectations();
	clients();
	secrets_and_json();
	for (int i = 0; i < nwritten; i++) {
		unlink(written[i]);
		free(written[i]);
	}
	rmdir("sub");
	if (chdir("/") == 0)
		rmdir(dir);
	return tap_done();
}
