#include "config.h"

#include "loader.h"
#include "helper.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ltdl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* 3: the file's identity includes its ctime, and crashes are cached. */
#define CACHE_VERSION 3

/* How long one plugin may take to load, describe itself and init in the
 * scanner before it is called hung (NRUNNER_PLUGIN_SCAN_TIMEOUT, in
 * seconds, for tests). */
#define SCAN_TIMEOUT_MS 10000

static long long scan_timeout_ms(void)
{
	const char *v = getenv("NRUNNER_PLUGIN_SCAN_TIMEOUT");
	char *end;
	double s = v && *v ? strtod(v, &end) : 0;
	return v && *v && !*end && s > 0 && s < 3600 ? (long long)(s * 1000)
						      : SCAN_TIMEOUT_MS;
}

struct nrc_loader {
	const nr_host *host;
	char **dirs;
	size_t ndirs;
	nrc_plugin_rec *recs;
	int *described;
	/* Set for a record the scanner described in this process's run: its
	 * init ran there, and init_err says whether it failed. */
	int *scanned;
	char **init_err;
	size_t nrecs;
	cJSON *cache;      /* {"version":1,"plugins":{file:{...}}} */
	char *cache_path;  /* NULL: no cache */
	int cache_dirty;
};

/* --- text that reaches listings ------------------------------------- */

/* One line of valid UTF-8: no control character, so that nothing a
 * plugin declares can split a --list-kinds row or break JSON output. */
static int printable_line(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return nrc_utf8_valid_prefix((const unsigned char *)s, n) == n;
}

/* Kind names, documented in nrunner-plugin(7): they are typed on command
 * lines, become file names (avocado-runner-KIND) and table cells. */
#define KIND_NAME_MAX 64
static int valid_kind_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > KIND_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return 0;
	}
	return 1;
}

/* s quoted for a message: printable ASCII as is, other bytes as \xNN,
 * cut after 80 bytes. */
static char *quoted(const char *s)
{
	nrc_buf b = {0};
	nrc_buf_append(&b, "\"", 1);
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		if (i == 80) {
			nrc_buf_append(&b, "...", 3);
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			snprintf(tmp, sizeof tmp, "\\x%02x", c);
		else
			snprintf(tmp, sizeof tmp, "%c", c);
		nrc_buf_append(&b, tmp, strlen(tmp));
	}
	nrc_buf_append(&b, "\"", 2);
	return b.data;
}

/* --- trust ------------------------------------------------------------ */

/* A plugin is code that runs as the user of nrunner.  As sudo and ssh do
 * with their files, nrunner refuses a plugin that someone else could have
 * written: a file or directory writable by group or others, or owned by
 * a user other than root and the caller.  NRUNNER_PLUGIN_TRUST=off turns
 * the check off, for development. */
static int trust_checked(void)
{
	const char *v = getenv("NRUNNER_PLUGIN_TRUST");
	return !(v && (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no")));
}

#define TRUST_HINT "; or set NRUNNER_PLUGIN_TRUST=off for development"

/* NULL if `path` is safe, else why not (malloc'd).  An ancestor directory
 * that others may write to is fine when it has the sticky bit (/tmp):
 * they cannot rename what is not theirs. */
static char *untrusted(const char *path, int ancestor)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return NULL; /* a missing file is reported where it is opened */
	const char *what = S_ISDIR(st.st_mode) ? "directory" : "file";
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return nrc_xasprintf("%s %s is owned by uid %lu, neither root nor "
				    "the user running nrunner (uid %lu); chown it"
				    TRUST_HINT,
				    what, path, (unsigned long)st.st_uid,
				    (unsigned long)geteuid());
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    !(ancestor && (st.st_mode & S_ISVTX)))
		return nrc_xasprintf("%s %s is writable by %s (mode %04o); run "
				    "'chmod go-w %s'" TRUST_HINT,
				    what, path,
				    (st.st_mode & S_IWOTH) ? "others" : "its group",
				    (unsigned)(st.st_mode & 07777), path);
	return NULL;
}

/* A plugin directory and every directory above it (a real path). */
static char *untrusted_dir(const char *dir)
{
	char *why = untrusted(dir, 0);
	char *up = nrc_xstrdup(dir);
	char *slash;
	while (!why && (slash = strrchr(up, '/'))) {
		slash[slash == up] = '\0'; /* "/a" -> "/", "/" -> stop */
		why = untrusted(up, 1);
		if (slash == up)
			break;
	}
	free(up);
	return why;
}

/* A plugin file; in a build tree, NAME.la names .libs/NAME.so, which is
 * what gets mapped. */
static char *untrusted_file(const char *file)
{
	char *why = untrusted(file, 0);
	size_t n = strlen(file);
	if (!why && n > 3 && !strcmp(file + n - 3, ".la")) {
		const char *base = strrchr(file, '/');
		base = base ? base + 1 : file;
		char *libs = nrc_xasprintf("%.*s.libs", (int)(base - file), file);
		char *so = nrc_xasprintf("%s/%.*s.so", libs,
					(int)(strlen(base) - 3), base);
		why = untrusted(libs, 0);
		if (!why)
			why = untrusted(so, 0);
		free(libs);
		free(so);
	}
	return why;
}

static void add_dir(nrc_loader *l, const char *dir)
{
	char real[PATH_MAX];
	if (!*dir || !realpath(dir, real))
		return; /* a missing directory is simply empty */
	for (size_t i = 0; i < l->ndirs; i++)
		if (!strcmp(l->dirs[i], real))
			return;
	l->dirs = nrc_xrealloc(l->dirs, (l->ndirs + 1) * sizeof *l->dirs);
	l->dirs[l->ndirs++] = nrc_xstrdup(real);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && !strcmp(s + n - m, suf);
}

static void refuse(nrc_plugin_rec *r, const char *fmt, ...) NR_PRINTF_ATTR(2, 3);
static void refuse(nrc_plugin_rec *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->refused);
	if (vasprintf(&r->refused, fmt, ap) < 0)
		r->refused = NULL;
	va_end(ap);
}

static nrc_plugin_rec *add_rec(nrc_loader *l, const char *dir, char *file)
{
	l->recs = nrc_xrealloc(l->recs, (l->nrecs + 1) * sizeof *l->recs);
	nrc_plugin_rec *r = &l->recs[l->nrecs++];
	memset(r, 0, sizeof *r);
	r->file = file;
	r->dir = nrc_xstrdup(dir);
	return r;
}

/* A plugin is NAME.so or NAME.la.  Installed, both exist and the .so is
 * opened directly; in a build tree only the .la sits beside the sources
 * and libtool's .libs/ holds the object. */
static void scan_dir(nrc_loader *l, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (!has_suffix(e->d_name, ".so") && !has_suffix(e->d_name, ".la"))
			continue;
		names = nrc_xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = nrc_xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		const char *stem_end = names[i] + len - 3;
		int is_la = !strcmp(stem_end, ".la");
		if (is_la) {
			/* Skip NAME.la when NAME.so is here too. */
			char *so = nrc_xstrdup(names[i]);
			memcpy(so + len - 3, ".so", 3);
			int dup = 0;
			for (size_t k = 0; k < n; k++)
				dup |= !strcmp(names[k], so);
			free(so);
			if (dup)
				continue;
		}
		nrc_plugin_rec *r = add_rec(l, dir, nrc_xasprintf("%s/%s", dir, names[i]));
		if (!printable_line(names[i])) {
			/* Its name would split a listing's row or break JSON. */
			char *q = quoted(names[i]);
			free(r->file);
			r->file = nrc_xasprintf("%s/%s", dir, q);
			refuse(r, "its file name %s is not one line of UTF-8; "
				  "rename it", q);
			free(q);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static char *cache_file_path(void)
{
	const char *v = getenv("NRUNNER_PLUGIN_CACHE");
	if (v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "no")))
		return NULL;
	if (v && v[0])
		return nrc_xstrdup(v); /* a path, relative to the working directory */
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return nrc_xasprintf("%s/nrunner/plugins.json", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return nrc_xasprintf("%s/.cache/nrunner/plugins.json", home);
	return NULL;
}

static void cache_load(nrc_loader *l)
{
	l->cache_path = cache_file_path();
	char *text = l->cache_path ? nrc_read_file(l->cache_path, NULL) : NULL;
	if (text) {
		l->cache = cJSON_Parse(text);
		free(text);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(l->cache, "version");
		if (!cJSON_IsNumber(v) || v->valueint != CACHE_VERSION ||
		    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(l->cache, "plugins"))) {
			cJSON_Delete(l->cache);
			l->cache = NULL;
		}
	}
	if (!l->cache) {
		l->cache = cJSON_CreateObject();
		cJSON_AddNumberToObject(l->cache, "version", CACHE_VERSION);
		cJSON_AddItemToObject(l->cache, "plugins", cJSON_CreateObject());
	}
}

nrc_loader *nrc_loader_new(const nr_host *host)
{
	nrc_loader *l = nrc_xcalloc(1, sizeof *l);
	l->host = host;
	const char *env = getenv("NRUNNER_PLUGIN_PATH");
	if (env) {
		char *copy = nrc_xstrdup(env), *save = NULL;
		for (char *t = strtok_r(copy, ":", &save); t;
		     t = strtok_r(NULL, ":", &save))
			add_dir(l, t);
		free(copy);
	}
	/* NRUNNER_PLUGINDIR stands in for the installed directory: for a
	 * relocated install, and for tests that must see only their own. */
	const char *inst = getenv("NRUNNER_PLUGINDIR");
	add_dir(l, inst && *inst ? inst : NR_PLUGINDIR);
	int check = trust_checked();
	for (size_t i = 0; i < l->ndirs; i++) {
		if (!printable_line(l->dirs[i])) {
			/* Shown quoted, wherever it is shown; never searched. */
			char *q = quoted(l->dirs[i]);
			free(l->dirs[i]);
			l->dirs[i] = q;
			nrc_plugin_rec *r = add_rec(l, q, nrc_xstrdup(q));
			refuse(r, "the plugin directory's name is not one line "
				  "of UTF-8; rename it");
			continue;
		}
		char *why = check ? untrusted_dir(l->dirs[i]) : NULL;
		if (why) {
			/* One line for the directory; none of its files is
			 * even looked at. */
			nrc_plugin_rec *r = add_rec(l, l->dirs[i],
						   nrc_xstrdup(l->dirs[i]));
			r->refused = why;
			continue;
		}
		scan_dir(l, l->dirs[i]);
	}
	l->described = nrc_xcalloc(l->nrecs, sizeof *l->described);
	l->scanned = nrc_xcalloc(l->nrecs, sizeof *l->scanned);
	l->init_err = nrc_xcalloc(l->nrecs, sizeof *l->init_err);
	cache_load(l);
	return l;
}

static void free_kinds(nrc_plugin_rec *r)
{
	for (size_t k = 0; k < r->nkinds; k++) {
		free(r->kinds[k].name);
		free(r->kinds[k].summary);
		for (char **c = r->kinds[k].config_used; c && *c; c++)
			free(*c);
		free(r->kinds[k].config_used);
	}
	free(r->kinds);
	r->kinds = NULL;
	r->nkinds = 0;
}

void nrc_loader_free(nrc_loader *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nrecs; i++) {
		nrc_plugin_rec *r = &l->recs[i];
		free_kinds(r);
		free(r->file);
		free(r->dir);
		free(r->name);
		free(r->version);
		free(r->refused);
		/* Plugins stay mapped until exit: a kind's code or strings
		 * may still be referenced, and unmapping buys nothing. */
	}
	free(l->recs);
	free(l->described);
	for (size_t i = 0; i < l->nrecs; i++)
		free(l->init_err[i]);
	free(l->init_err);
	free(l->scanned);
	for (size_t i = 0; i < l->ndirs; i++)
		free(l->dirs[i]);
	free(l->dirs);
	cJSON_Delete(l->cache);
	free(l->cache_path);
	free(l);
}

size_t nrc_loader_count(nrc_loader *l) { return l->nrecs; }
size_t nrc_loader_dir_count(nrc_loader *l) { return l->ndirs; }
const char *nrc_loader_dir(nrc_loader *l, size_t i) { return l->dirs[i]; }


static int ltdl_ready(void)
{
	static int state; /* 0 unknown, 1 ok, -1 failed */
	if (!state)
		state = lt_dlinit() == 0 ? 1 : -1;
	return state == 1;
}

/* libltdl says "file not found" for most failures; dlerror() knows the real
 * cause (a missing library, an undefined symbol), so ask it for the
 * message. */
static const char *open_failure(const char *file)
{
	static char msg[1024];
	void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		dlclose(h);
		snprintf(msg, sizeof msg, "%s", lt_dlerror());
		return msg;
	}
	const char *e = dlerror();
	snprintf(msg, sizeof msg, "%s", e ? e : "unknown error");
	return msg;
}

static int looks_like_elf(const char *file)
{
	unsigned char magic[4] = {0};
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* let the opener report the real error */
	ssize_t n = read(fd, magic, sizeof magic);
	close(fd);
	return n == 4 && !memcmp(magic, "\177ELF", 4);
}

/* Copies what a descriptor declares into the record.  Returns -1 (and
 * refuses) if it is not well-formed. */
static int take_descriptor(nrc_plugin_rec *r, const nr_plugin *p)
{
	r->abi_major = p->abi_major;
	r->abi_minor = p->abi_minor;
	if (p->abi_major != NR_ABI_MAJOR) {
		refuse(r,
		       "built for plugin ABI %u.%u, but this nrunner speaks ABI "
		       "%d.%d; rebuild it against this nrunner's <nrunner/plugin.h>",
		       p->abi_major, p->abi_minor, NR_ABI_MAJOR, NR_ABI_MINOR);
		return -1;
	}
	if (p->abi_minor > NR_ABI_MINOR) {
		refuse(r,
		       "built for plugin ABI %u.%u, newer than this nrunner's "
		       "ABI %d.%d; upgrade nrunner or rebuild the plugin "
		       "against this nrunner's header",
		       p->abi_major, p->abi_minor, NR_ABI_MAJOR, NR_ABI_MINOR);
		return -1;
	}
	if (!p->name || !*p->name || !p->kinds) {
		refuse(r, "invalid descriptor: it has no name or no kinds list");
		return -1;
	}
	size_t n = 0;
	while (p->kinds[n])
		n++;
	if (!printable_line(p->name) || (p->version && !printable_line(p->version))) {
		char *q = quoted(printable_line(p->name) ? p->version : p->name);
		refuse(r, "invalid descriptor: its %s %s is not one line of "
			  "UTF-8", printable_line(p->name) ? "version" : "name", q);
		free(q);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		const nr_kind *kd = p->kinds[k];
		if (!kd->name || !*kd->name || !kd->run) {
			refuse(r, "invalid descriptor: kinds[%zu] has no name or "
				  "no run() entry", k);
			return -1;
		}
		if (!valid_kind_name(kd->name)) {
			char *q = quoted(kd->name);
			refuse(r, "invalid kind name %s (kinds[%zu]): a kind name "
				  "is 1 to %d characters of a-z, 0-9, '.', '_' and '-', "
				  "starting with a letter or a digit",
			       q, k, KIND_NAME_MAX);
			free(q);
			return -1;
		}
		if (kd->summary && !printable_line(kd->summary)) {
			char *q = quoted(kd->summary);
			refuse(r, "invalid descriptor: the summary %s of kind '%s' "
				  "is not one line of UTF-8", q, kd->name);
			free(q);
			return -1;
		}
	}
	if (r->kinds) {
		/* Described before (by the scanner, now or when the cache
		 * was filled): the live descriptor must provide the same
		 * kinds.  They are kept in place, since the registry may
		 * already point at them. */
		int same = r->nkinds == n;
		for (size_t k = 0; same && k < n; k++)
			same = !strcmp(r->kinds[k].name, p->kinds[k]->name);
		if (!same) {
			refuse(r, "changed while nrunner was reading it; run "
				  "the command again");
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			r->kinds[k].live = p->kinds[k];
		return 0;
	}
	free(r->name);
	free(r->version);
	r->name = nrc_xstrdup(p->name);
	r->version = nrc_xstrdup(p->version ? p->version : "");
	r->kinds = nrc_xcalloc(n, sizeof *r->kinds);
	r->nkinds = n;
	for (size_t k = 0; k < n; k++) {
		const nr_kind *kd = p->kinds[k];
		nrc_kind_info *ki = &r->kinds[k];
		ki->name = nrc_xstrdup(kd->name);
		ki->summary = nrc_xstrdup(kd->summary ? kd->summary : "");
		size_t c = 0;
		while (kd->config_used && kd->config_used[c])
			c++;
		ki->config_used = nrc_xcalloc(c + 1, sizeof *ki->config_used);
		for (size_t j = 0; j < c; j++)
			ki->config_used[j] = nrc_xstrdup(kd->config_used[j]);
		ki->live = kd;
		ki->claims = p->abi_minor >= 1 && kd->resolve != NULL;
	}
	return 0;
}

/* In the scanner child: says what it is about to do, so that the parent
 * can name the step a plugin crashed in. */
static void scan_say(int out, cJSON *o)
{
	char *t = cJSON_PrintUnformatted(o);
	char *line = nrc_xasprintf("%s\n", t);
	(void)nrc_write_all(out, line, strlen(line));
	free(line);
	free(t);
	cJSON_Delete(o);
}

static void scan_phase(int out, size_t i, const char *phase)
{
	if (out < 0)
		return;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "i", (double)i);
	cJSON_AddStringToObject(o, "phase", phase);
	scan_say(out, o);
}

/* Opens the file and reads its descriptor.  Does not run init.  In the
 * scanner child, out is its pipe and i the record's index.  Returns 0,
 * -1 if the file is refused for what it is, or -2 if it could not be
 * loaded, which may change without the file changing (a library
 * installed, LD_LIBRARY_PATH set). */
static int open_plugin(nrc_plugin_rec *r, int out, size_t i)
{
	if (r->desc)
		return 0;
	if (!ltdl_ready()) {
		refuse(r, "libltdl failed to initialise: %s", lt_dlerror());
		return -2;
	}
	if (has_suffix(r->file, ".so") && !looks_like_elf(r->file)) {
		refuse(r, "not a shared object (no ELF header); remove it from "
			  "the plugin directory");
		return -1;
	}
	scan_phase(out, i, "load");
	lt_dladvise advise;
	lt_dladvise_init(&advise);
	lt_dladvise_local(&advise);
	lt_dlhandle h = lt_dlopenadvise(r->file, advise);
	lt_dladvise_destroy(&advise);
	if (!h) {
		refuse(r, "cannot be loaded: %s; check its dependencies with "
			  "ldd(1)", open_failure(r->file));
		return -2;
	}
	void *sym = lt_dlsym(h, NR_PLUGIN_ENTRY_SYMBOL);
	if (!sym) {
		lt_dlclose(h);
		refuse(r, "no entry symbol %s(): not an nrunner plugin, or "
			  "built without exporting it",
		       NR_PLUGIN_ENTRY_SYMBOL);
		return -1;
	}
	const nr_plugin *(*entry)(void);
	memcpy(&entry, &sym, sizeof entry);
	scan_phase(out, i, "entry");
	const nr_plugin *p = entry();
	if (!p) {
		lt_dlclose(h);
		refuse(r, "%s() returned no descriptor", NR_PLUGIN_ENTRY_SYMBOL);
		return -1;
	}
	if (take_descriptor(r, p) < 0) {
		lt_dlclose(h);
		return -1;
	}
	r->handle = h;
	r->desc = p;
	return 0;
}

/* --- cache ------------------------------------------------------------ */

static cJSON *stat_key(const char *file)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return NULL;
	/* The ctime too: cp -p or touch -r can give a new content the old
	 * size and mtime (even the old inode), but only the kernel sets the
	 * ctime, and any write or rename moves it. */
	char buf[200];
	snprintf(buf, sizeof buf, "%llu:%llu:%lld:%lld.%09ld:%lld.%09ld",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
		 st.st_ctim.tv_nsec);
	return cJSON_CreateString(buf);
}

static char *json_strdup(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? nrc_xstrdup(v->valuestring) : NULL;
}

/* Fills the record from what a file declared (a cache entry, or the
 * scanner's report).  Returns -1 if the entry is malformed. */
static int entry_get(nrc_plugin_rec *r, const cJSON *e)
{
	const cJSON *abi = cJSON_GetObjectItemCaseSensitive(e, "abi");
	const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(e, "kinds");
	if (cJSON_GetArraySize(abi) != 2 || !cJSON_IsArray(kinds))
		return -1;
	free_kinds(r);
	free(r->name);
	free(r->version);
	free(r->refused);
	r->abi_major = (uint32_t)cJSON_GetArrayItem(abi, 0)->valuedouble;
	r->abi_minor = (uint32_t)cJSON_GetArrayItem(abi, 1)->valuedouble;
	r->name = json_strdup(e, "name");
	r->version = json_strdup(e, "version");
	r->refused = json_strdup(e, "refused");
	r->nkinds = (size_t)cJSON_GetArraySize(kinds);
	r->kinds = nrc_xcalloc(r->nkinds, sizeof *r->kinds);
	size_t i = 0;
	const cJSON *kd;
	int bad = 0;
	cJSON_ArrayForEach(kd, kinds)
	{
		nrc_kind_info *ki = &r->kinds[i++];
		ki->name = json_strdup(kd, "name");
		ki->summary = json_strdup(kd, "summary");
		ki->claims = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(kd, "claims"));
		const cJSON *cu = cJSON_GetObjectItemCaseSensitive(kd, "config_used");
		size_t c = (size_t)cJSON_GetArraySize(cu), j = 0;
		ki->config_used = nrc_xcalloc(c + 1, sizeof *ki->config_used);
		const cJSON *s;
		cJSON_ArrayForEach(s, cu) if (cJSON_IsString(s))
			ki->config_used[j++] = nrc_xstrdup(s->valuestring);
		bad |= !ki->name || !ki->summary || !valid_kind_name(ki->name) ||
		       !printable_line(ki->summary);
	}
	if (bad || (r->name && !printable_line(r->name)) ||
	    (r->version && !printable_line(r->version))) {
		free_kinds(r);
		return -1;
	}
	return 0;
}

static int cache_get(nrc_loader *l, nrc_plugin_rec *r, const cJSON *key)
{
	const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(plugins, r->file);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "stat");
	if (!cJSON_IsString(k) || strcmp(k->valuestring, key->valuestring))
		return -1;
	return entry_get(r, e);
}

/* What a record declares, as a cache entry without its "stat" key. */
static cJSON *entry_json(const nrc_plugin_rec *r)
{
	cJSON *e = cJSON_CreateObject();
	cJSON *abi = cJSON_AddArrayToObject(e, "abi");
	cJSON_AddItemToArray(abi, cJSON_CreateNumber(r->abi_major));
	cJSON_AddItemToArray(abi, cJSON_CreateNumber(r->abi_minor));
	if (r->name)
		cJSON_AddStringToObject(e, "name", r->name);
	if (r->version)
		cJSON_AddStringToObject(e, "version", r->version);
	if (r->refused)
		cJSON_AddStringToObject(e, "refused", r->refused);
	cJSON *kinds = cJSON_AddArrayToObject(e, "kinds");
	for (size_t k = 0; k < r->nkinds; k++) {
		cJSON *kd = cJSON_CreateObject();
		cJSON_AddStringToObject(kd, "name", r->kinds[k].name);
		cJSON_AddStringToObject(kd, "summary", r->kinds[k].summary);
		cJSON_AddBoolToObject(kd, "claims", r->kinds[k].claims);
		cJSON *cu = cJSON_AddArrayToObject(kd, "config_used");
		for (char **c = r->kinds[k].config_used; *c; c++)
			cJSON_AddItemToArray(cu, cJSON_CreateString(*c));
		cJSON_AddItemToArray(kinds, kd);
	}
	return e;
}

static void cache_put(nrc_loader *l, const char *file, cJSON *e, cJSON *key)
{
	cJSON_AddItemToObject(e, "stat", key);
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	cJSON_DeleteItemFromObjectCaseSensitive(plugins, file);
	cJSON_AddItemToObject(plugins, file, e);
	l->cache_dirty = 1;
}

static void cache_forget(nrc_loader *l, const char *file)
{
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	cJSON_DeleteItemFromObjectCaseSensitive(plugins, file);
	l->cache_dirty = 1;
}

/* --- the scanner ------------------------------------------------------ *
 * Loading a plugin runs its code: constructors, the entry function, init.
 * That code runs first in a helper child (core/helper.h), never first in
 * nrunner: a plugin that crashes, aborts, exits or hangs there costs a
 * refused entry, which the cache remembers until the file changes.  One
 * child describes every file the cache does not know, in order, and
 * announces each step; if it dies, the step it announced last names the
 * culprit, and a new child goes on with the files after it.  With a warm
 * cache no child is needed. */

typedef struct scan_batch {
	nrc_loader *l;
	const size_t *todo; /* record indices */
	size_t n;
} scan_batch;

static int scan_child(void *arg, int out)
{
	scan_batch *b = arg;
	/* A plugin that crashes here leaves no core file behind. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	for (size_t k = 0; k < b->n; k++) {
		size_t i = b->todo[k];
		nrc_plugin_rec *r = &b->l->recs[i];
		int rc = open_plugin(r, out, i), ok = rc == 0;
		char *init_err = NULL;
		if (ok && r->desc->init) {
			/* Only to see that it returns: an init that fails
			 * today may succeed tomorrow, so the real one runs
			 * where the kinds run. */
			char err[512] = "";
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "i", (double)i);
			cJSON_AddStringToObject(o, "phase", "init");
			/* The kinds, so that a crash can be told to who asks
			 * for one of them. */
			cJSON_AddItemToObject(o, "entry", entry_json(r));
			scan_say(out, o);
			if (r->desc->init(b->l->host, err, sizeof err) != 0)
				init_err = nrc_xstrdup(err[0] ? err
						      : "(the plugin gave no reason)");
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "i", (double)i);
		if (init_err)
			cJSON_AddStringToObject(o, "init_error", init_err);
		free(init_err);
		/* Only what the file itself declares is cached. */
		cJSON_AddBoolToObject(o, "cache", rc != -2);
		cJSON_AddItemToObject(o, "entry", entry_json(r));
		scan_say(out, o);
	}
	return 0;
}

static const char *phase_text(const char *phase)
{
	if (!strcmp(phase, "load"))
		return "while being loaded (in a constructor)";
	if (!strcmp(phase, "entry"))
		return "in its entry function " NR_PLUGIN_ENTRY_SYMBOL "()";
	return "in its init()";
}

/* Runs one child over todo[0..n); returns how many records it settled
 * (described, or refused for what it did to the child). */
static size_t scan_batch_run(nrc_loader *l, const size_t *todo, size_t n,
			     cJSON **keys)
{
	scan_batch b = {l, todo, n};
	char err[256];
	nrc_helper *h = nrc_helper_start(scan_child, &b, 0, err, sizeof err);
	if (!h) {
		for (size_t k = 0; k < n; k++)
			refuse(&l->recs[todo[k]], "cannot be described: %s", err);
		return n;
	}
	/* Each plugin gets the timeout: wait until the child says more. */
	size_t seen = 0, len;
	long long timeout = scan_timeout_ms();
	long long deadline = nrc_monotonic_ms() + timeout;
	int hung = 0;
	while (!nrc_helper_dispatch(h)) {
		nrc_helper_output(h, &len);
		if (len != seen) {
			seen = len;
			deadline = nrc_monotonic_ms() + timeout;
		}
		long long left = deadline - nrc_monotonic_ms();
		if (left <= 0) {
			hung = 1;
			nrc_helper_kill(h, SIGKILL);
			nrc_helper_wait(h, -1);
			break;
		}
		struct pollfd fds[2];
		int nf = nrc_helper_pollfds(h, fds);
		poll(fds, (nfds_t)nf, (int)left);
	}
	size_t done = 0;
	const char *phase = NULL;
	char *text = nrc_xstrdup(nrc_helper_output(h, NULL)), *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(line);
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "i");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "entry");
		const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "phase");
		if (!cJSON_IsNumber(i) || done >= n || i->valuedouble != (double)todo[done]) {
			cJSON_Delete(o);
			continue; /* not ours: a plugin wrote to the pipe? */
		}
		nrc_plugin_rec *r = &l->recs[todo[done]];
		if (cJSON_IsString(ph)) {
			phase = phase_text(ph->valuestring);
			if (cJSON_IsObject(e))
				(void)entry_get(r, e);
		} else if (cJSON_IsObject(e)) {
			if (entry_get(r, e) < 0)
				refuse(r, "cannot be described: the scanner's "
					  "report was malformed");
			else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "cache")))
				cache_put(l, r->file,
					  cJSON_DetachItemViaPointer(o, (cJSON *)e),
					  cJSON_Duplicate(keys[todo[done]], 1));
			l->scanned[todo[done]] = 1;
			l->init_err[todo[done]] = json_strdup(o, "init_error");
			done++;
			phase = NULL;
		}
		cJSON_Delete(o);
	}
	free(text);
	if (done < n) {
		/* The child died on todo[done]. */
		nrc_plugin_rec *r = &l->recs[todo[done]];
		int st = nrc_helper_status(h);
		const char *how = nrc_helper_failure(h);
		refuse(r, "%s%s %s%s", hung ? "hung: " : "",
		       how ? how : "exited with status 0",
		       phase ? phase : "while being described",
		       WIFEXITED(st) ? "; a plugin must return, never exit "
				       "the process" : "");
		/* What the file does to any process that loads it (a hang
		 * included) is worth remembering; a kill from outside (Ctrl-C,
		 * the OOM killer) is not. */
		int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		int killed = !hung && (sig == SIGKILL || sig == SIGINT ||
				       sig == SIGTERM || sig == SIGHUP);
		if (phase && !killed) {
			cache_put(l, r->file, entry_json(r),
				  cJSON_Duplicate(keys[todo[done]], 1));
		}
		done++;
	}
	nrc_helper_free(h);
	return done;
}

/* Describes every record not yet described: from the cache, or by the
 * scanner. */
static void describe_all(nrc_loader *l)
{
	size_t *todo = nrc_xcalloc(l->nrecs + 1, sizeof *todo), n = 0;
	cJSON **keys = nrc_xcalloc(l->nrecs + 1, sizeof *keys);
	int check = trust_checked();
	for (size_t i = 0; i < l->nrecs; i++) {
		nrc_plugin_rec *r = &l->recs[i];
		if (l->described[i])
			continue;
		l->described[i] = 1;
		if (r->refused)
			continue; /* refused by its directory or its name */
		char *why = check ? untrusted_file(r->file) : NULL;
		if (why) {
			r->refused = why;
			continue;
		}
		keys[i] = stat_key(r->file);
		if (!keys[i])
			refuse(r, "cannot be read: %s", strerror(errno));
		else if (cache_get(l, r, keys[i]) < 0)
			todo[n++] = i;
	}
	for (size_t k = 0; k < n;)
		k += scan_batch_run(l, todo + k, n - k, keys);
	for (size_t i = 0; i < l->nrecs; i++)
		cJSON_Delete(keys[i]);
	free(keys);
	free(todo);
}

nrc_plugin_rec *nrc_loader_describe(nrc_loader *l, size_t i)
{
	/* All at once: a cold cache costs one child, not one per file. */
	if (!l->described[i])
		describe_all(l);
	return &l->recs[i];
}

int nrc_loader_open(nrc_loader *l, nrc_plugin_rec *r)
{
	nrc_loader_describe(l, (size_t)(r - l->recs));
	if (r->refused)
		return -1;
	/* Its code ran in the scanner, now or when the cache was filled:
	 * open it here (take_descriptor checks that it still provides the
	 * kinds the scanner saw). */
	if (!r->desc && open_plugin(r, -1, 0) != 0) {
		/* Replaced between the scan and now, say: the next run
		 * describes it afresh. */
		cache_forget(l, r->file);
		return -1;
	}
	if (!r->init_done && r->desc->init) {
		char err[512] = "";
		if (r->desc->init(l->host, err, sizeof err) != 0) {
			refuse(r, "init failed: %s",
			       err[0] ? err : "(the plugin gave no reason)");
			return -1;
		}
	}
	r->init_done = 1;
	return 0;
}

int nrc_loader_check(nrc_loader *l, nrc_plugin_rec *r)
{
	size_t i = (size_t)(r - l->recs);
	nrc_loader_describe(l, i);
	if (r->refused)
		return -1;
	if (!l->scanned[i] || r->init_done)
		return nrc_loader_open(l, r);
	if (l->init_err[i]) {
		refuse(r, "init failed: %s", l->init_err[i]);
		return -1;
	}
	return 0;
}

void nrc_loader_save_cache(nrc_loader *l)
{
	if (!l->cache_dirty || !l->cache_path)
		return;
	/* Forget entries for files that are gone. */
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	cJSON *e = plugins->child;
	while (e) {
		cJSON *next = e->next;
		struct stat st;
		if (stat(e->string, &st) < 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(plugins, e));
		e = next;
	}
	char *dir = nrc_xstrdup(l->cache_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	char *tmp = nrc_xasprintf("%s.%ld.tmp", l->cache_path, (long)getpid());
	char *text = cJSON_PrintUnformatted(l->cache);
	int fd = -1;
	if (nrc_mkdir_p(dir, 0755) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int ok = nrc_write_all(fd, text, strlen(text)) == 0;
		ok &= close(fd) == 0;
		if (!ok || rename(tmp, l->cache_path) < 0)
			unlink(tmp);
	}
	free(text);
	free(tmp);
	free(dir);
	l->cache_dirty = 0;
}
