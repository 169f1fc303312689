/* Unit tests of the pg library's parts that need no server
 * (plugins/pg/pg.c): database names, LIKE escaping, conninfo quoting, an
 * app's coordinates (with the job's private server in the job data of the
 * mock host), placeholders, a runnable's options read through the mock
 * host, and the template cache's key. */
#include "config.h"

#include "tap.h"
#include "mock-host.h"
#include "common/util.h"
#include "pg/pg.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char err[1024];

static int name_chars_ok(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static void db_names(void)
{
	char out[NRPG_NAMEMAX + 1];
	nrpg_db_name("nr_", "actors", "tok1_4242", out);
	is_str(out, "nr_actors_tok1_4242", "db name: prefix, flow, id");
	nrpg_db_name("nr_", "My Flow!", "ab12_7", out);
	is_str(out, "nr_my_flow__ab12_7", "db name: lower case, others as one _");
	nrpg_db_name("NR-", "x--y  z", "T", out);
	is_str(out, "nr_x_y_z_t", "db name: runs of others are one _");
	nrpg_db_name("nr_", "\xc3\x89mile", "1", out);
	is_str(out, "nr_mile_1", "db name: UTF-8 bytes are others");
	nrpg_db_name(NULL, NULL, NULL, out);
	is_str(out, "_", "db name: nothing at all");

	char flow[101], flow2[102];
	memset(flow, 'a', 100);
	flow[100] = '\0';
	snprintf(flow2, sizeof flow2, "%sb", flow);
	char a[NRPG_NAMEMAX + 1], b[NRPG_NAMEMAX + 1];
	nrpg_db_name("nr_", flow, "abc_1234", a);
	nrpg_db_name("nr_", flow2, "abc_1234", b);
	ok(strlen(a) == NRPG_NAMEMAX, "db name: a long one is cut to 63 bytes (%zu)", strlen(a));
	ok(!strncmp(a, "nr_aaaa", 7) && !strcmp(a + strlen(a) - 9, "_abc_1234"),
	   "db name: the flow's name is cut, the id kept whole (%s)", a);
	ok(strcmp(a, b) && strlen(b) == NRPG_NAMEMAX,
	   "db name: names that differ past the cut still differ (%s, %s)", a, b);
	ok(name_chars_ok(a), "db name: only [a-z0-9_]");
	nrpg_db_name("nr_", flow, "abc_1234", b);
	is_str(b, a, "db name: the same inputs, the same name");
	char id[80];
	memset(id, '9', 70);
	id[70] = '\0';
	nrpg_db_name("nr_", "f", id, out);
	ok(strlen(out) <= NRPG_NAMEMAX && name_chars_ok(out),
	   "db name: an id too long for the limit still gives a name (%s)", out);

	char like[64];
	nrpg_like_escape("nr_tpl_a%b\\c", like, sizeof like);
	is_str(like, "nr\\_tpl\\_a\\%b\\\\c", "LIKE: _, %% and backslash escaped");
	nrpg_like_escape("abc", like, sizeof like);
	is_str(like, "abc", "LIKE: nothing to escape");
	nrpg_like_escape("ab_cd", like, 4);
	is_str(like, "ab", "LIKE: cut before an escape that does not fit whole");
	nrpg_like_escape("ab_cd", like, 5);
	is_str(like, "ab\\_", "LIKE: an escape that fits");
	nrpg_like_escape(NULL, like, sizeof like);
	is_str(like, "", "LIKE: nothing");
}

static void conninfo_and_coords(void)
{
	char *ci = nrpg_conninfo_of("/run/pg", "5432", "o'neil\\x", "db");
	is_str(ci, "host='/run/pg' port='5432' user='o\\'neil\\\\x' dbname='db'",
	       "conninfo: every value quoted, ' and backslash escaped");
	free(ci);
	ci = nrpg_conninfo_of(NULL, "", "u", NULL);
	is_str(ci, "host='' port='' user='u'", "conninfo: no dbname; NULL is ''");
	free(ci);

	nrp_jd_use(mock_host(), NULL);
	nrpg_coords co;
	nrpg_coords_from("/var/run/postgresql", "5432", "me", "", "d b", &co);
	is_str(co.url, "postgresql://me@%2Fvar%2Frun%2Fpostgresql:5432/d%20b",
	       "coords: a socket server's URL, percent-encoded, no password");
	is_str(co.socket, "/var/run/postgresql", "coords: the socket directory");
	is_str(co.host, "/var/run/postgresql", "coords: the host as given");
	nrpg_coords_free(&co);
	ok(co.url == NULL && co.password == NULL, "coords: freed and cleared");
	nrpg_coords_from("db.example", "6543", "a@b", "p@ss:w/rd", "app", &co);
	is_str(co.url, "postgresql://a%40b:p%40ss%3Aw%2Frd@db.example:6543/app",
	       "coords: user and password percent-encoded");
	is_str(co.socket, "", "coords: no socket for a TCP host");
	nrpg_coords_free(&co);
	nrpg_coords_from(NULL, NULL, NULL, NULL, NULL, &co);
	is_str(co.url, "postgresql://@:/", "coords: nothing known");
	nrpg_coords_free(&co);

	/* The job's private server, as job_begin left it in the job data. */
	mock_job_put(NRPG_KEY_PRIVATE, "/tmp/nr-priv");
	mock_job_put(NRPG_KEY_TCP_PORT, "54321");
	mock_job_put(NRPG_KEY_PASSWORD, "s3cret");
	nrpg_coords_from("/tmp/nr-priv", "5432", "nrunner", NULL, "nr_x_1", &co);
	is_str(co.host, "127.0.0.1", "coords: the private server over TCP");
	is_str(co.port, "54321", "coords: its TCP port, from the job data");
	is_str(co.password, "s3cret", "coords: the job's password");
	is_str(co.socket, "/tmp/nr-priv", "coords: and its socket, for libpq");
	is_str(co.url, "postgresql://nrunner:s3cret@127.0.0.1:54321/nr_x_1", "coords: its URL");
	nrpg_coords_free(&co);
	nrpg_coords_from("/tmp/other", "5432", "nrunner", NULL, "d", &co);
	is_str(co.host, "/tmp/other", "coords: another server is not the private one");
	nrpg_coords_free(&co);
	mock_job_clear();
	nrpg_coords_from("/tmp/nr-priv", "5432", "nrunner", NULL, "d", &co);
	is_str(co.port, "5432", "coords: without the job data, the server as it is");
	nrpg_coords_free(&co);
}

static const char *const V[] = {"n", "h", "p", "u", "url", "pw", "sock"};

static const char *fill(const char *s, const char *const *vals)
{
	static char buf[512];
	char e[256];
	char *r = nrpg_fill(s, vals, e, sizeof e);
	snprintf(buf, sizeof buf, "%s%s", r ? "" : "ERR: ", r ? r : e);
	free(r);
	return buf;
}

static void placeholders(void)
{
	is_str(fill("{{db.name}} {{db.host}} {{db.port}} {{db.user}} {{db.url}} {{db.password}} "
		    "{{db.socket}}", V), "n h p u url pw sock", "fill: every placeholder");
	is_str(fill("plain", V), "plain", "fill: no placeholder");
	is_str(fill("", V), "", "fill: empty");
	is_str(fill("a{{db.name}}b{{db.name}}", V), "anbn", "fill: twice, with text around");
	is_str(fill("{{db.name}}", NULL), "", "fill: only checked");
	setenv("NR_UNIT_PG", "e", 1);
	unsetenv("NR_UNIT_PG_UNSET");
	is_str(fill("{{env.NR_UNIT_PG}}", V), "e", "fill: the environment");
	is_str(fill("{{env.NR_UNIT_PG_UNSET}}", NULL), "", "fill: an unset variable, only checked");
	is_str(fill("{{env.NR_UNIT_PG_UNSET}}", V), "ERR: {{env.NR_UNIT_PG_UNSET}}: the "
	       "environment variable NR_UNIT_PG_UNSET is not set", "fill: an unset variable");
	is_str(fill("{{db.nope}}", V), "ERR: unknown placeholder {{db.nope}}; use " NRPG_PLACEHOLDERS,
	       "fill: an unknown placeholder");
	is_str(fill("{{env.}}", V), "ERR: unknown placeholder {{env.}}; use " NRPG_PLACEHOLDERS,
	       "fill: env. with no name");
	is_str(fill("x {{db.name", V), "ERR: \"{{\" with no \"}}\"", "fill: unclosed");
	is_str(fill("{{ db.name }}", V), "ERR: unknown placeholder {{ db.name }}; use "
	       NRPG_PLACEHOLDERS, "fill: no spaces inside");
}


/* nrpg_read_opts through the mock host: 0 and the options, or -1 and err. */
static int opts(const char *kind, const char *uri, const char *kwargs, nrpg_opts *o)
{
	nr_task *t = mock_task_new(kind, uri, "my-flow", NULL, kwargs, NULL);
	const nr_host *h = mock_host();
	err[0] = '\0';
	int rc = nrpg_read_opts(h, kind, uri, h->identifier(t), h->kwargs(t), o, err, sizeof err);
	/* The options point into the runnable: copy what the tests read. */
	static char name[64], prefix[64], dsn[128], cwd[256];
	if (rc == 0) {
		snprintf(name, sizeof name, "%s", o->name ? o->name : "");
		snprintf(prefix, sizeof prefix, "%s", o->prefix);
		snprintf(dsn, sizeof dsn, "%s", o->dsn ? o->dsn : "");
		snprintf(cwd, sizeof cwd, "%s", o->cwd ? o->cwd : "");
		o->name = o->name ? name : NULL;
		o->prefix = prefix;
		o->dsn = o->dsn ? dsn : NULL;
		o->cwd = o->cwd ? cwd : NULL;
	}
	mock_task_free(t);
	return rc;
}

static const char *opts_err(const char *kind, const char *uri, const char *kwargs)
{
	nrpg_opts o;
	if (opts(kind, uri, kwargs, &o) == 0) {
		nrpg_free_opts(&o);
		return "(accepted)";
	}
	return err;
}

#define MIG "provision-migrate"
#define SQL "provision-sql"
#define TPL "provision-template"

static void options(void)
{
	nrpg_opts o;
	ok(opts(MIG, "mig", NULL, &o) == 0, "opts: a migrations directory (%s)", err);
	ok(o.migrations_dir && !strcmp(o.migrations_dir, "mig") && !o.sql_file && !o.command,
	   "opts: the directory is the method");
	is_str(o.prefix, "nr_", "opts: prefix nr_ by default");
	is_str(o.name, "my-flow", "opts: the name is the identifier by default");
	ok(o.dsn == NULL && o.cwd == NULL, "opts: no dsn, no cwd by default");
	ok(o.keep == NRPG_KEEP_NEVER && !strcmp(o.strategy, "FILE_COPY"),
	   "opts: keep never, strategy FILE_COPY by default");
	nrpg_free_opts(&o);
	ok(opts(SQL, "schema.sql", "{\"dsn\": \"host=x\", \"prefix\": \"t_\", \"name\": \"n\","
		" \"keep\": \"on-failure\", \"strategy\": \"WAL_LOG\", \"env\": {\"A\": \"1\"},"
		" \"fixtures\": [\"f.sql\", [\"cmd\", \"{{db.url}}\"]]}", &o) == 0,
	   "opts: every kwarg (%s)", err);
	ok(o.sql_file && !strcmp(o.sql_file, "schema.sql"), "opts: provision-sql's file");
	is_str(o.dsn, "host=x", "opts: dsn");
	is_str(o.prefix, "t_", "opts: prefix");
	is_str(o.name, "n", "opts: name");
	ok(o.keep == NRPG_KEEP_ON_FAILURE, "opts: keep on-failure");
	ok(o.env && !strcmp(o.env[0], "A=1") && !o.env[1], "opts: env as NAME=value");
	ok(o.nfixtures == 2 && !strcmp(o.fixtures[0].sql, "f.sql") && !o.fixtures[0].argv &&
	   !strcmp(o.fixtures[1].argv[1], "{{db.url}}") && !o.fixtures[1].sql,
	   "opts: a SQL fixture and a command fixture");
	nrpg_free_opts(&o);
	ok(opts(MIG, "mig", "{\"command\": \"migrate.sh\", \"keep\": \"always\"}", &o) == 0,
	   "opts: a command as one string (%s)", err);
	ok(o.command && !strcmp(o.command[0], "migrate.sh") && !o.command[1] &&
	   o.keep == NRPG_KEEP_ALWAYS, "opts: a one-word command; keep always");
	is_str(o.cwd, "mig", "opts: a command with a directory runs there");
	ok(!o.migrations_dir, "opts: the command is the method, not the directory");
	nrpg_free_opts(&o);
	ok(opts(TPL, NULL, "{\"command\": [\"m\", \"{{db.name}}\"], \"cwd\": \"/p\", \"inputs\": "
		"[\"*.py\"]}", &o) == 0 && !strcmp(o.cwd, "/p") && !strcmp(o.inputs[0], "*.py"),
	   "opts: a template from a command with inputs (%s)", err);
	nrpg_free_opts(&o);
	ok(opts(TPL, "schema.sql", NULL, &o) == 0 && o.sql_file, "opts: a template from a file");
	nrpg_free_opts(&o);

	is_str(opts_err(MIG, "mig", "{\"foo\": 1}"), "kwargs \"foo\": unknown; the provision kinds "
	       "take dsn, prefix, name, keep, strategy, command, cwd, inputs, env and fixtures",
	       "opts: an unknown kwarg");
	is_str(opts_err(MIG, "mig", "{\"dsn\": 1}"), "kwargs \"dsn\": must be a string",
	       "opts: a dsn that is no string");
	is_str(opts_err(MIG, "mig", "{\"strategy\": \"fast\"}"), "kwargs \"strategy\": \"fast\": "
	       "use FILE_COPY or WAL_LOG", "opts: an unknown strategy");
	is_str(opts_err(MIG, "mig", "{\"keep\": \"sometimes\"}"), "kwargs \"keep\": \"sometimes\": "
	       "use never, on-failure or always", "opts: an unknown keep");
	is_str(opts_err(MIG, "mig", "{\"command\": [\"a\", 1]}"), "kwargs \"command\": must be a "
	       "list of strings, e.g. command=json:'[\"python3\", \"manage.py\", \"migrate\"]'",
	       "opts: a command with a number");
	is_str(opts_err(MIG, "mig", "{\"command\": []}"), "kwargs \"command\": is empty",
	       "opts: an empty command");
	is_str(opts_err(TPL, "mig", "{\"command\": [\"m\"], \"inputs\": {}}"), "kwargs \"inputs\": "
	       "must be a list of strings, e.g. inputs=json:'[\"python3\", \"manage.py\", "
	       "\"migrate\"]'", "opts: inputs that are an object");
#define ENV_USAGE "kwargs \"env\": the build commands' environment, an object of NAME: " \
	"\"value\", e.g. env=json:'{\"DJANGO_SETTINGS_MODULE\": \"app.settings\"}'"
	is_str(opts_err(MIG, "mig", "{\"env\": [\"A=1\"]}"), ENV_USAGE, "opts: env as a list");
	is_str(opts_err(MIG, "mig", "{\"env\": {\"A\": 1}}"), ENV_USAGE, "opts: an env value that is no string");
	is_str(opts_err(MIG, "mig", "{\"env\": {\"A=B\": \"1\"}}"), ENV_USAGE, "opts: an env name with =");
	is_str(opts_err(MIG, "mig", "{\"env\": {\"\": \"1\"}}"), ENV_USAGE, "opts: an empty env name");
	is_str(opts_err(MIG, "mig", "{\"env\": {\"A\": \"1\", \"B\": 2}}"), ENV_USAGE,
	       "opts: the second env value is no string");
#define FIX_USAGE "kwargs \"fixtures\": a list of SQL files (\"fixtures/users.sql\") and " \
	"commands ([\"python3\", \"manage.py\", \"loaddata\", \"users.json\"])"
	is_str(opts_err(MIG, "mig", "{\"fixtures\": \"a.sql\"}"), FIX_USAGE, "opts: fixtures as a string");
	is_str(opts_err(MIG, "mig", "{\"fixtures\": [\"\"]}"), FIX_USAGE, "opts: an empty fixture");
	is_str(opts_err(MIG, "mig", "{\"fixtures\": [[]]}"), FIX_USAGE, "opts: an empty command fixture");
	is_str(opts_err(MIG, "mig", "{\"fixtures\": [\"a.sql\", [1]]}"), FIX_USAGE,
	       "opts: a command fixture with a number");
	is_str(opts_err(MIG, "mig", "{\"command\": [\"m\", \"{{db.nope}}\"]}"),
	       "kwargs.command[1]: unknown placeholder {{db.nope}}; use " NRPG_PLACEHOLDERS,
	       "opts: a placeholder in the command");
	is_str(opts_err(MIG, "mig", "{\"env\": {\"URL\": \"{{db.url\"}}"),
	       "kwargs.env.URL: \"{{\" with no \"}}\"", "opts: a placeholder in env");
	is_str(opts_err(MIG, "mig", "{\"fixtures\": [\"a.sql\", [\"load\", \"{{x}}\"]]}"),
	       "kwargs.fixtures[1][1]: unknown placeholder {{x}}; use " NRPG_PLACEHOLDERS,
	       "opts: a placeholder in a fixture");
	/* What the uri means for each kind (nrpg_finish_opts). */
	is_str(opts_err(SQL, "schema.sql", "{\"command\": [\"m\"]}"), "kwargs \"command\": "
	       "provision-sql does not use it (use provision-migrate for a command)",
	       "opts: provision-sql with a command");
	is_str(opts_err(SQL, "schema.sql", "{\"inputs\": [\"x\"]}"), "kwargs \"inputs\": "
	       "provision-sql does not use it (only provision-template hashes inputs)",
	       "opts: provision-sql with inputs");
	is_str(opts_err(SQL, "schema.sql", "{\"cwd\": \"/\"}"), "kwargs \"cwd\": "
	       "provision-sql does not use it (use provision-migrate for a command)",
	       "opts: provision-sql with cwd");
	is_str(opts_err(MIG, "mig", "{\"command\": [\"m\"], \"inputs\": [\"x\"]}"),
	       "kwargs \"inputs\": provision-migrate does not use it (only provision-template "
	       "hashes inputs)", "opts: provision-migrate with inputs");
	is_str(opts_err(SQL, "mig", NULL), "provision-sql needs the schema file as its uri "
	       "(-u schema.sql)", "opts: provision-sql with a directory");
	is_str(opts_err(SQL, NULL, NULL), "provision-sql needs the schema file as its uri "
	       "(-u schema.sql)", "opts: provision-sql with no uri");
	is_str(opts_err(SQL, "nowhere.sql", NULL), "nowhere.sql: No such file or directory",
	       "opts: a uri that is not there");
	is_str(opts_err(MIG, "schema.sql", "{\"command\": [\"m\"]}"), "give either a migrate "
	       "command or a schema as the uri, not both", "opts: a command and a schema file");
	is_str(opts_err(MIG, "schema.sql", NULL), "provision-migrate needs a directory of *.sql "
	       "migrations as its uri, or command=json:'[...]'", "opts: provision-migrate with a file");
	is_str(opts_err(TPL, NULL, NULL), "provision-template needs a schema file or a directory "
	       "of migrations as its uri, or command=json:'[...]'", "opts: a template from nothing");

	memset(&o, 0, sizeof o);
	o.strategy = "SLOW";
	ok(nrpg_finish_opts(TPL, "schema.sql", &o, err, sizeof err) < 0, "finish_opts: a bad strategy");
	is_str(err, "\"strategy\": \"SLOW\": use FILE_COPY or WAL_LOG",
	       "finish_opts: named without kwargs (a flow's environment)");
	memset(&o, 0, sizeof o);
	ok(nrpg_finish_opts(TPL, "mig", &o, err, sizeof err) == 0 && !strcmp(o.prefix, "nr_") &&
	   !strcmp(o.strategy, "FILE_COPY") && o.migrations_dir, "finish_opts: the defaults");
	char *cmd[] = {"m", "{{db.bogus}}", NULL};
	o.command = cmd;
	ok(nrpg_check_placeholders(&o, "f.json: environment.database", err, sizeof err) < 0,
	   "check_placeholders: a bad placeholder");
	is_str(err, "f.json: environment.database.command[1]: unknown placeholder {{db.bogus}}; "
	       "use " NRPG_PLACEHOLDERS, "check_placeholders: named after the place given");
}

static const char *label(const char *sql, const char *dir, const char *cwd, char *prog)
{
	static char out[32];
	char *cmd[] = {prog, NULL};
	nrpg_opts o = {.sql_file = sql, .migrations_dir = dir, .cwd = cwd, .command = cmd};
	nrpg_template_label(&o, out, sizeof out);
	return out;
}

static void template_labels(void)
{
	is_str(label("db/schema.sql", NULL, NULL, NULL), "schema", "label: a schema file's name");
	is_str(label("a.b.sql", NULL, NULL, NULL), "a_b", "label: only the last extension goes");
	is_str(label(".hidden", NULL, NULL, NULL), "_hidden", "label: a leading dot is no extension");
	is_str(label(NULL, "/srv/app/Migrations/", NULL, NULL), "migrations",
	       "label: a directory, trailing slashes and case gone");
	is_str(label(NULL, NULL, "/srv/My-App", "python3"), "my_app",
	       "label: a command's directory");
	is_str(label(NULL, NULL, NULL, "/usr/bin/migrate.sh"), "migrate",
	       "label: else the command's program");
	is_str(label("a-very-long-schema-file-name.sql", NULL, NULL, NULL), "a_very_long_schema_f",
	       "label: at most 20 bytes");
	is_str(label(NULL, "/", NULL, NULL), "", "label: the root directory gives none");
}

static unsigned long long key_of(const char *kind, const char *uri, const char *kwargs)
{
	nrpg_opts o;
	unsigned long long k = 0;
	if (opts(kind, uri, kwargs, &o) < 0)
		return 0;
	if (nrpg_template_key(&o, &k, err, sizeof err) < 0)
		k = 0;
	nrpg_free_opts(&o);
	return k;
}

static void template_keys(void)
{
	unsigned long long k1 = key_of(TPL, "schema.sql", NULL);
	ok(k1 != 0, "key: of a schema file (%s)", err);
	ok(key_of(TPL, "schema.sql", NULL) == k1, "key: the same file, the same key");
	ok(key_of(TPL, "schema.sql", "{\"prefix\": \"x_\", \"keep\": \"always\"}") == k1,
	   "key: options that do not shape the schema change nothing");
	tap_write("schema.sql", "CREATE TABLE t (id int, name text);\n");
	unsigned long long k2 = key_of(TPL, "schema.sql", NULL);
	ok(k2 && k2 != k1, "key: the file's contents changed, the key changed");
	ok(key_of(TPL, "schema.sql", "{\"env\": {\"A\": \"1\"}}") != k2, "key: env counts");
	tap_write("fix.sql", "INSERT INTO t VALUES (2);\n");
	unsigned long long kf = key_of(TPL, "schema.sql", "{\"fixtures\": [\"fix.sql\"]}");
	ok(kf && kf != k2, "key: fixtures count");
	tap_write("fix.sql", "INSERT INTO t VALUES (1);\n");
	unsigned long long kf2 = key_of(TPL, "schema.sql", "{\"fixtures\": [\"fix.sql\"]}");
	ok(kf && kf2 && kf2 != kf,
	   "key: a fixture's contents count");

	unsigned long long km = key_of(TPL, "mig", NULL);
	mkdir("mig2", 0700);
	tap_write("mig2/0001_init.sql", "CREATE TABLE a (id int);\n");
	tap_write("mig2/0002_more.sql", "CREATE TABLE b (id int);\n");
	ok(km && key_of(TPL, "mig2", NULL) == km,
	   "key: the same migrations in another directory, the same key");
	tap_write("mig2/0003_x.sql", "SELECT 1;\n");
	ok(key_of(TPL, "mig2", NULL) != km, "key: a migration more, another key");
	unlink("mig2/0003_x.sql");
	ok(key_of(TPL, "mig2", "{\"strategy\": \"WAL_LOG\"}") == km,
	   "key: the strategy does not shape the schema");

	unsigned long long kc = key_of(TPL, NULL, "{\"command\": [\"m\", \"a\"], \"cwd\": \"mig\","
				       " \"inputs\": [\"*.sql\"]}");
	ok(kc != 0, "key: a command with inputs (%s)", err);
	ok(key_of(TPL, NULL, "{\"command\": [\"m\", \"b\"], \"cwd\": \"mig\", \"inputs\": "
		  "[\"*.sql\"]}") != kc, "key: the command's words count");
	ok(key_of(TPL, NULL, "{\"command\": [\"m a\"], \"cwd\": \"mig\", \"inputs\": [\"*.sql\"]}")
	   != kc, "key: words are not joined ([\"m a\"] is not [\"m\", \"a\"])");
	tap_write("mig/0003_new.sql", "SELECT 2;\n");
	ok(key_of(TPL, NULL, "{\"command\": [\"m\", \"a\"], \"cwd\": \"mig\", \"inputs\": "
		  "[\"*.sql\"]}") != kc, "key: a new input file counts");
	unlink("mig/0003_new.sql");
	ok(key_of(TPL, NULL, "{\"command\": [\"m\"], \"cwd\": \"mig\", \"inputs\": [\"*.py\"]}") == 0,
	   "key: an input that matches nothing is an error");
	is_str(err, "kwargs \"inputs\": \"*.py\" matches no file", "key: its message");
	nrpg_opts o;
	opts(TPL, "schema.sql", NULL, &o);
	unlink("schema.sql");
	unsigned long long k;
	ok(nrpg_template_key(&o, &k, err, sizeof err) < 0, "key: a schema file gone");
	is_str(err, "schema.sql: cannot read: No such file or directory", "key: its message");
	nrpg_free_opts(&o);
}

int main(void)
{
	snprintf(dir, sizeof dir, "%s/nr-test-pg.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		perror(dir);
		return 2;
	}
	mkdir("mig", 0700);
	tap_write("mig/0001_init.sql", "CREATE TABLE a (id int);\n");
	tap_write("mig/0002_more.sql", "CREATE TABLE b (id int);\n");
	tap_write("schema.sql", "CREATE TABLE t (id int);\n");

	db_names();
	conninfo_and_coords();
	placeholders();
	options();
	template_labels();
	template_keys();

	static const char *const files[] = {"mig/0001_init.sql", "mig/0002_more.sql",
					    "mig2/0001_init.sql", "mig2/0002_more.sql",
					    "schema.sql", "fix.sql", NULL};
	for (const char *const *f = files; *f; f++)
		unlink(*f);
	rmdir("mig");
	rmdir("mig2");
	if (chdir("/") == 0)
		rmdir(dir);
	mock_job_clear();
	return tap_done();
}
