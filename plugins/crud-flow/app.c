#include "config.h"

#include "app.h"
#include "common/util.h"
#include "template.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int app_cmd_build(const cJSON *command, const cJSON *env, const cJSON *vars,
		  const char *dir, const char *const *extra, app_cmd *c, char *err,
		  size_t errlen)
{
	memset(c, 0, sizeof *c);
	template_ctx tc = {.vars = vars, .unique = ""};
	int n = cJSON_GetArraySize(command);
	c->argv = nrp_xcalloc((size_t)n + 1, sizeof *c->argv);
	for (int i = 0; i < n; i++) {
		c->argv[i] = template_expand(cJSON_GetArrayItem(command, i)->valuestring, &tc,
					     err, errlen);
		if (!c->argv[i])
			goto bad;
	}
	size_t ne = 0;
	while (environ[ne])
		ne++;
	size_t nx = 0;
	while (extra && extra[nx])
		nx++;
	size_t na = (size_t)cJSON_GetArraySize(env) + nx;
	c->envp = nrp_xcalloc(ne + na + 1, sizeof *c->envp);
	c->owned = nrp_xcalloc(na + 1, sizeof *c->owned);
	size_t no = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, env)
	{
		char *v = template_expand(it->valuestring, &tc, err, errlen);
		if (!v)
			goto bad;
		if (asprintf(&c->owned[no], "%s=%s", it->string, v) >= 0)
			no++;
		free(v);
	}
	for (size_t i = 0; i < nx; i++)
		c->owned[no++] = nrp_xstrdup(extra[i]);
	/* environ's entries, but those overridden. */
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		int over = 0;
		for (size_t j = 0; j < no && !over; j++) {
			size_t kl = strcspn(c->owned[j], "=");
			over = !strncmp(environ[i], c->owned[j], kl) && environ[i][kl] == '=';
		}
		if (!over)
			c->envp[k++] = environ[i];
	}
	for (size_t j = 0; j < no; j++)
		c->envp[k++] = c->owned[j];
	c->dir = nrp_xstrdup(dir);
	return 0;
bad:
	app_cmd_free(c);
	return -1;
}

void app_cmd_free(app_cmd *c)
{
	free_strv(c->argv);
	free_strv(c->owned);
	free(c->envp);
	free(c->dir);
	memset(c, 0, sizeof *c);
}

/* The preloader's request: {"argv": [...], "env": [...], "cwd": "..."}
 * on one line. */
static char *preload_request(const app_cmd *c, size_t *len)
{
	char cwd[PATH_MAX];
	if (!realpath(c->dir, cwd))
		return NULL;
	cJSON *r = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(r, "argv");
	for (size_t i = 0; c->argv[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(c->argv[i]));
	cJSON *e = cJSON_AddArrayToObject(r, "env");
	for (size_t i = 0; c->envp[i]; i++)
		cJSON_AddItemToArray(e, cJSON_CreateString(c->envp[i]));
	cJSON_AddStringToObject(r, "cwd", cwd);
	char *text = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	char *line = NULL;
	if (text && asprintf(&line, "%s\n", text) >= 0)
		*len = strlen(line);
	free(text);
	return line;
}

static void say(const char *what, const char *name, int e)
{
	char msg[512];
	int n = snprintf(msg, sizeof msg, "nrunner: %s (@%s)%s%s\n", what, name,
			 e ? ": " : "", e ? strerror(e) : "");
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* In the app's process, in place of exec: asks the preloader to start
 * the app, hands it stdin, stdout and stderr, and ends as the app ends.
 * Returns when no preloader listens (yet): the app is then executed. */
static void preload_client(const char *name, const char *req, size_t len)
{
	/* Only the preloader of this user gets the app's environment and
	 * files. */
	int s = nrp_abstract_connect(name);
	if (s < 0 && errno == EPERM) {
		say("refused: the app's preloader socket is another user's", name, 0);
		_exit(127);
	}
	if (s < 0 && errno == ECONNREFUSED) {
		say("the app's preloader is not listening; the app starts cold", name, 0);
		return;
	}
	if (s < 0) {
		say("cannot reach the app's preloader", name, errno);
		_exit(127);
	}
	/* The app gets the group's SIGTERM and has its grace: this process
	 * ends when the app does, as the app does. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	union {
		char buf[CMSG_SPACE(sizeof fds)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = {.iov_base = (void *)req, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			   .msg_controllen = sizeof ctl.buf};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(cm), fds, sizeof fds);
	ssize_t n;
	while ((n = sendmsg(s, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	size_t off = n > 0 ? (size_t)n : 0;
	while (n >= 0 && off < len) {
		n = send(s, req + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (n < 0) {
		say("cannot send the app's request to its preloader", name, errno);
		_exit(127);
	}
	/* The app's wait status, when it ends. */
	char line[32];
	size_t got = 0;
	while (got < sizeof line - 1) {
		n = read(s, line + got, sizeof line - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(line, '\n', got))
			break;
	}
	line[got] = '\0';
	char *end;
	long status = strtol(line, &end, 10);
	if (got == 0 || *end != '\n') {
		say("the app's preloader went away", name, 0);
		_exit(127);
	}
	if (WIFSIGNALED((int)status)) {
		int sig = WTERMSIG((int)status);
		/* The app dumped its core already, if it did. */
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		_exit(128 + sig);
	}
	_exit(WIFEXITED((int)status) ? WEXITSTATUS((int)status) : 127);
}

long app_start(const app_cmd *c, int out_fd, const char *preload, int *error)
{
	size_t reqlen = 0;
	char *req = NULL;
	*error = 0;
	if (preload) {
		/* What exec would have said about a command that is not there
		 * (exec runs in the app's directory). */
		if (strchr(c->argv[0], '/')) {
			char *path = NULL;
			if (c->argv[0][0] == '/' ? !(path = nrp_xstrdup(c->argv[0]))
						 : asprintf(&path, "%s/%s", c->dir, c->argv[0]) < 0)
				path = NULL;
			int ok = path && access(path, X_OK) == 0;
			*error = ok ? 0 : path ? errno : ENOMEM;
			free(path);
			if (!ok)
				return -1;
		}
		if (!(req = preload_request(c, &reqlen))) {
			*error = errno ? errno : ENOMEM;
			return -1;
		}
	}
	/* A close-on-exec pipe tells whether exec failed (as libuv does): it
	 * is closed by a successful exec, or carries errno. */
	int ep[2];
	pid_t parent = getpid(), pid = -1;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		*error = errno;
		free(req);
		return -1;
	}
	if ((pid = fork()) < 0) {
		*error = errno;
		close(ep[0]);
		close(ep[1]);
		free(req);
		return -1;
	}
	if (pid == 0) {
		close(ep[0]);
		setpgid(0, 0);
		int e2 = 0;
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
		    chdir(c->dir) < 0) {
			e2 = errno;
		} else {
			signal(SIGPIPE, SIG_DFL);
			if (req) {
				close(ep[1]); /* started, as far as exec goes */
				preload_client(preload, req, reqlen);
			}
			execvpe(c->argv[0], c->argv, c->envp);
			e2 = errno;
		}
		(void)!write(ep[1], &e2, sizeof e2);
		_exit(127);
	}
	free(req);
	setpgid(pid, pid); /* from this side too: no window without it */
	close(ep[1]);
	int rc = 0;
	ssize_t nread;
	while ((nread = read(ep[0], &rc, sizeof rc)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (nread == (ssize_t)sizeof rc && rc) {
		waitpid(pid, NULL, 0);
		*error = rc;
		return -1;
	}
	return (long)pid;
}

int app_exited(long pid)
{
	siginfo_t si = {0};
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == (pid_t)pid;
}

void app_stop(long pid, int grace_ms)
{
	if (pid <= 0)
		return;
	/* The whole process group: it and whatever it started.  No grace:
	 * SIGKILL at once, and wait only for the exit. */
	kill(-(pid_t)pid, grace_ms > 0 ? SIGTERM : SIGKILL);
	/* A pidfd says when it has exited, without polling; without one
	 * (Linux < 5.3, valgrind), ask every 10 ms. */
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		while (poll(&p, 1, grace_ms) < 0 && errno == EINTR)
			;
		close(pfd);
	} else {
		for (int waited = 0; waited < grace_ms && !app_exited(pid); waited += 10) {
			struct timespec ts = {0, 10 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	/* Until it is reaped, the leader (a zombie at worst) holds the group
	 * id, so this kill cannot reach an unrelated group: whatever is left
	 * goes now. */
	kill(-(pid_t)pid, SIGKILL);
}
