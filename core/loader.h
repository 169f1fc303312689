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

typedef struct nrc_kind_info {
	char *name;
	char *summary;
	char **config_used; /* NULL-terminated */
	const nr_kind *live; /* set once the plugin is opened */
	int claims;          /* it has a resolve entry (ABI 1.1): cached, so
			      * that resolving need not open every plugin */
} nrc_kind_info;

typedef struct nrc_plugin_rec {
	char *file;  /* the file opened: dir/name.so or dir/name.la */
	char *dir;
	uint32_t abi_major, abi_minor;
	char *name;
	char *version;
	nrc_kind_info *kinds;
	size_t nkinds;
	char *refused; /* why it cannot be used; NULL if usable */
	void *handle;  /* lt_dlhandle once opened */
	const nr_plugin *desc;
	int init_done;
} nrc_plugin_rec;

typedef struct nrc_loader nrc_loader;

/* The search path: NRUNNER_PLUGIN_PATH, then the installed directory. */
nrc_loader *nrc_loader_new(const nr_host *host);
void nrc_loader_free(nrc_loader *l);

/* Plugin files in search-path order (directory order, then name order).
 * Each is described, from the cache when it is fresh, else by opening it. */
size_t nrc_loader_count(nrc_loader *l);
nrc_plugin_rec *nrc_loader_describe(nrc_loader *l, size_t i);

/* Opens the plugin (if not yet) and runs its init; on failure sets
 * rec->refused and returns -1. */
int nrc_loader_open(nrc_loader *l, nrc_plugin_rec *rec);

/* Whether the plugin can be used (for listings): as nrc_loader_open(),
 * but a plugin that the scanner has just loaded and initialised in its
 * child is not opened again in this process. */
int nrc_loader_check(nrc_loader *l, nrc_plugin_rec *rec);

/* Writes the cache back if anything new was learnt; failures are ignored
 * (the cache is only a speed-up). */
void nrc_loader_save_cache(nrc_loader *l);

/* The directories searched, for --list-kinds. */
size_t nrc_loader_dir_count(nrc_loader *l);
const char *nrc_loader_dir(nrc_loader *l, size_t i);

#endif
