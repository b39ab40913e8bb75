/* Unit tests for the trace format: round trip, every corruption kind, the text form. */
#include "trace.h"

#include "mb_util.h"

#include <glib/gstdio.h>
#include <zlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

/* Removes the test's scratch directory (flat). */
static void rm_tree(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, n, NULL);
        g_remove(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void make_header(TraceHeader *h)
{
    trace_header_init(h);
    h->nvcpus = 3;
    h->duration_ns = 1000000000;
    h->content_seed = 42;
    TraceMix m = { { 10, 20, 30, 40 } };
    h->init_mix = m;
    trace_header_add_block(h, "pc.ram", 64 << 20, false);
    trace_header_add_block(h, "shm", 1 << 20, true);
    trace_header_set_provenance(h, "test: round trip\n");
}

typedef struct {
    int64_t t;
    TraceEvent e;
} Flat;

/* Writes a small trace with a variety of events; returns them flattened. */
static GArray *write_sample(const char *path, size_t big)
{
    TraceHeader h;
    GError *err = NULL;
    GArray *all = g_array_new(FALSE, FALSE, sizeof(Flat));
    MbRand r;

    make_header(&h);
    mb_rand_seed(&r, 9);
    TraceWriter *w = trace_writer_new(path, &h, 0, &err);
    g_assert_no_error(err);
    int64_t t = 0;
    for (int ep = 0; ep < 20; ep++) {
        size_t n = ep == 7 ? big : 1 + mb_rand_below(&r, 50);
        TraceEvent *ev = g_new(TraceEvent, n);
        for (size_t i = 0; i < n; i++) {
            ev[i].block = mb_rand_below(&r, 4) == 0;
            ev[i].page = mb_rand_below(&r, ev[i].block ? 256 : 16384);
            if (i % 5 == 0)
                ev[i].page = ev[i].block ? 255 : 16383; /* big deltas both ways */
            ev[i].vcpu = (uint32_t)mb_rand_below(&r, 3);
            ev[i].cls = (uint8_t)mb_rand_below(&r, 5);
            Flat f = { t, ev[i] };
            g_array_append_val(all, f);
        }
        g_assert_true(trace_writer_add(w, t, ev, n, &err));
        g_assert_no_error(err);
        g_free(ev);
        if (ep % 3)
            t += 1 + (int64_t)mb_rand_below(&r, 40000000);
    }
    g_assert_true(trace_writer_finish(w, &err));
    g_assert_no_error(err);
    trace_header_clear(&h);
    return all;
}

static GArray *read_all(TraceSource *s, GError **err)
{
    GArray *all = g_array_new(FALSE, FALSE, sizeof(Flat));
    TraceEpoch ep;
    int rc;
    while ((rc = trace_source_next(s, &ep, err)) > 0) {
        g_assert_cmpuint(ep.n, >=, 1);
        g_assert_cmpuint(ep.n, <=, TRACE_EPOCH_MAX_EVENTS);
        for (size_t i = 0; i < ep.n; i++) {
            Flat f = { ep.t_ns, ep.ev[i] };
            g_array_append_val(all, f);
        }
    }
    if (rc < 0) {
        g_array_unref(all);
        return NULL;
    }
    return all;
}

static void assert_same(GArray *a, GArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++) {
        Flat *x = &g_array_index(a, Flat, i), *y = &g_array_index(b, Flat, i);
        g_assert_cmpint(x->t, ==, y->t);
        g_assert_cmpuint(x->e.page, ==, y->e.page);
        g_assert_cmpuint(x->e.block, ==, y->e.block);
        g_assert_cmpuint(x->e.vcpu, ==, y->e.vcpu);
        g_assert_cmpuint(x->e.cls, ==, y->e.cls);
    }
}

static void test_round_trip(void)
{
    char *path = tmp_path("rt.trace");
    GArray *want = write_sample(path, 200000); /* one epoch longer than the limit */
    GError *err = NULL;
    TraceSource *s = trace_open_file(path, &err);
    g_assert_no_error(err);
    const TraceHeader *h = trace_source_header(s);
    g_assert_cmpuint(h->nblocks, ==, 2);
    g_assert_cmpstr(h->blocks[1].name, ==, "shm");
    g_assert_true(h->blocks[1].shared);
    g_assert_cmpuint(h->nvcpus, ==, 3);
    g_assert_cmpuint(h->content_seed, ==, 42);
    g_assert_cmpuint(h->init_mix.pct[3], ==, 40);
    g_assert_cmpstr(h->provenance, ==, "test: round trip\n");
    for (int pass = 0; pass < 2; pass++) { /* and again after rewind */
        GArray *got = read_all(s, &err);
        g_assert_no_error(err);
        assert_same(want, got);
        g_array_unref(got);
        g_assert_true(trace_source_rewind(s, &err));
    }
    uint64_t ev, eps;
    g_assert_true(trace_source_check(s, &ev, &eps, &err));
    g_assert_cmpuint(ev, ==, want->len);
    g_assert_cmpuint(eps, >, 20); /* the long epoch was split */
    trace_source_free(s);
    g_array_unref(want);
    g_free(path);
}

/* Opens and reads to the end; returns the error message or NULL. */
static char *try_read(const uint8_t *data, size_t len)
{
    GError *err = NULL;
    TraceSource *s = trace_open_memory(data, len, "mem", &err);
    if (s) {
        GArray *all = read_all(s, &err);
        if (all)
            g_array_unref(all);
        trace_source_free(s);
    }
    if (!err)
        return NULL;
    char *m = g_strdup(err->message);
    g_error_free(err);
    return m;
}

static void load_small(uint8_t **data, gsize *len)
{
    char *path = tmp_path("small.trace");
    GArray *a = write_sample(path, 10);
    g_array_unref(a);
    g_assert_true(g_file_get_contents(path, (gchar **)data, len, NULL));
    g_free(path);
}

static void test_truncation(void)
{
    uint8_t *data;
    gsize len;
    load_small(&data, &len);
    char *ok = try_read(data, len);
    g_assert_null(ok);
    for (gsize cut = 0; cut < len; cut++) {
        char *m = try_read(data, cut);
        g_assert_nonnull(m);
        g_assert_true(strstr(m, "offset") != NULL);
        g_free(m);
    }
    g_free(data);
}

static void test_bit_flips(void)
{
    uint8_t *data;
    gsize len;
    load_small(&data, &len);
    for (gsize i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            data[i] ^= (uint8_t)(1 << bit);
            char *m = try_read(data, len);
            if (!m)
                g_error("flip of bit %d at offset %zu went unnoticed", bit, (size_t)i);
            g_assert_true(strstr(m, "offset") != NULL);
            g_free(m);
            data[i] ^= (uint8_t)(1 << bit);
        }
    }
    g_free(data);
}

static void test_foreign_and_future(void)
{
    uint8_t *data;
    gsize len;
    load_small(&data, &len);

    char *m = try_read((const uint8_t *)"\x7f"
                                        "ELF\2\1\1\0\0\0\0\0\0\0\0\0\0\0\0",
                       20);
    g_assert_nonnull(strstr(m, "not a migbench trace"));
    g_assert_nonnull(strstr(m, "offset 0"));
    g_free(m);

    uint8_t *fut = g_memdup2(data, len);
    mb_st_be32(fut + 8, 3);
    m = try_read(fut, len);
    g_assert_nonnull(strstr(m, "version 3"));
    g_assert_nonnull(strstr(m, "offset 8"));
    g_free(m);
    g_free(fut);

    uint8_t *more = g_malloc(len + 3);
    memcpy(more, data, len);
    memcpy(more + len, "xyz", 3);
    m = try_read(more, len + 3);
    g_assert_nonnull(strstr(m, "after the end marker"));
    g_free(m);
    g_free(more);

    m = try_read(NULL, 0);
    g_assert_nonnull(strstr(m, "not a migbench trace"));
    g_free(m);
    g_free(data);
}

/* A trace of several blocks: dropping or repeating one is caught by the chaining. */
/* Version 2: a generated trace with a disk is written as version 2, reads back with its
 * disk block (flag, used share) and disk writes; without a disk it stays version 1; a
 * version-1 header claiming a disk block is refused. */
static void test_disk_blocks(void)
{
    GError *err = NULL;
    TraceGenParams p;
    trace_gen_params_init(&p, TRACE_GEN_UNIFORM);
    g_assert_true(trace_gen_params_set(&p, "size", "8M", &err));
    g_assert_true(trace_gen_params_set(&p, "duration", "200ms", &err));
    g_assert_true(trace_gen_params_set(&p, "disk", "16M", &err));
    g_assert_true(trace_gen_params_set(&p, "disk-rate", "4M", &err));
    g_assert_true(trace_gen_params_set(&p, "disk-used", "30%", &err));
    TraceSource *g = trace_gen_new(&p, &err);
    g_assert_no_error(err);
    const TraceHeader *h = trace_source_header(g);
    g_assert_cmpuint(h->nblocks, ==, 2);
    g_assert_cmpuint(trace_header_ram_blocks(h), ==, 1);
    g_assert_true(h->blocks[1].disk);
    g_assert_cmpuint(h->blocks[1].used_pct, ==, 30);
    g_assert_cmpuint(trace_header_total_size(h), ==, 8u << 20);
    char *path = tmp_path("disk.trace");
    TraceWriter *w = trace_writer_new(path, h, 0, &err);
    g_assert_no_error(err);
    TraceEpoch ep;
    uint64_t disk_writes = 0, ram_writes = 0;
    while (trace_source_next(g, &ep, &err) > 0) {
        for (size_t i = 0; i < ep.n; i++)
            *(ep.ev[i].block == 1 ? &disk_writes : &ram_writes) += 1;
        g_assert_true(trace_writer_add(w, ep.t_ns, ep.ev, ep.n, &err));
    }
    g_assert_true(trace_writer_finish(w, &err));
    /* 4 MiB/s of 4 KiB writes for 200 ms; the RAM writes are those without a disk. */
    g_assert_cmpuint(disk_writes, ==, 204);
    g_assert_cmpuint(ram_writes, ==, 409);
    TraceSource *f = trace_open_file(path, &err);
    g_assert_no_error(err);
    const TraceHeader *fh = trace_source_header(f);
    g_assert_cmpuint(fh->version, ==, 2);
    g_assert_true(fh->blocks[1].disk);
    g_assert_cmpuint(fh->blocks[1].used_pct, ==, 30);
    g_assert_cmpuint(trace_header_digest(fh), ==, trace_header_digest(h));
    uint64_t ev;
    g_assert_true(trace_source_check(f, &ev, NULL, &err));
    g_assert_cmpuint(ev, ==, disk_writes + ram_writes);
    trace_source_free(f);

    /* The same file labelled version 1 (checksum fixed up) is refused. */
    uint8_t *data;
    gsize len;
    g_assert_true(g_file_get_contents(path, (gchar **)&data, &len, NULL));
    mb_st_be32(data + 8, 1);
    uint32_t body = mb_ld_be32(data + 12);
    size_t hl = 16 + body;
    mb_st_be32(data + hl, (uint32_t)crc32(0, data, (uInt)hl));
    char *m = try_read(data, len);
    g_assert_nonnull(m);
    g_assert_nonnull(strstr(m, "version 1 trace cannot hold disk blocks"));
    g_free(m);
    g_free(data);

    /* A disk block before a RAM block, or first, is invalid. */
    TraceHeader bad;
    trace_header_init(&bad);
    trace_header_add_disk(&bad, "d", 1 << 20, 0);
    g_assert_false(trace_header_validate(&bad, &err));
    g_assert_nonnull(strstr(err->message, "needs a RAM block"));
    g_clear_error(&err);
    trace_header_clear(&bad);
    trace_source_free(g);

    /* Without a disk the generator's trace stays version 1. */
    trace_gen_params_init(&p, TRACE_GEN_UNIFORM);
    g = trace_gen_new(&p, &err);
    g_assert_cmpuint(trace_header_min_version(trace_source_header(g)), ==, 1);
    trace_source_free(g);
    g_free(path);
}

static void test_block_chaining(void)
{
    char *path = tmp_path("multi.trace");
    TraceHeader h;
    GError *err = NULL;
    make_header(&h);
    TraceWriter *w = trace_writer_new(path, &h, 1, &err);
    TraceEvent ev[1000];
    MbRand r;
    mb_rand_seed(&r, 3);
    for (int ep = 0; ep < 400; ep++) {
        for (int i = 0; i < 1000; i++)
            ev[i] = (TraceEvent){ mb_rand_below(&r, 16384), 0, 0, 2 };
        g_assert_true(trace_writer_add(w, ep * 1000000, ev, 1000, &err));
    }
    g_assert_true(trace_writer_finish(w, &err));
    uint8_t *data;
    gsize len;
    g_assert_true(g_file_get_contents(path, (gchar **)&data, &len, NULL));

    /* Find the blocks. */
    GArray *offs = g_array_new(FALSE, FALSE, sizeof(gsize));
    gsize off = 16 + mb_ld_be32(data + 12) + 4;
    while (!memcmp(data + off, "MBTB", 4)) {
        g_array_append_val(offs, off);
        off += 32 + mb_ld_be32(data + off + 8);
    }
    g_assert_cmpuint(offs->len, >=, 3);
    gsize b1 = g_array_index(offs, gsize, 1), b2 = g_array_index(offs, gsize, 2);

    GByteArray *drop = g_byte_array_new();
    g_byte_array_append(drop, data, (guint)b1);
    g_byte_array_append(drop, data + b2, (guint)(len - b2));
    char *m = try_read(drop->data, drop->len);
    g_assert_nonnull(m);
    g_assert_nonnull(strstr(m, "does not follow"));
    g_free(m);

    GByteArray *dup = g_byte_array_new();
    g_byte_array_append(dup, data, (guint)b2);
    g_byte_array_append(dup, data + b1, (guint)(len - b1));
    m = try_read(dup->data, dup->len);
    g_assert_nonnull(m);
    g_assert_nonnull(strstr(m, "offset"));
    g_free(m);

    g_byte_array_unref(drop);
    g_byte_array_unref(dup);
    g_array_unref(offs);
    g_free(data);
    trace_header_clear(&h);
    g_free(path);
}

static void test_writer_checks(void)
{
    char *path = tmp_path("bad.trace");
    TraceHeader h;
    GError *err = NULL;
    make_header(&h);
    TraceWriter *w = trace_writer_new(path, &h, 0, &err);
    TraceEvent e = { 16384, 0, 0, 1 }; /* one past the end of pc.ram */
    g_assert_false(trace_writer_add(w, 0, &e, 1, &err));
    g_assert_nonnull(strstr(err->message, "out of range"));
    g_clear_error(&err);
    e.page = 0;
    g_assert_true(trace_writer_add(w, 10, &e, 1, &err));
    g_assert_false(trace_writer_add(w, 5, &e, 1, &err)); /* time goes backwards */
    g_clear_error(&err);
    trace_writer_abort(w);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

    h.page_size = 3000;
    g_assert_null(trace_writer_new(path, &h, 0, &err));
    g_assert_nonnull(strstr(err->message, "page size"));
    g_clear_error(&err);
    trace_header_clear(&h);
    g_free(path);
}

static void test_mix(void)
{
    TraceMix m;
    GError *err = NULL;
    g_assert_true(trace_mix_parse("zero:40,random:10,text:30,sparse:20", &m, &err));
    g_assert_cmpuint(m.pct[2], ==, 30);
    g_assert_true(trace_mix_parse("text", &m, &err));
    g_assert_cmpuint(m.pct[2], ==, 100);
    g_assert_false(trace_mix_parse("zero:40,text:30", &m, &err));
    g_assert_nonnull(strstr(err->message, "100"));
    g_clear_error(&err);
    g_assert_false(trace_mix_parse("zero:40,blue:60", &m, &err));
    g_assert_nonnull(strstr(err->message, "blue"));
    g_clear_error(&err);
    /* '+' and '/' join parts too (a mix inside a comma-separated guest spec). */
    g_assert_true(trace_mix_parse("zero:90+sparse:10", &m, &err));
    g_assert_cmpuint(m.pct[0], ==, 90);
    g_assert_cmpuint(m.pct[3], ==, 10);
    g_assert_true(trace_mix_parse("random:50/text:50", &m, &err));
    g_assert_cmpuint(m.pct[1], ==, 50);
    g_assert_cmpuint(m.pct[2], ==, 50);
    /* Errors name the bad token: an unknown class, a part without a percentage, a class
     * given twice; a wrong sum names the sum. */
    const char *bad[] = { "zero:90+blue:10",   "zero:90+sparse",  "zero:50+zero:50",
                          "zero:90+sparse:20", "zero:x+text:100", "" };
    const char *want[] = { "'blue:10'", "'sparse'", "'zero:50'", "110", "'zero:x'", "''" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(trace_mix_parse(bad[i], &m, &err));
        if (!strstr(err->message, want[i]))
            g_error("mix '%s': error '%s' lacks %s", bad[i], err->message, want[i]);
        g_clear_error(&err);
    }
    /* Picks follow the weights. */
    unsigned counts[5] = { 0 };
    g_assert_true(trace_mix_parse("zero:10,random:20,text:30,sparse:40", &m, NULL));
    for (uint64_t i = 0; i < 100000; i++)
        counts[trace_mix_pick(&m, mb_hash3(1, i, 2))]++;
    g_assert_cmpuint(counts[0], ==, 0);
    g_assert_cmpint(ABS((int)counts[1] - 10000), <, 800);
    g_assert_cmpint(ABS((int)counts[4] - 40000), <, 1500);
}

static void test_text_round_trip(void)
{
    char *bin = tmp_path("text.trace"), *txt = tmp_path("text.csv"), *back = tmp_path("back.trace");
    GError *err = NULL;
    GArray *want = write_sample(bin, 100);

    g_assert_true(trace_convert(bin, txt, &err));
    g_assert_no_error(err);
    g_assert_true(trace_convert(txt, back, &err));
    g_assert_no_error(err);
    TraceSource *a = trace_open_file(bin, &err), *b = trace_open_file(back, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(trace_header_digest(trace_source_header(a)), ==,
                     trace_header_digest(trace_source_header(b)));
    GArray *got = read_all(b, &err);
    g_assert_no_error(err);
    assert_same(want, got);
    g_array_unref(got);
    g_array_unref(want);
    trace_source_free(a);
    trace_source_free(b);
    g_free(bin);
    g_free(txt);
    g_free(back);
}

static void test_text_inference_and_errors(void)
{
    char *csv = tmp_path("user.csv"), *out = tmp_path("user.trace");
    GError *err = NULL;
    const char *text = "# from my tool\n"
                       "t_ms,addr,class\n"
                       "1,0x1000,text\n"
                       "1,0x5000,-\n"
                       "3,0x800000,random\n";
    g_assert_true(g_file_set_contents(csv, text, -1, NULL));
    g_assert_true(trace_convert(csv, out, &err));
    g_assert_no_error(err);
    TraceSource *s = trace_open_file(out, &err);
    const TraceHeader *h = trace_source_header(s);
    g_assert_cmpuint(h->nblocks, ==, 1);
    g_assert_cmpuint(h->blocks[0].size, ==, 10ULL << 20); /* page 0x800 rounded up to 2 MiB */
    g_assert_cmpint(h->duration_ns, ==, 3000000);
    g_assert_cmpint(h->method, ==, TRACE_METHOD_CONVERTED);
    GArray *got = read_all(s, &err);
    g_assert_cmpuint(got->len, ==, 3);
    g_assert_cmpuint(g_array_index(got, Flat, 1).e.page, ==, 5);
    g_assert_cmpuint(g_array_index(got, Flat, 1).e.cls, ==, TRACE_CLASS_KEEP);
    g_assert_cmpint(g_array_index(got, Flat, 2).t, ==, 3000000);
    g_array_unref(got);
    trace_source_free(s);

    const char *bad[] = { "t_ns,page\n5,1\n4,2\n",                 /* backwards */
                          "t_ns,page\n5,1,7\n",                    /* field count */
                          "t_ns,colour\n1,2\n",                    /* unknown column */
                          "# block pc.ram 4096\nt_ns,page\n1,1\n", /* outside the block */
                          "t_ns,page,class\n1,1,purple\n" };
    const char *want[] = { ":3:", ":2:", ":1:", ":3:", ":2:" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_true(g_file_set_contents(csv, bad[i], -1, NULL));
        g_assert_false(trace_convert(csv, out, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, want[i]))
            g_error("case %u: '%s' does not name line %s", i, err->message, want[i]);
        g_clear_error(&err);
    }
    g_free(csv);
    g_free(out);
}

/* Traces from other tools: an unknown "# method" is provenance, two- and four-column rows
 * need no header row, and rows without a class give written pages content (a mix, fixed
 * per page) so that a migration moves something; an all-zero result is reported. */
static void test_convert_foreign(void)
{
    char *txt = tmp_path("foreign.txt"), *out = tmp_path("foreign.trace");
    GError *err = NULL;
    GString *text = g_string_new("# method perf-mem\n");

    for (int i = 0; i < 400; i++)
        g_string_append_printf(text, "%d %d\n", i * 1000, (i * 7) % 300);
    g_assert_true(g_file_set_contents(txt, text->str, -1, NULL));
    TraceConvertOptions co = { 0 };
    g_assert_true(trace_convert_opts(txt, out, &co, &err));
    g_assert_no_error(err);
    g_assert_false(co.all_zero);
    TraceSource *s = trace_open_file(out, &err);
    g_assert_no_error(err);
    const TraceHeader *h = trace_source_header(s);
    g_assert_cmpint(h->method, ==, TRACE_METHOD_CONVERTED);
    g_assert_nonnull(strstr(h->provenance, "method: perf-mem\n"));
    g_assert_nonnull(strstr(h->provenance, "converted-from: "));
    GArray *got = read_all(s, &err);
    g_assert_cmpuint(got->len, ==, 400);
    unsigned cls[TRACE_NCLASSES + 1] = { 0 };
    for (guint i = 0; i < got->len; i++) {
        const Flat *f = &g_array_index(got, Flat, i);
        cls[f->e.cls]++;
        /* Fixed per page: the same page always gets the same class. */
        for (guint j = 0; j < i; j++)
            if (g_array_index(got, Flat, j).e.page == f->e.page)
                g_assert_cmpuint(g_array_index(got, Flat, j).e.cls, ==, f->e.cls);
    }
    g_assert_cmpuint(cls[TRACE_CLASS_KEEP], ==, 0);
    g_assert_cmpuint(cls[TRACE_CLASS_TEXT] + cls[TRACE_CLASS_SPARSE], >, 200);
    g_assert_cmpuint(g_array_index(got, Flat, 399).e.page, ==, (399 * 7) % 300);
    g_array_unref(got);
    TraceStats *st = trace_stats_compute(s, 0, &err);
    g_assert_false(trace_stats_all_zero(st));
    trace_stats_free(st);
    trace_source_free(s);

    /* A mix chosen by the caller; all zero is reported, by convert and by stats. */
    TraceMix zero;
    g_assert_true(trace_mix_parse("zero", &zero, NULL));
    co.mix = &zero;
    g_assert_true(trace_convert_opts(txt, out, &co, &err));
    g_assert_true(co.all_zero);
    s = trace_open_file(out, &err);
    st = trace_stats_compute(s, 0, &err);
    g_assert_true(trace_stats_all_zero(st));
    json_object *j = trace_stats_json(st);
    g_assert_true(json_object_get_boolean(json_object_object_get(j, "all-zero")));
    json_object_put(j);
    trace_stats_free(st);
    trace_source_free(s);

    /* "# mix" in the file; four columns t_ns vcpu block page without a header row. */
    g_assert_true(g_file_set_contents(txt, "# mix random\n0 0 0 1\n10 1 0 2\n", -1, NULL));
    g_assert_true(trace_convert_opts(txt, out, &co, &err)); /* co.mix (zero) wins */
    g_assert_true(co.all_zero);
    g_assert_true(trace_convert(txt, out, &err));
    s = trace_open_file(out, &err);
    got = read_all(s, &err);
    g_assert_cmpuint(got->len, ==, 2);
    g_assert_cmpuint(g_array_index(got, Flat, 1).e.vcpu, ==, 1);
    g_assert_cmpuint(g_array_index(got, Flat, 1).e.cls, ==, TRACE_CLASS_RANDOM);
    g_array_unref(got);
    trace_source_free(s);

    /* Three columns cannot be guessed: the error says which layouts work. */
    g_assert_true(g_file_set_contents(txt, "0 1\n5 2 3\n", -1, NULL));
    g_assert_false(trace_convert(txt, out, &err));
    g_assert_nonnull(strstr(err->message, ":2: 3 fields, expected 2"));
    g_assert_nonnull(strstr(err->message, "t_ns,page or t_ns,vcpu,block,page"));
    g_clear_error(&err);
    g_string_free(text, TRUE);
    g_free(txt);
    g_free(out);
}

/* trace_header_clear() releases everything: a cleared header owns nothing (LSan checks
 * that the ASan build leaks nothing) and can be initialised again. */
static void test_header_clear(void)
{
    TraceHeader h;
    trace_header_init(&h);
    trace_header_add_block(&h, "ram", 1 << 20, false);
    trace_header_set_provenance(&h, "test: clear\n");
    trace_header_clear(&h);
    g_assert_null(h.blocks);
    g_assert_null(h.provenance);
    g_assert_cmpuint(h.nblocks, ==, 0);
    g_assert_cmpuint(h.page_size, ==, 4096);
    trace_header_clear(&h); /* idempotent */
    trace_header_init(&h);
    g_assert_cmpstr(h.provenance, ==, "");
    trace_header_clear(&h);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test_trace_XXXXXX", NULL);
    g_test_add_func("/trace/header-clear", test_header_clear);
    g_test_add_func("/trace/round-trip", test_round_trip);
    g_test_add_func("/trace/truncation", test_truncation);
    g_test_add_func("/trace/bit-flips", test_bit_flips);
    g_test_add_func("/trace/foreign-and-future", test_foreign_and_future);
    g_test_add_func("/trace/block-chaining", test_block_chaining);
    g_test_add_func("/trace/disk-blocks", test_disk_blocks);
    g_test_add_func("/trace/writer-checks", test_writer_checks);
    g_test_add_func("/trace/mix", test_mix);
    g_test_add_func("/trace/text-round-trip", test_text_round_trip);
    g_test_add_func("/trace/text-inference-and-errors", test_text_inference_and_errors);
    g_test_add_func("/trace/convert-foreign", test_convert_foreign);
    int rc = g_test_run();
    rm_tree(tmpdir);
    g_free(tmpdir);
    return rc;
}
