/* mig_failover: unplug, wait-unplug polling support and re-plug (see mig_failover.h). */
#include "mig_failover.h"

static bool has_pair(MigEngine *e)
{
    const MbGuestOps *o = e->guest->ops;
    return e->v5 && o->failover_primary && o->failover_primary(e->guest);
}

bool mig_failover_unplug(MigEngine *e)
{
    if (!has_pair(e) || !e->guest->ops->failover_plugged(e->guest))
        return false;
    const char *id = e->guest->ops->failover_primary(e->guest);
    e->guest->ops->failover_unplug(e->guest);
    /* From the NIC, not the migration core: no capability check (QEMU's virtio-net). */
    json_object *d = json_object_new_object();
    json_object_object_add(d, "device-id", json_object_new_string(id));
    qmp_server_emit_event(e->qmp, "UNPLUG_PRIMARY", d);
    return true;
}

bool mig_failover_unplug_pending(MigEngine *e)
{
    return has_pair(e) && e->guest->ops->failover_unplug_pending(e->guest);
}

void mig_failover_plug(MigEngine *e, const char *why)
{
    if (!has_pair(e) || e->guest->ops->failover_plugged(e->guest))
        return;
    e->guest->ops->failover_plug(e->guest);
    g_printerr("migbench: failover: primary '%s' plugged (%s)\n",
               e->guest->ops->failover_primary(e->guest), why);
}
