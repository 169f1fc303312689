/* The app's processes (nrunner-flow(5), ENVIRONMENT and "Preload"): a
 * flow's app, and the preloader that starts apps without exec.  Each runs
 * in a process group of its own, and dies with the process that started
 * it (parent-death signal), so that not even a SIGKILL orphans it. */
#ifndef NR_FLOW_APP_H
#define NR_FLOW_APP_H

#include <cjson/cJSON.h>

typedef struct app_cmd {
	char **argv;
	char **envp;  /* this process's environment, with the overrides */
	char **owned; /* the overrides' strings */
	char *dir;
} app_cmd;

/* Expands `command` (an array of strings) and `env` (an object of
 * strings) with the template variables `vars`.  `extra` (NULL, or a
 * NULL-terminated list of "NAME=value") are more overrides, not expanded.  `dir` is copied.  Returns -1 with err
 * when a template cannot be expanded. */
int app_cmd_build(const cJSON *command, const cJSON *env, const cJSON *vars,
		  const char *dir, const char *const *extra, app_cmd *c, char *err,
		  size_t errlen);
void app_cmd_free(app_cmd *c);

/* Starts `c` in a new process group, its stdin /dev/null and its stdout
 * and stderr on out_fd.  With `preload` (a preloader's abstract socket
 * name), the new process does not exec: it asks the preloader to start
 * the app, whose fork joins the new process's group, and exits as the
 * app does.  Returns the pid, or -1 with the errno in *error. */
long app_start(const app_cmd *c, int out_fd, const char *preload, int *error);

/* Stops the group of `pid`: SIGTERM, up to grace_ms for pid to exit,
 * then SIGKILL (grace_ms 0: SIGKILL at once).  pid is not reaped (a zombie holds the group id). */
void app_stop(long pid, int grace_ms);

/* Whether pid has exited (it stays a zombie, not reaped). */
int app_exited(long pid);

#endif
