#include "config.h"

#include "loader.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_VERSION 2

struct nr_loader {
	const nr_host *host;
	char **dirs;
	size_t ndirs;
	nr_plugin_rec *recs;
	int *described;
	size_t nrecs;
	cJSON *cache;      /* {"version":1,"plugins":{file:{...}}} */
	char *cache_path;  /* NULL: no cache */
	int cache_dirty;
};

static void add_dir(nr_loader *l, const char *dir)
{
	char real[PATH_MAX];
	if (!*dir || !realpath(dir, real))
		return; /* a missing directory is simply empty */
	for (size_t i = 0; i < l->ndirs; i++)
		if (!strcmp(l->dirs[i], real))
			return;
	l->dirs = nr_xrealloc(l->dirs, (l->ndirs + 1) * sizeof *l->dirs);
	l->dirs[l->ndirs++] = nr_xstrdup(real);
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

/* A plugin is NAME.so or NAME.la.  Installed, both exist and the .so is
 * opened directly; in a build tree only the .la sits beside the sources
 * and libtool's .libs/ holds the object. */
static void scan_dir(nr_loader *l, const char *dir)
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
		names = nr_xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = nr_xstrdup(e->d_name);
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
			char *so = nr_xstrdup(names[i]);
			memcpy(so + len - 3, ".so", 3);
			int dup = 0;
			for (size_t k = 0; k < n; k++)
				dup |= !strcmp(names[k], so);
			free(so);
			if (dup)
				continue;
		}
		l->recs = nr_xrealloc(l->recs, (l->nrecs + 1) * sizeof *l->recs);
		nr_plugin_rec *r = &l->recs[l->nrecs++];
		memset(r, 0, sizeof *r);
		r->file = nr_xasprintf("%s/%s", dir, names[i]);
		r->dir = nr_xstrdup(dir);
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
		return nr_xstrdup(v); /* a path, relative to the working directory */
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return nr_xasprintf("%s/nrunner/plugins.json", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return nr_xasprintf("%s/.cache/nrunner/plugins.json", home);
	return NULL;
}

static void cache_load(nr_loader *l)
{
	l->cache_path = cache_file_path();
	char *text = l->cache_path ? nr_read_file(l->cache_path, NULL) : NULL;
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

nr_loader *nr_loader_new(const nr_host *host)
{
	nr_loader *l = nr_xcalloc(1, sizeof *l);
	l->host = host;
	const char *env = getenv("NRUNNER_PLUGIN_PATH");
	if (env) {
		char *copy = nr_xstrdup(env), *save = NULL;
		for (char *t = strtok_r(copy, ":", &save); t;
		     t = strtok_r(NULL, ":", &save))
			add_dir(l, t);
		free(copy);
	}
	/* NRUNNER_PLUGINDIR stands in for the installed directory: for a
	 * relocated install, and for tests that must see only their own. */
	const char *inst = getenv("NRUNNER_PLUGINDIR");
	add_dir(l, inst && *inst ? inst : NR_PLUGINDIR);
	for (size_t i = 0; i < l->ndirs; i++)
		scan_dir(l, l->dirs[i]);
	l->described = nr_xcalloc(l->nrecs, sizeof *l->described);
	cache_load(l);
	return l;
}

static void free_kinds(nr_plugin_rec *r)
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

void nr_loader_free(nr_loader *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nrecs; i++) {
		nr_plugin_rec *r = &l->recs[i];
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
	for (size_t i = 0; i < l->ndirs; i++)
		free(l->dirs[i]);
	free(l->dirs);
	cJSON_Delete(l->cache);
	free(l->cache_path);
	free(l);
}

size_t nr_loader_count(nr_loader *l) { return l->nrecs; }
size_t nr_loader_dir_count(nr_loader *l) { return l->ndirs; }
const char *nr_loader_dir(nr_loader *l, size_t i) { return l->dirs[i]; }

static void refuse(nr_plugin_rec *r, const char *fmt, ...) NR_PRINTF_ATTR(2, 3);
static void refuse(nr_plugin_rec *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(r->refused);
	if (vasprintf(&r->refused, fmt, ap) < 0)
		r->refused = NULL;
	va_end(ap);
}

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
static int take_descriptor(nr_plugin_rec *r, const nr_plugin *p)
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
	for (size_t k = 0; k < n; k++) {
		const nr_kind *kd = p->kinds[k];
		if (!kd->name || !*kd->name || !kd->run) {
			refuse(r, "invalid descriptor: kinds[%zu] has no name or "
				  "no run() entry", k);
			return -1;
		}
	}
	free(r->name);
	free(r->version);
	free_kinds(r);
	r->name = nr_xstrdup(p->name);
	r->version = nr_xstrdup(p->version ? p->version : "");
	r->kinds = nr_xcalloc(n, sizeof *r->kinds);
	r->nkinds = n;
	for (size_t k = 0; k < n; k++) {
		const nr_kind *kd = p->kinds[k];
		nr_kind_info *ki = &r->kinds[k];
		ki->name = nr_xstrdup(kd->name);
		ki->summary = nr_xstrdup(kd->summary ? kd->summary : "");
		size_t c = 0;
		while (kd->config_used && kd->config_used[c])
			c++;
		ki->config_used = nr_xcalloc(c + 1, sizeof *ki->config_used);
		for (size_t j = 0; j < c; j++)
			ki->config_used[j] = nr_xstrdup(kd->config_used[j]);
		ki->live = kd;
		ki->claims = p->abi_minor >= 1 && kd->resolve != NULL;
	}
	return 0;
}

/* Opens the file and reads its descriptor.  Does not run init. */
static int open_plugin(nr_plugin_rec *r)
{
	if (r->desc)
		return 0;
	if (!ltdl_ready()) {
		refuse(r, "libltdl failed to initialise: %s", lt_dlerror());
		return -1;
	}
	if (has_suffix(r->file, ".so") && !looks_like_elf(r->file)) {
		refuse(r, "not a shared object (no ELF header); remove it from "
			  "the plugin directory");
		return -1;
	}
	lt_dladvise advise;
	lt_dladvise_init(&advise);
	lt_dladvise_local(&advise);
	lt_dlhandle h = lt_dlopenadvise(r->file, advise);
	lt_dladvise_destroy(&advise);
	if (!h) {
		refuse(r, "cannot be loaded: %s; check its dependencies with "
			  "ldd(1)", open_failure(r->file));
		return -1;
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
	char buf[160];
	snprintf(buf, sizeof buf, "%llu:%llu:%lld:%lld.%09ld",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	return cJSON_CreateString(buf);
}

static char *json_strdup(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? nr_xstrdup(v->valuestring) : NULL;
}

static int cache_get(nr_loader *l, nr_plugin_rec *r, const cJSON *key)
{
	const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(plugins, r->file);
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "stat");
	if (!cJSON_IsString(k) || strcmp(k->valuestring, key->valuestring))
		return -1;
	const cJSON *abi = cJSON_GetObjectItemCaseSensitive(e, "abi");
	const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(e, "kinds");
	if (cJSON_GetArraySize(abi) != 2 || !cJSON_IsArray(kinds))
		return -1;
	r->abi_major = (uint32_t)cJSON_GetArrayItem(abi, 0)->valuedouble;
	r->abi_minor = (uint32_t)cJSON_GetArrayItem(abi, 1)->valuedouble;
	r->name = json_strdup(e, "name");
	r->version = json_strdup(e, "version");
	r->refused = json_strdup(e, "refused");
	r->nkinds = (size_t)cJSON_GetArraySize(kinds);
	r->kinds = nr_xcalloc(r->nkinds, sizeof *r->kinds);
	size_t i = 0;
	const cJSON *kd;
	cJSON_ArrayForEach(kd, kinds)
	{
		nr_kind_info *ki = &r->kinds[i++];
		ki->name = json_strdup(kd, "name");
		ki->summary = json_strdup(kd, "summary");
		ki->claims = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(kd, "claims"));
		const cJSON *cu = cJSON_GetObjectItemCaseSensitive(kd, "config_used");
		size_t c = (size_t)cJSON_GetArraySize(cu), j = 0;
		ki->config_used = nr_xcalloc(c + 1, sizeof *ki->config_used);
		const cJSON *s;
		cJSON_ArrayForEach(s, cu) if (cJSON_IsString(s))
			ki->config_used[j++] = nr_xstrdup(s->valuestring);
		if (!ki->name || !ki->summary)
			return -1;
	}
	return 0;
}

static void cache_put(nr_loader *l, const nr_plugin_rec *r, cJSON *key)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddItemToObject(e, "stat", key);
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
	cJSON *plugins = cJSON_GetObjectItemCaseSensitive(l->cache, "plugins");
	cJSON_DeleteItemFromObjectCaseSensitive(plugins, r->file);
	cJSON_AddItemToObject(plugins, r->file, e);
	l->cache_dirty = 1;
}

nr_plugin_rec *nr_loader_describe(nr_loader *l, size_t i)
{
	nr_plugin_rec *r = &l->recs[i];
	if (l->described[i])
		return r;
	l->described[i] = 1;
	cJSON *key = stat_key(r->file);
	if (!key) {
		refuse(r, "cannot be read: %s", strerror(errno));
		return r;
	}
	if (cache_get(l, r, key) == 0) {
		cJSON_Delete(key);
		return r;
	}
	free_kinds(r);
	free(r->refused);
	r->refused = NULL;
	int ok = open_plugin(r) == 0;
	/* A file that the dynamic linker cannot open today may open
	 * tomorrow (a library installed, LD_LIBRARY_PATH set): only what
	 * the file itself declares is cached. */
	if (ok || r->name)
		cache_put(l, r, key);
	else
		cJSON_Delete(key);
	return r;
}

int nr_loader_open(nr_loader *l, nr_plugin_rec *r)
{
	nr_loader_describe(l, (size_t)(r - l->recs));
	if (r->refused)
		return -1;
	if (!r->desc) {
		/* Described from the cache: open it now, and check that the
		 * live descriptor still provides the kinds the cache said. */
		size_t n = r->nkinds;
		char **names = nr_xcalloc(n + 1, sizeof *names);
		for (size_t k = 0; k < n; k++)
			names[k] = nr_xstrdup(r->kinds[k].name);
		int ok = open_plugin(r) == 0;
		int same = ok && r->nkinds == n;
		for (size_t k = 0; same && k < n; k++)
			same = !strcmp(names[k], r->kinds[k].name);
		for (size_t k = 0; k < n; k++)
			free(names[k]);
		free(names);
		if (!ok)
			return -1;
		if (!same) {
			refuse(r, "changed while nrunner was reading it; run "
				  "the command again");
			return -1;
		}
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

void nr_loader_save_cache(nr_loader *l)
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
	char *dir = nr_xstrdup(l->cache_path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	char *tmp = nr_xasprintf("%s.%ld.tmp", l->cache_path, (long)getpid());
	char *text = cJSON_PrintUnformatted(l->cache);
	int fd = -1;
	if (nr_mkdir_p(dir, 0755) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int ok = nr_write_all(fd, text, strlen(text)) == 0;
		ok &= close(fd) == 0;
		if (!ok || rename(tmp, l->cache_path) < 0)
			unlink(tmp);
	}
	free(text);
	free(tmp);
	free(dir);
	l->cache_dirty = 0;
}
