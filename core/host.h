/* The host function table handed to plugins, and the task a kind runs in.
 * This is the child side of a task: it lives in the task's own process. */
#ifndef NR_HOST_H
#define NR_HOST_H

#include "runnable.h"

#include <nrunner/plugin.h>
#include <signal.h>

struct nr_task {
	const nrc_runnable *runnable;
	const char *output_dir;
	int msg_fd;      /* status messages go here, one JSON line each */
	int finished;    /* a "finished" message was sent */
	int broken;      /* the core went away: sends fail */
};

extern const nr_host nrc_host_table;

/* The type of the internal message behind host->process_group. */
#define NR_MSG_PROCESS_GROUP "_process_group"

/* Set by SIGTERM in a task process; read by host->interrupted(). */
extern volatile sig_atomic_t nrc_task_interrupted;

/* Sends a message object (status and fields already set; "time" is added)
 * and takes ownership of it. */
int nrc_task_send(nr_task *t, cJSON *msg);

/* The job's data (ABI 1.4): what job_begin stored with host->job_set,
 * which host->job_get reads, in the tasks too (they are forks). */
#define NR_JOB_DATA_KEYMAX 128
int nrc_job_data_key_ok(const char *key);
/* host->job_set works only while this is on (around each job_begin). */
void nrc_job_data_writable(int on);
const cJSON *nrc_job_data(void);
/* Takes ownership of data (NULL: the job has none). */
void nrc_job_data_replace(cJSON *data);

#endif
