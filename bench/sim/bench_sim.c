/* bench_sim: the simulator's speed, each figure as a ratio against a baseline measured in
 * the same run on the same machine (so a slow or busy machine shows in both):
 *
 *   replay   dirty events per second from a compressed trace file through to the engine's
 *            bitmaps, against a loop that only decodes the same file (goal: >= 20 M/s);
 *   sync     dirty_log_sync of a 1 TiB guest (268 M pages) after 1 M writes and after none,
 *            against a memcpy of the engine's 32 MiB bitmap (goal: < 100 ms);
 *   content  page generation per content class, against memcpy of 4 KiB pages from a
 *            256 MiB buffer (reading real guest memory).
 *
 * Usage: bench_sim [replay|sync|content]... (all by default).  Wall-clock time is measured
 * here, never inside the simulator. */
#include "sim.h"
#include "sim_content.h"
#include "trace.h"

#include "mb_bitmap.h"
#include "mb_util.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void machine(void)
{
    struct utsname u;
    gchar *cpuinfo = NULL, *model = NULL;
    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        char *m = strstr(cpuinfo, "model name");
        if (m && (m = strchr(m, ':')))
            model = g_strndup(m + 2, strcspn(m + 2, "\n"));
    }
    uname(&u);
    printf("machine: %s, %ld CPUs online, Linux %s\n", model ? model : "?",
           sysconf(_SC_NPROCESSORS_ONLN), u.release);
    g_free(model);
    g_free(cpuinfo);
}

static MbGuest *guest(const char *spec)
{
    GError *err = NULL;
    MbGuest *g = sim_guest_new(spec, false, &err);
    if (!g)
        g_error("%s", err->message);
    return g;
}

static uint64_t **bitmaps(MbGuest *g)
{
    uint64_t **b = g_new0(uint64_t *, g->nblocks);
    for (unsigned i = 0; i < g->nblocks; i++)
        b[i] = mb_bitmap_new(mb_guest_block_pages(g, i));
    return b;
}

static void bitmaps_free(MbGuest *g, uint64_t **b)
{
    for (unsigned i = 0; i < g->nblocks; i++)
        g_free(b[i]);
    g_free(b);
}

static void bench_replay(void)
{
    /* 20 M uniform writes over 1 GiB in 10 s of trace time. */
    const char *params[] = { "size", "1G", "rate", "8000M", "duration", "10s", "seed", "5", NULL };
    TraceGenParams p;
    GError *err = NULL;
    trace_gen_params_init(&p, TRACE_GEN_UNIFORM);
    for (int i = 0; params[i]; i += 2)
        trace_gen_params_set(&p, params[i], params[i + 1], NULL);
    char *dir = g_dir_make_tmp("bench_sim_XXXXXX", NULL);
    char *path = g_build_filename(dir, "replay.trace", NULL);
    TraceSource *gen = trace_gen_new(&p, &err);
    TraceWriter *w = trace_writer_new(path, trace_source_header(gen), 0, &err);
    TraceEpoch ep;
    while (trace_source_next(gen, &ep, NULL) > 0)
        trace_writer_add(w, ep.t_ns, ep.ev, ep.n, NULL);
    uint64_t events = trace_writer_events(w);
    if (!trace_writer_finish(w, &err))
        g_error("%s", err->message);
    GStatBuf st;
    g_stat(path, &st);

    /* Baseline: decode only. */
    double best_dec = 0, best_rep = 0, best_gen = 0;
    for (int round = 0; round < 3; round++) {
        TraceSource *s = trace_open_file(path, &err);
        uint64_t n = 0, sum = 0;
        int64_t t0 = mb_monotonic_ns();
        while (trace_source_next(s, &ep, NULL) > 0) {
            for (size_t i = 0; i < ep.n; i++)
                sum += ep.ev[i].page;
            n += ep.n;
        }
        double dec = (double)n / ((double)(mb_monotonic_ns() - t0) / 1e9);
        trace_source_free(s);
        g_assert(n == events && sum);
        best_dec = MAX(best_dec, dec);

        /* The simulator: file -> metadata, dirty log -> engine bitmap. */
        char *spec = g_strdup_printf("file=%s,loop=off", path);
        MbGuest *g = guest(spec);
        uint64_t **bm = bitmaps(g);
        g->ops->dirty_log_start(g, NULL);
        t0 = mb_monotonic_ns();
        mb_guest_wait_until(g, 10000000000LL);
        uint64_t dirty = g->ops->dirty_log_sync(g, bm);
        double rep = (double)events / ((double)(mb_monotonic_ns() - t0) / 1e9);
        best_rep = MAX(best_rep, rep);
        g_assert(dirty > 0);
        bitmaps_free(g, bm);
        mb_guest_free(g);
        g_free(spec);

        /* The same workload generated on the fly. */
        g = guest("uniform,size=1G,rate=8000M,duration=10s,seed=5,loop=off");
        bm = bitmaps(g);
        g->ops->dirty_log_start(g, NULL);
        t0 = mb_monotonic_ns();
        mb_guest_wait_until(g, 10000000000LL);
        g->ops->dirty_log_sync(g, bm);
        best_gen = MAX(best_gen, (double)events / ((double)(mb_monotonic_ns() - t0) / 1e9));
        bitmaps_free(g, bm);
        mb_guest_free(g);
    }
    printf("replay: %" G_GUINT64_FORMAT " writes, 1 GiB guest, file %.1f MiB (%.2f bytes/write)\n",
           events, (double)st.st_size / (1 << 20), (double)st.st_size / (double)events);
    printf("  baseline, decode only:          %7.1f M events/s\n", best_dec / 1e6);
    printf("  sim replay file -> bitmap:      %7.1f M events/s = %.2fx baseline (goal >= 20 M/s)\n",
           best_rep / 1e6, best_rep / best_dec);
    printf("  sim replay generated -> bitmap: %7.1f M events/s = %.2fx baseline\n", best_gen / 1e6,
           best_gen / best_dec);
    trace_source_free(gen);
    g_remove(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

static void bench_sync(void)
{
    MbGuest *g = guest("uniform,size=1T,rate=40G,duration=1s,seed=2");
    uint64_t pages = mb_guest_block_pages(g, 0);
    uint64_t **bm = bitmaps(g);
    uint8_t *scratch = g_malloc(SIM_PAGE_SIZE);
    uint64_t words = MB_BITS_TO_WORDS(pages);

    /* Baseline: copy the engine's bitmap once (what any full-bitmap pass costs at least). */
    uint64_t *copy = g_new(uint64_t, words);
    memset(bm[0], 0x5a, words * 8);
    int64_t t0 = mb_monotonic_ns();
    memcpy(copy, bm[0], words * 8);
    double base_ms = (double)(mb_monotonic_ns() - t0) / 1e6;
    t0 = mb_monotonic_ns();
    memcpy(bm[0], copy, words * 8);
    base_ms = MIN(base_ms, (double)(mb_monotonic_ns() - t0) / 1e6);
    memset(bm[0], 0, words * 8);
    g_free(copy);

    g->ops->dirty_log_start(g, NULL);
    mb_guest_wait_until(g, 100000000);   /* 1,048,576 writes */
    g->ops->page_read(g, 0, 0, scratch); /* applies them: only the sync is timed below */
    t0 = mb_monotonic_ns();
    uint64_t n = g->ops->dirty_log_sync(g, bm);
    double busy_ms = (double)(mb_monotonic_ns() - t0) / 1e6;
    t0 = mb_monotonic_ns();
    uint64_t n0 = g->ops->dirty_log_sync(g, bm);
    double idle_ms = (double)(mb_monotonic_ns() - t0) / 1e6;
    g_assert(n > 1000000 && n0 == 0);

    printf("sync: 1 TiB guest, %" G_GUINT64_FORMAT " pages, engine bitmap %.0f MiB\n", pages,
           (double)words * 8 / (1 << 20));
    printf("  baseline, memcpy of the bitmap: %7.2f ms\n", base_ms);
    printf("  sync after %" G_GUINT64_FORMAT " dirty pages:  %7.2f ms = %.2fx baseline (goal < 100 "
           "ms)\n",
           n, busy_ms, busy_ms / base_ms);
    printf("  sync with nothing dirty:        %7.2f ms = %.3fx baseline\n", idle_ms,
           idle_ms / base_ms);
    bitmaps_free(g, bm);
    mb_guest_free(g);

    /* Worst case: every one of the 268 M pages written (a sequential sweep of 1 TiB). */
    g = guest("seq,size=1T,from=0,to=1T,rate=1T,duration=1s,loop=off");
    bm = bitmaps(g);
    g->ops->dirty_log_start(g, NULL);
    mb_guest_wait_until(g, 1000000000);
    int64_t r0 = mb_monotonic_ns();
    g->ops->page_read(g, 0, 0, scratch); /* replays the 268 M writes (not timed below) */
    double replay_s = (double)(mb_monotonic_ns() - r0) / 1e9;
    t0 = mb_monotonic_ns();
    n = g->ops->dirty_log_sync(g, bm);
    double full_ms = (double)(mb_monotonic_ns() - t0) / 1e6;
    g_assert(n == pages);
    printf("  sync with all %" G_GUINT64_FORMAT " pages dirty: %7.2f ms = %.2fx baseline "
           "(replaying them took %.1f s, %.1f M events/s)\n",
           n, full_ms, full_ms / base_ms, replay_s, (double)pages / replay_s / 1e6);
    g_free(scratch);
    bitmaps_free(g, bm);
    mb_guest_free(g);
}

static void bench_content(void)
{
    const size_t src_bytes = 256u << 20, pages = 262144; /* 1 GiB of pages */
    uint8_t *src = g_malloc(src_bytes), *dst = g_malloc(SIM_PAGE_SIZE);
    memset(src, 1, src_bytes);

    double best_copy = 0;
    for (int round = 0; round < 3; round++) {
        int64_t t0 = mb_monotonic_ns();
        for (size_t i = 0; i < pages; i++) {
            memcpy(dst, src + (i * SIM_PAGE_SIZE) % src_bytes, SIM_PAGE_SIZE);
            __asm__ volatile("" : : "r"(dst) : "memory");
        }
        best_copy = MAX(best_copy,
                        (double)pages * SIM_PAGE_SIZE / ((double)(mb_monotonic_ns() - t0) / 1e9));
    }
    printf("content: 1 GiB of pages per class\n");
    printf("  baseline, memcpy 4 KiB from a 256 MiB buffer: %6.2f GiB/s\n", best_copy / (1 << 30));

    SimContent *c = g_new(SimContent, 1);
    TraceMix init = { { 25, 25, 25, 25 } };
    sim_content_init(c, 1, &init);
    for (int cls = 1; cls <= TRACE_NCLASSES; cls++) {
        double best = 0;
        for (int round = 0; round < 3; round++) {
            int64_t t0 = mb_monotonic_ns();
            for (size_t i = 0; i < pages; i++) {
                sim_content_page(c, 0, i, 3, cls, dst);
                __asm__ volatile("" : : "r"(dst) : "memory");
            }
            best =
                MAX(best, (double)pages * SIM_PAGE_SIZE / ((double)(mb_monotonic_ns() - t0) / 1e9));
        }
        printf("  %-7s %6.2f GiB/s = %.2fx memcpy, 1 GiB guest in %.0f ms\n", trace_class_name(cls),
               best / (1 << 30), best / best_copy, (double)pages * SIM_PAGE_SIZE / best * 1e3);
    }
    g_free(c);
    g_free(src);
    g_free(dst);
}

int main(int argc, char **argv)
{
    bool all = argc < 2;
    machine();
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "replay") && strcmp(argv[i], "sync") && strcmp(argv[i], "content")) {
            fprintf(stderr, "usage: bench_sim [replay|sync|content]...\n");
            return 2;
        }
    for (int i = all ? 0 : 1; i < (all ? 1 : argc); i++) {
        const char *what = all ? NULL : argv[i];
        if (!what || !strcmp(what, "replay"))
            bench_replay();
        if (!what || !strcmp(what, "sync"))
            bench_sync();
        if (!what || !strcmp(what, "content"))
            bench_content();
    }
    return 0;
}
