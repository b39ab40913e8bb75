/* mig_source_io: the outgoing migration thread's clock, link, publication and stream
 * helpers (mig_source_io.c), the bottom layer of the source's three files
 * (mig_source_int.h).  Migration thread only. */
#ifndef MIG_SOURCE_IO_H
#define MIG_SOURCE_IO_H

#include "mig_source_int.h"

/* The guest clock in ms. */
int64_t mig_src_now_ms(MigEngine *e);
/* Lets guest time pass until t (ns): a virtual jump (paced when asked) or a real wait. */
void mig_src_wait_until(MigSource *s, int64_t t);
/* Sim: `bytes` on the simulated link take bytes/bandwidth of guest time (MigFile.on_flush,
 * MigRamOps.charge_link; `opaque` is the MigSource). */
void mig_src_link_charge(void *opaque, size_t bytes);
/* Publishes the live counters and the RAM figures; `announce` runs in the same step. */
void mig_src_publish_with(MigSource *s, void (*announce)(void *), void *opaque);
void mig_src_publish(MigSource *s);
/* Bytes sent so far: every channel's stream (a recovery's included) and multifd's. */
uint64_t mig_src_total_bytes(MigSource *s);
/* Starts a new bandwidth window from now. */
void mig_src_update_iteration_initial_status(MigSource *s);
/* QEMU's migration_maybe_pause (pause-before-switchover): true when the state is `next`. */
bool mig_src_maybe_pause(MigSource *s, MigStatus *cur, MigStatus next);
/* Connects to the destination (or takes the exec/fd channel), TLS when asked for: the
 * stream of a migration or of a postcopy recovery.  NULL with err on failure. */
MigFile *mig_src_open_stream(MigSource *s, GError **err);

#endif
