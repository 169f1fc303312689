#include "config.h"

#include "spawner.h"
#include "host.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int nrc_spawner_parse(const char *arg, nrc_spawner *out, char *err,
		     size_t errlen)
{
	if (!strcmp(arg, "process"))
		*out = NR_SPAWN_PROCESS;
	else if (!strcmp(arg, "namespace"))
		*out = NR_SPAWN_NAMESPACE;
	else if (!strcmp(arg, "namespace:net"))
		*out = NR_SPAWN_NAMESPACE_NET;
	else {
		snprintf(err, errlen, "--spawner %s: give process, namespace or "
			 "namespace:net", arg);
		return -1;
	}
	return 0;
}

/* --- the private /tmp and /dev/shm --------------------------------------- */

/* The entries of /tmp and /dev/shm that the task names stay visible in
 * its private ones: its working and output directories, its uri, its
 * arguments, its environment and the job's data (ABI 1.4), where a
 * private database server's socket directory reaches the task. */
#define MAX_KEPT 64

typedef struct kept {
	const char *base; /* "/tmp" or "/dev/shm" */
	char name[256];
	int fd;           /* O_PATH, opened before the tmpfs covers it */
} kept;

typedef struct keeper {
	kept k[MAX_KEPT];
	size_t n;
} keeper;

static void keep(keeper *kp, const char *base, const char *name, size_t len)
{
	if (!len || len >= sizeof kp->k[0].name || kp->n == MAX_KEPT ||
	    (len <= 2 && name[0] == '.'))
		return;
	for (size_t i = 0; i < kp->n; i++)
		if (kp->k[i].base == base && strlen(kp->k[i].name) == len &&
		    !memcmp(kp->k[i].name, name, len))
			return;
	kept *k = &kp->k[kp->n];
	k->base = base;
	memcpy(k->name, name, len);
	k->name[len] = '\0';
	char *path = nrc_xasprintf("%s/%s", base, k->name);
	k->fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (k->fd >= 0)
		kp->n++;
}

/* Finds "/tmp/NAME" and "/dev/shm/NAME" in s, at its start or after a
 * separator (as in "host=/dev/shm/x port=5432" or "PATH=/a:/tmp/b"). */
static void scan(keeper *kp, const char *s)
{
	static const char *const bases[] = {"/tmp", "/dev/shm"};
	for (size_t b = 0; b < 2; b++) {
		size_t bl = strlen(bases[b]);
		for (const char *p = strstr(s, bases[b]); p; p = strstr(p + 1, bases[b])) {
			if (p > s && !strchr(" \t=:,;'\"(", p[-1]))
				continue;
			if (p[bl] != '/')
				continue;
			const char *name = p + bl + 1;
			keep(kp, bases[b], name, strcspn(name, "/ \t:;,'\"&?)"));
		}
	}
}

static void scan_json(keeper *kp, const cJSON *v)
{
	if (cJSON_IsString(v)) {
		scan(kp, v->valuestring);
		return;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, v) scan_json(kp, e);
}

static void find_kept(keeper *kp, const nrc_task_spec *spec)
{
	char cwd[4096];
	if (getcwd(cwd, sizeof cwd))
		scan(kp, cwd);
	if (!spec)
		return;
	if (spec->output_dir)
		scan(kp, spec->output_dir);
	const nrc_runnable *r = spec->runnable;
	if (r) {
		if (r->uri)
			scan(kp, r->uri);
		scan_json(kp, r->args);
		scan_json(kp, r->kwargs);
		scan_json(kp, r->config);
	}
	for (char **e = environ; *e; e++)
		scan(kp, *e);
	scan_json(kp, nrc_job_data());
}

/* Covers base with a fresh tmpfs, and binds the kept entries back. */
static int private_dir(const char *base, keeper *kp, const char **what)
{
	struct stat st;
	if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0; /* nothing to hide */
	*what = base;
	if (mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return -1;
	for (size_t i = 0; i < kp->n; i++) {
		kept *k = &kp->k[i];
		if (k->base != base)
			continue;
		char *dst = nrc_xasprintf("%s/%s", base, k->name);
		char src[64];
		snprintf(src, sizeof src, "/proc/self/fd/%d", k->fd);
		struct stat ks;
		int made = -1;
		if (fstat(k->fd, &ks) == 0) {
			if (S_ISDIR(ks.st_mode)) {
				made = mkdir(dst, 0700);
			} else if (S_ISLNK(ks.st_mode)) {
				char target[4096];
				ssize_t n = readlinkat(k->fd, "", target, sizeof target - 1);
				if (n >= 0) {
					target[n] = '\0';
					(void)!symlink(target, dst);
				}
			} else {
				made = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
				if (made >= 0)
					close(made), made = 0;
			}
		}
		int rc = made < 0 ? 0 : mount(src, dst, "none", MS_BIND | MS_REC, NULL);
		free(dst);
		if (rc < 0) {
			*what = "bind mount";
			return -1;
		}
	}
	return 0;
}

/* --- namespaces ------------------------------------------------------------ */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* As a user: the same uid and gid inside the user namespace, so that
 * files keep their owner. */
static int map_ids(uid_t uid, gid_t gid, const char **what)
{
	char line[64];
	*what = "/proc/self/setgroups";
	if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		return -1;
	*what = "/proc/self/uid_map";
	snprintf(line, sizeof line, "%lu %lu 1", (unsigned long)uid, (unsigned long)uid);
	if (write_file("/proc/self/uid_map", line) < 0)
		return -1;
	*what = "/proc/self/gid_map";
	snprintf(line, sizeof line, "%lu %lu 1", (unsigned long)gid, (unsigned long)gid);
	return write_file("/proc/self/gid_map", line);
}

static int loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* The process outside: waits for the namespace's init and ends as it
 * did, so that the runner sees the task's own exit status. */
static void __attribute__((noreturn)) wait_for_init(pid_t init)
{
	int status;
	while (waitpid(init, &status, 0) < 0)
		if (errno != EINTR)
			_exit(127);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(status));
}

int nrc_spawner_enter(nrc_spawner s, const nrc_task_spec *spec, const char **what)
{
	static const char *dummy;
	if (!what)
		what = &dummy;
	if (s == NR_SPAWN_PROCESS)
		return 0;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int flags = CLONE_NEWNS | CLONE_NEWPID;
	if (s == NR_SPAWN_NAMESPACE_NET)
		flags |= CLONE_NEWNET;
	if (uid != 0)
		flags |= CLONE_NEWUSER;
	keeper kp = {.n = 0};
	int rc = -1;
	*what = "unshare";
	if (unshare(flags) < 0)
		goto out;
	if ((flags & CLONE_NEWUSER) && map_ids(uid, gid, what) < 0)
		goto out;
	/* Nothing mounted here may reach the rest of the system. */
	*what = "making / a private mount";
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		goto out;
	*what = "bringing loopback up";
	if ((flags & CLONE_NEWNET) && loopback_up() < 0)
		goto out;
	/* Opened in the new mount namespace: a bind mount takes its source
	 * from the caller's own namespace only. */
	find_kept(&kp, spec);
	if (private_dir("/tmp", &kp, what) < 0 ||
	    private_dir("/dev/shm", &kp, what) < 0)
		goto out;
	for (size_t i = 0; i < kp.n; i++)
		close(kp.k[i].fd);
	kp.n = 0;
	fflush(NULL);
	*what = "fork";
	pid_t init = fork();
	if (init < 0)
		goto out;
	if (init > 0)
		wait_for_init(init);
	/* The task's process is the namespace's init: when it exits, the
	 * kernel kills whatever it left.  Its own /proc shows only them;
	 * /proc is a nicety, so a failure to mount it is not fatal. */
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	rc = 0;
out:
	for (size_t i = 0; i < kp.n; i++)
		close(kp.k[i].fd);
	return rc;
}

int nrc_spawner_check(nrc_spawner s, char *err, size_t errlen)
{
	if (s == NR_SPAWN_PROCESS)
		return 0;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "--spawner: pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		const char *what = "";
		if (nrc_spawner_enter(s, NULL, &what) < 0) {
			char line[256];
			int n = snprintf(line, sizeof line, "%s: %s", what,
					 strerror(errno));
			(void)!write(p[1], line, (size_t)n);
			_exit(1);
		}
		_exit(0); /* the namespace's init: it could be made */
	}
	close(p[1]);
	char why[256] = "";
	ssize_t n = pid > 0 ? read(p[0], why, sizeof why - 1) : -1;
	why[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int status = 0;
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, errlen, "--spawner %s: cannot isolate tasks here: %s; it "
		 "needs root, or unprivileged user namespaces (sysctl "
		 "kernel.unprivileged_userns_clone=1 and user.max_user_namespaces "
		 "> 0); use --spawner process",
		 s == NR_SPAWN_NAMESPACE_NET ? "namespace:net" : "namespace",
		 *why ? why : pid < 0 ? strerror(errno) : "the test process failed");
	return -1;
}
