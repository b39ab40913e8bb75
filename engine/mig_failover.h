/* mig_failover: the migration's side of a virtio-net failover pair (QEMU 4.2+/5.0).
 *
 * A guest with a failover pair has a primary device (a VFIO NIC) that cannot migrate: QEMU's
 * virtio-net asks the guest to unplug it when a migration starts (UNPLUG_PRIMARY), the
 * source waits in 'wait-unplug' until the guest has done so, and the primary comes back on
 * whichever side runs the guest afterwards: the source after a failure or cancel, the
 * destination after completion.  The 4.0-dev schema predates all of it: nothing happens
 * there, as in QEMU 4.0.  The guest (guest.h, failover_*) decides how long its unplug
 * takes, in guest time. */
#ifndef MIG_FAILOVER_H
#define MIG_FAILOVER_H

#include "mig_internal.h"

/* Source, setup: asks the guest to unplug its primary and emits UNPLUG_PRIMARY
 * {device-id}.  False (nothing done) without a plugged primary or with a 4.0 schema. */
bool mig_failover_unplug(MigEngine *e);
/* Whether the guest is still unplugging (QEMU's qemu_savevm_state_guest_unplug_pending). */
bool mig_failover_unplug_pending(MigEngine *e);
/* Plugs the primary back and says so on stderr ("migbench: failover: ..."), `why` naming
 * the occasion.  No-op when there is no unplugged primary. */
void mig_failover_plug(MigEngine *e, const char *why);

#endif
