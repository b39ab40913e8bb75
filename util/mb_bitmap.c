/* mb_bitmap: word-wise bulk operations on dirty bitmaps (see mb_bitmap.h). */
#include "mb_bitmap.h"

#include <glib.h>
#include <string.h>

uint64_t *mb_bitmap_new(uint64_t nbits)
{
    return g_new0(uint64_t, MB_BITS_TO_WORDS(nbits) ? MB_BITS_TO_WORDS(nbits) : 1);
}

void mb_bitmap_fill(uint64_t *map, uint64_t nbits)
{
    uint64_t full = nbits / 64;

    memset(map, 0xff, full * 8);
    if (nbits & 63)
        map[full] = (1ULL << (nbits & 63)) - 1;
}

void mb_bitmap_zero(uint64_t *map, uint64_t nbits)
{
    memset(map, 0, MB_BITS_TO_WORDS(nbits) * 8);
}

uint64_t mb_bitmap_count(const uint64_t *map, uint64_t nbits)
{
    uint64_t n = 0, words = MB_BITS_TO_WORDS(nbits);

    for (uint64_t i = 0; i < words; i++)
        n += (uint64_t)__builtin_popcountll(map[i]);
    return n;
}

uint64_t mb_bitmap_or_count(uint64_t *dst, const uint64_t *src, uint64_t nbits)
{
    uint64_t n = 0, words = MB_BITS_TO_WORDS(nbits);

    for (uint64_t i = 0; i < words; i++) {
        uint64_t s = src[i];
        if (s) {
            n += (uint64_t)__builtin_popcountll(s & ~dst[i]);
            dst[i] |= s;
        }
    }
    return n;
}

uint64_t mb_bitmap_next_set(const uint64_t *map, uint64_t nbits, uint64_t start)
{
    if (start >= nbits)
        return nbits;
    uint64_t w = start >> 6;
    uint64_t word = map[w] & (~0ULL << (start & 63));
    uint64_t words = MB_BITS_TO_WORDS(nbits);

    for (;;) {
        if (word) {
            uint64_t bit = (w << 6) + (uint64_t)__builtin_ctzll(word);
            return bit < nbits ? bit : nbits;
        }
        if (++w >= words)
            return nbits;
        word = map[w];
    }
}
