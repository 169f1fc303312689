/* asset: Avocado's asset kind.  Fetches a file into a cache, verified by
 * its hash, and reuses it while it is valid.  kwargs as Avocado's runner
 * (avocado/plugins/runners/asset.py): "name" (a file name, or a URL),
 * "asset_hash", "algorithm" (sha1 unless given; any digest OpenSSL knows:
 * md5, sha256, sha512...), "locations" (a URL or a list of them: file://,
 * http://, https://, or an absolute path) and "expire" (seconds, or
 * "10m", "2h", "1d").
 *
 * The cache is the config's "datadir.paths.cache_dirs" when given (as
 * Avocado's job passes it), else $XDG_CACHE_HOME/nrunner/assets, laid out
 * as Avocado's: by_name/NAME for a named asset with a hash (or several
 * locations), by_location/SHA1-OF-BASE-URL/NAME otherwise, and beside
 * each file NAME-CHECKSUM ("algorithm hash" lines).
 *
 * A download goes to a temporary file in the cache, hashed as it is
 * written, and is renamed into place only when its hash matches: a cached
 * file is always whole and right.  Fetchers of one asset are serialised
 * by flock(2) on NAME.lock; the second finds the first one's file.  An
 * unfetchable location makes the next one tried; the error names every
 * location's reason. */
#include "config.h"

#include "common/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nrunner/plugin.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_DIRS_KEY "datadir.paths.cache_dirs"
#define MAX_URLS 64

typedef struct asset {
	const nr_host *h;
	nr_task *t;
	const char *name;
	char base[NAME_MAX + 1];   /* the file's name in the cache */
	const char *hash;          /* expected, or NULL */
	const char *algorithm;
	const EVP_MD *md;
	long long expire;          /* seconds; -1: never */
	const char *urls[MAX_URLS];
	char *owned[MAX_URLS];
	size_t nurls, nlocations;
	char rel[PATH_MAX];        /* by_name or by_location/<sha1> */
	char *dirs[16];
	size_t ndirs;
	char reasons[4096];        /* every location's failure */
} asset;

static int fail(asset *a, const char *result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(asset *a, const char *result, const char *fmt, ...)
{
	char msg[6144];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s", msg); /* no newline, as Avocado's */
	fflush(stderr);
	return a->h->finish(a->t, result, msg);
}

static void hex(const unsigned char *md, unsigned len, char *out)
{
	for (unsigned i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[2 * len] = '\0';
}

static int hash_text(const EVP_MD *md, const char *text, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (!EVP_Digest(text, strlen(text), d, &len, md, NULL))
		return -1;
	hex(d, len, out);
	return 0;
}

static int hash_file(const EVP_MD *md, const char *path, char *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);
	char buf[65536];
	ssize_t r;
	while (ok && ((r = read(fd, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			ok = EVP_DigestUpdate(ctx, buf, (size_t)r);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	ok = ok && r == 0 && EVP_DigestFinal_ex(ctx, d, &len);
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (!ok)
		return -1;
	hex(d, len, out);
	return 0;
}

/* "30", 30, "10m", "2h", "1d" as Avocado's time_to_seconds; -1 on error. */
static long long seconds_of(const nr_host *h, const nr_value *v)
{
	if (h->type(v) == NR_TYPE_NUMBER)
		return h->number(v) >= 0 ? (long long)h->number(v) : -1;
	const char *s = h->string(v);
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || n < 0)
		return -1;
	long long mult = 1;
	if (*end) {
		const char *u = strchr("smhd", *end | 0x20);
		if (!u || end[1])
			return -1;
		static const long long m[] = {1, 60, 3600, 86400};
		mult = m[u - "smhd"];
	}
	return n * mult;
}

static int has_scheme(const char *s)
{
	const char *p = strstr(s, "://");
	if (!p || p == s)
		return 0;
	for (const char *c = s; c < p; c++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-", *c))
			return 0;
	return 1;
}

/* A location as a URL: an absolute or ./ path becomes file://; a
 * location ending in '/' is a directory that holds the asset. */
static const char *add_url(asset *a, const char *loc)
{
	if (a->nurls >= MAX_URLS)
		return "too many locations";
	char *u = NULL;
	int dir = *loc && loc[strlen(loc) - 1] == '/';
	if (has_scheme(loc)) {
		if (asprintf(&u, "%s%s", loc, dir ? a->base : "") < 0)
			u = NULL;
	} else if (loc[0] == '/' || !strncmp(loc, "./", 2)) {
		char cwd[PATH_MAX] = "";
		if (loc[0] != '/' && !getcwd(cwd, sizeof cwd))
			return "cannot read the current directory";
		if (asprintf(&u, "file://%s%s%s%s", cwd, loc[0] == '/' ? "" : loc + 1,
			     loc[0] == '/' ? loc : "", dir ? a->base : "") < 0)
			u = NULL;
	} else {
		return "is neither a URL (file://, http://, https://) nor an "
		       "absolute path";
	}
	if (!u)
		return "out of memory";
	a->owned[a->nurls] = u;
	a->urls[a->nurls++] = u;
	return NULL;
}

/* The asset's file name: the last part of the name's path (its URL's
 * path, without query or fragment). */
static int set_base(asset *a)
{
	const char *p = a->name;
	if (has_scheme(p)) {
		p = strstr(p, "://") + 3;
		p += strcspn(p, "/"); /* the host */
	}
	size_t len = strcspn(p, "?#");
	while (len && p[len - 1] == '/')
		len--;
	const char *slash = memrchr(p, '/', len);
	const char *b = slash ? slash + 1 : p;
	size_t blen = len - (size_t)(b - p);
	if (!blen || blen > NAME_MAX || (blen <= 2 && !strncmp(b, "..", blen)))
		return -1;
	memcpy(a->base, b, blen);
	a->base[blen] = '\0';
	return 0;
}

/* Avocado's layout: by_name when the name is no URL and says what it is
 * (a hash, or several locations to choose from); else by where it comes
 * from, so that two assets of one name from different places both fit. */
static int set_rel(asset *a)
{
	int named_url = has_scheme(a->name);
	if (!named_url && (a->hash || a->nlocations > 1)) {
		snprintf(a->rel, sizeof a->rel, "by_name");
		return 0;
	}
	const char *from = a->nlocations ? a->urls[named_url] : a->name;
	char base_url[PATH_MAX * 2];
	snprintf(base_url, sizeof base_url, "%s", from);
	char *slash = strrchr(base_url, '/');
	if (slash && (strstr(base_url, a->base) || !a->nlocations))
		*slash = '\0';
	const EVP_MD *sha1 = EVP_get_digestbyname("sha1");
	char h[EVP_MAX_MD_SIZE * 2 + 1];
	if (!sha1 || hash_text(sha1, base_url, h) < 0)
		return -1;
	snprintf(a->rel, sizeof a->rel, "by_location/%s", h);
	return 0;
}

static char *expand_home(const char *dir)
{
	char *out = NULL;
	const char *home = getenv("HOME");
	if (dir[0] == '~' && (dir[1] == '/' || !dir[1]) && home)
		return asprintf(&out, "%s%s", home, dir + 1) < 0 ? NULL : out;
	return nrp_xstrdup(dir);
}

static const char *set_dirs(asset *a)
{
	const nr_value *v = a->h->get(a->h->config(a->t), CACHE_DIRS_KEY);
	const nr_host *h = a->h;
	if (h->type(v) == NR_TYPE_STRING) {
		a->dirs[a->ndirs++] = expand_home(h->string(v));
	} else if (h->type(v) == NR_TYPE_ARRAY) {
		for (size_t i = 0; i < h->size(v) && a->ndirs < 16; i++) {
			const char *d = h->string(h->item(v, i));
			if (!d)
				return "config \"" CACHE_DIRS_KEY "\": must be a list of directories";
			a->dirs[a->ndirs++] = expand_home(d);
		}
	} else if (h->type(v) != NR_TYPE_ABSENT && h->type(v) != NR_TYPE_NULL) {
		return "config \"" CACHE_DIRS_KEY "\": must be a list of directories";
	}
	if (!a->ndirs) {
		const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		char *d = NULL;
		if (x && x[0] == '/')
			d = asprintf(&d, "%s/nrunner/assets", x) < 0 ? NULL : d;
		else if (home && *home)
			d = asprintf(&d, "%s/.cache/nrunner/assets", home) < 0 ? NULL : d;
		if (!d)
			return "no cache directory: set XDG_CACHE_HOME or HOME";
		a->dirs[a->ndirs++] = d;
	}
	for (size_t i = 0; i < a->ndirs; i++)
		if (!a->dirs[i])
			return "out of memory";
	return NULL;
}

/* The hash of `algorithm` that NAME-CHECKSUM records, if any. */
static int checksum_read(const char *path, const char *algorithm, char *out,
			 size_t len)
{
	char cpath[PATH_MAX];
	snprintf(cpath, sizeof cpath, "%s-CHECKSUM", path);
	FILE *f = fopen(cpath, "re");
	if (!f)
		return -1;
	char line[512], alg[64], h[260];
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f))
		if (sscanf(line, "%63s %259s", alg, h) == 2 && !strcmp(alg, algorithm) &&
		    strlen(h) < len) {
			strcpy(out, h);
			found = 0;
		}
	fclose(f);
	return found;
}

/* Writes NAME-CHECKSUM anew (through a rename: readers never see half). */
static void checksum_write(const char *path, const char *algorithm,
			   const char *h)
{
	char cpath[PATH_MAX], tmp[PATH_MAX + 16];
	snprintf(cpath, sizeof cpath, "%s-CHECKSUM", path);
	snprintf(tmp, sizeof tmp, "%s.XXXXXX", cpath);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return;
	}
	fchmod(fd, 0644);
	fprintf(f, "%s %s\n", algorithm, h);
	if (fclose(f) != 0 || rename(tmp, cpath) < 0)
		unlink(tmp);
}

/* A cached file that is there, not expired and of the right hash. */
static int valid(asset *a, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (a->expire >= 0 && (long long)(time(NULL) - st.st_mtime) > a->expire)
		return 0;
	if (!a->hash)
		return 1;
	char h[EVP_MAX_MD_SIZE * 2 + 1];
	if (checksum_read(path, a->algorithm, h, sizeof h) == 0 &&
	    !strcasecmp(h, a->hash))
		return 1;
	/* No record, or another one (a file replaced by hand): the file
	 * itself says. */
	if (hash_file(a->md, path, h) < 0 || strcasecmp(h, a->hash))
		return 0;
	checksum_write(path, a->algorithm, h);
	return 1;
}

static int found(asset *a, const char *path, const char *how)
{
	printf("File fetched at %s", path);
	fflush(stdout);
	a->h->log(a->t, "%s", how);
	nr_msg *m = a->h->msg_new(a->t, "finished");
	a->h->msg_string(m, "result", NR_RESULT_PASS);
	a->h->msg_string(m, "asset_path", path);
	return a->h->msg_emit(m);
}

static void reason(asset *a, const char *url, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reason(asset *a, const char *url, const char *fmt, ...)
{
	size_t n = strlen(a->reasons);
	if (n + 2 >= sizeof a->reasons)
		return;
	n += (size_t)snprintf(a->reasons + n, sizeof a->reasons - n, "%s%s: ",
			      n ? "; " : "", url);
	if (n >= sizeof a->reasons)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->reasons + n, sizeof a->reasons - n, fmt, ap);
	va_end(ap);
}

typedef struct sink {
	int fd;
	EVP_MD_CTX *ctx;
	int werr; /* errno of a failed write */
} sink;

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
	sink *s = ud;
	size_t len = size * n, done = 0;
	while (done < len) {
		ssize_t w = write(s->fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->werr = errno;
			return 0; /* curl stops: CURLE_WRITE_ERROR */
		}
		done += (size_t)w;
	}
	EVP_DigestUpdate(s->ctx, p, len);
	return len;
}

static int progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
		    curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	asset *a = ud;
	return a->h->interrupted(a->t); /* non-zero aborts the transfer */
}

/* Downloads url into a temporary file beside path, and renames it into
 * place if its hash is right.  Returns 0, or -1 with the reason added. */
static int fetch_one(asset *a, const char *url, const char *path)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
	sink s = {.fd = mkostemp(tmp, O_CLOEXEC)};
	if (s.fd < 0) {
		reason(a, url, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	fchmod(s.fd, 0644);
	s.ctx = EVP_MD_CTX_new();
	CURL *c = curl_easy_init();
	int rc = -1;
	if (!s.ctx || !c || !EVP_DigestInit_ex(s.ctx, a->md, NULL)) {
		reason(a, url, "out of memory");
		goto out;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "file,http,https");
	/* A web server may redirect to another, never to a local file. */
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* Stalled (under 1 byte/s for a minute): give up on this location. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "nrunner/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	a->h->log(a->t, "fetching %s", url);
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR && s.werr)
			reason(a, url, "cannot write %s: %s", tmp, strerror(s.werr));
		else
			reason(a, url, "%s", *errbuf ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char got[EVP_MAX_MD_SIZE * 2 + 1];
	if (!EVP_DigestFinal_ex(s.ctx, d, &len)) {
		reason(a, url, "cannot hash it");
		goto out;
	}
	hex(d, len, got);
	if (a->hash && strcasecmp(got, a->hash)) {
		reason(a, url, "hash mismatch: %s is %s, expected %s", a->algorithm,
		       got, a->hash);
		goto out;
	}
	if (fsync(s.fd) < 0 || rename(tmp, path) < 0) {
		reason(a, url, "cannot store it as %s: %s", path, strerror(errno));
		goto out;
	}
	checksum_write(path, a->algorithm, got);
	rc = 0;
out:
	if (rc < 0)
		unlink(tmp);
	close(s.fd);
	if (c)
		curl_easy_cleanup(c);
	EVP_MD_CTX_free(s.ctx);
	return rc;
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* snprintf that says when the text did not fit. */
#define FITS(buf, ...) (snprintf(buf, sizeof buf, __VA_ARGS__) < (int)sizeof buf)

static int fetch(asset *a)
{
	char path[PATH_MAX];
	/* In the cache already? */
	for (size_t i = 0; i < a->ndirs; i++)
		if (FITS(path, "%s/%s/%s", a->dirs[i], a->rel, a->base) && valid(a, path))
			return found(a, path, "asset found in the cache");
	if (!a->nurls)
		return fail(a, NR_RESULT_ERROR, "Failed to fetch %s (not in the "
			    "cache, and no location to fetch it from: give "
			    "\"locations\", or a URL as \"name\")", a->base);
	/* The first cache directory that can be written. */
	char dir[PATH_MAX], why[PATH_MAX + 128] = "";
	size_t i;
	for (i = 0; i < a->ndirs; i++) {
		errno = ENAMETOOLONG;
		if (FITS(dir, "%s/%s", a->dirs[i], a->rel) && mkdirs(dir) == 0 &&
		    access(dir, W_OK) == 0 && FITS(path, "%s/%s", dir, a->base))
			break;
		if (!FITS(why, "%s: %s", dir, strerror(errno)))
			why[0] = '\0';
	}
	if (i == a->ndirs)
		return fail(a, NR_RESULT_ERROR, "Failed to fetch %s (no writable "
			    "cache directory: %s)", a->base, why);
	char lock[PATH_MAX + 8];
	snprintf(lock, sizeof lock, "%s.lock", path);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0)
		return fail(a, NR_RESULT_ERROR, "Failed to fetch %s (%s: %s)",
			    a->base, lock, strerror(errno));
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno != EINTR || a->h->interrupted(a->t)) {
			int e = errno;
			close(lfd);
			return e == EINTR ? fail(a, NR_RESULT_INTERRUPTED,
						 "interrupted while waiting for %s", lock)
					  : fail(a, NR_RESULT_ERROR, "Failed to fetch %s (%s: %s)",
						 a->base, lock, strerror(e));
		}
	}
	/* Another task may have fetched it while this one waited. */
	if (valid(a, path)) {
		close(lfd);
		return found(a, path, "asset fetched by another task meanwhile");
	}
	int rc = -1;
	for (i = 0; i < a->nurls && rc < 0 && !a->h->interrupted(a->t); i++)
		rc = fetch_one(a, a->urls[i], path);
	close(lfd); /* the lock goes with it */
	if (rc == 0)
		return found(a, path, "asset downloaded");
	if (a->h->interrupted(a->t))
		return fail(a, NR_RESULT_INTERRUPTED, "interrupted while fetching %s",
			    a->base);
	return fail(a, NR_RESULT_ERROR, "Failed to fetch %s (%s)", a->base, a->reasons);
}

static int asset_run(const nr_host *h, nr_task *t)
{
	asset a = {.h = h, .t = t, .expire = -1};
	const nr_value *kw = h->kwargs(t);
	a.name = h->string(h->get(kw, "name"));
	if (!a.name)
		return fail(&a, NR_RESULT_ERROR, "At least name should be passed as "
			    "kwargs using name=\"uri\".");
	int rc;
	const nr_value *v = h->get(kw, "asset_hash");
	a.hash = h->string(v);
	if ((!a.hash && h->type(v) != NR_TYPE_ABSENT && h->type(v) != NR_TYPE_NULL) ||
	    (a.hash && !*a.hash)) {
		rc = fail(&a, NR_RESULT_ERROR, "kwarg \"asset_hash\": must be the "
			  "file's hash in hexadecimal");
		goto out;
	}
	v = h->get(kw, "algorithm");
	a.algorithm = h->string(v) ? h->string(v) : "sha1";
	if ((!h->string(v) && h->type(v) != NR_TYPE_ABSENT && h->type(v) != NR_TYPE_NULL) ||
	    !(a.md = EVP_get_digestbyname(a.algorithm))) {
		rc = fail(&a, NR_RESULT_ERROR, "kwarg \"algorithm\": '%s' is not a "
			  "hash algorithm; use sha1 (the default), sha224, sha256, "
			  "sha384, sha512 or md5", h->string(v) ? a.algorithm : "(not a string)");
		goto out;
	}
	v = h->get(kw, "expire");
	if (h->type(v) != NR_TYPE_ABSENT && h->type(v) != NR_TYPE_NULL &&
	    (a.expire = seconds_of(h, v)) < 0) {
		rc = fail(&a, NR_RESULT_ERROR, "kwarg \"expire\": give seconds, or "
			  "a number with s, m, h or d, e.g. \"10m\" or \"1d\"");
		goto out;
	}
	if (set_base(&a) < 0) {
		rc = fail(&a, NR_RESULT_ERROR, "kwarg \"name\": '%s' names no file",
			  a.name);
		goto out;
	}
	/* The name itself, when it is a file here, as Avocado has it. */
	struct stat st;
	if (!has_scheme(a.name) && stat(a.name, &st) == 0 && S_ISREG(st.st_mode)) {
		char h2[EVP_MAX_MD_SIZE * 2 + 1];
		if (a.hash && (hash_file(a.md, a.name, h2) < 0 || strcasecmp(h2, a.hash))) {
			rc = fail(&a, NR_RESULT_ERROR, "Failed to fetch %s (the file "
				  "%s is there, but its %s is not %s)", a.base, a.name,
				  a.algorithm, a.hash);
			goto out;
		}
		rc = found(&a, a.name, "the name is a file");
		goto out;
	}
	const char *err = NULL;
	if (has_scheme(a.name))
		err = add_url(&a, a.name);
	v = h->get(kw, "locations");
	if (!err && h->string(v)) {
		a.nlocations = 1;
		err = add_url(&a, h->string(v));
	} else if (!err && h->type(v) == NR_TYPE_ARRAY) {
		for (size_t i = 0; !err && i < h->size(v); i++) {
			const char *l = h->string(h->item(v, i));
			a.nlocations++;
			err = l ? add_url(&a, l) : "must be a URL or a list of URLs";
		}
	} else if (!err && h->type(v) != NR_TYPE_ABSENT && h->type(v) != NR_TYPE_NULL) {
		err = "must be a URL or a list of URLs";
	}
	if (err) {
		rc = fail(&a, NR_RESULT_ERROR, "kwarg \"locations\": %s", err);
		goto out;
	}
	if (set_rel(&a) < 0 || (err = set_dirs(&a))) {
		rc = fail(&a, NR_RESULT_ERROR, "%s", err ? err : "cannot hash with sha1");
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = fetch(&a);
	curl_global_cleanup();
out:
	for (size_t i = 0; i < a.nurls; i++)
		free(a.owned[i]);
	for (size_t i = 0; i < a.ndirs; i++)
		free(a.dirs[i]);
	return rc;
}

static const char *const config_used[] = {CACHE_DIRS_KEY, NULL};

static const nr_kind asset_kind = {
	.name = "asset",
	.summary = "Fetches a file into a cache, verified by its hash (Avocado's asset kind)",
	.run = asset_run,
	.config_used = config_used,
};

static const nr_kind *const kinds[] = {&asset_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "asset",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
};

const nr_plugin *nr_plugin_entry(void)
{
	return &plugin;
}
