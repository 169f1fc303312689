/* libFuzzer harness: {{...}} templates (plugins/crud-flow/template.c).
 * The input is a template string, then after the first newline a JSON
 * value: its object form gives the variables, and the whole value is
 * expanded as a request body would be. */
#include "config.h"

#include "crud-flow/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *nl = strchr(text, '\n');
	const char *json = "{}";
	if (nl) {
		*nl = '\0';
		json = nl + 1;
	}
	cJSON *v = cJSON_Parse(json);
	cJSON *vars = cJSON_IsObject(v) ? v : NULL;
	cJSON *secrets = cJSON_CreateArray();
	template_ctx c = {.vars = vars, .unique = "u1234", .secrets = secrets};
	char what[256], err[1024];
	(void)template_check(text, vars, what, sizeof what);
	free(template_expand(text, &c, err, sizeof err));
	cJSON_Delete(template_expand_json(v, &c, err, sizeof err));
	cJSON *s = cJSON_CreateString(text);
	cJSON_Delete(template_expand_json(s, &c, err, sizeof err));
	cJSON_Delete(s);
	if (vars && vars->child)
		free(template_text(vars->child));
	cJSON_Delete(secrets);
	cJSON_Delete(v);
	free(text);
	return 0;
}
