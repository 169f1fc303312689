/* The pg plugin: the three provision kinds, one module over the libpq
 * helper (pg.h).  The kind's name says which method run() uses:
 *   provision-sql       a fresh database with the schema of one SQL file,
 *                       applied in one transaction (uri: the file);
 *   provision-migrate   a fresh database brought up to date by migrations:
 *                       a directory of ordered *.sql files (uri), each in
 *                       its own transaction and recorded in
 *                       nrunner_migrations, or a migrate command (kwargs
 *                       command, run in cwd with the database in its
 *                       environment);
 *   provision-template  a template built once (from any of the above,
 *                       named after a hash of all of it and the server's
 *                       version), then cloned for each database.
 * See nrunner(1), "Provision kinds", for the kwargs. */
#include "config.h"

#include "pg/provision.h"

static const nr_kind sql_kind = {
	.name = "provision-sql",
	.summary = "A fresh PostgreSQL database from a schema SQL file",
	.run = nrpg_provision_run,
};
static const nr_kind migrate_kind = {
	.name = "provision-migrate",
	.summary = "A fresh PostgreSQL database from migrations (*.sql or a command)",
	.run = nrpg_provision_run,
};
static const nr_kind template_kind = {
	.name = "provision-template",
	.summary = "A clone of a PostgreSQL template built once per schema",
	.run = nrpg_provision_run,
};
static const nr_kind *const kinds[] = {&sql_kind, &migrate_kind, &template_kind, NULL};

static const nr_plugin plugin = {
	NR_PLUGIN_ABI,
	.name = "pg",
	.version = PACKAGE_VERSION,
	.kinds = kinds,
	.job_begin = nrpg_job_begin,
	.job_end = nrpg_job_end,
	.clean = nrpg_clean,
};

const nr_plugin *nr_plugin_entry(void) { return &plugin; }
