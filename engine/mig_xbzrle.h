/* mig_xbzrle: XBZRLE delta encoding and its page cache, in QEMU's wire encoding.
 *
 * A page is sent as the difference to the copy sent last time: pairs of (ULEB128 length of
 * a run of unchanged bytes, ULEB128 length of a run of changed bytes, those new bytes);
 * the final unchanged run is omitted; lengths take at most two bytes.  Encoding that does
 * not fit in one page is an overflow (-1) and the page goes out whole.  The cache is
 * direct-mapped, indexed by RAM address / page size, and keeps a "fresh" entry (inserted
 * or hit in one of the last two syncs) from being replaced, like QEMU's page_cache.c. */
#ifndef MIG_XBZRLE_H
#define MIG_XBZRLE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_XBZRLE_ENCODING_FLAG 0x01

/* Encodes new_buf against old_buf (both `len` bytes, len a multiple of 8) into dst of
 * `dlen` bytes.  Returns the encoded length, 0 when the buffers are equal, or -1 when the
 * encoding does not fit in dlen. */
int mig_xbzrle_encode(const uint8_t *old_buf, const uint8_t *new_buf, int len, uint8_t *dst,
                      int dlen);

/* Applies an encoded delta of `slen` bytes to dst (`dlen` bytes, the page as it was).
 * Returns the number of bytes covered, or -1 on malformed input: a zero-length unchanged run
 * other than the first, a zero-length changed run, a length over 14 bits, or any read or
 * write past a buffer end.  On -1, dst may be partly modified: decode into a copy. */
int mig_xbzrle_decode(const uint8_t *src, int slen, uint8_t *dst, int dlen);

typedef struct MigXbzrleCache MigXbzrleCache;

/* A cache of `bytes` (a power of two, at least one page) of 4 KiB pages.  Entries are
 * allocated on first use, so a large cache costs memory only as it fills. */
MigXbzrleCache *mig_xbzrle_cache_new(uint64_t bytes, GError **err);
void mig_xbzrle_cache_free(MigXbzrleCache *c);
uint64_t mig_xbzrle_cache_size(const MigXbzrleCache *c);
/* True when `addr` is cached; a hit refreshes the entry's age (QEMU's cache_is_cached). */
bool mig_xbzrle_cache_lookup(MigXbzrleCache *c, uint64_t addr, uint64_t age);
/* The cached copy of `addr` (after a successful lookup or insert). */
uint8_t *mig_xbzrle_cache_data(MigXbzrleCache *c, uint64_t addr);
/* Stores a copy of `page` for `addr`; false when the slot holds another, still fresh page
 * (age + 2 > current age) or memory ran out. */
bool mig_xbzrle_cache_insert(MigXbzrleCache *c, uint64_t addr, const uint8_t *page, uint64_t age);
/* Resizes to `bytes`, keeping what still maps (QEMU's cache_resize semantics: entries move
 * to their slot in the new table, collisions drop the older one).  False with QEMU's texts
 * ("Parameter 'cache size' expects is smaller than one target page size", "... is not a
 * power of two number of pages") without changing anything. */
bool mig_xbzrle_cache_resize(MigXbzrleCache **c, uint64_t bytes, GError **err);

#endif
