/* mig_ram_save: the source half of the "ram" handler (see mig_ram.h).
 *
 * The scan order, the page record layout and every counter follow QEMU 5.0's ram.c, so
 * that transferred/duplicate/normal, the number of passes and the EOS count come out as
 * QEMU's would for the same dirtying; tests compare them with the analytic model.
 *
 * This file knows the guest, the stream, capabilities and parameters, and nothing of the
 * engine above it: whatever QEMU's ram.c does by reaching into the migration state (rate
 * limiting, publishing, events, throttling the guest) goes through the driver's MigRamOps,
 * so RAM saving can be tested against a fake guest and a fake driver
 * (engine/tests/test_ram_save.c). */
#include "mb_bitmap.h"
#include "mb_util.h"
#include "mig_compress.h"
#include "mig_multifd.h"
#include "mig_ram.h"
#include "mig_wire.h"
#include "mig_xbzrle.h"

#include <string.h>

#define MAX_WAIT_MS 50 /* one iterate round gives way after this long (QEMU's MAX_WAIT) */

struct MigRam {
    MbGuest *g;
    const MigCaps *caps;
    MigParams *params;
    bool v5;
    const MigRamOps *ops;
    void *opaque;
    MigFile *f;
    MigCounters *c;
    unsigned nblocks;
    uint64_t **bmap;  /* migration bitmap per block */
    uint64_t *npages; /* target pages per block */
    bool *ignored;    /* x-ignore-shared and the block is shared */
    uint64_t dirty_pages;
    /* Where the scan stands (QEMU's last_seen_block/last_page/last_sent_block). */
    unsigned last_seen_block;
    uint64_t last_page;
    int last_sent_block;
    bool bulk_stage;
    bool postcopy;       /* after mig_ram_postcopy_start */
    uint64_t pc_records; /* page records sent since then */
    uint64_t pc_pages;   /* pages dirty at the switch (what the destination lacked) */
    /* The current >= 1 s sync period. */
    bool period_started;
    int64_t time_last_sync;
    uint64_t num_dirty_pages_period;
    uint64_t bytes_xfer_prev;
    unsigned dirty_rate_high_cnt;
    int throttle_pct;       /* auto-converge throttle this migration set (0 = none) */
    uint64_t *block_offset; /* RAM address of each block (XBZRLE cache index) */
    /* Pages sent by iterate rounds (QEMU's target_page_count) and their period marks. */
    uint64_t target_page_count, target_page_count_prev;
    uint64_t xbzrle_cache_miss_prev;
    uint64_t compress_busy_prev, compress_pages_prev, compressed_size_prev;
    MigXbzrleCache *xbzrle;  /* when the xbzrle capability is on */
    MigCompress *compress;   /* when the compress capability is on */
    MigMultifdSend *multifd; /* when the multifd capability is on */
    uint8_t scratch[MB_TARGET_PAGE_SIZE];
    uint8_t xbzrle_current[MB_TARGET_PAGE_SIZE];
    uint8_t xbzrle_encoded[MB_TARGET_PAGE_SIZE];
};

static const uint8_t zero_page[MB_TARGET_PAGE_SIZE];

static int64_t now_ms(MigRam *r)
{
    return mb_guest_now(r->g) / 1000000;
}

static bool cap(MigRam *r, MigCap c)
{
    return mig_caps_get(r->caps, c);
}

static uint64_t param(MigRam *r, MigParam p)
{
    return mig_params_num(r->params, p);
}

MigRam *mig_ram_new(const MigRamConfig *cfg)
{
    MigRam *r = g_new0(MigRam, 1);

    g_assert(cfg->ops && cfg->ops->rate_limit && cfg->ops->wait_until && cfg->ops->charge_link &&
             cfg->ops->publish && cfg->ops->pass && cfg->ops->throttle);
    r->g = cfg->guest;
    r->f = cfg->file;
    r->c = cfg->counters;
    r->caps = cfg->caps;
    r->params = cfg->params;
    r->v5 = cfg->v5;
    r->ops = cfg->ops;
    r->opaque = cfg->opaque;
    bool ignore_shared = cap(r, MIG_CAP_X_IGNORE_SHARED);
    r->nblocks = r->g->nblocks;
    r->bmap = g_new0(uint64_t *, r->nblocks);
    r->npages = g_new0(uint64_t, r->nblocks);
    r->ignored = g_new0(bool, r->nblocks);
    for (unsigned b = 0; b < r->nblocks; b++) {
        r->npages[b] = mb_guest_block_pages(r->g, b);
        r->bmap[b] = mb_bitmap_new(r->npages[b]);
        r->ignored[b] = ignore_shared && r->g->blocks[b].shared;
        /* All dirty to start with.  Ignored blocks stay all-set so syncs add nothing. */
        mb_bitmap_fill(r->bmap[b], r->npages[b]);
        if (!r->ignored[b])
            r->dirty_pages += r->npages[b];
    }
    r->block_offset = g_new0(uint64_t, r->nblocks ? r->nblocks : 1);
    for (unsigned b = 1; b < r->nblocks; b++)
        r->block_offset[b] = r->block_offset[b - 1] + r->npages[b - 1] * MB_TARGET_PAGE_SIZE;
    r->last_sent_block = -1;
    r->bulk_stage = true;
    return r;
}

bool mig_ram_xbzrle_setup(MigRam *r, GError **err)
{
    if (!cap(r, MIG_CAP_XBZRLE))
        return true;
    r->xbzrle = mig_xbzrle_cache_new(param(r, MP_XBZRLE_CACHE_SIZE), err);
    return r->xbzrle != NULL;
}

void mig_ram_set_multifd(MigRam *r, MigMultifdSend *m)
{
    if (cap(r, MIG_CAP_MULTIFD))
        r->multifd = m;
}

/* Bytes that went into the multifd channels: QEMU counts them as transferred, as
 * multifd-bytes and (5.0) against the rate limit; with a sim guest they cross the link. */
static void account_multifd(MigRam *r, int64_t bytes)
{
    if (bytes < 0) {
        const GError *e = mig_multifd_send_error(r->multifd);
        mig_file_set_error(r->f, "%s", e ? e->message : "multifd channel failed");
        return;
    }
    r->c->transferred += (uint64_t)bytes;
    r->c->multifd_bytes += (uint64_t)bytes;
    if (r->v5)
        r->f->bytes_xfer += (uint64_t)bytes;
    /* The simulated link carries what the channels really wrote (compressed or not). */
    r->ops->charge_link(r->opaque, (size_t)mig_multifd_take_wire_bytes(r->multifd));
}

/* QEMU's multifd_send_sync_main, before every RAM EOS. */
static void multifd_sync(MigRam *r)
{
    if (r->multifd && !mig_file_error(r->f))
        account_multifd(r, mig_multifd_sync(r->multifd));
}

void mig_ram_compress_setup(MigRam *r)
{
    if (!cap(r, MIG_CAP_COMPRESS))
        return;
    r->compress =
        mig_compress_new((unsigned)param(r, MP_COMPRESS_THREADS), (int)param(r, MP_COMPRESS_LEVEL),
                         param(r, MP_COMPRESS_WAIT_THREAD) != 0, r->g->virtual_time);
}

bool mig_ram_xbzrle_resize(MigRam *r, uint64_t bytes, GError **err)
{
    if (!r->xbzrle)
        return true;
    return mig_xbzrle_cache_resize(&r->xbzrle, bytes, err);
}

void mig_ram_free(MigRam *r)
{
    if (!r)
        return;
    r->g->ops->dirty_log_stop(r->g);
    for (unsigned b = 0; b < r->nblocks; b++)
        g_free(r->bmap[b]);
    g_free(r->bmap);
    g_free(r->npages);
    g_free(r->block_offset);
    mig_xbzrle_cache_free(r->xbzrle);
    mig_compress_free(r->compress);
    g_free(r->ignored);
    g_free(r);
}

uint64_t mig_ram_postcopy_records(MigRam *r)
{
    return r->pc_records;
}

uint64_t mig_ram_dirty_pages(MigRam *r)
{
    return r->dirty_pages;
}

uint64_t mig_ram_total(MigRam *r)
{
    uint64_t t = 0;
    for (unsigned b = 0; b < r->nblocks; b++)
        if (!r->ignored[b])
            t += r->npages[b] * MB_TARGET_PAGE_SIZE;
    return t;
}

uint64_t mig_ram_transferred_pages(MigRam *r)
{
    return r->c->normal + r->c->duplicate + r->c->compress_pages + r->c->xbzrle_pages;
}

/* Auto-converge (QEMU 5.0 migration_trigger_throttle / 4.0 inline check): when the guest
 * dirtied more than threshold% of what was sent in the period twice, throttle harder. */
static void trigger_throttle(MigRam *r)
{
    uint64_t xfer = r->c->transferred - r->bytes_xfer_prev;
    uint64_t dirty = r->num_dirty_pages_period * MB_TARGET_PAGE_SIZE;
    uint64_t threshold = r->v5 ? xfer * param(r, MP_THROTTLE_TRIGGER_THRESHOLD) / 100 : xfer / 2;

    if (!cap(r, MIG_CAP_AUTO_CONVERGE) ||
        (r->ops->block_bulk_active && r->ops->block_bulk_active(r->opaque)))
        return;
    if (dirty > threshold && ++r->dirty_rate_high_cnt >= 2) {
        r->dirty_rate_high_cnt = 0;
        int pct = r->throttle_pct;
        int initial = (int)param(r, MP_CPU_THROTTLE_INITIAL);
        int inc = (int)param(r, MP_CPU_THROTTLE_INCREMENT);
        int max = (int)param(r, MP_MAX_CPU_THROTTLE);
        pct = pct == 0 ? initial : MIN(pct + inc, max);
        r->throttle_pct = CLAMP(pct, 1, 99);
        r->ops->throttle(r->opaque, r->throttle_pct);
    }
}

/* QEMU's migration_update_rates: once per >= 1 s sync period. */
static void update_rates(MigRam *r, int64_t end_time)
{
    int64_t period = end_time - r->time_last_sync;
    uint64_t page_count = r->target_page_count - r->target_page_count_prev;
    MigCounters *c = r->c;

    c->dirty_pages_rate = r->num_dirty_pages_period * 1000 / (uint64_t)period;
    if (!page_count)
        return;
    if (cap(r, MIG_CAP_XBZRLE)) {
        c->xbzrle_cache_miss_rate =
            (double)(c->xbzrle_cache_miss - r->xbzrle_cache_miss_prev) / (double)page_count;
        r->xbzrle_cache_miss_prev = c->xbzrle_cache_miss;
    }
    if (cap(r, MIG_CAP_COMPRESS)) {
        c->compress_busy_rate =
            (double)(c->compress_busy - r->compress_busy_prev) / (double)page_count;
        r->compress_busy_prev = c->compress_busy;
        uint64_t size = c->compress_size - r->compressed_size_prev;
        if (size) {
            double uncompressed =
                (double)(c->compress_pages - r->compress_pages_prev) * MB_TARGET_PAGE_SIZE;
            c->compress_rate = uncompressed / (double)size;
            r->compress_pages_prev = c->compress_pages;
            r->compressed_size_prev = c->compress_size;
        }
    }
}

/* QEMU's migration_bitmap_sync: one pass boundary, then the driver hears of it. */
static void ram_sync(MigRam *r)
{
    r->c->dirty_sync_count++;
    if (!r->period_started) {
        r->time_last_sync = now_ms(r);
        r->period_started = true;
    }
    uint64_t n = r->g->ops->dirty_log_sync(r->g, r->bmap);
    r->dirty_pages += n;
    r->num_dirty_pages_period += n;
    r->c->remaining = r->dirty_pages * MB_TARGET_PAGE_SIZE;

    int64_t end_time = now_ms(r);
    if (end_time > r->time_last_sync + 1000) {
        uint64_t bytes_xfer_now = r->c->transferred;
        trigger_throttle(r);
        update_rates(r, end_time);
        r->target_page_count_prev = r->target_page_count;
        r->time_last_sync = end_time;
        r->num_dirty_pages_period = 0;
        r->bytes_xfer_prev = bytes_xfer_now;
    }
    MigRamPass p = { .pass = r->c->dirty_sync_count,
                     .time_ms = end_time,
                     .new_dirty_pages = n,
                     .throttle_pct = r->throttle_pct };
    r->ops->pass(r->opaque, &p);
}

/* The page header: be64 offset|flags, plus the block name unless CONTINUE applies. */
static size_t save_page_header(MigRam *r, unsigned b, uint64_t offset)
{
    size_t size = 8;

    /* In postcopy every record names its block: requested pages come between background
     * ones at moments that depend on the other side, and the stream's size must not. */
    if ((int)b == r->last_sent_block && !r->postcopy)
        offset |= RAM_SAVE_FLAG_CONTINUE;
    mig_put_be64(r->f, offset);
    if (!(offset & RAM_SAVE_FLAG_CONTINUE)) {
        const char *name = r->g->blocks[b].name;
        mig_put_counted_string(r->f, name);
        size += 1 + strlen(name);
        r->last_sent_block = (int)b;
    }
    return size;
}

/* QEMU's save_xbzrle_page.  Returns 1 when sent as XBZRLE, 0 when unchanged (nothing
 * sent), -1 when the page must go out whole (*p then points at the bytes to send: the
 * cached copy when the page entered the cache, so the destination and the cache agree
 * even if the guest writes the page again meanwhile). */
static int save_xbzrle_page(MigRam *r, unsigned b, uint64_t offset, const uint8_t **p,
                            bool last_stage)
{
    uint64_t addr = r->block_offset[b] + offset;
    uint64_t age = r->c->dirty_sync_count;

    if (!mig_xbzrle_cache_lookup(r->xbzrle, addr, age)) {
        r->c->xbzrle_cache_miss++;
        if (!last_stage && mig_xbzrle_cache_insert(r->xbzrle, addr, *p, age))
            *p = mig_xbzrle_cache_data(r->xbzrle, addr);
        return -1;
    }
    uint8_t *prev = mig_xbzrle_cache_data(r->xbzrle, addr);
    memcpy(r->xbzrle_current, *p, MB_TARGET_PAGE_SIZE);
    int len = mig_xbzrle_encode(prev, r->xbzrle_current, MB_TARGET_PAGE_SIZE, r->xbzrle_encoded,
                                MB_TARGET_PAGE_SIZE);
    if (!last_stage && len != 0) {
        memcpy(prev, r->xbzrle_current, MB_TARGET_PAGE_SIZE);
        *p = prev;
    }
    if (len == 0)
        return 0;
    if (len < 0) {
        r->c->xbzrle_overflow++;
        return -1;
    }
    size_t bytes = save_page_header(r, b, offset | RAM_SAVE_FLAG_XBZRLE);
    mig_put_byte(r->f, MIG_XBZRLE_ENCODING_FLAG);
    mig_put_be16(r->f, (uint16_t)len);
    mig_put_buffer(r->f, r->xbzrle_encoded, (size_t)len);
    bytes += (size_t)len + 1 + 2;
    r->c->xbzrle_pages++;
    r->c->xbzrle_bytes += bytes;
    r->c->transferred += bytes;
    return 1;
}

/* QEMU's save_page_use_compression: with xbzrle too, only in the bulk stage. */
static bool use_compression(MigRam *r)
{
    return r->compress && (r->bulk_stage || !r->xbzrle);
}

static void add_flushed(MigRam *r, const MigCompressFlushed *acc)
{
    r->c->compress_pages += acc->pages;
    r->c->duplicate += acc->duplicate;
    r->c->compress_size += acc->compressed_size;
    r->c->transferred += acc->transferred;
}

/* QEMU's flush_compressed_data: every thread's pending record into the stream. */
static void compress_flush(MigRam *r)
{
    MigCompressFlushed acc = { 0 };
    int64_t wait = 0;

    if (!r->compress)
        return;
    mig_compress_flush(r->compress, r->f, mb_guest_now(r->g), &wait, &acc);
    add_flushed(r, &acc);
    if (wait)
        r->ops->wait_until(r->opaque, wait);
}

/* QEMU's save_compress_page: true when a compression thread took the page. */
static bool save_compress_page(MigRam *r, unsigned b, uint64_t offset, const uint8_t *p)
{
    /* The first page of a block goes out as a normal page after flushing the threads,
     * so every compressed record can use CONTINUE. */
    if ((int)b != r->last_sent_block) {
        compress_flush(r);
        return false;
    }
    for (;;) {
        MigCompressFlushed acc = { 0 };
        int64_t wait = 0;
        bool taken =
            mig_compress_page(r->compress, r->f, offset, p, mb_guest_now(r->g), &wait, &acc);
        add_flushed(r, &acc);
        if (taken)
            return true;
        if (!wait)
            break;
        r->ops->wait_until(r->opaque, wait);
    }
    r->c->compress_busy++;
    return false;
}

/* QEMU's ram_save_target_page, in its order: (compression,) zero page, (multifd,)
 * XBZRLE outside the bulk stage, full page. */
static int save_target_page(MigRam *r, unsigned b, uint64_t page, bool last_stage)
{
    uint64_t offset = page << MB_TARGET_PAGE_BITS;
    /* When the page can only go out as a zero or a whole page, a guest that generates its
     * pages (sim) writes it straight into the stream buffer after the room for its header,
     * saving a copy of every page; guests with memory return a pointer into it as before
     * (and are copied). */
    bool plain =
        !r->postcopy && !use_compression(r) && !r->multifd && !(r->xbzrle && !r->bulk_stage);
    size_t hdr = (int)b == r->last_sent_block ? 8 : 8 + 1 + MIN(strlen(r->g->blocks[b].name), 255);
    uint8_t *room = plain ? mig_file_reserve(r->f, hdr + MB_TARGET_PAGE_SIZE) : NULL;
    /* The same for a multifd page: straight into its place in the next packet. */
    uint8_t *slot = r->multifd && !use_compression(r) && !r->postcopy
                        ? mig_multifd_page_slot(r->multifd, b)
                        : NULL;
    const uint8_t *p = r->g->ops->page_read(r->g, b, page,
                                            room   ? room + hdr
                                            : slot ? slot
                                                   : r->scratch);
    bool in_place = room && p == room + hdr;

    if (r->postcopy) {
        r->pc_records++; /* exactly one record per page in postcopy */
        /* Requested pages go out in QEMU-sized writes, not behind 256 KiB of background
         * (also on a stream reopened by a recovery). */
        r->f->big_writes = false;
    }

    if (!r->postcopy && use_compression(r) && save_compress_page(r, b, offset, p))
        return 1;
    if (mb_buffer_is_zero(p, MB_TARGET_PAGE_SIZE)) {
        r->c->duplicate++;
        r->c->transferred += save_page_header(r, b, offset | RAM_SAVE_FLAG_ZERO);
        mig_put_byte(r->f, 0);
        r->c->transferred += 1;
        if (room)
            mig_put_reserved(r->f, 0);
        /* A cached copy of what is now a zero page would be stale. */
        if (r->xbzrle && !r->bulk_stage && !use_compression(r))
            mig_xbzrle_cache_insert(r->xbzrle, r->block_offset[b] + offset, zero_page,
                                    r->c->dirty_sync_count);
        return 1;
    }
    /* QEMU's ram_save_multifd_page (never together with compression). */
    if (r->multifd && !use_compression(r) && !r->postcopy) {
        account_multifd(r, mig_multifd_queue_page(r->multifd, b, offset, p));
        r->c->normal++;
        return 1;
    }
    if (r->xbzrle && !r->bulk_stage && !r->postcopy) {
        int res = save_xbzrle_page(r, b, offset, &p, last_stage);
        if (res >= 0)
            return res;
    }
    r->c->transferred += save_page_header(r, b, offset | RAM_SAVE_FLAG_PAGE);
    if (in_place) {
        mig_put_reserved(r->f, MB_TARGET_PAGE_SIZE);
    } else {
        if (room)
            mig_put_reserved(r->f, 0);
        mig_put_buffer(r->f, p, MB_TARGET_PAGE_SIZE);
    }
    r->c->transferred += MB_TARGET_PAGE_SIZE;
    r->c->normal++;
    return 1;
}

static bool clear_dirty(MigRam *r, unsigned b, uint64_t page)
{
    bool was = mb_bit_test_and_clear(r->bmap[b], page);
    if (was)
        r->dirty_pages--;
    return was;
}

/* QEMU's ram_save_host_page: every dirty target page of one host page; the rate limiter
 * may run between them (5.0).  Leaves *page on the last page looked at. */
static int save_host_page(MigRam *r, unsigned b, uint64_t *page, bool last_stage)
{
    uint64_t per_host = r->g->blocks[b].host_page_size / MB_TARGET_PAGE_SIZE;
    int pages = 0;

    if (per_host == 0)
        per_host = 1;
    do {
        if (!clear_dirty(r, b, *page)) {
            (*page)++;
            continue;
        }
        pages += save_target_page(r, b, *page, last_stage);
        (*page)++;
        /* Unlimited during completion, so this only updates the window figures there. */
        r->ops->rate_limit(r->opaque);
    } while ((*page % per_host) && *page < r->npages[b]);
    (*page)--;
    return pages;
}

static uint64_t find_dirty(MigRam *r, unsigned b, uint64_t start)
{
    if (r->ignored[b])
        return r->npages[b];
    if (r->bulk_stage && start > 0)
        return start + 1;
    return mb_bitmap_next_set(r->bmap[b], r->npages[b], start);
}

/* QEMU's ram_find_and_save_block: returns pages sent, 0 when a full round found nothing. */
static int find_and_save_block(MigRam *r, bool last_stage)
{
    unsigned block = r->last_seen_block;
    uint64_t page = r->last_page;
    bool complete_round = false;
    int pages = 0;

    if (r->nblocks == 0)
        return 0;
    for (;;) {
        page = find_dirty(r, block, page);
        if (complete_round && block == r->last_seen_block && page >= r->last_page)
            break; /* once around and nothing dirty */
        if (page >= r->npages[block]) {
            page = 0;
            if (++block == r->nblocks) {
                /* A page sent again after the wrap must not be overtaken by its older
                 * copy still in a compression thread. */
                compress_flush(r);
                block = 0;
                complete_round = true;
                r->bulk_stage = false;
            }
            continue;
        }
        pages = save_host_page(r, block, &page, last_stage);
        if (pages)
            break;
    }
    r->last_seen_block = block;
    r->last_page = page;
    return pages;
}

void mig_ram_save_setup(MigRam *r)
{
    GError *err = NULL;
    uint64_t all = 0;

    if (!r->g->ops->dirty_log_start(r->g, &err)) {
        mig_file_set_error(r->f, "%s", err->message);
        g_error_free(err);
        return;
    }
    ram_sync(r);
    for (unsigned b = 0; b < r->nblocks; b++)
        all += r->npages[b] * MB_TARGET_PAGE_SIZE;
    mig_put_be64(r->f, all | RAM_SAVE_FLAG_MEM_SIZE);
    for (unsigned b = 0; b < r->nblocks; b++) {
        const MbRamBlock *blk = &r->g->blocks[b];
        mig_put_counted_string(r->f, blk->name);
        mig_put_be64(r->f, blk->size);
        if (cap(r, MIG_CAP_POSTCOPY_RAM) && blk->host_page_size != MB_TARGET_PAGE_SIZE)
            mig_put_be64(r->f, blk->host_page_size);
        if (cap(r, MIG_CAP_X_IGNORE_SHARED)) {
            mig_put_be64(r->f, blk->gpa);
            if (!r->v5)
                mig_put_byte(r->f, r->ignored[b]);
        }
    }
    multifd_sync(r);
    mig_put_be64(r->f, RAM_SAVE_FLAG_EOS);
    mig_file_flush(r->f);
}

uint64_t mig_ram_pending(MigRam *r, uint64_t threshold)
{
    uint64_t remaining = r->dirty_pages * MB_TARGET_PAGE_SIZE;

    if (remaining < threshold) {
        ram_sync(r);
        remaining = r->dirty_pages * MB_TARGET_PAGE_SIZE;
    }
    return remaining;
}

/* Postcopy: the pages the destination is waiting for, before anything else (QEMU's
 * get_queued_page; a page already sent is skipped). */
static void serve_requests(MigRam *r)
{
    unsigned b;
    uint64_t page;

    while (r->postcopy && r->ops->next_request && !mig_file_error(r->f) &&
           r->ops->next_request(r->opaque, r->pc_records, &b, &page)) {
        if (b < r->nblocks && page < r->npages[b] && clear_dirty(r, b, page)) {
            r->target_page_count += (uint64_t)save_target_page(r, b, page, false);
            /* QEMU 4.0+ (get_queued_page sets the search position, which
             * ram_find_and_save_block keeps): the background pass goes on after the
             * requested page, so a guest touching pages in order finds the stream just
             * ahead of it instead of faulting on every page. */
            r->last_seen_block = b;
            r->last_page = page;
            r->ops->rate_limit(r->opaque);
        }
    }
}

void mig_ram_postcopy_start(MigRam *r,
                            void (*discard)(void *opaque, unsigned block, uint64_t page,
                                            uint64_t npages),
                            void *opaque)
{
    compress_flush(r);
    multifd_sync(r);
    ram_sync(r);
    for (unsigned b = 0; b < r->nblocks; b++) {
        if (r->ignored[b])
            continue;
        uint64_t n = r->npages[b], p = mb_bitmap_next_set(r->bmap[b], n, 0);
        while (p < n) {
            uint64_t end = p + 1;
            while (end < n && mb_bit_test(r->bmap[b], end))
                end++;
            discard(opaque, b, p, end - p);
            p = end < n ? mb_bitmap_next_set(r->bmap[b], n, end) : n;
        }
    }
    r->last_seen_block = 0;
    r->last_page = 0;
    r->last_sent_block = -1;
    r->bulk_stage = false;
    r->postcopy = true;
    r->pc_pages = r->dirty_pages;
}

void mig_ram_set_file(MigRam *r, MigFile *f)
{
    r->f = f;
    r->last_sent_block = -1; /* a new stream: the first record names its block */
}

void mig_ram_postcopy_cursor(MigRam *r, unsigned block, uint64_t page)
{
    if (block < r->nblocks && page < r->npages[block]) {
        r->last_seen_block = block;
        r->last_page = page;
    }
}

uint64_t mig_ram_postcopy_resume(MigRam *r, uint64_t *const *received)
{
    uint64_t missing = 0;

    for (unsigned b = 0; b < r->nblocks; b++) {
        if (r->ignored[b])
            continue;
        uint64_t n = r->npages[b], words = (n + 63) / 64;
        for (uint64_t w = 0; w < words; w++)
            r->bmap[b][w] = ~received[b][w];
        if (n % 64)
            r->bmap[b][words - 1] &= (UINT64_C(1) << (n % 64)) - 1;
        for (uint64_t w = 0; w < words; w++)
            missing += (uint64_t)__builtin_popcountll(r->bmap[b][w]);
    }
    r->dirty_pages = missing;
    /* QEMU's ram_state_resume_prepare: the scan starts again at the first block. */
    r->last_seen_block = 0;
    r->last_page = 0;
    r->last_sent_block = -1;
    /* Every postcopy record carried one page the destination lacked at the switch and it
     * received a prefix of them, so what it lacks now tells how many records arrived. */
    r->pc_records = r->pc_pages >= missing ? r->pc_pages - missing : 0;
    return r->pc_records;
}

int mig_ram_save_iterate(MigRam *r)
{
    int64_t t0 = mb_guest_now(r->g);
    int done = 0;

    serve_requests(r);
    for (int i = 0; !mig_file_rate_limited(r->f); i++) {
        serve_requests(r);
        int pages = find_and_save_block(r, false);
        if (pages == 0) {
            done = 1;
            break;
        }
        r->target_page_count += (uint64_t)pages;
        if ((i & 63) == 0 && (mb_guest_now(r->g) - t0) / 1000000 > MAX_WAIT_MS)
            break;
    }
    multifd_sync(r);
    mig_put_be64(r->f, RAM_SAVE_FLAG_EOS);
    mig_file_flush(r->f);
    r->c->transferred += 8;
    r->ops->publish(r->opaque);
    return mig_file_error(r->f) ? -1 : done;
}

void mig_ram_name_next_block(MigRam *r)
{
    r->last_sent_block = -1;
}

void mig_ram_save_complete(MigRam *r)
{
    /* In postcopy the guest is stopped since the switch: nothing new to sync, and the
     * requested pages still go first (QEMU's ram_find_and_save_block checks the queue). */
    if (!r->postcopy)
        ram_sync(r);
    do {
        serve_requests(r);
    } while (!mig_file_error(r->f) && find_and_save_block(r, true) > 0);
    compress_flush(r);
    multifd_sync(r);
    mig_put_be64(r->f, RAM_SAVE_FLAG_EOS);
    mig_file_flush(r->f);
}
