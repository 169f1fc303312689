/* libFuzzer harness: expectations and captures (plugins/crud-flow/
 * expect.c), as a flow uses them: the input is three parts split by NUL
 * bytes, a step (JSON; "path" added when it has neither path nor url),
 * the response's header block and its body.  The step goes into a flow
 * with variables of every type, which the flow loader checks; then each
 * step's "expect" is expanded and checked against the response, and its
 * captures are taken, as crud-flow does. */
#include "config.h"

#include "crud-flow/expect.h"
#include "crud-flow/flow.h"
#include "crud-flow/template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static flow *load(cJSON *step)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/nrunner-fuzz-expect.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/flow.json", dir);
		atexit(cleanup);
	}
	if (!cJSON_GetObjectItemCaseSensitive(step, "path") &&
	    !cJSON_GetObjectItemCaseSensitive(step, "url"))
		cJSON_AddStringToObject(step, "path", "/");
	cJSON *doc = cJSON_Parse("{\"vars\": {\"n\": 5, \"s\": \"x\", \"t\": true,"
				 " \"z\": null, \"a\": [1, \"b\"], \"o\": {\"k\": 1}}}");
	cJSON_AddItemToObject(doc, "steps", cJSON_CreateArray());
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, "steps"), step);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	free(text);
	char err[4096];
	return flow_load(path, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *headers = "", *body = "";
	size_t first = strlen(text);
	if (first < size) {
		headers = text + first + 1;
		size_t second = first + 1 + strlen(headers);
		if (second < size)
			body = text + second + 1;
	}
	size_t body_len = *body ? size - (size_t)(body - text) : 0;
	cJSON *step = cJSON_Parse(text);
	flow *fl = cJSON_IsObject(step) ? load(step) : (cJSON_Delete(step), NULL);
	if (!fl) {
		free(text);
		return 0;
	}
	response r = {.status = 100 + (long)(body_len % 500),
		      .headers = headers,
		      .body = body,
		      .body_len = body_len,
		      .json = cJSON_Parse(body),
		      .cookies = headers};
	template_ctx tc = {.vars = fl->vars, .unique = "u1234",
			   .secrets = cJSON_CreateArray()};
	char what[256], err[4096];
	const cJSON *s;
	cJSON_ArrayForEach(s, fl->steps)
	{
		const cJSON *ex = cJSON_GetObjectItemCaseSensitive(s, "expect");
		cJSON *exx = ex ? template_expand_json(ex, &tc, err, sizeof err) : NULL;
		if (exx)
			(void)expect_check(exx, &r, what, sizeof what, err, sizeof err);
		cJSON_Delete(exx);
		const cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(s, "capture"))
			cJSON_Delete(capture_take(c, &r, err, sizeof err));
	}
	free(cookie_value(headers, "a"));
	free(header_value(headers, "content-type"));
	cJSON_Delete(tc.secrets);
	cJSON_Delete(r.json);
	flow_free(fl);
	free(text);
	return 0;
}
