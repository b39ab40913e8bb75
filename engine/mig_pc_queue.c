/* mig_pc_queue: postcopy requests and send schedule on the source (see mig_pc_queue.h). */
#include "mig_pc_queue.h"

typedef struct {
    uint64_t record;
    unsigned block;
    uint64_t page;
} Claim;

struct MigPcQueue {
    GMutex lock;
    GCond cond;
    GQueue claims; /* Claim*, increasing record */
    uint64_t horizon;
    uint64_t requests;
    GHashTable *requested; /* request keys counted (block, start) */
};

MigPcQueue *mig_pc_queue_new(void)
{
    MigPcQueue *q = g_new0(MigPcQueue, 1);
    g_mutex_init(&q->lock);
    g_cond_init(&q->cond);
    g_queue_init(&q->claims);
    q->requested = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    return q;
}

void mig_pc_queue_free(MigPcQueue *q)
{
    if (!q)
        return;
    g_queue_clear_full(&q->claims, g_free);
    g_hash_table_destroy(q->requested);
    g_cond_clear(&q->cond);
    g_mutex_clear(&q->lock);
    g_free(q);
}

void mig_pc_queue_count_request(MigPcQueue *q, unsigned block, uint64_t start)
{
    gint64 *key = g_new(gint64, 1);
    *key = (gint64)(((uint64_t)block << 52) ^ start);
    g_mutex_lock(&q->lock);
    if (g_hash_table_add(q->requested, key))
        q->requests++;
    g_mutex_unlock(&q->lock);
}

void mig_pc_queue_rewind(MigPcQueue *q)
{
    g_mutex_lock(&q->lock);
    g_queue_clear_full(&q->claims, g_free);
    g_queue_init(&q->claims);
    q->horizon = 0;
    g_mutex_unlock(&q->lock);
}

uint64_t mig_pc_queue_requests(MigPcQueue *q)
{
    g_mutex_lock(&q->lock);
    uint64_t n = q->requests;
    g_mutex_unlock(&q->lock);
    return n;
}

void mig_pc_queue_claim(MigPcQueue *q, uint64_t record, unsigned block, uint64_t page)
{
    Claim *c = g_new(Claim, 1);
    c->record = record;
    c->block = block;
    c->page = page;
    g_mutex_lock(&q->lock);
    g_queue_push_tail(&q->claims, c);
    g_mutex_unlock(&q->lock);
}

void mig_pc_queue_horizon(MigPcQueue *q, uint64_t records)
{
    g_mutex_lock(&q->lock);
    if (records > q->horizon)
        q->horizon = records;
    g_cond_broadcast(&q->cond);
    g_mutex_unlock(&q->lock);
}

/* Under the lock: drops claims of records already passed, then whether `record` is one. */
static Claim *claim_of(MigPcQueue *q, uint64_t record)
{
    Claim *c;
    while ((c = g_queue_peek_head(&q->claims)) && c->record < record)
        g_free(g_queue_pop_head(&q->claims));
    return c && c->record == record ? c : NULL;
}

/* Under the lock: waits until `record` is settled or `stop` says to give up. */
static bool wait_settled(MigPcQueue *q, uint64_t record, bool (*stop)(void *opaque), void *opaque)
{
    while (q->horizon <= record) {
        g_mutex_unlock(&q->lock);
        bool give_up = stop && stop(opaque);
        g_mutex_lock(&q->lock);
        if (give_up)
            return q->horizon > record;
        if (q->horizon <= record)
            g_cond_wait_until(&q->cond, &q->lock, g_get_monotonic_time() + 50000);
    }
    return true;
}

bool mig_pc_queue_next(MigPcQueue *q, uint64_t record, unsigned *block, uint64_t *page,
                       bool (*stop)(void *opaque), void *opaque)
{
    bool got = false;

    g_mutex_lock(&q->lock);
    Claim *c = wait_settled(q, record, stop, opaque) ? claim_of(q, record) : NULL;
    if (c) {
        *block = c->block;
        *page = c->page;
        g_free(g_queue_pop_head(&q->claims));
        got = true;
    }
    g_mutex_unlock(&q->lock);
    return got;
}

bool mig_pc_queue_urgent(MigPcQueue *q, uint64_t record, bool (*stop)(void *opaque), void *opaque)
{
    g_mutex_lock(&q->lock);
    bool u = wait_settled(q, record, stop, opaque) && claim_of(q, record) != NULL;
    g_mutex_unlock(&q->lock);
    return u;
}
