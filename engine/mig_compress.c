/* mig_compress: compress-threads and decompress-threads (see mig_compress.h). */
#include "mig_compress.h"
#include "mb_error.h"
#include "mb_tsan.h"
#include "mb_util.h"
#include "mig_wire.h"

#include <string.h>
#include <zlib.h>

#define PAGE 4096

/* Virtual cost of compressing one page at each zlib level, in ns (sim guests).  Roughly
 * what one core here needs for the sim's mixed content; what matters is that the cost is
 * fixed, so the choice of free thread and the busy count are deterministic. */
static const int64_t level_cost_ns[10] = { 3000,  15000, 17000, 20000, 25000,
                                           30000, 40000, 50000, 65000, 80000 };
#define ZERO_PAGE_COST_NS 1000

typedef struct {
    struct MigCompress *c;
    GThread *th;
    GCond job_cond;
    bool has_job;    /* a page is waiting or being compressed */
    bool has_output; /* `out` holds a record not yet put into the stream */
    uint8_t page[PAGE];
    uint64_t offset;
    uint8_t *out;
    size_t out_len;
    bool zero;
    z_stream zs;
    int64_t finish_ns;
} CThread;

struct MigCompress {
    unsigned n;
    CThread *t;
    bool wait;
    bool virt;
    int level;        /* compress-level, within level_cost_ns */
    char *init_error; /* a thread's deflate stream could not start, or NULL */
    bool quit;
    GMutex lock; /* everything in the threads' state */
    GCond done_cond;
};

uint32_t mig_compress_bound(void)
{
    return (uint32_t)compressBound(PAGE);
}

/* Builds the record for one page: ZERO (+ fill byte) or COMPRESS_PAGE (+ be32 length and
 * deflate data), always with CONTINUE since the block was sent before. */
static void compress_job(MigCompress *c, CThread *t)
{
    t->zero = mb_buffer_is_zero(t->page, PAGE);
    if (t->zero) {
        mb_st_be64(t->out, t->offset | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
        t->out[8] = 0;
        t->out_len = 9;
        return;
    }
    deflateReset(&t->zs);
    t->zs.next_in = t->page;
    t->zs.avail_in = PAGE;
    t->zs.next_out = t->out + 12;
    t->zs.avail_out = mig_compress_bound();
    int rc = deflate(&t->zs, Z_FINISH);
    g_assert(rc == Z_STREAM_END); /* compressBound guarantees room */
    size_t len = t->zs.total_out;
    mb_st_be64(t->out, t->offset | RAM_SAVE_FLAG_COMPRESS_PAGE | RAM_SAVE_FLAG_CONTINUE);
    mb_st_be32(t->out + 8, (uint32_t)len);
    t->out_len = 12 + len;
}

static gpointer compress_thread(gpointer opaque)
{
    CThread *t = opaque;
    MigCompress *c = t->c;

    g_mutex_lock(&c->lock);
    for (;;) {
        while (!t->has_job && !c->quit)
            g_cond_wait(&t->job_cond, &c->lock);
        if (c->quit)
            break;
        g_mutex_unlock(&c->lock);
        compress_job(c, t);
        g_mutex_lock(&c->lock);
        t->has_job = false;
        t->has_output = true;
        g_cond_broadcast(&c->done_cond);
    }
    g_mutex_unlock(&c->lock);
    return NULL;
}

MigCompress *mig_compress_new(unsigned threads, int level, bool wait, bool virtual_time)
{
    MigCompress *c = g_new0(MigCompress, 1);

    c->n = threads ? threads : 1;
    c->wait = wait;
    c->virt = virtual_time;
    c->level = CLAMP(level, 0, (int)G_N_ELEMENTS(level_cost_ns) - 1);
    g_mutex_init(&c->lock);
    g_cond_init(&c->done_cond);
    c->t = g_new0(CThread, c->n);
    for (unsigned i = 0; i < c->n; i++) {
        CThread *t = &c->t[i];
        t->c = c;
        g_cond_init(&t->job_cond);
        t->out = g_malloc(12 + mig_compress_bound());
        int rc = deflateInit(&t->zs, level);
        if (rc != Z_OK && !c->init_error)
            c->init_error =
                g_strdup_printf("compress thread %u: deflate init failed: %s", i, zError(rc));
        t->th = g_thread_new("mig-compress", compress_thread, t);
    }
    return c;
}

void mig_compress_free(MigCompress *c)
{
    if (!c)
        return;
    g_mutex_lock(&c->lock);
    c->quit = true;
    for (unsigned i = 0; i < c->n; i++)
        g_cond_signal(&c->t[i].job_cond);
    g_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->n; i++) {
        g_thread_join(c->t[i].th);
        deflateEnd(&c->t[i].zs);
        g_cond_clear(&c->t[i].job_cond);
        g_free(c->t[i].out);
    }
    g_free(c->t);
    g_free(c->init_error);
    g_cond_clear(&c->done_cond);
    g_mutex_clear(&c->lock);
    g_free(c);
}

/* Is thread t free at guest time now?  Sim: by the model; KVM: really.  Lock held. */
static bool is_done(MigCompress *c, CThread *t, int64_t now)
{
    return c->virt ? t->finish_ns <= now : !t->has_job;
}

/* Puts t's finished record into the stream (waiting for the real thread to finish it,
 * which the model may have declared done already).  Lock held. */
static void flush_one(MigCompress *c, CThread *t, MigFile *f, MigCompressFlushed *acc)
{
    while (t->has_job)
        g_cond_wait(&c->done_cond, &c->lock);
    if (!t->has_output)
        return;
    mig_put_buffer(f, t->out, t->out_len);
    acc->transferred += t->out_len;
    if (t->zero) {
        acc->duplicate++;
    } else {
        acc->pages++;
        acc->compressed_size += t->out_len - 8;
    }
    t->has_output = false;
}

/* A compression thread that could not start fails the migration through the stream's
 * sticky error (the source reports it as error-desc); no page is handed to the threads. */
static bool fail_if_not_started(MigCompress *c, MigFile *f)
{
    if (!c->init_error)
        return false;
    mig_file_set_error(f, "%s", c->init_error);
    return true;
}

bool mig_compress_page(MigCompress *c, MigFile *f, uint64_t offset, const uint8_t *page,
                       int64_t now_ns, int64_t *wait_until_ns, MigCompressFlushed *acc)
{
    bool taken = false;

    *wait_until_ns = 0;
    if (fail_if_not_started(c, f))
        return false;
    g_mutex_lock(&c->lock);
    for (;;) {
        for (unsigned i = 0; i < c->n && !taken; i++) {
            CThread *t = &c->t[i];
            if (!is_done(c, t, now_ns))
                continue;
            flush_one(c, t, f, acc);
            memcpy(t->page, page, PAGE);
            t->offset = offset;
            t->has_job = true;
            t->finish_ns = now_ns + (mb_buffer_is_zero(page, PAGE) ? ZERO_PAGE_COST_NS
                                                                   : level_cost_ns[c->level]);
            g_cond_signal(&t->job_cond);
            taken = true;
        }
        if (taken || !c->wait)
            break;
        if (c->virt) {
            /* Every thread is busy until some guest time: the caller lets it pass. */
            int64_t first = INT64_MAX;
            for (unsigned i = 0; i < c->n; i++)
                first = MIN(first, c->t[i].finish_ns);
            *wait_until_ns = first;
            break;
        }
        g_cond_wait(&c->done_cond, &c->lock);
    }
    g_mutex_unlock(&c->lock);
    return taken;
}

void mig_compress_flush(MigCompress *c, MigFile *f, int64_t now_ns, int64_t *wait_until_ns,
                        MigCompressFlushed *acc)
{
    int64_t last = now_ns;

    *wait_until_ns = 0;
    if (fail_if_not_started(c, f))
        return;
    g_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->n; i++) {
        last = MAX(last, c->t[i].finish_ns);
        flush_one(c, &c->t[i], f, acc);
    }
    g_mutex_unlock(&c->lock);
    /* In the model the flush waits for the slowest thread. */
    *wait_until_ns = c->virt && last > now_ns ? last : 0;
}

/* ---- destination ---- */

typedef struct {
    uint8_t *host;
    uint32_t len;
    uint8_t data[];
} DJob;

struct MigDecompress {
    GThreadPool *pool;
    GMutex lock;
    GCond cond;
    unsigned pending;
    bool failed;
};

static void decompress_one(gpointer job, gpointer opaque)
{
    MigDecompress *d = opaque;
    DJob *j = job;
    /* The job crossed GThreadPool's queue, whose locking TSan cannot see. */
    mb_tsan_acquire(j);
    uint8_t page[PAGE];
    z_stream zs = { 0 };
    bool ok = inflateInit(&zs) == Z_OK;

    if (ok) {
        zs.next_in = j->data;
        zs.avail_in = j->len;
        zs.next_out = page;
        zs.avail_out = PAGE;
        ok = inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == PAGE;
        inflateEnd(&zs);
    }
    if (ok)
        memcpy(j->host, page, PAGE);
    g_free(j);
    g_mutex_lock(&d->lock);
    d->failed |= !ok;
    d->pending--;
    g_cond_broadcast(&d->cond);
    g_mutex_unlock(&d->lock);
}

MigDecompress *mig_decompress_new(unsigned threads)
{
    MigDecompress *d = g_new0(MigDecompress, 1);
    g_mutex_init(&d->lock);
    g_cond_init(&d->cond);
    d->pool = g_thread_pool_new(decompress_one, d, (int)(threads ? threads : 1), TRUE, NULL);
    return d;
}

void mig_decompress_page(MigDecompress *d, uint8_t *host, const uint8_t *data, uint32_t len)
{
    DJob *j = g_malloc(sizeof(DJob) + len);
    j->host = host;
    j->len = len;
    memcpy(j->data, data, len);
    g_mutex_lock(&d->lock);
    d->pending++;
    g_mutex_unlock(&d->lock);
    mb_tsan_release(j); /* to the pool thread that takes it (decompress_one) */
    g_thread_pool_push(d->pool, j, NULL);
}

bool mig_decompress_wait(MigDecompress *d, GError **err)
{
    g_mutex_lock(&d->lock);
    while (d->pending)
        g_cond_wait(&d->cond, &d->lock);
    bool failed = d->failed;
    g_mutex_unlock(&d->lock);
    if (failed)
        mb_error_set(err, "decompress data failed");
    return !failed;
}

void mig_decompress_free(MigDecompress *d)
{
    if (!d)
        return;
    g_thread_pool_free(d->pool, FALSE, TRUE);
    /* glib keeps finished pool threads for reuse; let them go so nothing outlives us. */
    g_thread_pool_stop_unused_threads();
    g_cond_clear(&d->cond);
    g_mutex_clear(&d->lock);
    g_free(d);
}
