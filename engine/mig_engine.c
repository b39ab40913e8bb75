/* mig_engine: creation and teardown of the engine of one vm (see mig.h).
 *
 * The top of the engine: it creates and frees the parts and nothing calls back into it. */
#include "mig_bitmaps.h"
#include "mig_cmds.h"
#include "mig_colo_state.h"
#include "mig_dest.h"
#include "mig_disk_log.h"
#include "mig_internal.h"
#include "mig_objects.h"
#include "mig_outgoing.h"
#include "mig_scenario.h"
#include "mig_source.h"

#include <string.h>

MigEngine *mig_engine_new(QmpServer *qmp, const Schema *schema, MbGuest *guest,
                          const MigConfig *cfg, GError **err)
{
    MigEngine *e = g_new0(MigEngine, 1);

    e->qmp = qmp;
    e->schema = schema;
    e->guest = guest;
    e->cfg = *cfg;
    e->cfg.incoming = NULL;
    e->cfg.objects = NULL;
    /* Version behaviour follows the schema: wait-unplug arrived with 4.2, together with
     * the 4.2/5.0 rules; x-multifd marks the pre-4.0 development snapshot. */
    e->v5 = schema_enum_has(schema, "MigrationStatus", "wait-unplug");
    e->seed = schema_enum_has(schema, "MigrationCapability", "x-multifd");
    if (!mig_caps_init(&e->caps, schema, err) || !mig_params_init(&e->params, schema, e->v5, err)) {
        mig_caps_clear(&e->caps);
        g_free(e);
        return NULL;
    }
    if (cfg->scenario_path) {
        e->scenario = mig_scenario_load(cfg->scenario_path, schema, err);
        if (!e->scenario) {
            mig_params_clear(&e->params);
            mig_caps_clear(&e->caps);
            g_free(e);
            return NULL;
        }
    }
    e->block_names = g_new0(const char *, guest->nblocks + 1);
    e->block_sizes = g_new0(uint64_t, guest->nblocks + 1);
    for (unsigned b = 0; b < guest->nblocks; b++) {
        e->block_names[b] = guest->blocks[b].name;
        e->block_sizes[b] = guest->blocks[b].size;
    }
    if (guest->ndisks && guest->ops->disk_log_sync)
        e->disk_log = mig_disk_log_new(guest);
    e->bitmaps = mig_bitmaps_new(guest, e->disk_log);
    g_mutex_init(&e->state_lock);
    g_mutex_init(&e->rs_lock);
    mig_out_init(e);
    mig_colo_state_init(e);
    g_mutex_init(&e->in.lock);
    g_cond_init(&e->in.recover_cond);
    atomic_init(&e->in.state, MIG_NONE);
    e->autostart = !cfg->start_paused;
    e->runstate = RS_PRELAUNCH;

    runstate_register_qmp(e);
    mig_cmds_register(e);
    mig_bitmaps_register(e);
    mig_objects_init(e);
    for (unsigned i = 0; cfg->objects && cfg->objects[i]; i++) {
        if (!mig_objects_add_opts(e, cfg->objects[i], err)) {
            g_prefix_error(err, "-object %s: ", cfg->objects[i]);
            mig_engine_free(e);
            return NULL;
        }
    }

    if (cfg->incoming) {
        e->runstate = RS_INMIGRATE;
        if (!mig_dest_start(e, cfg->incoming, -1, err)) {
            mig_engine_free(e);
            return NULL;
        }
    } else if (e->autostart) {
        runstate_vm_start(e);
    } else {
        e->runstate = RS_PRELAUNCH;
    }
    return e;
}

void mig_engine_free(MigEngine *e)
{
    if (!e)
        return;
    mig_out_close(e);
    /* COLO is not cancellable: a COLO primary or secondary ends at its next step. */
    mig_colo_shutdown(e);
    /* A pre-switchover pause waits for migrate-continue; cancel posted it already. */
    mig_source_join(e);
    mig_dest_stop(e);
    mig_objects_clear(e);
    mig_out_clear(e);
    mig_colo_state_clear(e);
    g_clear_error(&e->in.error);
    json_object_put(e->in.socket_address);
    g_free(e->in.guest_state_runstate);
    g_cond_clear(&e->in.recover_cond);
    g_mutex_clear(&e->in.lock);
    g_mutex_clear(&e->rs_lock);
    g_mutex_clear(&e->state_lock);
    mig_params_clear(&e->params);
    mig_caps_clear(&e->caps);
    mig_scenario_free(e->scenario);
    mig_bitmaps_free(e->bitmaps);
    mig_disk_log_free(e->disk_log);
    g_free(e->block_names);
    g_free(e->block_sizes);
    g_free(e);
}
