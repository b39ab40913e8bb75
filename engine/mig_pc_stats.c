/* mig_pc_stats: blocktime and request latency arithmetic (see mig_pc_stats.h). */
#include "mig_pc_stats.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t t;
    int d; /* +1 a stall starts, -1 one ends */
} Edge;

struct MigPcStats {
    unsigned nvcpus;
    int64_t *vcpu_ns;
    GArray *edges;     /* Edge */
    GArray *latencies; /* int64_t ns */
};

MigPcStats *mig_pc_stats_new(unsigned nvcpus)
{
    MigPcStats *s = g_new0(MigPcStats, 1);
    s->nvcpus = nvcpus;
    s->vcpu_ns = g_new0(int64_t, nvcpus ? nvcpus : 1);
    s->edges = g_array_new(FALSE, FALSE, sizeof(Edge));
    s->latencies = g_array_new(FALSE, FALSE, sizeof(int64_t));
    return s;
}

void mig_pc_stats_free(MigPcStats *s)
{
    if (!s)
        return;
    g_free(s->vcpu_ns);
    g_array_free(s->edges, TRUE);
    g_array_free(s->latencies, TRUE);
    g_free(s);
}

void mig_pc_stats_stall(MigPcStats *s, unsigned vcpu, int64_t from, int64_t to)
{
    if (vcpu >= s->nvcpus || to <= from)
        return;
    s->vcpu_ns[vcpu] += to - from;
    Edge a = { from, +1 }, b = { to, -1 };
    g_array_append_val(s->edges, a);
    g_array_append_val(s->edges, b);
}

void mig_pc_stats_latency(MigPcStats *s, int64_t ns)
{
    g_array_append_val(s->latencies, ns);
}

unsigned mig_pc_stats_nvcpus(const MigPcStats *s)
{
    return s->nvcpus;
}

int64_t mig_pc_stats_vcpu_ns(const MigPcStats *s, unsigned vcpu)
{
    return vcpu < s->nvcpus ? s->vcpu_ns[vcpu] : 0;
}

/* Ends before starts at the same instant: touching intervals do not overlap. */
static int cmp_edge(const void *a, const void *b)
{
    const Edge *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->d - y->d;
}

int64_t mig_pc_stats_all_blocked_ns(const MigPcStats *s)
{
    if (!s->nvcpus || !s->edges->len)
        return 0;
    GArray *e = g_array_sized_new(FALSE, FALSE, sizeof(Edge), s->edges->len);
    g_array_append_vals(e, s->edges->data, s->edges->len);
    qsort(e->data, e->len, sizeof(Edge), cmp_edge);
    int64_t total = 0, since = 0;
    int blocked = 0;
    for (guint i = 0; i < e->len; i++) {
        Edge *x = &g_array_index(e, Edge, i);
        if (blocked == (int)s->nvcpus)
            total += x->t - since;
        blocked += x->d;
        since = x->t;
    }
    g_array_free(e, TRUE);
    return total;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void mig_pc_stats_latency_summary(const MigPcStats *s, MigPcLatency *out)
{
    memset(out, 0, sizeof(*out));
    out->count = s->latencies->len;
    if (!out->count)
        return;
    int64_t *v = g_new(int64_t, out->count);
    memcpy(v, s->latencies->data, out->count * sizeof(int64_t));
    qsort(v, out->count, sizeof(int64_t), cmp_i64);
    /* Nearest rank: the smallest value with at least p% of the values at or below it. */
    out->p50 = v[(out->count * 50 + 99) / 100 - 1];
    out->p99 = v[(out->count * 99 + 99) / 100 - 1];
    out->max = v[out->count - 1];
    for (uint64_t i = 0; i < out->count; i++) {
        int64_t us = v[i] / 1000;
        int b = us <= 1 ? 0 : 63 - __builtin_clzll((uint64_t)us);
        out->hist[MIN(b, MIG_PC_HIST_BUCKETS - 1)]++;
    }
    g_free(v);
}

json_object *mig_pc_stats_json(const MigPcStats *s)
{
    json_object *o = json_object_new_object(), *v = json_object_new_array();
    MigPcLatency l;

    mig_pc_stats_latency_summary(s, &l);
    json_object_object_add(o, "requests", json_object_new_uint64(l.count));
    json_object_object_add(o, "blocktime-ms",
                           json_object_new_int64(mig_pc_stats_all_blocked_ns(s) / 1000000));
    for (unsigned i = 0; i < s->nvcpus; i++)
        json_object_array_add(v, json_object_new_int64(s->vcpu_ns[i] / 1000000));
    json_object_object_add(o, "vcpu-blocktime-ms", v);
    json_object *lat = json_object_new_object(), *h = json_object_new_array();
    json_object_object_add(lat, "p50", json_object_new_int64(l.p50 / 1000));
    json_object_object_add(lat, "p99", json_object_new_int64(l.p99 / 1000));
    json_object_object_add(lat, "max", json_object_new_int64(l.max / 1000));
    int last = -1;
    for (int i = 0; i < MIG_PC_HIST_BUCKETS; i++)
        if (l.hist[i])
            last = i;
    for (int i = 0; i <= last; i++)
        json_object_array_add(h, json_object_new_uint64(l.hist[i]));
    json_object_object_add(lat, "histogram-log2", h);
    json_object_object_add(o, "latency-us", lat);
    return o;
}
