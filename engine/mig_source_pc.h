/* mig_source_pc: the outgoing migration's return path and postcopy (mig_source_pc.c):
 * the switch, the pause on a broken stream and the recovery.  Migration thread only. */
#ifndef MIG_SOURCE_PC_H
#define MIG_SOURCE_PC_H

#include "mig_source_int.h"

/* Starts the return-path thread on s->rp (it reads until SHUT, an error or shutdown). */
void mig_src_rp_start(MigSource *s);
/* At completion: waits for the return path to end; true when it ended with SHUT(0). */
bool mig_src_await_rp_close(MigSource *s);
/* Ends the return-path thread (shutting the channel down) and closes the channel. */
void mig_src_rp_close(MigSource *s);
/* QEMU's postcopy_start: the switch (postcopy-active, stop, discard lists, package). */
void mig_src_postcopy_start(MigSource *s);
/* Tells the destination a changed max-postcopy-bandwidth (between sections). */
void mig_src_pc_rate_sync(MigSource *s);
/* Between two pages in postcopy (the migration thread): notes the guest time at which this
 * thread first sees a new max-postcopy-bandwidth, the time mig_src_pc_rate_sync sends. */
void mig_src_pc_rate_note(MigSource *s);
/* A broken stream in postcopy: pauses, and recovers when asked.  True when recovered
 * (postcopy-active again); false when cancelled or the vm closes. */
bool mig_src_postcopy_pause(MigSource *s);

#endif
