/* Unit tests for the synthetic workloads and trace statistics: determinism by seed, the
 * generated stream equals the file `trace gen` writes, each workload's shape. */
#include "trace.h"

#include "mb_util.h"

#include <glib/gstdio.h>
#include <string.h>

static TraceSource *gen(const char *kind, const char *const *opts)
{
    TraceGenParams p;
    TraceGenKind k;
    GError *err = NULL;
    g_assert_true(trace_gen_kind_from_name(kind, &k));
    trace_gen_params_init(&p, k);
    for (int i = 0; opts && opts[i]; i += 2) {
        g_assert_true(trace_gen_params_set(&p, opts[i], opts[i + 1], &err));
        g_assert_no_error(err);
    }
    TraceSource *s = trace_gen_new(&p, &err);
    g_assert_no_error(err);
    return s;
}

/* Digest of the whole stream. */
static uint64_t stream_digest(TraceSource *s, uint64_t *events)
{
    TraceEpoch ep;
    uint64_t d = 1, n = 0;
    g_assert_true(trace_source_rewind(s, NULL));
    while (trace_source_next(s, &ep, NULL) > 0) {
        d = mb_hash3(d, (uint64_t)ep.t_ns, ep.n);
        for (size_t i = 0; i < ep.n; i++)
            d = mb_hash3(d, ep.ev[i].page, (uint64_t)ep.ev[i].vcpu << 16 | ep.ev[i].cls);
        n += ep.n;
    }
    if (events)
        *events = n;
    return d;
}

static void test_determinism(void)
{
    const char *kinds[] = { "uniform", "hotspot", "zipf", "seq", "phases" };
    const char *o7[] = { "size", "256M", "seed", "7", "duration", "2s", NULL };
    const char *o8[] = { "size", "256M", "seed", "8", "duration", "2s", NULL };
    for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
        TraceSource *a = gen(kinds[i], o7), *b = gen(kinds[i], o7), *c = gen(kinds[i], o8);
        uint64_t n;
        uint64_t da = stream_digest(a, &n);
        g_assert_cmpuint(n, >, 0);
        g_assert_cmpuint(da, ==, stream_digest(b, NULL));
        g_assert_cmpuint(da, ==, stream_digest(a, NULL)); /* after rewind */
        if (strcmp(kinds[i], "seq") != 0)                 /* seq does not use randomness */
            g_assert_cmpuint(da, !=, stream_digest(c, NULL));
        g_assert_cmpuint(trace_header_digest(trace_source_header(a)), ==,
                         trace_header_digest(trace_source_header(b)));
        g_assert_cmpuint(trace_header_digest(trace_source_header(a)), !=,
                         trace_header_digest(trace_source_header(c)));
        trace_source_free(a);
        trace_source_free(b);
        trace_source_free(c);
    }
}

/* What the generator yields is what a file written from it contains. */
static void test_gen_equals_file(void)
{
    const char *o[] = { "size", "128M", "rate", "64M", "duration", "3s", NULL };
    TraceSource *g = gen("hotspot", o);
    char *dir = g_dir_make_tmp("test_gen_XXXXXX", NULL);
    char *path = g_build_filename(dir, "h.trace", NULL);
    GError *err = NULL;
    TraceWriter *w = trace_writer_new(path, trace_source_header(g), 0, &err);
    TraceEpoch ep;
    while (trace_source_next(g, &ep, NULL) > 0)
        g_assert_true(trace_writer_add(w, ep.t_ns, ep.ev, ep.n, &err));
    g_assert_true(trace_writer_finish(w, &err));
    g_assert_no_error(err);
    TraceSource *f = trace_open_file(path, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(trace_header_digest(trace_source_header(f)), ==,
                     trace_header_digest(trace_source_header(g)));
    uint64_t n1, n2;
    g_assert_cmpuint(stream_digest(f, &n1), ==, stream_digest(g, &n2));
    g_assert_cmpuint(n1, ==, n2);
    /* rate x duration / page size, exactly */
    g_assert_cmpuint(n1, ==, (64ULL << 20) * 3 / 4096);
    trace_source_free(f);
    trace_source_free(g);
    g_remove(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

/* Counts writes per page over the whole stream (keys: page + 1). */
static GHashTable *page_counts(TraceSource *s, uint64_t *total)
{
    GHashTable *h = g_hash_table_new(g_direct_hash, g_direct_equal);
    TraceEpoch ep;
    *total = 0;
    g_assert_true(trace_source_rewind(s, NULL));
    while (trace_source_next(s, &ep, NULL) > 0) {
        for (size_t i = 0; i < ep.n; i++) {
            gpointer k = GSIZE_TO_POINTER(ep.ev[i].page + 1);
            guint v = GPOINTER_TO_UINT(g_hash_table_lookup(h, k));
            g_hash_table_insert(h, k, GUINT_TO_POINTER(v + 1));
            (*total)++;
        }
    }
    return h;
}

static void test_shapes(void)
{
    uint64_t total;
    /* idle: nothing */
    TraceSource *s = gen("idle", NULL);
    TraceEpoch ep;
    g_assert_cmpint(trace_source_next(s, &ep, NULL), ==, 0);
    trace_source_free(s);

    /* seq: strictly sequential sweep of [1M, 100M) */
    const char *seqo[] = { "duration", "1s", NULL };
    s = gen("seq", seqo);
    uint64_t expect = 256, n = 0;
    while (trace_source_next(s, &ep, NULL) > 0) {
        for (size_t i = 0; i < ep.n; i++, n++) {
            g_assert_cmpuint(ep.ev[i].page, ==, expect);
            g_assert_cmpuint(ep.ev[i].cls, ==, TRACE_CLASS_SPARSE);
            expect = expect + 1 < 25600 ? expect + 1 : 256;
        }
    }
    g_assert_cmpuint(n, ==, 16384); /* 64 MiB/s for 1 s */
    trace_source_free(s);

    /* hotspot: ~90% of the writes hit ~10% of the pages */
    const char *hoto[] = { "size", "64M", "rate", "256M", "duration", "1s", NULL };
    s = gen("hotspot", hoto);
    GHashTable *h = page_counts(s, &total);
    g_assert_cmpuint(total, ==, 65536);
    GList *vals = g_hash_table_get_values(h);
    uint64_t hot = 0;
    for (GList *l = vals; l; l = l->next)
        if (GPOINTER_TO_UINT(l->data) >= 4) /* hot pages: ~36 writes each, cold ~0.4 */
            hot += GPOINTER_TO_UINT(l->data);
    g_assert_cmpfloat((double)hot / (double)total, >, 0.85);
    g_assert_cmpfloat((double)hot / (double)total, <, 0.95);
    g_list_free(vals);
    g_hash_table_unref(h);
    trace_source_free(s);

    /* zipf: the most popular page gets a large share; many pages are touched once */
    const char *zo[] = { "size", "64M", "rate", "256M", "duration", "1s", "skew", "1.2", NULL };
    s = gen("zipf", zo);
    h = page_counts(s, &total);
    vals = g_hash_table_get_values(h);
    guint top = 0;
    for (GList *l = vals; l; l = l->next)
        top = MAX(top, GPOINTER_TO_UINT(l->data));
    /* rank 1 has probability 1/H(16384, 1.2) ~ 0.19 */
    g_assert_cmpfloat((double)top / (double)total, >, 0.15);
    g_assert_cmpfloat((double)top / (double)total, <, 0.23);
    g_list_free(vals);
    g_hash_table_unref(h);
    trace_source_free(s);

    /* phases: each phase writes only inside its own window */
    const char *po[] = { "size",   "64M", "rate", "64M", "duration", "4s",
                         "phases", "4",   "ws",   "25%", NULL };
    s = gen("phases", po);
    while (trace_source_next(s, &ep, NULL) > 0) {
        uint64_t phase = (uint64_t)(ep.t_ns - 1) / 1000000000;
        for (size_t i = 0; i < ep.n; i++) {
            g_assert_cmpuint(ep.ev[i].page, >=, phase * 4096);
            g_assert_cmpuint(ep.ev[i].page, <, phase * 4096 + 4096);
        }
    }
    trace_source_free(s);
}

static void test_params(void)
{
    TraceGenParams p;
    GError *err = NULL;
    trace_gen_params_init(&p, TRACE_GEN_HOTSPOT);
    g_assert_cmpuint(p.size, ==, 1ULL << 30);
    g_assert_false(trace_gen_params_set(&p, "colour", "red", &err));
    g_assert_nonnull(strstr(err->message, "colour"));
    g_clear_error(&err);
    g_assert_false(trace_gen_params_set(&p, "rate", "fast", &err));
    g_assert_nonnull(strstr(err->message, "rate"));
    g_clear_error(&err);
    g_assert_true(trace_gen_params_set(&p, "size", "12K", &err));
    g_assert_true(trace_gen_params_check(&p, &err));
    g_assert_true(trace_gen_params_set(&p, "size", "5000", &err));
    g_assert_false(trace_gen_params_check(&p, &err));
    g_clear_error(&err);
    trace_gen_params_init(&p, TRACE_GEN_SEQ);
    g_assert_true(trace_gen_params_set(&p, "size", "64M", &err));
    g_assert_false(trace_gen_params_check(&p, &err)); /* to=100M beyond the guest */
    g_assert_nonnull(strstr(err->message, "seq range"));
    g_clear_error(&err);
    char *d = trace_gen_params_describe(&p);
    g_assert_nonnull(strstr(d, "seq size=67108864"));
    g_free(d);
    /* A tiny guest still works for every workload. */
    const char *kinds[] = { "uniform", "hotspot", "zipf", "phases" };
    for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
        const char *o[] = { "size", "4K", "duration", "10ms", NULL };
        TraceSource *s = gen(kinds[i], o);
        TraceEpoch ep;
        while (trace_source_next(s, &ep, NULL) > 0)
            for (size_t k = 0; k < ep.n; k++)
                g_assert_cmpuint(ep.ev[k].page, ==, 0);
        trace_source_free(s);
    }
}

static void test_stats(void)
{
    const char *o[] = { "size", "16M", "rate", "40M", "duration", "1s", "hot", "1M", NULL };
    TraceSource *s = gen("hotspot", o);
    GError *err = NULL;
    TraceStats *st = trace_stats_compute(s, 100000000, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(trace_stats_events(st), ==, 10240);
    uint64_t total;
    GHashTable *h = page_counts(s, &total);
    g_assert_cmpuint(trace_stats_distinct_pages(st), ==, g_hash_table_size(h));
    g_hash_table_unref(h);
    json_object *j = trace_stats_json(st);
    json_object *wins = json_object_object_get(j, "windows");
    g_assert_cmpuint(json_object_array_length(wins), ==, 10);
    uint64_t sum = 0;
    for (size_t i = 0; i < json_object_array_length(wins); i++)
        sum += json_object_get_uint64(
            json_object_object_get(json_object_array_get_idx(wins, i), "writes"));
    g_assert_cmpuint(sum, ==, 10240);
    json_object_put(j);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    trace_stats_print(st, f);
    fclose(f);
    g_assert_nonnull(strstr(buf, "hot-page histogram"));
    g_assert_nonnull(strstr(buf, "dirty rate over time"));
    free(buf);
    trace_stats_free(st);
    trace_source_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/trace-gen/determinism", test_determinism);
    g_test_add_func("/trace-gen/equals-file", test_gen_equals_file);
    g_test_add_func("/trace-gen/shapes", test_shapes);
    g_test_add_func("/trace-gen/params", test_params);
    g_test_add_func("/trace-gen/stats", test_stats);
    return g_test_run();
}
