/* mig_disk_log: the one reader of the guest's disk write logs, fanning the written pages
 * out to every registered bitmap at its granularity (mig_disk_log.h). */
#include "mig_disk_log.h"

#include "mb_bitmap.h"

#include <glib.h>

struct MigDiskBitmap {
    unsigned disk;
    unsigned gshift; /* log2(granularity in bytes), 9.. */
    bool enabled;    /* recording writes */
    uint64_t nbits;
    uint64_t *bits;
};

/* A written disk page sets every bit whose granularity range overlaps it. */
static void mark_page(MigDiskBitmap *b, uint64_t page)
{
    uint64_t first = (page * MB_TARGET_PAGE_SIZE) >> b->gshift;
    uint64_t last = ((page + 1) * MB_TARGET_PAGE_SIZE - 1) >> b->gshift;
    for (uint64_t i = first; i <= last && i < b->nbits; i++)
        mb_bit_set(b->bits, i);
}

struct MigDiskLog {
    MbGuest *g;
    GMutex lock;
    uint64_t **scratch; /* per disk: the page bitmap the guest ORs into */
    GPtrArray *bitmaps; /* MigDiskBitmap */
};

static void sync_locked(MigDiskLog *l)
{
    for (unsigned d = 0; d < l->g->ndisks; d++) {
        uint64_t pages = mb_guest_disk_pages(l->g, d);
        uint64_t *s = l->scratch[d];
        if (!l->g->ops->disk_log_sync(l->g, d, s))
            continue;
        for (uint64_t w = 0; w < MB_BITS_TO_WORDS(pages); w++) {
            uint64_t bits = s[w];
            if (!bits)
                continue;
            s[w] = 0;
            for (guint i = 0; i < l->bitmaps->len; i++) {
                MigDiskBitmap *b = g_ptr_array_index(l->bitmaps, i);
                if (b->disk != d || !b->enabled)
                    continue;
                for (uint64_t x = bits; x; x &= x - 1)
                    mark_page(b, w * 64 + (uint64_t)__builtin_ctzll(x));
            }
        }
    }
}

MigDiskLog *mig_disk_log_new(MbGuest *g)
{
    MigDiskLog *l = g_new0(MigDiskLog, 1);
    l->g = g;
    g_mutex_init(&l->lock);
    l->scratch = g_new0(uint64_t *, g->ndisks + 1);
    for (unsigned d = 0; d < g->ndisks; d++)
        l->scratch[d] = mb_bitmap_new(mb_guest_disk_pages(g, d));
    l->bitmaps = g_ptr_array_new();
    sync_locked(l); /* forget what was written before */
    return l;
}

static void bitmap_free(MigDiskBitmap *b)
{
    g_free(b->bits);
    g_free(b);
}

void mig_disk_log_free(MigDiskLog *l)
{
    if (!l)
        return;
    for (guint i = 0; i < l->bitmaps->len; i++)
        bitmap_free(g_ptr_array_index(l->bitmaps, i));
    g_ptr_array_free(l->bitmaps, TRUE);
    for (unsigned d = 0; d < l->g->ndisks; d++)
        g_free(l->scratch[d]);
    g_free(l->scratch);
    g_mutex_clear(&l->lock);
    g_free(l);
}

MigDiskBitmap *mig_disk_log_add(MigDiskLog *l, unsigned disk, uint64_t granularity)
{
    g_assert(disk < l->g->ndisks && granularity >= 512 && !(granularity & (granularity - 1)));
    MigDiskBitmap *b = g_new0(MigDiskBitmap, 1);
    b->disk = disk;
    b->enabled = true;
    b->gshift = (unsigned)__builtin_ctzll(granularity);
    uint64_t size = l->g->disks[disk].size;
    b->nbits = (size + granularity - 1) >> b->gshift;
    b->bits = mb_bitmap_new(b->nbits);
    g_mutex_lock(&l->lock);
    sync_locked(l); /* earlier writes go to the bitmaps that existed then */
    g_ptr_array_add(l->bitmaps, b);
    g_mutex_unlock(&l->lock);
    return b;
}

void mig_disk_log_remove(MigDiskLog *l, MigDiskBitmap *b)
{
    if (!b)
        return;
    g_mutex_lock(&l->lock);
    g_ptr_array_remove(l->bitmaps, b);
    g_mutex_unlock(&l->lock);
    bitmap_free(b);
}

void mig_disk_log_sync(MigDiskLog *l)
{
    g_mutex_lock(&l->lock);
    sync_locked(l);
    g_mutex_unlock(&l->lock);
}

uint64_t mig_disk_bitmap_count(MigDiskLog *l, const MigDiskBitmap *b)
{
    g_mutex_lock(&l->lock);
    uint64_t n = mb_bitmap_count(b->bits, b->nbits);
    g_mutex_unlock(&l->lock);
    return n;
}

uint64_t mig_disk_bitmap_bits(const MigDiskBitmap *b)
{
    return b->nbits;
}

uint64_t mig_disk_bitmap_granularity(const MigDiskBitmap *b)
{
    return 1ULL << b->gshift;
}

unsigned mig_disk_bitmap_disk(const MigDiskBitmap *b)
{
    return b->disk;
}

uint64_t mig_disk_bitmap_next(MigDiskLog *l, const MigDiskBitmap *b, uint64_t start)
{
    g_mutex_lock(&l->lock);
    uint64_t n = start >= b->nbits ? b->nbits : mb_bitmap_next_set(b->bits, b->nbits, start);
    g_mutex_unlock(&l->lock);
    return n;
}

void mig_disk_bitmap_reset(MigDiskLog *l, MigDiskBitmap *b, uint64_t first, uint64_t n)
{
    g_mutex_lock(&l->lock);
    for (uint64_t i = first; i < b->nbits && i - first < n; i++)
        mb_bit_clear(b->bits, i);
    g_mutex_unlock(&l->lock);
}

void mig_disk_bitmap_set(MigDiskLog *l, MigDiskBitmap *b, uint64_t first, uint64_t n)
{
    g_mutex_lock(&l->lock);
    for (uint64_t i = first; i < b->nbits && i - first < n; i++)
        mb_bit_set(b->bits, i);
    g_mutex_unlock(&l->lock);
}

uint64_t *mig_disk_bitmap_copy(MigDiskLog *l, const MigDiskBitmap *b)
{
    g_mutex_lock(&l->lock);
    uint64_t *c = g_memdup2(b->bits, MAX(MB_BITS_TO_WORDS(b->nbits), 1) * 8);
    g_mutex_unlock(&l->lock);
    return c;
}

void mig_disk_bitmap_set_enabled(MigDiskLog *l, MigDiskBitmap *b, bool enabled)
{
    g_mutex_lock(&l->lock);
    sync_locked(l); /* writes so far go in (or not) by the state they came in */
    b->enabled = enabled;
    g_mutex_unlock(&l->lock);
}

bool mig_disk_bitmap_enabled(MigDiskLog *l, const MigDiskBitmap *b)
{
    g_mutex_lock(&l->lock);
    bool e = b->enabled;
    g_mutex_unlock(&l->lock);
    return e;
}
