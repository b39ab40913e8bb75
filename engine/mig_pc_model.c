/* mig_pc_model: the postcopy link model (see mig_pc_model.h). */
#include "mig_pc_model.h"

#include "mb_bitmap.h"

#include <glib.h>
#include <string.h>

typedef struct {
    uint64_t idx;      /* index in pages[] */
    int64_t at_source; /* when the request reaches the source */
    uint64_t seq;      /* request order, for ties */
} Req;

static gint cmp_req(gconstpointer a, gconstpointer b, gpointer unused)
{
    const Req *x = a, *y = b;
    if (x->at_source != y->at_source)
        return x->at_source < y->at_source ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct MigPcModel {
    MigPcModelConfig cfg;
    uint64_t *pages;
    int64_t *arrival;   /* per index: arrival at the destination, -1 = not sent yet */
    uint8_t *requested; /* per index */
    uint64_t next_bg;   /* background cursor (index): the pass goes on from here, wrapping */
    uint64_t *unsent;   /* bit per index: not placed on the link yet */
    uint64_t sent;      /* records sent */
    int64_t link_free;  /* when the link can start the next record */
    int64_t last_arrival;
    uint64_t requests;
    GQueue queue; /* Req*, in request order */
    /* Per record (link order): its page index, when it started, and for a requested page
     * the earliest it could start (when the request reached the source), so a change of
     * bandwidth can re-time the records that had not started (mig_pc_model_set_bandwidth). */
    uint64_t *rec_idx;
    int64_t *rec_start, *rec_earliest;
    /* RateChange: every max-postcopy-bandwidth change, by the time it applies (the
     * source's clock when it made it); a record goes at the rate in force when it starts,
     * so the order in which changes reach the model does not matter. */
    GArray *changes;
};

typedef struct {
    int64_t at;
    uint64_t bandwidth;
} RateChange;

MigPcModel *mig_pc_model_new(const MigPcModelConfig *cfg)
{
    MigPcModel *m = g_new0(MigPcModel, 1);

    m->cfg = *cfg;
    m->pages = g_new(uint64_t, cfg->n ? cfg->n : 1);
    if (cfg->n)
        memcpy(m->pages, cfg->pages, cfg->n * sizeof(uint64_t));
    m->cfg.pages = m->pages;
    m->arrival = g_new(int64_t, cfg->n ? cfg->n : 1);
    for (uint64_t i = 0; i < cfg->n; i++)
        m->arrival[i] = -1;
    m->requested = g_new0(uint8_t, cfg->n ? cfg->n : 1);
    m->unsent = mb_bitmap_new(cfg->n);
    mb_bitmap_fill(m->unsent, cfg->n);
    m->rec_idx = g_new0(uint64_t, cfg->n ? cfg->n : 1);
    m->rec_start = g_new0(int64_t, cfg->n ? cfg->n : 1);
    m->rec_earliest = g_new0(int64_t, cfg->n ? cfg->n : 1);
    m->changes = g_array_new(FALSE, FALSE, sizeof(RateChange));
    m->link_free = cfg->start_ns;
    m->last_arrival = cfg->start_ns;
    g_queue_init(&m->queue);
    return m;
}

void mig_pc_model_free(MigPcModel *m)
{
    if (!m)
        return;
    g_queue_clear_full(&m->queue, g_free);
    g_free(m->pages);
    g_free(m->arrival);
    g_free(m->requested);
    g_free(m->unsent);
    g_free(m->rec_idx);
    g_free(m->rec_start);
    g_free(m->rec_earliest);
    g_array_free(m->changes, TRUE);
    g_free(m);
}

/* Index of `page` in the list, or -1. */
static int64_t find(const MigPcModel *m, uint64_t page)
{
    uint64_t lo = 0, hi = m->cfg.n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (m->pages[mid] < page)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->cfg.n && m->pages[lo] == page ? (int64_t)lo : -1;
}

bool mig_pc_model_missing(const MigPcModel *m, uint64_t page)
{
    return find(m, page) >= 0;
}

/* The link's rate at t: the last change that applies by t, else the initial one. */
static uint64_t bandwidth_at(const MigPcModel *m, int64_t t)
{
    uint64_t bw = m->cfg.bandwidth;
    for (guint i = 0; i < m->changes->len; i++) {
        const RateChange *c = &g_array_index(m->changes, RateChange, i);
        if (c->at > t)
            break;
        bw = c->bandwidth;
    }
    return bw;
}

/* Link time of a record that starts at `start`. */
static int64_t record_ns(const MigPcModel *m, int64_t start)
{
    uint64_t bw = bandwidth_at(m, start);
    if (!bw)
        return 0;
    return (int64_t)(((unsigned __int128)m->cfg.record_bytes * 1000000000u) / bw);
}

static void send(MigPcModel *m, uint64_t idx, bool requested, int64_t earliest)
{
    if (requested && m->cfg.on_request_sent)
        m->cfg.on_request_sent(m->cfg.opaque, m->sent, m->pages[idx]);
    mb_bit_clear(m->unsent, idx);
    /* QEMU's ram_find_and_save_block keeps the position of the page it just sent, a
     * requested one included (get_queued_page): the background pass goes on after it. */
    m->next_bg = idx + 1;
    m->rec_idx[m->sent] = idx;
    m->rec_start[m->sent] = m->link_free;
    m->rec_earliest[m->sent] = earliest;
    m->link_free += record_ns(m, m->link_free);
    m->arrival[idx] = m->link_free + m->cfg.latency_ns;
    if (m->arrival[idx] > m->last_arrival)
        m->last_arrival = m->arrival[idx];
    m->sent++;
}

/* Sends one record (a request that has reached the source first, else the next page of the
 * background pass).  False when nothing is left to send or nothing can start before t. */
static bool step(MigPcModel *m, int64_t t)
{
    while (!g_queue_is_empty(&m->queue)) {
        Req *r = g_queue_peek_head(&m->queue);
        if (m->arrival[r->idx] >= 0) { /* sent by the background pass meanwhile */
            g_free(g_queue_pop_head(&m->queue));
            continue;
        }
        if (r->at_source <= m->link_free) {
            if (m->link_free >= t)
                return false;
            g_queue_pop_head(&m->queue);
            send(m, r->idx, true, r->at_source);
            g_free(r);
            return true;
        }
        break;
    }
    if (m->sent < m->cfg.n) {
        /* The next page not sent at or after the cursor, round to the first page past the
         * end (find_dirty_block goes on at the first block). */
        uint64_t i = mb_bitmap_next_set(m->unsent, m->cfg.n, MIN(m->next_bg, m->cfg.n));
        if (i >= m->cfg.n)
            i = mb_bitmap_next_set(m->unsent, m->cfg.n, 0);
        if (m->link_free >= t)
            return false;
        send(m, i, false, INT64_MIN);
        return true;
    }
    if (g_queue_is_empty(&m->queue))
        return false;
    /* Only requests still on their way: the link idles until the first one arrives. */
    Req *r = g_queue_peek_head(&m->queue);
    if (r->at_source >= t)
        return false;
    m->link_free = MAX(m->link_free, r->at_source);
    return true;
}

void mig_pc_model_advance(MigPcModel *m, int64_t t)
{
    while (step(m, t)) {
    }
}

int64_t mig_pc_model_touch(MigPcModel *m, uint64_t page, int64_t t, bool *requested)
{
    int64_t idx = find(m, page);

    *requested = false;
    if (idx < 0)
        return t;
    /* Records that start before the request could reach the source are not affected by it
     * (nor by any later request). */
    mig_pc_model_advance(m, t + m->cfg.latency_ns);
    if (m->arrival[idx] >= 0)
        return MAX(t, m->arrival[idx]);
    if (!m->requested[idx]) {
        m->requested[idx] = 1;
        m->requests++;
        *requested = true;
        Req *r = g_new(Req, 1);
        r->idx = (uint64_t)idx;
        r->at_source = t + m->cfg.latency_ns;
        r->seq = m->requests;
        g_queue_insert_sorted(&m->queue, r, cmp_req, NULL);
    }
    while (m->arrival[idx] < 0 && step(m, INT64_MAX)) {
    }
    return MAX(t, m->arrival[idx]);
}

bool mig_pc_model_done_by(MigPcModel *m, int64_t t)
{
    mig_pc_model_advance(m, t);
    return m->sent == m->cfg.n && m->last_arrival <= t;
}

int64_t mig_pc_model_end(MigPcModel *m)
{
    mig_pc_model_advance(m, INT64_MAX);
    return m->last_arrival;
}

uint64_t mig_pc_model_record_page(const MigPcModel *m, uint64_t record)
{
    g_assert(record < m->sent);
    return m->pages[m->rec_idx[record]];
}

uint64_t mig_pc_model_sent(const MigPcModel *m)
{
    return m->sent;
}

uint64_t mig_pc_model_requests(const MigPcModel *m)
{
    return m->requests;
}

bool mig_pc_model_requested(const MigPcModel *m, uint64_t page)
{
    int64_t idx = find(m, page);
    return idx >= 0 && m->requested[idx];
}

void mig_pc_model_set_bandwidth(MigPcModel *m, uint64_t bandwidth, int64_t t)
{
    uint64_t r = m->sent;
    guint pos = m->changes->len;

    /* Kept in time order (a later change at the same time wins); one the link has not
     * reached yet waits there for the records that start after it. */
    while (pos > 0 && g_array_index(m->changes, RateChange, pos - 1).at > t)
        pos--;
    RateChange c = { .at = t, .bandwidth = bandwidth };
    g_array_insert_val(m->changes, pos, c);
    /* The first record that had not started by t, and every one after it, are re-timed
     * with the rates in force when each starts, in the same order. */
    while (r > 0 && m->rec_start[r - 1] >= t)
        r--;
    if (r == m->sent)
        return;
    int64_t link = m->rec_start[r];
    for (uint64_t i = r; i < m->sent; i++) {
        if (m->rec_earliest[i] > link)
            link = m->rec_earliest[i];
        m->rec_start[i] = link;
        link += record_ns(m, link);
        m->arrival[m->rec_idx[i]] = link + m->cfg.latency_ns;
    }
    m->link_free = link;
    m->last_arrival = m->cfg.start_ns;
    for (uint64_t i = 0; i < m->sent; i++)
        if (m->arrival[m->rec_idx[i]] > m->last_arrival)
            m->last_arrival = m->arrival[m->rec_idx[i]];
}
