/* mig_query: the query-migrate reply (QEMU's fill_source/destination_migration_info). */
#ifndef MIG_QUERY_H
#define MIG_QUERY_H

#include "mig_internal.h"

/* The MigrationInfo QEMU's query-migrate returns (new object).  With `req` (a QMP
 * request), the events announcing what the reply shows reach the client before the reply
 * (and no later event does): the mark is taken under the lock the source publishes and
 * announces under (mig_out_snapshot). */
json_object *mig_query_migrate(MigEngine *e, QmpRequest *req);

#endif
