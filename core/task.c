#include "config.h"

#include "task.h"
#include "host.h"
#include "spawner.h"
#include "signals.h"
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK 65536

enum { FD_MSG, FD_OUT, FD_ERR, NFDS };

struct nrc_task_proc {
	nrc_task_spec spec;
	nrc_message_fn fn;
	void *ctx;
	pid_t pid;
	int fds[NFDS];   /* read ends; -1 once closed */
	nrc_buf bufs[NFDS]; /* partial line (msg) or cut UTF-8 (out, err) */
	cJSON *finished; /* held back until the output is drained */
	int exited;
	int interrupted;
	char *interrupt_reason;
	int runner_failed;
	int seen_started, seen_finished;
	char *breach;    /* the first way the kind broke the status contract */
	long *groups;    /* other process groups the task owns (ABI 1.3) */
	size_t ngroups;
	nrc_task_proc *next_live;
};

/* Tasks whose process is not reaped yet: the orphan reaper leaves them
 * to nrc_task_check_exit. */
static nrc_task_proc *live;

/* Process groups killed at the end of their task whose members came to
 * nrunner (a child subreaper) and may not be dead yet.  They are reaped as
 * they die, on the SIGCHLD that says so: one try right after the kill
 * would leave zombies for the rest of the job. */
static pid_t *orphans;
static size_t norphans;

static const char *const fd_type[NFDS] = {NULL, "stdout", "stderr"};

/* --- child ----------------------------------------------------------- */

static void on_sigterm(int sig)
{
	(void)sig;
	nrc_task_interrupted = 1;
}

static void child_fail(const char *what)
{
	char line[512];
	int n = snprintf(line, sizeof line, "nrunner: task setup: %s: %s\n",
			 what, strerror(errno));
	(void)!write(STDERR_FILENO, line, (size_t)n);
	_exit(127);
}

static void child_main(const nrc_task_spec *spec, int msg_w, int out_w,
		       int err_w)
{
	/* Its own process group, so that a timeout or Ctrl-C can end the
	 * task and everything it started with one kill(-pgid). */
	setpgid(0, 0);
	nrc_signals_forget();
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/* No SA_RESTART: a kind blocked in waitpid() or poll() wakes up
	 * with EINTR and can look at host->interrupted(). */
	sa.sa_handler = on_sigterm;
	sigaction(SIGTERM, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	int null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0)
		child_fail("/dev/null");
	if (null != STDIN_FILENO)
		close(null);
	if (dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
		child_fail("dup2");
	if (out_w > STDERR_FILENO)
		close(out_w);
	if (err_w > STDERR_FILENO && err_w != out_w)
		close(err_w);

	const char *what = NULL;
	if (nrc_spawner_enter(spec->spawner, spec, &what) < 0)
		child_fail(what);

	nr_task t = {.runnable = spec->runnable,
		     .output_dir = spec->output_dir,
		     .msg_fd = msg_w};
	cJSON *started = cJSON_CreateObject();
	cJSON_AddStringToObject(started, "status", "started");
	if (spec->output_dir)
		cJSON_AddStringToObject(started, "output_dir", spec->output_dir);
	nrc_task_send(&t, started);

	int r = spec->kind->run(&nrc_host_table, &t);
	if (!t.finished && nrc_task_interrupted) {
		nrc_host_table.finish(&t, NR_RESULT_INTERRUPTED,
				     "interrupted before the kind finished");
	} else if (!t.finished) {
		const char *plugin = spec->plugin_file ? spec->plugin_file : "?";
		char *why = r ? nrc_xasprintf("the runner of kind '%s' failed "
					     "(run() returned %d) without a "
					     "finished message (plugin %s)",
					     spec->kind->name, r, plugin)
			      : nrc_xasprintf("the runner of kind '%s' returned "
					     "without a finished message; this "
					     "is a bug in plugin %s",
					     spec->kind->name, plugin);
		nrc_host_table.finish(&t, NR_RESULT_ERROR, why);
		free(why);
		fflush(NULL);
		_exit(3);
	}
	fflush(NULL);
	_exit(0);
}

/* --- parent ---------------------------------------------------------- */

static void close_fd(nrc_task_proc *p, int i)
{
	if (p->fds[i] >= 0)
		close(p->fds[i]);
	p->fds[i] = -1;
}

static void emit(nrc_task_proc *p, cJSON *msg)
{
	p->fn(p->ctx, msg);
	cJSON_Delete(msg);
}

static void emit_output(nrc_task_proc *p, int i, const char *buf, size_t len)
{
	if (!len)
		return;
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "status", "running");
	cJSON_AddStringToObject(m, "type", fd_type[i]);
	size_t ok = nrc_utf8_valid_prefix((const unsigned char *)buf, len);
	if (ok == len && !memchr(buf, '\0', len)) {
		char *s = strndup(buf, len);
		cJSON_AddStringToObject(m, "log", s);
		cJSON_AddStringToObject(m, "encoding", "utf-8");
		free(s);
	} else {
		char *b = nrc_base64_encode(buf, len);
		cJSON_AddStringToObject(m, "log", b);
		cJSON_AddStringToObject(m, "encoding", "base64");
		free(b);
	}
	cJSON_AddNumberToObject(m, "time", nrc_now());
	emit(p, m);
}

/* Output chunks are sent as they come, but a UTF-8 sequence cut by the
 * chunk boundary is held back and sent with the next chunk, so that text
 * stays text. */
static void handle_output(nrc_task_proc *p, int i, const char *data, size_t n,
			  int eof)
{
	nrc_buf *b = &p->bufs[i];
	nrc_buf_append(b, data, n);
	size_t send = b->len;
	if (!eof) {
		size_t ok = nrc_utf8_valid_prefix((unsigned char *)b->data, b->len);
		if (ok != (size_t)-1 && b->len - ok <= 3)
			send = ok;
	}
	emit_output(p, i, b->data, send);
	nrc_buf_consume(b, send);
}

static void track_group(nrc_task_proc *p, const cJSON *m)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(m, "pgid");
	/* In a PID namespace the number is the namespace's, not ours, and
	 * the group dies with the namespace anyway. */
	if (!cJSON_IsNumber(g) || g->valuedouble <= 1 || p->spec.spawner)
		return;
	long pgid = (long)g->valuedouble;
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i] == pgid) {
			p->groups[i] = p->groups[--p->ngroups];
			break;
		}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "alive"))) {
		p->groups = nrc_xrealloc(p->groups, (p->ngroups + 1) * sizeof *p->groups);
		p->groups[p->ngroups++] = pgid;
	}
}

/* A value as the reader of a reason sees it: JSON, cut short. */
static char *shown(const cJSON *v)
{
	char *j = cJSON_PrintUnformatted(v);
	if (strlen(j) > 40)
		strcpy(j + 37, "...");
	return j;
}

static int one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return 1;
	return 0;
}

/* The status contract (DESIGN.md, "Status messages"): what is wrong with
 * message m after those before it, or NULL.  Nothing renders, counts or
 * reports a message that breaks it. */
static char *breach_of(nrc_task_proc *p, const cJSON *m)
{
	static const char *const statuses[] = {"started", "running", "finished", NULL};
	static const char *const types[] = {"stdout", "stderr", "log", NULL};
	if (!cJSON_IsObject(m))
		return nrc_xstrdup("a message that is not a JSON object");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
	if (!st)
		return nrc_xstrdup("a message without \"status\"");
	char *v = shown(st), *why = NULL;
	const char *s = cJSON_IsString(st) ? st->valuestring : "";
	const cJSON *time = cJSON_GetObjectItemCaseSensitive(m, "time");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(m, "result");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
	const cJSON *why_v = cJSON_GetObjectItemCaseSensitive(m, "fail_reason");
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(m, "returncode");
	if (!cJSON_IsString(st) || !one_of(s, statuses))
		why = nrc_xasprintf("\"status\": %s is not started, running or finished", v);
	else if (p->seen_finished)
		why = nrc_xasprintf("a \"%s\" message after \"finished\"", s);
	else if (!strcmp(s, "started") && p->seen_started)
		why = nrc_xstrdup("a second \"started\"");
	else if (strcmp(s, "started") && !p->seen_started)
		why = nrc_xasprintf("a \"%s\" message before \"started\"", s);
	else if (!cJSON_IsNumber(time))
		why = nrc_xasprintf("a \"%s\" message without a number \"time\"", s);
	else if (!strcmp(s, "running") && type && (!cJSON_IsString(type) ||
						   !one_of(type->valuestring, types)))
		why = nrc_xasprintf("\"type\": %s is not stdout, stderr or log",
				   (free(v), v = shown(type)));
	else if (!strcmp(s, "finished") && !res)
		why = nrc_xstrdup("a \"finished\" message without \"result\"");
	else if (!strcmp(s, "finished") && (!cJSON_IsString(res) ||
					    !nrc_result_known(res->valuestring)))
		why = nrc_xasprintf("\"result\": %s is not " NR_RESULTS_KNOWN,
				   (free(v), v = shown(res)));
	else if (!strcmp(s, "finished") && why_v && !cJSON_IsString(why_v) &&
		 !cJSON_IsNull(why_v))
		why = nrc_xstrdup("\"fail_reason\" is not a string");
	else if (!strcmp(s, "finished") && rc && !cJSON_IsNumber(rc))
		why = nrc_xstrdup("\"returncode\" is not a number");
	free(v);
	return why;
}

static void breached(nrc_task_proc *p, char *why)
{
	if (!p->breach)
		p->breach = why;
	else
		free(why);
	p->runner_failed = 1;
}

static void handle_line(nrc_task_proc *p, char *line)
{
	cJSON *m = cJSON_Parse(line);
	if (!m) {
		breached(p, nrc_xstrdup("a line that is not JSON"));
		return;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
	if (cJSON_IsString(type) && !strcmp(type->valuestring, NR_MSG_PROCESS_GROUP) &&
	    !p->seen_finished) {
		track_group(p, m);
		cJSON_Delete(m);
		return;
	}
	char *why = breach_of(p, m);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
	if (cJSON_IsString(st) && !strcmp(st->valuestring, "started"))
		p->seen_started = 1;
	if (cJSON_IsString(st) && !strcmp(st->valuestring, "finished"))
		p->seen_finished = 1;
	if (why) {
		breached(p, why);
		cJSON_Delete(m);
		return;
	}
	/* JSON is UTF-8: a kind's bytes that are not become U+FFFD, so that
	 * every file and stream made from the messages parses. */
	nrc_json_fix_utf8(m);
	if (p->seen_finished) {
		p->finished = m; /* held back until the output is drained */
		return;
	}
	emit(p, m);
}

static void handle_messages(nrc_task_proc *p, const char *data, size_t n)
{
	nrc_buf *b = &p->bufs[FD_MSG];
	nrc_buf_append(b, data, n);
	size_t start = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] != '\n')
			continue;
		b->data[i] = '\0';
		handle_line(p, b->data + start);
		start = i + 1;
	}
	nrc_buf_consume(b, start);
}

/* Reads one fd until it would block (or to EOF when draining). */
static void read_fd(nrc_task_proc *p, int i)
{
	char buf[CHUNK];
	while (p->fds[i] >= 0) {
		ssize_t r = read(p->fds[i], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		int eof = r <= 0;
		if (i == FD_MSG) {
			if (r > 0)
				handle_messages(p, buf, (size_t)r);
		} else {
			handle_output(p, i, buf, r > 0 ? (size_t)r : 0, eof);
		}
		if (eof) {
			close_fd(p, i);
			return;
		}
		if ((size_t)r < sizeof buf)
			return; /* probably drained; poll will say */
	}
}

nrc_task_proc *nrc_task_start(const nrc_task_spec *spec, nrc_message_fn fn,
			    void *ctx, char *err, size_t errlen)
{
	int msg[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	int out_file = -1, err_file = -1;
	if (pipe2(msg, O_CLOEXEC) < 0)
		goto error;
	/* With an output directory, the child makes it and its files: on a
	 * slow file system that work then runs beside the parent's event
	 * loop instead of in it. */
	if (!spec->output_dir && (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0))
		goto error;

	/* Whatever the parent has buffered must not be written a second
	 * time by the child, into the task's output. */
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		goto error;
	if (pid == 0) {
		close(msg[0]);
		if (out[0] >= 0)
			close(out[0]), close(errp[0]);
		if (spec->output_dir) {
			char *o = nrc_xasprintf("%s/stdout", spec->output_dir);
			char *e = nrc_xasprintf("%s/stderr", spec->output_dir);
			if (mkdir(spec->output_dir, 0755) < 0 && errno != EEXIST)
				child_fail(spec->output_dir);
			out_file = open(o, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (out_file < 0)
				child_fail(o);
			err_file = open(e, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (err_file < 0)
				child_fail(e);
			free(o);
			free(e);
			if (spec->log_name) {
				char *l = nrc_xasprintf("%s/%s", spec->output_dir,
						       spec->log_name);
				/* When it cannot be made, the runner says so as
				 * it writes it. */
				int fd = open(l, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
				if (fd >= 0)
					close(fd);
				free(l);
			}
		}
		child_main(spec, msg[1], out_file >= 0 ? out_file : out[1],
			   err_file >= 0 ? err_file : errp[1]);
	}
	/* Set the group from this side too, so that a kill(-pid) right
	 * after fork cannot miss the child (libuv and bash do the same). */
	setpgid(pid, pid);

	nrc_task_proc *p = nrc_xcalloc(1, sizeof *p);
	p->spec = *spec;
	p->fn = fn;
	p->ctx = ctx;
	p->pid = pid;
	p->fds[FD_MSG] = msg[0];
	p->fds[FD_OUT] = out[0];
	p->fds[FD_ERR] = errp[0];
	p->next_live = live;
	live = p;
	close(msg[1]);
	if (out[1] >= 0)
		close(out[1]), close(errp[1]);
	for (int i = 0; i < NFDS; i++)
		if (p->fds[i] >= 0)
			fcntl(p->fds[i], F_SETFL, O_NONBLOCK);
	return p;

error:
	snprintf(err, errlen, "cannot start a task process: %s",
		 strerror(errno));
	for (int i = 0; i < 2; i++) {
		if (msg[i] >= 0)
			close(msg[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return NULL;
}

int nrc_task_pollfds(nrc_task_proc *p, struct pollfd *fds)
{
	int n = 0;
	for (int i = 0; i < NFDS; i++) {
		if (p->fds[i] < 0)
			continue;
		fds[n].fd = p->fds[i];
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

void nrc_task_dispatch(nrc_task_proc *p, const struct pollfd *fds, int n)
{
	for (int k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		for (int i = 0; i < NFDS; i++)
			if (p->fds[i] == fds[k].fd)
				read_fd(p, i);
	}
}

static void finish(nrc_task_proc *p, int status)
{
	cJSON *f = p->finished;
	p->finished = NULL;
	if (p->breach && !p->interrupted) {
		cJSON_Delete(f);
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "status", "finished");
		cJSON_AddStringToObject(f, "result", NR_RESULT_ERROR);
		char *why = nrc_xasprintf(
			"the runner of kind '%s' broke the status contract: %s "
			"(plugin %s)",
			p->spec.kind->name, p->breach,
			p->spec.plugin_file ? p->spec.plugin_file : "?");
		cJSON_AddStringToObject(f, "fail_reason", why);
		free(why);
		cJSON_AddNumberToObject(f, "time", nrc_now());
	} else if (!f) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "status", "finished");
		char *why;
		if (p->interrupted) {
			cJSON_AddStringToObject(f, "result", NR_RESULT_INTERRUPTED);
			why = nrc_xstrdup(p->interrupt_reason);
		} else if (WIFSIGNALED(status)) {
			cJSON_AddStringToObject(f, "result", NR_RESULT_ERROR);
			why = nrc_xasprintf(
				"the runner of kind '%s' crashed: %s (plugin %s)",
				p->spec.kind->name, nrc_signal_name(WTERMSIG(status)),
				p->spec.plugin_file ? p->spec.plugin_file : "?");
			p->runner_failed = 1;
		} else {
			cJSON_AddStringToObject(f, "result", NR_RESULT_ERROR);
			why = nrc_xasprintf(
				"the runner of kind '%s' exited with status %d "
				"without a finished message (plugin %s)",
				p->spec.kind->name, WEXITSTATUS(status),
				p->spec.plugin_file ? p->spec.plugin_file : "?");
			p->runner_failed = 1;
		}
		cJSON_AddStringToObject(f, "fail_reason", why);
		free(why);
		cJSON_AddNumberToObject(f, "time", nrc_now());
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		p->runner_failed = 1; /* the child finished it for the kind */
	}
	p->finished = f;
	p->fn(p->ctx, f);
}

static int is_live(pid_t pid)
{
	for (const nrc_task_proc *q = live; q; q = q->next_live)
		if (q->pid == pid)
			return 1;
	return 0;
}

static void unlink_live(nrc_task_proc *p)
{
	for (nrc_task_proc **q = &live; *q; q = &(*q)->next_live)
		if (*q == p) {
			*q = p->next_live;
			break;
		}
}

void nrc_task_reap_orphans(void)
{
	for (size_t i = 0; i < norphans;) {
		int gone = 0;
		for (;;) {
			siginfo_t si = {0};
			/* WNOWAIT first: a task's own process (a kind may name
			 * any group) is reaped by its nrc_task_check_exit. */
			if (waitid(P_PGID, (id_t)orphans[i], &si,
				   WEXITED | WNOHANG | WNOWAIT) < 0) {
				if (errno == EINTR)
					continue;
				gone = 1; /* ECHILD: none of ours left in it */
				break;
			}
			if (!si.si_pid || is_live(si.si_pid))
				break; /* alive yet: the next SIGCHLD */
			while (waitpid(si.si_pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		if (gone)
			orphans[i] = orphans[--norphans];
		else
			i++;
	}
}

static void add_orphans(pid_t pgid)
{
	for (size_t i = 0; i < norphans; i++)
		if (orphans[i] == pgid)
			return;
	orphans = nrc_xrealloc(orphans, (norphans + 1) * sizeof *orphans);
	orphans[norphans++] = pgid;
}

int nrc_task_check_exit(nrc_task_proc *p)
{
	nrc_task_reap_orphans();
	if (p->exited)
		return 1;
	siginfo_t si = {0};
	/* WNOWAIT: while the child is a zombie its pid, and so its process
	 * group id, cannot be reused, so the kill() below cannot hit an
	 * unrelated group. */
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != p->pid)
		return 0;
	/* Everything the task wrote before it exited is in the pipes. */
	for (int i = 0; i < NFDS; i++)
		read_fd(p, i);
	/* Nothing the task started outlives it: its own group, and the
	 * groups it said it started (an app server). */
	kill(-p->pid, SIGKILL);
	for (size_t i = 0; i < p->ngroups; i++)
		kill(-(pid_t)p->groups[i], SIGKILL);
	int status = 0;
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	unlink_live(p);
	/* Members of the groups that were orphaned came to us (nrunner is a
	 * child subreaper): reap them as they die. */
	add_orphans(p->pid);
	for (size_t i = 0; i < p->ngroups; i++)
		add_orphans((pid_t)p->groups[i]);
	nrc_task_reap_orphans();
	if (p->bufs[FD_MSG].len)
		breached(p, nrc_xstrdup("a message cut short (no newline at its "
				       "end) when the runner exited"));
	for (int i = 0; i < NFDS; i++) {
		if (i != FD_MSG && p->bufs[i].len) {
			emit_output(p, i, p->bufs[i].data, p->bufs[i].len);
			p->bufs[i].len = 0;
		}
		close_fd(p, i);
	}
	p->exited = 1;
	finish(p, status);
	return 1;
}

void nrc_task_interrupt(nrc_task_proc *p, const char *reason)
{
	if (p->exited)
		return;
	if (!p->interrupted) {
		p->interrupted = 1;
		p->interrupt_reason = nrc_xstrdup(reason);
	}
	kill(-p->pid, SIGTERM);
}

void nrc_task_kill(nrc_task_proc *p)
{
	if (!p->exited)
		kill(-p->pid, SIGKILL);
}

pid_t nrc_task_pid(const nrc_task_proc *p) { return p->pid; }
const cJSON *nrc_task_finished(const nrc_task_proc *p) { return p->finished; }
int nrc_task_runner_failed(const nrc_task_proc *p) { return p->runner_failed; }

void nrc_task_free(nrc_task_proc *p)
{
	if (!p)
		return;
	if (!p->exited) {
		kill(-p->pid, SIGKILL);
		for (size_t i = 0; i < p->ngroups; i++)
			kill(-(pid_t)p->groups[i], SIGKILL);
		waitpid(p->pid, NULL, 0);
		unlink_live(p);
		add_orphans(p->pid);
		for (size_t i = 0; i < p->ngroups; i++)
			add_orphans((pid_t)p->groups[i]);
		nrc_task_reap_orphans();
	}
	for (int i = 0; i < NFDS; i++) {
		close_fd(p, i);
		nrc_buf_free(&p->bufs[i]);
	}
	cJSON_Delete(p->finished);
	free(p->breach);
	free(p->interrupt_reason);
	free(p->groups);
	free(p);
}
