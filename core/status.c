#include "config.h"

#include "status.h"
#include "pyrepr.h"
#include <nrunner/plugin.h>
#include "runnable.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct sink {
	char *uri;
	int fd;
} sink;

struct nrc_status_out {
	char *id, *job_id;
	sink *sinks;
	size_t nsinks;
	int no_stdout;
	int python; /* stdout in Python's repr, as Avocado's runners print */
};

nrc_status_out *nrc_status_out_new(const char *id, const char *job_id)
{
	nrc_status_out *s = nrc_xcalloc(1, sizeof *s);
	s->id = id ? nrc_xstrdup(id) : NULL;
	s->job_id = job_id ? nrc_xstrdup(job_id) : NULL;
	return s;
}

/* Non-blocking connect bounded by a timeout, so that an address that
 * drops packets cannot hang the task. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len,
			  int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	int r = connect(fd, sa, len);
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n;
		while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
			;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			errno = soerr;
			return -1;
		}
		r = 0;
	}
	if (r < 0)
		return -1;
	fcntl(fd, F_SETFL, flags);
	/* A status server that stops reading must not block us forever. */
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return 0;
}

static int open_uri(const char *uri, int timeout_ms, char *why, size_t whylen)
{
	const char *colon = strrchr(uri, ':');
	if (strchr(uri, '/') || !colon) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(uri) >= sizeof sun.sun_path) {
			snprintf(why, whylen, "socket path is too long");
			return -1;
		}
		strcpy(sun.sun_path, uri);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect_within(fd, (struct sockaddr *)&sun,
					     sizeof sun, timeout_ms) < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	char *host = strndup(uri, (size_t)(colon - uri));
	/* "[::1]:8888" */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int g = getaddrinfo(host, colon + 1, &hints, &res);
	free(host);
	if (g) {
		snprintf(why, whylen, "%s", gai_strerror(g));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd >= 0 &&
		    connect_within(fd, a->ai_addr, a->ai_addrlen, timeout_ms) == 0)
			break;
		snprintf(why, whylen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int nrc_status_out_connect(nrc_status_out *s, const char *uri, int timeout_ms)
{
	char why[256] = "unknown error";
	int fd = open_uri(uri, timeout_ms, why, sizeof why);
	if (fd < 0) {
		nrc_error("status URI %s: cannot connect: %s; messages go to "
			 "stdout only (is the status server running?)",
			 uri, why);
		return -1;
	}
	s->sinks = nrc_xrealloc(s->sinks, (s->nsinks + 1) * sizeof *s->sinks);
	s->sinks[s->nsinks].uri = nrc_xstrdup(uri);
	s->sinks[s->nsinks].fd = fd;
	s->nsinks++;
	return 0;
}

void nrc_status_out_servers_only(nrc_status_out *s) { s->no_stdout = 1; }
void nrc_status_out_python(nrc_status_out *s) { s->python = 1; }

cJSON *nrc_status_avocado_form(const cJSON *msg)
{
	cJSON *m = cJSON_Duplicate(msg, 1);
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(m, "log");
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(m, "encoding");
	if (!cJSON_IsString(log) || !cJSON_IsString(enc))
		return m;
	cJSON *bytes = cJSON_CreateObject();
	if (!strcmp(enc->valuestring, "base64")) {
		/* Not text: Avocado's job writes the bytes as they are. */
		cJSON_AddStringToObject(bytes, "__base64_encoded__", log->valuestring);
		cJSON_DeleteItemFromObjectCaseSensitive(m, "encoding");
	} else {
		char *b = nrc_base64_encode(log->valuestring, strlen(log->valuestring));
		cJSON_AddStringToObject(bytes, "__base64_encoded__", b);
		free(b);
	}
	cJSON_ReplaceItemInObjectCaseSensitive(m, "log", bytes);
	return m;
}

static char *json_line(const cJSON *m, size_t *len)
{
	char *line = cJSON_PrintUnformatted(m);
	*len = strlen(line);
	line[(*len)++] = '\n'; /* replaces the NUL: sent with its length */
	return line;
}

void nrc_status_out_send(nrc_status_out *s, cJSON *msg)
{
	if (s->id) {
		cJSON_DeleteItemFromObjectCaseSensitive(msg, "id");
		cJSON_AddStringToObject(msg, "id", s->id);
	}
	if (s->job_id) {
		cJSON_DeleteItemFromObjectCaseSensitive(msg, "job_id");
		cJSON_AddStringToObject(msg, "job_id", s->job_id);
	}
	nrc_json_fix_utf8(msg); /* the ids come from the command line */
	size_t n;
	char *line;
	if (!s->no_stdout) {
		line = s->python ? nrc_python_repr_line(msg, &n) : json_line(msg, &n);
		/* stdout closed (| head): nothing more to say there. */
		(void)nrc_write_all(STDOUT_FILENO, line, n);
		free(line);
	}
	int live = 0;
	for (size_t i = 0; i < s->nsinks; i++)
		live |= s->sinks[i].fd >= 0;
	if (!live)
		return;
	/* Status servers read Avocado's form (DESIGN.md, "Avocado
	 * interoperability"). */
	cJSON *a = nrc_status_avocado_form(msg);
	line = json_line(a, &n);
	cJSON_Delete(a);
	for (size_t i = 0; i < s->nsinks; i++) {
		if (s->sinks[i].fd < 0)
			continue;
		if (send(s->sinks[i].fd, line, n, MSG_NOSIGNAL) == (ssize_t)n)
			continue;
		nrc_error("status URI %s: sending failed: %s; no more messages "
			 "go there",
			 s->sinks[i].uri, strerror(errno));
		close(s->sinks[i].fd);
		s->sinks[i].fd = -1;
	}
	free(line);
}

void nrc_status_out_free(nrc_status_out *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nsinks; i++) {
		if (s->sinks[i].fd >= 0)
			close(s->sinks[i].fd);
		free(s->sinks[i].uri);
	}
	free(s->sinks);
	free(s->id);
	free(s->job_id);
	free(s);
}

int nrc_result_known(const char *result)
{
	static const char *const results[] = {
		NR_RESULT_PASS, NR_RESULT_FAIL, NR_RESULT_ERROR, NR_RESULT_SKIP,
		NR_RESULT_WARN, NR_RESULT_CANCEL, NR_RESULT_INTERRUPTED, NULL};
	for (const char *const *r = results; result && *r; r++)
		if (!strcmp(result, *r))
			return 1;
	return 0;
}
