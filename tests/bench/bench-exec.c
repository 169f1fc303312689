/* bench-exec: runs a command many times, one after the other, and prints
 * the wall time of each whole process (spawn to reap) as
 *   NAME  median  min  p90  (ms, over N runs)
 * Usage: bench-exec NAME RUNS COMMAND [ARG]...
 * The command's stdout goes to /dev/null. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench-exec NAME RUNS COMMAND [ARG]...\n");
		return 2;
	}
	int runs = atoi(argv[2]);
	if (runs < 1)
		return 2;
	double *t = calloc((size_t)runs, sizeof *t);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (int i = 0; i < runs; i++) {
		struct timespec a, b;
		pid_t pid;
		int status;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ)) {
			perror(argv[3]);
			return 1;
		}
		waitpid(pid, &status, 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "%s: run %d failed (status %d)\n", argv[1], i, status);
			return 1;
		}
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	qsort(t, (size_t)runs, sizeof *t, cmp);
	printf("%-40s %8.3f %8.3f %8.3f   (ms, %d runs)\n", argv[1], t[runs / 2], t[0],
	       t[runs * 9 / 10], runs);
	free(t);
	return 0;
}
