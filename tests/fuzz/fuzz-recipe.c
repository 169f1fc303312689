/* libFuzzer harness: the recipe parser (core/runnable.c), as `nrunner
 * run` reads a recipe file: JSON text, one runnable or an array. */
#include "config.h"

#include "runnable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char err[4096];
	nrc_runnable_list l = {0};
	if (nrc_recipe_parse(text, "fuzz.json", &l, err, sizeof err) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			cJSON *j = nrc_runnable_to_json(l.items[i]);
			char *s = cJSON_PrintUnformatted(j);
			free(s);
			cJSON_Delete(j);
			(void)nrc_runnable_identifier(l.items[i]);
		}
	}
	nrc_runnable_list_free(&l);
	free(text);
	return 0;
}
