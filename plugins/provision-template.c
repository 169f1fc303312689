/* provision-template: a template database built once (from a schema file,
 * a migrations directory or a migrate command, named after a hash of all
 * of it and the server version), then cloned for each database. */
#include "config.h"

#include "pg/provision.h"

NR_PG_PLUGIN("provision-template",
	     "A clone of a PostgreSQL template built once per schema")
