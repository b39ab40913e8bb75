/* trace_text: the plain-text/CSV form of a trace (`trace cat`) and `trace convert`, which
 * turns that form (or a binary trace) into a binary trace (or the text form).
 *
 * The text form is what users can produce with their own tools: a few "# key value" lines
 * for the header (all optional) and one "t_ns,vcpu,block,page,class" row per write (or any
 * subset of columns named in a header row).  What is not declared is inferred in a first
 * pass over the file (RAM size from the largest page, vCPUs, duration), so conversion
 * streams with bounded memory in two passes.  docs/trace-format.md has the grammar. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool trace_text_dump(TraceSource *s, FILE *out, uint64_t max_events, GError **err)
{
    const TraceHeader *h = trace_source_header(s);
    char mix[64];
    TraceEpoch ep;
    int rc;
    uint64_t n = 0;

    fprintf(out,
            "# migbench trace text v1\n# page-size %u\n# vcpus %u\n# duration-ns %" G_GINT64_FORMAT
            "\n# seed %" G_GUINT64_FORMAT "\n# init %s\n# method %s\n",
            h->page_size, h->nvcpus, h->duration_ns, h->content_seed,
            trace_mix_format(&h->init_mix, mix, sizeof(mix)), trace_method_name(h->method));
    for (unsigned b = 0; b < h->nblocks; b++)
        if (h->blocks[b].disk)
            fprintf(out, "# block %s %" G_GUINT64_FORMAT " disk %u\n", h->blocks[b].name,
                    h->blocks[b].size, h->blocks[b].used_pct);
        else
            fprintf(out, "# block %s %" G_GUINT64_FORMAT "%s\n", h->blocks[b].name,
                    h->blocks[b].size, h->blocks[b].shared ? " shared" : "");
    gchar **lines = g_strsplit(h->provenance, "\n", -1);
    for (int i = 0; lines[i]; i++)
        if (*lines[i])
            fprintf(out, "# provenance %s\n", lines[i]);
    g_strfreev(lines);
    fprintf(out, "t_ns,vcpu,block,page,class\n");
    if (!trace_source_rewind(s, err))
        return false;
    while ((rc = trace_source_next(s, &ep, err)) > 0) {
        for (size_t i = 0; i < ep.n; i++) {
            if (max_events && n++ >= max_events)
                goto done;
            fprintf(out, "%" G_GINT64_FORMAT ",%u,%u,%" G_GUINT64_FORMAT ",%s\n", ep.t_ns,
                    ep.ev[i].vcpu, ep.ev[i].block, ep.ev[i].page, trace_class_name(ep.ev[i].cls));
        }
    }
    if (rc < 0)
        return false;
done:
    if (ferror(out)) {
        mb_error_set(err, "write error: %s", g_strerror(errno));
        return false;
    }
    return trace_source_rewind(s, err);
}

/* ---- parsing the text form ---- */

enum { COL_T, COL_VCPU, COL_BLOCK, COL_PAGE, COL_ADDR, COL_CLASS, NCOLS };

typedef struct {
    const char *path;
    TraceHeader h;
    bool have[8]; /* declared: page size, vcpus, duration, seed, init, method, blocks */
    int col[NCOLS];
    int64_t t_scale; /* ns per unit of the time column */
    int ncols;
    GPtrArray *names; /* block names met in rows (inferred blocks) */
    GArray *max_page; /* per block, inferred */
    unsigned max_vcpu;
    int64_t max_t;
    bool header_row_seen;
    TraceMix write_mix;   /* class of written pages when rows carry none */
    bool have_mix_opt;    /* write_mix came from the caller (wins over "# mix") */
    bool nonzero;         /* some written page gets non-zero content */
    char *foreign_method; /* a "# method" migbench does not know, kept as provenance */
} TextIn;

enum { HAVE_PS, HAVE_VCPUS, HAVE_DUR, HAVE_SEED, HAVE_INIT, HAVE_METHOD, HAVE_BLOCKS };

static bool directive(TextIn *in, char *line, unsigned lineno, GString *prov, GError **err)
{
    char *p = line + 1;
    while (*p == ' ' || *p == '\t')
        p++;
    char *key = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = 0;
    while (*p == ' ' || *p == '\t')
        p++;
    char *val = p;
    uint64_t v;
    GError *e = NULL;

    if (!strcmp(key, "page-size")) {
        if (!mb_parse_size(val, &v, &e) || v > UINT32_MAX)
            goto bad;
        in->h.page_size = (uint32_t)v;
        in->have[HAVE_PS] = true;
    } else if (!strcmp(key, "vcpus")) {
        if (!mb_parse_u64(val, &v) || !v || v > TRACE_MAX_VCPUS)
            goto bad;
        in->h.nvcpus = (uint32_t)v;
        in->have[HAVE_VCPUS] = true;
    } else if (!strcmp(key, "duration-ns")) {
        if (!mb_parse_u64(val, &v) || v > INT64_MAX)
            goto bad;
        in->h.duration_ns = (int64_t)v;
        in->have[HAVE_DUR] = true;
    } else if (!strcmp(key, "duration")) {
        if (!mb_parse_duration(val, &in->h.duration_ns, &e))
            goto bad;
        in->have[HAVE_DUR] = true;
    } else if (!strcmp(key, "seed")) {
        if (!mb_parse_u64(val, &in->h.content_seed))
            goto bad;
    } else if (!strcmp(key, "init")) {
        if (!trace_mix_parse(val, &in->h.init_mix, &e))
            goto bad;
    } else if (!strcmp(key, "method")) {
        int m = trace_method_from_name(val);
        if (m < 0) {
            /* Another tool's method: the trace is "converted", the name is provenance. */
            if (prov && *val) {
                g_free(in->foreign_method);
                in->foreign_method = g_strdup(val);
            }
        } else {
            in->h.method = (TraceMethod)m;
            in->have[HAVE_METHOD] = true;
        }
    } else if (!strcmp(key, "mix")) {
        TraceMix mx;
        if (!trace_mix_parse(val, &mx, &e))
            goto bad;
        if (!in->have_mix_opt)
            in->write_mix = mx;
    } else if (!strcmp(key, "block")) {
        gchar **f = g_strsplit_set(val, " \t", -1);
        int nf = 0;
        gchar *fields[4] = { NULL, NULL, NULL, NULL };
        for (int i = 0; f[i]; i++)
            if (*f[i] && nf < 4)
                fields[nf++] = f[i];
        /* NAME SIZE [shared | disk [USED-PERCENT]] */
        bool disk = nf >= 3 && !strcmp(fields[2], "disk");
        char *end = NULL;
        unsigned long used = disk && nf == 4 ? strtoul(fields[3], &end, 10) : 0;
        bool ok = nf >= 2 && mb_parse_size(fields[1], &v, NULL) &&
                  (nf < 3 || (nf == 3 && !strcmp(fields[2], "shared")) || disk) &&
                  (!disk || nf == 3 || (end && !*end && used <= 100)) &&
                  strlen(fields[0]) <= TRACE_BLOCK_NAME_MAX;
        if (ok && in->h.nblocks < TRACE_MAX_BLOCKS) {
            if (disk)
                trace_header_add_disk(&in->h, fields[0], v, (unsigned)used);
            else
                trace_header_add_block(&in->h, fields[0], v, nf == 3);
        }
        g_strfreev(f);
        if (!ok)
            goto bad;
        in->have[HAVE_BLOCKS] = true;
    } else if (!strcmp(key, "provenance")) {
        if (prov)
            g_string_append_printf(prov, "%s\n", val);
    }
    /* Anything else is a comment. */
    return true;
bad:
    mb_error_set(err, "%s:%u: invalid '# %s' line%s%s", in->path, lineno, key, e ? ": " : "",
                 e ? e->message : "");
    g_clear_error(&e);
    return false;
}

static bool header_row(TextIn *in, gchar **f, int nf, unsigned lineno, GError **err)
{
    for (int i = 0; i < NCOLS; i++)
        in->col[i] = -1;
    for (int i = 0; i < nf; i++) {
        const char *c = f[i];
        int which = -1;
        if (!strcmp(c, "t_ns") || !strcmp(c, "time_ns") || !strcmp(c, "t")) {
            which = COL_T;
            in->t_scale = 1;
        } else if (!strcmp(c, "t_us")) {
            which = COL_T;
            in->t_scale = 1000;
        } else if (!strcmp(c, "t_ms")) {
            which = COL_T;
            in->t_scale = 1000000;
        } else if (!strcmp(c, "vcpu")) {
            which = COL_VCPU;
        } else if (!strcmp(c, "block")) {
            which = COL_BLOCK;
        } else if (!strcmp(c, "page")) {
            which = COL_PAGE;
        } else if (!strcmp(c, "addr")) {
            which = COL_ADDR;
        } else if (!strcmp(c, "class")) {
            which = COL_CLASS;
        }
        if (which < 0 || in->col[which] >= 0) {
            mb_error_set(err,
                         "%s:%u: unknown or repeated column '%s' (columns: t_ns, t_us, t_ms, "
                         "vcpu, block, page, addr, class)",
                         in->path, lineno, c);
            return false;
        }
        in->col[which] = i;
    }
    if (in->col[COL_T] < 0 || (in->col[COL_PAGE] < 0) == (in->col[COL_ADDR] < 0)) {
        mb_error_set(err, "%s:%u: the header row needs a time column and one of page or addr",
                     in->path, lineno);
        return false;
    }
    in->ncols = nf;
    in->header_row_seen = true;
    return true;
}

static gchar **split_row(char *line, int *nf)
{
    gchar **f = g_strsplit_set(line, strchr(line, ',') ? "," : " \t", -1);
    int k = 0;
    for (int i = 0; f[i]; i++) {
        g_strstrip(f[i]);
        if (*f[i] || strchr(line, ','))
            f[k++] = f[i];
        else
            g_free(f[i]);
    }
    f[k] = NULL;
    *nf = k;
    return f;
}

/* Resolves a block field: an index or a name (declared, or inferred when none declared). */
static int block_of(TextIn *in, const char *s, bool infer)
{
    uint64_t v;
    if (mb_parse_u64(s, &v))
        return v < TRACE_MAX_BLOCKS && (infer || v < in->h.nblocks) ? (int)v : -1;
    if (in->have[HAVE_BLOCKS]) {
        for (unsigned b = 0; b < in->h.nblocks; b++)
            if (!strcmp(in->h.blocks[b].name, s))
                return (int)b;
        return -1;
    }
    for (guint i = 0; i < in->names->len; i++)
        if (!strcmp(g_ptr_array_index(in->names, i), s))
            return (int)i;
    if (!infer || in->names->len >= TRACE_MAX_BLOCKS || strlen(s) > TRACE_BLOCK_NAME_MAX)
        return -1;
    g_ptr_array_add(in->names, g_strdup(s));
    return (int)in->names->len - 1;
}

/* Parses one data row; infer = first pass (collect sizes), otherwise range-checked. */
static bool data_row(TextIn *in, gchar **f, int nf, unsigned lineno, bool infer, int64_t *t,
                     TraceEvent *e, GError **err)
{
    uint64_t v;
    const char *what = "time";

    if (nf != in->ncols) {
        mb_error_set(err,
                     "%s:%u: %d fields, expected %d (without a header row, rows are "
                     "t_ns,page or t_ns,vcpu,block,page[,class])",
                     in->path, lineno, nf, in->ncols);
        return false;
    }
    if (!mb_parse_u64(f[in->col[COL_T]], &v) || v > (uint64_t)INT64_MAX / (uint64_t)in->t_scale)
        goto bad;
    *t = (int64_t)v * in->t_scale;
    e->vcpu = 0;
    e->block = 0;
    e->cls = TRACE_CLASS_KEEP;
    what = "vcpu";
    if (in->col[COL_VCPU] >= 0) {
        if (!mb_parse_u64(f[in->col[COL_VCPU]], &v) || v >= TRACE_MAX_VCPUS)
            goto bad;
        e->vcpu = (uint32_t)v;
    }
    what = "block";
    if (in->col[COL_BLOCK] >= 0) {
        int b = block_of(in, f[in->col[COL_BLOCK]], infer);
        if (b < 0)
            goto bad;
        e->block = (uint16_t)b;
    }
    what = "page";
    if (in->col[COL_PAGE] >= 0) {
        if (!mb_parse_u64(f[in->col[COL_PAGE]], &v))
            goto bad;
        e->page = v;
    } else {
        what = "addr";
        const char *a = f[in->col[COL_ADDR]];
        char *end;
        errno = 0;
        v = g_ascii_strtoull(a, &end, 0);
        if (!*a || *end || errno)
            goto bad;
        e->page = v / in->h.page_size;
    }
    if (e->page >> TRACE_MAX_PAGE_BITS)
        goto bad;
    what = "class";
    if (in->col[COL_CLASS] >= 0) {
        int c = trace_class_from_name(f[in->col[COL_CLASS]]);
        if (c < 0)
            goto bad;
        e->cls = (uint8_t)c;
    } else if (!infer) {
        /* No class column: a class from the write mix, fixed per page (like `trace gen`),
         * so that written pages have content and the migration moves something. */
        e->cls = (uint8_t)trace_mix_pick(&in->write_mix,
                                         mb_hash3(in->h.content_seed, e->block, e->page));
    }
    return true;
bad:
    mb_error_set(err, "%s:%u: invalid %s field", in->path, lineno, what);
    return false;
}

/* One pass over the file.  Pass 1 (w == NULL) reads directives and infers sizes; pass 2
 * writes the events.  Rows must be in time order. */
static bool text_pass(TextIn *in, FILE *f, TraceWriter *w, GString *prov, GError **err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    int64_t last_t = 0;
    GArray *batch = g_array_new(FALSE, FALSE, sizeof(TraceEvent));
    bool ok = true;

    rewind(f);
    in->header_row_seen = false;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            continue;
        if (*p == '#') {
            if (!w)
                ok = directive(in, p, lineno, prov, err);
            continue;
        }
        int nf;
        gchar **fields = split_row(p, &nf);
        if (!in->header_row_seen && nf > 0 && g_ascii_isalpha(fields[0][0])) {
            ok = header_row(in, fields, nf, lineno, err);
            g_strfreev(fields);
            continue;
        }
        if (!in->header_row_seen) {
            /* No header row: the column count tells the layout. */
            gchar *full[] = { "t_ns", "vcpu", "block", "page", "class", NULL };
            gchar *no_class[] = { "t_ns", "vcpu", "block", "page", NULL };
            gchar *two[] = { "t_ns", "page", NULL };
            if (nf == 2)
                header_row(in, two, 2, lineno, NULL);
            else if (nf == 4)
                header_row(in, no_class, 4, lineno, NULL);
            else
                header_row(in, full, 5, lineno, NULL);
        }
        int64_t t;
        TraceEvent e;
        ok = data_row(in, fields, nf, lineno, !w, &t, &e, err);
        g_strfreev(fields);
        if (!ok)
            break;
        if (t < last_t) {
            mb_error_set(err,
                         "%s:%u: time %" G_GINT64_FORMAT " goes backwards (rows must be in "
                         "time order)",
                         in->path, lineno, t);
            ok = false;
            break;
        }
        if (!w) {
            if (e.block >= in->max_page->len)
                g_array_set_size(in->max_page, e.block + 1u);
            uint64_t *mp = &g_array_index(in->max_page, uint64_t, e.block);
            *mp = MAX(*mp, e.page + 1);
            in->max_vcpu = MAX(in->max_vcpu, e.vcpu);
            in->max_t = MAX(in->max_t, t);
            last_t = t;
            continue;
        }
        if (e.block >= in->h.nblocks || e.page >= trace_block_pages(&in->h, e.block) ||
            e.vcpu >= in->h.nvcpus || t > in->h.duration_ns) {
            mb_error_set(
                err,
                "%s:%u: write outside the declared layout (block %u page %" G_GUINT64_FORMAT
                ", vCPU %u, time %" G_GINT64_FORMAT " ns)",
                in->path, lineno, e.block, e.page, e.vcpu, t);
            ok = false;
            break;
        }
        if ((t != last_t || batch->len == TRACE_EPOCH_MAX_EVENTS) && batch->len) {
            GError *we = NULL;
            ok = trace_writer_add(w, last_t, (TraceEvent *)batch->data, batch->len, &we);
            g_array_set_size(batch, 0);
            if (!ok) {
                mb_error_set(err, "%s:%u: %s", in->path, lineno, we->message);
                g_error_free(we);
                break;
            }
        }
        last_t = t;
        if (e.cls != TRACE_CLASS_ZERO && e.cls != TRACE_CLASS_KEEP)
            in->nonzero = true;
        g_array_append_val(batch, e);
    }
    if (ok && w && batch->len)
        ok = trace_writer_add(w, last_t, (TraceEvent *)batch->data, batch->len, err);
    if (ok && ferror(f)) {
        mb_error_set(err, "%s: read error", in->path);
        ok = false;
    }
    free(line);
    g_array_unref(batch);
    return ok;
}

/* Fills what the directives did not declare from what pass 1 saw. */
static void infer_header(TextIn *in)
{
    TraceHeader *h = &in->h;
    if (!in->have[HAVE_BLOCKS]) {
        unsigned n = MAX(in->max_page->len, MAX(in->names->len, 1u));
        for (unsigned b = 0; b < n; b++) {
            uint64_t pages = b < in->max_page->len ? g_array_index(in->max_page, uint64_t, b) : 0;
            pages = MAX((pages + 511) / 512 * 512, 512); /* 2 MiB granules of 4 KiB pages */
            char name[32];
            const char *nm = b < in->names->len ? g_ptr_array_index(in->names, b) : NULL;
            if (!nm) {
                g_snprintf(name, sizeof(name), n == 1 ? "pc.ram" : "block%u", b);
                nm = name;
            }
            trace_header_add_block(h, nm, pages * h->page_size, false);
        }
    }
    if (!in->have[HAVE_VCPUS])
        h->nvcpus = in->max_vcpu + 1;
    if (!in->have[HAVE_DUR])
        h->duration_ns = in->max_t;
    if (!in->have[HAVE_METHOD])
        h->method = TRACE_METHOD_CONVERTED;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !g_ascii_strcasecmp(s + a - b, suf);
}

static bool mix_all_zero(const TraceMix *m)
{
    return m->pct[TRACE_CLASS_ZERO - 1] == 100;
}

static bool convert_binary(const char *inp, const char *out, bool *nonzero, GError **err)
{
    TraceSource *s = trace_open_file(inp, err);
    if (!s)
        return false;
    bool ok;
    *nonzero = !mix_all_zero(&trace_source_header(s)->init_mix);
    if (has_suffix(out, ".txt") || has_suffix(out, ".csv")) {
        *nonzero = true; /* the text form is not migrated: nothing to warn about */
        FILE *f = fopen(out, "w");
        if (!f) {
            mb_error_set(err, "%s: cannot create: %s", out, g_strerror(errno));
            trace_source_free(s);
            return false;
        }
        ok = trace_text_dump(s, f, 0, err);
        if (fclose(f) != 0 && ok) {
            mb_error_set(err, "%s: write error", out);
            ok = false;
        }
    } else {
        TraceWriter *w = trace_writer_new(out, trace_source_header(s), 0, err);
        TraceEpoch ep;
        int rc = 0;
        ok = w != NULL;
        while (ok && (rc = trace_source_next(s, &ep, err)) > 0) {
            for (size_t i = 0; i < ep.n && !*nonzero; i++)
                *nonzero = ep.ev[i].cls != TRACE_CLASS_ZERO && ep.ev[i].cls != TRACE_CLASS_KEEP;
            ok = trace_writer_add(w, ep.t_ns, ep.ev, ep.n, err);
        }
        ok = ok && rc == 0;
        if (w)
            ok = ok ? trace_writer_finish(w, err) : (trace_writer_abort(w), false);
    }
    trace_source_free(s);
    return ok;
}

bool trace_convert(const char *inp, const char *out, GError **err)
{
    return trace_convert_opts(inp, out, NULL, err);
}

bool trace_convert_opts(const char *inp, const char *out, TraceConvertOptions *opts, GError **err)
{
    FILE *f = fopen(inp, "r");
    char magic[TRACE_MAGIC_LEN];
    bool nonzero = true;

    if (!f) {
        mb_error_set(err, "%s: cannot open: %s", inp, g_strerror(errno));
        return false;
    }
    if (fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
        !memcmp(magic, TRACE_MAGIC, TRACE_MAGIC_LEN)) {
        fclose(f);
        bool ok = convert_binary(inp, out, &nonzero, err);
        if (opts)
            opts->all_zero = ok && !nonzero;
        return ok;
    }
    TextIn in = { .path = inp, .t_scale = 1 };
    trace_header_init(&in.h);
    if (opts && opts->mix) {
        in.write_mix = *opts->mix;
        in.have_mix_opt = true;
    } else {
        trace_mix_parse(TRACE_CONVERT_DEFAULT_MIX, &in.write_mix, NULL);
    }
    in.names = g_ptr_array_new_with_free_func(g_free);
    in.max_page = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    GString *prov = g_string_new("");
    TraceWriter *w = NULL;
    bool ok = text_pass(&in, f, NULL, prov, err);
    if (ok) {
        infer_header(&in);
        if (!prov->len)
            g_string_append_printf(prov, "converted-from: %s\n", inp);
        if (in.foreign_method)
            g_string_append_printf(prov, "method: %s\n", in.foreign_method);
        trace_header_set_provenance(&in.h, prov->str);
        w = trace_writer_new(out, &in.h, 0, err);
        ok = w && text_pass(&in, f, w, NULL, err);
    }
    if (w)
        ok = ok ? trace_writer_finish(w, err) : (trace_writer_abort(w), false);
    if (opts)
        opts->all_zero = ok && !in.nonzero && mix_all_zero(&in.h.init_mix);
    fclose(f);
    g_string_free(prov, TRUE);
    g_free(in.foreign_method);
    g_ptr_array_unref(in.names);
    g_array_unref(in.max_page);
    trace_header_clear(&in.h);
    return ok;
}
