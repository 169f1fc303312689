/* The libpq helper the three provision kinds share: connecting, safe
 * database names, creating and dropping databases, applying SQL files and
 * migrations, template names, and the private throwaway server.
 *
 * Every function that can fail takes (err, errlen) and writes one line
 * there: what failed, the server's own message, and what to do. */
#ifndef NRPG_H
#define NRPG_H

#include <libpq-fe.h>
#include <nrunner/plugin.h>
#include <stddef.h>

#define NRPG_NAMEMAX 63 /* PostgreSQL's identifier limit, in bytes */

/* The job's data (ABI 1.4) that the provisioning code keeps, whichever
 * plugin's job_begin set it up (the pg plugin's or crud-flow's):
 *   pg.token          the job's token, in every database name it makes;
 *   pg.private        the private server's directory, when it runs;
 *   pg.conninfo       how to reach it (nrunner's own connections);
 *   pg.tcp_port       its port on 127.0.0.1, for the apps;
 *   pg.password       the job's password for that port (a secret);
 *   pg.built.<tpl>    the template job_begin built, and its build time;
 *   pg.pool.<key>     the abstract socket of a pool of ready clones. */
#define NRPG_KEY_TOKEN "pg.token"
#define NRPG_KEY_PRIVATE "pg.private"
#define NRPG_KEY_CONNINFO "pg.conninfo"
#define NRPG_KEY_TCP_PORT "pg.tcp_port"
#define NRPG_KEY_PASSWORD "pg.password"

/* Connects to database `dbname` (NULL: "postgres") of the server named by
 * `dsn` (a conninfo string or URI; NULL or "": the job's private server
 * when it runs, else libpq's PG* environment). */
PGconn *nrpg_connect(const char *dsn, const char *dbname, char *err,
		      size_t errlen);

/* A database name: prefix + the flow name + id (the job token and the
 * task's pid), lower case, only [a-z0-9_], at most 63 bytes; when it must
 * be cut, the flow name is cut and a hash of the whole added before the
 * id, so two long names never collide and the id stays whole. */
void nrpg_db_name(const char *prefix, const char *flow, const char *id,
		   char out[NRPG_NAMEMAX + 1]);

/* s in a LIKE pattern, matching itself only: a backslash (LIKE's default
 * escape) before each '_', '%' and backslash; cut to fit `len` bytes with
 * the NUL, never between an escape and its character. */
void nrpg_like_escape(const char *s, char *out, size_t len);

/* Runs one command; on error writes "<what>: <server message>". */
int nrpg_exec(PGconn *c, const char *sql, const char *what, char *err,
	       size_t errlen);

/* CREATE DATABASE name [TEMPLATE tpl [STRATEGY strategy]]. */
int nrpg_create_db(PGconn *admin, const char *name, const char *tpl,
		    const char *strategy, char *err, size_t errlen);
/* The STRATEGY keyword for CREATE DATABASE (PostgreSQL 15+): one of our
 * own constants matching `strategy`, or NULL (none, or unknown). */
const char *nrpg_strategy_sql(PGconn *c, const char *strategy);
/* DROP DATABASE IF EXISTS name WITH (FORCE). */
int nrpg_drop_db(PGconn *admin, const char *name, char *err, size_t errlen);

/* Applies a SQL file in one transaction.  On error: "<file>:<line>:<col>:
 * <server message>" from the error position the server returns. */
int nrpg_apply_file(PGconn *db, const char *path, char *err, size_t errlen);

/* Applies the *.sql files of a directory in name order, each in its own
 * transaction, recording each in nrunner_migrations.  Returns how many
 * were applied, or -1. */
int nrpg_apply_migrations(PGconn *db, const char *dir, char *err,
			   size_t errlen);

/* How an app reaches a database (nrunner-flow(5), the {{db.*}} table):
 * on the job's private server, 127.0.0.1 and its TCP port, with the
 * job's password, and the socket directory apart; on a named server, what
 * the user gave (password "" when none was given).  All malloc'ed. */
typedef struct nrpg_coords {
	char *host, *port, *user, *password, *socket, *url;
} nrpg_coords;
/* The coordinates of database `dbname` on the server `c` is connected to. */
void nrpg_coords_of(PGconn *c, const char *dbname, nrpg_coords *co);
/* The same from what such a connection reports (PQhost, PQport, PQuser,
 * PQpass). */
void nrpg_coords_from(const char *host, const char *port, const char *user,
		       const char *password, const char *dbname, nrpg_coords *co);
void nrpg_coords_free(nrpg_coords *co);

/* Runs a migrate command (argv, NULL-terminated) in cwd with the
 * database's coordinates in its environment (DB_NAME, DB_HOST, DB_PORT,
 * DB_USER, DB_PASSWORD and DATABASE_URL as nrpg_coords_of gives them;
 * PGDATABASE, PGHOST (the socket directory when there is one), PGPORT,
 * PGUSER and, when there is one, PGPASSWORD).  Its stdout and stderr go
 * to the caller's stderr, the password redacted (so a job's setup never
 * writes into the status stream); the head and the tail of its stderr
 * are quoted in err when it fails. */
int nrpg_run_command(char *const *argv, const char *cwd, char *const *env,
		      const char *what, PGconn *db, char *err, size_t errlen);
/* `env` ("NAME=value", or NULL) is added to its environment, over the
 * variables above; in argv and env's values, the placeholders {{db.name}},
 * {{db.host}}, {{db.port}}, {{db.user}}, {{db.url}}, {{db.password}},
 * {{db.socket}} (the database being built) and {{env.NAME}} are filled
 * in.  `what` names it in errors ("the
 * migrate command", "fixture 2"). */

/* s with those placeholders filled in from vals (in that order; NULL:
 * only checked, each as ""), malloc'ed; NULL with the reason in err. */
char *nrpg_fill(const char *s, const char *const *vals, char *err, size_t errlen);
#define NRPG_PLACEHOLDERS "{{db.name}}, {{db.host}}, {{db.port}}, {{db.user}}, " \
	"{{db.password}}, {{db.url}}, {{db.socket}} or {{env.NAME}}"

/* "host=... port=... user=... dbname=..." for nrunner's own connections
 * (no password: on the private server, its socket), malloc'ed. */
char *nrpg_conninfo(PGconn *c, const char *dbname);
/* The same from its parts (dbname NULL: none), each value quoted. */
char *nrpg_conninfo_of(const char *host, const char *port, const char *user,
			const char *dbname);

/* --- what a runnable asks for ------------------------------------------ */

typedef enum { NRPG_KEEP_NEVER, NRPG_KEEP_ON_FAILURE, NRPG_KEEP_ALWAYS } nrpg_keep;

/* A fixture: a SQL file (sql) or a command (argv). */
typedef struct nrpg_fixture {
	char *sql;
	char **argv;
} nrpg_fixture;

typedef struct nrpg_opts {
	const char *dsn;      /* kwargs dsn, or NULL */
	const char *prefix;   /* kwargs prefix, default "nr_" */
	const char *name;     /* kwargs name, default the identifier */
	nrpg_keep keep;      /* kwargs keep */
	const char *strategy; /* kwargs strategy: FILE_COPY (default) or WAL_LOG */
	/* the schema: */
	const char *sql_file;       /* provision-sql, or template method sql */
	const char *migrations_dir; /* provision-migrate with a directory */
	char **command;             /* provision-migrate with a command */
	const char *cwd;            /* kwargs cwd, for the command */
	char **inputs;              /* kwargs inputs: globs hashed for templates */
	char **env;                 /* kwargs env, as NAME=value: the commands' */
	nrpg_fixture *fixtures;    /* kwargs fixtures, applied after the schema */
	size_t nfixtures;
} nrpg_opts;

/* Checks the placeholders of the options' commands and env, naming the
 * field after `where` ("kwargs", or a file and its path). */
int nrpg_check_placeholders(const nrpg_opts *o, const char *where, char *err,
			     size_t errlen);

/* Reads the options of a runnable (its kwargs, and its uri as `kind`
 * takes it); `identifier` is the default flow name. */
int nrpg_read_opts(const nr_host *h, const char *kind, const char *uri,
		    const char *identifier, const nr_value *kwargs,
		    nrpg_opts *o, char *err, size_t errlen);
void nrpg_free_opts(nrpg_opts *o);
/* The second half of nrpg_read_opts, for a caller that filled the
 * fields itself (a flow's environment): defaults, and what the uri means
 * for `kind`.  Takes ownership of o->command, o->inputs, o->env and
 * o->fixtures. */
int nrpg_finish_opts(const char *kind, const char *uri, nrpg_opts *o,
		      char *err, size_t errlen);

/* Brings a fresh database to the schema, by the method the options name
 * (SQL file, migrations directory, or migrate command), then applies the
 * fixtures in order (SQL files relative to cwd when it is set; commands
 * run as the migrate command).  A failing fixture is named in err with the
 * server's line and message, or the command's stderr. */
int nrpg_build_schema(PGconn *db, const nrpg_opts *o, char *err,
		       size_t errlen);

/* The template's name: "nr_tpl_<label>_<16 hex>": a label from the
 * schema's file or directory name, and a SHA-256 of everything that shapes
 * the schema (the files' names and contents, the command, its env and
 * declared inputs, the fixtures, the server version). */
int nrpg_template_name(PGconn *admin, const nrpg_opts *o,
			char out[NRPG_NAMEMAX + 1], char *err, size_t errlen);

/* The label in the template's name: the base name of the schema's file
 * (without its extension), migrations directory, or the command's
 * directory (else its program), lower case, others as '_', at most 20
 * bytes. */
void nrpg_template_label(const nrpg_opts *o, char *out, size_t len);

/* A 64-bit FNV-1a of the same inputs as the template's name, but the
 * server (computed before any server runs): the key of the template
 * cache (nrpg_template_cache_want). */
int nrpg_template_key(const nrpg_opts *o, unsigned long long *key, char *err,
		       size_t errlen);

/* Makes sure the template exists and is complete, building it if needed;
 * concurrent builders (other tasks, other jobs) wait on an advisory lock.
 * *built says whether this call built it. */
int nrpg_ensure_template(PGconn *admin, const nrpg_opts *o, const char *tpl,
			  int *built, char *err, size_t errlen);

/* --- the private server ------------------------------------------------ */

/* When no server is named (no dsn, no PGHOST, PGHOSTADDR, PGPORT,
 * PGSERVICE or PGDATABASE in the environment) and the job has none yet,
 * starts a throwaway cluster: initdb in a temporary directory, a Unix
 * socket there, no TCP, durability off, run as an unprivileged user when
 * nrunner runs as root.  In job_begin: it tells the tasks through the
 * job's data (pg.private, pg.conninfo), never the environment.  Returns 0
 * also when nothing was needed. */
int nrpg_private_start(char *err, size_t errlen);
/* Stops it (if this process started it) and removes its directory.
 * When the job built a template on it (nrpg_template_cache_built), the
 * cluster is first shut down cleanly and kept in the template cache. */
void nrpg_private_stop(void);

/* The template cache: a copy of the private server's cluster with the
 * job's templates built, in $XDG_CACHE_HOME/nrunner/pg-templates, keyed
 * by the initdb cache's key and the templates' keys (nrpg_template_key),
 * the NRUNNER_PG_TEMPLATE_CACHE most recently used (default 3; 0 or
 * "off": none).  In job_begin, before nrpg_private_start: each template
 * the job uses on the default server, so the server starts from a copy
 * that holds them all when there is one. */
void nrpg_template_cache_want(const nrpg_opts *o);
/* After a template was built on the private server: keep it at the end. */
void nrpg_template_cache_built(void);
/* nrunner clean --all: removes (or lists) the cache's entries, a line
 * each on stdout; returns how many. */
int nrpg_template_cache_clean(int dry_run);
/* The cache's directory (as nrpg_private_start would use it) in out;
 * -1 when there is none (no HOME, turned off). */
int nrpg_template_cache_root(char *out, size_t len);
/* The directory of the PostgreSQL server's programs (initdb, postgres,
 * pg_dump): pg_config --bindir's, else the newest of Debian's. */
int nrpg_bindir(char *out, size_t len);
/* Whether a server is named in the environment. */
int nrpg_server_named(void);

#endif
