/* mig_runstate: the VM run state (QEMU's RunState) and the STOP/RESUME events.
 *
 * A vm is running, paused, waiting for an incoming migration, finishing one, ... exactly
 * like QEMU's runstate; the guest's vCPUs follow it (guest run/pause).  Thread-safe: the
 * migration threads stop and start the VM, QMP stop/cont change it from the main thread. */
#ifndef MIG_RUNSTATE_H
#define MIG_RUNSTATE_H

#include <stdbool.h>

typedef enum {
    RS_DEBUG,
    RS_INMIGRATE,
    RS_INTERNAL_ERROR,
    RS_IO_ERROR,
    RS_PAUSED,
    RS_POSTMIGRATE,
    RS_PRELAUNCH,
    RS_FINISH_MIGRATE,
    RS_RESTORE_VM,
    RS_RUNNING,
    RS_SAVE_VM,
    RS_SHUTDOWN,
    RS_SUSPENDED,
    RS_WATCHDOG,
    RS_GUEST_PANICKED,
    RS_COLO,
    RS_PRECONFIG,
    RS__MAX
} RunState;

const char *runstate_name(RunState s);
int runstate_from_name(const char *name);

typedef struct MigEngine MigEngine;

RunState runstate_get(MigEngine *e);
bool runstate_is_running(MigEngine *e);
/* Sets the state without events (QEMU's runstate_set). */
void runstate_set(MigEngine *e, RunState s);
/* vm_start: runs the guest, state running, RESUME event (no-op when already running). */
void runstate_vm_start(MigEngine *e);
/* vm_stop_force_state: pauses the guest; STOP event if it was running; state `s`. */
void runstate_vm_stop(MigEngine *e, RunState s);
/* The autostart flag (-S clears it; stop/cont during inmigrate toggle it). */
bool runstate_autostart(MigEngine *e);

/* Registers query-status, stop, cont and quit. */
void runstate_register_qmp(MigEngine *e);

#endif
