/* How deep JSON text is nested at a byte offset.  cJSON refuses to nest
 * deeper than CJSON_NESTING_LIMIT and says only where it stopped, which
 * reads as a syntax error; the core and the plugins use this to name the
 * real reason.  Header-only: the core and plugins/common are not linked
 * together. */
#ifndef NR_JSON_DEPTH_H
#define NR_JSON_DEPTH_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Whether cJSON stopped at byte `off` of text because the value there
 * would nest deeper than its limit. */
static inline int nrp_json_too_deep(const char *text, size_t off)
{
	size_t depth = 0;
	int in_string = 0;
	for (size_t i = 0; i <= off && text[i]; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\' && text[i + 1])
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			depth++;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return depth > CJSON_NESTING_LIMIT;
}

#endif
