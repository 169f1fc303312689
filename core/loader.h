/* The plugin loader: finds plugin files along the search path, opens them
 * with libltdl, and checks the ABI handshake (DESIGN.md, "The plugin ABI").
 *
 * Opening a plugin maps its libraries too (libcurl, libpq), which costs
 * milliseconds.  So the loader keeps a cache of what each file declares,
 * keyed by the file's identity (device, inode, size, mtime, ctime), as
 * GStreamer's registry and GIO's module cache do.  Looking up one kind then
 * opens only the plugin that provides it; a file that changed or is new is
 * described again, in a helper child (core/helper.h): see "the scanner"
 * in loader.c. */
#ifndef NR_LOADER_H
#define NR_LOADER_H

#include <nrunner/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nr_kind_info {
	char *name;
	char *summary;
	char **config_used; /* NULL-terminated */
	const nr_kind *live; /* set once the plugin is opened */
	int claims;          /* it has a resolve entry (ABI 1.1): cached, so
			      * that resolving need not open every plugin */
} nr_kind_info;

typedef struct nr_plugin_rec {
	char *file;  /* the file opened: dir/name.so or dir/name.la */
	char *dir;
	uint32_t abi_major, abi_minor;
	char *name;
	char *version;
	nr_kind_info *kinds;
	size_t nkinds;
	char *refused; /* why it cannot be used; NULL if usable */
	void *handle;  /* lt_dlhandle once opened */
	const nr_plugin *desc;
	int init_done;
} nr_plugin_rec;

typedef struct nr_loader nr_loader;

/* The search path: NRUNNER_PLUGIN_PATH, then the installed directory. */
nr_loader *nr_loader_new(const nr_host *host);
void nr_loader_free(nr_loader *l);

/* Plugin files in search-path order (directory order, then name order).
 * Each is described, from the cache when it is fresh, else by opening it. */
size_t nr_loader_count(nr_loader *l);
nr_plugin_rec *nr_loader_describe(nr_loader *l, size_t i);

/* Opens the plugin (if not yet) and runs its init; on failure sets
 * rec->refused and returns -1. */
int nr_loader_open(nr_loader *l, nr_plugin_rec *rec);

/* Whether the plugin can be used (for listings): as nr_loader_open(),
 * but a plugin that the scanner has just loaded and initialised in its
 * child is not opened again in this process. */
int nr_loader_check(nr_loader *l, nr_plugin_rec *rec);

/* Writes the cache back if anything new was learnt; failures are ignored
 * (the cache is only a speed-up). */
void nr_loader_save_cache(nr_loader *l);

/* The directories searched, for --list-kinds. */
size_t nr_loader_dir_count(nr_loader *l);
const char *nr_loader_dir(nr_loader *l, size_t i);

#endif
