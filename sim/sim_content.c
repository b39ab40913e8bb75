/* sim_content: page bytes from (seed, block, page, version, class); see sim_content.h.
 *
 * Speed matters: the source generates every page it sends and the destination checks every
 * page it received, so this is CPU both ends of a sim migration pay per byte.  Random bytes
 * come from a counter-mode 64-bit mixer (independent words, so the CPU overlaps them and
 * AVX-512 computes eight at once: ~0.03 s per GiB), text pages are sixteen 256-byte slices
 * of a 64 KiB corpus built once per seed, zero pages are a memset.  Checks compare while
 * generating (sim_content_page_equals) instead of building the expected page. */
#include "sim_content.h"

#include "mb_util.h"

#include <string.h>

#define VOCAB 64
#define SLICE 256

/* Independent per-purpose hash streams. */
#define K_INIT   0x1a2b3c4d5e6f7081ULL
#define K_RANDOM 0x72616e646f6d2121ULL
#define K_TEXT   0x7465787474657874ULL
#define K_SPARSE 0x7370617273657321ULL

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

/* The random words of a page.  A pure function of key: the clones below compute the same
 * words, the x86-64-v4 one eight at a time (AVX-512 has the 64-bit multiply the mixer
 * needs; AVX2 does not, so it gains nothing there), which makes generating a page about
 * four times cheaper on hosts that have it.  The bytes are little-endian on every host. */
/* Not under ThreadSanitizer: the clones' ifunc resolver runs before the TSan runtime is up
 * and crashes the program at load. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) &&       \
    !defined(__SANITIZE_THREAD__)
#define SIM_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define SIM_CLONES
#endif

SIM_CLONES static void fill_random(uint64_t key, uint8_t *out)
{
    for (unsigned i = 0; i < SIM_PAGE_SIZE / 8; i++) {
        uint64_t w = GUINT64_TO_LE(mix64(key + i * 0x9e3779b97f4a7c15ULL));
        memcpy(out + 8 * i, &w, 8);
    }
}

/* True when mem holds exactly the words fill_random(key) would write: the same words,
 * compared as they are made (no page written, no second pass over it).  Every word is
 * compared, so a single wrong byte anywhere fails. */
SIM_CLONES static bool equals_random(uint64_t key, const uint8_t *mem)
{
    uint64_t diff = 0;
    for (unsigned i = 0; i < SIM_PAGE_SIZE / 8; i++) {
        uint64_t w;
        memcpy(&w, mem + 8 * i, 8);
        diff |= w ^ GUINT64_TO_LE(mix64(key + i * 0x9e3779b97f4a7c15ULL));
    }
    return diff == 0;
}

void sim_content_init(SimContent *c, uint64_t seed, const TraceMix *init)
{
    memset(c->disk_used, SIM_CONTENT_NOT_DISK, sizeof(c->disk_used));
    static const char letters[] = "etaoinshrdlcumwfgypbvkjxqz";
    char words[VOCAB][12];
    unsigned wl[VOCAB];
    MbRand r;

    c->seed = seed;
    c->init = *init;
    mb_rand_seed(&r, seed ^ K_TEXT);
    for (unsigned i = 0; i < VOCAB; i++) {
        wl[i] = 2 + (unsigned)mb_rand_below(&r, 4) + (unsigned)mb_rand_below(&r, 5);
        for (unsigned k = 0; k < wl[i]; k++) {
            uint64_t x = mb_rand_below(&r, 26 * 26); /* favours the common letters */
            words[i][k] = letters[x * x / (26 * 26 * 26)];
        }
    }
    size_t pos = 0;
    unsigned nw = 0;
    while (pos < SIM_TEXT_CORPUS) {
        /* Word popularity ~ u^3: a few words are very common, as in prose. */
        uint64_t u = mb_rand_next(&r) >> 48;
        unsigned w = (unsigned)((VOCAB * u * u * u) >> 48);
        bool cap = nw % 11 == 0;
        for (unsigned k = 0; k < wl[w] && pos < SIM_TEXT_CORPUS; k++)
            c->text[pos++] = (uint8_t)(cap && k == 0 ? words[w][k] - 32 : words[w][k]);
        nw++;
        if (pos < SIM_TEXT_CORPUS && nw % 11 == 10)
            c->text[pos++] = '.';
        if (pos < SIM_TEXT_CORPUS)
            c->text[pos++] = nw % 13 == 0 ? '\n' : ' ';
    }
}

void sim_content_set_disk(SimContent *c, unsigned block, unsigned used_pct)
{
    if (block < TRACE_MAX_BLOCKS)
        c->disk_used[block] = (uint8_t)MIN(used_pct, 100u);
}

int sim_content_initial_class(const SimContent *c, unsigned block, uint64_t page)
{
    if (block < TRACE_MAX_BLOCKS && c->disk_used[block] != SIM_CONTENT_NOT_DISK) {
        uint64_t chunk = page / SIM_DISK_CHUNK_PAGES;
        uint64_t h = mb_hash3(c->seed ^ K_INIT, 0xd15c0000u + block, chunk);
        if ((((h >> 32) * 100) >> 32) >= c->disk_used[block])
            return TRACE_CLASS_ZERO;
    }
    return trace_mix_pick(&c->init, mb_hash3(c->seed ^ K_INIT, block, page));
}

static uint64_t page_key(const SimContent *c, unsigned block, uint64_t page)
{
    return mb_hash3(c->seed, (uint64_t)block << 48 ^ page, 0x706167655f6b6579ULL);
}

/* Where in the corpus slice i of a text page starts; h carries the hash between slices. */
static const uint8_t *text_slice(const SimContent *c, uint64_t *h, unsigned i)
{
    if (i % 4 == 0)
        *h = mix64(*h + i);
    unsigned off =
        (unsigned)((((*h >> (16 * (i % 4))) & 0xffff) * (SIM_TEXT_CORPUS - SLICE)) >> 16);
    return c->text + off;
}

void sim_content_page(const SimContent *c, unsigned block, uint64_t page, uint32_t version, int cls,
                      uint8_t *out)
{
    if (cls == 0)
        cls = sim_content_initial_class(c, block, page);
    uint64_t pk = page_key(c, block, page);
    switch (cls) {
    case TRACE_CLASS_ZERO: memset(out, 0, SIM_PAGE_SIZE); break;
    case TRACE_CLASS_RANDOM: fill_random(mb_hash3(pk, version, K_RANDOM), out); break;
    case TRACE_CLASS_TEXT: {
        uint64_t h = mb_hash3(pk, version, K_TEXT);
        for (unsigned i = 0; i < SIM_PAGE_SIZE / SLICE; i++)
            memcpy(out + i * SLICE, text_slice(c, &h, i), SLICE);
        break;
    }
    case TRACE_CLASS_SPARSE:
    default: {
        /* Base fixed per page; an 8-byte version counter; four bytes placed by the version. */
        fill_random(pk ^ K_SPARSE, out);
        unsigned at = (unsigned)(pk % (SIM_PAGE_SIZE / 8)) * 8;
        uint64_t v = version;
        for (unsigned i = 0; i < 8; i++)
            out[at + i] = (uint8_t)(v >> (8 * i));
        uint64_t h = mb_hash3(pk, version, K_SPARSE);
        for (unsigned i = 0; i < 4; i++) {
            unsigned pos = (unsigned)((h >> (16 * i)) & (SIM_PAGE_SIZE - 1));
            out[pos] = (uint8_t)(h >> (8 * i + 3));
        }
        break;
    }
    }
}

bool sim_content_page_equals(const SimContent *c, unsigned block, uint64_t page, uint32_t version,
                             int cls, const uint8_t *mem, uint8_t *scratch)
{
    if (cls == 0)
        cls = sim_content_initial_class(c, block, page);
    uint64_t pk = page_key(c, block, page);
    switch (cls) {
    case TRACE_CLASS_ZERO: return mb_buffer_is_zero(mem, SIM_PAGE_SIZE);
    case TRACE_CLASS_RANDOM: return equals_random(mb_hash3(pk, version, K_RANDOM), mem);
    case TRACE_CLASS_TEXT: {
        uint64_t h = mb_hash3(pk, version, K_TEXT);
        for (unsigned i = 0; i < SIM_PAGE_SIZE / SLICE; i++)
            if (memcmp(mem + i * SLICE, text_slice(c, &h, i), SLICE) != 0)
                return false;
        return true;
    }
    default:
        /* Sparse pages are rare in a migration's bulk: build and compare. */
        sim_content_page(c, block, page, version, cls, scratch);
        return memcmp(mem, scratch, SIM_PAGE_SIZE) == 0;
    }
}
