/* python-unittest: runs one unittest test, named as Avocado names it
 * ("path/to/file.py:Class.test_method", or a dotted
 * "module.Class.test_method" importable from the current directory), in
 * a python3 child process.  The result is unittest's, mapped as Avocado's
 * runner maps it: an error is error, a failure fail, a skip skip,
 * anything else pass; fail_reason is the last line of the traceback (or
 * the skip's reason) and "traceback" the whole of it.
 *
 * `nrunner run file.py` claims a Python file that defines unittest
 * TestCase classes: one task per test method, found by reading the file's
 * syntax tree (nothing is imported). */
#include "config.h"

#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nrunner/plugin.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PYTHON "python3"

/* argv: MODULE_DIR DOTTED_NAME.  Writes on fd 3 the result, a line; the
 * reason, a line; then the traceback. */
static const char run_driver[] =
	"import io, os, sys, traceback, unittest\n"
	"out = os.fdopen(3, 'w')\n"
	"path, name = sys.argv[1], sys.argv[2]\n"
	"sys.path.insert(0, path or os.getcwd())\n"
	"def last(text):\n"
	"    return ([l for l in text.splitlines() if l.strip()] or [''])[-1]\n"
	"def done(result, reason=None, tb=None):\n"
	"    out.write('%s\\n%s\\n%s' % (result, (reason or '').replace('\\n', ' '), tb or ''))\n"
	"    out.close()\n"
	"    sys.exit(0)\n"
	"try:\n"
	"    suite = unittest.TestLoader().loadTestsFromName(name)\n"
	"except Exception as e:\n"
	"    done('error', 'cannot load %s: %s: %s' % (name, type(e).__name__, e),\n"
	"         traceback.format_exc())\n"
	"def invalid():\n"
	"    done('error', 'Invalid URI: %s names no unittest test' % name)\n"
	"if suite.countTestCases() == 0:\n"
	"    invalid()\n"
	"stream = io.StringIO()\n"
	"try:\n"
	"    r = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)\n"
	"except Exception:\n"
	"    invalid()\n"
	"sys.stdout.write(stream.getvalue())\n"
	"sys.stdout.flush()\n"
	"for result, entries in (('error', r.errors), ('fail', r.failures),\n"
	"                        ('skip', r.skipped)):\n"
	"    if entries:\n"
	"        text = entries[-1][1]\n"
	"        done(result, last(text), text if result != 'skip' else None)\n"
	"done('pass')\n";

/* argv: FILE.  Prints "Class.method" per test; exit 3: not Python. */
static const char find_driver[] =
	"import ast, sys\n"
	"try:\n"
	"    tree = ast.parse(open(sys.argv[1], 'rb').read(), sys.argv[1])\n"
	"except (SyntaxError, ValueError) as e:\n"
	"    print('%s: %s' % (type(e).__name__, e), file=sys.stderr)\n"
	"    sys.exit(3)\n"
	"def name(b):\n"
	"    return b.attr if isinstance(b, ast.Attribute) else getattr(b, 'id', '')\n"
	"classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}\n"
	"cases = set()\n"
	"while True:\n"
	"    more = {n for n, c in classes.items() if n not in cases and\n"
	"            any(name(b) == 'TestCase' or name(b) in cases for b in c.bases)}\n"
	"    if not more:\n"
	"        break\n"
	"    cases |= more\n"
	"def methods(c, seen=()):\n"
	"    found = [f.name for f in c.body if isinstance(f, (ast.FunctionDef,\n"
	"             ast.AsyncFunctionDef)) and f.name.startswith('test')]\n"
	"    for b in c.bases:\n"
	"        if name(b) in cases and name(b) not in seen:\n"
	"            found += [m for m in methods(classes[name(b)], seen + (c.name,))\n"
	"                      if m not in found]\n"
	"    return found\n"
	"for n, c in classes.items():\n"
	"    if n in cases:\n"
	"        for m in sorted(methods(c)):\n"
	"            print('%s.%s' % (n, m))\n";

/* Runs python3 -c DRIVER ARGS with fd 3 (or stdout, with to_stdout) on a
 * pipe; returns the pipe's read end and the child's pid, or -1. */
static int start_python(const char *driver, char *const args[], int to_stdout,
			int quiet, pid_t *pid)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	char *argv[8] = {PYTHON, "-c", (char *)driver};
	int n = 3;
	for (int i = 0; args[i] && n < 7; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], to_stdout ? STDOUT_FILENO : 3);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
						 O_WRONLY, 0);
	int e = posix_spawnp(pid, PYTHON, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e) {
		close(p[0]);
		errno = e;
		return -1;
	}
	return p[0];
}

/* Reads fd to its end into a NUL-terminated string (NULL: out of memory). */
static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = nrp_xmalloc(cap);
	while (buf) {
		if (len + 1 == cap) {
			char *b = nrp_xrealloc(buf, cap *= 2);
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue; /* SIGTERM: python gets it too, and ends */
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

/* "dir/file.py:Class.method" -> ("dir", "file.Class.method"); a dotted
 * name stays as it is, imported from the current directory. */
static int split_uri(const char *uri, char *dir, size_t dlen, char *name,
		     size_t nlen)
{
	const char *colon = strrchr(uri, ':');
	if (!colon) {
		dir[0] = '\0';
		return snprintf(name, nlen, "%s", uri) < (int)nlen ? 0 : -1;
	}
	const char *slash = memrchr(uri, '/', (size_t)(colon - uri));
	const char *base = slash ? slash + 1 : uri;
	size_t baselen = (size_t)(colon - base);
	if (baselen > 3 && !strncmp(colon - 3, ".py", 3))
		baselen -= 3;
	int dl = slash ? (int)(slash - uri) : 0;
	if (snprintf(dir, dlen, "%.*s", dl, uri) >= (int)dlen ||
	    snprintf(name, nlen, "%.*s.%s", (int)baselen, base, colon + 1) >= (int)nlen ||
	    !baselen || !colon[1])
		return -1;
	if (!dir[0] && slash)
		snprintf(dir, dlen, "/");
	return 0;
}

static int unittest_run(const nr_host *h, nr_task *t)
{
	const char *uri = h->uri(t);
	char dir[PATH_MAX], name[1024], why[PATH_MAX + 128];
	if (!uri || !*uri || split_uri(uri, dir, sizeof dir, name, sizeof name) < 0) {
		snprintf(why, sizeof why, "Invalid URI: '%s' is not a unittest "
			 "test; name it as path/to/file.py:Class.test_method or "
			 "module.Class.test_method", uri ? uri : "");
		return h->finish(t, NR_RESULT_ERROR, why);
	}
	pid_t pid;
	char *args[] = {dir, name, NULL};
	int fd = start_python(run_driver, args, 0, 0, &pid);
	if (fd < 0) {
		snprintf(why, sizeof why, "cannot run %s: %s", PYTHON, strerror(errno));
		return h->finish(t, NR_RESULT_ERROR, why);
	}
	char *text = read_all(fd);
	close(fd);
	int status = wait_child(pid);
	/* result \n reason \n traceback */
	char *reason = text ? strchr(text, '\n') : NULL;
	char *tb = reason ? strchr(reason + 1, '\n') : NULL;
	if (tb) {
		*reason++ = '\0';
		*tb++ = '\0';
	}
	static const char *const results[] = {NR_RESULT_PASS, NR_RESULT_FAIL,
					      NR_RESULT_ERROR, NR_RESULT_SKIP, NULL};
	const char *result = NULL;
	for (size_t i = 0; tb && results[i]; i++)
		if (!strcmp(text, results[i]))
			result = results[i];
	nr_msg *m = h->msg_new(t, "finished");
	if (h->interrupted(t)) {
		h->msg_string(m, "result", NR_RESULT_INTERRUPTED);
		h->msg_string(m, "fail_reason", "interrupted while the test ran");
	} else if (!result) {
		snprintf(why, sizeof why, "%s ended (%s %d) without a verdict; "
			 "its stderr says why", PYTHON,
			 WIFSIGNALED(status) ? "signal" : "status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		h->msg_string(m, "result", NR_RESULT_ERROR);
		h->msg_string(m, "fail_reason", why);
	} else {
		h->msg_string(m, "result", result);
		if (*reason)
			h->msg_string(m, "fail_reason", reason);
		if (*tb)
			h->msg_string(m, "traceback", tb);
	}
	free(text);
	return h->msg_emit(m);
}

/* `nrunner run`: a Python file whose syntax tree has TestCase classes. */
static int unittest_resolve(const nr_host *h, nr_resolver *r, const char *path)
{
	size_t n = strlen(path);
	struct stat st;
	if (n < 4 || strcmp(path + n - 3, ".py") || stat(path, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return NR_RESOLVE_NOT_MINE;
	/* Most Python files are not tests: only those that mention TestCase
	 * cost a python3. */
	FILE *f = fopen(path, "r");
	if (!f)
		return NR_RESOLVE_NOT_MINE;
	char line[4096];
	int mentions = 0;
	while (!mentions && fgets(line, sizeof line, f))
		mentions = strstr(line, "TestCase") != NULL;
	fclose(f);
	if (!mentions)
		return NR_RESOLVE_NOT_MINE;
	char abs[PATH_MAX];
	if (!realpath(path, abs)) {
		h->resolve_error(r, "cannot resolve the path");
		return NR_RESOLVE_ERROR;
	}
	pid_t pid;
	char *args[] = {abs, NULL};
	int fd = start_python(find_driver, args, 1, 1, &pid);
	if (fd < 0) {
		h->resolve_error(r, "cannot run %s to read it: %s", PYTHON,
				 strerror(errno));
		return NR_RESOLVE_ERROR;
	}
	char *text = read_all(fd);
	close(fd);
	int status = wait_child(pid);
	int rc = NR_RESOLVE_NOT_MINE;
	if (!text || !WIFEXITED(status) || WEXITSTATUS(status)) {
		h->resolve_error(r, "it mentions TestCase but %s cannot read it "
				 "(not valid Python?); python3 %s shows why",
				 PYTHON, path);
		rc = NR_RESOLVE_ERROR;
	}
	for (char *p = text, *nl; rc != NR_RESOLVE_ERROR && p && (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = '\0';
		char uri[PATH_MAX + 512], id[PATH_MAX + 512];
		snprintf(uri, sizeof uri, "%s:%s", abs, p);
		snprintf(id, sizeof id, "%s:%s", path, p);
		if (h->resolve_add(r, "python-unittest", uri, id) < 0)
			rc = NR_RESOLVE_ERROR;
		else
			rc = NR_RESOLVE_CLAIMED;
	}
	free(text);
	return rc;
}

static const nr_kind unittest_kind = {
	.name = "python-unittest",
	.summary = "Runs one Python unittest test (file.py:Class.test_method)",
	.run = unittest_run,
	.resolve = unittest_resolve,
};

static const nr_kind *const kinds[] = {&unittest_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "python-unittest",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
