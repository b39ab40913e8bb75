/* bench_codec: page codecs on one core.
 *   bench_codec xbzrle     XBZRLE encode/decode of sparse deltas vs memcmp of the same pages
 *   bench_codec compress   zlib (per page, as `compress`) and zstd (128-page packets, as
 *                          multifd) ratio and speed per level, per sim content class and for
 *                          the pages of a recorded trace, vs memcpy of the same bytes */
#include "bench_common.h"
#include "guest.h"
#include "mig_xbzrle.h"
#include "sim.h"
#include "sim_content.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define PAGE  4096
#define NPAGE 8192 /* 32 MiB per set */

static volatile uint64_t sink;

static double memcmp_rate(const uint8_t *a, const uint8_t *b, size_t n, int reps)
{
    double t = bench_seconds();
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i += PAGE)
            sink += (uint64_t)memcmp(a + i, b + i, PAGE);
    return (double)n * reps / (bench_seconds() - t);
}

static int bench_xbzrle(void)
{
    SimContent c;
    TraceMix mix = { { 0, 0, 0, 100 } };
    uint8_t *old = aligned_alloc(64, (size_t)NPAGE * PAGE),
            *cur = aligned_alloc(64, (size_t)NPAGE * PAGE);
    uint8_t out[PAGE], page[PAGE];
    sim_content_init(&c, 1, &mix);
    for (uint64_t p = 0; p < NPAGE; p++) {
        sim_content_page(&c, 0, p, 5, TRACE_CLASS_SPARSE, old + p * PAGE);
        sim_content_page(&c, 0, p, 6, TRACE_CLASS_SPARSE, cur + p * PAGE);
    }
    bench_machine("XBZRLE on sparse deltas (consecutive versions of sim 'sparse' pages)");
    const int reps = 8;
    double base = memcmp_rate(old, cur, (size_t)NPAGE * PAGE, reps);
    size_t enc_bytes = 0;
    double t = bench_seconds();
    for (int r = 0; r < reps; r++)
        for (uint64_t p = 0; p < NPAGE; p++) {
            int n = mig_xbzrle_encode(old + p * PAGE, cur + p * PAGE, PAGE, out, PAGE);
            enc_bytes += n > 0 ? (size_t)n : 0;
        }
    double enc = (double)NPAGE * PAGE * reps / (bench_seconds() - t);
    /* decode: apply each page's delta to its old copy */
    uint8_t(*deltas)[64] = malloc((size_t)NPAGE * 64);
    int *lens = malloc(sizeof(int) * NPAGE);
    for (uint64_t p = 0; p < NPAGE; p++) {
        lens[p] = mig_xbzrle_encode(old + p * PAGE, cur + p * PAGE, PAGE, out, PAGE);
        g_assert(lens[p] > 0 && lens[p] <= 64);
        memcpy(deltas[p], out, (size_t)lens[p]);
    }
    t = bench_seconds();
    for (int r = 0; r < reps; r++)
        for (uint64_t p = 0; p < NPAGE; p++) {
            memcpy(page, old + p * PAGE, PAGE);
            mig_xbzrle_decode(deltas[p], lens[p], page, PAGE);
            sink += page[0];
        }
    double dec = (double)NPAGE * PAGE * reps / (bench_seconds() - t);
    printf("%-28s %10s %8s\n", "", "GB/s", "ratio");
    printf("%-28s %10.2f %8.2f\n", "memcmp (baseline)", base / 1e9, 1.0);
    printf("%-28s %10.2f %8.2f\n", "xbzrle encode", enc / 1e9, enc / base);
    printf("%-28s %10.2f %8s\n", "xbzrle decode (incl. copy)", dec / 1e9, "");
    printf("average delta: %.1f bytes per 4 KiB page (%.0f:1)\n", (double)enc_bytes / reps / NPAGE,
           (double)PAGE * NPAGE * reps / (double)enc_bytes);
    printf("goal: >= 2 GB/s encode on one core: %s\n", enc >= 2e9 ? "met" : "NOT met");
    free(old);
    free(cur);
    free(deltas);
    free(lens);
    return 0;
}

/* One set of pages: zlib per page at each level and zstd per 128-page packet. */
static void compress_set(const char *name, const uint8_t *pages, size_t n, double memcpy_rate)
{
    static const int zl[] = { 1, 3, 6, 9 }, zs[] = { 1, 3, 10, 19 };
    uint8_t *out = malloc(compressBound(PAGE) + 128 * PAGE * 2);
    if (!out) {
        fprintf(stderr, "bench_codec: out of memory\n");
        exit(1);
    }

    for (size_t i = 0; i < G_N_ELEMENTS(zl); i++) {
        z_stream z = { 0 };
        if (deflateInit(&z, zl[i]) != Z_OK) {
            fprintf(stderr, "bench_codec: deflateInit level %d failed\n", zl[i]);
            exit(1);
        }
        size_t total = 0, done = 0;
        double t = bench_seconds();
        for (size_t p = 0; p < n && (p & 63 || bench_seconds() - t < 0.5); p++, done++) {
            deflateReset(&z);
            z.next_in = (Bytef *)pages + p * PAGE;
            z.avail_in = PAGE;
            z.next_out = out;
            z.avail_out = compressBound(PAGE);
            if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
                fprintf(stderr, "bench_codec: deflate of page %zu did not finish\n", p);
                exit(1);
            }
            total += z.total_out;
        }
        double rate = (double)done * PAGE / (bench_seconds() - t);
        deflateEnd(&z);
        printf("%-10s zlib %2d  ratio %8.2f  %8.1f MB/s  (x%.3f memcpy)\n", name, zl[i],
               (double)done * PAGE / (double)total, rate / 1e6, rate / memcpy_rate);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(zs); i++) {
        ZSTD_CCtx *z = ZSTD_createCCtx();
        if (!z || ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, zs[i]))) {
            fprintf(stderr, "bench_codec: zstd level %d could not be set up\n", zs[i]);
            exit(1);
        }
        size_t total = 0, done = 0;
        double t = bench_seconds();
        for (size_t p = 0; p < n && bench_seconds() - t < 0.5; p += 128) {
            size_t chunk = MIN(128, n - p) * PAGE;
            ZSTD_inBuffer ib = { pages + p * PAGE, chunk, 0 };
            ZSTD_outBuffer ob = { out, 128 * PAGE * 2, 0 };
            /* ZSTD_e_flush returns what is left to flush, 0 when done, or an error code
             * (a huge size_t: it must end the loop, not spin in it) */
            size_t left;
            do {
                left = ZSTD_compressStream2(z, &ob, &ib, ZSTD_e_flush);
            } while (!ZSTD_isError(left) && (left > 0 || ib.pos < ib.size));
            if (ZSTD_isError(left)) {
                fprintf(stderr, "bench_codec: zstd: %s\n", ZSTD_getErrorName(left));
                exit(1);
            }
            total += ob.pos;
            done += chunk / PAGE;
        }
        double rate = (double)done * PAGE / (bench_seconds() - t);
        ZSTD_freeCCtx(z);
        printf("%-10s zstd %2d  ratio %8.2f  %8.1f MB/s  (x%.3f memcpy)\n", name, zs[i],
               (double)done * PAGE / (double)total, rate / 1e6, rate / memcpy_rate);
    }
    free(out);
}

/* The pages of a guest replaying a recorded trace for its whole length. */
static size_t trace_pages(const char *spec, uint8_t **out)
{
    GError *err = NULL;
    MbGuest *g = sim_guest_new(spec, false, &err);
    if (!g) {
        fprintf(stderr, "bench: %s\n", err->message);
        g_error_free(err);
        return 0;
    }
    size_t n = MIN(mb_guest_ram_size(g) / PAGE, (uint64_t)NPAGE);
    uint8_t scratch[PAGE];
    *out = malloc(n * PAGE);
    size_t k = 0;
    for (unsigned b = 0; b < g->nblocks && k < n; b++)
        for (uint64_t p = 0; p < mb_guest_block_pages(g, b) && k < n; p++)
            memcpy(*out + (k++) * PAGE, g->ops->page_read(g, b, p, scratch), PAGE);
    mb_guest_free(g);
    return k;
}

static int bench_compress(const char *trace)
{
    static const char *names[] = { "zero", "random", "text", "sparse" };
    uint8_t *pages = malloc((size_t)NPAGE * PAGE), *copy = malloc((size_t)NPAGE * PAGE);
    SimContent c;
    TraceMix mix = { { 0, 0, 100, 0 } };

    sim_content_init(&c, 1, &mix);
    bench_machine("Page compression per content class: zlib per page (compress capability), "
                  "zstd per 128-page packet (multifd)");
    memset(pages, 1, (size_t)NPAGE * PAGE); /* touch both buffers before timing */
    memset(copy, 2, (size_t)NPAGE * PAGE);
    double t = bench_seconds();
    for (int r = 0; r < 8; r++)
        memcpy(copy, pages, (size_t)NPAGE * PAGE);
    double memcpy_rate = 8.0 * NPAGE * PAGE / (bench_seconds() - t);
    printf("memcpy baseline: %.2f GB/s\n", memcpy_rate / 1e9);
    for (int cls = TRACE_CLASS_ZERO; cls <= TRACE_CLASS_SPARSE; cls++) {
        for (uint64_t p = 0; p < NPAGE; p++)
            sim_content_page(&c, 0, p, 1, cls, pages + p * PAGE);
        compress_set(names[cls - 1], pages, NPAGE, memcpy_rate);
    }
    uint8_t *tp = NULL;
    size_t n = trace_pages(trace, &tp);
    if (n) {
        printf("(recorded trace: %s, %zu pages)\n", trace, n);
        compress_set("trace", tp, n, memcpy_rate);
    }
    free(tp);
    free(pages);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "xbzrle"))
        return bench_xbzrle();
    if (argc >= 2 && !strcmp(argv[1], "compress"))
        return bench_compress(argc >= 3 ? argv[2] : "traces/xz-compress.trace,warmup=16s");
    fprintf(stderr, "usage: bench_codec xbzrle | compress [TRACE-SPEC]\n");
    return 2;
}
