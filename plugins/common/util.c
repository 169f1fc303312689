#include "config.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int nr_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void nr_log_tail(const char *path, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = path ? fopen(path, "r") : NULL;
	if (!f)
		return;
	char line[512], last[3][512] = {"", "", ""};
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		memmove(last[0], last[1], sizeof last[0] * 2);
		snprintf(last[2], sizeof last[2], "%s", line);
	}
	fclose(f);
	for (int i = 0; i < 3; i++)
		if (last[i][0])
			snprintf(out + strlen(out), len - strlen(out), "%s%s",
				 out[0] ? " | " : "", last[i]);
}
