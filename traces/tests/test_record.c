/* Unit tests for the recorder: each method's self-test, and recordings of a small helper
 * program that writes a known set of pages (started by the recorder, and attached to).
 * Synchronisation is by the recorder's own handshakes (the preload library's first and last
 * samples) and its per-sample callback, never by sleeping. */
#include "trace.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELPER_ADDR 0x5a0000000000ULL
static const uint64_t known[] = { 1, 2, 3, 10, 33, 63 };

static const char *helper(void)
{
    const char *h = g_getenv("REC_HELPER");
    g_assert_nonnull(h);
    return h;
}

/* Finds the helper's buffer in the trace's map; returns its first trace page. */
static uint64_t helper_page0(const TraceHeader *h)
{
    gchar **lines = g_strsplit(h->provenance, "\n", -1);
    uint64_t page0 = UINT64_MAX;
    for (int i = 0; lines[i]; i++) {
        unsigned long long a, b, p;
        char blk[16];
        if (sscanf(lines[i], "map: 0x%llx-0x%llx block %15s page %llu", &a, &b, blk, &p) == 4 &&
            a == HELPER_ADDR && !strcmp(blk, "ram"))
            page0 = p;
    }
    g_strfreev(lines);
    if (page0 == UINT64_MAX)
        g_error("helper buffer not in the trace map:\n%s", h->provenance);
    return page0;
}

/* Pages of the helper's 64-page buffer that the trace says were written (bit per page).
 * The helper memsets each page with one byte value, so its content is low-entropy.  A sample
 * may still land in the middle of a memset (the helper can be descheduled there on a loaded
 * machine): that event then sees the page still zero or partly written, and the rest of the
 * memset is a later event, classed sparse if it touched few fingerprint chunks.  So: no event
 * is ever random, and each page's last event, which saw the final bytes, is text or sparse. */
static uint64_t written_mask(const char *path, TraceMethod want_method)
{
    int last_cls[64];
    GError *err = NULL;
    TraceSource *s = trace_open_file(path, &err);
    g_assert_no_error(err);
    const TraceHeader *h = trace_source_header(s);
    g_assert_cmpint(h->method, ==, want_method);
    g_assert_nonnull(strstr(h->provenance, "interval: "));
    g_assert_nonnull(strstr(h->provenance, "date: "));
    uint64_t p0 = helper_page0(h), mask = 0;
    TraceEpoch ep;
    int rc;
    while ((rc = trace_source_next(s, &ep, &err)) > 0)
        for (size_t i = 0; i < ep.n; i++)
            if (ep.ev[i].block == 0 && ep.ev[i].page >= p0 && ep.ev[i].page < p0 + 64) {
                mask |= 1ULL << (ep.ev[i].page - p0);
                g_assert_cmpint(ep.ev[i].cls, !=, TRACE_CLASS_RANDOM);
                last_cls[ep.ev[i].page - p0] = ep.ev[i].cls;
            }
    g_assert_cmpint(rc, ==, 0);
    for (unsigned i = 0; i < 64; i++)
        if (mask & (1ULL << i))
            g_assert_true(last_cls[i] == TRACE_CLASS_TEXT || last_cls[i] == TRACE_CLASS_SPARSE);
    trace_source_free(s);
    return mask;
}

static unsigned open_fds(void)
{
    unsigned n = 0;
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    while (d && g_dir_read_name(d))
        n++;
    if (d)
        g_dir_close(d);
    return n;
}

static uint64_t known_mask(void)
{
    uint64_t m = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(known); i++)
        m |= 1ULL << known[i];
    return m;
}

static void test_selftests(void)
{
    GError *err = NULL;
    g_assert_true(trace_record_selftest(TRACE_METHOD_MEM_HASH, &err));
    g_assert_no_error(err);
    /* The others depend on the kernel; each either works or says why not. */
    TraceMethod others[] = { TRACE_METHOD_UFFD_WP, TRACE_METHOD_SOFT_DIRTY };
    for (unsigned i = 0; i < G_N_ELEMENTS(others); i++) {
        bool ok = trace_record_selftest(others[i], &err);
        g_test_message("%s: %s", trace_method_name(others[i]), ok ? "works" : err->message);
        if (!ok) {
            g_assert_nonnull(err);
            g_assert_nonnull(strstr(err->message, trace_method_name(others[i])));
            g_clear_error(&err);
        }
    }
    g_assert_false(trace_record_selftest(TRACE_METHOD_SYNTHETIC, &err));
    g_clear_error(&err);
}

static void record_command(TraceMethod method)
{
    GError *err = NULL;
    if (!trace_record_selftest(method, &err)) {
        g_test_skip(err->message);
        g_clear_error(&err);
        return;
    }
    char *dir = g_dir_make_tmp("test_record_XXXXXX", NULL);
    char *out = g_build_filename(dir, "helper.trace", NULL);
    char *argv[] = { (char *)helper(), NULL };
    TraceRecordOptions o = {
        .argv = argv, .interval_ns = 20000000, .output = out, .method = (int)method
    };
    TraceRecordResult res;
    g_assert_true(trace_record(&o, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpint(res.method, ==, method);
    g_assert_true(WIFEXITED(res.exit_status) && WEXITSTATUS(res.exit_status) == 0);
    g_assert_cmpuint(res.samples, >=, 1);
    g_assert_cmphex(written_mask(out, method), ==, known_mask());
    g_remove(out);
    g_rmdir(dir);
    g_free(out);
    g_free(dir);
}

static void test_record_uffd(void)
{
    record_command(TRACE_METHOD_UFFD_WP);
}

static void test_record_soft_dirty(void)
{
    record_command(TRACE_METHOD_SOFT_DIRTY);
}

static void test_record_mem_hash(void)
{
    record_command(TRACE_METHOD_MEM_HASH);
}

static void test_record_auto(void)
{
    char *dir = g_dir_make_tmp("test_record_XXXXXX", NULL);
    char *out = g_build_filename(dir, "auto.trace", NULL);
    char *argv[] = { (char *)helper(), NULL };
    TraceRecordOptions o = { .argv = argv, .output = out, .method = -1 };
    TraceRecordResult res;
    GError *err = NULL;
    unsigned fds = open_fds();
    g_assert_true(trace_record(&o, &res, &err));
    g_assert_cmpuint(open_fds(), ==, fds); /* nothing leaked */
    g_assert_no_error(err);
    /* The best working method: uffd-wp where the kernel has it. */
    TraceMethod best = trace_record_selftest(TRACE_METHOD_UFFD_WP, NULL) ? TRACE_METHOD_UFFD_WP
                       : trace_record_selftest(TRACE_METHOD_SOFT_DIRTY, NULL)
                           ? TRACE_METHOD_SOFT_DIRTY
                           : TRACE_METHOD_MEM_HASH;
    g_assert_cmpint(res.method, ==, best);
    g_assert_cmphex(written_mask(out, best), ==, known_mask());

    /* A command that does not exist is a clear error, and leaves no file behind. */
    char *bad[] = { "/nonexistent/program", NULL };
    o.argv = bad;
    g_assert_false(trace_record(&o, &res, &err));
    g_assert_nonnull(strstr(err->message, "cannot run '/nonexistent/program'"));
    g_clear_error(&err);
    g_assert_cmpuint(open_fds(), ==, fds);
    g_remove(out);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_rmdir(dir);
    g_free(out);
    g_free(dir);
}

/* Attach to a running process: it writes after the baseline, and exits after the next
 * sample, both driven from the recorder's per-sample callback. */
typedef struct {
    int to_child, from_child;
    bool wrote;
} AttachCtl;

static void attach_step(void *opaque, uint64_t samples)
{
    AttachCtl *c = opaque;
    char b;
    if (samples == 0) { /* baseline taken: let the helper write, wait until it has */
        g_assert_cmpint(write(c->to_child, "g", 1), ==, 1);
        g_assert_cmpint(read(c->from_child, &b, 1), ==, 1);
        c->wrote = true;
    } else if (c->wrote && c->to_child >= 0) { /* a sample after the writes: let it go */
        close(c->to_child);
        c->to_child = -1;
    }
}

static void test_record_attach(void)
{
    char *dir = g_dir_make_tmp("test_record_XXXXXX", NULL);
    char *out = g_build_filename(dir, "attach.trace", NULL);
    char *argv[] = { (char *)helper(), "wait", NULL };
    GPid pid;
    AttachCtl c = { -1, -1, false };
    GError *err = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                           &pid, &c.to_child, &c.from_child, NULL, &err));
    TraceRecordOptions o = { .pid = pid,
                             .interval_ns = 10000000,
                             .output = out,
                             .method = TRACE_METHOD_MEM_HASH,
                             .on_sample = attach_step,
                             .opaque = &c };
    TraceRecordResult res;
    g_assert_true(trace_record(&o, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpint(res.exit_status, ==, -1); /* not our child */
    g_assert_cmphex(written_mask(out, TRACE_METHOD_MEM_HASH), ==, known_mask());
    int st;
    g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
    g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(c.from_child);
    g_spawn_close_pid(pid);

    /* uffd-wp cannot attach. */
    o.method = TRACE_METHOD_UFFD_WP;
    g_assert_false(trace_record(&o, &res, &err));
    g_assert_nonnull(strstr(err->message, "start the command"));
    g_clear_error(&err);
    g_remove(out);
    g_rmdir(dir);
    g_free(out);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/record/selftests", test_selftests);
    g_test_add_func("/record/uffd-wp", test_record_uffd);
    g_test_add_func("/record/soft-dirty", test_record_soft_dirty);
    g_test_add_func("/record/mem-hash", test_record_mem_hash);
    g_test_add_func("/record/auto", test_record_auto);
    g_test_add_func("/record/attach", test_record_attach);
    return g_test_run();
}
