/* Unit tests for mig_xbzrle: the fast encoder against a byte-by-byte reference, round
 * trips, QEMU's overflow and decode rules, and the page cache's freshness and resize. */
#include "mb_util.h"
#include "mig_xbzrle.h"

#include <string.h>

#define PAGE 4096

/* The encoding by its definition: (unchanged run, changed run, changed bytes)..., final
 * unchanged run omitted, overflow when it exceeds dlen. */
static int ref_encode(const uint8_t *o, const uint8_t *n, int len, uint8_t *dst, int dlen)
{
    int i = 0, d = 0;
    while (i < len) {
        if (d + 2 > dlen)
            return -1;
        int z = 0;
        while (i < len && o[i] == n[i])
            i++, z++;
        if (z == len)
            return 0;
        if (i == len)
            return d;
        d += z < 128 ? (dst[d] = (uint8_t)z, 1)
                     : (dst[d] = (uint8_t)(z | 0x80), dst[d + 1] = (uint8_t)(z >> 7), 2);
        if (d + 2 > dlen)
            return -1;
        int s = i, nz = 0;
        while (i < len && o[i] != n[i])
            i++, nz++;
        d += nz < 128 ? (dst[d] = (uint8_t)nz, 1)
                      : (dst[d] = (uint8_t)(nz | 0x80), dst[d + 1] = (uint8_t)(nz >> 7), 2);
        if (d + nz > dlen)
            return -1;
        memcpy(dst + d, n + s, (size_t)nz);
        d += nz;
    }
    return d;
}

static void check_pair(const uint8_t *o, const uint8_t *n)
{
    uint8_t a[PAGE], b[PAGE], back[PAGE];
    int la = mig_xbzrle_encode(o, n, PAGE, a, PAGE);
    int lb = ref_encode(o, n, PAGE, b, PAGE);
    g_assert_cmpint(la, ==, lb);
    if (la > 0) {
        g_assert_cmpint(memcmp(a, b, (size_t)la), ==, 0);
        memcpy(back, o, PAGE);
        g_assert_cmpint(mig_xbzrle_decode(a, la, back, PAGE), <=, PAGE);
        g_assert_cmpint(memcmp(back, n, PAGE), ==, 0);
    }
}

static void test_against_reference(void)
{
    static uint8_t o[PAGE] __attribute__((aligned(8))), n[PAGE] __attribute__((aligned(8)));
    MbRand r;
    mb_rand_seed(&r, 7);
    for (int iter = 0; iter < 3000; iter++) {
        for (int i = 0; i < PAGE; i++)
            o[i] = (uint8_t)mb_rand_next(&r);
        memcpy(n, o, PAGE);
        /* sparse deltas of every shape: single bytes, runs crossing word boundaries */
        int edits = (int)mb_rand_below(&r, iter < 2000 ? 40 : 900);
        for (int k = 0; k < edits; k++) {
            int at = (int)mb_rand_below(&r, PAGE), run = 1 + (int)mb_rand_below(&r, 19);
            for (int j = at; j < at + run && j < PAGE; j++)
                n[j] = (uint8_t)(o[j] ^ (1 + mb_rand_below(&r, 255)));
        }
        check_pair(o, n);
    }
}

static void test_known_vectors(void)
{
    static uint8_t o[PAGE], n[PAGE], out[PAGE];
    g_assert_cmpint(mig_xbzrle_encode(o, n, PAGE, out, PAGE), ==, 0);
    n[1000] = 1;
    g_assert_cmpint(mig_xbzrle_encode(o, n, PAGE, out, PAGE), ==, 4);
    const uint8_t want[] = { 0xe8, 0x07, 0x01, 0x01 }; /* uleb 1000, uleb 1, byte */
    g_assert_cmpint(memcmp(out, want, 4), ==, 0);
    n[0] = 9; /* a changed first byte: an empty first unchanged run is allowed */
    int len = mig_xbzrle_encode(o, n, PAGE, out, PAGE);
    g_assert_cmpint(out[0], ==, 0);
    g_assert_cmpint(out[1], ==, 1);
    g_assert_cmpint(len, ==, 7);
}

static void test_overflow(void)
{
    static uint8_t o[PAGE], n[PAGE], out[PAGE];
    for (int i = 0; i < PAGE; i++)
        n[i] = (uint8_t)(i | 1);
    g_assert_cmpint(mig_xbzrle_encode(o, n, PAGE, out, PAGE), ==, -1);
    /* alternating bytes cost 3 bytes per 2: overflow too */
    memset(n, 0, PAGE);
    for (int i = 0; i < PAGE; i += 2)
        n[i] = 1;
    g_assert_cmpint(mig_xbzrle_encode(o, n, PAGE, out, PAGE), ==, -1);
}

static void test_decode_rejects(void)
{
    uint8_t page[PAGE] = { 0 };
    const uint8_t empty_changed[] = { 0x05, 0x00 };
    g_assert_cmpint(mig_xbzrle_decode(empty_changed, 2, page, PAGE), ==, -1);
    const uint8_t empty_second_unchanged[] = { 0x01, 0x01, 0xaa, 0x00, 0x01, 0xbb };
    g_assert_cmpint(mig_xbzrle_decode(empty_second_unchanged, 6, page, PAGE), ==, -1);
    const uint8_t three_byte_uleb[] = { 0x80, 0x80, 0x01, 0x01, 0xaa };
    g_assert_cmpint(mig_xbzrle_decode(three_byte_uleb, 5, page, PAGE), ==, -1);
    const uint8_t past_end[] = { 0xff, 0x1f, 0x02, 0xaa, 0xbb }; /* 4095 + 2 > 4096 */
    g_assert_cmpint(mig_xbzrle_decode(past_end, 5, page, PAGE), ==, -1);
    const uint8_t truncated[] = { 0x01, 0x05, 0xaa };
    g_assert_cmpint(mig_xbzrle_decode(truncated, 3, page, PAGE), ==, -1);
    const uint8_t ok[] = { 0x00, 0x02, 0xaa, 0xbb };
    g_assert_cmpint(mig_xbzrle_decode(ok, 4, page, PAGE), ==, 2);
    g_assert_cmpint(page[0], ==, 0xaa);
}

static void test_cache(void)
{
    uint8_t p1[PAGE], p2[PAGE];
    memset(p1, 1, PAGE);
    memset(p2, 2, PAGE);
    GError *err = NULL;
    g_assert_null(mig_xbzrle_cache_new(100, &err));
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'cache size' expects is smaller than one target page size");
    g_clear_error(&err);
    g_assert_null(mig_xbzrle_cache_new(3 * PAGE, &err));
    g_clear_error(&err);

    MigXbzrleCache *c = mig_xbzrle_cache_new(4 * PAGE, NULL);
    g_assert_false(mig_xbzrle_cache_lookup(c, 0, 1));
    g_assert_true(mig_xbzrle_cache_insert(c, 0, p1, 1));
    g_assert_true(mig_xbzrle_cache_lookup(c, 0, 1));
    /* address 4 pages on maps to the same slot: refused while the occupant is fresh */
    g_assert_false(mig_xbzrle_cache_insert(c, 4 * PAGE, p2, 2));
    g_assert_true(mig_xbzrle_cache_insert(c, 4 * PAGE, p2, 3));
    g_assert_false(mig_xbzrle_cache_lookup(c, 0, 3));
    g_assert_cmpint(mig_xbzrle_cache_data(c, 4 * PAGE)[0], ==, 2);
    /* growing keeps entries */
    g_assert_true(mig_xbzrle_cache_resize(&c, 16 * PAGE, NULL));
    g_assert_cmpuint(mig_xbzrle_cache_size(c), ==, 16 * PAGE);
    g_assert_true(mig_xbzrle_cache_lookup(c, 4 * PAGE, 4));
    g_assert_false(mig_xbzrle_cache_resize(&c, 5 * PAGE, NULL));
    g_assert_cmpuint(mig_xbzrle_cache_size(c), ==, 16 * PAGE);
    mig_xbzrle_cache_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xbzrle/against-reference", test_against_reference);
    g_test_add_func("/xbzrle/known-vectors", test_known_vectors);
    g_test_add_func("/xbzrle/overflow", test_overflow);
    g_test_add_func("/xbzrle/decode-rejects", test_decode_rejects);
    g_test_add_func("/xbzrle/cache", test_cache);
    return g_test_run();
}
