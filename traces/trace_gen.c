/* trace_gen: synthetic workloads as a TraceSource (idle, uniform, hotspot, zipf, seq,
 * phases), generated on the fly, deterministic by seed.
 *
 * The simulator replays a generator exactly like a file, and `trace gen` writes what a
 * generator yields, so `sim:hotspot,seed=7` and a file made by `trace gen hotspot --seed 7`
 * are the same trace (same header, same digest, same epochs).
 *
 * Determinism on any machine: the event stream uses integer arithmetic and the project's
 * xoshiro PRNG; the one workload that needs real numbers (zipf) uses exp/log built here from
 * IEEE basic operations only, never libm, whose last bits may differ between versions or
 * CPU-dispatched variants. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <math.h>
#include <string.h>

/* No fused multiply-add contraction, which would change roundings on FMA machines: GCC
 * does not contract in ISO C mode (-std=c11, the project's setting), clang needs telling. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define HOT_RUN             16  /* hot sets are scattered in runs of 16 pages (64 KiB) */
#define DISK_RUN            256 /* disk writes come in sequential runs of 1 MiB */
#define TRACE_GEN_ALGORITHM 1   /* bump when any workload's writes change */

/* ---- deterministic exp/log (basic IEEE operations, frexp/ldexp are exact) ---- */
static const double LN2 = 0.69314718055994530942;

static double det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e--;
    }
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 1; k <= 41; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2 * sum + e * LN2;
}

static double det_exp(double x)
{
    if (x < -745)
        return 0;
    if (x > 709)
        x = 709;
    double kf = floor(x / LN2 + 0.5);
    double r = x - kf * LN2, term = 1, sum = 1;
    for (int k = 1; k <= 20; k++) {
        term *= r / k;
        sum += term;
    }
    return ldexp(sum, (int)kf);
}

/* log1p(x)/x and expm1(x)/x, continuous at 0. */
static double helper1(double x)
{
    return fabs(x) > 1e-4 ? det_log(1 + x) / x : 1 - x * (0.5 - x * (1.0 / 3 - x * 0.25));
}

static double helper2(double x)
{
    return fabs(x) > 1e-4 ? (det_exp(x) - 1) / x
                          : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + x * 0.25));
}

/* Zipf over ranks 1..n by rejection-inversion (Hoermann and Derflinger, 1996): O(1) per
 * sample and no tables, so it works for 2^28-page guests. */
typedef struct {
    double s, n, hx1, hn, thr;
} Zipf;

static double zipf_hint(const Zipf *z, double x)
{
    double lx = det_log(x);
    return helper2((1 - z->s) * lx) * lx;
}

static double zipf_h(const Zipf *z, double x)
{
    return det_exp(-z->s * det_log(x));
}

static double zipf_hinv(const Zipf *z, double x)
{
    double t = x * (1 - z->s);
    if (t < -1)
        t = -1;
    return det_exp(helper1(t) * x);
}

static void zipf_init(Zipf *z, double s, uint64_t n)
{
    z->s = s;
    z->n = (double)n;
    z->hx1 = zipf_hint(z, 1.5) - 1;
    z->hn = zipf_hint(z, z->n + 0.5);
    z->thr = 2 - zipf_hinv(z, zipf_hint(z, 2.5) - zipf_h(z, 2));
}

static uint64_t zipf_sample(const Zipf *z, MbRand *r)
{
    for (;;) {
        double u = z->hn + mb_rand_double(r) * (z->hx1 - z->hn);
        double x = zipf_hinv(z, u);
        double kd = floor(x + 0.5);
        if (kd < 1)
            kd = 1;
        if (kd > z->n)
            kd = z->n;
        if (kd - x <= z->thr || u >= zipf_hint(z, kd + 0.5) - zipf_h(z, kd))
            return (uint64_t)kd;
    }
}

/* ---- a bijection on [0, n): x -> (a*x + b) mod n with gcd(a, n) = 1 ---- */
typedef struct {
    uint64_t n, a, b;
} Perm;

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void perm_init(Perm *p, uint64_t n, uint64_t seed)
{
    p->n = n;
    p->b = n ? mb_hash3(seed, 0x9e37, n) % n : 0;
    p->a = 1;
    if (n > 2) {
        p->a = (n / 2 + mb_hash3(seed, 0x7f4a, n) % (n / 2)) | 1;
        while (gcd64(p->a, n) != 1)
            p->a = (p->a + 2) % n;
    }
}

static inline uint64_t perm_apply(const Perm *p, uint64_t x)
{
    return (uint64_t)(((unsigned __int128)x * p->a + p->b) % p->n);
}

typedef struct {
    TraceSource base;
    TraceGenParams p;
    uint64_t npages;
    uint64_t ws_pages, hot_runs, run, hot_pages;
    uint64_t seq_lo, seq_hi;
    uint64_t *seq_pos;
    Perm page_perm, run_perm;
    Zipf zipf;
    MbRand rng;
    uint64_t nepochs, epoch_idx, written, left, index;
    int64_t cur_t;
    TraceEvent *ev;
    /* the disk (block 1), when p.disk: its own random stream and write count */
    MbRand disk_rng;
    uint64_t disk_pages, disk_ws_start, disk_ws_pages, disk_written, disk_left, disk_index;
    uint64_t disk_run_start;
} TraceGen;

static uint64_t amount_pages(const TraceGenAmount *a, uint64_t npages)
{
    uint64_t v =
        a->relative ? (uint64_t)(((unsigned __int128)npages * a->value) / 10000) : a->value / 4096;
    return v < 1 ? 1 : v > npages ? npages : v;
}

/* Page writes up to time t: floor(t * rate / (4096 * 1e9)), exact. */
static uint64_t writes_until(const TraceGen *g, int64_t t)
{
    return (uint64_t)(((unsigned __int128)(uint64_t)t * g->p.rate) / (4096ULL * 1000000000ULL));
}

static void seq_part(const TraceGen *g, unsigned v, uint64_t *lo, uint64_t *hi)
{
    uint64_t len = g->seq_hi - g->seq_lo;
    if (len < g->p.vcpus) {
        *lo = g->seq_lo;
        *hi = g->seq_hi;
        return;
    }
    *lo = g->seq_lo + len * v / g->p.vcpus;
    *hi = g->seq_lo + len * (v + 1) / g->p.vcpus;
}

static bool gen_rewind(TraceSource *s, GError **err)
{
    TraceGen *g = (TraceGen *)s;

    mb_rand_seed(&g->rng, g->p.seed);
    mb_rand_seed(&g->disk_rng, g->p.seed ^ 0xd15cd15cd15cULL);
    g->disk_written = g->disk_left = g->disk_index = 0;
    g->epoch_idx = g->written = g->left = g->index = 0;
    g->cur_t = 0;
    for (unsigned v = 0; g->seq_pos && v < g->p.vcpus; v++) {
        uint64_t hi;
        seq_part(g, v, &g->seq_pos[v], &hi);
    }
    return true;
}

static inline uint64_t pick_page(TraceGen *g, unsigned vcpu)
{
    switch (g->p.kind) {
    case TRACE_GEN_UNIFORM: return mb_rand_below(&g->rng, g->ws_pages);
    case TRACE_GEN_HOTSPOT:
        if (mb_rand_below(&g->rng, 100) < g->p.hot_share) {
            uint64_t r = mb_rand_below(&g->rng, g->hot_pages);
            return perm_apply(&g->run_perm, r / g->run) * g->run + r % g->run;
        }
        return mb_rand_below(&g->rng, g->npages);
    case TRACE_GEN_ZIPF: return perm_apply(&g->page_perm, zipf_sample(&g->zipf, &g->rng) - 1);
    case TRACE_GEN_SEQ: {
        uint64_t lo, hi, pg = g->seq_pos[vcpu];
        seq_part(g, vcpu, &lo, &hi);
        g->seq_pos[vcpu] = pg + 1 < hi ? pg + 1 : lo;
        return pg;
    }
    case TRACE_GEN_PHASES: {
        uint64_t ph = (uint64_t)(((unsigned __int128)(uint64_t)(g->cur_t - 1) * g->p.phases) /
                                 (uint64_t)g->p.duration_ns);
        uint64_t span = g->npages - g->ws_pages;
        uint64_t start = g->p.phases > 1 ? span * ph / (g->p.phases - 1) : 0;
        return start + mb_rand_below(&g->rng, g->ws_pages);
    }
    default: return 0;
    }
}

static int gen_next(TraceSource *s, TraceEpoch *ep, GError **err)
{
    TraceGen *g = (TraceGen *)s;

    while (g->left == 0 && g->disk_left == 0) {
        if (g->epoch_idx >= g->nepochs)
            return 0;
        int64_t t = (int64_t)(g->epoch_idx + 1) * g->p.epoch_ns;
        if (t > g->p.duration_ns)
            t = g->p.duration_ns;
        uint64_t target = writes_until(g, t);
        g->left = target - g->written;
        if (g->disk_pages) {
            uint64_t dt = (uint64_t)(((unsigned __int128)(uint64_t)t * g->p.disk_rate) /
                                     (4096ULL * 1000000000ULL));
            g->disk_left = dt - g->disk_written;
        }
        g->cur_t = t;
        g->epoch_idx++;
    }
    size_t n = g->left < TRACE_EPOCH_MAX_EVENTS ? (size_t)g->left : TRACE_EPOCH_MAX_EVENTS;
    uint64_t cseed = g->p.seed ^ 0xc1a55c1a55ULL;
    for (size_t i = 0; i < n; i++) {
        unsigned vcpu = (unsigned)(g->index++ % g->p.vcpus);
        uint64_t page = pick_page(g, vcpu);
        g->ev[i].page = page;
        g->ev[i].vcpu = vcpu;
        g->ev[i].block = 0;
        g->ev[i].cls = (uint8_t)trace_mix_pick(&g->p.mix, mb_hash3(cseed, 0, page));
    }
    g->left -= n;
    g->written += n;
    /* Disk writes follow the epoch's RAM writes (RAM first, so the RAM stream and its
     * epoch splits are those of the same workload without a disk). */
    size_t nd = MIN((uint64_t)(TRACE_EPOCH_MAX_EVENTS - n), g->disk_left);
    for (size_t i = 0; i < nd; i++) {
        /* Runs of DISK_RUN sequential pages (1 MiB, like a file written out) from a random
         * place in the working set, wrapping inside it. */
        if (g->disk_index % DISK_RUN == 0)
            g->disk_run_start = mb_rand_below(&g->disk_rng, g->disk_ws_pages);
        uint64_t page =
            g->disk_ws_start + (g->disk_run_start + g->disk_index % DISK_RUN) % g->disk_ws_pages;
        TraceEvent *e = &g->ev[n + i];
        e->page = page;
        e->vcpu = (uint32_t)(g->disk_index++ % g->p.vcpus);
        e->block = 1;
        e->cls = (uint8_t)trace_mix_pick(&g->p.mix, mb_hash3(cseed, 1, page));
    }
    g->disk_left -= nd;
    g->disk_written += nd;
    n += nd;
    ep->t_ns = g->cur_t;
    ep->n = n;
    ep->ev = g->ev;
    return 1;
}

static void gen_free(TraceSource *s)
{
    TraceGen *g = (TraceGen *)s;
    g_free(g->seq_pos);
    g_free(g->ev);
    g_free(g);
}

static const TraceSourceOps gen_ops = {
    .next = gen_next,
    .rewind = gen_rewind,
    .free = gen_free,
};

TraceSource *trace_gen_new(const TraceGenParams *p, GError **err)
{
    if (!trace_gen_params_check(p, err))
        return NULL;
    TraceGen *g = g_new0(TraceGen, 1);
    g->base.ops = &gen_ops;
    g->base.name = g_strdup(trace_gen_kind_name(p->kind));
    g->p = *p;
    g->npages = p->size / 4096;

    TraceHeader *h = &g->base.hdr;
    trace_header_init(h);
    h->nvcpus = p->vcpus;
    h->duration_ns = p->duration_ns;
    h->content_seed = p->seed;
    h->init_mix = p->init;
    h->method = TRACE_METHOD_SYNTHETIC;
    trace_header_add_block(h, "pc.ram", p->size, false);
    if (p->disk)
        trace_header_add_disk(h, TRACE_GEN_DISK_NAME, p->disk, p->disk_used);
    char *desc = trace_gen_params_describe(p);
    /* No tool version here: the header is the trace's identity, and it should change only
     * when the generated writes do (then bump TRACE_GEN_ALGORITHM). */
    char *prov =
        g_strdup_printf("generator: %s\ngenerator-version: %d\n", desc, TRACE_GEN_ALGORITHM);
    trace_header_set_provenance(h, prov);
    g_free(prov);
    g_free(desc);

    g->nepochs = (uint64_t)((p->duration_ns + p->epoch_ns - 1) / p->epoch_ns);
    if (p->rate == 0 || p->kind == TRACE_GEN_IDLE)
        g->p.rate = 0;
    if (p->disk && p->disk_rate) {
        g->disk_pages = p->disk / 4096;
        g->disk_ws_pages = amount_pages(&p->disk_ws, g->disk_pages);
        g->disk_ws_start =
            mb_hash3(p->seed, 0xd15c, g->disk_pages) % (g->disk_pages - g->disk_ws_pages + 1);
    }
    if (g->p.rate == 0 && !g->disk_pages)
        g->nepochs = 0;
    g->ws_pages = amount_pages(&p->ws, g->npages);
    g->run = g->npages >= 4 * HOT_RUN ? HOT_RUN : 1;
    uint64_t nruns = g->npages / g->run;
    g->hot_runs = (amount_pages(&p->hot, g->npages) + g->run - 1) / g->run;
    if (g->hot_runs > nruns)
        g->hot_runs = nruns;
    g->hot_pages = g->hot_runs * g->run;
    perm_init(&g->run_perm, nruns, p->seed);
    perm_init(&g->page_perm, g->npages, p->seed);
    if (p->kind == TRACE_GEN_ZIPF)
        zipf_init(&g->zipf, p->skew_milli / 1000.0, g->npages);
    if (p->kind == TRACE_GEN_SEQ) {
        g->seq_lo = p->from / 4096;
        g->seq_hi = (p->to + 4095) / 4096;
        g->seq_pos = g_new0(uint64_t, p->vcpus);
    }
    g->ev = g_new(TraceEvent, TRACE_EPOCH_MAX_EVENTS);
    gen_rewind(&g->base, NULL);
    return &g->base;
}
