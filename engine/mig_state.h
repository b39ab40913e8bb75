/* mig_state: the MigrationStatus state machine shared by the source and destination sides.
 *
 * States are QEMU's, in QEMU's enum order.  Every change is a compare-and-swap
 * (QEMU's migrate_set_state): the event goes out only when the swap succeeds, so racing
 * transitions (cancel against completion) resolve exactly as in QEMU. */
#ifndef MIG_STATE_H
#define MIG_STATE_H

#include <stdatomic.h>
#include <stdbool.h>

typedef enum {
    MIG_NONE,
    MIG_SETUP,
    MIG_CANCELLING,
    MIG_CANCELLED,
    MIG_ACTIVE,
    MIG_POSTCOPY_ACTIVE,
    MIG_POSTCOPY_PAUSED,
    MIG_POSTCOPY_RECOVER,
    MIG_COMPLETED,
    MIG_FAILED,
    MIG_COLO,
    MIG_PRE_SWITCHOVER,
    MIG_DEVICE,
    MIG_WAIT_UNPLUG,
    MIG__MAX
} MigStatus;

const char *mig_status_name(MigStatus s);
/* -1 when unknown. */
int mig_status_from_name(const char *name);

/* QEMU 5.0 migration_is_running: refuses set-capabilities / migrate; cancellable. */
bool mig_status_is_running(MigStatus s);
/* QEMU 4.0 migration_is_setup_or_active (4.0 semantics, colo excluded). */
bool mig_status_is_setup_or_active_v4(MigStatus s);
/* QEMU migration_is_setup_or_active (5.0: also wait-unplug and colo). */
bool mig_status_is_setup_or_active(MigStatus s);
bool mig_status_in_postcopy(MigStatus s);

typedef struct MigEngine MigEngine;

/* CAS from `old` to `new`; on success emits MIGRATION {status} when the engine's events
 * capability is on.  Returns whether the swap happened. */
bool mig_set_state(MigEngine *e, _Atomic int *state, MigStatus old, MigStatus new_state);
/* Emits a MIGRATION event unconditionally (the incoming 'setup' quirk). */
void mig_emit_status_event(MigEngine *e, MigStatus s);

#endif
