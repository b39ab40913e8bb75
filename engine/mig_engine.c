/* mig_engine: creation and teardown of the engine of one vm (see mig.h), plus the small
 * shared helpers (semaphore, sticky errors). */
#include "mig_internal.h"
#include "mig_multifd.h"
#include "mig_report.h"
#include "mig_scenario.h"

#include <string.h>

void mig_sem_init(MigSem *s)
{
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->count = 0;
}

void mig_sem_clear(MigSem *s)
{
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
}

void mig_sem_post(MigSem *s)
{
    g_mutex_lock(&s->lock);
    s->count++;
    g_cond_signal(&s->cond);
    g_mutex_unlock(&s->lock);
}

void mig_sem_wait(MigSem *s)
{
    g_mutex_lock(&s->lock);
    while (s->count == 0)
        g_cond_wait(&s->cond, &s->lock);
    s->count--;
    g_mutex_unlock(&s->lock);
}

bool mig_sem_trywait(MigSem *s)
{
    g_mutex_lock(&s->lock);
    bool got = s->count > 0;
    if (got)
        s->count--;
    g_mutex_unlock(&s->lock);
    return got;
}

void mig_out_set_error(MigEngine *e, const GError *err)
{
    g_mutex_lock(&e->out.lock);
    if (!e->out.error)
        e->out.error = g_error_copy(err);
    g_mutex_unlock(&e->out.lock);
}

void mig_multifd_config(MigEngine *e, MigMultifdConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->channels = (unsigned)mig_params_num(&e->params, MP_MULTIFD_CHANNELS);
    cfg->seed_format = e->seed;
    /* 4.0 and later: 512 KiB packets; the seed made it a parameter. */
    cfg->page_count = e->seed ? (unsigned)mig_params_num(&e->params, MP_MULTIFD_PAGE_COUNT)
                              : 524288 / MB_TARGET_PAGE_SIZE;
    char *method = mig_params_str(&e->params, MP_MULTIFD_COMPRESSION);
    if (!strcmp(method, "zlib")) {
        cfg->method = MIG_MULTIFD_ZLIB;
        cfg->level = (int)mig_params_num(&e->params, MP_MULTIFD_ZLIB_LEVEL);
    } else if (!strcmp(method, "zstd")) {
        cfg->method = MIG_MULTIFD_ZSTD;
        cfg->level = (int)mig_params_num(&e->params, MP_MULTIFD_ZSTD_LEVEL);
    }
    g_free(method);
    if (e->cfg.has_uuid)
        memcpy(cfg->uuid, e->cfg.uuid, 16);
    cfg->block_names = e->block_names;
    cfg->block_sizes = e->block_sizes;
    cfg->nblocks = e->guest->nblocks;
}

MigEngine *mig_engine_new(QmpServer *qmp, const Schema *schema, MbGuest *guest,
                          const MigConfig *cfg, GError **err)
{
    MigEngine *e = g_new0(MigEngine, 1);

    e->qmp = qmp;
    e->schema = schema;
    e->guest = guest;
    e->cfg = *cfg;
    e->cfg.incoming = NULL;
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
    g_mutex_init(&e->state_lock);
    g_mutex_init(&e->rs_lock);
    g_mutex_init(&e->out.lock);
    g_cond_init(&e->out.wake);
    g_mutex_init(&e->in.lock);
    mig_sem_init(&e->out.pause_sem);
    e->out.passes = g_array_new(FALSE, TRUE, sizeof(MigPassRecord));
    atomic_init(&e->out.state, MIG_NONE);
    atomic_init(&e->in.state, MIG_NONE);
    e->autostart = !cfg->start_paused;
    e->runstate = RS_PRELAUNCH;

    runstate_register_qmp(e);
    mig_cmds_register(e);

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
    mig_source_cancel(e);
    /* A pre-switchover pause waits for migrate-continue; cancel posted it already. */
    mig_source_join(e);
    mig_dest_stop(e);
    chan_close(e->out.pending_chan);
    chan_uri_clear(&e->out.uri);
    g_clear_error(&e->out.error);
    g_clear_error(&e->in.error);
    json_object_put(e->in.socket_address);
    g_free(e->in.guest_state_runstate);
    mig_sem_clear(&e->out.pause_sem);
    g_array_free(e->out.passes, TRUE);
    g_cond_clear(&e->out.wake);
    g_mutex_clear(&e->out.lock);
    g_mutex_clear(&e->in.lock);
    g_mutex_clear(&e->rs_lock);
    g_mutex_clear(&e->state_lock);
    mig_params_clear(&e->params);
    mig_caps_clear(&e->caps);
    mig_scenario_free(e->scenario);
    g_free(e->block_names);
    g_free(e->block_sizes);
    g_free(e);
}
