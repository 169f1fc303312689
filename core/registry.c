#include "config.h"

#include "registry.h"
#include "host.h"
#include "jobhooks.h"
#include "resolve.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
	const nrc_kind_info *kind;
	nrc_plugin_rec *plugin;
	nrc_plugin_rec *by; /* for a shadowed entry: the winner */
} entry;

struct nrc_registry {
	nrc_loader *loader;
	entry *kinds;
	size_t nkinds;
	entry *shadowed;
	size_t nshadowed;
	int loaded_all;
	nrc_jobhooks *hooks; /* the job helper, once job_begin succeeded */
};

nrc_registry *nrc_registry_new(void)
{
	nrc_registry *reg = nrc_xcalloc(1, sizeof *reg);
	reg->loader = nrc_loader_new(&nrc_host_table);
	return reg;
}

void nrc_registry_free(nrc_registry *reg)
{
	if (!reg)
		return;
	char e[1024];
	if (nrc_registry_job_end(reg, e, sizeof e) < 0)
		nrc_error("%s", e);
	nrc_loader_save_cache(reg->loader);
	nrc_loader_free(reg->loader);
	free(reg->kinds);
	free(reg->shadowed);
	free(reg);
}

static void push(entry **v, size_t *n, entry e)
{
	*v = nrc_xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = e;
}

void nrc_registry_load_all(nrc_registry *reg)
{
	if (reg->loaded_all)
		return;
	reg->loaded_all = 1;
	size_t n = nrc_loader_count(reg->loader);
	for (size_t i = 0; i < n; i++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
		if (p->refused || nrc_loader_check(reg->loader, p) < 0)
			continue;
		for (size_t k = 0; k < p->nkinds; k++) {
			const nrc_kind_info *ki = &p->kinds[k];
			nrc_plugin_rec *winner = NULL;
			for (size_t j = 0; j < reg->nkinds && !winner; j++)
				if (!strcmp(reg->kinds[j].kind->name, ki->name))
					winner = reg->kinds[j].plugin;
			if (winner)
				push(&reg->shadowed, &reg->nshadowed,
				     (entry){ki, p, winner});
			else
				push(&reg->kinds, &reg->nkinds,
				     (entry){ki, p, NULL});
		}
	}
}

/* A plugin refused before it could say what it provides (it crashed in
 * its entry function, or is untrusted) may be the one the user asks for:
 * when its file is named after the kind, say so with the reason, rather
 * than only that the kind is unknown. */
static int refused_unknown(nrc_registry *reg, char *err, size_t errlen,
			   const char *kind)
{
	size_t n = nrc_loader_count(reg->loader);
	for (size_t i = 0; i < 2 * n; i++) {
		const nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i % n);
		const char *base = strrchr(p->file, '/');
		int is_dir = !strcmp(p->file, p->dir);
		if (!p->refused || p->nkinds ||
		    (i < n ? !strstr(base ? base : p->file, kind) : !is_dir))
			continue;
		/* Second round: a refused directory, whose plugins were
		 * not even looked at. */
		snprintf(err, errlen,
			 "unknown kind '%s', but %s%s, which may provide it, was "
			 "refused: %s", kind, is_dir ? "the plugin directory " : "",
			 p->file, p->refused);
		return 1;
	}
	return 0;
}

const nr_kind *nrc_registry_find(nrc_registry *reg, const char *kind,
				const nrc_plugin_rec **plugin, char *err,
				size_t errlen)
{
	size_t n = nrc_loader_count(reg->loader);
	const nrc_plugin_rec *refused = NULL;
	for (size_t i = 0; i < n; i++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
		const nrc_kind_info *ki = NULL;
		for (size_t k = 0; k < p->nkinds && !ki; k++)
			if (!strcmp(p->kinds[k].name, kind))
				ki = &p->kinds[k];
		if (!ki)
			continue;
		if (p->refused || nrc_loader_open(reg->loader, p) < 0) {
			if (!refused)
				refused = p;
			continue;
		}
		/* After opening, p->kinds point at the live descriptor. */
		for (size_t k = 0; k < p->nkinds; k++)
			if (!strcmp(p->kinds[k].name, kind)) {
				*plugin = p;
				return p->kinds[k].live;
			}
	}
	if (refused)
		snprintf(err, errlen,
			 "kind '%s': its plugin %s was refused: %s", kind,
			 refused->file, refused->refused);
	else if (refused_unknown(reg, err, errlen, kind))
		; /* a refused plugin whose kinds are unknown may have it */
	else if (!nrc_loader_dir_count(reg->loader))
		snprintf(err, errlen,
			 "unknown kind '%s': no plugin directory exists; set "
			 "NRUNNER_PLUGIN_PATH or install nrunner's plugins in %s",
			 kind, NR_PLUGINDIR);
	else
		snprintf(err, errlen,
			 "unknown kind '%s'; 'nrunner --list-kinds' shows the "
			 "kinds that were found",
			 kind);
	return NULL;
}

int nrc_registry_knows(nrc_registry *reg, const char *kind, char *err,
		      size_t errlen)
{
	size_t n = nrc_loader_count(reg->loader);
	for (size_t i = 0; i < n; i++) {
		const nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
		for (size_t k = 0; k < p->nkinds; k++)
			if (!p->refused && !strcmp(p->kinds[k].name, kind))
				return 1;
	}
	const nrc_plugin_rec *p;
	return nrc_registry_find(reg, kind, &p, err, errlen) != NULL;
}

int nrc_registry_claim(nrc_registry *reg, const char *path, nr_resolver *r)
{
	/* In search-path order, the winning provider of each kind that can
	 * claim files (the cache says which), opening only those plugins:
	 * a job of recipes never maps libcurl or libpq into nrunner, so its
	 * many forks stay cheap. */
	size_t n = nrc_loader_count(reg->loader);
	cJSON *seen = cJSON_CreateObject();
	int result = NR_RESOLVE_NOT_MINE;
	for (size_t i = 0; i < n && result == NR_RESOLVE_NOT_MINE; i++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
		if (p->refused)
			continue;
		int opened = 0;
		for (size_t k = 0; k < p->nkinds && result == NR_RESOLVE_NOT_MINE; k++) {
			const char *name = p->kinds[k].name;
			if (cJSON_GetObjectItemCaseSensitive(seen, name))
				continue; /* shadowed by an earlier plugin */
			cJSON_AddTrueToObject(seen, name);
			if (!p->kinds[k].claims)
				continue;
			if (!opened && nrc_loader_open(reg->loader, p) < 0)
				break;
			opened = 1;
			/* Opening set the kinds' live entries, after checking
			 * that they are the kinds the cache had. */
			const nr_kind *live = k < p->nkinds ? p->kinds[k].live : NULL;
			if (!live || !live->resolve)
				continue;
			r->kind = live->name;
			int c = live->resolve(&nrc_host_table, r, path);
			if (c != NR_RESOLVE_NOT_MINE)
				result = c == NR_RESOLVE_CLAIMED ? c : NR_RESOLVE_ERROR;
		}
	}
	cJSON_Delete(seen);
	return result;
}

/* Hooks added in ABI 1.2 exist only in descriptors of minor >= 2. */
static int has_job_hooks(const nrc_plugin_rec *p)
{
	return p->desc && p->abi_minor >= 2;
}

int nrc_registry_job_begin(nrc_registry *reg, nrc_runnable *const *items,
			  size_t n, const nrc_setup_limits *limits, char *err,
			  size_t errlen)
{
	/* Each runnable's plugin, found once.  Finding opens it: a plugin
	 * known from the cache has no descriptor until then. */
	const nrc_plugin_rec **owners = nrc_xcalloc(n + 1, sizeof *owners);
	for (size_t i = 0; i < n; i++) {
		char e[512];
		if (!nrc_registry_find(reg, items[i]->kind, &owners[i], e, sizeof e))
			owners[i] = NULL;
	}
	size_t np = nrc_loader_count(reg->loader), nh = 0;
	nrc_jobhook_plugin *hp = nrc_xcalloc(np + 1, sizeof *hp);
	for (size_t pi = 0; pi < np; pi++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, pi);
		if (p->refused || !has_job_hooks(p) || !p->desc->job_begin)
			continue;
		cJSON *mine = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++)
			if (owners[i] == p)
				cJSON_AddItemToArray(mine, nrc_runnable_to_json(items[i]));
		if (cJSON_GetArraySize(mine) > 0)
			hp[nh++] = (nrc_jobhook_plugin){.desc = p->desc,
						       .abi_minor = p->abi_minor,
						       .name = p->name,
						       .runnables = cJSON_PrintUnformatted(mine)};
		cJSON_Delete(mine);
	}
	free(owners);
	/* No helper at all for a job whose plugins have no hooks. */
	int rc = nh ? nrc_jobhooks_begin(hp, nh, limits, &reg->hooks, err, errlen)
		    : NR_SETUP_OK;
	for (size_t i = 0; i < nh; i++)
		free((char *)hp[i].runnables);
	free(hp);
	return rc;
}

int nrc_registry_job_end(nrc_registry *reg, char *err, size_t errlen)
{
	nrc_jobhooks *j = reg->hooks;
	reg->hooks = NULL;
	int rc = nrc_jobhooks_end(j, err, errlen);
	nrc_job_data_replace(NULL);
	return rc;
}

int nrc_registry_clean(nrc_registry *reg, const cJSON *kwargs, int dry_run)
{
	nrc_registry_load_all(reg);
	size_t np = nrc_loader_count(reg->loader);
	int total = 0, failed = 0;
	for (size_t pi = 0; pi < np; pi++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, pi);
		if (p->refused || nrc_loader_open(reg->loader, p) < 0 ||
		    !has_job_hooks(p) || !p->desc->clean)
			continue;
		char e[2048] = "";
		int n = nrc_jobhooks_clean(p->desc, kwargs, dry_run, e, sizeof e);
		if (n < 0) {
			nrc_error("clean: plugin %s: %s", p->name,
				 e[0] ? e : "failed without a reason");
			failed = 1;
		} else {
			total += n;
		}
	}
	return failed ? -1 : total;
}

static const char *abi_string(const nrc_plugin_rec *p)
{
	static char buf[32];
	snprintf(buf, sizeof buf, "%u.%u", p->abi_major, p->abi_minor);
	return buf;
}

static size_t width(size_t cur, const char *s)
{
	size_t n = strlen(s);
	return n > cur ? n : cur;
}

void nrc_registry_print_table(nrc_registry *reg, FILE *out)
{
	nrc_registry_load_all(reg);
	size_t wk = 4, ws = 7, wp = 6, wv = 7;
	for (size_t i = 0; i < reg->nkinds; i++) {
		entry *e = &reg->kinds[i];
		wk = width(wk, e->kind->name);
		ws = width(ws, e->kind->summary);
		wp = width(wp, e->plugin->name);
		wv = width(wv, e->plugin->version);
	}
	if (!reg->nkinds) {
		fprintf(out, "No kinds found.  Searched:");
		for (size_t i = 0; i < nrc_loader_dir_count(reg->loader); i++)
			fprintf(out, " %s", nrc_loader_dir(reg->loader, i));
		fprintf(out, "%s\n", nrc_loader_dir_count(reg->loader)
					     ? ""
					     : " (no directory exists)");
	} else {
		fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-3s  %s\n", (int)wk,
			"KIND", (int)ws, "SUMMARY", (int)wp, "PLUGIN", (int)wv,
			"VERSION", "ABI", "PATH");
	}
	for (size_t i = 0; i < reg->nkinds; i++) {
		entry *e = &reg->kinds[i];
		fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-3s  %s\n", (int)wk,
			e->kind->name, (int)ws, e->kind->summary, (int)wp,
			e->plugin->name, (int)wv, e->plugin->version,
			abi_string(e->plugin), e->plugin->file);
	}
	size_t n = nrc_loader_count(reg->loader), nref = 0;
	for (size_t i = 0; i < n; i++)
		nref += nrc_loader_describe(reg->loader, i)->refused != NULL;
	if (nref) {
		fprintf(out, "\nRefused plugins:\n");
		for (size_t i = 0; i < n; i++) {
			nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
			if (p->refused)
				fprintf(out, "  %s: %s\n", p->file, p->refused);
		}
	}
	if (reg->nshadowed) {
		fprintf(out, "\nShadowed kinds (the first plugin in the search "
			     "path wins):\n");
		for (size_t i = 0; i < reg->nshadowed; i++) {
			entry *e = &reg->shadowed[i];
			fprintf(out, "  %s: kind '%s' is already provided by %s\n",
				e->plugin->file, e->kind->name, e->by->file);
		}
	}
}

static cJSON *strings(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

cJSON *nrc_registry_to_json(nrc_registry *reg)
{
	nrc_registry_load_all(reg);
	cJSON *o = cJSON_CreateObject();
	cJSON *kinds = cJSON_AddArrayToObject(o, "kinds");
	for (size_t i = 0; i < reg->nkinds; i++) {
		entry *e = &reg->kinds[i];
		cJSON *k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "kind", e->kind->name);
		cJSON_AddStringToObject(k, "summary", e->kind->summary);
		cJSON_AddStringToObject(k, "plugin", e->plugin->name);
		cJSON_AddStringToObject(k, "version", e->plugin->version);
		cJSON_AddStringToObject(k, "abi", abi_string(e->plugin));
		cJSON_AddStringToObject(k, "path", e->plugin->file);
		cJSON_AddItemToObject(k, "configuration_used",
				      strings(e->kind->config_used));
		cJSON_AddItemToArray(kinds, k);
	}
	cJSON *refused = cJSON_AddArrayToObject(o, "refused");
	size_t n = nrc_loader_count(reg->loader);
	for (size_t i = 0; i < n; i++) {
		nrc_plugin_rec *p = nrc_loader_describe(reg->loader, i);
		if (!p->refused)
			continue;
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "path", p->file);
		cJSON_AddStringToObject(r, "reason", p->refused);
		cJSON_AddItemToArray(refused, r);
	}
	cJSON *shadowed = cJSON_AddArrayToObject(o, "shadowed");
	for (size_t i = 0; i < reg->nshadowed; i++) {
		entry *e = &reg->shadowed[i];
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "kind", e->kind->name);
		cJSON_AddStringToObject(s, "plugin", e->plugin->name);
		cJSON_AddStringToObject(s, "path", e->plugin->file);
		cJSON_AddStringToObject(s, "provided_by", e->by->file);
		cJSON_AddItemToArray(shadowed, s);
	}
	cJSON *dirs = cJSON_AddArrayToObject(o, "plugin_path");
	for (size_t i = 0; i < nrc_loader_dir_count(reg->loader); i++)
		cJSON_AddItemToArray(dirs,
				     cJSON_CreateString(nrc_loader_dir(reg->loader, i)));
	return o;
}

cJSON *nrc_registry_kind_names(nrc_registry *reg, const char *only)
{
	nrc_registry_load_all(reg);
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < reg->nkinds; i++)
		if (!only || !strcmp(only, reg->kinds[i].kind->name))
			cJSON_AddItemToArray(a, cJSON_CreateString(reg->kinds[i].kind->name));
	return a;
}

cJSON *nrc_registry_config_used(nrc_registry *reg, const char *only)
{
	nrc_registry_load_all(reg);
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < reg->nkinds; i++) {
		if (only && strcmp(only, reg->kinds[i].kind->name))
			continue;
		for (char **c = reg->kinds[i].kind->config_used; c && *c; c++) {
			int seen = 0;
			const cJSON *s;
			cJSON_ArrayForEach(s, a) seen |= !strcmp(s->valuestring, *c);
			if (!seen)
				cJSON_AddItemToArray(a, cJSON_CreateString(*c));
		}
	}
	return a;
}
