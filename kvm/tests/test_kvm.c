/* Unit tests for kvm/: a real KVM guest (skipped, with the reason, without /dev/kvm).
 *
 * Guests are small (32-64 MiB) so the whole file runs in a few seconds.  No sleeps stand
 * in for synchronisation: waits are on the guest's progress reports, with deadlines. */
#include "kvm.h"
#include "mb_bitmap.h"
#include "mb_error.h"
#include "trace.h"

#include <glib/gstdio.h>

#include <string.h>

#define SEC 1000000000ll

static bool need_kvm(void)
{
    GError *e = NULL;
    if (kvm_available(&e))
        return true;
    g_test_skip(e->message);
    g_error_free(e);
    return false;
}

static MbGuest *make(const char *spec, bool incoming)
{
    GError *e = NULL;
    MbGuest *g = kvm_guest_new(spec, incoming, &e);
    g_assert_no_error(e);
    g_assert_nonnull(g);
    return g;
}

static void wait_progress(MbGuest *g, uint64_t n)
{
    GError *e = NULL;
    g_assert_true(kvm_guest_wait_progress(g, n, 20 * SEC, &e));
    g_assert_no_error(e);
}

/* Per-block bitmaps as the engine keeps them. */
static uint64_t **bitmaps_new(MbGuest *g, bool fill)
{
    uint64_t **b = g_new0(uint64_t *, g->nblocks);
    for (unsigned i = 0; i < g->nblocks; i++) {
        b[i] = mb_bitmap_new(mb_guest_block_pages(g, i));
        if (fill)
            mb_bitmap_fill(b[i], mb_guest_block_pages(g, i));
    }
    return b;
}

static void bitmaps_free(MbGuest *g, uint64_t **b)
{
    for (unsigned i = 0; i < g->nblocks; i++)
        g_free(b[i]);
    g_free(b);
}

static void test_spec_errors(void)
{
    static const struct {
        const char *spec, *needle;
    } bad[] = {
        { "mem=lots", "bad mem" },
        { "vcpus=0", "vcpus must be" },
        { "workload=tetris", "unknown workload 'tetris'" },
        { "colour=blue", "unknown option 'colour'" },
        { "mem=3M", "multiple of 2 MiB" },
        { "mem=1T", "limited to 128 GiB" },
        { "mem=64M,slots=3", "3 slots" },
        { "dirty=psychic", "unknown dirty mode" },
        { "ring=1000", "power of two" },
        { "workload=fault", "needs fault=" },
        { "fault=ud", "only valid with workload=fault" },
        { "mem", "key=value" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *e = NULL;
        g_assert_null(kvm_guest_new(bad[i].spec, false, &e));
        g_assert_nonnull(e);
        if (!strstr(e->message, bad[i].needle))
            g_error("spec '%s': '%s' lacks '%s'", bad[i].spec, e->message, bad[i].needle);
        g_error_free(e);
    }
    /* More RAM than the host has fails at once, before /dev/kvm is even opened. */
    uint64_t avail = mb_host_mem_available();
    if (avail && avail < (120ULL << 30)) {
        GError *e = NULL;
        g_assert_null(kvm_guest_new("mem=120G", true, &e));
        g_assert_nonnull(e);
        g_assert_nonnull(strstr(e->message, "guest RAM 120.00 GiB does not fit"));
        g_error_free(e);
    }
}

static void test_boot(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("kvm:mem=64M,vcpus=2,workload=marker", false);
    g_assert_true(kvm_guest_is_kvm(g));
    g_assert_cmpstr(g->kind, ==, "kvm");
    g_assert_false(g->virtual_time);
    g_assert_cmpuint(g->nblocks, ==, 1);
    g_assert_cmpstr(g->blocks[0].name, ==, "pc.ram");
    g_assert_cmpuint(mb_guest_ram_size(g), ==, 64 << 20);
    g_assert_false(g->ops->is_running(g));
    g_assert_nonnull(strstr(g->ops->describe(g), "kvm marker"));
    g->ops->run(g);
    g_assert_true(g->ops->is_running(g));
    wait_progress(g, 3);
    g_assert_cmpuint(kvm_guest_progress(g), >=, 6); /* 3 sweeps on each of 2 vCPUs */
    g_assert_null(kvm_guest_error(g));
    int64_t t = mb_guest_now(g);
    mb_guest_wait_until(g, t + 1000000);
    g_assert_cmpint(mb_guest_now(g), >=, t + 1000000);
    g->ops->pause(g);
    g_assert_false(g->ops->is_running(g));
    mb_guest_free(g);
}

static void test_slots(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("mem=64M,slots=4,vcpus=1,workload=random", false);
    g_assert_cmpuint(g->nblocks, ==, 4);
    const char *names[] = { "pc.ram", "pc.ram1", "pc.ram2", "pc.ram3" };
    for (unsigned i = 0; i < 4; i++) {
        g_assert_cmpstr(g->blocks[i].name, ==, names[i]);
        g_assert_cmpuint(g->blocks[i].size, ==, 16 << 20);
        g_assert_cmpuint(g->blocks[i].gpa, ==, (uint64_t)i * (16 << 20));
    }
    mb_guest_free(g);
}

/* Runs a guest with logging on and checks that every page whose contents changed between
 * two paused snapshots is in the log, and that a paused guest logs nothing. */
static void dirty_case(const char *spec, const char *mode)
{
    MbGuest *g = make(spec, false);
    g_assert_cmpstr(kvm_guest_dirty_mode(g), ==, mode);
    GError *e = NULL;
    uint64_t **bm = bitmaps_new(g, false);
    g->ops->run(g);
    wait_progress(g, 1);
    g_assert_true(g->ops->dirty_log_start(g, &e));
    g_assert_no_error(e);
    /* Two more reports from every vCPU: at least one whole sweep ran with logging on. */
    wait_progress(g, 2);
    g->ops->pause(g);
    uint64_t n = g->ops->dirty_log_sync(g, bm);
    uint64_t work = mb_guest_block_pages(g, 0) - 256; /* all but the first MiB */
    g_assert_cmpuint(n, >=, work);
    for (uint64_t p = 256; p < mb_guest_block_pages(g, 0); p++)
        g_assert_true(mb_bit_test(bm[0], p));
    /* Paused: nothing new. */
    mb_bitmap_zero(bm[0], mb_guest_block_pages(g, 0));
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0);
    /* Snapshot, run a little, pause: every changed page must be logged. */
    uint64_t size = g->blocks[0].size;
    uint8_t *before = g_malloc(size);
    memcpy(before, g->ops->page_read(g, 0, 0, NULL), size);
    g->ops->run(g);
    wait_progress(g, 2);
    g->ops->pause(g);
    g->ops->dirty_log_sync(g, bm);
    const uint8_t *now = g->ops->page_read(g, 0, 0, NULL);
    uint64_t changed = 0;
    for (uint64_t p = 0; p < size / MB_TARGET_PAGE_SIZE; p++) {
        if (memcmp(before + p * 4096, now + p * 4096, 4096) == 0)
            continue;
        changed++;
        if (!mb_bit_test(bm[0], p))
            g_error("%s: page %llu changed but was not logged", mode, (unsigned long long)p);
    }
    g_assert_cmpuint(changed, >, 0);
    g->ops->dirty_log_stop(g);
    g_free(before);
    bitmaps_free(g, bm);
    mb_guest_free(g);
}

static void test_dirty_get(void)
{
    if (need_kvm())
        dirty_case("mem=32M,vcpus=2,dirty=get", "get");
}

static void test_dirty_clear(void)
{
    if (need_kvm())
        dirty_case("mem=32M,vcpus=2,dirty=log", "get+clear");
}

static void test_dirty_auto(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("mem=32M", false);
    const char *m = kvm_guest_dirty_mode(g);
    /* Never the ring by default (its open problem, docs/kvm.md). */
    g_assert_true(strcmp(m, "get+clear") == 0 || strcmp(m, "get") == 0);
    mb_guest_free(g);
}

static void test_dirty_ring(void)
{
    if (need_kvm())
        /* A small ring, so ring-full exits (harvested by the vCPU threads) happen too. */
        dirty_case("mem=32M,vcpus=2,dirty=ring,ring=1024", "ring");
}

static void test_pause_stops_memory(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("mem=32M,vcpus=2,workload=random,report=8", false);
    g->ops->run(g);
    wait_progress(g, 4);
    g->ops->pause(g);
    uint64_t size = g->blocks[0].size, p0 = kvm_guest_progress(g);
    uint8_t *snap = g_malloc(size);
    memcpy(snap, g->ops->page_read(g, 0, 0, NULL), size);
    /* A bounded wait for progress that must not come (the vCPUs are parked). */
    GError *e = NULL;
    g_assert_false(kvm_guest_wait_progress(g, 1, SEC / 5, &e));
    g_assert_nonnull(strstr(e->message, "paused"));
    g_clear_error(&e);
    g_assert_true(memcmp(snap, g->ops->page_read(g, 0, 0, NULL), size) == 0);
    g_assert_cmpuint(kvm_guest_progress(g), ==, p0);
    /* And it resumes. */
    g->ops->run(g);
    wait_progress(g, 2);
    g_assert_cmpuint(kvm_guest_progress(g), >, p0);
    g_free(snap);
    mb_guest_free(g);
}

static uint64_t copy_dirty(MbGuest *src, MbGuest *dst, uint64_t **bm, uint64_t skip_gpa)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < src->nblocks; b++) {
        uint64_t np = mb_guest_block_pages(src, b);
        for (uint64_t p = mb_bitmap_next_set(bm[b], np, 0); p < np;
             p = mb_bitmap_next_set(bm[b], np, p + 1)) {
            mb_bit_clear(bm[b], p);
            if (src->blocks[b].gpa + p * MB_TARGET_PAGE_SIZE == skip_gpa)
                continue;
            memcpy(dst->ops->page_host(dst, b, p), src->ops->page_read(src, b, p, NULL),
                   MB_TARGET_PAGE_SIZE);
            n++;
        }
    }
    return n;
}

/* First dirty page (by gpa) above the first MiB whose contents differ between src and dst. */
static uint64_t first_stale(MbGuest *src, MbGuest *dst, uint64_t **bm)
{
    for (unsigned b = 0; b < src->nblocks; b++) {
        uint64_t np = mb_guest_block_pages(src, b);
        for (uint64_t p = mb_bitmap_next_set(bm[b], np, 0); p < np;
             p = mb_bitmap_next_set(bm[b], np, p + 1)) {
            uint64_t gpa = src->blocks[b].gpa + p * MB_TARGET_PAGE_SIZE;
            if (gpa >= (1 << 20) && memcmp(dst->ops->page_host(dst, b, p),
                                           src->ops->page_read(src, b, p, NULL), 4096) != 0)
                return gpa;
        }
    }
    return 0;
}

typedef enum { MIG_OK, MIG_CORRUPT, MIG_LOSE_PAGE } MigCase;

/* An in-process precopy migration between two KVM guests, as the engine does it. */
static void migrate_case(const char *src_spec, const char *dst_spec, MigCase how)
{
    MbGuest *src = make(src_spec, false), *dst = make(dst_spec, true);
    GError *e = NULL;
    g_assert_null(src->ops->page_host(src, 0, 0));
    g_assert_nonnull(dst->ops->page_host(dst, 0, 0));
    dst->ops->run(dst); /* no state yet: must stay paused */
    g_assert_false(dst->ops->is_running(dst));
    g_assert_false(dst->ops->verify(dst, &e));
    g_assert_nonnull(strstr(e->message, "load_state first"));
    g_clear_error(&e);

    src->ops->run(src);
    wait_progress(src, 2);
    uint64_t **bm = bitmaps_new(src, true); /* bulk stage: everything */
    g_assert_true(src->ops->dirty_log_start(src, &e));
    for (int pass = 0; pass < 3; pass++) {
        copy_dirty(src, dst, bm, 0);
        src->ops->dirty_log_sync(src, bm);
    }
    /* Two more reports from every vCPU: pages were written after their last copy, so the
     * final pass is never empty (one report could come with no new write). */
    wait_progress(src, 2);
    src->ops->pause(src);
    src->ops->dirty_log_sync(src, bm);
    uint64_t lost = how == MIG_LOSE_PAGE ? first_stale(src, dst, bm) : 0;
    if (how == MIG_LOSE_PAGE)
        g_assert_cmpuint(lost, !=, 0);
    copy_dirty(src, dst, bm, lost);
    src->ops->dirty_log_stop(src);
    g_assert_true(src->ops->verify(src, &e)); /* the paused source is consistent too */
    g_assert_no_error(e);
    GBytes *st = src->ops->save_state(src);
    g_assert_nonnull(st);
    gsize len;
    const uint8_t *d = g_bytes_get_data(st, &len);
    g_assert_true(dst->ops->load_state(dst, d, len, &e));
    g_assert_no_error(e);
    g_assert_cmpstr(strstr(dst->ops->describe(dst), "incoming"), ==, NULL);

    if (how == MIG_CORRUPT) {
        /* One byte in the middle of a page in the second half of RAM. */
        unsigned b = dst->nblocks - 1;
        uint64_t p = mb_guest_block_pages(dst, b) - 100;
        dst->ops->page_host(dst, b, p)[2048] ^= 0x5a;
        g_assert_false(dst->ops->verify(dst, &e));
        char *want =
            g_strdup_printf("block '%s' page 0x%llx", dst->blocks[b].name, (unsigned long long)p);
        if (!strstr(e->message, want) || !strstr(e->message, "1 bad page"))
            g_error("verify: '%s' lacks '%s'", e->message, want);
        g_free(want);
        g_clear_error(&e);
    } else if (how == MIG_LOSE_PAGE) {
        g_assert_false(dst->ops->verify(dst, &e));
        char *want = g_strdup_printf("guest-physical 0x%llx", (unsigned long long)lost);
        if (!strstr(e->message, want))
            g_error("verify: '%s' lacks '%s'", e->message, want);
        g_free(want);
        g_clear_error(&e);
    } else if (how == MIG_OK) {
        g_assert_true(dst->ops->verify(dst, &e));
        g_assert_no_error(e);
        /* The destination keeps running from where the source stopped. */
        uint64_t p0 = kvm_guest_progress(dst); /* exact (from registers) >= last reported */
        g_assert_cmpuint(p0, >=, kvm_guest_progress(src));
        dst->ops->run(dst);
        wait_progress(dst, 2);
        dst->ops->pause(dst);
        g_assert_cmpuint(kvm_guest_progress(dst), >, p0);
        g_assert_true(dst->ops->verify(dst, &e));
        g_assert_no_error(e);
        /* The source, unharmed, can run on (a failed migration leaves it running). */
        src->ops->run(src);
        wait_progress(src, 2);
        g_assert_null(kvm_guest_error(src));
    }
    g_bytes_unref(st);
    bitmaps_free(src, bm);
    mb_guest_free(src);
    mb_guest_free(dst);
}

static void test_migrate_marker(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=2,workload=marker", "mem=32M,vcpus=2", MIG_OK);
}

static void test_migrate_random(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=2,slots=2,workload=random,seed=7,report=10",
                     "mem=32M,vcpus=2,slots=2,workload=random", MIG_OK);
}

static void test_migrate_hotspot_ring(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=2,workload=hotspot,hot=5,dirty=ring",
                     "mem=32M,vcpus=2,dirty=ring", MIG_OK);
}

static void test_verify_corrupt_marker(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=2,workload=marker", "mem=32M,vcpus=2", MIG_CORRUPT);
}

static void test_verify_corrupt_random(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=1,slots=2,workload=random", "mem=32M,vcpus=1,slots=2",
                     MIG_CORRUPT);
}

static void test_verify_lost_page(void)
{
    if (need_kvm())
        migrate_case("mem=32M,vcpus=1,workload=random,report=8", "mem=32M,vcpus=1", MIG_LOSE_PAGE);
}

static void test_state_mismatch(void)
{
    if (!need_kvm())
        return;
    MbGuest *src = make("mem=32M,vcpus=2,workload=random", false);
    GBytes *st = src->ops->save_state(src);
    gsize len;
    const uint8_t *d = g_bytes_get_data(st, &len);
    static const struct {
        const char *spec, *needle;
    } bad[] = {
        { "mem=32M,vcpus=1", "vCPU count mismatch: the source has 2, this guest 1" },
        { "mem=64M,vcpus=2", "RAM layout mismatch" },
        { "mem=32M,vcpus=2,slots=2", "RAM layout mismatch" },
        { "mem=32M,vcpus=2,workload=marker", "workload mismatch" },
    };
    GError *e = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        MbGuest *dst = make(bad[i].spec, true);
        g_assert_false(dst->ops->load_state(dst, d, len, &e));
        if (!strstr(e->message, bad[i].needle))
            g_error("'%s': '%s' lacks '%s'", bad[i].spec, e->message, bad[i].needle);
        g_clear_error(&e);
        mb_guest_free(dst);
    }
    /* Garbage and truncation. */
    MbGuest *dst = make("mem=32M,vcpus=2", true);
    g_assert_false(dst->ops->load_state(dst, (const uint8_t *)"hello", 5, &e));
    g_assert_nonnull(strstr(e->message, "bad magic"));
    g_clear_error(&e);
    for (gsize cut = 16; cut < len; cut += len / 7) {
        g_assert_false(dst->ops->load_state(dst, d, cut, &e));
        g_assert_nonnull(e);
        g_clear_error(&e);
    }
    g_assert_false(dst->ops->is_running(dst));
    g_assert_true(dst->ops->load_state(dst, d, len, &e)); /* the whole blob still loads */
    g_assert_no_error(e);
    mb_guest_free(dst);
    g_bytes_unref(st);
    mb_guest_free(src);
}

static void test_bad_guest(void)
{
    if (!need_kvm())
        return;
    static const struct {
        const char *fault, *needle;
    } cases[] = {
        { "ud", "guest program fault #UD (vector 6" },
        { "pf", "#PF (vector 14, error code 0x2) at rip 0x" },
        { "mmio", "unexpected MMIO write of 4 bytes at guest-physical 0x2000000" },
        { "shutdown", "triple-faulted" },
        { "hlt", "halted unexpectedly" },
        { "port", "unexpected I/O write of 4 bytes on port 0x666" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *spec = g_strdup_printf("mem=32M,vcpus=2,workload=fault,fault=%s", cases[i].fault);
        MbGuest *g = make(spec, false);
        GError *e = NULL;
        g->ops->run(g);
        g_assert_false(kvm_guest_wait_progress(g, 1000000, 20 * SEC, &e));
        if (!strstr(e->message, cases[i].needle))
            g_error("fault=%s: '%s' lacks '%s'", cases[i].fault, e->message, cases[i].needle);
        g_assert_cmpstr(kvm_guest_error(g), ==, e->message);
        g_clear_error(&e);
        g_assert_false(g->ops->is_running(g));
        g->ops->run(g); /* a failed guest stays stopped */
        g_assert_false(g->ops->is_running(g));
        json_object *o = g->ops->info(g), *er;
        g_assert_true(json_object_object_get_ex(o, "error", &er));
        json_object_put(o);
        g_free(spec);
        mb_guest_free(g);
    }
    /* A guest that spins without exits: no progress, a bounded wait, and pause works. */
    MbGuest *g = make("mem=32M,workload=fault,fault=spin", false);
    GError *e = NULL;
    g->ops->run(g);
    g_assert_false(kvm_guest_wait_progress(g, 1, SEC / 5, &e));
    g_assert_nonnull(strstr(e->message, "did not report progress"));
    g_clear_error(&e);
    g->ops->pause(g);
    g_assert_false(g->ops->is_running(g));
    g_assert_null(kvm_guest_error(g));
    mb_guest_free(g);
}

static void test_idle(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("mem=32M,vcpus=2,workload=idle", false);
    g->ops->run(g);
    GError *e = NULL;
    g_assert_false(kvm_guest_wait_progress(g, 1, SEC / 10, &e));
    g_clear_error(&e);
    g_assert_null(kvm_guest_error(g));
    g->ops->pause(g);
    g_assert_true(g->ops->verify(g, &e));
    g_assert_no_error(e);
    mb_guest_free(g);
}

static void test_throttle(void)
{
    if (!need_kvm())
        return;
    MbGuest *g = make("mem=32M,vcpus=2", false);
    g_assert_cmpint(kvm_guest_throttle(g), ==, 0);
    g->ops->set_throttle(g, 50);
    g_assert_cmpint(kvm_guest_throttle(g), ==, 50);
    g->ops->run(g);
    wait_progress(g, 3); /* throttled, it still runs */
    g->ops->set_throttle(g, 150);
    g_assert_cmpint(kvm_guest_throttle(g), ==, 99);
    json_object *o = g->ops->info(g), *t;
    g_assert_true(json_object_object_get_ex(o, "throttle-percentage", &t));
    g_assert_cmpint(json_object_get_int(t), ==, 99);
    json_object_put(o);
    g->ops->set_throttle(g, 0);
    g_assert_cmpint(kvm_guest_throttle(g), ==, 0);
    wait_progress(g, 2);
    g->ops->pause(g);
    mb_guest_free(g);
}

static unsigned count_dir(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    g_assert_nonnull(d);
    unsigned n = 0;
    while (g_dir_read_name(d))
        n++;
    g_dir_close(d);
    return n;
}

/* free() joins every thread and closes every fd the guest opened. */
static void test_no_leaks(void)
{
    if (!need_kvm())
        return;
    unsigned fds = count_dir("/proc/self/fd"), threads = count_dir("/proc/self/task");
    /* Creation failing after the VM exists (a ring larger than KVM allows) frees what it
     * made: counted below. */
    GError *e = NULL;
    g_assert_null(kvm_guest_new("mem=32M,vcpus=2,dirty=ring,ring=1048576", false, &e));
    g_assert_nonnull(strstr(e->message, "exceeds KVM's maximum"));
    g_clear_error(&e);
    MbGuest *a = make("mem=32M,vcpus=3,dirty=ring", false);
    MbGuest *b = make("mem=32M,vcpus=2", true);
    g_assert_cmpuint(count_dir("/proc/self/task"), >=, threads + 5);
    a->ops->set_throttle(a, 30);
    a->ops->run(a);
    wait_progress(a, 1);
    mb_guest_free(a); /* freed while running */
    mb_guest_free(b);
    g_assert_cmpuint(count_dir("/proc/self/fd"), ==, fds);
    g_assert_cmpuint(count_dir("/proc/self/task"), ==, threads);
}

/* `trace record --kvm` writes a trace the reader accepts, with the guest's blocks and vCPUs
 * and every event attributed to the vCPU owning the page. */
static void test_record(void)
{
    if (!need_kvm())
        return;
    char *dir = g_dir_make_tmp("kvm-record-XXXXXX", NULL);
    g_assert_nonnull(dir);
    char *path = g_build_filename(dir, "t.trace", NULL);
    char *argv[] = { "record",  "--kvm",
                     "--quiet", "--interval",
                     "20ms",    "--duration",
                     "200ms",   "-o",
                     path,      "kvm:mem=32M,vcpus=2,slots=2,workload=random,report=8",
                     NULL };
    g_assert_cmpint(kvm_trace_record_main(G_N_ELEMENTS(argv) - 1, argv), ==, 0);

    GError *e = NULL;
    TraceSource *s = trace_open_file(path, &e);
    g_assert_no_error(e);
    const TraceHeader *h = trace_source_header(s);
    g_assert_cmpint(h->method, ==, TRACE_METHOD_KVM);
    g_assert_cmpuint(h->nvcpus, ==, 2);
    g_assert_cmpuint(h->nblocks, ==, 2);
    g_assert_cmpstr(h->blocks[0].name, ==, "pc.ram");
    g_assert_cmpstr(h->blocks[1].name, ==, "pc.ram1");
    g_assert_cmpint(h->duration_ns, ==, 200000000);
    g_assert_nonnull(strstr(h->provenance, "workload=random"));
    uint64_t w = (32 << 20) / 4096 - 256, events = 0, epochs = 0;
    TraceEpoch ep;
    int r;
    while ((r = trace_source_next(s, &ep, &e)) == 1) {
        epochs++;
        for (size_t i = 0; i < ep.n; i++) {
            uint64_t page = ep.ev[i].block * (16 << 20) / 4096 + ep.ev[i].page;
            uint32_t want = page < 256 ? 0 : (page - 256) < w / 2 ? 0 : 1;
            g_assert_cmpuint(ep.ev[i].vcpu, ==, want);
            g_assert_cmpuint(ep.ev[i].cls, ==, TRACE_CLASS_SPARSE);
            events++;
        }
    }
    g_assert_cmpint(r, ==, 0);
    g_assert_no_error(e);
    /* Sampling follows the wall clock, so how many samples fit in 200 ms depends on the
     * machine's load; more than one shows the interval loop ran. */
    g_assert_cmpuint(epochs, >=, 2);
    g_assert_cmpuint(events, >, 0);
    trace_source_free(s);

    /* Usage errors exit 1 and write nothing. */
    char *bad[] = { "record", "--kvm", "--interval", "soon", "-o", path, NULL };
    g_assert_cmpint(kvm_trace_record_main(G_N_ELEMENTS(bad) - 1, bad), ==, 1);
    char *noout[] = { "record", "--kvm", "mem=32M", NULL };
    g_assert_cmpint(kvm_trace_record_main(G_N_ELEMENTS(noout) - 1, noout), ==, 1);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm/spec-errors", test_spec_errors);
    g_test_add_func("/kvm/boot", test_boot);
    g_test_add_func("/kvm/slots", test_slots);
    g_test_add_func("/kvm/dirty/get", test_dirty_get);
    g_test_add_func("/kvm/dirty/get+clear", test_dirty_clear);
    g_test_add_func("/kvm/dirty/ring", test_dirty_ring);
    g_test_add_func("/kvm/dirty/auto", test_dirty_auto);
    g_test_add_func("/kvm/pause-stops-memory", test_pause_stops_memory);
    g_test_add_func("/kvm/migrate/marker", test_migrate_marker);
    g_test_add_func("/kvm/migrate/random-slots", test_migrate_random);
    g_test_add_func("/kvm/migrate/hotspot-ring", test_migrate_hotspot_ring);
    g_test_add_func("/kvm/verify/corrupt-marker", test_verify_corrupt_marker);
    g_test_add_func("/kvm/verify/corrupt-random", test_verify_corrupt_random);
    g_test_add_func("/kvm/verify/lost-dirty-page", test_verify_lost_page);
    g_test_add_func("/kvm/state/mismatch", test_state_mismatch);
    g_test_add_func("/kvm/bad-guest", test_bad_guest);
    g_test_add_func("/kvm/idle", test_idle);
    g_test_add_func("/kvm/throttle", test_throttle);
    g_test_add_func("/kvm/no-leaks", test_no_leaks);
    g_test_add_func("/kvm/trace-record", test_record);
    return g_test_run();
}
