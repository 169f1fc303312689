/* Spawners: how a task is isolated (DESIGN.md, "Isolation" and "Scale
 * beyond one machine").  "process" is the default: a process group.
 * "namespace" adds Linux PID and mount namespaces, with a private /tmp
 * and /dev/shm: the task's process is the namespace's init, so when it
 * ends the kernel kills everything it started, a setsid daemon or a
 * double fork included.  "namespace:net" adds a network namespace with
 * only loopback up. */
#ifndef NR_SPAWNER_H
#define NR_SPAWNER_H

#include <stddef.h>

typedef enum {
	NR_SPAWN_PROCESS = 0,
	NR_SPAWN_NAMESPACE,
	NR_SPAWN_NAMESPACE_NET,
} nrc_spawner;

struct nrc_task_spec;

/* "process", "namespace" or "namespace:net".  -1 with one line in err. */
int nrc_spawner_parse(const char *arg, nrc_spawner *out, char *err,
		     size_t errlen);

/* Tries the spawner once, in a throwaway process, so that a machine
 * where it cannot work says why before anything runs.  Returns 0, or -1
 * with one line in err. */
int nrc_spawner_check(nrc_spawner s, char *err, size_t errlen);

/* In a task's process, before the kind runs: enters the namespaces and
 * returns 0 in the process that is to run the kind; the calling process
 * stays outside, waits for it, and exits as it did.  -1 with errno (and
 * *what naming the step) if the namespaces cannot be made. */
int nrc_spawner_enter(nrc_spawner s, const struct nrc_task_spec *spec,
		     const char **what);

#endif
