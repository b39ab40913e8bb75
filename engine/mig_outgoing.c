/* mig_outgoing: the outgoing side's state and its rules, in one file (see mig_outgoing.h).
 *
 * Every write to e->out happens here; the comments of MigOutgoing in mig_internal.h say
 * which lock guards what. */
#include "mig_outgoing.h"
#include "mb_util.h"
#include "mig_multifd.h"

#include <string.h>

void mig_out_init(MigEngine *e)
{
    g_mutex_init(&e->out.lock);
    g_cond_init(&e->out.wake);
    mig_sem_init(&e->out.pause_sem);
    e->out.passes = g_array_new(FALSE, TRUE, sizeof(MigPassRecord));
    e->out.samples = g_array_new(FALSE, TRUE, sizeof(MigSample));
    atomic_init(&e->out.state, MIG_NONE);
}

void mig_out_clear(MigEngine *e)
{
    chan_close(e->out.pending_chan);
    e->out.pending_chan = NULL;
    chan_uri_clear(&e->out.uri);
    g_clear_error(&e->out.error);
    mig_sem_clear(&e->out.pause_sem);
    g_array_free(e->out.passes, TRUE);
    e->out.passes = NULL;
    g_array_free(e->out.samples, TRUE);
    e->out.samples = NULL;
    g_cond_clear(&e->out.wake);
    g_mutex_clear(&e->out.lock);
}

void mig_out_begin(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    atomic_store(&e->out.state, MIG_NONE);
    g_clear_error(&e->out.error);
    MigCounters keep = e->out.live;
    memset(&e->out.pub, 0, sizeof(e->out.pub));
    memset(&e->out.live, 0, sizeof(e->out.live));
    if (!e->v5) {
        e->out.live = keep;
    } else {
        e->out.live.xbzrle_bytes = keep.xbzrle_bytes;
        e->out.live.xbzrle_pages = keep.xbzrle_pages;
        e->out.live.xbzrle_cache_miss = keep.xbzrle_cache_miss;
        e->out.live.xbzrle_overflow = keep.xbzrle_overflow;
        e->out.live.xbzrle_cache_miss_rate = keep.xbzrle_cache_miss_rate;
        e->out.live.compress_pages = keep.compress_pages;
        e->out.live.compress_busy = keep.compress_busy;
        e->out.live.compress_size = keep.compress_size;
        e->out.live.compress_busy_rate = keep.compress_busy_rate;
        e->out.live.compress_rate = keep.compress_rate;
    }
    e->out.pub.c = e->out.live;
    e->out.pub.total = mb_guest_ram_size(e->guest);
    atomic_store(&e->out.start_postcopy, false);
    g_array_set_size(e->out.passes, 0);
    g_array_set_size(e->out.samples, 0);
    g_mutex_unlock(&e->out.lock);

    mig_set_state(e, &e->out.state, MIG_NONE, MIG_SETUP);
    int64_t start = mb_guest_now(e->guest) / 1000000;
    g_mutex_lock(&e->out.lock);
    e->out.start_time = start;
    e->out.wall_start = mb_monotonic_ns();
    e->out.wall_end = 0;
    e->out.cpu_start = mb_process_cpu_ns();
    e->out.cpu_end = 0;
    e->out.pub.now_ms = start;
    g_mutex_unlock(&e->out.lock);
}

MigStatus mig_out_state(MigEngine *e)
{
    return (MigStatus)atomic_load(&e->out.state);
}

bool mig_out_set_state(MigEngine *e, MigStatus old, MigStatus new_state)
{
    return mig_set_state(e, &e->out.state, old, new_state);
}

void mig_out_set_error(MigEngine *e, const GError *err)
{
    g_mutex_lock(&e->out.lock);
    if (!e->out.error)
        e->out.error = g_error_copy(err);
    g_mutex_unlock(&e->out.lock);
}

void mig_out_set_target(MigEngine *e, ChanUri *uri)
{
    chan_uri_clear(&e->out.uri);
    e->out.uri = *uri;
    memset(uri, 0, sizeof(*uri));
}

void mig_out_set_pending_chan(MigEngine *e, Chan *c)
{
    chan_close(e->out.pending_chan);
    e->out.pending_chan = c;
}

const ChanUri *mig_out_uri(MigEngine *e)
{
    return &e->out.uri;
}

Chan *mig_out_take_pending_chan(MigEngine *e)
{
    Chan *c = e->out.pending_chan;
    e->out.pending_chan = NULL;
    return c;
}

void mig_out_note_block_options(MigEngine *e)
{
    e->out.must_remove_block_options = true;
}

bool mig_out_take_block_options(MigEngine *e)
{
    bool was = e->out.must_remove_block_options;
    e->out.must_remove_block_options = false;
    return was;
}

MigCounters *mig_out_live(MigEngine *e)
{
    return &e->out.live;
}

int64_t mig_out_start_time(MigEngine *e)
{
    return e->out.start_time;
}

void mig_out_attach_file(MigEngine *e, MigFile *f)
{
    g_mutex_lock(&e->out.lock);
    e->out.file = f;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_attach_multifd(MigEngine *e, struct MigMultifdSend *m)
{
    g_mutex_lock(&e->out.lock);
    e->out.multifd = m;
    g_mutex_unlock(&e->out.lock);
}

uint64_t mig_out_take_xbzrle_resize(MigEngine *e)
{
    return atomic_exchange(&e->out.xbzrle_resize, 0);
}

void mig_out_wall_wait(MigEngine *e, int64_t deadline)
{
    g_mutex_lock(&e->out.lock);
    while (mb_monotonic_ns() < deadline && atomic_load(&e->out.state) != MIG_CANCELLING) {
        gint64 end = g_get_monotonic_time() + (deadline - mb_monotonic_ns()) / 1000;
        g_cond_wait_until(&e->out.wake, &e->out.lock, end);
    }
    g_mutex_unlock(&e->out.lock);
}

void mig_out_pause_drain(MigEngine *e)
{
    while (mig_sem_trywait(&e->out.pause_sem)) {
        /* stale migrate-continue posts are drained */
    }
}

void mig_out_pause_wait(MigEngine *e)
{
    mig_sem_wait(&e->out.pause_sem);
}

void mig_out_mark_end(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    e->out.wall_end = mb_monotonic_ns();
    e->out.cpu_end = mb_process_cpu_ns();
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish(MigEngine *e, const MigOutRam *ram, void (*announce)(void *opaque),
                     void *opaque)
{
    int64_t now = mb_guest_now(e->guest) / 1000000;

    g_mutex_lock(&e->out.lock);
    e->out.pub.c = e->out.live;
    if (ram && ram->valid) {
        e->out.pub.dirty_pages = ram->dirty_pages;
        e->out.pub.total = ram->total;
        e->out.pub.ram_valid = true;
    }
    if (ram) {
        e->out.pub.disk_active = ram->disk_active;
        e->out.pub.disk_transferred = ram->disk_transferred;
        e->out.pub.disk_remaining = ram->disk_remaining;
        e->out.pub.disk_total = ram->disk_total;
    }
    e->out.pub.now_ms = now;
    if (announce)
        announce(opaque);
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish_window(MigEngine *e, double mbps, double pages_per_second,
                            int64_t expected_downtime)
{
    g_mutex_lock(&e->out.lock);
    e->out.pub.mbps = mbps;
    e->out.pub.pages_per_second = pages_per_second;
    if (expected_downtime >= 0)
        e->out.pub.expected_downtime = expected_downtime;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish_expected_downtime(MigEngine *e, int64_t ms)
{
    g_mutex_lock(&e->out.lock);
    e->out.pub.expected_downtime = ms;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish_setup_time(MigEngine *e, int64_t ms)
{
    g_mutex_lock(&e->out.lock);
    e->out.pub.setup_time = ms;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish_throttle(MigEngine *e, int pct)
{
    g_mutex_lock(&e->out.lock);
    e->out.pub.throttle_pct = pct;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_publish_complete(MigEngine *e, int64_t end_ms, int64_t downtime_start_ms,
                              uint64_t bytes)
{
    g_mutex_lock(&e->out.lock);
    e->out.pub.total_time = end_ms - e->out.start_time;
    e->out.pub.downtime = end_ms - downtime_start_ms;
    int64_t transfer_time = e->out.pub.total_time - e->out.pub.setup_time;
    if (transfer_time)
        e->out.pub.mbps = (double)bytes * 8.0 / (double)transfer_time / 1000;
    g_mutex_unlock(&e->out.lock);
}

void mig_out_add_pass(MigEngine *e, const MigPassRecord *rec)
{
    g_mutex_lock(&e->out.lock);
    g_array_append_val(e->out.passes, *rec);
    g_mutex_unlock(&e->out.lock);
}

/* A day of 100 ms windows: beyond that the timeline stops growing (reports stay bounded
 * for migrations left running for days). */
#define MAX_SAMPLES (24 * 3600 * 10)

void mig_out_add_sample(MigEngine *e, const MigSample *smp)
{
    g_mutex_lock(&e->out.lock);
    if (e->out.samples->len < MAX_SAMPLES)
        g_array_append_val(e->out.samples, *smp);
    g_mutex_unlock(&e->out.lock);
}

/* A copy of one of the recorded arrays, taken under the lock its writers hold. */
static GArray *copy_locked(MigEngine *e, GArray *from, guint elt)
{
    g_mutex_lock(&e->out.lock);
    GArray *a = g_array_sized_new(FALSE, FALSE, elt, from->len);
    g_array_append_vals(a, from->data, from->len);
    g_mutex_unlock(&e->out.lock);
    return a;
}

GArray *mig_out_samples(MigEngine *e)
{
    return copy_locked(e, e->out.samples, sizeof(MigSample));
}

void mig_out_snapshot(MigEngine *e, QmpRequest *req, MigOutSnapshot *snap)
{
    g_mutex_lock(&e->out.lock);
    if (req)
        qmp_request_mark_events(req);
    snap->state = (MigStatus)atomic_load(&e->out.state);
    snap->pub = e->out.pub;
    snap->start_time = e->out.start_time;
    snap->error_desc = e->out.error ? g_strdup(e->out.error->message) : NULL;
    g_mutex_unlock(&e->out.lock);
}

GArray *mig_out_passes(MigEngine *e)
{
    return copy_locked(e, e->out.passes, sizeof(MigPassRecord));
}

double mig_out_wall_ms(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    int64_t start = e->out.wall_start, end = e->out.wall_end;
    g_mutex_unlock(&e->out.lock);
    return end > start ? (double)(end - start) / 1e6 : -1;
}

void mig_out_attach_handshake(MigEngine *e, Chan *c)
{
    g_mutex_lock(&e->out.lock);
    e->out.handshaking = c;
    if (c && atomic_load(&e->out.state) == MIG_CANCELLING)
        chan_shutdown(c);
    g_mutex_unlock(&e->out.lock);
}

double mig_out_cpu_ms(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    int64_t start = e->out.cpu_start, end = e->out.cpu_end;
    bool ended = e->out.wall_end != 0;
    g_mutex_unlock(&e->out.lock);
    return ended && end >= start ? (double)(end - start) / 1e6 : -1;
}

void mig_out_cancel(MigEngine *e)
{
    int old;

    do {
        old = atomic_load(&e->out.state);
        if (!(e->v5 ? mig_status_is_running(old) : mig_status_is_setup_or_active_v4(old)))
            return;
        mig_set_state(e, &e->out.state, (MigStatus)old, MIG_CANCELLING);
    } while (atomic_load(&e->out.state) != MIG_CANCELLING);
    /* Woken only now that the state says cancelling (QEMU posts first, so its thread may
     * still slip into 'device' before noticing; here the outcome is always the same). */
    if (old == MIG_PRE_SWITCHOVER)
        mig_sem_post(&e->out.pause_sem);
    /* In 5.0 'cancelling' counts as running, so a second cancel swaps cancelling for
     * cancelling and emits the event again: QEMU's quirk, kept on purpose. */
    g_mutex_lock(&e->out.lock);
    if (e->out.file)
        mig_file_shutdown(e->out.file);
    if (e->out.multifd)
        mig_multifd_send_shutdown(e->out.multifd);
    if (e->out.handshaking)
        chan_shutdown(e->out.handshaking);
    g_cond_broadcast(&e->out.wake);
    g_mutex_unlock(&e->out.lock);
}

bool mig_out_continue(MigEngine *e, const char *expected, GError **err)
{
    MigStatus s = mig_out_state(e);

    if (strcmp(expected, mig_status_name(s))) {
        mb_error_set(err, "Migration not in expected state: %s", mig_status_name(s));
        return false;
    }
    mig_sem_post(&e->out.pause_sem);
    return true;
}

bool mig_out_request_postcopy(MigEngine *e, GError **err)
{
    atomic_store(&e->out.start_postcopy, true);
    return true;
}

bool mig_out_postcopy_requested(MigEngine *e)
{
    return atomic_load(&e->out.start_postcopy);
}

void mig_out_close(MigEngine *e)
{
    atomic_store(&e->out.closing, true);
    mig_out_cancel(e);
}

bool mig_out_closing(MigEngine *e)
{
    return atomic_load(&e->out.closing);
}

void mig_out_request_resume(MigEngine *e, ChanUri *uri, Chan *pending)
{
    g_mutex_lock(&e->out.lock);
    chan_uri_clear(&e->out.uri);
    e->out.uri = *uri;
    memset(uri, 0, sizeof(*uri));
    chan_close(e->out.pending_chan);
    e->out.pending_chan = pending;
    e->out.resume_requested = true;
    g_cond_broadcast(&e->out.wake);
    g_mutex_unlock(&e->out.lock);
}

bool mig_out_resume_wait(MigEngine *e)
{
    bool resume = false;

    g_mutex_lock(&e->out.lock);
    for (;;) {
        if (e->out.resume_requested) {
            e->out.resume_requested = false;
            resume = true;
            break;
        }
        if (atomic_load(&e->out.closing) || atomic_load(&e->out.state) != MIG_POSTCOPY_PAUSED)
            break;
        /* (woken by a resume or a cancel; the timeout only bounds a missed state change) */
        g_cond_wait_until(&e->out.wake, &e->out.lock, g_get_monotonic_time() + 100000);
    }
    g_mutex_unlock(&e->out.lock);
    return resume;
}

void mig_out_pause(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    if (e->out.file)
        mig_file_shutdown(e->out.file);
    g_mutex_unlock(&e->out.lock);
}

void mig_out_params_changed(MigEngine *e, const bool changed[MP__MAX])
{
    g_mutex_lock(&e->out.lock);
    MigStatus s = (MigStatus)atomic_load(&e->out.state);
    if (e->out.file) {
        /* The rate limit changes at once, for the phase the migration is in. */
        if (changed[MP_MAX_BANDWIDTH] && !mig_status_in_postcopy(s))
            mig_file_set_rate_limit(e->out.file, mig_params_num(&e->params, MP_MAX_BANDWIDTH) / 10);
        /* The running migration resizes its XBZRLE cache at its next step (QEMU 4.0/5.0
         * never resized a live cache; docs/quirks.md). */
        if (changed[MP_XBZRLE_CACHE_SIZE])
            atomic_store(&e->out.xbzrle_resize, mig_params_num(&e->params, MP_XBZRLE_CACHE_SIZE));
        if (changed[MP_MAX_POSTCOPY_BANDWIDTH] && mig_status_in_postcopy(s))
            mig_file_set_rate_limit(e->out.file,
                                    mig_params_num(&e->params, MP_MAX_POSTCOPY_BANDWIDTH) / 10);
    }
    g_mutex_unlock(&e->out.lock);
}
