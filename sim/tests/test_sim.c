/* Unit tests for the simulated guest: content classes, dirty sync, virtual time (throttle,
 * pause, loop, warmup), migration of memory and state with verification, spec parsing,
 * determinism under load, and a 1 TiB guest. */
#include "sim.h"
#include "sim_content.h"

#include "mb_bitmap.h"
#include "mb_tsan.h"
#include "mb_util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <zlib.h>

#define GOLDEN_CONTENT 0x6a5b02f1d18da533ULL
#define GOLDEN_REPLAY  0xd8af60bb8244bcceULL

static MbGuest *guest(const char *spec, bool incoming)
{
    GError *err = NULL;
    MbGuest *g = sim_guest_new(spec, incoming, &err);
    g_assert_no_error(err);
    g_assert_nonnull(g);
    return g;
}

static int64_t info_int(MbGuest *g, const char *key)
{
    json_object *o = g->ops->info(g);
    int64_t v = json_object_get_int64(json_object_object_get(o, key));
    json_object_put(o);
    return v;
}

static uint64_t **bitmaps_new(MbGuest *g)
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

/* ---- content ---- */

static double zratio(const uint8_t *p, int level)
{
    uint8_t out[8192];
    uLongf ol = sizeof(out);
    g_assert_cmpint(compress2(out, &ol, p, SIM_PAGE_SIZE, level), ==, Z_OK);
    return (double)SIM_PAGE_SIZE / (double)ol;
}

/* sim_content_page_equals is an exact check: true for the page the model makes, false
 * for any single wrong byte at any offset, and for another version of the page. */
static void test_content_equals(void)
{
    SimContent *c = g_new(SimContent, 1);
    TraceMix init = { { 25, 25, 25, 25 } };
    uint8_t *a = g_malloc(SIM_PAGE_SIZE), *scratch = g_malloc(SIM_PAGE_SIZE);
    sim_content_init(c, 5, &init);
    for (int cls = 0; cls <= TRACE_NCLASSES; cls++)
        for (uint64_t p = 0; p < 3; p++) {
            uint32_t v = (uint32_t)p * 5 + 1;
            sim_content_page(c, (unsigned)p % 2, p, v, cls, a);
            g_assert_true(sim_content_page_equals(c, (unsigned)p % 2, p, v, cls, a, scratch));
            for (unsigned i = 0; i < SIM_PAGE_SIZE; i++) {
                uint8_t flip = (uint8_t)(1u << (i % 8));
                a[i] ^= flip;
                g_assert_false(sim_content_page_equals(c, (unsigned)p % 2, p, v, cls, a, scratch));
                a[i] ^= flip;
            }
            int real = cls ? cls : sim_content_initial_class(c, (unsigned)p % 2, p);
            if (real != TRACE_CLASS_ZERO)
                g_assert_false(
                    sim_content_page_equals(c, (unsigned)p % 2, p, v + 1, cls, a, scratch));
        }
    g_free(a);
    g_free(scratch);
    g_free(c);
}

static void test_content(void)
{
    SimContent *c = g_new(SimContent, 1);
    TraceMix init = { { 25, 25, 25, 25 } };
    uint8_t *a = g_malloc(SIM_PAGE_SIZE), *b = g_malloc(SIM_PAGE_SIZE);
    sim_content_init(c, 5, &init);

    sim_content_page(c, 0, 7, 3, TRACE_CLASS_ZERO, a);
    g_assert_true(mb_buffer_is_zero(a, SIM_PAGE_SIZE));

    double text1 = 0, text6 = 0, rnd = 0;
    for (uint64_t p = 0; p < 200; p++) {
        sim_content_page(c, 0, p, (uint32_t)p % 5, TRACE_CLASS_TEXT, a);
        text1 += zratio(a, 1) / 200;
        text6 += zratio(a, 6) / 200;
        sim_content_page(c, 1, p, 1, TRACE_CLASS_RANDOM, a);
        rnd = MAX(rnd, zratio(a, 6));
    }
    g_test_message("text compresses %.2fx (level 1) %.2fx (level 6); random %.3fx", text1, text6,
                   rnd);
    g_assert_cmpfloat(text1, >, 2.5);
    g_assert_cmpfloat(text6, <, 5);
    g_assert_cmpfloat(rnd, <, 1.0);

    /* Sparse: consecutive versions differ in few bytes; random ones in nearly all. */
    for (uint32_t v = 0; v < 300; v++) {
        sim_content_page(c, 0, 99, v, TRACE_CLASS_SPARSE, a);
        sim_content_page(c, 0, 99, v + 1, TRACE_CLASS_SPARSE, b);
        unsigned diff = 0;
        for (unsigned i = 0; i < SIM_PAGE_SIZE; i++)
            diff += a[i] != b[i];
        g_assert_cmpuint(diff, >=, 1);
        g_assert_cmpuint(diff, <=, 16);
    }
    sim_content_page(c, 0, 99, 1, TRACE_CLASS_RANDOM, a);
    sim_content_page(c, 0, 99, 2, TRACE_CLASS_RANDOM, b);
    g_assert_cmpint(memcmp(a, b, SIM_PAGE_SIZE), !=, 0);
    /* Pure function: same inputs, same bytes; another seed, other bytes. */
    sim_content_page(c, 0, 99, 2, TRACE_CLASS_RANDOM, a);
    g_assert_cmpint(memcmp(a, b, SIM_PAGE_SIZE), ==, 0);
    SimContent *c2 = g_new(SimContent, 1);
    sim_content_init(c2, 6, &init);
    sim_content_page(c2, 0, 99, 2, TRACE_CLASS_RANDOM, a);
    g_assert_cmpint(memcmp(a, b, SIM_PAGE_SIZE), !=, 0);
    /* Initial classes follow the mix. */
    unsigned counts[5] = { 0 };
    for (uint64_t p = 0; p < 40000; p++)
        counts[sim_content_initial_class(c, 0, p)]++;
    for (int k = 1; k <= 4; k++)
        g_assert_cmpint(ABS((int)counts[k] - 10000), <, 600);
    g_free(a);
    g_free(b);
    g_free(c);
    g_free(c2);
}

/* ---- dirty tracking and time ---- */

static void test_dirty_sync(void)
{
    MbGuest *g = guest("uniform,size=64M,rate=16M,duration=1s,seed=3", false);
    uint64_t **bm = bitmaps_new(g);
    GError *err = NULL;

    g_assert_true(g->ops->is_running(g));
    mb_guest_wait_until(g, 100000000); /* writes before logging are not reported */
    g_assert_true(g->ops->dirty_log_start(g, &err));
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0);
    int64_t before = info_int(g, "events-replayed");
    mb_guest_wait_until(g, 300000000);
    uint64_t n = g->ops->dirty_log_sync(g, bm);
    int64_t writes = info_int(g, "events-replayed") - before;
    g_assert_cmpint(writes, ==, 16 * 256 * 2 / 10);    /* 16 MiB/s for 200 ms */
    g_assert_cmpuint(n, >, (uint64_t)writes * 9 / 10); /* few repeats in 16384 pages */
    g_assert_cmpuint(n, <=, (uint64_t)writes);
    g_assert_cmpuint(mb_bitmap_count(bm[0], 16384), ==, n);
    /* Nothing new without time passing; bits already set are not counted again. */
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0);
    mb_guest_wait_until(g, 310000000);
    uint64_t more = g->ops->dirty_log_sync(g, bm);
    g_assert_cmpuint(more, <=, 82);
    g_assert_cmpuint(mb_bitmap_count(bm[0], 16384), ==, n + more);
    g->ops->dirty_log_stop(g);
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0);
    bitmaps_free(g, bm);
    mb_guest_free(g);
}

static void test_throttle(void)
{
    const char *spec = "hotspot,size=64M,rate=64M,duration=2s";
    MbGuest *a = guest(spec, false), *b = guest(spec, false);
    uint64_t **ba = bitmaps_new(a), **bb = bitmaps_new(b);

    a->ops->dirty_log_start(a, NULL);
    b->ops->dirty_log_start(b, NULL);
    b->ops->set_throttle(b, 50);
    mb_guest_wait_until(a, 400000000);
    mb_guest_wait_until(b, 800000000); /* half speed: twice the virtual time */
    g_assert_cmpint(mb_guest_now(b), ==, 800000000);
    g_assert_cmpint(info_int(a, "events-replayed"), ==, info_int(b, "events-replayed"));
    g_assert_cmpint(info_int(b, "trace-time-ns"), ==, 400000000);
    a->ops->dirty_log_sync(a, ba);
    b->ops->dirty_log_sync(b, bb);
    g_assert_cmpint(memcmp(ba[0], bb[0], 16384 / 8), ==, 0);

    /* Remainders carry: 1000 steps of 7 ns at 67% make exactly 4690 ns of trace time. */
    b->ops->set_throttle(b, 33);
    int64_t t0 = info_int(b, "trace-time-ns");
    for (int i = 1; i <= 1000; i++)
        mb_guest_wait_until(b, 800000000 + 7 * i);
    g_assert_cmpint(info_int(b, "trace-time-ns") - t0, ==, 4690);
    b->ops->set_throttle(b, 150); /* clamped to 99 */
    mb_guest_wait_until(b, 900000000);
    g_assert_cmpint(info_int(b, "trace-time-ns") - t0, ==,
                    4690 + 999930); /* 1% of the 99.993 ms that passed */
    bitmaps_free(a, ba);
    bitmaps_free(b, bb);
    mb_guest_free(a);
    mb_guest_free(b);
}

static void test_pause(void)
{
    MbGuest *g = guest("uniform,size=16M,rate=64M", false);
    uint64_t **bm = bitmaps_new(g);
    g->ops->dirty_log_start(g, NULL);
    g->ops->pause(g);
    g_assert_false(g->ops->is_running(g));
    mb_guest_wait_until(g, 500000000);
    g_assert_cmpint(mb_guest_now(g), ==, 500000000);        /* time passes ... */
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0); /* ... the guest does not */
    g_assert_cmpint(info_int(g, "trace-time-ns"), ==, 0);
    g->ops->run(g);
    mb_guest_wait_until(g, 600000000);
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), >, 0);
    g_assert_cmpint(info_int(g, "trace-time-ns"), ==, 100000000);
    bitmaps_free(g, bm);
    mb_guest_free(g);
}

static void test_loop_and_warmup(void)
{
    MbGuest *g = guest("uniform,size=16M,rate=16M,duration=100ms", false);
    mb_guest_wait_until(g, 350000000);
    g_assert_cmpint(info_int(g, "loops"), ==, 3);
    g_assert_cmpint(info_int(g, "events-replayed"), ==, 409 * 3 + 204);
    mb_guest_free(g);

    g = guest("uniform,size=16M,rate=16M,duration=100ms,loop=off", false);
    mb_guest_wait_until(g, 350000000);
    g_assert_cmpint(info_int(g, "loops"), ==, 0);
    g_assert_cmpint(info_int(g, "events-replayed"), ==, 409);
    mb_guest_free(g);

    g = guest("uniform,size=16M,rate=16M,warmup=50ms", false);
    g_assert_cmpint(mb_guest_now(g), ==, 0);
    g_assert_cmpint(info_int(g, "events-replayed"), ==, 204);
    mb_guest_free(g);

    g = guest("idle,size=16M", false); /* nothing to loop over: must not spin */
    mb_guest_wait_until(g, 3600LL * 1000000000);
    g_assert_cmpint(info_int(g, "events-replayed"), ==, 0);
    mb_guest_free(g);
}

/* ---- migration: memory, state, verify ---- */

static void copy_pages(MbGuest *src, MbGuest *dst, uint64_t **only)
{
    uint8_t *scratch = g_malloc(SIM_PAGE_SIZE);
    for (unsigned b = 0; b < src->nblocks; b++) {
        uint64_t n = mb_guest_block_pages(src, b);
        for (uint64_t p = 0; p < n; p++) {
            if (only && !mb_bit_test_and_clear(only[b], p))
                continue;
            /* as the engine does: zero pages go as "zero", the rest in full */
            const uint8_t *d = src->ops->page_read(src, b, p, scratch);
            g_assert_true(
                mb_guest_page_store(dst, b, p, mb_buffer_is_zero(d, SIM_PAGE_SIZE) ? NULL : d));
        }
    }
    g_free(scratch);
}

/* A small precopy: full pass, two dirty passes, stop, last pass, state. */
static GBytes *migrate(MbGuest *src, MbGuest *dst)
{
    uint64_t **bm = bitmaps_new(src);
    src->ops->dirty_log_start(src, NULL);
    copy_pages(src, dst, NULL);
    for (int pass = 1; pass <= 2; pass++) {
        mb_guest_wait_until(src, mb_guest_now(src) + 30000000);
        src->ops->dirty_log_sync(src, bm);
        copy_pages(src, dst, bm);
    }
    src->ops->pause(src);
    src->ops->dirty_log_sync(src, bm);
    copy_pages(src, dst, bm);
    src->ops->dirty_log_stop(src);
    bitmaps_free(src, bm);
    return src->ops->save_state(src);
}

static void test_migrate_verify(void)
{
    const char *spec = "hotspot,size=32M,rate=64M,seed=11,duration=1s";
    MbGuest *src = guest(spec, false), *dst = guest(spec, true);
    GError *err = NULL;

    g_assert_false(dst->ops->is_running(dst));
    g_assert_null(src->ops->page_host(src, 0, 0));
    mb_guest_wait_until(src, 1500000000); /* into the second loop */
    GBytes *st = migrate(src, dst);
    gsize len;
    const uint8_t *blob = g_bytes_get_data(st, &len);
    g_assert_true(dst->ops->load_state(dst, blob, len, &err));
    g_assert_no_error(err);
    g_assert_cmpint(mb_guest_now(dst), ==, mb_guest_now(src));

    /* A flipped byte is found and named. */
    uint8_t *host = dst->ops->page_host(dst, 0, 4321);
    host[100] ^= 1;
    g_assert_false(dst->ops->verify(dst, &err));
    g_assert_nonnull(strstr(err->message, "page 4321"));
    g_assert_nonnull(strstr(err->message, "'pc.ram'"));
    g_assert_nonnull(strstr(err->message, "1 of 8192"));
    g_clear_error(&err);
    host[100] ^= 1;
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_no_error(err);

    /* The destination runs on like the source would have, and migrates again. */
    MbGuest *dst2 = guest(spec, true);
    src->ops->run(src);
    dst->ops->run(dst);
    mb_guest_wait_until(src, mb_guest_now(src) + 200000000);
    mb_guest_wait_until(dst, mb_guest_now(dst) + 200000000);
    uint8_t *a = g_malloc(SIM_PAGE_SIZE), *b = g_malloc(SIM_PAGE_SIZE);
    for (uint64_t p = 0; p < 8192; p += 7)
        g_assert_cmpint(memcmp(src->ops->page_read(src, 0, p, a), dst->ops->page_read(dst, 0, p, b),
                               SIM_PAGE_SIZE),
                        ==, 0);
    GBytes *st2 = migrate(dst, dst2);
    blob = g_bytes_get_data(st2, &len);
    g_assert_true(dst2->ops->load_state(dst2, blob, len, &err));
    g_assert_true(dst2->ops->verify(dst2, &err));
    g_assert_no_error(err);

    g_free(a);
    g_free(b);
    g_bytes_unref(st);
    g_bytes_unref(st2);
    mb_guest_free(src);
    mb_guest_free(dst);
    mb_guest_free(dst2);
}

/* A COLO secondary checks memory at every checkpoint and keeps taking pages: check leaves
 * the guest incoming, verify ends it. */
static void test_check_keeps_memory(void)
{
    const char *spec = "uniform,size=4M,rate=16M,seed=5";
    MbGuest *src = guest(spec, false), *dst = guest(spec, true);
    GError *err = NULL;
    gsize len;

    mb_guest_wait_until(src, 100000000);
    GBytes *st = migrate(src, dst);
    const uint8_t *blob = g_bytes_get_data(st, &len);
    g_assert_true(dst->ops->load_state(dst, blob, len, &err));
    g_assert_true(dst->ops->check(dst, &err));
    g_assert_no_error(err);
    g_assert_nonnull(dst->ops->page_host(dst, 0, 0)); /* still incoming */
    uint8_t *host = dst->ops->page_host(dst, 0, 9);
    host[0] ^= 1;
    g_assert_false(dst->ops->check(dst, &err));
    g_assert_nonnull(strstr(err->message, "page 9"));
    g_clear_error(&err);
    host[0] ^= 1;
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_null(dst->ops->page_host(dst, 0, 0)); /* verified: no longer incoming */
    g_bytes_unref(st);
    mb_guest_free(src);
    mb_guest_free(dst);
}

/* failover=ID: the unplug takes unplug-delay of guest time; destinations start without
 * the primary. */
static void test_failover_pair(void)
{
    GError *err = NULL;
    MbGuest *src = guest("uniform,size=4M,failover=net0,unplug-delay=300ms", false);
    MbGuest *dst = guest("uniform,size=4M,failover=net0", true);
    MbGuest *none = guest("uniform,size=4M", false);

    g_assert_null(none->ops->failover_primary(none));
    g_assert_cmpstr(src->ops->failover_primary(src), ==, "net0");
    g_assert_true(src->ops->failover_plugged(src));
    g_assert_false(dst->ops->failover_plugged(dst));
    g_assert_false(src->ops->failover_unplug_pending(src));
    src->ops->failover_unplug(src);
    g_assert_false(src->ops->failover_plugged(src));
    g_assert_true(src->ops->failover_unplug_pending(src));
    mb_guest_wait_until(src, 299999999);
    g_assert_true(src->ops->failover_unplug_pending(src));
    mb_guest_wait_until(src, 300000000);
    g_assert_false(src->ops->failover_unplug_pending(src));
    src->ops->failover_plug(src);
    dst->ops->failover_plug(dst);
    g_assert_true(src->ops->failover_plugged(src));
    g_assert_true(dst->ops->failover_plugged(dst));
    json_object *info = src->ops->info(src);
    g_assert_true(json_object_get_boolean(
        json_object_object_get(json_object_object_get(info, "failover"), "plugged")));
    json_object_put(info);

    const char *bad[] = { "uniform,failover=", "uniform,failover=9x", "uniform,unplug-delay=1s",
                          "uniform,failover=a,unplug-delay=soon" };
    const char *want[] = { "failover device id", "failover device id", "needs a failover",
                           "unplug-delay" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_null(sim_guest_new(bad[i], false, &err));
        if (!strstr(err->message, want[i]))
            g_error("spec '%s': error '%s' lacks '%s'", bad[i], err->message, want[i]);
        g_clear_error(&err);
    }
    mb_guest_free(src);
    mb_guest_free(dst);
    mb_guest_free(none);
}

/* Disks: pages follow the content model (unused base chunks zero), the write log and
 * allocation see the writes, and a destination's verify checks disk pages by its disk
 * image: empty (must receive everything non-zero), base (only what was written), shared
 * (nothing). */
static void test_disk(void)
{
    const char *spec = "idle,size=4M,seed=3,disk=8M,disk-rate=2M,disk-used=50%,duration=1s";
    MbGuest *src = guest(spec, false);
    GError *err = NULL;
    g_assert_cmpuint(src->nblocks, ==, 1);
    g_assert_cmpuint(src->ndisks, ==, 1);
    g_assert_cmpstr(src->disks[0].name, ==, "drive0");
    g_assert_cmpuint(src->disks[0].size, ==, 8u << 20);
    g_assert_cmpuint(mb_guest_ram_size(src), ==, 4u << 20);
    uint64_t pages = mb_guest_disk_pages(src, 0);
    uint8_t *buf = g_malloc(SIM_PAGE_SIZE);

    /* The base image: about half of the 8 chunks hold data, the others are zero. */
    unsigned zero_chunks = 0;
    for (uint64_t c = 0; c < pages / 256; c++) {
        bool zero = true;
        for (uint64_t p = c * 256; p < (c + 1) * 256 && zero; p++)
            zero = mb_buffer_is_zero(src->ops->disk_read(src, 0, p, buf), SIM_PAGE_SIZE);
        zero_chunks += zero;
    }
    g_assert_cmpuint(zero_chunks, >, 0);
    g_assert_cmpuint(zero_chunks, <, 8);
    for (uint64_t p = 0; p < pages; p++)
        g_assert_false(src->ops->disk_allocated(src, 0, p));

    /* 500 ms of 2 MiB/s: 256 writes, logged and allocated. */
    uint64_t *log = mb_bitmap_new(pages);
    g_assert_cmpuint(src->ops->disk_log_sync(src, 0, log), ==, 0);
    mb_guest_wait_until(src, 500000000);
    uint64_t n = src->ops->disk_log_sync(src, 0, log);
    g_assert_cmpuint(n, >, 0);
    g_assert_cmpuint(n, <=, 256);
    uint64_t allocated = 0;
    for (uint64_t p = 0; p < pages; p++) {
        allocated += src->ops->disk_allocated(src, 0, p);
        g_assert_true(src->ops->disk_allocated(src, 0, p) == mb_bit_test(log, p));
    }
    g_assert_cmpuint(allocated, ==, n);
    g_assert_cmpuint(src->ops->disk_log_sync(src, 0, log), ==, 0); /* cleared */
    src->ops->pause(src);
    GBytes *st = src->ops->save_state(src);
    gsize len;
    const uint8_t *blob = g_bytes_get_data(st, &len);

    static const char *const images[] = { "empty", "base", "shared" };
    for (int i = 0; i < 3; i++) {
        gchar *ds = g_strdup_printf("%s,disk-image=%s", spec, images[i]);
        MbGuest *dst = guest(ds, true);
        g_free(ds);
        copy_pages(src, dst, NULL);
        g_assert_true(dst->ops->load_state(dst, blob, len, &err));
        g_assert_no_error(err);
        /* Only the written pages travel (what block-incremental sends). */
        for (uint64_t p = 0; p < pages; p++)
            if (mb_bit_test(log, p))
                g_assert_true(dst->ops->disk_write(dst, 0, p, src->ops->disk_read(src, 0, p, buf)));
        bool ok = dst->ops->verify(dst, &err);
        if (i == 0) { /* an empty image lacks the base's data */
            g_assert_false(ok);
            g_assert_nonnull(strstr(err->message, "'drive0'"));
            g_clear_error(&err);
        } else {
            g_assert_no_error(err);
            g_assert_true(ok);
        }
        mb_guest_free(dst);
    }
    /* With every page sent, an empty image verifies; one page wrong is named. */
    MbGuest *dst = guest("idle,size=4M,seed=3,disk=8M,disk-rate=2M,disk-used=50%,duration=1s,"
                         "disk-image=empty",
                         true);
    copy_pages(src, dst, NULL);
    g_assert_true(dst->ops->load_state(dst, blob, len, &err));
    for (uint64_t p = 0; p < pages; p++)
        g_assert_true(dst->ops->disk_write(dst, 0, p, src->ops->disk_read(src, 0, p, buf)));
    g_assert_false(dst->ops->disk_write(dst, 0, pages, buf));
    g_assert_false(dst->ops->disk_write(dst, 1, 0, buf));
    const uint8_t *p77 = src->ops->disk_read(src, 0, 77, buf);
    if (p77 != buf)
        memcpy(buf, p77, SIM_PAGE_SIZE);
    buf[9] ^= 0x40;
    g_assert_true(dst->ops->disk_write(dst, 0, 77, buf));
    g_assert_false(dst->ops->verify(dst, &err));
    g_assert_nonnull(strstr(err->message, "block 'drive0' page 77"));
    g_clear_error(&err);
    g_assert_true(dst->ops->disk_write(dst, 0, 77, src->ops->disk_read(src, 0, 77, buf)));
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_no_error(err);
    mb_guest_free(dst);

    g_bytes_unref(st);
    g_free(log);
    g_free(buf);
    mb_guest_free(src);
}

static void test_state_mismatch(void)
{
    MbGuest *src = guest("hotspot,size=32M,seed=1", false);
    GBytes *st = src->ops->save_state(src);
    gsize len;
    const uint8_t *blob = g_bytes_get_data(st, &len);
    GError *err = NULL;
    const char *others[] = { "hotspot,size=32M,seed=2", "hotspot,size=64M,seed=1",
                             "uniform,size=32M,seed=1" };
    for (unsigned i = 0; i < G_N_ELEMENTS(others); i++) {
        MbGuest *d = guest(others[i], true);
        g_assert_false(d->ops->load_state(d, blob, len, &err));
        g_assert_nonnull(strstr(err->message, "different trace"));
        g_clear_error(&err);
        mb_guest_free(d);
    }
    MbGuest *d = guest("hotspot,size=32M,seed=1", true);
    uint8_t *bad = g_memdup2(blob, len);
    bad[len / 2] ^= 4;
    g_assert_false(d->ops->load_state(d, bad, len, &err));
    g_assert_nonnull(strstr(err->message, "checksum"));
    g_clear_error(&err);
    g_assert_false(d->ops->load_state(d, (const uint8_t *)"QEVM", 4, &err));
    g_assert_nonnull(strstr(err->message, "not from a simulated guest"));
    g_clear_error(&err);
    g_assert_true(d->ops->load_state(d, blob, len, &err));
    g_free(bad);
    g_bytes_unref(st);
    mb_guest_free(d);
    mb_guest_free(src);
}

/* x-ignore-shared: a destination has the shared block's memory without receiving it. */
static void test_shared_block(void)
{
    char *dir = g_dir_make_tmp("test_sim_XXXXXX", NULL);
    char *path = g_build_filename(dir, "two.trace", NULL);
    TraceHeader h;
    GError *err = NULL;
    trace_header_init(&h);
    h.duration_ns = 1000000000;
    h.content_seed = 3;
    TraceMix init = { { 10, 30, 30, 30 } };
    h.init_mix = init;
    trace_header_add_block(&h, "pc.ram", 4 << 20, false);
    trace_header_add_block(&h, "mem-shared", 1 << 20, true);
    TraceWriter *w = trace_writer_new(path, &h, 0, &err);
    for (int t = 1; t <= 100; t++) {
        TraceEvent ev[2] = { { (uint64_t)t * 7 % 1024, 0, 0, TRACE_CLASS_TEXT },
                             { (uint64_t)t * 3 % 256, 0, 1, TRACE_CLASS_SPARSE } };
        g_assert_true(trace_writer_add(w, t * 10000000LL, ev, 2, &err));
    }
    g_assert_true(trace_writer_finish(w, &err));
    g_assert_no_error(err);

    MbGuest *src = guest(path, false), *dst = guest(path, true);
    g_assert_cmpuint(src->nblocks, ==, 2);
    g_assert_true(src->blocks[1].shared);
    g_assert_cmpstr(src->blocks[1].name, ==, "mem-shared");
    mb_guest_wait_until(src, 500000000);
    src->ops->pause(src);
    uint8_t *scratch = g_malloc(SIM_PAGE_SIZE);
    for (uint64_t p = 0; p < mb_guest_block_pages(src, 0); p++) /* block 0 only */
        memcpy(dst->ops->page_host(dst, 0, p), src->ops->page_read(src, 0, p, scratch),
               SIM_PAGE_SIZE);
    GBytes *st = src->ops->save_state(src);
    gsize len;
    const uint8_t *blob = g_bytes_get_data(st, &len);
    g_assert_true(dst->ops->load_state(dst, blob, len, &err));
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_no_error(err);
    g_free(scratch);
    g_bytes_unref(st);
    mb_guest_free(src);
    mb_guest_free(dst);
    g_free(h.blocks);
    g_free(h.provenance);
    g_remove(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

/* ---- specs, files ---- */

static void test_spec(void)
{
    GError *err = NULL;
    MbGuest *g = guest("", false);
    g_assert_cmpuint(mb_guest_ram_size(g), ==, 1ULL << 30);
    g_assert_cmpstr(g->ops->describe(g), ==, "sim hotspot 1.00 GiB seed=1");
    g_assert_cmpstr(g->blocks[0].name, ==, "pc.ram");
    g_assert_true(g->virtual_time);
    g_assert_cmpstr(g->kind, ==, "sim");
    mb_guest_free(g);
    g = guest("zipf,size=2G,skew=1.1,seed=9", false);
    g_assert_cmpstr(g->ops->describe(g), ==, "sim zipf 2.00 GiB seed=9");
    mb_guest_free(g);

    const char *bad[] = {
        "hotpot",       "hotspot,size=12Q",     "hotspot,colour=red",  "hotspot,loop=maybe",
        "hotspot,size", "/nonexistent/x.trace", "file=/nonexistent/y", ",size=1G"
    };
    const char *want[] = { "hotpot",       "12Q",         "colour",      "maybe",
                           "option=value", "nonexistent", "nonexistent", "empty" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_null(sim_guest_new(bad[i], false, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, want[i]))
            g_error("spec '%s': error '%s' lacks '%s'", bad[i], err->message, want[i]);
        g_clear_error(&err);
    }
}

static void test_file_equals_workload(void)
{
    char *dir = g_dir_make_tmp("test_sim_XXXXXX", NULL);
    char *path = g_build_filename(dir, "w.trace", NULL);
    TraceGenParams p;
    GError *err = NULL;
    trace_gen_params_init(&p, TRACE_GEN_PHASES);
    trace_gen_params_set(&p, "size", "32M", NULL);
    trace_gen_params_set(&p, "seed", "4", NULL);
    trace_gen_params_set(&p, "duration", "2s", NULL);
    TraceSource *s = trace_gen_new(&p, &err);
    TraceWriter *w = trace_writer_new(path, trace_source_header(s), 0, &err);
    TraceEpoch ep;
    while (trace_source_next(s, &ep, NULL) > 0)
        g_assert_true(trace_writer_add(w, ep.t_ns, ep.ev, ep.n, &err));
    g_assert_true(trace_writer_finish(w, &err));
    trace_source_free(s);

    MbGuest *a = guest("phases,size=32M,seed=4,duration=2s", false);
    char *fspec = g_strdup_printf("file=%s", path);
    MbGuest *b = guest(fspec, false);
    g_assert_cmpint(info_int(a, "identity"), ==, info_int(b, "identity"));
    mb_guest_wait_until(a, 2700000000);
    mb_guest_wait_until(b, 2700000000);
    uint8_t *x = g_malloc(SIM_PAGE_SIZE), *y = g_malloc(SIM_PAGE_SIZE);
    for (uint64_t pg = 0; pg < 8192; pg++)
        g_assert_cmpint(
            memcmp(a->ops->page_read(a, 0, pg, x), b->ops->page_read(b, 0, pg, y), SIM_PAGE_SIZE),
            ==, 0);
    /* A content-seed override changes the identity and the bytes, not the writes. */
    char *sspec = g_strdup_printf("%s,seed=5", path);
    MbGuest *c = guest(sspec, false);
    g_assert_cmpint(info_int(c, "identity"), !=, info_int(b, "identity"));
    g_assert_cmpint(info_int(c, "seed"), ==, 5);
    char *bspec = g_strdup_printf("%s,size=1G", path);
    g_assert_null(sim_guest_new(bspec, false, &err));
    g_assert_nonnull(strstr(err->message, "not to the trace file"));
    g_clear_error(&err);
    g_free(bspec);
    g_free(x);
    g_free(y);
    mb_guest_free(a);
    mb_guest_free(b);
    mb_guest_free(c);
    g_remove(path);
    g_rmdir(dir);
    g_free(sspec);
    g_free(fspec);
    g_free(path);
    g_free(dir);
}

/* ---- determinism under load ---- */

typedef struct {
    const char *spec;
    uint64_t digest;
} Replay;

static gint stop_load;

static gpointer load_thread(gpointer data)
{
    uint64_t x = GPOINTER_TO_UINT(data);
    while (!g_atomic_int_get(&stop_load))
        for (int i = 0; i < 100000; i++)
            x = mb_hash3(x, (uint64_t)i, 1);
    return GUINT_TO_POINTER((guint)x);
}

static gpointer replay_thread(gpointer data)
{
    Replay *r = data;
    MbGuest *g = guest(r->spec, false);
    uint64_t **bm = bitmaps_new(g);
    uint64_t words = MB_BITS_TO_WORDS(mb_guest_block_pages(g, 0));
    uint8_t *scratch = g_malloc(SIM_PAGE_SIZE);
    uint64_t d = 0;

    g->ops->dirty_log_start(g, NULL);
    for (int k = 1; k <= 60; k++) {
        if (k == 20)
            g->ops->set_throttle(g, 30);
        if (k == 40)
            g->ops->pause(g);
        if (k == 45)
            g->ops->run(g);
        mb_guest_wait_until(g, (int64_t)k * 37000000);
        d = mb_hash3(d, g->ops->dirty_log_sync(g, bm), (uint64_t)k);
        for (uint64_t w = 0; w < words; w++)
            if (bm[0][w]) {
                d = mb_hash3(d, w, bm[0][w]);
                bm[0][w] = 0;
            }
        for (uint64_t p = (uint64_t)k; p < mb_guest_block_pages(g, 0); p += 997) {
            const uint8_t *b = g->ops->page_read(g, 0, p, scratch);
            for (unsigned i = 0; i < SIM_PAGE_SIZE; i += 8)
                d = mb_hash3(d, mb_ld_be64(b + i), p);
        }
    }
    r->digest = d;
    g_free(scratch);
    bitmaps_free(g, bm);
    mb_guest_free(g);
    return NULL;
}

static void test_determinism_under_load(void)
{
    const char *spec = "hotspot,size=256M,rate=200M,seed=3,duration=1s";
    Replay a = { spec, 0 }, b = { spec, 0 }, c = { spec, 0 };
    GThread *load[2];

    g_atomic_int_set(&stop_load, 0);
    for (int i = 0; i < 2; i++)
        load[i] = g_thread_new("load", load_thread, GUINT_TO_POINTER(i + 1));
    GThread *ta = g_thread_new("replay-a", replay_thread, &a);
    GThread *tb = g_thread_new("replay-b", replay_thread, &b);
    g_thread_join(ta);
    g_thread_join(tb);
    g_atomic_int_set(&stop_load, 1);
    for (int i = 0; i < 2; i++)
        g_thread_join(load[i]);
    replay_thread(&c); /* and once more, alone */
    g_assert_cmpuint(a.digest, !=, 0);
    g_assert_cmpuint(a.digest, ==, b.digest);
    g_assert_cmpuint(a.digest, ==, c.digest);
}

/* ---- golden values: the same bytes and writes on every machine, in every version ---- */

static uint64_t digest_bytes(uint64_t d, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i + 8 <= len; i += 8)
        d = mb_hash3(d, mb_ld_be64(b + i), i);
    return d;
}

static void test_golden(void)
{
    /* If a change here is intended (a new content model or generator), every recorded
     * result changes with it: update the constants and say so in the commit. */
    SimContent *c = g_new(SimContent, 1);
    TraceMix init = { { 25, 25, 25, 25 } };
    uint8_t *page = g_malloc(SIM_PAGE_SIZE);
    uint64_t d = 0;
    sim_content_init(c, 77, &init);
    for (int cls = 0; cls <= TRACE_NCLASSES; cls++)
        for (uint64_t p = 0; p < 100; p++)
            for (uint32_t v = 0; v < 3; v++) {
                sim_content_page(c, (unsigned)p % 2, p, v * 7, cls, page);
                d = digest_bytes(d, page, SIM_PAGE_SIZE);
            }
    g_test_message("content digest %016" G_GINT64_MODIFIER "x", d);
    g_assert_cmphex(d, ==, GOLDEN_CONTENT);

    const char *kinds[] = { "uniform", "hotspot", "zipf", "seq", "phases" };
    d = 0;
    for (unsigned k = 0; k < G_N_ELEMENTS(kinds); k++) {
        char *spec = g_strdup_printf("%s,size=128M,rate=100M,seed=9,duration=300ms", kinds[k]);
        MbGuest *g = guest(spec, false);
        uint64_t **bm = bitmaps_new(g);
        g->ops->dirty_log_start(g, NULL);
        for (int step = 1; step <= 5; step++) {
            mb_guest_wait_until(g, step * 50000000LL);
            d = mb_hash3(d, g->ops->dirty_log_sync(g, bm), (uint64_t)step);
            d = digest_bytes(d, (const uint8_t *)bm[0], 32768 / 8);
            memset(bm[0], 0, 32768 / 8);
        }
        for (uint64_t p = 0; p < 32768; p += 1021)
            d = digest_bytes(d, g->ops->page_read(g, 0, p, page), SIM_PAGE_SIZE);
        bitmaps_free(g, bm);
        mb_guest_free(g);
        g_free(spec);
    }
    g_test_message("replay digest %016" G_GINT64_MODIFIER "x", d);
    g_assert_cmphex(d, ==, GOLDEN_REPLAY);
    g_free(page);
    g_free(c);
}

/* ---- a 1 TiB guest on a small machine ---- */

static void test_one_tib(void)
{
    MbGuest *g = guest("uniform,size=1T,rate=1G,duration=1s", false);
    g_assert_cmpuint(mb_guest_ram_size(g), ==, 1ULL << 40);
    uint64_t pages = mb_guest_block_pages(g, 0);
    g_assert_cmpuint(pages, ==, 268435456);
    uint64_t **bm = bitmaps_new(g);
    g->ops->dirty_log_start(g, NULL);
    mb_guest_wait_until(g, 100000000);
    uint64_t n = g->ops->dirty_log_sync(g, bm);
    /* 26214 writes (1 GiB/s of 4 KiB pages for 100 ms); a repeat or two among 2^28 pages */
    g_assert_cmpuint(n, <=, 26214);
    g_assert_cmpuint(n, >=, 26200);
    g_assert_cmpuint(mb_bitmap_count(bm[0], pages), ==, n);
    g_assert_cmpuint(g->ops->dirty_log_sync(g, bm), ==, 0);
    uint8_t *scratch = g_malloc(SIM_PAGE_SIZE);
    uint64_t p = mb_bitmap_next_set(bm[0], pages, 0);
    g_assert_cmpuint(p, <, pages);
    g->ops->page_read(g, 0, p, scratch);
    g_free(scratch);
    bitmaps_free(g, bm);
    mb_guest_free(g);
}

/* store=model: a digest per page stands for the page, and verification still catches a
 * wrong page and names it. */
static void test_store_model(void)
{
    const char *spec = "hotspot,size=32M,rate=64M,seed=11,duration=1s,store=model";
    MbGuest *src = guest(spec, false), *dst = guest(spec, true);
    GError *err = NULL;

    g_assert_null(dst->ops->page_host(dst, 0, 0)); /* holds no memory */
    mb_guest_wait_until(src, 1500000000);
    GBytes *st = migrate(src, dst);
    gsize len;
    const uint8_t *blob = g_bytes_get_data(st, &len);
    g_assert_true(dst->ops->load_state(dst, blob, len, &err));
    g_assert_no_error(err);

    /* A page stored with one flipped byte is found and named. */
    uint8_t *page = g_malloc(SIM_PAGE_SIZE), *scratch = g_malloc(SIM_PAGE_SIZE);
    memcpy(page, src->ops->page_read(src, 0, 4321, scratch), SIM_PAGE_SIZE);
    page[100] ^= 1;
    g_assert_true(mb_guest_page_store(dst, 0, 4321, page));
    g_assert_false(dst->ops->verify(dst, &err));
    g_assert_nonnull(strstr(err->message, "page 4321"));
    g_assert_nonnull(strstr(err->message, "1 of 8192"));
    g_clear_error(&err);
    /* A page that should be zero but is not, and one that should not be zero but is. */
    page[100] ^= 1;
    g_assert_true(mb_guest_page_store(dst, 0, 4321, page));
    uint64_t nz = 4322;
    while (mb_buffer_is_zero(src->ops->page_read(src, 0, nz, scratch), SIM_PAGE_SIZE))
        nz++;
    g_assert_true(mb_guest_page_store(dst, 0, nz, NULL));
    g_assert_false(dst->ops->verify(dst, &err));
    g_clear_error(&err);
    g_assert_true(mb_guest_page_store(dst, 0, nz, src->ops->page_read(src, 0, nz, scratch)));
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_no_error(err);
    g_assert_false(mb_guest_page_store(dst, 0, 1u << 20, page)); /* out of range */

    g_free(page);
    g_free(scratch);
    g_bytes_unref(st);
    mb_guest_free(src);
    mb_guest_free(dst);
}

/* Verification split across threads (guests of 64 Ki pages and more) finds the same
 * count and the same first bad page. */
static void test_store_verify_threads(void)
{
    const char *spec = "idle,size=512M,init=random,store=model";
    MbGuest *src = guest(spec, false), *dst = guest(spec, true);
    GError *err = NULL;
    copy_pages(src, dst, NULL);
    uint8_t *page = g_malloc0(SIM_PAGE_SIZE);
    page[7] = 1;
    g_assert_true(mb_guest_page_store(dst, 0, 120000, page));
    g_assert_true(mb_guest_page_store(dst, 0, 100000, page));
    g_assert_false(dst->ops->verify(dst, &err));
    g_assert_nonnull(strstr(err->message, "2 of 131072 pages differ"));
    g_assert_nonnull(strstr(err->message, "page 100000 "));
    g_clear_error(&err);
    copy_pages(src, dst, NULL);
    g_assert_true(dst->ops->verify(dst, &err));
    g_assert_no_error(err);
    g_free(page);
    mb_guest_free(src);
    mb_guest_free(dst);
}

static uint64_t rss_kib(void)
{
    char *text = NULL;
    uint64_t kib = 0;
    g_assert_true(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
    const char *p = strstr(text, "VmRSS:");
    g_assert_nonnull(p);
    g_assert_cmpint(sscanf(p, "VmRSS: %" G_GUINT64_FORMAT, &kib), ==, 1);
    g_free(text);
    return kib;
}

/* Zero pages over never-written memory cost no memory in store=mem, and a 1 TiB
 * destination (store=model by default) is created without committing its size. */
static void test_store_zero_pages_free(void)
{
#ifdef MB_TSAN
    /* RSS would count ThreadSanitizer's shadow of every page touched, not the guest's. */
    g_test_skip("RSS includes ThreadSanitizer's shadow memory");
    return;
#endif
    MbGuest *dst = guest("uniform,size=1G,store=mem,prefault=off", true);
    uint64_t before = rss_kib();
    for (uint64_t p = 0; p < mb_guest_block_pages(dst, 0); p++)
        g_assert_true(mb_guest_page_store(dst, 0, p, NULL));
    uint64_t grown = rss_kib() - before;
    /* 262144 zero pages: only the 32 KiB "written" bitmap may have been read */
    g_assert_cmpuint(grown, <, 4096);
    mb_guest_free(dst);

    before = rss_kib();
    MbGuest *big = guest("uniform,size=1T,rate=100M", true);
    g_assert_null(big->ops->page_host(big, 0, 0));
    for (uint64_t p = 0; p < (1u << 20); p++)
        g_assert_true(mb_guest_page_store(big, 0, p * 255, NULL));
    g_assert_cmpuint(rss_kib() - before, <, 64 * 1024);
    mb_guest_free(big);
}

/* store=mem for more RAM than the host has fails at creation, naming the size. */
static void test_store_does_not_fit(void)
{
    uint64_t avail = mb_host_mem_available();
    if (!avail || avail >= (1ULL << 40)) {
        g_test_skip("this host has 1 TiB available, or no /proc/meminfo");
        return;
    }
    GError *err = NULL;
    g_assert_null(sim_guest_new("uniform,size=1T,store=mem", true, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "guest RAM 1.00 TiB does not fit"));
    g_assert_nonnull(strstr(err->message, "store=model"));
    g_clear_error(&err);
    /* a source holds no memory whatever store says */
    MbGuest *src = guest("uniform,size=1T,store=mem", false);
    mb_guest_free(src);
    g_assert_null(sim_guest_new("uniform,size=1G,store=disk", true, &err));
    g_assert_nonnull(strstr(err->message, "invalid store 'disk'"));
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sim/content", test_content);
    g_test_add_func("/sim/content-equals", test_content_equals);
    g_test_add_func("/sim/dirty-sync", test_dirty_sync);
    g_test_add_func("/sim/throttle", test_throttle);
    g_test_add_func("/sim/pause", test_pause);
    g_test_add_func("/sim/loop-and-warmup", test_loop_and_warmup);
    g_test_add_func("/sim/migrate-verify", test_migrate_verify);
    g_test_add_func("/sim/state-mismatch", test_state_mismatch);
    g_test_add_func("/sim/check-keeps-memory", test_check_keeps_memory);
    g_test_add_func("/sim/failover-pair", test_failover_pair);
    g_test_add_func("/sim/disk", test_disk);
    g_test_add_func("/sim/shared-block", test_shared_block);
    g_test_add_func("/sim/spec", test_spec);
    g_test_add_func("/sim/file-equals-workload", test_file_equals_workload);
    g_test_add_func("/sim/determinism-under-load", test_determinism_under_load);
    g_test_add_func("/sim/golden", test_golden);
    g_test_add_func("/sim/one-tib", test_one_tib);
    g_test_add_func("/sim/store/model", test_store_model);
    g_test_add_func("/sim/store/verify-threads", test_store_verify_threads);
    g_test_add_func("/sim/store/zero-pages-free", test_store_zero_pages_free);
    g_test_add_func("/sim/store/does-not-fit", test_store_does_not_fit);
    return g_test_run();
}
