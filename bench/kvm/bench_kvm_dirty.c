/* bench_kvm_dirty: what each KVM dirty-tracking mode costs, per GiB of guest RAM.
 *
 * For each guest size and mode (get = KVM_GET_DIRTY_LOG alone, get+clear = manual
 * protection with KVM_CLEAR_DIRTY_LOG, ring = per-vCPU dirty rings) a marker guest (every
 * page written every sweep, QEMU's test pattern) is measured for:
 *   start      dirty_log_start (KVM write-protects, or arms, every page)
 *   clean      a sync with nothing dirty (guest paused): the fixed cost of a sync
 *   full       a sync after a whole sweep under logging, guest paused: every page dirty
 *   dirtying   the guest's page-dirtying rate under logging (pages the syncs report),
 *              a sync every 50 ms: the cost the mode puts on the guest (write faults,
 *              ring-full exits); the guest runs without logging much faster
 * Figures are printed with the machine description and as ratios against baselines
 * measured in the same run: a memcpy of the bitmap size, and the `get` mode. */
#include "kvm.h"
#include "mb_bitmap.h"
#include "mb_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#define SEC 1000000000ll
#define GIB (1ull << 30)

typedef struct {
    bool ok;
    double start_ms, clean_ms, full_ms, rate; /* rate in GiB/s */
    uint64_t full_pages;
} Result;

static char *read_line(const char *path, const char *prefix)
{
    gchar *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("?");
    char *res = NULL;
    gchar **lines = g_strsplit(text, "\n", -1);
    for (gchar **l = lines; *l && !res; l++)
        if (!prefix || g_str_has_prefix(*l, prefix)) {
            const char *v = prefix ? strchr(*l, ':') : *l;
            res = g_strstrip(g_strdup(v ? v + (prefix ? 1 : 0) : *l));
        }
    g_strfreev(lines);
    g_free(text);
    return res ? res : g_strdup("?");
}

static void print_machine(void)
{
    struct utsname u;
    uname(&u);
    char *cpu = read_line("/proc/cpuinfo", "model name");
    char *thp = read_line("/sys/kernel/mm/transparent_hugepage/enabled", NULL);
    const char *flavour = g_file_test("/sys/module/kvm_pvm", G_FILE_TEST_EXISTS)     ? "kvm_pvm"
                          : g_file_test("/sys/module/kvm_intel", G_FILE_TEST_EXISTS) ? "kvm_intel"
                          : g_file_test("/sys/module/kvm_amd", G_FILE_TEST_EXISTS)   ? "kvm_amd"
                                                                                     : "?";
    printf("machine: %s %s %s, %s, %u CPUs, KVM module %s, THP %s\n", u.sysname, u.release,
           u.machine, cpu, g_get_num_processors(), flavour, thp);
    g_free(cpu);
    g_free(thp);
}

static uint64_t **bitmaps_new(MbGuest *g)
{
    uint64_t **b = g_new0(uint64_t *, g->nblocks);
    for (unsigned i = 0; i < g->nblocks; i++)
        b[i] = mb_bitmap_new(mb_guest_block_pages(g, i));
    return b;
}

static void bitmaps_zero(MbGuest *g, uint64_t **b)
{
    for (unsigned i = 0; i < g->nblocks; i++)
        mb_bitmap_zero(b[i], mb_guest_block_pages(g, i));
}

static double ms_since(int64_t t0)
{
    return (double)(mb_monotonic_ns() - t0) / 1e6;
}

static bool measure(uint64_t size, const char *mode, unsigned vcpus, Result *r)
{
    char mem[32], spec[128];
    g_snprintf(spec, sizeof(spec), "mem=%lluM,vcpus=%u,workload=marker,dirty=%s",
               (unsigned long long)(size >> 20), vcpus, mode);
    GError *e = NULL;
    MbGuest *g = kvm_guest_new(spec, false, &e);
    if (!g) {
        printf("  %s: %s\n", spec, e->message);
        g_error_free(e);
        return false;
    }
    double gib = (double)size / GIB;
    uint64_t pages = size / MB_TARGET_PAGE_SIZE;
    uint64_t **bm = bitmaps_new(g);
    bool ok = false;
    fprintf(stderr, "  %s %s: first touch...\n", mb_fmt_bytes(mem, sizeof(mem), (double)size),
            mode);
    g->ops->run(g);
    if (!kvm_guest_wait_progress(g, 1, 600 * SEC, &e))
        goto out;

    int64_t t0 = mb_monotonic_ns();
    if (!g->ops->dirty_log_start(g, &e))
        goto out;
    r->start_ms = ms_since(t0);

    /* Dirtying rate under logging, syncing every 50 ms as a migration would: the marker
     * writes each page once per sweep and a sweep outlasts 50 ms, so the pages each sync
     * reports are the pages written. */
    g->ops->dirty_log_sync(g, bm);
    uint64_t written = 0;
    t0 = mb_monotonic_ns();
    while (mb_monotonic_ns() - t0 < 2 * SEC) {
        mb_guest_wait_until(g, mb_guest_now(g) + 50000000);
        bitmaps_zero(g, bm);
        written += g->ops->dirty_log_sync(g, bm);
    }
    r->rate = (double)written * MB_TARGET_PAGE_SIZE / GIB / (ms_since(t0) / 1000);

    /* A sync with every page dirty: a whole sweep per vCPU since the last sync. */
    double full = 0;
    const int reps = 3;
    for (int i = 0; i < reps; i++) {
        g->ops->dirty_log_sync(g, bm);
        if (!kvm_guest_wait_progress(g, 2, 600 * SEC, &e))
            goto out;
        g->ops->pause(g);
        bitmaps_zero(g, bm);
        t0 = mb_monotonic_ns();
        r->full_pages = g->ops->dirty_log_sync(g, bm);
        full += ms_since(t0);
        g->ops->run(g);
    }
    r->full_ms = full / reps / gib;

    /* A sync with nothing dirty. */
    g->ops->pause(g);
    g->ops->dirty_log_sync(g, bm);
    double clean = 0;
    const int creps = 20;
    for (int i = 0; i < creps; i++) {
        t0 = mb_monotonic_ns();
        g->ops->dirty_log_sync(g, bm);
        clean += ms_since(t0);
    }
    r->clean_ms = clean / creps / gib;
    g->ops->dirty_log_stop(g);
    ok = r->full_pages >= pages - 512; /* all but the first MiB and stragglers */
    if (!ok)
        printf("  %s: a full sync reported only %llu of %llu pages\n", spec,
               (unsigned long long)r->full_pages, (unsigned long long)pages);
out:
    if (e) {
        printf("  %s: %s\n", spec, e->message);
        g_error_free(e);
    }
    for (unsigned i = 0; i < g->nblocks; i++)
        g_free(bm[i]);
    g_free(bm);
    mb_guest_free(g);
    r->ok = ok;
    return ok;
}

/* Baseline: copying a dirty bitmap of `size` bytes of RAM, in ms per GiB of RAM. */
static double memcpy_ms_per_gib(uint64_t size)
{
    size_t n = size / MB_TARGET_PAGE_SIZE / 8;
    uint8_t *a = g_malloc0(n), *b = g_malloc0(n);
    memset(a, 0x5a, n);
    int reps = 0;
    int64_t t0 = mb_monotonic_ns();
    do {
        memcpy(b, a, n);
        a[reps % n] ^= b[(reps * 7) % n]; /* keep the copies observable */
        reps++;
    } while (mb_monotonic_ns() - t0 < 20000000);
    double ms = ms_since(t0) / reps;
    g_free(a);
    g_free(b);
    return ms / ((double)size / GIB);
}

int main(int argc, char **argv)
{
    const char *sizes = "1G,4G", *modes = "get,log,ring";
    unsigned vcpus = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--modes") == 0 && i + 1 < argc)
            modes = argv[++i];
        else if (strcmp(argv[i], "--vcpus") == 0 && i + 1 < argc)
            vcpus = (unsigned)atoi(argv[++i]);
        else {
            printf("usage: bench_kvm_dirty [--sizes 1G,4G] [--modes get,log,ring] "
                   "[--vcpus 2]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    GError *e = NULL;
    if (!kvm_available(&e)) {
        printf("SKIP: %s\n", e->message);
        g_error_free(e);
        return 77;
    }
    printf("migbench KVM dirty-tracking benchmark (marker guest, %u vCPUs)\n", vcpus);
    print_machine();
    gchar **sz = g_strsplit(sizes, ",", -1), **md = g_strsplit(modes, ",", -1);
    int status = 0;
    for (gchar **s = sz; *s; s++) {
        uint64_t size;
        if (!mb_parse_size(*s, &size, NULL)) {
            printf("bad size %s\n", *s);
            return 2;
        }
        char h[32];
        double base = memcpy_ms_per_gib(size);
        printf("\n%s guest; baseline memcpy of its dirty bitmap: %.4f ms/GiB\n",
               mb_fmt_bytes(h, sizeof(h), (double)size), base);
        printf("  %-10s %10s %14s %14s %14s %10s %10s %10s\n", "mode", "start ms", "clean ms/GiB",
               "full ms/GiB", "dirty GiB/s", "clean/cpy", "full/get", "rate/get");
        Result ref = { 0 };
        for (gchar **m = md; *m; m++) {
            Result r = { 0 };
            if (!measure(size, *m, vcpus, &r)) {
                status = 1;
                continue;
            }
            if (!ref.ok)
                ref = r;
            printf("  %-10s %10.2f %14.3f %14.2f %14.3f %10.1f %10.2f %10.2f\n",
                   strcmp(*m, "log") == 0 ? "get+clear" : *m, r.start_ms, r.clean_ms, r.full_ms,
                   r.rate, r.clean_ms / base, r.full_ms / ref.full_ms, r.rate / ref.rate);
            fflush(stdout);
        }
    }
    g_strfreev(sz);
    g_strfreev(md);
    return status;
}
