/* provision-sql: a fresh database with the schema of one SQL file, applied
 * in one transaction.  uri: the schema file.  See nrunner(1), "Provision
 * kinds", for the kwargs (dsn, name, prefix, keep). */
#include "config.h"

#include "pg/provision.h"

NR_PG_PLUGIN("provision-sql",
	     "A fresh PostgreSQL database from a schema SQL file")
