#include "config.h"

#include "statusserver.h"
#include "collect.h"
#include "job.h"
#include "progress.h"
#include "report.h"
#include "signals.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Reports are rewritten at most this often while tasks finish: a
 * thousand tasks a second must not rewrite them a thousand times. */
#define WRITE_EVERY_MS 1000
/* A line longer than this is garbage, not a status message. */
#define MAX_LINE (64u << 20)

/* --- what a person sees, shared by the server and collect ------------- */

static void show_task(nrc_progress *p, const cJSON *task)
{
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(task, "fail_reason");
	nrc_job_task t = {
		.id = cJSON_GetObjectItemCaseSensitive(task, "id")->valuestring,
		.result = cJSON_GetObjectItemCaseSensitive(task, "result")->valuestring,
		.fail_reason = cJSON_IsString(why) ? why->valuestring : NULL,
		.duration = cJSON_GetObjectItemCaseSensitive(task, "duration")->valuedouble,
	};
	nrc_progress_finished(p, &t);
}

/* The summary nrunner run prints, from a results object. */
static void show_summary(nrc_progress *p, const cJSON *results, int at_a_time,
			 const char *interrupt_reason, char *paths[3])
{
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(results, "tasks");
	nrc_job job = {.n = (size_t)cJSON_GetArraySize(tasks),
		      .duration = cJSON_GetObjectItemCaseSensitive(results, "duration")->valuedouble,
		      .interrupt_reason = (char *)interrupt_reason,
		      .opts = {.jobs = at_a_time}};
	job.tasks = nrc_xcalloc(job.n + 1, sizeof *job.tasks);
	size_t i = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, tasks)
	{
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(t, "fail_reason");
		const cJSON *logs = cJSON_GetObjectItemCaseSensitive(t, "logs");
		job.tasks[i].id = cJSON_GetObjectItemCaseSensitive(t, "id")->valuestring;
		job.tasks[i].result = cJSON_GetObjectItemCaseSensitive(t, "result")->valuestring;
		job.tasks[i].fail_reason = cJSON_IsString(why) ? why->valuestring : NULL;
		job.tasks[i].dir = cJSON_IsString(logs) ? logs->valuestring : NULL;
		i++;
	}
	const char *files[] = {"RESULTS", paths[0], "JUNIT", paths[1],
			       "TAP", paths[2], NULL, NULL};
	nrc_progress_summary(p, &job, paths[0] || paths[1] || paths[2] ? files : NULL);
	free(job.tasks);
}

static int write_results(const cJSON *results, const char *dir,
			 const char *junit, const char *tap, char *paths[3])
{
	for (int i = 0; i < 3; i++)
		free(paths[i]);
	/* Each file that cannot be written is one line on stderr. */
	char *all[4];
	int bad = nrc_report_write_all(results, dir, junit, tap, NULL, all);
	memcpy(paths, all, 3 * sizeof *paths);
	free(all[3]);
	return bad ? NR_EXIT_RUNNER_FAIL : 0;
}

static void show_dropped(FILE *out, size_t invalid, size_t cut, size_t dups)
{
	if (!invalid && !cut && !dups)
		return;
	fprintf(out, "DROPPED    : %zu invalid lines, %zu lines cut short; "
		"%zu duplicate task ids kept as ID#2...\n", invalid, cut, dups);
}

static int make_results_dir(const char *dir, char *abs)
{
	if (nrc_mkdir_p(dir, 0755) < 0 || !realpath(dir, abs)) {
		nrc_error("%s: cannot create the results directory: %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* --- listening ----------------------------------------------------------- */

typedef struct listener {
	int fd;
	char *uri;  /* as reached: "127.0.0.1:40123", or the socket path */
	int unix_path;
} listener;

static int listen_unix(const char *path, listener *l)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sun.sun_path) {
		nrc_error("--listen %s: the socket path is too long (at most %zu "
			 "bytes)", path, sizeof sun.sun_path - 1);
		return -1;
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	if (fd >= 0 && lstat(path, &st) == 0) {
		/* A socket that nobody listens on is a leftover: replace it.
		 * Anything else there is not ours to remove. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int live = S_ISSOCK(st.st_mode) &&
			   connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
		close(probe);
		if (!S_ISSOCK(st.st_mode) || live) {
			nrc_error("--listen %s: %s; choose another path", path,
				 live ? "a status server already listens there"
				      : "a file that is not a socket is there");
			close(fd);
			return -1;
		}
		unlink(path);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    listen(fd, 128) < 0) {
		nrc_error("--listen %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l->fd = fd;
	l->uri = nrc_xstrdup(path);
	l->unix_path = 1;
	return 0;
}

static int listen_tcp(const char *uri, const char *colon, listener *l)
{
	char *host = strndup(uri, (size_t)(colon - uri));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
			*res = NULL;
	int g = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
	free(host);
	if (g) {
		nrc_error("--listen %s: %s; give HOST:PORT or a socket path", uri,
			 gai_strerror(g));
		return -1;
	}
	int fd = -1, one = 1;
	const char *why = "no address";
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 128) < 0) {
			why = strerror(errno);
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		nrc_error("--listen %s: %s", uri, why);
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[NI_MAXHOST], p[NI_MAXSERV];
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
		    NI_NUMERICHOST | NI_NUMERICSERV);
	l->fd = fd;
	l->uri = ss.ss_family == AF_INET6 ? nrc_xasprintf("[%s]:%s", h, p)
					  : nrc_xasprintf("%s:%s", h, p);
	return 0;
}

static int open_listener(const char *uri, listener *l)
{
	const char *colon = strrchr(uri, ':');
	if (strchr(uri, '/') || !colon)
		return listen_unix(uri, l);
	return listen_tcp(uri, colon, l);
}

static int write_port_file(const char *path, const listener *ls, size_t n)
{
	char *tmp = nrc_xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int ok = f != NULL;
	for (size_t i = 0; ok && i < n; i++)
		fprintf(f, "%s\n", ls[i].uri);
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0) {
		nrc_error("--port-file %s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

/* --- serving ------------------------------------------------------------- */

typedef struct client {
	int fd;
	nrc_buf buf;
} client;

typedef struct server {
	const nrc_status_server_opts *opts;
	nrc_collector *col;
	nrc_progress *progress;
	size_t invalid, cut;
	int done, dirty;
	size_t live, max_live;
} server;

static void feed(server *s, const char *line, size_t len)
{
	nrc_line_kind k = nrc_collector_line(s->col, line, len, NULL, NULL);
	if (k == NR_LINE_INVALID) {
		s->invalid++;
		return;
	}
	if (k != NR_LINE_FINISHED)
		return;
	show_task(s->progress, nrc_collector_last(s->col));
	s->dirty = 1;
	if (s->opts->tasks && nrc_collector_finished(s->col) >= s->opts->tasks)
		s->done = 1;
}

/* Reads what a client sent; returns -1 once it has closed. */
static int serve_client(server *s, client *c)
{
	char chunk[65536];
	for (;;) {
		ssize_t r = read(c->fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0) {
			/* Closed mid-line: that line is lost, and counted. */
			if (c->buf.len)
				s->cut++;
			return -1;
		}
		size_t old = c->buf.len;
		nrc_buf_append(&c->buf, chunk, (size_t)r);
		size_t start = 0;
		for (size_t i = old; i < c->buf.len; i++) {
			if (c->buf.data[i] != '\n')
				continue;
			if (i > start)
				feed(s, c->buf.data + start, i - start);
			start = i + 1;
		}
		nrc_buf_consume(&c->buf, start);
		if (c->buf.len > MAX_LINE) {
			s->invalid++;
			return -1;
		}
		if (s->done)
			return 0;
	}
}

static void drop_client(client *c)
{
	close(c->fd);
	nrc_buf_free(&c->buf);
}

int nrc_status_server_run(const nrc_status_server_opts *o)
{
	char abs[PATH_MAX];
	const char *dir = o->results_dir ? o->results_dir : "nrunner-results/status-server";
	if (make_results_dir(dir, abs) < 0)
		return NR_EXIT_JOB_ERROR;
	listener *ls = nrc_xcalloc(o->nlisten, sizeof *ls);
	size_t nl = 0;
	int rc = 0;
	for (; nl < o->nlisten; nl++)
		if (open_listener(o->listen[nl], &ls[nl]) < 0) {
			rc = NR_EXIT_JOB_ERROR;
			break;
		}
	if (!rc && o->port_file && write_port_file(o->port_file, ls, nl) < 0)
		rc = NR_EXIT_JOB_ERROR;
	int sigfd = nrc_signals_fd();
	server s = {.opts = o, .col = nrc_collector_new()};
	s.progress = nrc_progress_new(stdout, 0, 0,
				     o->quiet ? NR_SHOW_FAILURES : NR_SHOW_ALL);
	client *cl = NULL;
	size_t ncl = 0, capcl = 0;
	struct pollfd *fds = NULL;
	char *paths[3] = {NULL, NULL, NULL};
	double start = nrc_now();
	long long t0 = nrc_monotonic_ms(), last_write = 0;
	const char *stop = NULL;
	char stopbuf[64];
	if (rc)
		goto out;
	printf("STATUS SERVER: listening on");
	for (size_t i = 0; i < nl; i++)
		printf("%s %s", i ? "," : "", ls[i].uri);
	printf("\nRESULTS DIR: %s\n", abs);
	fflush(stdout);

	while (!s.done) {
		fds = nrc_xrealloc(fds, (1 + nl + ncl) * sizeof *fds);
		size_t n = 0;
		fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		for (size_t i = 0; i < nl; i++)
			fds[n++] = (struct pollfd){.fd = ls[i].fd, .events = POLLIN};
		for (size_t i = 0; i < ncl; i++)
			fds[n++] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
		int timeout = -1;
		if (s.dirty) {
			long long left = last_write + WRITE_EVERY_MS - nrc_monotonic_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			nrc_error("poll: %s", strerror(errno));
			rc |= NR_EXIT_RUNNER_FAIL;
			break;
		}
		if (fds[0].revents) {
			int sigs[64];
			size_t k = nrc_signals_read(sigs, 64);
			for (size_t i = 0; i < k; i++)
				if (sigs[i] != SIGCHLD) {
					snprintf(stopbuf, sizeof stopbuf, "stopped by %s",
						 nrc_signal_name(sigs[i]));
					stop = stopbuf;
					s.done = 1;
				}
		}
		/* Clients first, in the order they connected: a task whose
		 * messages came over two connections, one after the other,
		 * is read in that order. */
		size_t kept = 0;
		for (size_t i = 0; i < ncl; i++) {
			if (fds[1 + nl + i].revents && !s.done &&
			    serve_client(&s, &cl[i]) < 0) {
				drop_client(&cl[i]);
				continue;
			}
			cl[kept++] = cl[i];
		}
		ncl = kept;
		for (size_t i = 0; i < nl && !s.done; i++) {
			if (!fds[1 + i].revents)
				continue;
			int fd;
			while ((fd = accept4(ls[i].fd, NULL, NULL,
					     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
				if (ncl == capcl) {
					capcl = capcl ? capcl * 2 : 16;
					cl = nrc_xrealloc(cl, capcl * sizeof *cl);
				}
				cl[ncl++] = (client){.fd = fd};
			}
		}
		if (ncl > s.max_live)
			s.max_live = ncl;
		if (s.dirty && nrc_monotonic_ms() - last_write >= WRITE_EVERY_MS) {
			cJSON *res = nrc_collector_results(s.col, "status-server", abs,
							  start, nrc_now() - start, 0);
			rc |= write_results(res, abs, NULL, NULL, paths);
			cJSON_Delete(res);
			last_write = nrc_monotonic_ms();
			s.dirty = 0;
		}
	}
	(void)t0;
	for (size_t i = 0; i < ncl; i++) {
		if (cl[i].buf.len)
			s.cut++;
		drop_client(&cl[i]);
	}
	size_t open_tasks = nrc_collector_close(s.col);
	int interrupted = open_tasks > 0 ||
			  (o->tasks && nrc_collector_finished(s.col) - open_tasks < o->tasks);
	cJSON *res = nrc_collector_results(s.col, "status-server", abs, start,
					  nrc_now() - start, interrupted);
	cJSON_AddNumberToObject(res, "runner_max_rss_kb", (double)nrc_peak_rss_kb());
	cJSON_AddNumberToObject(res, "invalid_lines", (double)s.invalid);
	cJSON_AddNumberToObject(res, "cut_lines", (double)s.cut);
	if (stop)
		cJSON_AddStringToObject(res, "interrupt_reason", stop);
	rc |= write_results(res, abs, NULL, NULL, paths);
	show_summary(s.progress, res, (int)s.max_live, stop, paths);
	show_dropped(stdout, s.invalid, s.cut, nrc_collector_duplicates(s.col));
	rc |= nrc_results_exit_bits(res, NULL);
	cJSON_Delete(res);
out:
	for (size_t i = 0; i < nl; i++) {
		close(ls[i].fd);
		if (ls[i].unix_path)
			unlink(ls[i].uri);
		free(ls[i].uri);
	}
	for (int i = 0; i < 3; i++)
		free(paths[i]);
	free(ls);
	free(cl);
	free(fds);
	nrc_progress_free(s.progress);
	nrc_collector_free(s.col);
	return rc;
}

/* --- run -s -------------------------------------------------------------- */

/* Bounded so that a server that drops packets cannot hold up the job. */
#define FANOUT_CONNECT_MS 5000

nrc_status_out *nrc_status_fanout_new(const char *const *uris, size_t n)
{
	nrc_status_out *out = nrc_status_out_new(NULL, NULL);
	nrc_status_out_servers_only(out);
	for (size_t i = 0; i < n; i++)
		nrc_status_out_connect(out, uris[i], FANOUT_CONNECT_MS);
	return out;
}

void nrc_status_fanout_observe(void *ctx, const nrc_job_task *t, cJSON *msg)
{
	cJSON *m = cJSON_Duplicate(msg, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(m, "id");
	cJSON_DeleteItemFromObjectCaseSensitive(m, "job_id");
	cJSON_AddStringToObject(m, "id", t->id);
	cJSON_AddStringToObject(m, "job_id", t->job->id);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
	if (cJSON_IsString(st) && !strcmp(st->valuestring, "started")) {
		if (!cJSON_GetObjectItemCaseSensitive(m, "kind"))
			cJSON_AddStringToObject(m, "kind", t->runnable->kind);
		if (t->runnable->uri && !cJSON_GetObjectItemCaseSensitive(m, "uri"))
			cJSON_AddStringToObject(m, "uri", t->runnable->uri);
	}
	nrc_status_out_send(ctx, m);
	cJSON_Delete(m);
}

/* --- report collect ------------------------------------------------------ */

typedef struct collect_ctx {
	nrc_collector *col;
	size_t invalid, files;
	nrc_progress *progress;
} collect_ctx;

static void collect_file(collect_ctx *x, const char *path)
{
	size_t len;
	char *text = nrc_read_file(path, &len);
	if (!text) {
		nrc_error("%s: cannot read: %s; skipped", path, strerror(errno));
		return;
	}
	x->files++;
	/* A task's own log (tasks/<id>/status.jsonl) names neither task nor
	 * job in its messages: they are in its path, job-<id>/tasks/<id>/.
	 * Any other log is named after its file, less the extension. */
	char real[PATH_MAX];
	char *copy = nrc_xstrdup(realpath(path, real) ? real : path), *id, *job = NULL;
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	if (!strcmp(base, "status.jsonl") && slash) {
		*slash = '\0';
		char *up = strrchr(copy, '/');
		id = nrc_xstrdup(up ? up + 1 : copy);
		if (up) {
			*up = '\0';
			char *tasks = strrchr(copy, '/');
			if (tasks && !strcmp(tasks + 1, "tasks")) {
				*tasks = '\0';
				char *jd = strrchr(copy, '/');
				jd = jd ? jd + 1 : copy;
				if (!strncmp(jd, "job-", 4))
					job = nrc_xstrdup(jd + 4);
			}
		}
	} else {
		id = nrc_xstrdup(base);
		char *dot = strrchr(id, '.');
		if (dot && dot != id)
			*dot = '\0';
	}
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		if (i > start) {
			nrc_line_kind k = nrc_collector_line(x->col, text + start, i - start,
							   id, job);
			if (k == NR_LINE_INVALID)
				x->invalid++;
			else if (k == NR_LINE_FINISHED)
				show_task(x->progress, nrc_collector_last(x->col));
		}
		start = i + 1;
	}
	free(id);
	free(job);
	free(copy);
	free(text);
}

static int log_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 6 && !strcmp(name + n - 6, ".jsonl")) ||
	       (n > 4 && !strcmp(name + n - 4, ".log"));
}

static void collect_dir(collect_ctx *x, const char *path)
{
	struct dirent **ents;
	int n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		nrc_error("%s: cannot read: %s; skipped", path, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (name[0] != '.') {
			char *p = nrc_xasprintf("%s/%s", path, name);
			struct stat st;
			if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
				collect_dir(x, p);
			else if (log_name(name))
				collect_file(x, p);
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
}

int nrc_report_collect(char *const *paths, size_t n, const char *results_dir,
		      const char *junit, const char *tap, int quiet)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0) {
			nrc_error("%s: cannot read: %s", paths[i], strerror(errno));
			return NR_EXIT_JOB_ERROR;
		}
	}
	char abs[PATH_MAX];
	if (make_results_dir(results_dir, abs) < 0)
		return NR_EXIT_JOB_ERROR;
	collect_ctx x = {.col = nrc_collector_new()};
	x.progress = nrc_progress_new(stdout, 0, 0,
				     quiet ? NR_SHOW_FAILURES : NR_SHOW_ALL);
	double t0 = nrc_now();
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode))
			collect_dir(&x, paths[i]);
		else
			collect_file(&x, paths[i]);
	}
	size_t cut = nrc_collector_close(x.col);
	int rc = 0;
	char *out[3] = {NULL, NULL, NULL};
	if (!nrc_collector_finished(x.col)) {
		nrc_error("no status messages in %zu files; give the output of "
			 "task-run or runnable-run, or tasks' status.jsonl",
			 x.files);
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	/* The tasks' own times: from the first start to the last end. */
	cJSON *res = nrc_collector_results(x.col, "collected", abs, t0, 0, cut > 0);
	double first = 0, last = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(res, "tasks"))
	{
		double s = cJSON_GetObjectItemCaseSensitive(t, "start")->valuedouble;
		double d = cJSON_GetObjectItemCaseSensitive(t, "duration")->valuedouble;
		if (s > 0 && (!first || s < first))
			first = s;
		if (s + d > last)
			last = s + d;
	}
	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "start"), first);
	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(res, "duration"),
			     last > first ? last - first : 0);
	cJSON_AddNumberToObject(res, "invalid_lines", (double)x.invalid);
	cJSON_AddNumberToObject(res, "cut_logs", (double)cut);
	rc |= write_results(res, abs, junit, tap, out);
	show_summary(x.progress, res, 0, NULL, out);
	show_dropped(stdout, x.invalid, 0, nrc_collector_duplicates(x.col));
	if (cut)
		printf("CUT SHORT  : %zu tasks have no finished message "
		       "(interrupted)\n", cut);
	rc |= nrc_results_exit_bits(res, NULL);
	cJSON_Delete(res);
out:
	for (int i = 0; i < 3; i++)
		free(out[i]);
	nrc_progress_free(x.progress);
	nrc_collector_free(x.col);
	return rc;
}
