/* mig_colo: COLO on the primary (QEMU's colo_process_checkpoint and
 * colo_do_checkpoint_transaction).
 *
 * After a migration with x-colo completes, the source does not finish: it moves to 'colo',
 * waits for the secondary's CHECKPOINT_READY, runs the guest and takes a checkpoint every
 * x-checkpoint-delay ms (at once when the parameter changes or xen-colo-do-checkpoint asks):
 * CHECKPOINT_REQUEST / REPLY, guest stopped, VMSTATE_SEND, the RAM dirtied since the last
 * checkpoint (an END section and EOF, QEMU's qemu_savevm_live_state), VMSTATE_SIZE and the
 * device state, VMSTATE_RECEIVED / LOADED, guest resumed.  COLO ends with a failover
 * (x-colo-lost-heartbeat: colo -> completed, COLO_EXIT reason request) or a broken channel
 * (COLO_EXIT reason error); the guest keeps running either way.
 *
 * Time: with the sim guest, checkpoints fall at exact guest times (the wait between two is
 * paced on the wall clock at --pace, or 1:1 when unpaced, so a COLO pair does not spin);
 * what a checkpoint carries depends on guest time only.  No network comparison
 * (colo-compare): checkpoints are periodic or requested. */
#ifndef MIG_COLO_H
#define MIG_COLO_H

#include "mig_internal.h"
#include "mig_ram.h"

typedef struct {
    MigFile *f;  /* the migration stream (borrowed) */
    MigRam *ram; /* the migration's RAM saver, its dirty log still on (borrowed) */
} MigColoPrimary;

/* Runs COLO on the primary from 'active' (the migration thread, after completion) until it
 * ends; the state is then 'completed' and the guest running.  Refused cases (no return
 * path on an exec/fd channel) end COLO at once with reason error. */
void mig_colo_primary_run(MigEngine *e, const MigColoPrimary *p);

#endif
