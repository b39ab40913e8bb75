/* sim_guest: the simulated guest behind engine/guest.h.
 *
 * Time: the clock is virtual and starts at 0 (after warmup).  It moves only in wait_until;
 * while the guest runs, trace time follows at (100 - throttle)% of the virtual time that
 * passed (integer arithmetic with a carried remainder, so no rounding drift); a paused guest
 * does not advance through the trace.  Nothing here reads the wall clock.
 *
 * Locking: run/pause/is_running/set_throttle may come from any thread, so the clock and
 * run state sit under clock_lock; the replay state (metadata, dirty log, memory) sits under
 * replay_lock, taken by the migration-thread operations.  clock_lock is never held while
 * taking replay_lock. */
#include "sim_internal.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

static SimGuest *SG(MbGuest *g)
{
    return (SimGuest *)g;
}

static int64_t trace_time(SimGuest *g)
{
    g_mutex_lock(&g->clock_lock);
    int64_t tt = g->tt;
    g_mutex_unlock(&g->clock_lock);
    return tt;
}

void sim_guest_catch_up(SimGuest *g)
{
    int64_t tt = trace_time(g);
    if (sim_replay_due(&g->rep, tt))
        sim_replay_advance(&g->rep, tt);
    g->rep.tt = tt;
}

static int64_t sim_now(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    int64_t vt = g->vt;
    g_mutex_unlock(&g->clock_lock);
    return vt;
}

static void sim_wait_until(MbGuest *gg, int64_t t)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    if (t > g->vt) {
        if (g->running) {
            /* Trace time advances at (100 - throttle)% of virtual time. */
            unsigned __int128 x =
                (unsigned __int128)(uint64_t)(t - g->vt) * (unsigned)(100 - g->throttle) +
                (uint64_t)g->tt_rem;
            g->tt += (int64_t)(x / 100);
            g->tt_rem = (int64_t)(x % 100);
        }
        g->vt = t;
    }
    g_mutex_unlock(&g->clock_lock);
}

static void sim_run(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    g->running = true;
    g_mutex_unlock(&g->clock_lock);
}

static void sim_pause(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    g->running = false;
    g_mutex_unlock(&g->clock_lock);
}

static bool sim_is_running(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    bool r = g->running;
    g_mutex_unlock(&g->clock_lock);
    return r;
}

static void sim_set_throttle(MbGuest *gg, int pct)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    g->throttle = CLAMP(pct, 0, 99);
    g_mutex_unlock(&g->clock_lock);
}

static bool sim_log_start(MbGuest *gg, GError **err)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->replay_lock);
    /* Writes made before logging starts are not logged: apply them first. */
    sim_guest_catch_up(g);
    sim_replay_log_start(&g->rep);
    g_mutex_unlock(&g->replay_lock);
    return true;
}

static void sim_log_stop(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->replay_lock);
    sim_replay_log_stop(&g->rep);
    g_mutex_unlock(&g->replay_lock);
}

static uint64_t sim_log_sync(MbGuest *gg, uint64_t *const *bitmaps)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    uint64_t n = sim_replay_log_sync(&g->rep, bitmaps);
    g_mutex_unlock(&g->replay_lock);
    return n;
}

static const uint8_t *sim_page_read(MbGuest *gg, unsigned block, uint64_t page, uint8_t *scratch)
{
    SimGuest *g = SG(gg);
    g_assert(block < g->rep.nblocks && page < g->rep.blk[block].npages);
    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    if (g->rep.mem_mode) {
        const uint8_t *p = g->rep.blk[block].mem + page * SIM_PAGE_SIZE;
        g_mutex_unlock(&g->replay_lock);
        return p;
    }
    uint32_t m = g->rep.blk[block].meta[page];
    g_mutex_unlock(&g->replay_lock);
    sim_content_page(g->rep.content, block, page, SIM_META_VERSION(m),
                     (int)(m & SIM_META_CLASS_MASK), scratch);
    return scratch;
}

/* Marks a page of incoming memory as possibly non-zero.  Multifd channel threads store
 * pages of one bitmap word at once, hence the atomic OR. */
static void mark_written(SimBlock *b, uint64_t page)
{
    __atomic_fetch_or(&b->written[page >> 6], 1ULL << (page & 63), __ATOMIC_RELAXED);
}

static uint8_t *sim_page_host(MbGuest *gg, unsigned block, uint64_t page)
{
    SimGuest *g = SG(gg);
    if (block >= g->rep.nblocks || page >= g->rep.blk[block].npages || !g->rep.mem_mode)
        return NULL;
    /* The caller writes it (an XBZRLE delta, a compression thread). */
    mark_written(&g->rep.blk[block], page);
    return g->rep.blk[block].mem + page * SIM_PAGE_SIZE;
}

/* Takes a received page without reading the target: a zero page over a page never written
 * costs nothing (reading or writing never-touched anonymous memory allocates it, reading
 * too on some kernels), and in store=model only the page's digest is kept.  No lock: the incoming
 * and multifd threads store distinct pages, and the replay does not run while a guest is incoming.
 */
static bool store_page(SimReplay *r, unsigned block, uint64_t page, const uint8_t *data);

static bool sim_page_store(MbGuest *gg, unsigned block, uint64_t page, const uint8_t *data)
{
    SimGuest *g = SG(gg);
    SimReplay *r = &g->rep;
    if (block >= r->nram || page >= r->blk[block].npages)
        return false;
    return store_page(r, block, page, data);
}

static bool store_page(SimReplay *r, unsigned block, uint64_t page, const uint8_t *data)
{
    SimBlock *b = &r->blk[block];
    bool was = __atomic_load_n(&b->written[page >> 6], __ATOMIC_RELAXED) & (1ULL << (page & 63));
    if (r->model_mode) {
        /* Even writing a 0 digest would commit the digest array's page. */
        uint32_t d = data ? sim_page_digest(data) : 0;
        if (d || was)
            b->digest[page] = d;
        if (d)
            mark_written(b, page);
        return true;
    }
    if (!r->mem_mode)
        return false;
    uint8_t *mem = b->mem + page * SIM_PAGE_SIZE;
    if (data) {
        memcpy(mem, data, SIM_PAGE_SIZE);
        mark_written(b, page);
    } else if (was) {
        memset(mem, 0, SIM_PAGE_SIZE);
    }
    return true;
}

typedef struct {
    MbGuestWriteHook before;
    void *opaque;
    int64_t vt0, tt0; /* the clock when the step began: an epoch's guest time follows */
} RunWrites;

static void run_writes_hook(void *opaque, int64_t epoch_tt, const TraceEvent *ev)
{
    RunWrites *rw = opaque;
    MbGuestWrite w = { .vcpu = ev->vcpu,
                       .block = ev->block,
                       .page = ev->page,
                       .t_ns = rw->vt0 + MAX(epoch_tt - rw->tt0, 0) };
    rw->before(rw->opaque, &w);
}

/* Postcopy on the destination: time passes as in wait_until, then the writes due are
 * replayed one by one with the hook ahead of each (docs/sim.md, "postcopy").  An incoming
 * guest is not throttled, so an epoch's guest time is the step's start plus its trace time
 * since then.  The hook runs under replay_lock: nothing else replays meanwhile. */
static void sim_run_writes(MbGuest *gg, int64_t t, MbGuestWriteHook before, void *opaque)
{
    SimGuest *g = SG(gg);
    RunWrites rw = { .before = before, .opaque = opaque };

    /* No catch-up first: every write still due (time may have passed since the last
     * step) goes through the hook. */
    g_mutex_lock(&g->replay_lock);
    g_mutex_lock(&g->clock_lock);
    rw.vt0 = g->vt;
    rw.tt0 = g->tt;
    g_mutex_unlock(&g->clock_lock);
    sim_wait_until(gg, t);
    int64_t tt = trace_time(g);
    sim_replay_advance_hooked(&g->rep, tt, run_writes_hook, &rw);
    g->rep.tt = tt;
    g_mutex_unlock(&g->replay_lock);
}

/* ---- disks: blocks nram.. of the replay ---- */

static uint64_t sim_disk_log_sync(MbGuest *gg, unsigned disk, uint64_t *bitmap)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    uint64_t n = sim_replay_disk_sync(&g->rep, g->rep.nram + disk, bitmap);
    g_mutex_unlock(&g->replay_lock);
    return n;
}

static bool sim_disk_allocated(MbGuest *gg, unsigned disk, uint64_t page)
{
    SimGuest *g = SG(gg);
    g_assert(disk < gg->ndisks && page < mb_guest_disk_pages(gg, disk));
    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    /* Written at least once since the base image (the 28-bit version would have to wrap
     * exactly to 0 with the initial class for a written page to look unwritten). */
    bool a = g->rep.blk[g->rep.nram + disk].meta[page] != 0;
    g_mutex_unlock(&g->replay_lock);
    return a;
}

static const uint8_t *sim_disk_read(MbGuest *gg, unsigned disk, uint64_t page, uint8_t *scratch)
{
    g_assert(disk < gg->ndisks);
    return sim_page_read(gg, SG(gg)->rep.nram + disk, page, scratch);
}

static bool sim_disk_write(MbGuest *gg, unsigned disk, uint64_t page, const uint8_t *data)
{
    SimGuest *g = SG(gg);
    SimReplay *r = &g->rep;
    if (disk >= gg->ndisks || page >= mb_guest_disk_pages(gg, disk) || !r->blk[r->nram + disk].recv)
        return false;
    SimBlock *b = &r->blk[r->nram + disk];
    if (!store_page(r, r->nram + disk, page, data))
        return false;
    __atomic_fetch_or(&b->recv[page >> 6], 1ULL << (page & 63), __ATOMIC_RELAXED);
    return true;
}

static GBytes *sim_save_state(MbGuest *gg)
{
    return sim_state_save(SG(gg));
}

static bool sim_load_state(MbGuest *gg, const uint8_t *data, size_t len, GError **err)
{
    return sim_state_load(SG(gg), data, len, err);
}

/* A disk page the destination never received nor wrote holds what its disk image says
 * (disk-image=): the source's own content (shared storage), the base image's, or zeroes;
 * it must equal what the source has. */
static bool disk_page_unreceived_matches(const SimReplay *r, unsigned b, uint64_t p,
                                         uint8_t *expect)
{
    if (r->disk_image == SIM_DISK_SHARED)
        return true;
    uint32_t version;
    int cls = sim_replay_page_class(r, b, p, &version);
    if (r->blk[b].meta[p] == 0) /* unwritten on the source: the base image */
        return r->disk_image == SIM_DISK_BASE || cls == TRACE_CLASS_ZERO;
    sim_content_page(r->content, b, p, version, cls, expect);
    if (r->disk_image == SIM_DISK_EMPTY)
        return mb_buffer_is_zero(expect, SIM_PAGE_SIZE);
    uint8_t *base = expect + SIM_PAGE_SIZE;
    sim_content_page(r->content, b, p, 0, 0, base);
    return memcmp(expect, base, SIM_PAGE_SIZE) == 0;
}

/* One page of incoming memory (or its digest) against the content model.  `expect` has
 * room for two pages. */
static bool page_matches(const SimReplay *r, unsigned b, uint64_t p, uint8_t *expect)
{
    const SimBlock *blk = &r->blk[b];
    if (blk->recv && !mb_bit_test(blk->recv, p))
        return disk_page_unreceived_matches(r, b, p, expect);
    uint32_t version;
    int cls = sim_replay_page_class(r, b, p, &version);
    if (r->model_mode) {
        uint32_t want = 0;
        if (cls != TRACE_CLASS_ZERO) {
            sim_content_page(r->content, b, p, version, cls, expect);
            want = sim_page_digest(expect);
        }
        return (mb_bit_test(blk->written, p) ? blk->digest[p] : 0) == want;
    }
    /* A page never written is zero without reading (and allocating) it. */
    bool written = mb_bit_test(blk->written, p);
    const uint8_t *mem = blk->mem + p * SIM_PAGE_SIZE;
    if (cls == TRACE_CLASS_ZERO)
        return !written || mb_buffer_is_zero(mem, SIM_PAGE_SIZE);
    if (written) /* compared as the model generates it: no expected page built */
        return sim_content_page_equals(r->content, b, p, version, cls, mem, expect);
    sim_content_page(r->content, b, p, version, cls, expect);
    return mb_buffer_is_zero(expect, SIM_PAGE_SIZE);
}

/* Verification regenerates every page, which for a large guest costs as much as the
 * migration did: the pages are split into one contiguous range per core.  Each part
 * reports its count and its first bad page, so the result is the same for any split. */
typedef struct {
    const SimReplay *r;
    uint64_t from, to;   /* global page numbers, blocks concatenated */
    uint64_t bad, first; /* first: global page of the first bad one */
} VerifyPart;

static gpointer verify_part(gpointer opaque)
{
    VerifyPart *v = opaque;
    uint8_t *expect = g_malloc(2 * SIM_PAGE_SIZE);
    uint64_t base = 0;
    for (unsigned b = 0; b < v->r->nblocks; b++) {
        uint64_t n = v->r->blk[b].npages;
        uint64_t lo = MAX(v->from, base), hi = MIN(v->to, base + n);
        for (uint64_t g = lo; g < hi; g++)
            if (!page_matches(v->r, b, g - base, expect) && v->bad++ == 0)
                v->first = g;
        base += n;
    }
    g_free(expect);
    return NULL;
}

/* Compares every page of incoming memory with the content model at the cursor; `keep`
 * leaves the memory incoming (a COLO secondary between checkpoints). */
static bool verify_memory(MbGuest *gg, bool keep, GError **err)
{
    SimGuest *g = SG(gg);
    SimReplay *r = &g->rep;
    uint64_t bad = 0, first = UINT64_MAX, total = 0;
    bool ok;

    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    if (r->error) {
        mb_error_set(err, "sim: the trace could not be replayed: %s", r->error->message);
        ok = false;
        goto out;
    }
    if (!r->mem_mode && !r->model_mode) {
        /* Nothing received to check: a source guest, or one already verified. */
        ok = true;
        goto out;
    }
    for (unsigned b = 0; b < r->nblocks; b++)
        total += r->blk[b].npages;
    /* Threads only where it pays (a few thousand pages are checked in microseconds). */
    unsigned nparts = total < (1u << 16) ? 1 : MIN(MAX(g_get_num_processors(), 1), 8);
    VerifyPart parts[8];
    GThread *threads[8] = { 0 };
    for (unsigned i = 0; i < nparts; i++) {
        parts[i] = (VerifyPart){ r, total * i / nparts, total * (i + 1) / nparts, 0, 0 };
        if (i > 0)
            threads[i] = g_thread_try_new("sim-verify", verify_part, &parts[i], NULL);
        if (i > 0 && !threads[i])
            verify_part(&parts[i]); /* no thread: check it here, same result */
    }
    verify_part(&parts[0]);
    for (unsigned i = 0; i < nparts; i++) {
        if (threads[i])
            g_thread_join(threads[i]);
        bad += parts[i].bad;
        if (parts[i].bad && parts[i].first < first)
            first = parts[i].first;
    }
    if (bad) {
        unsigned fb = 0;
        uint64_t fp = first;
        while (fp >= r->blk[fb].npages)
            fp -= r->blk[fb++].npages;
        uint32_t version;
        int cls = sim_replay_page_class(r, fb, fp, &version);
        mb_error_set(err,
                     "sim: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " pages differ "
                     "from the source; first: block '%s' page %" G_GUINT64_FORMAT
                     " (expected %s content, version %u)",
                     bad, total, r->hdr.blocks[fb].name, fp, trace_class_name(cls), version);
        ok = false;
    } else {
        /* Verified: from now on pages come from the model, like on a source. */
        if (!keep)
            sim_replay_drop_memory(r);
        ok = true;
    }
out:
    g_mutex_unlock(&g->replay_lock);
    return ok;
}

static bool sim_verify(MbGuest *gg, GError **err)
{
    return verify_memory(gg, false, err);
}

static bool sim_check(MbGuest *gg, GError **err)
{
    return verify_memory(gg, true, err);
}

/* ---- virtio-net failover: the guest's unplug takes spec.unplug_delay_ns of guest time ---- */

static const char *sim_failover_primary(MbGuest *gg)
{
    return SG(gg)->spec.failover;
}

static void sim_failover_unplug(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    if (g->fo_plugged && !g->fo_unplugging) {
        g->fo_unplugging = true;
        g->fo_done_at = g->vt + g->spec.unplug_delay_ns;
    }
    g_mutex_unlock(&g->clock_lock);
}

static bool sim_failover_unplug_pending(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    if (g->fo_unplugging && g->vt >= g->fo_done_at) {
        g->fo_unplugging = false;
        g->fo_plugged = false;
    }
    bool pending = g->fo_unplugging;
    g_mutex_unlock(&g->clock_lock);
    return pending;
}

static void sim_failover_plug(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    g->fo_plugged = true;
    g->fo_unplugging = false;
    g_mutex_unlock(&g->clock_lock);
}

static bool sim_failover_plugged(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    g_mutex_lock(&g->clock_lock);
    bool p = g->fo_plugged && !g->fo_unplugging; /* an unplug under way counts as gone */
    g_mutex_unlock(&g->clock_lock);
    return p;
}

static const char *sim_describe(MbGuest *gg)
{
    return SG(gg)->describe;
}

static json_object *sim_info(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    SimReplay *r = &g->rep;
    json_object *o = json_object_new_object();

    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    json_object_object_add(
        o, "workload",
        json_object_new_string(g->spec.is_file ? "trace" : trace_gen_kind_name(g->spec.gen.kind)));
    json_object_object_add(o, "size", json_object_new_uint64(mb_guest_ram_size(&g->base)));
    uint64_t pages = mb_guest_ram_size(&g->base) / SIM_PAGE_SIZE;
    if (pages <= (1ULL << 26)) { /* exact count; skipped for > 256 GiB guests (seconds) */
        uint64_t counts[TRACE_NCLASSES];
        json_object *pc = json_object_new_object();
        sim_replay_count_classes(r, counts);
        for (int c = 0; c < TRACE_NCLASSES; c++)
            json_object_object_add(pc, trace_class_name(c + 1), json_object_new_uint64(counts[c]));
        json_object_object_add(o, "pages-per-class", pc);
    }
    json_object_object_add(o, "dirty-rate", json_object_new_uint64(g->rate));
    if (gg->ndisks) {
        json_object *disks = json_object_new_array();
        for (unsigned d = 0; d < gg->ndisks; d++) {
            json_object *dk = json_object_new_object();
            json_object_object_add(dk, "name", json_object_new_string(gg->disks[d].name));
            json_object_object_add(dk, "size", json_object_new_uint64(gg->disks[d].size));
            json_object_array_add(disks, dk);
        }
        json_object_object_add(o, "disks", disks);
    }
    json_object_object_add(o, "trace",
                           g->spec.is_file ? json_object_new_string(g->spec.path) : NULL);
    json_object_object_add(o, "method", json_object_new_string(trace_method_name(r->hdr.method)));
    json_object_object_add(o, "seed", json_object_new_uint64(r->hdr.content_seed));
    json_object_object_add(o, "events-replayed", json_object_new_uint64(r->events_applied));
    json_object_object_add(o, "loops", json_object_new_uint64(r->loop_count));
    json_object_object_add(o, "trace-time-ns", json_object_new_int64(r->tt));
    json_object_object_add(o, "virtual-time-ns", json_object_new_int64(sim_now(gg)));
    json_object_object_add(o, "identity", json_object_new_uint64(g->identity));
    if (g->spec.failover) {
        json_object *fo = json_object_new_object();
        json_object_object_add(fo, "primary", json_object_new_string(g->spec.failover));
        json_object_object_add(fo, "plugged", json_object_new_boolean(sim_failover_plugged(gg)));
        json_object_object_add(o, "failover", fo);
    }
    if (r->error)
        json_object_object_add(o, "replay-error", json_object_new_string(r->error->message));
    g_mutex_unlock(&g->replay_lock);
    return o;
}

static void sim_free(MbGuest *gg)
{
    SimGuest *g = SG(gg);
    sim_replay_free(&g->rep);
    sim_spec_clear(&g->spec);
    g_free(g->base.blocks);
    g_free(g->base.disks);
    g_free(g->describe);
    g_mutex_clear(&g->clock_lock);
    g_mutex_clear(&g->replay_lock);
    g_free(g);
}

static const MbGuestOps sim_ops = {
    .now = sim_now,
    .wait_until = sim_wait_until,
    .run = sim_run,
    .pause = sim_pause,
    .is_running = sim_is_running,
    .set_throttle = sim_set_throttle,
    .dirty_log_start = sim_log_start,
    .dirty_log_stop = sim_log_stop,
    .dirty_log_sync = sim_log_sync,
    .page_read = sim_page_read,
    .page_host = sim_page_host,
    .page_store = sim_page_store,
    .run_writes = sim_run_writes,
    .disk_log_sync = sim_disk_log_sync,
    .disk_allocated = sim_disk_allocated,
    .disk_read = sim_disk_read,
    .disk_write = sim_disk_write,
    .save_state = sim_save_state,
    .load_state = sim_load_state,
    .verify = sim_verify,
    .check = sim_check,
    .failover_primary = sim_failover_primary,
    .failover_unplug = sim_failover_unplug,
    .failover_unplug_pending = sim_failover_unplug_pending,
    .failover_plug = sim_failover_plug,
    .failover_plugged = sim_failover_plugged,
    .describe = sim_describe,
    .info = sim_info,
    .free = sim_free,
};

/* Nominal dirty rate: the generator's, or a file's average. */
static uint64_t nominal_rate(SimGuest *g, TraceSource *src, uint64_t file_events)
{
    const TraceHeader *h = trace_source_header(src);
    if (!g->spec.is_file)
        return g->spec.gen.kind == TRACE_GEN_IDLE ? 0 : g->spec.gen.rate;
    if (h->duration_ns <= 0)
        return 0;
    return (uint64_t)((double)file_events * h->page_size * 1e9 / (double)h->duration_ns);
}

MbGuest *sim_guest_new(const char *spec, bool incoming, GError **err)
{
    SimGuest *g = g_new0(SimGuest, 1);
    char sz[32];

    g_mutex_init(&g->clock_lock);
    g_mutex_init(&g->replay_lock);
    g->base.ops = &sim_ops;
    g->base.kind = "sim";
    g->base.virtual_time = true;
    g->incoming = incoming;
    if (!sim_spec_parse(spec, &g->spec, err)) {
        g_mutex_clear(&g->clock_lock);
        g_mutex_clear(&g->replay_lock);
        g_free(g);
        return NULL;
    }
    uint64_t file_events;
    TraceSource *src = sim_spec_open(&g->spec, &file_events, err);
    if (!src) {
        sim_free(&g->base);
        return NULL;
    }
    g->rate = nominal_rate(g, src, file_events);
    if (!sim_replay_init(&g->rep, src, &g->spec, incoming, err)) {
        sim_free(&g->base);
        return NULL;
    }
    g->identity = trace_header_digest(&g->rep.hdr);
    const TraceHeader *h = &g->rep.hdr;
    g->base.nblocks = g->rep.nram;
    g->base.nvcpus = h->nvcpus;
    g->base.blocks = g_new0(MbRamBlock, g->rep.nram);
    g->base.ndisks = h->nblocks - g->rep.nram;
    g->base.disks = g_new0(MbDisk, g->base.ndisks + 1);
    for (unsigned d = 0; d < g->base.ndisks; d++) {
        g_strlcpy(g->base.disks[d].name, h->blocks[g->rep.nram + d].name,
                  sizeof(g->base.disks[d].name));
        g->base.disks[d].size = h->blocks[g->rep.nram + d].size;
    }
    uint64_t gpa = 0;
    for (unsigned i = 0; i < g->rep.nram; i++) {
        MbRamBlock *b = &g->base.blocks[i];
        g_strlcpy(b->name, h->blocks[i].name, sizeof(b->name));
        b->size = h->blocks[i].size;
        b->host_page_size = SIM_PAGE_SIZE;
        b->shared = h->blocks[i].shared;
        b->gpa = gpa;
        gpa += (b->size + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
    }
    mb_fmt_bytes(sz, sizeof(sz), (double)trace_header_total_size(h));
    g->describe = g->spec.is_file
                      ? g_strdup_printf("sim trace %s %s seed=%" G_GUINT64_FORMAT,
                                        trace_source_name(src), sz, h->content_seed)
                      : g_strdup_printf("sim %s %s seed=%" G_GUINT64_FORMAT,
                                        trace_gen_kind_name(g->spec.gen.kind), sz, h->content_seed);
    for (unsigned d = 0; d < g->base.ndisks; d++) {
        char *old = g->describe;
        mb_fmt_bytes(sz, sizeof(sz), (double)g->base.disks[d].size);
        g->describe = g_strdup_printf("%s disk %s %s", old, g->base.disks[d].name, sz);
        g_free(old);
    }
    /* Warmup: replay this much trace time (unlogged) before the clock starts at 0. */
    g->tt = g->spec.warmup_ns;
    sim_replay_advance(&g->rep, g->tt);
    g->rep.tt = g->tt;
    if (g->rep.error) {
        if (err)
            *err = g_error_copy(g->rep.error);
        sim_free(&g->base);
        return NULL;
    }
    /* Sources run like a QEMU started without -S; destinations wait for the migration. */
    g->running = !incoming;
    /* A destination hides its failover primary until the migration completes (QEMU's
     * virtio-net plugs it when the migrated guest renegotiates its features). */
    g->fo_plugged = g->spec.failover && !incoming;
    return &g->base;
}
