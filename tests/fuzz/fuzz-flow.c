/* libFuzzer harness: the flow loader (plugins/crud-flow/flow.c), which
 * reads a file: each input is written to a file in a directory of this
 * process and loaded, with its includes, shorthands and checks. */
#include "config.h"

#include "crud-flow/flow.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/nrunner-fuzz-flow.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/flow.json", dir);
		atexit(cleanup);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	char err[4096];
	flow *fl = flow_load(path, err, sizeof err);
	if (fl)
		flow_free(fl);
	return 0;
}
