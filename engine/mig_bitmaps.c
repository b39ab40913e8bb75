/* mig_bitmaps: named dirty bitmaps of the guest's disks and their QMP commands, with
 * QEMU 5.0's argument shapes, checks and texts (blockdev.c, block/dirty-bitmap.c). */
#include "mig_bitmaps.h"

#include "mb_bitmap.h"
#include "mb_error.h"

#include <string.h>

typedef struct {
    char *name;
    unsigned disk;
    uint32_t granularity;
    bool persistent;
    bool busy;     /* carried by a migration */
    bool incoming; /* being received; enabled when complete */
    bool enable_when_complete;
    MigDiskBitmap *bm;
} Named;

struct MigBitmaps {
    MbGuest *g;
    MigDiskLog *log;
    GMutex lock;
    GPtrArray *list; /* Named, newest first (QEMU inserts at the head) */
};

MigBitmaps *mig_bitmaps_new(MbGuest *g, MigDiskLog *log)
{
    MigBitmaps *b = g_new0(MigBitmaps, 1);
    b->g = g;
    b->log = log;
    g_mutex_init(&b->lock);
    b->list = g_ptr_array_new();
    return b;
}

static void named_free(MigBitmaps *b, Named *n)
{
    mig_disk_log_remove(b->log, n->bm);
    g_free(n->name);
    g_free(n);
}

void mig_bitmaps_free(MigBitmaps *b)
{
    if (!b)
        return;
    for (guint i = 0; i < b->list->len; i++)
        named_free(b, g_ptr_array_index(b->list, i));
    g_ptr_array_free(b->list, TRUE);
    g_mutex_clear(&b->lock);
    g_free(b);
}

static int find_disk(MigBitmaps *b, const char *node)
{
    for (unsigned d = 0; b->log && d < b->g->ndisks; d++)
        if (!strcmp(b->g->disks[d].name, node))
            return (int)d;
    return -1;
}

static Named *find_locked(MigBitmaps *b, unsigned disk, const char *name, guint *idx)
{
    for (guint i = 0; i < b->list->len; i++) {
        Named *n = g_ptr_array_index(b->list, i);
        if (n->disk == disk && !strcmp(n->name, name)) {
            if (idx)
                *idx = i;
            return n;
        }
    }
    return NULL;
}

/* ---- QMP ---- */

static const char *str_arg(json_object *args, const char *k)
{
    return json_object_get_string(json_object_object_get(args, k));
}

static json_object *cmd_add(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigBitmaps *b = ((MigEngine *)op)->bitmaps;
    const char *node = str_arg(args, "node"), *name = str_arg(args, "name");
    json_object *jg = json_object_object_get(args, "granularity");
    json_object *jp = json_object_object_get(args, "persistent");
    json_object *jd = json_object_object_get(args, "disabled");

    if (!*name) {
        mb_error_set(err, "Bitmap name cannot be empty");
        return NULL;
    }
    int disk = find_disk(b, node);
    if (disk < 0) {
        mb_error_set(err, "Cannot find device=%s nor node_name=%s", node, node);
        return NULL;
    }
    uint64_t gran = MIG_BITMAP_DEFAULT_GRANULARITY;
    if (jg) {
        gran = (uint64_t)json_object_get_uint64(jg);
        if (gran < 512 || (gran & (gran - 1))) {
            mb_error_set(err, "Granularity must be power of 2 and at least 512");
            return NULL;
        }
    }
    if (jp && json_object_get_boolean(jp)) {
        /* A raw image cannot store bitmaps (QEMU: only qcow2 can). */
        mb_error_set(err, "Can't store persistent bitmaps to %s: Operation not supported", node);
        return NULL;
    }
    g_mutex_lock(&b->lock);
    if (find_locked(b, (unsigned)disk, name, NULL)) {
        g_mutex_unlock(&b->lock);
        mb_error_set(err, "Bitmap already exists: %s", name);
        return NULL;
    }
    Named *n = g_new0(Named, 1);
    n->name = g_strdup(name);
    n->disk = (unsigned)disk;
    n->granularity = (uint32_t)gran;
    n->bm = mig_disk_log_add(b->log, (unsigned)disk, gran);
    if (jd && json_object_get_boolean(jd))
        mig_disk_bitmap_set_enabled(b->log, n->bm, false);
    g_ptr_array_insert(b->list, 0, n);
    g_mutex_unlock(&b->lock);
    return NULL;
}

/* QEMU's block_dirty_bitmap_lookup, then the busy check. */
static json_object *cmd_remove(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigBitmaps *b = ((MigEngine *)op)->bitmaps;
    const char *node = str_arg(args, "node"), *name = str_arg(args, "name");
    int disk = find_disk(b, node);
    guint idx;

    if (disk < 0) {
        mb_error_set(err, "Node '%s' not found", node);
        return NULL;
    }
    g_mutex_lock(&b->lock);
    Named *n = find_locked(b, (unsigned)disk, name, &idx);
    if (!n) {
        g_mutex_unlock(&b->lock);
        mb_error_set(err, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    if (n->busy || n->incoming) {
        g_mutex_unlock(&b->lock);
        mb_error_set(err, "Bitmap '%s' is currently in use by another operation and cannot be used",
                     name);
        return NULL;
    }
    g_ptr_array_remove_index(b->list, idx);
    g_mutex_unlock(&b->lock);
    named_free(b, n);
    return NULL;
}

static json_object *dirty_info(MigBitmaps *b, const Named *n)
{
    json_object *o = json_object_new_object();
    bool rec = mig_disk_bitmap_enabled(b->log, n->bm);
    bool busy = n->busy || n->incoming;
    json_object_object_add(o, "name", json_object_new_string(n->name));
    json_object_object_add(
        o, "count",
        json_object_new_int64((int64_t)(mig_disk_bitmap_count(b->log, n->bm) * n->granularity)));
    json_object_object_add(o, "granularity", json_object_new_int64(n->granularity));
    json_object_object_add(o, "recording", json_object_new_boolean(rec));
    json_object_object_add(o, "busy", json_object_new_boolean(busy));
    json_object_object_add(o, "status",
                           json_object_new_string(busy  ? "locked"
                                                  : rec ? "active"
                                                        : "disabled"));
    json_object_object_add(o, "persistent", json_object_new_boolean(n->persistent));
    return o;
}

static json_object *cmd_query_block(QmpRequest *req, json_object *args, GError **err, void *op)
{
    MigBitmaps *b = ((MigEngine *)op)->bitmaps;
    json_object *list = json_object_new_array();

    if (b->log)
        mig_disk_log_sync(b->log);
    g_mutex_lock(&b->lock);
    for (unsigned d = 0; b->log && d < b->g->ndisks; d++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "device", json_object_new_string(b->g->disks[d].name));
        json_object_object_add(o, "locked", json_object_new_boolean(false));
        json_object_object_add(o, "removable", json_object_new_boolean(false));
        json_object_object_add(o, "type", json_object_new_string("unknown"));
        json_object *bms = json_object_new_array();
        for (guint i = 0; i < b->list->len; i++) {
            Named *n = g_ptr_array_index(b->list, i);
            if (n->disk == d)
                json_object_array_add(bms, dirty_info(b, n));
        }
        if (json_object_array_length(bms))
            json_object_object_add(o, "dirty-bitmaps", bms);
        else
            json_object_put(bms);
        json_object_array_add(list, o);
    }
    g_mutex_unlock(&b->lock);
    return list;
}

void mig_bitmaps_register(MigEngine *e)
{
    qmp_server_register(e->qmp, "block-dirty-bitmap-add", cmd_add, e);
    qmp_server_register(e->qmp, "block-dirty-bitmap-remove", cmd_remove, e);
    qmp_server_register(e->qmp, "query-block", cmd_query_block, e);
}

/* ---- migration ---- */

unsigned mig_bitmaps_begin(MigBitmaps *b)
{
    g_mutex_lock(&b->lock);
    for (guint i = 0; i < b->list->len; i++)
        ((Named *)g_ptr_array_index(b->list, i))->busy = true;
    unsigned n = b->list->len;
    g_mutex_unlock(&b->lock);
    return n;
}

void mig_bitmaps_copy(MigBitmaps *b, unsigned i, MigBitmapCopy *out)
{
    memset(out, 0, sizeof(*out));
    mig_disk_log_sync(b->log);
    g_mutex_lock(&b->lock);
    if (i < b->list->len) {
        Named *n = g_ptr_array_index(b->list, i);
        g_strlcpy(out->disk_name, b->g->disks[n->disk].name, sizeof(out->disk_name));
        out->disk_size = b->g->disks[n->disk].size;
        out->name = g_strdup(n->name);
        out->granularity = n->granularity;
        out->enabled = mig_disk_bitmap_enabled(b->log, n->bm);
        out->persistent = n->persistent;
        out->nbits = mig_disk_bitmap_bits(n->bm);
        out->bits = mig_disk_bitmap_copy(b->log, n->bm);
    }
    g_mutex_unlock(&b->lock);
}

void mig_bitmap_copy_clear(MigBitmapCopy *c)
{
    g_free(c->name);
    g_free(c->bits);
    memset(c, 0, sizeof(*c));
}

void mig_bitmaps_end(MigBitmaps *b)
{
    g_mutex_lock(&b->lock);
    for (guint i = 0; i < b->list->len; i++)
        ((Named *)g_ptr_array_index(b->list, i))->busy = false;
    g_mutex_unlock(&b->lock);
}

bool mig_bitmaps_create_incoming(MigBitmaps *b, const char *disk, const char *name,
                                 uint32_t granularity, bool enabled, bool persistent, GError **err)
{
    int d = find_disk(b, disk);
    if (d < 0) {
        mb_error_set(err, "Error: unknown block device '%s'", disk);
        return false;
    }
    if (granularity < 512 || (granularity & (granularity - 1))) {
        mb_error_set(err, "Error: bitmap '%s' has an invalid granularity %u", name, granularity);
        return false;
    }
    g_mutex_lock(&b->lock);
    if (find_locked(b, (unsigned)d, name, NULL)) {
        g_mutex_unlock(&b->lock);
        mb_error_set(err, "Bitmap with the same name ('%s') already exists on destination", name);
        return false;
    }
    Named *n = g_new0(Named, 1);
    n->name = g_strdup(name);
    n->disk = (unsigned)d;
    n->granularity = granularity;
    n->persistent = persistent;
    n->incoming = true;
    n->enable_when_complete = enabled;
    n->bm = mig_disk_log_add(b->log, (unsigned)d, granularity);
    mig_disk_bitmap_set_enabled(b->log, n->bm, false);
    g_ptr_array_insert(b->list, 0, n);
    g_mutex_unlock(&b->lock);
    return true;
}

bool mig_bitmaps_set_bits(MigBitmaps *b, const char *disk, const char *name, uint64_t first,
                          const uint64_t *bits, uint64_t n, GError **err)
{
    int d = find_disk(b, disk);
    g_mutex_lock(&b->lock);
    Named *nb = d < 0 ? NULL : find_locked(b, (unsigned)d, name, NULL);
    if (!nb || first + n > mig_disk_bitmap_bits(nb->bm)) {
        g_mutex_unlock(&b->lock);
        mb_error_set(err,
                     "Error: bits %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT
                     " are outside dirty bitmap '%s'",
                     first, n, name);
        return false;
    }
    for (uint64_t i = 0; i < n; i++)
        if (mb_bit_test(bits, i))
            mig_disk_bitmap_set(b->log, nb->bm, first + i, 1);
    g_mutex_unlock(&b->lock);
    return true;
}

void mig_bitmaps_finish_incoming(MigBitmaps *b, const char *disk, const char *name)
{
    int d = find_disk(b, disk);
    g_mutex_lock(&b->lock);
    Named *n = d < 0 ? NULL : find_locked(b, (unsigned)d, name, NULL);
    if (n && n->incoming) {
        n->incoming = false;
        mig_disk_bitmap_set_enabled(b->log, n->bm, n->enable_when_complete);
    }
    g_mutex_unlock(&b->lock);
}

uint32_t mig_bitmaps_granularity(MigBitmaps *b, const char *disk, const char *name)
{
    int d = find_disk(b, disk);
    g_mutex_lock(&b->lock);
    Named *n = d < 0 ? NULL : find_locked(b, (unsigned)d, name, NULL);
    uint32_t g = n ? n->granularity : 0;
    g_mutex_unlock(&b->lock);
    return g;
}
