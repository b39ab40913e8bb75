/* mig_pc_dest: postcopy on the destination (see mig_pc_dest.h). */
#include "mig_pc_dest.h"
#include "mb_bitmap.h"
#include "mb_util.h"
#include "mig_pc_model.h"
#include "mig_pc_stats.h"
#include "mig_retpath.h"
#include "mig_wire.h"

#include <string.h>

/* Guest time the vCPU thread lets pass per step. */
#define STEP_NS (10 * 1000000LL)

struct MigPcDest {
    MigEngine *e;
    MbGuest *g;
    MigPcDestState state;
    GMutex lock; /* missing, nmissing, stream_done, abort */
    GCond cond;
    uint64_t **missing; /* per block: set = not received */
    uint64_t *base;     /* global page number of each block's first page */
    uint64_t nmissing;
    bool stream_done, abort;
    uint64_t rate;
    bool blocktime_cap; /* postcopy-blocktime was on at RUN */
    Chan *rp;
    int last_req_block;
    GThread *thread;
    MigPcModel *model;
    MigPcStats *stats;
    int64_t *offset; /* per vCPU: how far behind the guest clock its stalls put it */
    int64_t t_start, t_end;
    bool ran;
    uint64_t missing_at_switch;
    uint64_t horizon_sent; /* last MB_HORIZON */
    /* Pages that arrived as a different record than the model settled (under rp_lock and
     * lock): the source did not follow the model's order, so the run's figures would not
     * describe what crossed the link.  Reported; tests require 0. */
    uint64_t out_of_order;
    /* rp_lock: rp, model, last_req_block, horizon_sent, claims.  The vCPU thread and a
     * postcopy recovery (the loader) both write on the return path and read the model;
     * taken before `lock` when both are needed. */
    GMutex rp_lock;
    GArray *claims; /* Claim: every MB_SEND, for a recovery to send again */
};

typedef struct {
    uint64_t record;
    uint32_t block;
    uint64_t page;
} Claim;

MigPcDest *mig_pc_dest_new(MigEngine *e)
{
    MigPcDest *d = g_new0(MigPcDest, 1);
    MbGuest *g = e->guest;

    d->e = e;
    d->g = g;
    g_mutex_init(&d->lock);
    g_mutex_init(&d->rp_lock);
    g_cond_init(&d->cond);
    d->claims = g_array_new(FALSE, FALSE, sizeof(Claim));
    d->missing = g_new0(uint64_t *, g->nblocks ? g->nblocks : 1);
    d->base = g_new0(uint64_t, g->nblocks ? g->nblocks : 1);
    uint64_t base = 0;
    for (unsigned b = 0; b < g->nblocks; b++) {
        d->missing[b] = mb_bitmap_new(mb_guest_block_pages(g, b));
        d->base[b] = base;
        base += mb_guest_block_pages(g, b);
    }
    d->last_req_block = -1;
    d->state = MIG_PCD_ADVISE;
    return d;
}

void mig_pc_dest_free(MigPcDest *d)
{
    if (!d)
        return;
    mig_pc_dest_stream_end(d, false);
    mig_pc_dest_join(d);
    for (unsigned b = 0; b < d->g->nblocks; b++)
        g_free(d->missing[b]);
    g_free(d->missing);
    g_free(d->base);
    g_free(d->offset);
    mig_pc_model_free(d->model);
    mig_pc_stats_free(d->stats);
    g_array_free(d->claims, TRUE);
    g_cond_clear(&d->cond);
    g_mutex_clear(&d->rp_lock);
    g_mutex_clear(&d->lock);
    g_free(d);
}

MigPcDestState mig_pc_dest_state(MigPcDest *d)
{
    return d->state;
}

void mig_pc_dest_set_state(MigPcDest *d, MigPcDestState s)
{
    d->state = s;
}

bool mig_pc_dest_discard(MigPcDest *d, unsigned block, uint64_t page, uint64_t npages)
{
    if (block >= d->g->nblocks)
        return false;
    uint64_t n = mb_guest_block_pages(d->g, block);
    if (page > n || npages > n - page)
        return false;
    g_mutex_lock(&d->lock);
    for (uint64_t p = page; p < page + npages; p++) {
        if (!mb_bit_test(d->missing[block], p)) {
            mb_bit_set(d->missing[block], p);
            d->nmissing++;
        }
    }
    g_mutex_unlock(&d->lock);
    return true;
}

/* The background pass goes at the source's postcopy rate, within the link's. */
static uint64_t link_rate(MigPcDest *d)
{
    uint64_t bw = d->e->cfg.link_bandwidth;
    if (d->rate && (!bw || d->rate < bw))
        bw = d->rate;
    return d->g->virtual_time ? bw : 0;
}

void mig_pc_dest_set_rate(MigPcDest *d, uint64_t rate, int64_t at)
{
    g_mutex_lock(&d->rp_lock);
    d->rate = rate;
    /* A change while the guest runs here (max-postcopy-bandwidth set during postcopy)
     * applies at the source's time it carries, not at wherever this guest's clock happens
     * to be when the loader reads it (that depends on thread scheduling). */
    if (d->model)
        mig_pc_model_set_bandwidth(d->model, link_rate(d), at >= 0 ? at : mb_guest_now(d->g));
    g_mutex_unlock(&d->rp_lock);
}

void mig_pc_dest_received(MigPcDest *d, unsigned block, uint64_t page)
{
    if (block >= d->g->nblocks || page >= mb_guest_block_pages(d->g, block))
        return;
    g_mutex_lock(&d->rp_lock);
    g_mutex_lock(&d->lock);
    if (mb_bit_test_and_clear(d->missing[block], page)) {
        /* Records arrive in stream order, one page each: this is record number `k`. */
        uint64_t k = d->missing_at_switch - d->nmissing;
        if (d->model && k < mig_pc_model_sent(d->model) &&
            mig_pc_model_record_page(d->model, k) != d->base[block] + page)
            d->out_of_order++;
        d->nmissing--;
        g_cond_broadcast(&d->cond);
    }
    g_mutex_unlock(&d->lock);
    g_mutex_unlock(&d->rp_lock);
}

void mig_pc_dest_stream_end(MigPcDest *d, bool ok)
{
    g_mutex_lock(&d->lock);
    d->stream_done = true;
    if (!ok || d->nmissing)
        d->abort = true; /* nothing more can arrive: no vCPU may wait forever */
    g_cond_broadcast(&d->cond);
    g_mutex_unlock(&d->lock);
}

/* A page request on the return path: REQ_PAGES_ID when the block changes, as QEMU does.
 * Under rp_lock, like every write on the return path here: while postcopy is paused rp is
 * NULL and what would go out is dropped (a recovery sends again what still matters). */
static void send_request(MigPcDest *d, unsigned block, uint64_t page)
{
    uint8_t buf[MIG_RP_MAX_LEN];
    bool named = (int)block != d->last_req_block;
    size_t n = mig_rp_encode_req(buf, named ? d->g->blocks[block].name : NULL,
                                 page * MB_TARGET_PAGE_SIZE, MB_TARGET_PAGE_SIZE);
    d->last_req_block = (int)block;
    if (d->rp)
        chan_write_all(d->rp, buf, n, NULL);
}

static void rp_write(MigPcDest *d, const uint8_t *buf, size_t n)
{
    if (d->rp)
        chan_write_all(d->rp, buf, n, NULL);
}

/* The model put a requested page on the link as record `record`: the source sends exactly
 * that (MB_SEND). */
static void on_request_sent(void *opaque, uint64_t record, uint64_t page)
{
    MigPcDest *d = opaque;
    uint8_t buf[MIG_RP_MAX_LEN];
    unsigned b = 0;

    while (b + 1 < d->g->nblocks && page >= d->base[b + 1])
        b++;
    Claim c = { .record = record, .block = b, .page = page - d->base[b] };
    g_array_append_val(d->claims, c);
    rp_write(d, buf, mig_rp_encode_mb_send(buf, record, b, page - d->base[b]));
}

/* Tells the source how far the record order is settled (MB_HORIZON). */
static void send_horizon(MigPcDest *d, uint64_t records)
{
    uint8_t buf[MIG_RP_MAX_LEN];

    if (records <= d->horizon_sent && d->horizon_sent)
        return;
    d->horizon_sent = records;
    rp_write(d, buf, mig_rp_encode_mb_horizon(buf, records));
}

/* Before each write of the running guest: in the model, a missing page stalls its vCPU for
 * the request's round trip; for real, the write waits until the page is stored. */
static void before_write(void *opaque, const MbGuestWrite *w)
{
    MigPcDest *d = opaque;
    unsigned v = w->vcpu < d->g->nvcpus ? w->vcpu : 0;

    if (w->block >= d->g->nblocks)
        return;
    int64_t t = w->t_ns + d->offset[v];
    bool requested;
    g_mutex_lock(&d->rp_lock);
    int64_t at = mig_pc_model_touch(d->model, d->base[w->block] + w->page, t, &requested);
    if (requested) {
        send_request(d, w->block, w->page);
        mig_pc_stats_latency(d->stats, at - t);
    }
    if (at > t) {
        mig_pc_stats_stall(d->stats, v, t, at);
        d->offset[v] += at - t;
    }
    /* The page's record is settled: the source can send up to it while this vCPU waits. */
    send_horizon(d, mig_pc_model_sent(d->model));
    g_mutex_unlock(&d->rp_lock);
    g_mutex_lock(&d->lock);
    while (mb_bit_test(d->missing[w->block], w->page) && !d->abort)
        g_cond_wait(&d->cond, &d->lock);
    g_mutex_unlock(&d->lock);
}

static bool aborted(MigPcDest *d)
{
    g_mutex_lock(&d->lock);
    bool a = d->abort;
    g_mutex_unlock(&d->lock);
    return a;
}

static gpointer vcpu_thread(gpointer opaque)
{
    MigPcDest *d = opaque;
    int64_t t = d->t_start;

    for (;;) {
        g_mutex_lock(&d->rp_lock);
        bool done = aborted(d) || mig_pc_model_done_by(d->model, t);
        if (!done)
            send_horizon(d, mig_pc_model_sent(d->model));
        g_mutex_unlock(&d->rp_lock);
        if (done)
            break;
        t += STEP_NS;
        d->g->ops->run_writes(d->g, t, before_write, d);
    }
    g_mutex_lock(&d->rp_lock);
    d->t_end = mig_pc_model_end(d->model);
    send_horizon(d, UINT64_MAX); /* nothing is requested any more */
    g_mutex_unlock(&d->rp_lock);
    /* The guest clock reaches the last arrival (a vCPU never runs ahead of its page). */
    if (!aborted(d) && d->t_end > t)
        d->g->ops->run_writes(d->g, d->t_end, before_write, d);
    return NULL;
}

bool mig_pc_dest_run(MigPcDest *d, Chan *rp, GError **err)
{
    MigEngine *e = d->e;
    MbGuest *g = d->g;
    uint64_t total = 0;

    g_mutex_lock(&d->rp_lock);
    d->rp = rp;
    g_mutex_unlock(&d->rp_lock);
    d->blocktime_cap = mig_cap(e, MIG_CAP_POSTCOPY_BLOCKTIME);
    d->stats = mig_pc_stats_new(g->nvcpus ? g->nvcpus : 1);
    d->offset = g_new0(int64_t, g->nvcpus ? g->nvcpus : 1);
    g_mutex_lock(&d->lock);
    uint64_t *pages = g_new(uint64_t, d->nmissing ? d->nmissing : 1);
    for (unsigned b = 0; b < g->nblocks; b++) {
        uint64_t n = mb_guest_block_pages(g, b);
        for (uint64_t p = mb_bitmap_next_set(d->missing[b], n, 0); p < n;
             p = mb_bitmap_next_set(d->missing[b], n, p + 1))
            pages[total++] = d->base[b] + p;
    }
    g_mutex_unlock(&d->lock);
    d->missing_at_switch = total;
    uint64_t bw = link_rate(d);
    const char *name = g->nblocks ? g->blocks[0].name : "";
    MigPcModelConfig mc = { .start_ns = mb_guest_now(g),
                            .latency_ns = g->virtual_time ? e->cfg.link_latency_ns : 0,
                            .bandwidth = bw,
                            .record_bytes = 8 + 1 + strlen(name) + MB_TARGET_PAGE_SIZE,
                            .pages = pages,
                            .n = total,
                            .on_request_sent = on_request_sent,
                            .opaque = d };
    g_mutex_lock(&d->rp_lock);
    d->model = mig_pc_model_new(&mc);
    g_mutex_unlock(&d->rp_lock);
    g_free(pages);
    /* The package crossed the link before the guest runs here. */
    d->t_start = mc.start_ns + mc.latency_ns;
    d->state = MIG_PCD_RUNNING;
    if (!g->ops->run_writes || !g->ops->is_running(g)) {
        d->t_end = mig_pc_model_end(d->model);
        g_mutex_lock(&d->rp_lock);
        send_horizon(d, UINT64_MAX);
        g_mutex_unlock(&d->rp_lock);
        return true; /* a paused guest touches nothing: the pages just arrive */
    }
    if (g->virtual_time)
        mb_guest_wait_until(g, d->t_start);
    d->ran = true;
    d->thread = g_thread_try_new("postcopy-vcpus", vcpu_thread, d, err);
    return d->thread != NULL;
}

void mig_pc_dest_join(MigPcDest *d)
{
    if (d->thread) {
        g_thread_join(d->thread);
        d->thread = NULL;
        d->state = MIG_PCD_END;
    }
}

/* ---- postcopy recovery ---- */

void mig_pc_dest_pause(MigPcDest *d)
{
    g_mutex_lock(&d->rp_lock);
    d->rp = NULL;
    g_mutex_unlock(&d->rp_lock);
}

bool mig_pc_dest_send_received(MigPcDest *d, Chan *rp, unsigned block, GError **err)
{
    if (block >= d->g->nblocks) {
        mb_error_set(err, "RECV_BITMAP: no block %u", block);
        return false;
    }
    uint64_t n = mb_guest_block_pages(d->g, block), words = (n + 63) / 64;
    uint64_t *received = g_new0(uint64_t, words ? words : 1);
    g_mutex_lock(&d->lock);
    for (uint64_t w = 0; w < words; w++)
        received[w] = ~d->missing[block][w];
    g_mutex_unlock(&d->lock);
    uint8_t hdr[MIG_RP_MAX_LEN];
    size_t hn = mig_rp_encode_recv_bitmap(hdr, d->g->blocks[block].name);
    size_t bn = mig_rp_bitmap_blob_len(n);
    uint8_t *blob = g_malloc(bn);
    mig_rp_bitmap_encode(blob, received, n);
    bool ok = chan_write_all(rp, hdr, hn, err) && chan_write_all(rp, blob, bn, err);
    g_free(blob);
    g_free(received);
    return ok;
}

void mig_pc_dest_resume(MigPcDest *d, Chan *rp)
{
    uint8_t buf[MIG_RP_MAX_LEN];

    g_mutex_lock(&d->rp_lock);
    d->rp = rp;
    d->last_req_block = -1; /* a new return path: the first request names its block */
    g_mutex_lock(&d->lock);
    uint64_t arrived = d->missing_at_switch - MIN(d->nmissing, d->missing_at_switch);
    g_mutex_unlock(&d->lock);
    /* The model settled the order past the break with its background pass going on after
     * each page sent; the source, which would start again at the first block (QEMU's
     * ram_state_resume_prepare), goes on after the last page that arrived instead, so both
     * keep one order.  Before RESUME_ACK: the source applies it when it resumes. */
    if (d->model && arrived > 0 && arrived <= mig_pc_model_sent(d->model)) {
        uint64_t gp = mig_pc_model_record_page(d->model, arrived - 1);
        unsigned b = 0;
        while (b + 1 < d->g->nblocks && gp >= d->base[b + 1])
            b++;
        rp_write(d, buf, mig_rp_encode_mb_cursor(buf, arrived - 1, b, gp - d->base[b]));
    }
    rp_write(d, buf, mig_rp_encode_u32(buf, MIG_RP_RESUME_ACK, 1));
    /* The source goes on from the record after the last one that arrived (it counts them
     * the same way from the received bitmaps): the order of the records from there is
     * what the model settled, so their claims go again. */
    for (guint i = 0; i < d->claims->len; i++) {
        Claim *c = &g_array_index(d->claims, Claim, i);
        if (c->record >= arrived)
            rp_write(d, buf, mig_rp_encode_mb_send(buf, c->record, c->block, c->page));
    }
    /* Requests still waiting are asked for again (a request sent just before the break may
     * never have reached the source; it counts each page once). */
    if (d->model) {
        for (unsigned b = 0; b < d->g->nblocks; b++) {
            uint64_t n = mb_guest_block_pages(d->g, b);
            g_mutex_lock(&d->lock);
            for (uint64_t p = mb_bitmap_next_set(d->missing[b], n, 0); p < n;
                 p = mb_bitmap_next_set(d->missing[b], n, p + 1)) {
                if (mig_pc_model_requested(d->model, d->base[b] + p)) {
                    g_mutex_unlock(&d->lock);
                    send_request(d, b, p);
                    g_mutex_lock(&d->lock);
                }
            }
            g_mutex_unlock(&d->lock);
        }
    }
    uint64_t h = d->horizon_sent;
    if (d->model && mig_pc_model_sent(d->model) > h)
        h = mig_pc_model_sent(d->model);
    d->horizon_sent = h;
    rp_write(d, buf, mig_rp_encode_mb_horizon(buf, h));
    g_mutex_unlock(&d->rp_lock);
}

bool mig_pc_dest_blocktime(MigPcDest *d, uint32_t *total_ms, GArray **vcpu_ms)
{
    if (!d->blocktime_cap || !d->stats || d->thread)
        return false;
    *total_ms = (uint32_t)(mig_pc_stats_all_blocked_ns(d->stats) / 1000000);
    *vcpu_ms = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    for (unsigned i = 0; i < mig_pc_stats_nvcpus(d->stats); i++) {
        uint32_t ms = (uint32_t)(mig_pc_stats_vcpu_ns(d->stats, i) / 1000000);
        g_array_append_val(*vcpu_ms, ms);
    }
    return true;
}

json_object *mig_pc_dest_report(MigPcDest *d)
{
    if (!d->stats)
        return NULL;
    json_object *o = mig_pc_stats_json(d->stats);
    json_object_object_add(o, "missing-pages", json_object_new_uint64(d->missing_at_switch));
    json_object_object_add(o, "guest-ran", json_object_new_boolean(d->ran));
    if (d->model) /* (read after the incoming side finished: no lock needed) */
        json_object_object_add(o, "records-out-of-model-order",
                               json_object_new_uint64(d->out_of_order));
    json_object_object_add(o, "start-ms", json_object_new_int64(d->t_start / 1000000));
    json_object_object_add(o, "end-ms", json_object_new_int64(d->t_end / 1000000));
    return o;
}
