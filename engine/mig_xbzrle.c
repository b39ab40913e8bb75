/* mig_xbzrle: XBZRLE codec and page cache (see mig_xbzrle.h).
 *
 * The encoder compares eight bytes at a time and finds the end of a changed run with the
 * "has a zero byte" trick on old^new, so sparse deltas encode at memory speed; the output is
 * byte-identical to a byte-by-byte definition of the runs. */
#include "mig_xbzrle.h"
#include "mb_error.h"

#include <string.h>

#define PAGE 4096u

static int uleb_put(uint8_t *p, uint32_t n)
{
    if (n < 0x80) {
        p[0] = (uint8_t)n;
        return 1;
    }
    p[0] = (uint8_t)(n | 0x80);
    p[1] = (uint8_t)(n >> 7);
    return 2;
}

/* Reads a one- or two-byte ULEB128 (at most 14 bits); -1 when it would need more. */
static int uleb_get(const uint8_t *p, int avail, uint32_t *n)
{
    if (avail < 1)
        return -1;
    if (!(p[0] & 0x80)) {
        *n = p[0];
        return 1;
    }
    if (avail < 2 || (p[1] & 0x80))
        return -1;
    *n = (uint32_t)(p[0] & 0x7f) | (uint32_t)p[1] << 7;
    return 2;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

int mig_xbzrle_encode(const uint8_t *old_buf, const uint8_t *new_buf, int len, uint8_t *dst,
                      int dlen)
{
    int i = 0, d = 0;

    while (i < len) {
        if (d + 2 > dlen)
            return -1;
        /* run of unchanged bytes */
        int start = i;
        while (i + 8 <= len && load64(old_buf + i) == load64(new_buf + i))
            i += 8;
        while (i < len && old_buf[i] == new_buf[i])
            i++;
        if (i - start == len)
            return 0;
        if (i == len)
            return d; /* the final unchanged run is not sent */
        d += uleb_put(dst + d, (uint32_t)(i - start));
        if (d + 2 > dlen)
            return -1;
        /* run of changed bytes: stop at the first word holding an equal byte */
        start = i;
        while (i < len && (i & 7) && old_buf[i] != new_buf[i])
            i++;
        if (i < len && !(i & 7)) {
            while (i + 8 <= len) {
                uint64_t x = load64(old_buf + i) ^ load64(new_buf + i);
                if ((x - ONES) & ~x & HIGHS)
                    break;
                i += 8;
            }
            while (i < len && old_buf[i] != new_buf[i])
                i++;
        }
        int run = i - start;
        d += uleb_put(dst + d, (uint32_t)run);
        if (d + run > dlen)
            return -1;
        memcpy(dst + d, new_buf + start, (size_t)run);
        d += run;
    }
    return d;
}

int mig_xbzrle_decode(const uint8_t *src, int slen, uint8_t *dst, int dlen)
{
    int i = 0, d = 0;
    uint32_t count;

    while (i < slen) {
        /* unchanged run; only the first may be empty */
        if (slen - i < 2)
            return -1;
        int n = uleb_get(src + i, slen - i, &count);
        if (n < 0 || (i && !count))
            return -1;
        i += n;
        d += (int)count;
        if (d > dlen)
            return -1;
        /* changed run, never empty */
        if (slen - i < 2)
            return -1;
        n = uleb_get(src + i, slen - i, &count);
        if (n < 0 || !count)
            return -1;
        i += n;
        if (d + (int)count > dlen || i + (int)count > slen)
            return -1;
        memcpy(dst + d, src + i, count);
        d += (int)count;
        i += (int)count;
    }
    return d;
}

/* ---- the cache ---- */

typedef struct {
    uint8_t *data;
    uint64_t addr;
    uint64_t age;
} CacheItem;

struct MigXbzrleCache {
    CacheItem *items;
    uint64_t n; /* entries, a power of two */
};

static bool size_ok(uint64_t bytes, GError **err)
{
    if (bytes < PAGE) {
        mb_error_set(err, "Parameter 'cache size' expects is smaller than one target page size");
        return false;
    }
    uint64_t n = bytes / PAGE;
    if (n & (n - 1)) {
        mb_error_set(err, "Parameter 'cache size' expects is not a power of two number of pages");
        return false;
    }
    return true;
}

MigXbzrleCache *mig_xbzrle_cache_new(uint64_t bytes, GError **err)
{
    if (!size_ok(bytes, err))
        return NULL;
    MigXbzrleCache *c = g_new0(MigXbzrleCache, 1);
    c->n = bytes / PAGE;
    c->items = g_try_new0(CacheItem, c->n);
    if (!c->items) {
        g_free(c);
        mb_error_set(err, "Parameter 'cache size' expects Failed to allocate cache");
        return NULL;
    }
    for (uint64_t i = 0; i < c->n; i++)
        c->items[i].addr = UINT64_MAX;
    return c;
}

void mig_xbzrle_cache_free(MigXbzrleCache *c)
{
    if (!c)
        return;
    for (uint64_t i = 0; i < c->n; i++)
        g_free(c->items[i].data);
    g_free(c->items);
    g_free(c);
}

uint64_t mig_xbzrle_cache_size(const MigXbzrleCache *c)
{
    return c->n * PAGE;
}

static CacheItem *slot(MigXbzrleCache *c, uint64_t addr)
{
    return &c->items[(addr / PAGE) & (c->n - 1)];
}

bool mig_xbzrle_cache_lookup(MigXbzrleCache *c, uint64_t addr, uint64_t age)
{
    CacheItem *it = slot(c, addr);
    if (it->addr != addr)
        return false;
    it->age = age;
    return true;
}

uint8_t *mig_xbzrle_cache_data(MigXbzrleCache *c, uint64_t addr)
{
    CacheItem *it = slot(c, addr);
    return it->addr == addr ? it->data : NULL;
}

bool mig_xbzrle_cache_insert(MigXbzrleCache *c, uint64_t addr, const uint8_t *page, uint64_t age)
{
    CacheItem *it = slot(c, addr);

    if (it->data && it->addr != addr && it->age + 2 > age)
        return false; /* the occupant is fresh: keep it */
    if (!it->data) {
        it->data = g_try_malloc(PAGE);
        if (!it->data)
            return false;
    }
    memcpy(it->data, page, PAGE);
    it->addr = addr;
    it->age = age;
    return true;
}

bool mig_xbzrle_cache_resize(MigXbzrleCache **cp, uint64_t bytes, GError **err)
{
    MigXbzrleCache *old = *cp;

    if (old && mig_xbzrle_cache_size(old) == bytes)
        return true;
    MigXbzrleCache *c = mig_xbzrle_cache_new(bytes, err);
    if (!c)
        return false;
    if (old) {
        for (uint64_t i = 0; i < old->n; i++) {
            CacheItem *o = &old->items[i];
            if (!o->data)
                continue;
            CacheItem *n = slot(c, o->addr);
            if (!n->data || n->age < o->age) {
                g_free(n->data);
                *n = *o;
            } else {
                g_free(o->data);
            }
            o->data = NULL;
        }
        mig_xbzrle_cache_free(old);
    }
    *cp = c;
    return true;
}
