/* mig_colo_secondary: COLO on the secondary (QEMU's colo_process_incoming_thread and
 * colo_incoming_process_checkpoint).
 *
 * A destination that received ENABLE_COLO does not complete after the load: it moves to
 * 'colo', runs the guest, tells the primary CHECKPOINT_READY and then serves checkpoints.
 * Each checkpoint is staged whole (the RAM pages into a private table, the device state into
 * a buffer) and applied only once VMSTATE_SIZE's bytes have all arrived, so a checkpoint cut
 * off halfway leaves the guest at the previous one, never half-applied; after applying, the
 * secondary checks every page of its memory against the primary's (guest.h, check).
 *
 * COLO ends with a failover (x-colo-lost-heartbeat, COLO_EXIT reason request) or a broken
 * channel (reason error); either way the secondary takes over from its last checkpoint:
 * verified, 'completed', guest running. */
#ifndef MIG_COLO_SECONDARY_H
#define MIG_COLO_SECONDARY_H

#include "mig_internal.h"

/* Runs COLO on the secondary from 'active' until it ends (the incoming thread, after a good
 * load of the migration).  `f` is the migration stream; `*rp` the return path (opened here
 * when the stream did not open one; the caller closes it).  On return the state is
 * 'completed' and the guest runs from the last checkpoint; false with err when that last
 * checkpoint did not verify. */
bool mig_colo_secondary_run(MigEngine *e, MigFile *f, Chan **rp, GError **err);

#endif
