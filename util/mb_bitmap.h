/* mb_bitmap: plain uint64_t-word bitmaps for dirty-page tracking.
 *
 * Dirty bitmaps are the engine's hottest shared structure (a 1 TiB guest has 268 M pages,
 * 32 MiB of bitmap), so they are bare arrays with inline bit access and word-wise bulk
 * operations; no locking here, owners synchronise. */
#ifndef MB_BITMAP_H
#define MB_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_BITS_TO_WORDS(n) (((n) + 63) / 64)

static inline bool mb_bit_test(const uint64_t *map, uint64_t bit)
{
    return (map[bit >> 6] >> (bit & 63)) & 1;
}
static inline void mb_bit_set(uint64_t *map, uint64_t bit)
{
    map[bit >> 6] |= 1ULL << (bit & 63);
}
static inline void mb_bit_clear(uint64_t *map, uint64_t bit)
{
    map[bit >> 6] &= ~(1ULL << (bit & 63));
}
/* Clears the bit and returns its previous value. */
static inline bool mb_bit_test_and_clear(uint64_t *map, uint64_t bit)
{
    uint64_t m = 1ULL << (bit & 63);
    bool was = map[bit >> 6] & m;
    map[bit >> 6] &= ~m;
    return was;
}

/* Allocates a zeroed bitmap of nbits (g_free to release). */
uint64_t *mb_bitmap_new(uint64_t nbits);
/* Sets bits [0, nbits); the tail of the last word stays clear. */
void mb_bitmap_fill(uint64_t *map, uint64_t nbits);
void mb_bitmap_zero(uint64_t *map, uint64_t nbits);
uint64_t mb_bitmap_count(const uint64_t *map, uint64_t nbits);
/* dst |= src; returns how many bits were newly set in dst. */
uint64_t mb_bitmap_or_count(uint64_t *dst, const uint64_t *src, uint64_t nbits);
/* Index of the first set bit >= start, or nbits if none. */
uint64_t mb_bitmap_next_set(const uint64_t *map, uint64_t nbits, uint64_t start);

#endif
