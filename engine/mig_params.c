/* mig_params: parameter table, defaults and QEMU's migrate_params_check (see mig_params.h). */
#include "mig_params.h"
#include "mb_error.h"

#include <string.h>

typedef struct {
    const char *name;  /* wire name (5.0 spelling) */
    const char *alias; /* the 4.0-dev seed's spelling, if different */
    const char *cname; /* QEMU's C field name, used in error texts */
    MigParamKind kind;
    uint64_t def;
    const char *def_str;
} ParamDef;

static const ParamDef defs[MP__MAX] = {
    [MP_ANNOUNCE_INITIAL] = { "announce-initial", NULL, "announce_initial", MPK_NUM, 50 },
    [MP_ANNOUNCE_MAX] = { "announce-max", NULL, "announce_max", MPK_NUM, 550 },
    [MP_ANNOUNCE_ROUNDS] = { "announce-rounds", NULL, "announce_rounds", MPK_NUM, 5 },
    [MP_ANNOUNCE_STEP] = { "announce-step", NULL, "announce_step", MPK_NUM, 100 },
    [MP_COMPRESS_LEVEL] = { "compress-level", NULL, "compress_level", MPK_NUM, 1 },
    [MP_COMPRESS_THREADS] = { "compress-threads", NULL, "compress_threads", MPK_NUM, 8 },
    [MP_COMPRESS_WAIT_THREAD] = { "compress-wait-thread", NULL, "compress_wait_thread", MPK_BOOL,
                                  1 },
    [MP_DECOMPRESS_THREADS] = { "decompress-threads", NULL, "decompress_threads", MPK_NUM, 2 },
    [MP_THROTTLE_TRIGGER_THRESHOLD] = { "throttle-trigger-threshold", NULL,
                                        "throttle_trigger_threshold", MPK_NUM, 50 },
    [MP_CPU_THROTTLE_INITIAL] = { "cpu-throttle-initial", NULL, "cpu_throttle_initial", MPK_NUM,
                                  20 },
    [MP_CPU_THROTTLE_INCREMENT] = { "cpu-throttle-increment", NULL, "cpu_throttle_increment",
                                    MPK_NUM, 10 },
    [MP_TLS_CREDS] = { "tls-creds", NULL, "tls_creds", MPK_STR, 0, "" },
    [MP_TLS_HOSTNAME] = { "tls-hostname", NULL, "tls_hostname", MPK_STR, 0, "" },
    [MP_TLS_AUTHZ] = { "tls-authz", NULL, "tls_authz", MPK_STR, 0, "" },
    [MP_MAX_BANDWIDTH] = { "max-bandwidth", NULL, "max_bandwidth", MPK_NUM, 32ULL << 20 },
    [MP_DOWNTIME_LIMIT] = { "downtime-limit", NULL, "downtime_limit", MPK_NUM, 300 },
    [MP_X_CHECKPOINT_DELAY] = { "x-checkpoint-delay", NULL, "x_checkpoint_delay", MPK_NUM,
                                200 * 100 },
    [MP_BLOCK_INCREMENTAL] = { "block-incremental", NULL, "block_incremental", MPK_BOOL, 0 },
    [MP_MULTIFD_CHANNELS] = { "multifd-channels", "x-multifd-channels", "multifd_channels", MPK_NUM,
                              2 },
    [MP_MULTIFD_PAGE_COUNT] = { "multifd-page-count", "x-multifd-page-count", "multifd_page_count",
                                MPK_NUM, 16 },
    [MP_XBZRLE_CACHE_SIZE] = { "xbzrle-cache-size", NULL, "xbzrle_cache_size", MPK_NUM,
                               64ULL << 20 },
    [MP_MAX_POSTCOPY_BANDWIDTH] = { "max-postcopy-bandwidth", NULL, "max_postcopy_bandwidth",
                                    MPK_NUM, 0 },
    [MP_MAX_CPU_THROTTLE] = { "max-cpu-throttle", NULL, "max_cpu_throttle", MPK_NUM, 99 },
    [MP_MULTIFD_COMPRESSION] = { "multifd-compression", NULL, "multifd_compression", MPK_ENUM, 0,
                                 "none" },
    [MP_MULTIFD_ZLIB_LEVEL] = { "multifd-zlib-level", NULL, "multifd_zlib_level", MPK_NUM, 1 },
    [MP_MULTIFD_ZSTD_LEVEL] = { "multifd-zstd-level", NULL, "multifd_zstd_level", MPK_NUM, 1 },
};

static int find_param(const MigParams *p, const char *wire)
{
    for (int i = 0; i < MP__MAX; i++)
        if (p->present[i] && !strcmp(p->wire[i], wire))
            return i;
    return -1;
}

static unsigned width_of(const SchemaType *t)
{
    const char *n = schema_type_name(t);
    if (!strcmp(n, "uint8") || !strcmp(n, "int8"))
        return 8;
    if (!strcmp(n, "uint16") || !strcmp(n, "int16"))
        return 16;
    if (!strcmp(n, "uint32") || !strcmp(n, "int32"))
        return 32;
    return 64;
}

bool mig_params_init(MigParams *p, const Schema *schema, bool v5, GError **err)
{
    memset(p, 0, sizeof(*p));
    p->v5 = v5;
    p->params_type = schema_find_type(schema, "MigrationParameters");
    if (!p->params_type || schema_type_meta(p->params_type) != SCHEMA_META_OBJECT) {
        mb_error_set(err, "the migration schema has no MigrationParameters struct");
        return false;
    }
    g_mutex_init(&p->lock);
    for (int i = 0; i < MP__MAX; i++) {
        const SchemaMember *m = schema_object_find_member(p->params_type, defs[i].name);
        if (!m && defs[i].alias)
            m = schema_object_find_member(p->params_type, defs[i].alias);
        if (!m)
            continue;
        p->present[i] = true;
        p->wire[i] = m->name;
        p->bits[i] = width_of(m->type);
        p->values.num[i] = defs[i].def;
        if (defs[i].def_str)
            p->values.str[i] = g_strdup(defs[i].def_str);
    }
    p->values.extra = json_object_new_object();
    return true;
}

static void values_clear(MigParamValues *v)
{
    for (int i = 0; i < MP__MAX; i++)
        g_free(v->str[i]);
    json_object_put(v->extra);
    memset(v, 0, sizeof(*v));
}

static void values_copy(MigParamValues *dst, const MigParamValues *src)
{
    memcpy(dst->num, src->num, sizeof(dst->num));
    for (int i = 0; i < MP__MAX; i++)
        dst->str[i] = g_strdup(src->str[i]);
    json_object_deep_copy(src->extra, &dst->extra, NULL);
}

void mig_params_clear(MigParams *p)
{
    if (!p->params_type)
        return;
    values_clear(&p->values);
    g_mutex_clear(&p->lock);
    p->params_type = NULL;
}

uint64_t mig_params_num(MigParams *p, MigParam id)
{
    g_mutex_lock(&p->lock);
    uint64_t v = p->values.num[id];
    g_mutex_unlock(&p->lock);
    return v;
}

char *mig_params_str(MigParams *p, MigParam id)
{
    g_mutex_lock(&p->lock);
    char *s = g_strdup(p->values.str[id] ? p->values.str[id] : "");
    g_mutex_unlock(&p->lock);
    return s;
}

static bool bad(GError **err, const char *cname, const char *expects)
{
    mb_error_set(err, "Parameter '%s' expects %s", cname, expects);
    return false;
}

/* QEMU's migrate_params_check: the first failing rule wins, in QEMU's order.  Rules of
 * parameters the schema lacks are skipped (their stored defaults always pass). */
static bool params_check(const MigParams *p, const uint64_t *v, GError **err)
{
#define HAS(id) (p->present[id])
    if (HAS(MP_COMPRESS_LEVEL) && v[MP_COMPRESS_LEVEL] > 9)
        return bad(err, "compress_level", "is invalid, it should be in the range of 0 to 9");
    if (HAS(MP_COMPRESS_THREADS) && v[MP_COMPRESS_THREADS] < 1)
        return bad(err, "compress_threads", "is invalid, it should be in the range of 1 to 255");
    if (HAS(MP_DECOMPRESS_THREADS) && v[MP_DECOMPRESS_THREADS] < 1)
        return bad(err, "decompress_threads", "is invalid, it should be in the range of 1 to 255");
    if (HAS(MP_THROTTLE_TRIGGER_THRESHOLD) &&
        (v[MP_THROTTLE_TRIGGER_THRESHOLD] < 1 || v[MP_THROTTLE_TRIGGER_THRESHOLD] > 100))
        return bad(err, "throttle_trigger_threshold", "an integer in the range of 1 to 100");
    if (HAS(MP_CPU_THROTTLE_INITIAL) &&
        (v[MP_CPU_THROTTLE_INITIAL] < 1 || v[MP_CPU_THROTTLE_INITIAL] > 99))
        return bad(err, "cpu_throttle_initial", "an integer in the range of 1 to 99");
    if (HAS(MP_CPU_THROTTLE_INCREMENT) &&
        (v[MP_CPU_THROTTLE_INCREMENT] < 1 || v[MP_CPU_THROTTLE_INCREMENT] > 99))
        return bad(err, "cpu_throttle_increment", "an integer in the range of 1 to 99");
    /* max_bandwidth <= SIZE_MAX always holds on a 64-bit host. */
    /* QEMU stringifies the macro MAX_MIGRATE_DOWNTIME, hence "(2000 * 1000)". */
    if (HAS(MP_DOWNTIME_LIMIT) && v[MP_DOWNTIME_LIMIT] > 2000 * 1000)
        return bad(err, "downtime_limit",
                   "an integer in the range of 0 to (2000 * 1000) milliseconds");
    if (HAS(MP_MULTIFD_CHANNELS) && v[MP_MULTIFD_CHANNELS] < 1)
        return bad(err, "multifd_channels", "is invalid, it should be in the range of 1 to 255");
    if (HAS(MP_MULTIFD_PAGE_COUNT) &&
        (v[MP_MULTIFD_PAGE_COUNT] < 1 || v[MP_MULTIFD_PAGE_COUNT] > 10000))
        return bad(err, "multifd_page_count",
                   "is invalid, it should be in the range of 1 to 10000");
    if (HAS(MP_MULTIFD_ZLIB_LEVEL) && v[MP_MULTIFD_ZLIB_LEVEL] > 9)
        return bad(err, "multifd_zlib_level", "is invalid, it should be in the range of 0 to 9");
    if (HAS(MP_MULTIFD_ZSTD_LEVEL) && v[MP_MULTIFD_ZSTD_LEVEL] > 20)
        return bad(err, "multifd_zstd_level", "is invalid, it should be in the range of 0 to 20");
    if (HAS(MP_XBZRLE_CACHE_SIZE) && (v[MP_XBZRLE_CACHE_SIZE] < 4096 ||
                                      (v[MP_XBZRLE_CACHE_SIZE] & (v[MP_XBZRLE_CACHE_SIZE] - 1))))
        return bad(err, "xbzrle_cache_size",
                   p->v5 ? "is invalid, it should be bigger than target page size and a "
                           "power of 2"
                         : "is invalid, it should be bigger than target page size and a "
                           "power of two");
    if (HAS(MP_MAX_CPU_THROTTLE) &&
        (v[MP_MAX_CPU_THROTTLE] < v[MP_CPU_THROTTLE_INITIAL] || v[MP_MAX_CPU_THROTTLE] > 99))
        return bad(err, "max_cpu_throttle",
                   "an integer in the range of cpu_throttle_initial to 99");
    if (HAS(MP_ANNOUNCE_INITIAL) && v[MP_ANNOUNCE_INITIAL] > 100000)
        return bad(err, "announce_initial", "is invalid, it must be less than 100000 ms");
    if (HAS(MP_ANNOUNCE_MAX) && v[MP_ANNOUNCE_MAX] > 100000)
        return bad(err, "announce_max", "is invalid, it must be less than 100000 ms");
    if (HAS(MP_ANNOUNCE_ROUNDS) && v[MP_ANNOUNCE_ROUNDS] > 1000)
        return bad(err, "announce_rounds", "is invalid, it must be in the range of 0 to 1000");
    if (HAS(MP_ANNOUNCE_STEP) && (v[MP_ANNOUNCE_STEP] < 1 || v[MP_ANNOUNCE_STEP] > 10000))
        return bad(err, "announce_step", "is invalid, it must be in the range of 1 to 10000 ms");
#undef HAS
    return true;
}

/* Stores a JSON integer into a field of `bits` width the way C assignment from int64 does
 * in QEMU (migrate_params_test_apply): truncation modulo 2^bits. */
static uint64_t truncate_to(json_object *v, unsigned bits)
{
    uint64_t u = json_object_get_uint64(v);
    if (json_object_get_int64(v) < 0)
        u = (uint64_t)json_object_get_int64(v);
    return bits >= 64 ? u : (u & ((1ULL << bits) - 1));
}

bool mig_params_set(MigParams *p, json_object *args, bool changed[MP__MAX], GError **err)
{
    MigParamValues tmp = { 0 };
    bool given[MP__MAX] = { 0 };

    g_mutex_lock(&p->lock);
    values_copy(&tmp, &p->values);
    g_mutex_unlock(&p->lock);

    json_object_object_foreach(args, key, val)
    {
        int id = find_param(p, key);
        if (id < 0) {
            json_object_object_add(tmp.extra, key, json_object_get(val));
            continue;
        }
        given[id] = true;
        switch (defs[id].kind) {
        case MPK_NUM: tmp.num[id] = truncate_to(val, p->bits[id]); break;
        case MPK_BOOL: tmp.num[id] = json_object_get_boolean(val); break;
        case MPK_STR:
        case MPK_ENUM:
            /* StrOrNull: JSON null means "" (QEMU rewrites it; for tls-authz QEMU 4.0/5.0
             * would abort, migbench treats it like the other two, see docs/quirks.md). */
            g_free(tmp.str[id]);
            tmp.str[id] = g_strdup(
                json_object_is_type(val, json_type_null) ? "" : json_object_get_string(val));
            break;
        }
    }
    bool ok = params_check(p, tmp.num, err);
    if (ok) {
        g_mutex_lock(&p->lock);
        MigParamValues old = p->values;
        p->values = tmp;
        g_mutex_unlock(&p->lock);
        values_clear(&old);
        if (changed)
            memcpy(changed, given, sizeof(given));
    } else {
        values_clear(&tmp);
    }
    return ok;
}

json_object *mig_params_query(MigParams *p)
{
    json_object *o = json_object_new_object();
    size_t n = schema_object_member_count(p->params_type);

    g_mutex_lock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        const SchemaMember *m = schema_object_member(p->params_type, i);
        int id = find_param(p, m->name);
        json_object *v;
        if (id < 0) {
            v = json_object_object_get(p->values.extra, m->name);
            if (!v)
                continue;
            v = json_object_get(v);
        } else if (defs[id].kind == MPK_NUM) {
            v = json_object_new_uint64(p->values.num[id]);
        } else if (defs[id].kind == MPK_BOOL) {
            v = json_object_new_boolean(p->values.num[id] != 0);
        } else {
            v = json_object_new_string(p->values.str[id] ? p->values.str[id] : "");
        }
        json_object_object_add(o, m->name, v);
    }
    g_mutex_unlock(&p->lock);
    return o;
}
