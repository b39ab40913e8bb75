/* mig_caps: capability storage, query and QEMU's compatibility checks (see mig_caps.h). */
#include "mig_caps.h"
#include "mb_error.h"

#include <string.h>

/* Names of the known capabilities; x-multifd is the 4.0-dev seed's spelling of multifd. */
static const struct {
    MigCap cap;
    const char *name;
} known[] = {
    { MIG_CAP_XBZRLE, "xbzrle" },
    { MIG_CAP_RDMA_PIN_ALL, "rdma-pin-all" },
    { MIG_CAP_AUTO_CONVERGE, "auto-converge" },
    { MIG_CAP_ZERO_BLOCKS, "zero-blocks" },
    { MIG_CAP_COMPRESS, "compress" },
    { MIG_CAP_EVENTS, "events" },
    { MIG_CAP_POSTCOPY_RAM, "postcopy-ram" },
    { MIG_CAP_X_COLO, "x-colo" },
    { MIG_CAP_RELEASE_RAM, "release-ram" },
    { MIG_CAP_BLOCK, "block" },
    { MIG_CAP_RETURN_PATH, "return-path" },
    { MIG_CAP_PAUSE_BEFORE_SWITCHOVER, "pause-before-switchover" },
    { MIG_CAP_MULTIFD, "multifd" },
    { MIG_CAP_MULTIFD, "x-multifd" },
    { MIG_CAP_DIRTY_BITMAPS, "dirty-bitmaps" },
    { MIG_CAP_POSTCOPY_BLOCKTIME, "postcopy-blocktime" },
    { MIG_CAP_LATE_BLOCK_ACTIVATE, "late-block-activate" },
    { MIG_CAP_X_IGNORE_SHARED, "x-ignore-shared" },
    { MIG_CAP_VALIDATE_UUID, "validate-uuid" },
};

bool mig_caps_init(MigCaps *c, const Schema *schema, GError **err)
{
    memset(c, 0, sizeof(*c));
    c->type = schema_find_type(schema, "MigrationCapability");
    if (!c->type || schema_type_meta(c->type) != SCHEMA_META_ENUM) {
        mb_error_set(err, "the migration schema has no MigrationCapability enum");
        return false;
    }
    c->n = schema_enum_count(c->type);
    c->state = g_new0(bool, c->n ? c->n : 1);
    for (int i = 0; i < MIG_CAP__MAX; i++)
        c->index[i] = -1;
    for (size_t k = 0; k < G_N_ELEMENTS(known); k++) {
        int idx = schema_enum_lookup(c->type, known[k].name);
        if (idx >= 0)
            c->index[known[k].cap] = idx;
    }
    return true;
}

void mig_caps_clear(MigCaps *c)
{
    g_free(c->state);
    c->state = NULL;
}

void mig_caps_copy(MigCaps *dst, const MigCaps *src)
{
    *dst = *src;
    dst->state = g_memdup2(src->state, (src->n ? src->n : 1) * sizeof(bool));
}

bool mig_caps_get(const MigCaps *c, MigCap cap)
{
    int idx = c->index[cap];
    return idx >= 0 && __atomic_load_n(&c->state[idx], __ATOMIC_RELAXED);
}

const char *mig_caps_name(const MigCaps *c, MigCap cap)
{
    return c->index[cap] >= 0 ? schema_enum_value(c->type, (size_t)c->index[cap]) : NULL;
}

json_object *mig_caps_query(const MigCaps *c)
{
    json_object *list = json_object_new_array();

    for (size_t i = 0; i < c->n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "state", json_object_new_boolean(c->state[i]));
        json_object_object_add(o, "capability",
                               json_object_new_string(schema_enum_value(c->type, i)));
        json_object_array_add(list, o);
    }
    return list;
}

static bool on(const MigCaps *c, MigCap cap)
{
    return c->index[cap] >= 0 && c->state[c->index[cap]];
}

/* QEMU's migrate_caps_check, in its order.  migbench is "built" with live block migration
 * and replication, so the first two checks of QEMU never fire. */
static bool caps_check(const MigCaps *old, const MigCaps *new_caps, const MigCapsCheckCtx *ctx,
                       GError **err)
{
    if (!on(new_caps, MIG_CAP_POSTCOPY_RAM))
        return true;
    if (!ctx->v5 && on(new_caps, MIG_CAP_COMPRESS)) {
        mb_error_set(err, "Postcopy is not currently compatible with compression");
        return false;
    }
    if (!on(old, MIG_CAP_POSTCOPY_RAM) && ctx->inmigrate && !ctx->postcopy_host) {
        mb_error_set(err, "Postcopy is not supported");
        return false;
    }
    if (on(new_caps, MIG_CAP_X_IGNORE_SHARED)) {
        mb_error_set(err, "Postcopy is not compatible with ignore-shared");
        return false;
    }
    return true;
}

bool mig_caps_set(MigCaps *c, json_object *list, const MigCapsCheckCtx *ctx, GError **err)
{
    MigCaps tmp;
    size_t n = list ? json_object_array_length(list) : 0;

    mig_caps_copy(&tmp, c);
    /* Duplicates apply in order, as QEMU walks the list. */
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(list, i);
        const char *name = json_object_get_string(json_object_object_get(item, "capability"));
        int idx = schema_enum_lookup(c->type, name);
        g_assert(idx >= 0); /* the schema validated the enum value */
        tmp.state[idx] = json_object_get_boolean(json_object_object_get(item, "state"));
    }
    bool ok = caps_check(c, &tmp, ctx, err);
    if (ok) {
        for (size_t i = 0; i < c->n; i++)
            __atomic_store_n(&c->state[i], tmp.state[i], __ATOMIC_RELAXED);
    }
    mig_caps_clear(&tmp);
    return ok;
}
