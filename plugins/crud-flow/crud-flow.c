/* crud-flow: runs an HTTP API flow (a JSON file of steps, nrunner-flow(5))
 * against a running app, over libcurl.  Each step is one request whose
 * response is checked and from which values are captured for later steps.
 * One "running" message per step; on failure, fail_reason names the step,
 * the request, the expectation as a path into the flow file, what was
 * expected and what came, and the start of the body. */
#include "config.h"

#include "common/redact.h"
#include "common/util.h"
#include "env.h"
#include "expect.h"
#include "pg/provision.h"
#include "flow.h"
#include "template.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nrunner/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (16u << 20)
#define SHOWN_BODY 300

/* The sockets a client's connections use, as libcurl opens and closes
 * them (a client talks to one host, but a step's "url" may name another). */
typedef struct sockets {
	curl_socket_t fd[8];
	int n;
	int quickack; /* acknowledge each response at once (quick_ack) */
} sockets;

typedef struct client {
	char *name;
	CURL *curl;
	const cJSON *conf; /* the flow's client object, or NULL */
	sockets *socks;
} client;

typedef struct run {
	const nr_host *h;
	nr_task *t;
	flow *f;
	char *base;
	cJSON *vars;
	template_ctx tc;
	client *clients;
	size_t nclients;
	cJSON *timings;
	char curl_err[CURL_ERROR_SIZE];
	struct outcome *out;
} run;

typedef struct buf {
	char *p;
	size_t n, cap;
	int truncated;
} buf;

static size_t on_data(char *d, size_t sz, size_t n, void *ud)
{
	buf *b = ud;
	size_t len = sz * n;
	if (b->n + len > MAX_BODY) {
		b->truncated = 1;
		return len;
	}
	if (b->n + len + 1 > b->cap) {
		b->cap = (b->n + len + 1) * 2;
		b->p = nrp_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, d, len);
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

/* The delayed-ACK trap (nrunner-flow(5), CLIENTS, connection): a server
 * that writes a response in pieces without TCP_NODELAY holds each piece
 * after the first until the client acknowledges the one before, and on a
 * kept-alive connection the kernel delays that ACK by up to 40 ms: it
 * takes the connection for an interactive one ("pingpong" mode) each time
 * we send a request, so TCP_QUICKACK set once does not last.  Set again
 * when a response's status line has been read, it sends the pending ACK at
 * once and leaves that mode until our next request: the kernel then
 * acknowledges each later piece of the response as it is read.  One
 * system call per response (per status line: a 100 Continue or a redirect
 * has its own), and a pure ACK that would have gone later. */
static void quick_ack(const sockets *k)
{
#ifdef TCP_QUICKACK
	int one = 1;
	for (int i = 0; k->quickack && i < k->n; i++)
		setsockopt(k->fd[i], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
	(void)k; /* Linux's; elsewhere "quick-ack" is "keep-alive" */
#endif
}

static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	sockets *k = ud;
	if (purpose == CURLSOCKTYPE_IPCXN && k->n < (int)(sizeof k->fd / sizeof *k->fd))
		k->fd[k->n++] = fd;
	return CURL_SOCKOPT_OK;
}

static int on_close_socket(void *ud, curl_socket_t fd)
{
	sockets *k = ud;
	for (int i = 0; i < k->n; i++)
		if (k->fd[i] == fd) {
			k->fd[i] = k->fd[--k->n];
			break;
		}
	return close(fd);
}

typedef struct reply {
	buf body, head;
	const sockets *socks;
} reply;

/* Headers of the last response only (after a 100 Continue or a redirect,
 * a new status line starts a new block). */
static size_t on_header(char *d, size_t sz, size_t n, void *ud)
{
	reply *rp = ud;
	size_t len = sz * n;
	if (len >= 5 && !strncmp(d, "HTTP/", 5)) {
		quick_ack(rp->socks);
		rp->head.n = 0;
	}
	return on_data(d, sz, n, &rp->head);
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	run *r = ud;
	return r->h->interrupted(r->t) ? 1 : 0;
}

/* Never print a secret, in any encoding it can come back in (as it is,
 * percent-encoded in a query or a form, JSON-escaped, base64): every
 * occurrence becomes "***". */
static void redact(const run *r, char *s, size_t cap)
{
	const cJSON *sec;
	cJSON_ArrayForEach(sec, r->f->secrets)
		nrp_redact(s, cap, sec->valuestring);
}

/* A request's time limit, in seconds: the client's timeout_s (its own or
 * the environment file's), else FLOW_DEFAULT_TIMEOUT_S. */
static double timeout_of(const client *c)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->conf, "timeout_s");
	return cJSON_IsNumber(t) ? t->valuedouble : FLOW_DEFAULT_TIMEOUT_S;
}

/* Where a client's key was set, for messages: "clients.NAME.KEY", or
 * "environment.client.KEY in FILE" for a default of the environment
 * file, or "the default" for none. */
static void set_where(const client *c, const char *key, char *out, size_t len)
{
	const cJSON *it, *file = cJSON_GetObjectItemCaseSensitive(c->conf, "_env_file");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c->conf, "_env_keys"))
		if (cJSON_IsString(it) && !strcmp(it->valuestring, key) && cJSON_IsString(file)) {
			snprintf(out, len, "environment.client.%s in %s", key, file->valuestring);
			return;
		}
	if (cJSON_GetObjectItemCaseSensitive(c->conf, key))
		snprintf(out, len, "clients.%s.%s", c->name, key);
	else
		snprintf(out, len, "the default");
}

static client *get_client(run *r, const char *name)
{
	for (size_t i = 0; i < r->nclients; i++)
		if (!strcmp(r->clients[i].name, name))
			return &r->clients[i];
	r->clients = nrp_xrealloc(r->clients, (r->nclients + 1) * sizeof *r->clients);
	client *c = &r->clients[r->nclients++];
	c->name = nrp_xstrdup(name);
	c->conf = cJSON_GetObjectItemCaseSensitive(r->f->clients, name);
	c->curl = curl_easy_init();
	/* Each client is one user: its own cookie jar and its own
	 * keep-alive connection. */
	curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, "");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "nrunner-crud-flow/" PACKAGE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_of(c) * 1000));
	c->socks = nrp_xcalloc(1, sizeof *c->socks);
	curl_easy_setopt(c->curl, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(c->curl, CURLOPT_SOCKOPTDATA, c->socks);
	curl_easy_setopt(c->curl, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(c->curl, CURLOPT_CLOSESOCKETDATA, c->socks);
	const cJSON *conn = cJSON_GetObjectItemCaseSensitive(c->conf, "connection");
	const char *policy = cJSON_IsString(conn) ? conn->valuestring : "quick-ack";
	if (!strcmp(policy, "fresh")) {
		curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(c->curl, CURLOPT_FORBID_REUSE, 1L);
	}
	c->socks->quickack = !strcmp(policy, "quick-ack");
	return c;
}

static char *cookies_of(CURL *curl)
{
	struct curl_slist *list = NULL;
	curl_easy_getinfo(curl, CURLINFO_COOKIELIST, &list);
	size_t n = 1;
	for (struct curl_slist *l = list; l; l = l->next)
		n += strlen(l->data) + 1;
	char *s = nrp_xmalloc(n), *p = s;
	*p = '\0';
	for (struct curl_slist *l = list; l; l = l->next)
		p += sprintf(p, "%s\n", l->data);
	curl_slist_free_all(list);
	return s;
}

static int is_unsafe(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

static const char *method_of(const cJSON *s)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(s, "method");
	if (cJSON_IsString(m))
		return m->valuestring;
	return cJSON_GetObjectItemCaseSensitive(s, "json") ||
			       cJSON_GetObjectItemCaseSensitive(s, "form") ||
			       cJSON_GetObjectItemCaseSensitive(s, "body")
		       ? "POST"
		       : "GET";
}

/* One step as it goes on the wire: every template of the step and of its
 * client filled in at once (step_expand), then mapped onto libcurl
 * (do_request); request_free is the one cleanup. */
typedef struct request {
	const char *method;
	char *url;                  /* the base URL, the path and the query */
	struct curl_slist *headers; /* Accept, the client's, the step's,
				     * Authorization, Content-Type */
	int basic;                  /* the client's "basic" credentials */
	char *user, *password;
	char *body;                 /* NULL: none */
	long long us;
	CURLcode code;
} request;

static void request_free(request *q)
{
	free(q->url);
	curl_slist_free_all(q->headers);
	free(q->user);
	free(q->password);
	free(q->body);
	q->url = q->user = q->password = q->body = NULL;
	q->headers = NULL;
}

/* An expanded object's pairs, percent-encoded: "k=v&k2=v2", for a query
 * string or a form body. */
static char *urlencoded(CURL *curl, const cJSON *obj)
{
	size_t cap = 256, len = 0;
	char *out = nrp_xcalloc(1, cap);
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		char *raw = template_text(it);
		char *ek = curl_easy_escape(curl, it->string, 0), *ev = curl_easy_escape(curl, raw, 0);
		size_t need = len + strlen(ek) + strlen(ev) + 3;
		if (need > cap)
			out = nrp_xrealloc(out, cap = need * 2);
		len += (size_t)sprintf(out + len, "%s%s=%s", len ? "&" : "", ek, ev);
		curl_free(ek);
		curl_free(ev);
		free(raw);
	}
	return out;
}

/* The step's templated fields and its client's, in the order they go on
 * the wire (an error names the first that fails), as references into the
 * flow; only those of the URL unless `all`. */
static cJSON *step_parts(const cJSON *s, const client *c, int all)
{
	static const struct {
		int of_client, url;
		const char *key, *as;
	} fields[] = {{0, 1, "path", "path"},       {0, 1, "url", "url"},
		      {0, 1, "query", "query"},     {1, 0, "headers", "client_headers"},
		      {0, 0, "headers", "headers"}, {1, 0, "basic", "basic"},
		      {1, 0, "bearer", "bearer"},   {0, 0, "json", "json"},
		      {0, 0, "form", "form"},       {0, 0, "body", "body"}};
	cJSON *parts = cJSON_CreateObject();
	for (size_t k = 0; k < sizeof fields / sizeof *fields; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			fields[k].of_client ? c->conf : s, fields[k].key);
		/* A token login goes without the bearer it sets. */
		if (fields[k].of_client && !strcmp(fields[k].key, "bearer") &&
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "_no_bearer")))
			continue;
		if (v && (all || fields[k].url))
			cJSON_AddItemReferenceToObject(parts, fields[k].as, (cJSON *)v);
	}
	return parts;
}

/* The URL from expanded parts: the base URL (for a path), the path or
 * url, and the query. */
static char *url_of(const run *r, CURL *curl, const cJSON *x)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(x, "path");
	char *u = template_text(path ? path : cJSON_GetObjectItemCaseSensitive(x, "url"));
	const cJSON *query = cJSON_GetObjectItemCaseSensitive(x, "query");
	char *qs = query ? urlencoded(curl, query) : nrp_xstrdup("");
	char *full;
	if (asprintf(&full, "%s%s%s%s", path ? r->base : "", u,
		     *qs ? (strchr(u, '?') || (path && strchr(r->base, '?')) ? "&" : "?") : "",
		     qs) < 0)
		full = NULL;
	free(u);
	free(qs);
	return full;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *k, const char *v)
{
	char *line;
	if (asprintf(&line, "%s: %s", k, v) < 0)
		return l;
	l = curl_slist_append(l, line);
	free(line);
	return l;
}

static void add_headers(request *q, const cJSON *obj)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		char *v = template_text(it);
		q->headers = add_header(q->headers, it->string, v);
		free(v);
	}
}

/* Expands one step, once, into plain data.  On a template error returns
 * -1 with err, and q->url set when the URL itself could be made (for the
 * message). */
static int step_expand(run *r, const cJSON *s, client *c, request *q, char *err, size_t errlen)
{
	q->method = method_of(s);
	cJSON *parts = step_parts(s, c, 1);
	cJSON *x = template_expand_json(parts, &r->tc, err, errlen);
	cJSON_Delete(parts);
	if (!x) {
		char e2[256];
		parts = step_parts(s, c, 0);
		x = template_expand_json(parts, &r->tc, e2, sizeof e2);
		cJSON_Delete(parts);
		q->url = x ? url_of(r, c->curl, x) : NULL;
		cJSON_Delete(x);
		return -1;
	}
	q->url = url_of(r, c->curl, x);
	q->headers = add_header(NULL, "Accept", "application/json");
	add_headers(q, cJSON_GetObjectItemCaseSensitive(x, "client_headers"));
	add_headers(q, cJSON_GetObjectItemCaseSensitive(x, "headers"));
	/* Authentication: basic, or a bearer token (often a capture). */
	const cJSON *basic = cJSON_GetObjectItemCaseSensitive(x, "basic");
	if (basic) {
		const cJSON *user = cJSON_GetObjectItemCaseSensitive(basic, "user");
		const cJSON *pass = cJSON_GetObjectItemCaseSensitive(basic, "password");
		q->basic = 1;
		q->user = nrp_xstrdup(cJSON_IsString(user) ? user->valuestring : "");
		q->password = nrp_xstrdup(cJSON_IsString(pass) ? pass->valuestring : "");
	}
	const cJSON *bearer = cJSON_GetObjectItemCaseSensitive(x, "bearer");
	if (bearer) {
		char *ts = template_text(bearer), *v;
		if (asprintf(&v, "Bearer %s", ts) >= 0) {
			q->headers = add_header(q->headers, "Authorization", v);
			free(v);
		}
		free(ts);
	}
	/* Django's CSRF: on unsafe methods, the csrftoken cookie goes back in
	 * X-CSRFToken. */
	const cJSON *csrf = cJSON_GetObjectItemCaseSensitive(c->conf, "csrf");
	if (is_unsafe(q->method) && !cJSON_IsFalse(csrf)) {
		char *jar = cookies_of(c->curl);
		char *tok = cookie_value(jar, "csrftoken");
		if (tok)
			q->headers = add_header(q->headers, "X-CSRFToken", tok);
		free(tok);
		free(jar);
	}
	const cJSON *json = cJSON_GetObjectItemCaseSensitive(x, "json");
	const cJSON *form = cJSON_GetObjectItemCaseSensitive(x, "form");
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(x, "body");
	if (json) {
		q->body = cJSON_PrintUnformatted(json);
		q->headers = add_header(q->headers, "Content-Type", "application/json");
	} else if (form) {
		q->body = urlencoded(c->curl, form);
		q->headers = add_header(q->headers, "Content-Type",
					"application/x-www-form-urlencoded");
	} else if (body) {
		q->body = template_text(body);
	}
	cJSON_Delete(x);
	return 0;
}

/* Makes one request; fills the response.  err gets the template's or
 * libcurl's own text when the request could not be made. */
static int do_request(run *r, const cJSON *s, request *q, response *resp, char *err,
		      size_t errlen)
{
	const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "client");
	client *c = get_client(r, cJSON_IsString(cn) ? cn->valuestring : "default");
	CURL *curl = c->curl;
	if (step_expand(r, s, c, q, err, errlen) < 0)
		return -1;
	if (q->basic) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, q->user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, q->password);
	}
	curl_easy_setopt(curl, CURLOPT_URL, q->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, q->headers);
	/* HTTPGET first: it resets NOBODY, which HEAD needs. */
	curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(curl, CURLOPT_NOBODY, !strcmp(q->method, "HEAD") ? 1L : 0L);
	if (q->body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
	}
	/* A body makes libcurl POST: say the method whenever it is not that
	 * (a GET with a body stays a GET). */
	int plain = (!strcmp(q->method, "GET") && !q->body) || !strcmp(q->method, "HEAD") ||
		    (!strcmp(q->method, "POST") && q->body);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, plain ? NULL : q->method);
	reply rp = {.socks = c->socks};
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &rp.body);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &rp);
	r->curl_err[0] = '\0';
	q->code = curl_easy_perform(curl);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_off_t us = 0;
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &us);
	q->us = (long long)us;
	memset(resp, 0, sizeof *resp);
	resp->body = rp.body.p ? rp.body.p : nrp_xcalloc(1, 1);
	resp->body_len = rp.body.n;
	resp->headers = rp.head.p ? rp.head.p : nrp_xcalloc(1, 1);
	if (q->code == CURLE_OPERATION_TIMEDOUT) {
		char where[512];
		set_where(c, "timeout_s", where, sizeof where);
		snprintf(err, errlen, "no response within timeout_s %g s (%s): %s", timeout_of(c),
			 where, r->curl_err[0] ? r->curl_err : curl_easy_strerror(q->code));
		return -1;
	}
	if (q->code != CURLE_OK) {
		snprintf(err, errlen, "%s", r->curl_err[0] ? r->curl_err
						: curl_easy_strerror(q->code));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->json = rp.body.n ? cJSON_ParseWithLength(resp->body, rp.body.n) : NULL;
	resp->cookies = cookies_of(curl);
	return 0;
}

static void response_free(response *r)
{
	free(r->headers);
	free(r->body);
	free(r->cookies);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof *r);
}

/* The path into the flow file of a failed expectation: a plain step's
 * "steps[3].expect.status", a crud step's "steps[0].crud.expect.update". */
static void expectation_path(const cJSON *s, const char *what, char *out, size_t len)
{
	const char *p = cJSON_GetObjectItemCaseSensitive(s, "_path")->valuestring;
	const char *paren = strstr(p, " (");
	if (!paren) {
		if (strstr(p, ".login"))
			snprintf(out, len, "%s.expect", p);
		else
			snprintf(out, len, "%s.expect.%s", p, what);
		return;
	}
	char phase[32] = "";
	sscanf(paren + 2, "%31[a-z]", phase);
	int base = (int)(paren - p);
	if (!strcmp(what, "status"))
		snprintf(out, len, "%.*s.expect.%s", base, p, phase);
	else if (!strcmp(what, "json"))
		snprintf(out, len, "%.*s.%s", base, p, !strcmp(phase, "update") ? "update" : "create");
	else
		snprintf(out, len, "%.*s (%s: %s)", base, p, phase, what);
}

static void trimmed_body(const response *resp, char *out, size_t len)
{
	if (!resp->body_len) {
		snprintf(out, len, "(empty)");
		return;
	}
	size_t n = resp->body_len < SHOWN_BODY ? resp->body_len : SHOWN_BODY;
	size_t k = 0;
	for (size_t i = 0; i < n && k + 2 < len; i++) {
		unsigned char ch = (unsigned char)resp->body[i];
		out[k++] = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : ch < 0x20 ? '?' : (char)ch;
	}
	out[k] = '\0';
	if (resp->body_len > n)
		snprintf(out + k, len - k, "... (%zu bytes)", resp->body_len);
}

/* The flow's outcome; the caller tears the environment down and then
 * sends "finished". */
typedef struct outcome {
	const char *result;
	char reason[8192];
	int steps;
	cJSON *failure; /* the failed step, field by field (note_failure) */
} outcome;

/* The failed step for the reports, field by field ("failure" in the
 * finished message): the request, the expectation's path into the flow
 * file, what was expected and what came (an "expected X, got Y" message
 * split at its last ", got "), the status and the body.  Secrets are
 * redacted in each, as in the reason. */
static void note_failure(run *r, int step, const char *name, const char *method,
			 const char *url, const char *path, const char *msg,
			 long status, const char *body)
{
	char buf[8192];
	cJSON *f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "step", step);
	const char *keys[] = {"name", "request", "path", "message", "body"};
	for (int i = 0; i < 5; i++) {
		if (i == 1)
			snprintf(buf, sizeof buf, "%s %s", method, url);
		else
			snprintf(buf, sizeof buf, "%s", i == 0 ? name : i == 2 ? path
						   : i == 3 ? msg : body);
		redact(r, buf, sizeof buf);
		cJSON_AddStringToObject(f, keys[i], buf);
	}
	const char *m = cJSON_GetObjectItemCaseSensitive(f, "message")->valuestring;
	const char *e = strstr(m, "expected "), *got = NULL;
	for (const char *g = e; g && (g = strstr(g, ", got ")); g++)
		got = g;
	if (got) {
		snprintf(buf, sizeof buf, "%.*s", (int)(got - e - 9), e + 9);
		cJSON_AddStringToObject(f, "expected", buf);
		cJSON_AddStringToObject(f, "actual", got + 6);
	}
	cJSON_AddNumberToObject(f, "status", (double)status);
	cJSON_Delete(r->out->failure);
	r->out->failure = f;
}

static int finish_fail(run *r, const char *result, char *reason)
{
	outcome *o = r->out;
	o->result = result;
	if (reason != o->reason)
		snprintf(o->reason, sizeof o->reason, "%s", reason);
	redact(r, o->reason, sizeof o->reason);
	return 0;
}

static void endpoint_of(const cJSON *s, char *out, size_t len)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "path");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "url");
	snprintf(out, len, "%s %s", method_of(s), p ? p->valuestring : u->valuestring);
}

static int run_flow(run *r)
{
	const nr_host *h = r->h;
	int i = 0;
	const cJSON *s;
	cJSON_ArrayForEach(s, r->f->steps)
	{
		i++;
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(s, "name");
		char name[200];
		snprintf(name, sizeof name, "%s", cJSON_IsString(nm) ? nm->valuestring : "");
		const cJSON *retry = cJSON_GetObjectItemCaseSensitive(s, "retry");
		int attempts = 1 + (retry ? (int)cJSON_GetObjectItemCaseSensitive(retry, "count")->valuedouble : 0);
		const cJSON *iv = cJSON_GetObjectItemCaseSensitive(retry, "interval_ms");
		long interval = cJSON_IsNumber(iv) ? (long)iv->valuedouble : 500;
		char reason[8192];
		int ok = 0;
		for (int a = 1; a <= attempts && !ok; a++) {
			if (h->interrupted(r->t))
				return finish_fail(r, NR_RESULT_INTERRUPTED,
						   strcpy(reason, "interrupted between steps"));
			r->out->steps = i;
			request q = {0};
			response resp = {0};
			char err[4096] = "", what[128] = "";
			int sent = do_request(r, s, &q, &resp, err, sizeof err) == 0;
			double ms = (double)q.us / 1000.0;
			char line[1024];
			if (sent) {
				snprintf(line, sizeof line, "step %d %s: %s %s -> %ld (%.1f ms)%s", i,
					 name, q.method, q.url, resp.status, ms,
					 a > 1 ? " (retry)" : "");
			} else {
				snprintf(line, sizeof line, "step %d %s: %s %s -> %s", i, name,
					 q.method ? q.method : "?", q.url ? q.url : "?", err);
			}
			redact(r, line, sizeof line);
			nr_msg *m = h->msg_new(r->t, "running");
			h->msg_string(m, "type", "log");
			h->msg_string(m, "log", line);
			h->msg_int(m, "step", i);
			h->msg_string(m, "name", name);
			h->msg_string(m, "method", q.method ? q.method : "");
			char shown_url[4096];
			snprintf(shown_url, sizeof shown_url, "%s", q.url ? q.url : "");
			redact(r, shown_url, sizeof shown_url);
			h->msg_string(m, "url", shown_url);
			if (sent)
				h->msg_int(m, "http_status", resp.status);
			h->msg_number(m, "ms", ms);
			h->msg_emit(m);
			char ep[512];
			endpoint_of(s, ep, sizeof ep);
			if (sent) {
				cJSON *tm = cJSON_CreateObject();
				cJSON_AddStringToObject(tm, "endpoint", ep);
				cJSON_AddNumberToObject(tm, "ms", ms);
				cJSON_AddNumberToObject(tm, "status", (double)resp.status);
				cJSON_AddItemToArray(r->timings, tm);
			}
			const cJSON *ex = cJSON_GetObjectItemCaseSensitive(s, "expect");
			cJSON *exx = NULL;
			if (!sent && h->interrupted(r->t)) {
				request_free(&q);
				response_free(&resp);
				snprintf(reason, sizeof reason, "interrupted during step %d \"%s\"",
					 i, name);
				return finish_fail(r, NR_RESULT_INTERRUPTED, reason);
			}
			if (!sent) {
				snprintf(reason, sizeof reason, "step %d \"%s\" (%s): %s %s\n  %s",
					 i, name, cJSON_GetObjectItemCaseSensitive(s, "_path")->valuestring,
					 q.method ? q.method : "?", q.url ? q.url : "?",
					 err[0] ? err : "the request failed");
			} else if (ex && !(exx = template_expand_json(ex, &r->tc, err, sizeof err))) {
				snprintf(reason, sizeof reason, "step %d \"%s\": %s", i, name, err);
			} else if (exx && expect_check(exx, &resp, what, sizeof what, err, sizeof err) < 0) {
				char xp[512], shown[1024];
				expectation_path(s, what, xp, sizeof xp);
				trimmed_body(&resp, shown, sizeof shown);
				snprintf(reason, sizeof reason,
					 "step %d \"%s\": %s %s\n  %s: %s\n  response %ld: %s",
					 i, name, q.method, q.url, xp, err, resp.status, shown);
				note_failure(r, i, name, q.method, q.url, xp, err, resp.status, shown);
			} else {
				ok = 1;
				/* Captures, for the steps after this one. */
				const cJSON *cap = cJSON_GetObjectItemCaseSensitive(s, "capture");
				const cJSON *c;
				cJSON_ArrayForEach(c, cap)
				{
					cJSON *v = capture_take(c, &resp, err, sizeof err);
					if (!v) {
						char shown[1024];
						trimmed_body(&resp, shown, sizeof shown);
						/* A login's token is named as the flow
						 * wrote it: login.bearer. */
						const cJSON *bv = cJSON_GetObjectItemCaseSensitive(s, "_bearer_var");
						char cp[512];
						snprintf(cp, sizeof cp, "%s.%s%s",
							 cJSON_GetObjectItemCaseSensitive(s, "_path")->valuestring,
							 cJSON_IsString(bv) && !strcmp(bv->valuestring, c->string)
								 ? "bearer" : "capture.",
							 cJSON_IsString(bv) && !strcmp(bv->valuestring, c->string)
								 ? "" : c->string);
						snprintf(reason, sizeof reason,
							 "step %d \"%s\": %s %s\n  %s: %s\n  "
							 "response %ld: %s", i, name, q.method, q.url,
							 cp, err, resp.status, shown);
						note_failure(r, i, name, q.method, q.url, cp, err,
							     resp.status, shown);
						ok = 0;
						break;
					}
					if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "secret")) &&
					    cJSON_IsString(v))
						cJSON_AddItemToArray(r->f->secrets, cJSON_CreateString(v->valuestring));
					cJSON_DeleteItemFromObjectCaseSensitive(r->vars, c->string);
					cJSON_AddItemToObject(r->vars, c->string, v);
				}
			}
			cJSON_Delete(exx);
			request_free(&q);
			response_free(&resp);
			if (!ok && a < attempts) {
				struct timespec ts = {interval / 1000, (interval % 1000) * 1000000L};
				nanosleep(&ts, NULL);
			}
		}
		if (!ok)
			return finish_fail(r, NR_RESULT_FAIL, reason);
		/* A retry of the step passed: its earlier failure is no more. */
		cJSON_Delete(r->out->failure);
		r->out->failure = NULL;
	}
	r->out->result = NR_RESULT_PASS;
	r->out->steps = i;
	return 0;
}

static int crud_flow_run(const nr_host *h, nr_task *t)
{
	char err[4096];
	const char *uri = h->uri(t);
	const nr_value *kw = h->kwargs(t);
	if (!uri && !h->get(kw, "flow"))
		return h->finish(t, NR_RESULT_ERROR, "no flow to run: give the flow file with "
				 "-u FILE (see nrunner-flow(5))");
	flow *f;
	env_spec e;
	if (env_flow_of(h, uri, kw, h->config(t), &f, &e, err, sizeof err) < 0)
		return h->finish(t, NR_RESULT_ERROR, err);
	const char *base = h->string(h->get(kw, "base_url"));
	env_run er = {0};
	double t0 = nrp_now_ms();
	if (e.isolated) {
		if (env_up(h, t, &e, f->name, &er, err, sizeof err) < 0) {
			env_free(&e);
			flow_free(f);
			return h->finish(t, h->interrupted(t) ? NR_RESULT_INTERRUPTED
							      : NR_RESULT_ERROR, err);
		}
		base = er.base_url;
		/* The database's password is a secret of the flow: a response
		 * or an error that shows it shows "***". */
		const nrpg_db *db = er.db;
		if (db && db->password && db->password[0])
			cJSON_AddItemToArray(f->secrets, cJSON_CreateString(db->password));
		nr_msg *m = h->msg_new(t, "running");
		char line[512];
		snprintf(line, sizeof line, "environment: database %s, app on %s (ready in %.0f ms)",
			 er.db_name, er.base_url,
			 er.app_start_ms);
		h->msg_string(m, "type", "log");
		h->msg_string(m, "log", line);
		h->msg_emit(m);
	}
	if (!base)
		base = f->base_url;
	if (!base)
		base = getenv("NRUNNER_BASE_URL");
	outcome out = {.result = NR_RESULT_ERROR};
	run r = {.h = h, .t = t, .f = f, .out = &out};
	char unique[16];
	unsigned char rb[6];
	if (getrandom(rb, sizeof rb, 0) != sizeof rb)
		memset(rb, 7, sizeof rb);
	snprintf(unique, sizeof unique, "%02x%02x%02x%02x%02x%02x", rb[0], rb[1], rb[2], rb[3],
		 rb[4], rb[5]);
	r.vars = cJSON_CreateObject();
	r.tc.vars = r.vars;
	r.tc.unique = unique;
	r.tc.secrets = f->secrets;
	r.timings = cJSON_CreateArray();
	double steps_ms = 0;
	if (!base || !*base) {
		snprintf(out.reason, sizeof out.reason, "no base URL: give base_url=URL, "
			 "\"base_url\" in the flow, or NRUNNER_BASE_URL; or describe an "
			 "isolated environment in " ENV_FILE);
	} else {
		/* The base URL and the vars may use templates too. */
		r.base = template_expand(base, &r.tc, err, sizeof err);
		size_t bl = r.base ? strlen(r.base) : 0;
		while (bl && r.base[bl - 1] == '/')
			r.base[--bl] = '\0';
		const cJSON *v;
		int rc = r.base ? 0 : -1;
		cJSON_ArrayForEach(v, f->vars)
		{
			cJSON *x = rc == 0 ? template_expand_json(v, &r.tc, err, sizeof err) : NULL;
			if (!x) {
				rc = -1;
				break;
			}
			cJSON_AddItemToObject(r.vars, v->string, x);
		}
		if (rc < 0) {
			snprintf(out.reason, sizeof out.reason, "%s", err);
		} else {
			double ts = nrp_now_ms();
			run_flow(&r);
			steps_ms = nrp_now_ms() - ts;
		}
	}
	char kept[4096] = "";
	if (e.isolated)
		env_down(h, t, &e, &er, strcmp(out.result, NR_RESULT_PASS) != 0, kept, sizeof kept);
	if (kept[0])
		h->log(t, "%s", kept);
	nr_msg *m = h->msg_new(t, "finished");
	h->msg_string(m, "result", out.result);
	if (strcmp(out.result, NR_RESULT_PASS))
		h->msg_string(m, "fail_reason", out.reason);
	h->msg_int(m, "steps", out.steps);
	if (out.failure && strcmp(out.result, NR_RESULT_PASS)) {
		char *fj = cJSON_PrintUnformatted(out.failure);
		h->msg_json(m, "failure", fj);
		free(fj);
	}
	cJSON_Delete(out.failure);
	h->msg_string(m, "environment", e.isolated ? "isolated" : "shared");
	/* "notice": a line the job's summary shows the user. */
	if (kept[0])
		h->msg_string(m, "notice", kept);
	char *tj = cJSON_PrintUnformatted(r.timings);
	h->msg_json(m, "timings", tj);
	free(tj);
	if (e.isolated) {
		char ph[256];
		snprintf(ph, sizeof ph, "{\"provision_ms\":%.3f,\"app_start_ms\":%.3f,"
			 "\"steps_ms\":%.3f,\"teardown_ms\":%.3f,\"total_ms\":%.3f}",
			 er.provision_ms, er.app_start_ms, steps_ms, er.teardown_ms,
			 nrp_now_ms() - t0);
		h->msg_json(m, "phases", ph);
		h->msg_int(m, "app_pid", er.app_pid_seen);
		h->msg_int(m, "app_port", er.port);
		h->msg_bool(m, "db_from_pool", er.db_from_pool);
	}
	int rc = h->msg_emit(m);
	for (size_t i = 0; i < r.nclients; i++) {
		curl_easy_cleanup(r.clients[i].curl);
		free(r.clients[i].socks);
		free(r.clients[i].name);
	}
	free(r.clients);
	free(r.base);
	cJSON_Delete(r.vars);
	cJSON_Delete(r.timings);
	env_free(&e);
	flow_free(f);
	return rc;
}

/* `nrunner run` claims JSON files that are flows; a bad flow stops the
 * job before anything runs, with its one line. */
static int crud_flow_resolve(const nr_host *h, nr_resolver *res, const char *path)
{
	size_t n = strlen(path);
	if (n < 5 || strcmp(path + n - 5, ".json"))
		return NR_RESOLVE_NOT_MINE;
	/* The file is read here, once: job_begin and run() read the
	 * runnable this makes of it. */
	char *text = nrp_read_text(path, NULL);
	if (!text)
		return NR_RESOLVE_NOT_MINE;
	cJSON *doc = cJSON_Parse(text);
	int mine = doc ? flow_looks_like(doc) : strstr(text, "\"steps\"") != NULL;
	cJSON_Delete(doc);
	if (!mine) {
		free(text);
		return NR_RESOLVE_NOT_MINE;
	}
	char err[4096];
	flow *f = flow_parse(path, text, err, sizeof err);
	free(text);
	if (!f) {
		h->resolve_error(res, "%s", err);
		return NR_RESOLVE_ERROR;
	}
	cJSON *fj = flow_to_json(f);
	cJSON_AddItemToObject(fj, "env_file", env_source(path));
	cJSON *rn = cJSON_CreateObject();
	cJSON_AddStringToObject(rn, "kind", "crud-flow");
	cJSON_AddStringToObject(rn, "uri", path);
	cJSON_AddStringToObject(rn, "identifier", f->name);
	cJSON_AddItemToObject(cJSON_AddObjectToObject(rn, "kwargs"), "flow", fj);
	char *json = cJSON_PrintUnformatted(rn);
	cJSON_Delete(rn);
	flow_free(f);
	int rc = json && h->resolve_add_json(res, json) == 0 ? NR_RESOLVE_CLAIMED
							     : NR_RESOLVE_ERROR;
	free(json);
	return rc;
}

static int crud_flow_init(const nr_host *h, char *err, size_t errlen)
{
	(void)h;
	/* Once, in nrunner's own process, before the tasks fork. */
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s", curl_easy_strerror(c));
		return -1;
	}
	return 0;
}

static const char *const crud_flow_config[] = {ENV_FILE_CONFIG, NULL};

static const nr_kind crud_flow_kind = {
	.name = "crud-flow",
	.summary = "Runs an HTTP API flow (nrunner-flow(5)) over libcurl",
	.run = crud_flow_run,
	.config_used = crud_flow_config,
	.resolve = crud_flow_resolve,
};

static const nr_kind *const kinds[] = {&crud_flow_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "crud-flow",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
	.init = crud_flow_init,
	.job_begin = env_job_begin,
	.job_end = env_job_end,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
