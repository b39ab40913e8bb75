/* mig_state: MigrationStatus names, predicates and guarded transitions (see mig_state.h). */
#include "mig_internal.h"

#include <string.h>

static const char *const status_names[MIG__MAX] = {
    [MIG_NONE] = "none",
    [MIG_SETUP] = "setup",
    [MIG_CANCELLING] = "cancelling",
    [MIG_CANCELLED] = "cancelled",
    [MIG_ACTIVE] = "active",
    [MIG_POSTCOPY_ACTIVE] = "postcopy-active",
    [MIG_POSTCOPY_PAUSED] = "postcopy-paused",
    [MIG_POSTCOPY_RECOVER] = "postcopy-recover",
    [MIG_COMPLETED] = "completed",
    [MIG_FAILED] = "failed",
    [MIG_COLO] = "colo",
    [MIG_PRE_SWITCHOVER] = "pre-switchover",
    [MIG_DEVICE] = "device",
    [MIG_WAIT_UNPLUG] = "wait-unplug",
};

const char *mig_status_name(MigStatus s)
{
    return (unsigned)s < MIG__MAX ? status_names[s] : "none";
}

int mig_status_from_name(const char *name)
{
    for (int i = 0; i < MIG__MAX; i++)
        if (!strcmp(status_names[i], name))
            return i;
    return -1;
}

bool mig_status_is_running(MigStatus s)
{
    switch (s) {
    case MIG_ACTIVE:
    case MIG_POSTCOPY_ACTIVE:
    case MIG_POSTCOPY_PAUSED:
    case MIG_POSTCOPY_RECOVER:
    case MIG_SETUP:
    case MIG_PRE_SWITCHOVER:
    case MIG_DEVICE:
    case MIG_WAIT_UNPLUG:
    case MIG_CANCELLING: return true;
    default: return false;
    }
}

bool mig_status_is_setup_or_active_v4(MigStatus s)
{
    switch (s) {
    case MIG_ACTIVE:
    case MIG_POSTCOPY_ACTIVE:
    case MIG_POSTCOPY_PAUSED:
    case MIG_POSTCOPY_RECOVER:
    case MIG_SETUP:
    case MIG_PRE_SWITCHOVER:
    case MIG_DEVICE: return true;
    default: return false;
    }
}

bool mig_status_is_setup_or_active(MigStatus s)
{
    return mig_status_is_setup_or_active_v4(s) || s == MIG_WAIT_UNPLUG || s == MIG_COLO;
}

bool mig_status_in_postcopy(MigStatus s)
{
    return s == MIG_POSTCOPY_ACTIVE || s == MIG_POSTCOPY_PAUSED || s == MIG_POSTCOPY_RECOVER;
}

void mig_emit_status_event(MigEngine *e, MigStatus s)
{
    json_object *data = json_object_new_object();
    json_object_object_add(data, "status", json_object_new_string(mig_status_name(s)));
    qmp_server_emit_event(e->qmp, "MIGRATION", data);
}

bool mig_set_state(MigEngine *e, _Atomic int *state, MigStatus old, MigStatus new_state)
{
    int expected = (int)old;

    g_assert((unsigned)new_state < MIG__MAX);
    g_mutex_lock(&e->state_lock);
    bool swapped = atomic_compare_exchange_strong(state, &expected, (int)new_state);
    if (swapped && mig_cap(e, MIG_CAP_EVENTS))
        mig_emit_status_event(e, new_state);
    g_mutex_unlock(&e->state_lock);
    return swapped;
}
