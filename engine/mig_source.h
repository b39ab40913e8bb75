/* mig_source: the outgoing migration thread (QEMU's migration_thread and friends).
 *
 * Started by `migrate` once its preconditions passed and the outgoing state was reset
 * (mig_out_begin); it drives RAM saving through MigRamOps, emits MIGRATION_PASS and writes
 * the per-pass records, and ends the migration.  Cancel is mig_out_cancel (mig_outgoing.h):
 * it only needs the outgoing state, not the thread. */
#ifndef MIG_SOURCE_H
#define MIG_SOURCE_H

#include "mig_internal.h"

/* Joins the previous thread, then starts the migration thread (state setup).  False with
 * err when no thread could be created (the caller fails the migration). */
bool mig_source_start(MigEngine *e, GError **err);
/* Waits for the migration thread to end, if one was started.  Main thread only. */
void mig_source_join(MigEngine *e);

#endif
