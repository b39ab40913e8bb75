/* sim_replay: the simulated guest's memory state and the lazy replay of its trace.
 *
 * Applying a write bumps the page's version, sets (or keeps) its class and, while dirty
 * logging is on, sets its bit in the block's dirty log and the log word's bit in a summary
 * bitmap, so a sync visits only words that have something in them (a 1 TiB guest has 4 M
 * log words but a sync after a few thousand writes touches a few thousand).
 *
 * The replay is lazy and cursor-based: epochs are applied in order up to a trace time, the
 * cursor (completed loops, epochs applied in this loop) is what save_state transfers, and a
 * destination rebuilds identical metadata by replaying to the same cursor. */
#include "sim_internal.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

void *sim_lazy_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Incoming memory of a store=mem destination: transparent huge pages, and populated ahead
 * of the stream on a spare thread.  First touch of fresh 4 KiB pages is the slowest step of
 * a receiver (docs/benchmarks.md: 140 MB/s here, against 680 MB/s for THP populated in
 * advance and then copied at memory speed).  Populating commits the whole block, which
 * store=mem's guests (up to 2 GiB by default) can afford; store=model holds no pages. */
static gpointer prefault_thread(gpointer opaque)
{
    SimReplay *r = opaque;
    const size_t chunk = (size_t)64 << 20;

    for (unsigned i = 0; i < r->nram; i++) { /* RAM only: disks are written sparsely */
        SimBlock *b = &r->blk[i];
        size_t len = b->npages * SIM_PAGE_SIZE;
        for (size_t off = 0; off < len && !__atomic_load_n(&r->prefault_stop, __ATOMIC_RELAXED);
             off += chunk) {
            /* MADV_POPULATE_WRITE (Linux 5.14); older kernels say EINVAL: nothing lost. */
            if (madvise(b->mem + off, MIN(chunk, len - off), 23 /* MADV_POPULATE_WRITE */) < 0)
                return NULL;
        }
    }
    return NULL;
}

static void prefault_start(SimReplay *r)
{
    for (unsigned i = 0; i < r->nram; i++)
        madvise(r->blk[i].mem, r->blk[i].npages * SIM_PAGE_SIZE, MADV_HUGEPAGE);
    r->prefault = g_thread_try_new("sim-prefault", prefault_thread, r, NULL);
}

static void prefault_stop(SimReplay *r)
{
    if (!r->prefault)
        return;
    __atomic_store_n(&r->prefault_stop, true, __ATOMIC_RELAXED);
    g_thread_join(r->prefault);
    r->prefault = NULL;
}

void sim_lazy_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}

static size_t meta_bytes(const SimBlock *b)
{
    return b->npages * sizeof(uint32_t);
}
static size_t log_words(const SimBlock *b)
{
    return MB_BITS_TO_WORDS(b->npages);
}
static size_t summary_words(const SimBlock *b)
{
    return MB_BITS_TO_WORDS(log_words(b));
}
static size_t written_bytes(const SimBlock *b)
{
    return MB_BITS_TO_WORDS(b->npages) * 8;
}
static size_t digest_bytes(const SimBlock *b)
{
    return b->npages * sizeof(uint32_t);
}

bool sim_replay_init(SimReplay *r, TraceSource *src, const SimSpec *spec, bool incoming,
                     GError **err)
{
    memset(r, 0, sizeof(*r));
    r->src = src;
    trace_header_copy(&r->hdr, trace_source_header(src));
    if (spec->is_file && spec->has_seed)
        r->hdr.content_seed = spec->seed;
    if (r->hdr.page_size != SIM_PAGE_SIZE) {
        mb_error_set(err, "%s: the simulator needs 4 KiB pages, the trace has %u-byte pages",
                     trace_source_name(src), r->hdr.page_size);
        return false;
    }
    r->content = g_new(SimContent, 1);
    sim_content_init(r->content, r->hdr.content_seed, &r->hdr.init_mix);
    r->loop = spec->loop;
    r->nblocks = r->hdr.nblocks;
    r->nram = trace_header_ram_blocks(&r->hdr);
    r->disk_image = spec->disk_image;
    for (unsigned i = r->nram; i < r->nblocks; i++)
        sim_content_set_disk(r->content, i, r->hdr.blocks[i].used_pct);
    r->blk = g_new0(SimBlock, r->nblocks);
    SimStore store = SIM_STORE_MEM;
    if (incoming && !sim_store_choose(spec->store, trace_header_total_size(&r->hdr), &store, err))
        return false;
    for (unsigned i = 0; i < r->nblocks; i++) {
        SimBlock *b = &r->blk[i];
        b->npages = trace_block_pages(&r->hdr, i);
        b->meta = sim_lazy_alloc(meta_bytes(b));
        bool ok = b->meta != NULL;
        if (incoming && store == SIM_STORE_MEM) {
            b->mem = sim_lazy_alloc(b->npages * SIM_PAGE_SIZE);
            b->written = sim_lazy_alloc(written_bytes(b));
            ok = ok && b->mem && b->written;
        } else if (incoming) {
            b->digest = sim_lazy_alloc(digest_bytes(b));
            b->written = sim_lazy_alloc(written_bytes(b));
            ok = ok && b->digest && b->written;
        }
        if (i >= r->nram) { /* a disk: its write log is always on */
            b->dirty = sim_lazy_alloc(log_words(b) * 8);
            b->summary = sim_lazy_alloc(summary_words(b) * 8);
            ok = ok && b->dirty && b->summary;
            if (incoming) {
                b->recv = sim_lazy_alloc(written_bytes(b));
                ok = ok && b->recv;
            }
        }
        if (!ok) {
            mb_error_set(
                err, "cannot reserve address space for block '%s' (%" G_GUINT64_FORMAT " pages)",
                r->hdr.blocks[i].name, b->npages);
            return false;
        }
    }
    r->mem_mode = incoming && store == SIM_STORE_MEM;
    r->model_mode = incoming && store == SIM_STORE_MODEL;
    if (r->mem_mode && spec->prefault)
        prefault_start(r);
    return true;
}

bool sim_store_choose(SimStore asked, uint64_t bytes, SimStore *out, GError **err)
{
    char need[32], have[32];

    *out = asked;
    if (asked == SIM_STORE_AUTO)
        *out = bytes <= SIM_STORE_AUTO_MEM_MAX ? SIM_STORE_MEM : SIM_STORE_MODEL;
    if (*out != SIM_STORE_MEM)
        return true;
    /* Fail at setup, naming the size, rather than be OOM-killed half way through. */
    uint64_t avail = mb_host_mem_available();
    if (avail && bytes > avail) {
        mb_fmt_bytes(need, sizeof(need), (double)bytes);
        mb_fmt_bytes(have, sizeof(have), (double)avail);
        mb_error_set(err,
                     "guest RAM %s does not fit: this host has %s available; a sim "
                     "destination with store=model keeps a 4-byte digest per page instead",
                     need, have);
        return false;
    }
    return true;
}

uint32_t sim_page_digest(const uint8_t *page)
{
    if (mb_buffer_is_zero(page, SIM_PAGE_SIZE))
        return 0;
    XXH64_hash_t h = XXH3_64bits(page, SIM_PAGE_SIZE);
    uint32_t d = (uint32_t)(h ^ (h >> 32));
    return d ? d : 1;
}

void sim_replay_log_stop(SimReplay *r)
{
    for (unsigned i = 0; i < r->nram; i++) {
        SimBlock *b = &r->blk[i];
        sim_lazy_free(b->dirty, log_words(b) * 8);
        sim_lazy_free(b->summary, summary_words(b) * 8);
        b->dirty = b->summary = NULL;
    }
    r->logging = false;
}

void sim_replay_log_start(SimReplay *r)
{
    if (r->logging)
        return;
    for (unsigned i = 0; i < r->nram; i++) {
        SimBlock *b = &r->blk[i];
        b->dirty = sim_lazy_alloc(log_words(b) * 8);
        b->summary = sim_lazy_alloc(summary_words(b) * 8);
        g_assert(b->dirty && b->summary);
    }
    r->logging = true;
}

void sim_replay_drop_memory(SimReplay *r)
{
    prefault_stop(r);
    for (unsigned i = 0; i < r->nblocks; i++) {
        SimBlock *b = &r->blk[i];
        sim_lazy_free(b->mem, b->npages * SIM_PAGE_SIZE);
        sim_lazy_free(b->written, written_bytes(b));
        sim_lazy_free(b->digest, digest_bytes(b));
        sim_lazy_free(b->recv, written_bytes(b));
        b->mem = NULL;
        b->written = NULL;
        b->digest = NULL;
        b->recv = NULL;
    }
    r->mem_mode = false;
    r->model_mode = false;
}

void sim_replay_free(SimReplay *r)
{
    sim_replay_log_stop(r);
    sim_replay_drop_memory(r);
    for (unsigned i = 0; r->blk && i < r->nblocks; i++) {
        sim_lazy_free(r->blk[i].meta, meta_bytes(&r->blk[i]));
        if (i >= r->nram) {
            sim_lazy_free(r->blk[i].dirty, log_words(&r->blk[i]) * 8);
            sim_lazy_free(r->blk[i].summary, summary_words(&r->blk[i]) * 8);
        }
    }
    g_free(r->blk);
    g_free(r->content);
    trace_source_free(r->src);
    g_free(r->hdr.blocks);
    g_free(r->hdr.provenance);
    g_clear_error(&r->error);
    memset(r, 0, sizeof(*r));
}

/* Applies one epoch.  `record` is false while rebuilding metadata for load_state: then
 * neither the dirty log nor incoming memory are touched. */
static void apply(SimReplay *r, const TraceEpoch *ep, bool record)
{
    const TraceEvent *ev = ep->ev;
    size_t n = ep->n;

    if (!record || (!r->logging && !r->mem_mode && !r->model_mode && r->nram == r->nblocks)) {
        for (size_t i = 0; i < n; i++) {
            uint32_t *m = &r->blk[ev[i].block].meta[ev[i].page];
            uint32_t cls = ev[i].cls ? ev[i].cls : (*m & SIM_META_CLASS_MASK);
            *m = ((*m + 16) & ~SIM_META_CLASS_MASK) | cls;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            SimBlock *b = &r->blk[ev[i].block];
            uint64_t p = ev[i].page;
            uint32_t m = b->meta[p];
            uint32_t cls = ev[i].cls ? ev[i].cls : (m & SIM_META_CLASS_MASK);
            m = ((m + 16) & ~SIM_META_CLASS_MASK) | cls;
            b->meta[p] = m;
            if (b->dirty) { /* RAM while logging; disks always */
                b->dirty[p >> 6] |= 1ULL << (p & 63);
                b->summary[p >> 12] |= 1ULL << ((p >> 6) & 63);
            }
            /* The written bits are ORed atomically: in postcopy the incoming thread stores
             * other pages of the same bitmap word while the guest runs. */
            if (b->recv) /* a disk of a destination: this page is its own now */
                b->recv[p >> 6] |= 1ULL << (p & 63);
            if (r->mem_mode) { /* the guest writes its memory */
                sim_content_page(r->content, ev[i].block, p, SIM_META_VERSION(m), (int)cls,
                                 b->mem + p * SIM_PAGE_SIZE);
                __atomic_fetch_or(&b->written[p >> 6], 1ULL << (p & 63), __ATOMIC_RELAXED);
            } else if (r->model_mode) {
                sim_content_page(r->content, ev[i].block, p, SIM_META_VERSION(m), (int)cls,
                                 r->scratch);
                b->digest[p] = sim_page_digest(r->scratch);
                __atomic_fetch_or(&b->written[p >> 6], 1ULL << (p & 63), __ATOMIC_RELAXED);
            }
        }
    }
    r->events_applied += n;
    r->loop_events += n;
    r->epoch_pos++;
}

/* Makes r->pending the next epoch, looping at the end when allowed.  False when the trace
 * is exhausted (or failed). */
static bool fetch(SimReplay *r)
{
    if (r->have_pending)
        return true;
    if (r->exhausted)
        return false;
    for (int tries = 0; tries < 2; tries++) {
        GError *e = NULL;
        int rc = trace_source_next(r->src, &r->pending, &e);
        if (rc > 0) {
            r->have_pending = true;
            return true;
        }
        if (rc < 0) {
            if (!r->error)
                r->error = e;
            else
                g_error_free(e);
            r->exhausted = true;
            return false;
        }
        /* End of the trace: loop with times shifted, versions keep growing.  A trace
         * without writes or without duration never loops (nothing would change). */
        if (!r->loop || !r->loop_events || r->hdr.duration_ns <= 0 ||
            !trace_source_rewind(r->src, &e)) {
            if (e && !r->error)
                r->error = e;
            else if (e)
                g_error_free(e);
            r->exhausted = true;
            return false;
        }
        r->loop_offset += r->hdr.duration_ns;
        r->loop_count++;
        r->epoch_pos = 0;
        r->loop_events = 0;
    }
    r->exhausted = true;
    return false;
}

bool sim_replay_due(const SimReplay *r, int64_t tt)
{
    if (r->exhausted && !r->have_pending)
        return false;
    return !r->have_pending || r->pending.t_ns + r->loop_offset <= tt;
}

void sim_replay_advance(SimReplay *r, int64_t tt)
{
    while (fetch(r) && r->pending.t_ns + r->loop_offset <= tt) {
        apply(r, &r->pending, true);
        r->have_pending = false;
    }
}

void sim_replay_advance_hooked(SimReplay *r, int64_t tt, SimWriteHook hook, void *opaque)
{
    while (fetch(r) && r->pending.t_ns + r->loop_offset <= tt) {
        /* One event at a time, the hook first: the epoch is applied as single-event epochs
         * (the cursor moves once, after the whole epoch). */
        const TraceEpoch *ep = &r->pending;
        for (size_t i = 0; i < ep->n; i++) {
            hook(opaque, ep->t_ns + r->loop_offset, &ep->ev[i]);
            TraceEpoch one = { .t_ns = ep->t_ns, .n = 1, .ev = &ep->ev[i] };
            apply(r, &one, true);
            r->epoch_pos--;
        }
        r->epoch_pos++;
        r->have_pending = false;
    }
}

bool sim_replay_seek(SimReplay *r, uint64_t loop_count, uint64_t epoch_pos, int64_t loop_offset,
                     int64_t tt, GError **err)
{
    TraceEpoch ep;
    int rc = 1;

    for (unsigned i = 0; i < r->nblocks; i++) {
        SimBlock *b = &r->blk[i];
        sim_lazy_free(b->meta, meta_bytes(b));
        b->meta = sim_lazy_alloc(meta_bytes(b));
        if (!b->meta) {
            mb_error_set(err, "cannot reserve metadata for block '%s'", r->hdr.blocks[i].name);
            return false;
        }
    }
    r->events_applied = r->loop_events = 0;
    r->have_pending = r->exhausted = false;
    for (uint64_t l = 0; l <= loop_count; l++) {
        if (!trace_source_rewind(r->src, err))
            return false;
        r->epoch_pos = 0;
        r->loop_events = 0;
        uint64_t limit = l == loop_count ? epoch_pos : UINT64_MAX;
        while (r->epoch_pos < limit && (rc = trace_source_next(r->src, &ep, err)) > 0)
            apply(r, &ep, false);
        if (rc < 0)
            return false;
        if (r->epoch_pos < epoch_pos && l == loop_count) {
            mb_error_set(err,
                         "the saved replay position (loop %" G_GUINT64_FORMAT
                         ", epoch %" G_GUINT64_FORMAT ") is beyond the end of this trace",
                         loop_count, epoch_pos);
            return false;
        }
    }
    r->loop_count = loop_count;
    r->loop_offset = loop_offset;
    r->tt = tt;
    return true;
}

/* ORs and clears one block's log into bm (NULL: just clear). */
static uint64_t block_sync(SimBlock *b, uint64_t *bm)
{
    uint64_t newly = 0;
    uint64_t *dirty = b->dirty, *sum = b->summary;
    size_t sw = summary_words(b);
    for (size_t s = 0; s < sw; s++) {
        uint64_t bits = sum[s];
        if (!bits)
            continue;
        sum[s] = 0;
        while (bits) {
            size_t w = s * 64 + (size_t)__builtin_ctzll(bits);
            uint64_t d = dirty[w];
            dirty[w] = 0;
            if (bm) {
                newly += (uint64_t)__builtin_popcountll(d & ~bm[w]);
                bm[w] |= d;
            }
            bits &= bits - 1;
        }
    }
    return newly;
}

uint64_t sim_replay_disk_sync(SimReplay *r, unsigned b, uint64_t *bitmap)
{
    g_assert(b >= r->nram && b < r->nblocks);
    return block_sync(&r->blk[b], bitmap);
}

uint64_t sim_replay_log_sync(SimReplay *r, uint64_t *const *bitmaps)
{
    uint64_t newly = 0;

    if (!r->logging)
        return 0;
    /* No bitmap: the engine skips this block; block_sync just clears its log. */
    for (unsigned i = 0; i < r->nram; i++)
        newly += block_sync(&r->blk[i], bitmaps[i]);
    return newly;
}

void sim_replay_fill_shared(SimReplay *r)
{
    for (unsigned b = 0; (r->mem_mode || r->model_mode) && b < r->nblocks; b++) {
        SimBlock *blk = &r->blk[b];
        if (!r->hdr.blocks[b].shared)
            continue;
        for (uint64_t p = 0; p < blk->npages; p++) {
            uint32_t version;
            int cls = sim_replay_page_class(r, b, p, &version);
            if (r->model_mode) {
                if (cls != TRACE_CLASS_ZERO) {
                    sim_content_page(r->content, b, p, version, cls, r->scratch);
                    blk->digest[p] = sim_page_digest(r->scratch);
                    blk->written[p >> 6] |= 1ULL << (p & 63);
                } else if (mb_bit_test(blk->written, p)) {
                    blk->digest[p] = 0;
                }
            } else if (cls != TRACE_CLASS_ZERO) {
                sim_content_page(r->content, b, p, version, cls, blk->mem + p * SIM_PAGE_SIZE);
                blk->written[p >> 6] |= 1ULL << (p & 63);
            } else {
                memset(blk->mem + p * SIM_PAGE_SIZE, 0, SIM_PAGE_SIZE);
            }
        }
    }
}

int sim_replay_page_class(const SimReplay *r, unsigned b, uint64_t page, uint32_t *version)
{
    uint32_t m = r->blk[b].meta[page];
    int cls = (int)(m & SIM_META_CLASS_MASK);
    if (version)
        *version = SIM_META_VERSION(m);
    return cls ? cls : sim_content_initial_class(r->content, b, page);
}

void sim_replay_count_classes(const SimReplay *r, uint64_t counts[TRACE_NCLASSES])
{
    memset(counts, 0, sizeof(uint64_t) * TRACE_NCLASSES);
    for (unsigned b = 0; b < r->nram; b++)
        for (uint64_t p = 0; p < r->blk[b].npages; p++)
            counts[sim_replay_page_class(r, b, p, NULL) - 1]++;
}
