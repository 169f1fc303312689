/* The private server: a throwaway PostgreSQL cluster for one job, when
 * the user names none (DESIGN.md, "Database by default"). */
#include "config.h"

#include "common/util.h"
#include "pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define PRIVATE_PREFIX "nrunner-pg."
#define READY_TIMEOUT_MS 30000
#define START_TRIES 3

static pid_t server_pid = -1;
static char server_dir[PATH_MAX];
static char server_port[16]; /* its TCP port, and its socket's */

/* The template cache (pg.h): the keys of the templates the job wants,
 * the entry it started from or would keep, and whether it built one. */
#define TPL_WANT_MAX 32
static unsigned long long tpl_want[TPL_WANT_MAX];
static size_t ntpl_want;
static char tpl_entry[PATH_MAX + 96];
static int tpl_from_cache, tpl_built;


/* initdb and postgres: pg_config --bindir's directory when it has them,
 * else the newest /usr/lib/postgresql/N/bin (Debian's layout). */
static int find_bindir(char *out, size_t len)
{
	FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
	if (p) {
		char line[PATH_MAX] = "";
		if (fgets(line, sizeof line, p))
			line[strcspn(line, "\n")] = '\0';
		pclose(p);
		char probe[PATH_MAX + 16];
		snprintf(probe, sizeof probe, "%s/initdb", line);
		if (line[0] && access(probe, X_OK) == 0) {
			snprintf(out, len, "%s", line);
			return 0;
		}
	}
	glob_t g;
	int found = -1;
	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0) {
		/* The highest version number. */
		long best = -1;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
			if (v > best) {
				best = v;
				snprintf(out, len, "%s", g.gl_pathv[i]);
				*strrchr(out, '/') = '\0';
				found = 0;
			}
		}
		globfree(&g);
	}
	return found;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A job that died (SIGKILL, power cut) left its directory: remove those
 * whose owner is gone.  Its server died with it (parent-death signal). */
static void remove_stale(const char *tmp)
{
	DIR *d = opendir(tmp);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, PRIVATE_PREFIX, strlen(PRIVATE_PREFIX)))
			continue;
		char path[PATH_MAX], owner[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
		snprintf(owner, sizeof owner, "%s/owner.pid", path);
		FILE *f = fopen(owner, "r");
		long pid = 0;
		if (f) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		/* No owner yet: another job may have just made it. */
		struct stat st;
		if (pid <= 0 && stat(path, &st) == 0 && time(NULL) - st.st_mtime < 60)
			continue;
		rm_rf(path);
	}
	closedir(d);
}

/* --- the initdb cache ------------------------------------------------------
 * initdb takes about half a second, most of a job's set-up; its result
 * depends only on the PostgreSQL build and the options.  So the first job
 * keeps a copy of the fresh cluster in
 * $XDG_CACHE_HOME/nrunner/pg-initdb/KEY (never started, ~40 MB), and later
 * jobs copy it (cp -a, about 50 ms on tmpfs) instead of running initdb.
 * The key hashes the binaries' identity, the options and the owner; a
 * new PostgreSQL build gets a new key.  NRUNNER_PG_INITDB_CACHE=off turns
 * it off. */

/* $XDG_CACHE_HOME/nrunner/<leaf> (or ~/.cache/...). */
static int cache_dir(const char *leaf, char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		snprintf(out, len, "%s/nrunner/%s", xdg, leaf);
	else if (home && home[0] == '/')
		snprintf(out, len, "%s/.cache/nrunner/%s", home, leaf);
	else
		return -1;
	return 0;
}

static int initdb_cache_root(char *out, size_t len)
{
	const char *v = getenv("NRUNNER_PG_INITDB_CACHE");
	if (v && !strcmp(v, "off"))
		return -1;
	return cache_dir("pg-initdb", out, len);
}

/* The cache is used only where no other user could have put or swapped
 * anything: its directory and the one above are real directories of this
 * user, writable by no one else (root with another user's HOME, say). */
static int cache_trusted(const char *root)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", root);
	for (int level = 0; level < 2; level++) {
		struct stat st;
		if (lstat(dir, &st) < 0)
			return errno == ENOENT;
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
			return 0;
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	return 1;
}

/* The name of the fresh cluster's cache entry, "<16 hex>-<uid>". */
static int initdb_key(const char *bindir, char *const init_argv[],
		      const struct passwd *pw, char *out, size_t len)
{
	unsigned long long h = NRP_FNV1A_INIT;
	char id[PATH_MAX + 128];
	static const char *const bins[] = {"initdb", "postgres", NULL};
	for (const char *const *b = bins; *b; b++) {
		struct stat st;
		snprintf(id, sizeof id, "%s/%s", bindir, *b);
		if (stat(id, &st) < 0)
			return -1;
		snprintf(id + strlen(id), sizeof id - strlen(id), ":%lld:%lld:%lld",
			 (long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime);
		h = nrp_fnv1a(h, id);
	}
	/* initdb writes the time zone it finds into postgresql.conf. */
	char zone[PATH_MAX] = "";
	ssize_t zl = readlink("/etc/localtime", zone, sizeof zone - 1);
	zone[zl > 0 ? zl : 0] = '\0';
	h = nrp_fnv1a(h, getenv("TZ"));
	h = nrp_fnv1a(h, zone);
	/* The options, but -D (the data directory) and its value. */
	for (size_t i = 1; init_argv[i]; i++) {
		if (!strcmp(init_argv[i], "-D") && init_argv[i + 1]) {
			i++;
			continue;
		}
		h = nrp_fnv1a(h, init_argv[i]);
	}
	snprintf(out, len, "%016llx-%ld", h, (long)(pw ? pw->pw_uid : geteuid()));
	return 0;
}

static int initdb_cache_dir(const char *key, char *out, size_t len)
{
	char root[PATH_MAX];
	if (!key[0] || initdb_cache_root(root, sizeof root) < 0 ||
	    !cache_trusted(root))
		return -1;
	snprintf(out, len, "%s/%s", root, key);
	return 0;
}


/* Waits for a child of the job's set-up (initdb, cp).  The job helper's
 * signals do not restart waitpid(): when the set-up is interrupted
 * (Ctrl-C, SIGTERM, --job-timeout), the child's group is killed and
 * reaped, so that nothing writes into a directory being removed, and -1
 * is returned. */
static int wait_setup_child(pid_t pid, int *status)
{
	for (;;) {
		if (nrp_jd_interrupted()) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		if (waitpid(pid, status, 0) == pid)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* cp -a FROM TO, quietly; 0 when it worked. */
static int copy_tree(const char *from, const char *to)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execl("/bin/cp", "cp", "-a", "--", from, to, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || wait_setup_child(pid, &status) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Keeps a copy of the cluster `data` in `cached`: made aside, then renamed
 * into place, so a cache entry is whole or absent.  Copies that a killed
 * job left aside are removed. */
static void cache_put(const char *data, const char *cached)
{
	char root[PATH_MAX + 64], tmp[2 * PATH_MAX + 128], from[PATH_MAX + 64];
	snprintf(root, sizeof root, "%s", cached);
	/* mkdir -p of its parent, the directories made private. */
	for (char *p = root + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(root, 0700) < 0 && errno != EEXIST)
			return;
		*p = '/';
	}
	*strrchr(root, '/') = '\0';
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *t = strstr(e->d_name, ".tmp.");
		long pid = t ? strtol(t + 5, NULL, 10) : 0;
		if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			snprintf(tmp, sizeof tmp, "%s/%s", root, e->d_name);
			rm_rf(tmp);
		}
	}
	if (d)
		closedir(d);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld.XXXXXX", cached, (long)getpid());
	snprintf(from, sizeof from, "%s/.", data);
	if (!mkdtemp(tmp))
		return;
	if (copy_tree(from, tmp) < 0 || rename(tmp, cached) < 0)
		rm_rf(tmp);
}

/* Removes a broken entry: renamed first, so that a job copying it now
 * fails (and runs initdb) rather than copying half of it. */
static void cache_drop(const char *cached)
{
	char gone[PATH_MAX + 96];
	snprintf(gone, sizeof gone, "%s.tmp.%ld.gone", cached, (long)getpid());
	if (rename(cached, gone) == 0)
		rm_rf(gone);
}

/* --- the template cache ----------------------------------------------------
 * A template's build can take seconds (a real app's migrate and loaddata),
 * and the private server throws it away with the job.  So a job that built
 * one on its private server keeps the cluster: at its end the server is
 * shut down cleanly with nothing but its templates in it, and the cluster
 * is copied to $XDG_CACHE_HOME/nrunner/pg-templates/<initdb key>-<key>,
 * where <key> hashes the keys of the templates the job wanted
 * (nrpg_template_key).  A later job that wants the same templates starts
 * its server from a copy of that entry instead of the fresh cluster, finds
 * them complete, and builds nothing.  The NRUNNER_PG_TEMPLATE_CACHE most
 * recently used entries are kept (default 3; 0 or off: none).  Two jobs
 * at once: entries are written aside and renamed into place; a job
 * copying one holds a shared lock on .lock, and pruning (an exclusive
 * lock, never waited for) renames an entry away before it removes it. */

#define TPL_CACHE_DEFAULT 3

/* The number of entries kept; 0 off; -1 a bad value. */
static long tpl_cache_max(void)
{
	const char *v = getenv("NRUNNER_PG_TEMPLATE_CACHE");
	if (!v || !*v)
		return TPL_CACHE_DEFAULT;
	if (!strcmp(v, "off"))
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	return *end || n < 0 || n > 1000 ? -1 : n;
}

int nrpg_template_cache_root(char *out, size_t len)
{
	return cache_dir("pg-templates", out, len);
}

void nrpg_template_cache_want(const nrpg_opts *o)
{
	unsigned long long k;
	char err[512];
	if ((o->dsn && *o->dsn) || nrpg_template_key(o, &k, err, sizeof err) < 0)
		return; /* another server; or the build will say what is wrong */
	for (size_t i = 0; i < ntpl_want && i < TPL_WANT_MAX; i++)
		if (tpl_want[i] == k)
			return;
	if (ntpl_want < TPL_WANT_MAX)
		tpl_want[ntpl_want] = k;
	ntpl_want++; /* past the end: too many to cache */
}

void nrpg_template_cache_built(void)
{
	tpl_built = 1;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a,
			   y = *(const unsigned long long *)b;
	return x < y ? -1 : x > y;
}

/* The entry for the job's templates on a cluster of `key` (initdb_key). */
static int tpl_cache_entry(const char *key, char *out, size_t len)
{
	char root[PATH_MAX];
	if (!key[0] || !ntpl_want || ntpl_want > TPL_WANT_MAX || tpl_cache_max() <= 0 ||
	    nrpg_template_cache_root(root, sizeof root) < 0 || !cache_trusted(root))
		return -1;
	qsort(tpl_want, ntpl_want, sizeof *tpl_want, cmp_ull);
	unsigned long long h = NRP_FNV1A_INIT;
	for (size_t i = 0; i < ntpl_want; i++) {
		char hex[24];
		snprintf(hex, sizeof hex, "%016llx", tpl_want[i]);
		h = nrp_fnv1a(h, hex);
	}
	snprintf(out, len, "%s/%s-%016llx", root, key, h);
	return 0;
}

/* flock() on the cache's .lock: a descriptor, or -1. */
static int tpl_cache_lock(const char *entry, int how)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof path, "%s", entry);
	char *slash = strrchr(path, '/');
	if (!slash)
		return -1;
	snprintf(slash, sizeof path - (size_t)(slash - path), "/.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && flock(fd, how) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Copies the entry to data under the shared lock, and marks it used. */
static int tpl_cache_get(const char *entry, const char *data)
{
	int lk = tpl_cache_lock(entry, LOCK_SH);
	if (lk < 0)
		return -1;
	int rc = access(entry, F_OK) == 0 ? copy_tree(entry, data) : -1;
	if (rc == 0)
		utimensat(AT_FDCWD, entry, NULL, 0);
	close(lk);
	return rc;
}

typedef struct tpl_entry_age {
	char name[NAME_MAX + 1];
	struct timespec used;
} tpl_entry_age;

static int newer_first(const void *a, const void *b)
{
	const struct timespec *x = &((const tpl_entry_age *)a)->used,
			      *y = &((const tpl_entry_age *)b)->used;
	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

/* Keeps the `keep` most recently used entries of the entry's directory. */
static void tpl_cache_prune(const char *entry, long keep)
{
	char root[PATH_MAX + 96];
	snprintf(root, sizeof root, "%s", entry);
	*strrchr(root, '/') = '\0';
	int lk = tpl_cache_lock(entry, LOCK_EX | LOCK_NB);
	if (lk < 0)
		return; /* a job is copying one: the next job prunes */
	DIR *d = opendir(root);
	tpl_entry_age *v = NULL;
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp."))
			continue;
		char path[2 * PATH_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", root, e->d_name);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		tpl_entry_age *nv = nrp_xrealloc(v, (n + 1) * sizeof *v);
		if (!nv)
			break;
		v = nv;
		snprintf(v[n].name, sizeof v[n].name, "%s", e->d_name);
		v[n++].used = st.st_mtim;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof *v, newer_first);
	char (*gone)[2 * PATH_MAX + 64] = n > (size_t)keep ? nrp_xcalloc(n, sizeof *gone) : NULL;
	size_t ng = 0;
	for (size_t i = (size_t)keep; gone && i < n; i++) {
		char path[2 * PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", root, v[i].name);
		snprintf(gone[ng], sizeof gone[ng], "%s.tmp.%ld.gone", path, (long)getpid());
		if (rename(path, gone[ng]) == 0)
			ng++;
	}
	close(lk);
	for (size_t i = 0; i < ng; i++)
		rm_rf(gone[i]);
	free(gone);
	free(v);
}

int nrpg_template_cache_clean(int dry_run)
{
	char root[PATH_MAX], probe[PATH_MAX + 16];
	if (nrpg_template_cache_root(root, sizeof root) < 0 || !cache_trusted(root))
		return 0;
	snprintf(probe, sizeof probe, "%s/x", root);
	DIR *d = opendir(root);
	if (!d)
		return 0;
	/* Away from under no job that is copying one. */
	int lk = dry_run ? -1 : tpl_cache_lock(probe, LOCK_EX);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[2 * PATH_MAX], gone[2 * PATH_MAX + 64];
		snprintf(path, sizeof path, "%s/%s", root, e->d_name);
		snprintf(gone, sizeof gone, "%s.tmp.%ld.gone", path, (long)getpid());
		if (!dry_run && (rename(path, gone) < 0 || (rm_rf(gone), 0))) {
			printf("could not remove %s: %s\n", path, strerror(errno));
			continue;
		}
		printf("%s %s (a private server's cluster with its templates, kept for "
		       "later jobs)\n", dry_run ? "would remove" : "removed", path);
		n++;
	}
	closedir(d);
	if (lk >= 0)
		close(lk);
	return n;
}

/* At the job's end, when it built a template on a server it did not start
 * from the cache: only the templates stay, the server shuts down cleanly,
 * and its cluster goes into the cache.  0 when the server is stopped. */
static int tpl_cache_save(const char *data)
{
	if (!tpl_built || tpl_from_cache || !tpl_entry[0] || nrp_jd_interrupted())
		return -1;
	char *ci = nrpg_conninfo_of(server_dir, server_port, "postgres", "postgres");
	PGconn *c = PQconnectdb(ci);
	free(ci);
	int ok = PQstatus(c) == CONNECTION_OK;
	/* What the flows kept or left goes with the job. */
	PGresult *r = ok ? PQexec(c, "SELECT datname FROM pg_database WHERE NOT "
				     "datistemplate AND datname <> 'postgres'")
			 : NULL;
	ok = ok && PQresultStatus(r) == PGRES_TUPLES_OK;
	for (int i = 0; ok && i < PQntuples(r); i++) {
		char err[512];
		ok = nrpg_drop_db(c, PQgetvalue(r, i, 0), err, sizeof err) == 0;
	}
	PQclear(r);
	PQfinish(c);
	if (!ok)
		return -1;
	/* A fast shutdown: a checkpoint, then a cluster any server can
	 * start from without recovery. */
	int status = 0;
	kill(server_pid, SIGINT);
	while (waitpid(server_pid, &status, 0) < 0 && errno == EINTR)
		;
	server_pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		cache_put(data, tpl_entry);
		tpl_cache_prune(tpl_entry, tpl_cache_max());
	}
	return 0;
}

/* Runs `argv` as the unprivileged user (when root), in its own session,
 * output to log.  With `tied`, it dies with this process. */
static pid_t spawn_as(const struct passwd *pw, char *const argv[], const char *log,
		      int tied)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* Its own session: a Ctrl-C on the terminal reaches nrunner, which
	 * lets the tasks drop their databases before stopping the server. */
	setsid();
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	int null = open("/dev/null", O_RDONLY);
	if (fd < 0 || null < 0)
		_exit(126);
	dup2(null, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (pw && (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		   setuid(pw->pw_uid) < 0))
		_exit(126);
	/* Set after the identity change, which clears it. */
	if (tied && (prctl(PR_SET_PDEATHSIG, SIGQUIT) < 0 || getppid() != parent))
		_exit(126);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv(argv[0], argv);
	_exit(127);
}


int nrpg_bindir(char *out, size_t len)
{
	return find_bindir(out, len);
}

/* Who may connect, and how: trust on the Unix socket, which only the
 * server's user (and root, which runs the tasks) can reach; a password
 * (SCRAM) over TCP, which every local user can reach.  Never trust there. */
static int write_hba(const char *path, const struct passwd *pw)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("# nrunner's private server\n"
	      "local all all trust\n"
	      "host all all 127.0.0.1/32 scram-sha-256\n", f);
	int bad = fclose(f) != 0;
	if (!bad && pw && chown(path, pw->pw_uid, pw->pw_gid) < 0)
		bad = 1;
	return bad ? -1 : 0;
}

/* The job's password for TCP connections: random, new for every job,
 * given to the server as a SCRAM verifier, so that neither its log nor
 * its catalog holds it in clear.  The verifier costs about 10 ms of
 * PBKDF2: it is made while the server starts.  libpq needs a connection
 * object for it, not a connection: one that failed at once will do. */
static char *make_password(char pass[33], char *err, size_t errlen)
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		nrp_fail(err, errlen, "no random bytes for the private server's password: %s",
			strerror(errno));
		return NULL;
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(pass + 2 * i, 3, "%02x", b[i]);
	explicit_bzero(b, sizeof b);
	PGconn *none = PQconnectStart("host=/nonexistent/nrunner port=1");
	char *ver = none ? PQencryptPasswordConn(none, pass, "postgres", "scram-sha-256") : NULL;
	if (!ver)
		nrp_fail(err, errlen, "cannot make the private server's password: %s",
			none ? PQerrorMessage(none) : "out of memory");
	PQfinish(none);
	return ver;
}

static int set_password(const char *conninfo, const char *verifier, char *err,
			size_t errlen)
{
	PGconn *c = PQconnectdb(conninfo);
	char *lit = PQstatus(c) == CONNECTION_OK
			    ? PQescapeLiteral(c, verifier, strlen(verifier)) : NULL;
	char sql[512];
	snprintf(sql, sizeof sql, "ALTER ROLE postgres PASSWORD %s", lit ? lit : "NULL");
	PGresult *r = lit ? PQexec(c, sql) : NULL;
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		nrp_fail(err, errlen, "cannot set the private server's password: %s",
			PQerrorMessage(c));
	PQclear(r);
	PQfreemem(lit);
	PQfinish(c);
	return ok ? 0 : -1;
}

int nrpg_private_start(char *err, size_t errlen)
{
	char pass[33] = "", *verifier = NULL;
	/* Another plugin of the job may have started it already. */
	if (server_pid > 0 || nrpg_server_named() || nrp_jd_get(NRPG_KEY_CONNINFO))
		return 0;
	char bindir[PATH_MAX];
	if (find_bindir(bindir, sizeof bindir) < 0)
		return nrp_fail(err, errlen, "no PostgreSQL server is named (dsn=, PGHOST) "
			    "and none is installed to start a private one: install "
			    "Debian's postgresql package, or name a server");
	if (tpl_cache_max() < 0)
		return nrp_fail(err, errlen, "NRUNNER_PG_TEMPLATE_CACHE=%s: the number of "
			       "template clusters to keep (default %d), or off",
			       getenv("NRUNNER_PG_TEMPLATE_CACHE"), TPL_CACHE_DEFAULT);
	const struct passwd *pw = NULL;
	if (geteuid() == 0) {
		/* initdb and postgres refuse to run as root. */
		pw = getpwnam("postgres");
		if (!pw)
			pw = getpwnam("nobody");
		if (!pw)
			return nrp_fail(err, errlen, "running as root, and there is no "
				    "'postgres' user to run the private server as");
	}
	/* A cluster thrown away after the job is best in memory: on tmpfs a
	 * template clone takes about 8 ms, on this disk 30-240 ms.
	 * NRUNNER_PG_TMPDIR chooses another place. */
	const char *tmp = getenv("NRUNNER_PG_TMPDIR");
	struct statvfs vfs;
	if (!tmp || !*tmp) {
		if (statvfs("/dev/shm", &vfs) == 0 && access("/dev/shm", W_OK) == 0 &&
		    (unsigned long long)vfs.f_bavail * vfs.f_frsize > (512ULL << 20))
			tmp = "/dev/shm";
		else if (!(tmp = getenv("TMPDIR")) || !*tmp)
			tmp = "/tmp";
	}
	remove_stale(tmp);
	snprintf(server_dir, sizeof server_dir, "%s/" PRIVATE_PREFIX "XXXXXX", tmp);
	if (!mkdtemp(server_dir))
		return nrp_fail(err, errlen, "%s: cannot create a directory for the private "
			    "server: %s", tmp, strerror(errno));
	char path[PATH_MAX + 64], data[PATH_MAX + 16], log[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/owner.pid", server_dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	snprintf(data, sizeof data, "%s/data", server_dir);
	snprintf(log, sizeof log, "%s/server.log", server_dir);
	/* Trust authentication on a socket only its owner (and root, which
	 * runs the tasks) can reach. */
	if (pw && (chown(server_dir, pw->pw_uid, pw->pw_gid) < 0 ||
		   chmod(server_dir, 0700) < 0)) {
		nrp_fail(err, errlen, "%s: cannot hand it to user %s: %s", server_dir,
		     pw->pw_name, strerror(errno));
		goto failed;
	}
	int fd = open(log, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) {
		if (pw && fchown(fd, pw->pw_uid, pw->pw_gid) < 0)
			fd = fd; /* the server then fails to log; reported below */
		close(fd);
	}

	char initdb[PATH_MAX + 16], postgres[PATH_MAX + 16];
	snprintf(initdb, sizeof initdb, "%s/initdb", bindir);
	snprintf(postgres, sizeof postgres, "%s/postgres", bindir);
	/* A throwaway cluster: trust on its own socket only, no fsync. */
	char *init_argv[] = {initdb, "-D", data, "-U", "postgres", "-A", "trust",
			     "-E", "UTF8", "--locale=C", "--no-sync", NULL};
	char cached[PATH_MAX + 64], key[64] = "";
	if (initdb_key(bindir, init_argv, pw, key, sizeof key) < 0)
		key[0] = '\0';
	int cacheable = initdb_cache_dir(key, cached, sizeof cached) == 0;
	tpl_from_cache = tpl_built = 0;
	if (tpl_cache_entry(key, tpl_entry, sizeof tpl_entry) < 0)
		tpl_entry[0] = '\0';
	int status = 0, from_cache = 0;
again:
	/* The job's templates ready built, else a fresh cluster. */
	tpl_from_cache = tpl_entry[0] && tpl_cache_get(tpl_entry, data) == 0;
	if (!tpl_from_cache)
		rm_rf(data); /* a partial copy */
	from_cache = tpl_from_cache ||
		     (cacheable && access(cached, F_OK) == 0 && copy_tree(cached, data) == 0);
	if (!from_cache) {
		rm_rf(data); /* a partial copy */
		pid_t pid = nrp_jd_interrupted() ? -1 : spawn_as(pw, init_argv, log, 1);
		int waited = pid > 0 && wait_setup_child(pid, &status) == 0;
		if (!waited && nrp_jd_interrupted()) {
			nrp_fail(err, errlen, "interrupted while initdb made the private server");
			goto failed;
		}
		if (!waited || !WIFEXITED(status) || WEXITSTATUS(status)) {
			char tail[2048];
			nrp_log_tail(log, tail, sizeof tail);
			nrp_fail(err, errlen, "initdb failed for the private server: %s", tail);
			goto failed;
		}
		if (cacheable)
			cache_put(data, cached);
	}
	char hba[PATH_MAX + 32], hba_opt[PATH_MAX + 48], port_s[16], port_opt[32];
	snprintf(hba, sizeof hba, "%s/pg_hba.conf", server_dir);
	snprintf(hba_opt, sizeof hba_opt, "hba_file=%s", hba);
	if (write_hba(hba, pw) < 0) {
		nrp_fail(err, errlen, "%s: cannot write the private server's pg_hba.conf: %s", hba,
			strerror(errno));
		goto failed;
	}
	int tries = 0;
start:
	/* Besides the socket, 127.0.0.1 on a free port: apps build their
	 * database URL from a host and a port (the socket's name carries the
	 * same port).  Another process may take the port before the server
	 * binds it: the start is then tried again on another (START_TRIES). */
	snprintf(port_s, sizeof port_s, "%d", nrp_loopback_port());
	snprintf(server_port, sizeof server_port, "%s", port_s);
	snprintf(port_opt, sizeof port_opt, "port=%s", port_s);
	char *pg_argv[] = {postgres, "-D", data, "-k", server_dir,
			   "-c", "listen_addresses=127.0.0.1",
			   "-c", port_opt,
			   "-c", hba_opt,
			   "-c", "password_encryption=scram-sha-256",
			   "-c", "fsync=off",
			   "-c", "synchronous_commit=off",
			   "-c", "full_page_writes=off",
			   "-c", "max_connections=200",
			   /* Shared memory segments as files in the data
			    * directory, so they go with it even after a kill. */
			   "-c", "dynamic_shared_memory_type=mmap",
			   "-c", "unix_socket_permissions=0700",
			   NULL};
	server_pid = spawn_as(pw, pg_argv, log, 1);
	if (server_pid < 0) {
		nrp_fail(err, errlen, "cannot start postgres: %s", strerror(errno));
		goto failed;
	}
	if (!verifier && !(verifier = make_password(pass, err, errlen))) {
		kill(server_pid, SIGQUIT);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
		goto failed;
	}
	/* Ready when it answers on its socket.  libpq has no event for a
	 * server coming up, so ask with a short back-off, and stop at once
	 * if the server exits. */
	char conninfo[PATH_MAX + 128];
	snprintf(conninfo, sizeof conninfo, "host=%s port=%s dbname=postgres "
		 "user=postgres connect_timeout=5", server_dir, port_s);
	long waited = 0, step = 1;
	for (;;) {
		if (PQping(conninfo) == PQPING_OK)
			break;
		if (from_cache && waitpid(server_pid, &status, WNOHANG) == server_pid) {
			char tail[2048];
			nrp_log_tail(log, tail, sizeof tail);
			server_pid = -1;
			if (strstr(tail, "in use") && ++tries < START_TRIES)
				goto start; /* lost the port to another process */
			/* A broken cache entry: away with it, and initdb. */
			cache_drop(tpl_from_cache ? tpl_entry : cached);
			rm_rf(data);
			goto again;
		}
		if (nrp_jd_interrupted()) {
			nrp_fail(err, errlen, "interrupted while the private server started");
			kill(server_pid, SIGQUIT);
			waitpid(server_pid, NULL, 0);
			server_pid = -1;
			goto failed;
		}
		if (waitpid(server_pid, &status, WNOHANG) == server_pid ||
		    waited >= READY_TIMEOUT_MS) {
			char tail[2048];
			nrp_log_tail(log, tail, sizeof tail);
			if (waited < READY_TIMEOUT_MS && strstr(tail, "in use") &&
			    ++tries < START_TRIES) {
				server_pid = -1;
				goto start;
			}
			nrp_fail(err, errlen, "the private PostgreSQL server did not start%s: %s",
			     waited >= READY_TIMEOUT_MS ? " within 30 s" : "", tail);
			if (waited >= READY_TIMEOUT_MS)
				kill(server_pid, SIGQUIT);
			waitpid(server_pid, NULL, 0);
			server_pid = -1;
			goto failed;
		}
		struct timespec ts = {0, step * 1000000L};
		nanosleep(&ts, NULL);
		waited += step;
		if (step < 50)
			step *= 2;
	}
	if (set_password(conninfo, verifier, err, errlen) < 0) {
		PQfreemem(verifier);
		nrpg_private_stop();
		return -1;
	}
	PQfreemem(verifier);
	char *ci = nrpg_conninfo_of(server_dir, port_s, "postgres", NULL);
	int stored = nrp_jd_set(NRPG_KEY_PRIVATE, server_dir) == 0 &&
		     nrp_jd_set(NRPG_KEY_CONNINFO, ci) == 0 &&
		     nrp_jd_set(NRPG_KEY_TCP_PORT, port_s) == 0 &&
		     nrp_jd_set(NRPG_KEY_PASSWORD, pass) == 0;
	explicit_bzero(pass, sizeof pass);
	free(ci);
	if (stored)
		return 0;
	nrp_fail(err, errlen, "cannot give the private server's address to the tasks "
		"(the job's data takes it only in job_begin)");
	nrpg_private_stop();
	return -1;
failed:
	PQfreemem(verifier);
	explicit_bzero(pass, sizeof pass);
	rm_rf(server_dir);
	server_dir[0] = '\0';
	return -1;
}

void nrpg_private_stop(void)
{
	if (server_pid <= 0)
		return;
	char data[PATH_MAX + 16];
	snprintf(data, sizeof data, "%s/data", server_dir);
	/* Immediate shutdown: the cluster is thrown away anyway, unless it
	 * goes into the template cache. */
	if (tpl_cache_save(data) == 0) {
		rm_rf(server_dir);
		server_dir[0] = '\0';
		return;
	}
	kill(server_pid, SIGQUIT);
	while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
		;
	server_pid = -1;
	rm_rf(server_dir);
	server_dir[0] = '\0';
}
