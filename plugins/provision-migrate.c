/* provision-migrate: a fresh database brought up to date by migrations:
 * a directory of ordered *.sql files (uri), each in its own transaction
 * and recorded in nrunner_migrations, or a migrate command (kwargs
 * command, run in cwd with the database in its environment). */
#include "config.h"

#include "pg/provision.h"

NR_PG_PLUGIN("provision-migrate",
	     "A fresh PostgreSQL database from migrations (*.sql or a command)")
