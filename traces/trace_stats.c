/* trace_stats: what a trace does, in one pass: dirty rate over time, working-set size,
 * hot-page histogram, classes and vCPUs; printed as a table for people or as JSON.
 *
 * Per-page counters live in lazily committed anonymous memory (MAP_NORESERVE), so the pass
 * costs memory only for pages the trace touches, even for a 1 TiB guest. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>
#include <sys/mman.h>

#define HIST_BUCKETS 33 /* writes per page: 1, 2-3, 4-7, ..., >= 2^32 */
#define TOP_N        10
#define MAX_WINDOWS  100000

typedef struct {
    uint64_t writes, distinct, fresh;
} Window;

typedef struct {
    uint64_t count;
    unsigned block;
    uint64_t page;
} TopPage;

struct TraceStats {
    TraceHeader hdr;
    char *name;
    int64_t window_ns;
    GArray *windows; /* Window */
    uint64_t events, epochs, distinct, last_t;
    uint64_t disk_writes, disk_distinct; /* writes to disk blocks (kept out of the rest) */
    uint64_t cls[TRACE_NCLASSES + 1];
    uint64_t *vcpu;
    uint64_t hist_pages[HIST_BUCKETS], hist_writes[HIST_BUCKETS];
    TopPage top[TOP_N];
    unsigned ntop;
};

typedef struct {
    uint32_t *count, *lastwin; /* lastwin is window index + 1 */
    size_t bytes;
} PageArrays;

static void *lazy_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void top_offer(TraceStats *st, unsigned block, uint64_t page, uint64_t count)
{
    unsigned i = st->ntop < TOP_N ? st->ntop++ : TOP_N;
    if (i == TOP_N) {
        if (count <= st->top[TOP_N - 1].count)
            return;
        i = TOP_N - 1;
    }
    while (i > 0 && st->top[i - 1].count < count) {
        st->top[i] = st->top[i - 1];
        i--;
    }
    st->top[i] = (TopPage){ count, block, page };
}

static void finish_pages(TraceStats *st, PageArrays *pa)
{
    for (unsigned b = 0; b < trace_header_ram_blocks(&st->hdr); b++) {
        uint64_t n = trace_block_pages(&st->hdr, b);
        const uint32_t *c = pa[b].count;
        for (uint64_t p = 0; p < n; p++) {
            if (!c[p])
                continue;
            unsigned k = 63 - (unsigned)__builtin_clzll(c[p]);
            st->hist_pages[k]++;
            st->hist_writes[k] += c[p];
            top_offer(st, b, p, c[p]);
        }
    }
}

TraceStats *trace_stats_compute(TraceSource *s, int64_t window_ns, GError **err)
{
    const TraceHeader *h = trace_source_header(s);
    TraceStats *st = g_new0(TraceStats, 1);
    PageArrays *pa = g_new0(PageArrays, h->nblocks);
    TraceEpoch ep;
    int rc;
    bool ok = false;

    trace_header_copy(&st->hdr, h);
    st->name = g_strdup(trace_source_name(s));
    if (window_ns <= 0)
        window_ns = h->duration_ns >= 20 ? (h->duration_ns + 19) / 20 : 1000000000;
    if (h->duration_ns / window_ns >= MAX_WINDOWS)
        window_ns = h->duration_ns / (MAX_WINDOWS - 1) + 1;
    st->window_ns = window_ns;
    st->windows = g_array_new(FALSE, TRUE, sizeof(Window));
    /* An epoch at time t holds the writes made before t: window (t - 1) / window_ns. */
    g_array_set_size(st->windows, (guint)MAX((h->duration_ns + window_ns - 1) / window_ns, 1));
    st->vcpu = g_new0(uint64_t, h->nvcpus);
    for (unsigned b = 0; b < h->nblocks; b++) {
        pa[b].bytes = trace_block_pages(h, b) * sizeof(uint32_t);
        pa[b].count = lazy_alloc(pa[b].bytes);
        pa[b].lastwin = lazy_alloc(pa[b].bytes);
        if (!pa[b].count || !pa[b].lastwin) {
            mb_error_set(err, "cannot reserve per-page counters for block '%s'", h->blocks[b].name);
            goto out;
        }
    }
    if (!trace_source_rewind(s, err))
        goto out;
    unsigned nram = trace_header_ram_blocks(h);
    while ((rc = trace_source_next(s, &ep, err)) > 0) {
        uint32_t wi = ep.t_ns > 0 ? (uint32_t)((ep.t_ns - 1) / window_ns) : 0;
        Window *w = &g_array_index(st->windows, Window, wi);
        st->epochs++;
        st->events += ep.n;
        st->last_t = (uint64_t)ep.t_ns;
        w->writes += ep.n;
        for (size_t i = 0; i < ep.n; i++) {
            const TraceEvent *e = &ep.ev[i];
            PageArrays *a = &pa[e->block];
            if (e->block >= nram) { /* a disk write: counted apart from RAM */
                w->writes--;
                st->disk_writes++;
                if (a->count[e->page] == 0) {
                    a->count[e->page] = 1;
                    st->disk_distinct++;
                }
                continue;
            }
            if (a->count[e->page]++ == 0) {
                st->distinct++;
                w->fresh++;
            }
            if (a->count[e->page] == 0) /* saturate instead of wrapping */
                a->count[e->page] = UINT32_MAX;
            if (a->lastwin[e->page] != wi + 1) {
                a->lastwin[e->page] = wi + 1;
                w->distinct++;
            }
            st->cls[e->cls]++;
            st->vcpu[e->vcpu]++;
        }
    }
    if (rc < 0 || !trace_source_rewind(s, err))
        goto out;
    finish_pages(st, pa);
    ok = true;
out:
    for (unsigned b = 0; b < h->nblocks; b++) {
        if (pa[b].count)
            munmap(pa[b].count, pa[b].bytes ? pa[b].bytes : 1);
        if (pa[b].lastwin)
            munmap(pa[b].lastwin, pa[b].bytes ? pa[b].bytes : 1);
    }
    g_free(pa);
    if (!ok) {
        trace_stats_free(st);
        return NULL;
    }
    return st;
}

uint64_t trace_stats_events(const TraceStats *st)
{
    return st->events;
}

uint64_t trace_stats_distinct_pages(const TraceStats *st)
{
    return st->distinct;
}

void trace_stats_free(TraceStats *st)
{
    if (!st)
        return;
    trace_header_clear(&st->hdr);
    g_free(st->name);
    if (st->windows)
        g_array_unref(st->windows);
    g_free(st->vcpu);
    g_free(st);
}

static double mib_per_s(uint64_t pages, uint32_t page_size, int64_t ns)
{
    return ns > 0 ? (double)pages * page_size / (1 << 20) / ((double)ns / 1e9) : 0;
}

bool trace_stats_all_zero(const TraceStats *st)
{
    if (st->hdr.init_mix.pct[TRACE_CLASS_ZERO - 1] != 100)
        return false;
    for (int c = TRACE_CLASS_ZERO + 1; c <= TRACE_NCLASSES; c++)
        if (st->cls[c])
            return false;
    return true;
}

void trace_stats_print(const TraceStats *st, FILE *out)
{
    const TraceHeader *h = &st->hdr;
    char b1[32], b2[32], b3[32];
    uint64_t total = trace_header_total_size(h);

    fprintf(out, "trace:          %s (%s, %s RAM, %u vCPU%s, %s)\n", st->name,
            trace_method_name(h->method), mb_fmt_bytes(b1, sizeof(b1), (double)total), h->nvcpus,
            h->nvcpus == 1 ? "" : "s", mb_fmt_duration(b2, sizeof(b2), h->duration_ns));
    fprintf(out,
            "writes:         %" G_GUINT64_FORMAT " in %" G_GUINT64_FORMAT " epochs, %.1f MiB/s "
            "on average\n",
            st->events, st->epochs, mib_per_s(st->events, h->page_size, h->duration_ns));
    fprintf(out, "working set:    %" G_GUINT64_FORMAT " distinct pages, %s (%.2f%% of RAM)\n",
            st->distinct, mb_fmt_bytes(b3, sizeof(b3), (double)st->distinct * h->page_size),
            total ? 100.0 * (double)st->distinct * h->page_size / (double)total : 0);
    if (trace_header_disks(h))
        fprintf(out,
                "disk writes:    %" G_GUINT64_FORMAT " of them, %.1f MiB/s, to %" G_GUINT64_FORMAT
                " distinct disk pages (not in the figures below)\n",
                st->disk_writes, mib_per_s(st->disk_writes, h->page_size, h->duration_ns),
                st->disk_distinct);

    fprintf(out, "\ndirty rate over time (window %s):\n",
            mb_fmt_duration(b1, sizeof(b1), st->window_ns));
    fprintf(out, "  %12s %12s %12s %12s %12s %10s\n", "start", "writes", "MiB/s", "distinct",
            "distinct/s", "new pages");
    for (guint i = 0; i < st->windows->len; i++) {
        const Window *w = &g_array_index(st->windows, Window, i);
        int64_t start = (int64_t)i * st->window_ns;
        fprintf(out,
                "  %12s %12" G_GUINT64_FORMAT " %12.2f %12" G_GUINT64_FORMAT
                " %12.2f %10" G_GUINT64_FORMAT "\n",
                mb_fmt_duration(b1, sizeof(b1), start), w->writes,
                mib_per_s(w->writes, h->page_size, st->window_ns), w->distinct,
                mib_per_s(w->distinct, h->page_size, st->window_ns), w->fresh);
    }

    fprintf(out, "\nhot-page histogram (writes per page):\n");
    fprintf(out, "  %-24s %12s %10s %10s\n", "writes", "pages", "% pages", "% writes");
    for (int k = 0; k < HIST_BUCKETS; k++) {
        if (!st->hist_pages[k])
            continue;
        char range[48];
        uint64_t lo = 1ULL << k, hi = (2ULL << k) - 1;
        if (lo == hi)
            g_snprintf(range, sizeof(range), "%" G_GUINT64_FORMAT, lo);
        else
            g_snprintf(range, sizeof(range), "%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT, lo, hi);
        fprintf(out, "  %-24s %12" G_GUINT64_FORMAT " %9.2f%% %9.2f%%\n", range, st->hist_pages[k],
                100.0 * (double)st->hist_pages[k] / (double)MAX(st->distinct, 1),
                100.0 * (double)st->hist_writes[k] / (double)MAX(st->events, 1));
    }
    if (st->ntop) {
        fprintf(out, "\nhottest pages:\n");
        for (unsigned i = 0; i < st->ntop; i++)
            fprintf(out, "  %-14s page %-12" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " writes\n",
                    h->blocks[st->top[i].block].name, st->top[i].page, st->top[i].count);
    }
    fprintf(out, "\nclasses of written pages:");
    for (int c = 0; c <= TRACE_NCLASSES; c++)
        fprintf(out, " %s %.1f%%", trace_class_name(c),
                100.0 * (double)st->cls[c] / (double)MAX(st->events, 1));
    if (trace_stats_all_zero(st))
        fprintf(out, "\nwarning: every page is zero (initial content and every write): a "
                     "migration of this trace moves no page data");
    fprintf(out, "\nwrites per vCPU:");
    for (unsigned v = 0; v < h->nvcpus && v < 64; v++)
        fprintf(out, " %" G_GUINT64_FORMAT, st->vcpu[v]);
    fprintf(out, "%s\n", h->nvcpus > 64 ? " ..." : "");
}

json_object *trace_stats_json(const TraceStats *st)
{
    const TraceHeader *h = &st->hdr;
    json_object *o = json_object_new_object();
    json_object *wins = json_object_new_array();
    json_object *hist = json_object_new_array();
    json_object *top = json_object_new_array();
    json_object *cls = json_object_new_object();
    json_object *vc = json_object_new_array();

    json_object_object_add(o, "name", json_object_new_string(st->name));
    json_object_object_add(o, "header", trace_header_json(h));
    json_object_object_add(o, "events", json_object_new_uint64(st->events));
    json_object_object_add(o, "epochs", json_object_new_uint64(st->epochs));
    json_object_object_add(o, "distinct-pages", json_object_new_uint64(st->distinct));
    json_object_object_add(o, "working-set-bytes",
                           json_object_new_uint64(st->distinct * h->page_size));
    json_object_object_add(
        o, "average-rate-bytes-per-s",
        json_object_new_double(mib_per_s(st->events, h->page_size, h->duration_ns) * (1 << 20)));
    if (trace_header_disks(h)) {
        json_object_object_add(o, "disk-writes", json_object_new_uint64(st->disk_writes));
        json_object_object_add(o, "disk-distinct-pages", json_object_new_uint64(st->disk_distinct));
    }
    json_object_object_add(o, "window-ns", json_object_new_int64(st->window_ns));
    for (guint i = 0; i < st->windows->len; i++) {
        const Window *w = &g_array_index(st->windows, Window, i);
        int64_t start = (int64_t)i * st->window_ns;
        json_object *j = json_object_new_object();
        json_object_object_add(j, "start-ns", json_object_new_int64(start));
        json_object_object_add(j, "writes", json_object_new_uint64(w->writes));
        json_object_object_add(j, "distinct", json_object_new_uint64(w->distinct));
        json_object_object_add(j, "new", json_object_new_uint64(w->fresh));
        json_object_array_add(wins, j);
    }
    json_object_object_add(o, "windows", wins);
    for (int k = 0; k < HIST_BUCKETS; k++) {
        if (!st->hist_pages[k])
            continue;
        json_object *j = json_object_new_object();
        json_object_object_add(j, "min-writes", json_object_new_uint64(1ULL << k));
        json_object_object_add(j, "max-writes", json_object_new_uint64((2ULL << k) - 1));
        json_object_object_add(j, "pages", json_object_new_uint64(st->hist_pages[k]));
        json_object_object_add(j, "writes", json_object_new_uint64(st->hist_writes[k]));
        json_object_array_add(hist, j);
    }
    json_object_object_add(o, "hot-page-histogram", hist);
    for (unsigned i = 0; i < st->ntop; i++) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "block",
                               json_object_new_string(h->blocks[st->top[i].block].name));
        json_object_object_add(j, "page", json_object_new_uint64(st->top[i].page));
        json_object_object_add(j, "writes", json_object_new_uint64(st->top[i].count));
        json_object_array_add(top, j);
    }
    json_object_object_add(o, "hottest-pages", top);
    for (int c = 0; c <= TRACE_NCLASSES; c++)
        json_object_object_add(cls, trace_class_name(c), json_object_new_uint64(st->cls[c]));
    json_object_object_add(o, "classes", cls);
    json_object_object_add(o, "all-zero", json_object_new_boolean(trace_stats_all_zero(st)));
    for (unsigned v = 0; v < h->nvcpus; v++)
        json_object_array_add(vc, json_object_new_uint64(st->vcpu[v]));
    json_object_object_add(o, "writes-per-vcpu", vc);
    return o;
}
