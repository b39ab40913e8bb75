/* mig_settings: parameter changes with their live effects, migrate's block options, and
 * the multifd settings (see mig_settings.h). */
#include "mig_settings.h"
#include "mig_colo_state.h"
#include "mig_multifd.h"
#include "mig_outgoing.h"

#include <string.h>

bool mig_apply_params(MigEngine *e, json_object *params, GError **err)
{
    bool changed[MP__MAX] = { 0 };

    if (!mig_params_set(&e->params, params, changed, err))
        return false;
    mig_out_params_changed(e, changed);
    /* QEMU: a new x-checkpoint-delay takes effect with an immediate checkpoint in COLO. */
    if (changed[MP_X_CHECKPOINT_DELAY])
        mig_colo_kick(e);
    return true;
}

bool mig_apply_one_param(MigEngine *e, const char *name, json_object *value, GError **err)
{
    json_object *p = json_object_new_object();
    int64_t n = json_object_get_int64(value);
    bool is_size = !strcmp(name, "xbzrle-cache-size");

    json_object_object_add(
        p, name, is_size && n < 0 ? json_object_new_uint64((uint64_t)n) : json_object_get(value));
    bool ok = mig_apply_params(e, p, err);
    json_object_put(p);
    return ok;
}

void mig_block_options_undo(MigEngine *e)
{
    json_object *caps = json_object_new_array();
    json_object *item = json_object_new_object();
    MigCapsCheckCtx ctx = { .v5 = e->v5, .postcopy_host = MIG_POSTCOPY_BUILT };

    json_object_object_add(item, "capability",
                           json_object_new_string(mig_caps_name(&e->caps, MIG_CAP_BLOCK)));
    json_object_object_add(item, "state", json_object_new_boolean(false));
    json_object_array_add(caps, item);
    mig_caps_set(&e->caps, caps, &ctx, NULL);
    json_object_put(caps);
    json_object *p = json_object_new_object();
    json_object_object_add(p, "block-incremental", json_object_new_boolean(false));
    mig_params_set(&e->params, p, NULL, NULL);
    json_object_put(p);
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
