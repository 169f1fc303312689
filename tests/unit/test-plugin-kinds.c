/* The crud-flow and pg plugins as built (their .la files under plugins/, loaded with
 * libltdl), driven through the mock host table (mock-host.c) instead of
 * the core: their descriptors, what their resolve() adds or refuses,
 * what their run() sends (one "finished" message, logs, redacted
 * secrets), and what job_begin stores in the job's data.  crud-flow's
 * requests go to a small HTTP server on a thread of this test. */
#include "config.h"

#include "tap.h"
#include "mock-host.h"

#include <arpa/inet.h>
#include <limits.h>
#include <ltdl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[64];
static const nr_host *H;

static const nr_plugin *load(const char *name)
{
	const char *where = getenv("NRUNNER_PLUGIN_PATH");
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s.la", where && *where ? where : "plugins", name);
	lt_dlhandle h = lt_dlopen(path);
	void *sym = h ? lt_dlsym(h, NR_PLUGIN_ENTRY_SYMBOL) : NULL;
	if (!sym) {
		printf("Bail out! cannot load %s: %s\n", path, lt_dlerror());
		exit(1);
	}
	const nr_plugin *(*entry)(void);
	memcpy(&entry, &sym, sizeof entry);
	return entry();
}

static const nr_kind *kind_of(const nr_plugin *p, const char *name)
{
	for (const nr_kind *const *k = p->kinds; *k; k++)
		if (!strcmp((*k)->name, name))
			return *k;
	return NULL;
}


static char *json_of(const cJSON *v)
{
	return v ? cJSON_PrintUnformatted(v) : strdup("(none)");
}

/* --- an HTTP server on a thread ------------------------------------------ */

static int lfd, port;
static char seen[1024]; /* "METHOD path body|" per request */

static void respond(int c, const char *method, const char *path, const char *body)
{
	const char *st = "200 OK", *out = "{\"detail\":\"nope\"}";
	if (!strcmp(path, "/a"))
		out = "{\"id\":7,\"name\":\"Ada\"}";
	else if (!strncmp(path, "/b/", 3))
		out = "{\"pw\":\"hunter2\",\"ok\":true}";
	else
		st = "404 Not Found";
	size_t l = strlen(seen);
	snprintf(seen + l, sizeof seen - l, "%s %s %s|", method, path, body);
	char resp[512];
	int n = snprintf(resp, sizeof resp, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s", st, strlen(out), out);
	if (write(c, resp, (size_t)n) != n)
		return;
}

static void *serve(void *arg)
{
	(void)arg;
	int c;
	while ((c = accept(lfd, NULL, NULL)) >= 0) {
		char buf[8192];
		size_t n = 0;
		ssize_t r;
		while ((r = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
			n += (size_t)r;
			buf[n] = '\0';
			char *end;
			while ((end = strstr(buf, "\r\n\r\n"))) {
				size_t hl = (size_t)(end + 4 - buf), cl = 0;
				char *p = strcasestr(buf, "\r\nContent-Length:");
				if (p && p < end)
					cl = (size_t)atol(p + 17);
				if (n < hl + cl)
					break;
				char method[16] = "", path[256] = "", body[256];
				sscanf(buf, "%15s %255s", method, path);
				snprintf(body, sizeof body, "%.*s", (int)cl, buf + hl);
				respond(c, method, path, body);
				memmove(buf, buf + hl + cl, n - hl - cl);
				n -= hl + cl;
				buf[n] = '\0';
			}
		}
		close(c);
	}
	return NULL;
}

static pthread_t server;

static void server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
		printf("Bail out! cannot listen on 127.0.0.1\n");
		exit(1);
	}
	port = ntohs(a.sin_port);
	pthread_create(&server, NULL, serve, NULL);
}

static void server_stop(void)
{
	shutdown(lfd, SHUT_RDWR);
	pthread_join(server, NULL);
	close(lfd);
}

/* --- crud-flow ------------------------------------------------------------ */

#define GOOD "{\"name\": \"good\", \"steps\": [{\"name\": \"first\", \"path\": \"/a\", \"expect\": " \
	"{\"status\": 200, \"json\": {\"name\": \"Ada\"}}, \"capture\": {\"id\": {\"json\": " \
	"\"/id\"}}}, {\"name\": \"second\", \"path\": \"/b/{{id}}\", \"expect\": {\"status\": 200}}]}"

static void crud_flow(void)
{
	const nr_plugin *p = load("crud-flow");
	ok(p->abi_major == NR_ABI_MAJOR && p->abi_minor <= NR_ABI_MINOR && p->abi_minor >= 4,
	   "crud-flow: built for this ABI (%u.%u)", p->abi_major, p->abi_minor);
	is_str(p->name, "crud-flow", "crud-flow: its name");
	const nr_kind *k = kind_of(p, "crud-flow");
	ok(k && k->run && k->resolve && !p->kinds[1], "crud-flow: one kind, with run and resolve");
	ok(p->job_begin && p->job_end, "crud-flow: job hooks (isolated flows)");
	char e[256] = "";
	ok(!p->init || p->init(H, e, sizeof e) == 0, "crud-flow: init (%s)", e);
	if (!k)
		return;

	/* resolve: what it claims, and the runnable it makes of a flow. */
	tap_write("good.json", GOOD);
	tap_write("other.json", "{\"kind\": \"noop\"}");
	tap_write("notes.txt", "{\"steps\": []}");
	tap_write("bad.json", "{\"steps\": [{\"path\": \"/\", \"method\": \"FETCH\"}]}");
	tap_write("broken.json", "{\"steps\": [");
	nr_resolver *r = mock_resolver_new();
	ok(k->resolve(H, r, "notes.txt") == NR_RESOLVE_NOT_MINE, "resolve: not a .json file");
	ok(k->resolve(H, r, "other.json") == NR_RESOLVE_NOT_MINE, "resolve: JSON that is no flow");
	ok(k->resolve(H, r, "missing.json") == NR_RESOLVE_NOT_MINE, "resolve: no such file");
	ok(cJSON_GetArraySize(mock_resolver_added(r)) == 0 && !mock_resolver_error(r),
	   "resolve: nothing added, no error for what is not its");
	ok(k->resolve(H, r, "good.json") == NR_RESOLVE_CLAIMED, "resolve: a flow is claimed");
	const cJSON *rn = cJSON_GetArrayItem(mock_resolver_added(r), 0);
	ok(cJSON_GetArraySize(mock_resolver_added(r)) == 1, "resolve: one runnable");
	char *s = json_of(cJSON_GetObjectItemCaseSensitive(rn, "kind"));
	is_str(s, "\"crud-flow\"", "resolve: of kind crud-flow");
	free(s);
	s = json_of(cJSON_GetObjectItemCaseSensitive(rn, "identifier"));
	is_str(s, "\"good\"", "resolve: identified by the flow's name");
	free(s);
	cJSON *flow = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rn, "kwargs"), "flow");
	ok(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(flow, "steps")) == 2 &&
	   cJSON_GetObjectItemCaseSensitive(flow, "env_file"),
	   "resolve: the flow, resolved, in kwargs (steps and the environment's source)");
	ok(k->resolve(H, r, "bad.json") == NR_RESOLVE_ERROR, "resolve: a bad flow stops the job");
	is_str(mock_resolver_error(r), "bad.json: steps[0].method: use GET, POST, PUT, PATCH, "
	       "DELETE, HEAD or OPTIONS", "resolve: with the flow's one line");
	ok(k->resolve(H, r, "broken.json") == NR_RESOLVE_ERROR, "resolve: broken JSON with steps");
	is_str(mock_resolver_error(r), "broken.json:1:12: not valid JSON; fix the syntax near "
	       "line 1, column 12", "resolve: is a flow with its syntax error");

	/* run: the resolved flow against the server. */
	char kw[8192], base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
	char *fj = json_of(flow);
	snprintf(kw, sizeof kw, "{\"flow\": %s, \"base_url\": \"%s/\"}", fj, base);
	free(fj);
	nr_task *t = mock_task_new("crud-flow", "good.json", "good", NULL, kw, NULL);
	seen[0] = '\0';
	ok(k->run(H, t) == 0, "run: returns 0");
	is_str(mock_task_finished_str(t, "result"), "pass", "run: the flow passes");
	ok(mock_task_count(t, "finished") == 1, "run: exactly one finished message");
	const cJSON *last = cJSON_GetArrayItem(mock_task_messages(t),
					       cJSON_GetArraySize(mock_task_messages(t)) - 1);
	ok(last == mock_task_finished(t), "run: and it is the last one");
	is_str(seen, "GET /a |GET /b/7 |", "run: the requests, the capture filled in");
	s = json_of(cJSON_GetObjectItemCaseSensitive(mock_task_finished(t), "steps"));
	is_str(s, "2", "run: two steps");
	free(s);
	is_str(mock_task_finished_str(t, "environment"), "shared", "run: a shared environment");
	ok(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(mock_task_finished(t), "timings")) == 2,
	   "run: a timing per step");
	ok(!cJSON_GetObjectItemCaseSensitive(mock_task_finished(t), "fail_reason"),
	   "run: no fail_reason when it passes");
	char want[512];
	snprintf(want, sizeof want, "step 1 first: GET %s/a -> 200", base);
	ok(!strncmp(mock_task_logs(t), want, strlen(want)), "run: logs each step (%s)", want);
	mock_task_free(t);

	/* A failing step, with a secret in the request and the response. */
	tap_write("fail.json", "{\"vars\": {\"pw\": {\"secret\": \"hunter2\"}}, \"steps\": [{\"path\": "
			 "\"/a\", \"capture\": {\"id\": {\"json\": \"/id\"}}}, {\"name\": \"second\","
			 " \"method\": \"POST\", \"path\": \"/b/{{id}}\", \"json\": {\"p\": \"{{pw}}\"},"
			 " \"expect\": {\"status\": 201}}]}");
	snprintf(kw, sizeof kw, "{\"base_url\": \"%s\"}", base);
	t = mock_task_new("crud-flow", "fail.json", NULL, NULL, kw, NULL);
	seen[0] = '\0';
	k->run(H, t);
	is_str(mock_task_finished_str(t, "result"), "fail", "run: a failing step fails the flow");
	snprintf(want, sizeof want, "step 2 \"second\": POST %s/b/7\n  steps[1].expect.status: "
		 "expected 201, got 200\n  response 200: {\"pw\":\"***\",\"ok\":true}", base);
	is_str(mock_task_finished_str(t, "fail_reason"), want,
	       "run: the reason names the step, the path into the file, and the response");
	const cJSON *fl = cJSON_GetObjectItemCaseSensitive(mock_task_finished(t), "failure");
	s = json_of(cJSON_GetObjectItemCaseSensitive(fl, "path"));
	is_str(s, "\"steps[1].expect.status\"", "run: failure.path");
	free(s);
	s = json_of(cJSON_GetObjectItemCaseSensitive(fl, "expected"));
	is_str(s, "\"201\"", "run: failure.expected");
	free(s);
	s = json_of(cJSON_GetObjectItemCaseSensitive(fl, "actual"));
	is_str(s, "\"200\"", "run: failure.actual");
	free(s);
	ok(strstr(seen, "{\"p\":\"hunter2\"}") != NULL, "run: the secret was sent");
	s = json_of(mock_task_messages(t));
	ok(!strstr(s, "hunter2"), "run: and no message shows it");
	free(s);
	mock_task_free(t);

	t = mock_task_new("crud-flow", NULL, NULL, NULL, NULL, NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "result"), "error", "run: nothing to run is an error");
	is_str(mock_task_finished_str(t, "fail_reason"), "no flow to run: give the flow file "
	       "with -u FILE (see nrunner-flow(5))", "run: and says how to give one");
	ok(cJSON_GetArraySize(mock_task_messages(t)) == 1, "run: one message only");
	mock_task_free(t);
	unsetenv("NRUNNER_BASE_URL");
	t = mock_task_new("crud-flow", "good.json", NULL, NULL, NULL, NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "fail_reason"), "no base URL: give base_url=URL, "
	       "\"base_url\" in the flow, or NRUNNER_BASE_URL; or describe an isolated "
	       "environment in nrunner-env.json", "run: no base URL");
	mock_task_free(t);
	t = mock_task_new("crud-flow", "bad.json", NULL, NULL, NULL, NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "fail_reason"), "bad.json: steps[0].method: use GET, "
	       "POST, PUT, PATCH, DELETE, HEAD or OPTIONS", "run: a bad flow file");
	mock_task_free(t);
	t = mock_task_new("crud-flow", NULL, NULL, NULL, "{\"flow\": {\"file\": 1}}", NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "fail_reason"), "kwargs flow: not a resolved flow "
	       "(file, name, vars, clients, steps); give the flow file as the uri instead",
	       "run: kwargs flow that is not a resolved flow");
	mock_task_free(t);
	snprintf(kw, sizeof kw, "{\"base_url\": \"%s\"}", base);
	t = mock_task_new("crud-flow", "good.json", NULL, NULL, kw, NULL);
	mock_task_break(t);
	ok(k->run(H, t) < 0, "run: -1 when the core has gone (msg_emit fails)");
	mock_task_free(t);
	mock_resolver_free(r);
}

/* --- pg ------------------------------------------------------------------- */

static void pg(void)
{
	const nr_plugin *p = load("pg");
	is_str(p->name, "pg", "pg: its name");
	ok(kind_of(p, "provision-sql") && kind_of(p, "provision-migrate") &&
	   kind_of(p, "provision-template") && !p->kinds[3], "pg: the three provision kinds");
	ok(p->job_begin && p->job_end && p->clean, "pg: job_begin, job_end and clean");
	const nr_kind *k = kind_of(p, "provision-sql");
	if (!k || !p->job_begin)
		return;
	nr_task *t = mock_task_new("provision-sql", NULL, "db", NULL, NULL, NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "result"), "error", "pg run: no schema is an error");
	is_str(mock_task_finished_str(t, "fail_reason"), "provision-sql needs the schema file "
	       "as its uri (-u schema.sql)", "pg run: and says what to give");
	ok(cJSON_GetArraySize(mock_task_messages(t)) == 1, "pg run: one message only");
	mock_task_free(t);
	tap_write("schema.sql", "CREATE TABLE t (id int);\n");
	t = mock_task_new("provision-sql", "schema.sql", "db", NULL,
			  "{\"keep\": \"sometimes\"}", NULL);
	k->run(H, t);
	is_str(mock_task_finished_str(t, "fail_reason"), "kwargs \"keep\": \"sometimes\": use "
	       "never, on-failure or always", "pg run: a bad kwarg");
	mock_task_free(t);
	t = mock_task_new("provision-sql", "schema.sql", "db", NULL,
			  "{\"dsn\": \"host=/nonexistent port=1\"}", NULL);
	k->run(H, t);
	const char *why = mock_task_finished_str(t, "fail_reason");
	const char *want = "cannot connect to PostgreSQL at socket /nonexistent/.s.PGSQL.1 "
			   "(database \"postgres\"): ";
	ok(why && !strncmp(why, want, strlen(want)) &&
	   strstr(why, "; start the server, or name another with dsn=... or PGHOST/PGPORT"),
	   "pg run: a server that is not there is named, with what to do (%s)", why);
	ok(mock_task_count(t, "finished") == 1, "pg run: one finished message");
	mock_task_free(t);

	/* job_begin stores the job's token in the job's data, only there. */
	cJSON *rs = cJSON_Parse("[{\"kind\": \"provision-sql\", \"uri\": \"schema.sql\", "
				"\"kwargs\": {\"dsn\": \"host=/nonexistent port=1\"}}]");
	char e[512] = "";
	mock_job_clear();
	mock_job_begin(0);
	ok(p->job_begin(H, (const nr_value *)rs, e, sizeof e) != 0,
	   "pg job_begin: fails when the job's data cannot be written");
	is_str(e, "cannot store the job's token in the job's data", "pg job_begin: and says so");
	mock_job_begin(1);
	e[0] = '\0';
	ok(p->job_begin(H, (const nr_value *)rs, e, sizeof e) == 0,
	   "pg job_begin: a job on a named server (%s)", e);
	mock_job_begin(0);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(mock_job_data(), "pg.token");
	ok(cJSON_IsString(tok) && strlen(tok->valuestring) >= 4,
	   "pg job_begin: the job's token is in the job's data (%s)",
	   cJSON_IsString(tok) ? tok->valuestring : "none");
	ok(!cJSON_GetObjectItemCaseSensitive(mock_job_data(), "pg.private"),
	   "pg job_begin: no private server when every runnable names one");
	ok(!getenv("NRUNNER_PG_JOB"), "pg job_begin: nothing in the environment");
	p->job_end(H);
	cJSON_Delete(rs);
	mock_job_clear();
}

int main(void)
{
	H = mock_host();
	snprintf(dir, sizeof dir, "%s/nr-test-kinds.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd) || !mkdtemp(dir)) {
		perror(dir);
		return 2;
	}
	/* The plugins' directory, as make check gives it, else the build
	 * tree's, before leaving it. */
	if (!getenv("NRUNNER_PLUGIN_PATH")) {
		char pp[PATH_MAX + 16];
		snprintf(pp, sizeof pp, "%s/plugins", cwd);
		setenv("NRUNNER_PLUGIN_PATH", pp, 1);
	}
	if (chdir(dir) < 0 || lt_dlinit() != 0)
		return 2;
	server_start();
	crud_flow();
	pg();
	server_stop();
	static const char *const files[] = {"good.json", "other.json", "notes.txt", "bad.json",
					    "broken.json", "fail.json", "schema.sql", NULL};
	for (const char *const *f = files; *f; f++)
		unlink(*f);
	if (chdir("/") == 0)
		rmdir(dir);
	return tap_done();
}
