/* mig_dest: the incoming side (QEMU's qemu_start_incoming_migration and
 * process_incoming_migration_co/_bh): listen, accept, load, verify, restore the run state. */
#ifndef MIG_DEST_H
#define MIG_DEST_H

#include "mig_internal.h"

/* Starts listening on `uri` (or takes `fd` for fd: URIs given through the monitor, else
 * -1) and the thread that loads the first connection.  False with QEMU's error. */
bool mig_dest_start(MigEngine *e, const char *uri, int fd, GError **err);
/* Closes the listener, shuts a load in progress down and joins the thread. */
void mig_dest_stop(MigEngine *e);
/* migrate-recover (QEMU's qmp_migrate_recover): only in postcopy-paused, once per pause;
 * emits the setup event and listens on `uri` (fd: as for mig_dest_start); the paused
 * incoming thread takes the source's connection and goes on in postcopy-recover. */
bool mig_dest_recover(MigEngine *e, const char *uri, int fd, GError **err);
/* Sets the sticky destination error (first one wins). */
void mig_in_set_error(MigEngine *e, const GError *err);
/* migrate-pause on the destination: shuts the incoming stream down (postcopy-paused). */
void mig_dest_pause(MigEngine *e);

#endif
