/* mig_source: the outgoing migration thread (QEMU's migration_thread and friends).
 *
 * One thread per outgoing migration: connect, header, setup, the iterate loop with rate
 * limiting in 100 ms windows, completion (stop, optional pre-switchover pause, final pass,
 * device state), and the end of the migration (restart the VM on failure or cancel).  All
 * time comes from the guest clock; with a sim guest, sending bytes advances virtual time
 * through the simulated link, so every figure is deterministic. */
#include "mb_util.h"
#include "mig_multifd.h"
#include "mig_ram.h"
#include "mig_report.h"
#include "mig_scenario.h"
#include "mig_stream.h"

#include <string.h>

#define BUFFER_DELAY_MS  100 /* rate-limit window */
#define XFER_LIMIT_RATIO (1000 / BUFFER_DELAY_MS)

/* Per-migration private state of the thread. */
typedef struct MigSource {
    MigEngine *e;
    MigFile *f;
    MigRam *ram;
    Chan *rp; /* return path, read by rp_thread */
    GThread *rp_thread;
    atomic_bool rp_error;
    atomic_bool rp_shut;     /* SHUT received */
    int64_t iteration_start; /* ms */
    uint64_t iteration_initial_bytes;
    uint64_t iteration_initial_pages;
    uint64_t threshold_size;
    int64_t setup_start;
    int64_t downtime_start;
    int64_t pace_v0, pace_w0;
} MigSource;

/* ---- time ---- */

static int64_t now_ms(MigEngine *e)
{
    return mb_guest_now(e->guest) / 1000000;
}

/* Waits on the wall clock until `deadline` (monotonic ns), or until cancelled. */
static void wall_wait(MigEngine *e, int64_t deadline)
{
    g_mutex_lock(&e->out.lock);
    while (mb_monotonic_ns() < deadline && atomic_load(&e->out.state) != MIG_CANCELLING) {
        gint64 end = g_get_monotonic_time() + (deadline - mb_monotonic_ns()) / 1000;
        g_cond_wait_until(&e->out.wake, &e->out.lock, end);
    }
    g_mutex_unlock(&e->out.lock);
}

/* Lets guest time pass until t (ns).  Sim: a virtual jump, then pacing on the wall clock
 * when asked for; KVM: a real, cancellable sleep. */
static void wait_until(MigSource *s, int64_t t)
{
    MigEngine *e = s->e;

    if (!e->guest->virtual_time) {
        wall_wait(e, t);
        return;
    }
    mb_guest_wait_until(e->guest, t);
    if (e->cfg.pace > 0) {
        int64_t wall = s->pace_w0 + (int64_t)((double)(t - s->pace_v0) / e->cfg.pace);
        if (wall > mb_monotonic_ns())
            wall_wait(e, wall);
    }
}

/* Sim: bytes on the simulated link take bytes/bandwidth of virtual time. */
static void link_charge(void *opaque, size_t bytes)
{
    MigSource *s = opaque;
    MigEngine *e = s->e;

    if (!e->guest->virtual_time || !e->cfg.link_bandwidth)
        return;
    int64_t dt = (int64_t)(((unsigned __int128)bytes * 1000000000u) / e->cfg.link_bandwidth);
    wait_until(s, mb_guest_now(e->guest) + dt);
}

/* ---- statistics ---- */

static MigSource *current_source(MigEngine *e)
{
    return e->out.src;
}

void mig_source_publish_locked(MigEngine *e)
{
    MigSource *s = current_source(e);

    e->out.pub.c = e->out.live;
    if (s && s->ram) {
        e->out.pub.dirty_pages = mig_ram_dirty_pages(s->ram);
        e->out.pub.total = mig_ram_total(s->ram);
        e->out.pub.ram_valid = true;
    }
    e->out.pub.now_ms = now_ms(e);
}

void mig_source_publish(MigEngine *e)
{
    g_mutex_lock(&e->out.lock);
    mig_source_publish_locked(e);
    g_mutex_unlock(&e->out.lock);
}

static uint64_t total_bytes(MigSource *s)
{
    return s->f->pos + s->e->out.live.multifd_bytes;
}

static void update_iteration_initial_status(MigSource *s)
{
    s->iteration_start = now_ms(s->e);
    s->iteration_initial_bytes = total_bytes(s);
    s->iteration_initial_pages = s->ram ? mig_ram_transferred_pages(s->ram) : 0;
}

/* QEMU's migration_update_counters: once per >= 100 ms window. */
static void update_counters(MigSource *s, int64_t now)
{
    MigEngine *e = s->e;

    if (now < s->iteration_start + BUFFER_DELAY_MS)
        return;
    uint64_t current = total_bytes(s);
    uint64_t transferred = current - s->iteration_initial_bytes;
    uint64_t spent = (uint64_t)(now - s->iteration_start);
    double bandwidth = (double)transferred / (double)spent;
    uint64_t downtime_limit = mig_params_num(&e->params, MP_DOWNTIME_LIMIT);
    uint64_t pages = s->ram ? mig_ram_transferred_pages(s->ram) : 0;

    s->threshold_size = (uint64_t)(bandwidth * (double)downtime_limit);
    g_mutex_lock(&e->out.lock);
    e->out.pub.mbps = ((double)transferred * 8.0 / ((double)spent / 1000.0)) / 1000.0 / 1000.0;
    e->out.pub.pages_per_second =
        (double)(pages - s->iteration_initial_pages) / ((double)spent / 1000.0);
    if (e->out.live.dirty_pages_rate && transferred > 10000)
        e->out.pub.expected_downtime = (int64_t)((double)e->out.live.remaining / bandwidth);
    g_mutex_unlock(&e->out.lock);
    mig_file_reset_rate_limit(s->f);
    update_iteration_initial_status(s);
    mig_source_publish(e);
}

void mig_source_charge_link(MigEngine *e, size_t bytes)
{
    link_charge(current_source(e), bytes);
}

void mig_source_wait_until(MigEngine *e, int64_t t_ns)
{
    wait_until(current_source(e), t_ns);
}

bool mig_source_rate_limit(MigEngine *e)
{
    MigSource *s = current_source(e);
    int64_t now = now_ms(e);

    update_counters(s, now);
    mig_scenario_on_time(e, now - e->out.start_time);
    uint64_t resize = atomic_exchange(&e->out.xbzrle_resize, 0);
    if (resize)
        mig_ram_xbzrle_resize(s->ram, resize, NULL);
    if (mig_file_rate_limited(s->f) && !mig_file_error(s->f)) {
        int64_t until = s->iteration_start + BUFFER_DELAY_MS;
        if (until > now)
            wait_until(s, until * 1000000);
    }
    return false;
}

/* ---- return path ---- */

static gpointer rp_thread_fn(gpointer opaque)
{
    MigSource *s = opaque;
    uint8_t hdr[4], buf[512];

    for (;;) {
        if (!chan_read_full(s->rp, hdr, 4, NULL))
            break;
        uint16_t type = mb_ld_be16(hdr), len = mb_ld_be16(hdr + 2);
        if (type == 0 || type >= MIG_RP_MAX || len > sizeof(buf) ||
            !chan_read_full(s->rp, buf, len, NULL))
            break;
        if (type == MIG_RP_SHUT) {
            if (len != 4 || mb_ld_be32(buf) != 0) {
                GError *err =
                    g_error_new(MB_ERROR, MB_ERR_GENERIC, "RP: Sibling indicated error %u",
                                len == 4 ? mb_ld_be32(buf) : 0);
                mig_out_set_error(s->e, err);
                g_error_free(err);
                atomic_store(&s->rp_error, true);
            }
            atomic_store(&s->rp_shut, true);
            return NULL;
        }
        /* PONG and the postcopy messages need no action in precopy. */
    }
    atomic_store(&s->rp_error, true);
    return NULL;
}

static bool await_rp_close(MigSource *s)
{
    if (mig_file_error(s->f))
        chan_shutdown(s->rp);
    g_thread_join(s->rp_thread);
    s->rp_thread = NULL;
    if (!atomic_load(&s->rp_shut) && !atomic_load(&s->rp_error))
        atomic_store(&s->rp_error, true);
    return !atomic_load(&s->rp_error);
}

/* ---- completion ---- */

/* QEMU's migration_maybe_pause (pause-before-switchover). */
static bool maybe_pause(MigSource *s, MigStatus *cur, MigStatus next)
{
    MigEngine *e = s->e;

    if (!mig_cap(e, MIG_CAP_PAUSE_BEFORE_SWITCHOVER))
        return true;
    while (mig_sem_trywait(&e->out.pause_sem)) {
        /* stale migrate-continue posts are drained */
    }
    if (atomic_load(&e->out.state) != MIG_CANCELLING) {
        mig_set_state(e, &e->out.state, *cur, MIG_PRE_SWITCHOVER);
        mig_source_publish(e);
        mig_scenario_on_status(e, MIG_PRE_SWITCHOVER);
        mig_sem_wait(&e->out.pause_sem);
        mig_set_state(e, &e->out.state, MIG_PRE_SWITCHOVER, next);
        *cur = next;
    }
    return atomic_load(&e->out.state) == (int)next;
}

/* Ends auto-converge throttling and stops reporting it. */
static void throttle_off(MigEngine *e)
{
    e->guest->ops->set_throttle(e->guest, 0);
    g_mutex_lock(&e->out.lock);
    e->out.pub.throttle_pct = 0;
    g_mutex_unlock(&e->out.lock);
}

static void completion(MigSource *s)
{
    MigEngine *e = s->e;
    MigStatus cur = (MigStatus)atomic_load(&e->out.state);
    bool ok = true;

    if (cur == MIG_ACTIVE) {
        s->downtime_start = now_ms(e);
        e->out.vm_was_running = runstate_is_running(e);
        const char *rs = runstate_name(runstate_get(e));
        gchar *saved_rs = g_strdup(rs);
        runstate_vm_stop(e, RS_FINISH_MIGRATE);
        ok = maybe_pause(s, &cur, MIG_DEVICE);
        if (ok) {
            mig_file_set_rate_limit(s->f, 0);
            mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_RAM);
            mig_ram_save_complete(s->ram);
            mig_save_footer(s->f, MIG_SECTION_RAM);
            mig_save_devices(e, s->f, saved_rs);
            ok = !mig_file_error(s->f);
        }
        g_free(saved_rs);
        /* The last byte still has to cross the simulated link. */
        if (ok && e->guest->virtual_time && e->cfg.link_latency_ns)
            wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    }
    if (ok && s->rp) {
        ok = await_rp_close(s);
        if (ok && e->guest->virtual_time && e->cfg.link_latency_ns)
            wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    }
    if (ok && mig_file_error(s->f))
        ok = false;
    if (ok) {
        /* QEMU stops the throttle only after publishing "completed"; doing it first
         * means no client ever reads a completed migration that still throttles. */
        throttle_off(e);
        /* The final pass's counters, before anyone can read "completed". */
        mig_source_publish(e);
        if (!mig_cap(e, MIG_CAP_X_COLO))
            mig_set_state(e, &e->out.state, cur, MIG_COMPLETED);
    } else {
        if (mig_file_error(s->f) && e->v5)
            mig_out_set_error(e, mig_file_error(s->f));
        mig_set_state(e, &e->out.state, cur, MIG_FAILED);
    }
}

/* QEMU's migration_detect_error. */
static bool detect_error(MigSource *s)
{
    MigEngine *e = s->e;
    int state = atomic_load(&e->out.state);

    if (state == MIG_CANCELLING || state == MIG_CANCELLED)
        return true;
    const GError *fe = mig_file_error(s->f);
    if (!fe)
        return false;
    if (e->v5)
        mig_out_set_error(e, fe);
    mig_set_state(e, &e->out.state, (MigStatus)state, MIG_FAILED);
    return true;
}

/* QEMU's migration_iteration_run: false to leave the loop. */
static bool iteration_run(MigSource *s)
{
    uint64_t pending = mig_ram_pending(s->ram, s->threshold_size);

    if (pending && pending >= s->threshold_size) {
        mig_save_section_short(s->f, MIG_SEC_PART, MIG_SECTION_RAM);
        mig_ram_save_iterate(s->ram);
        mig_save_footer(s->f, MIG_SECTION_RAM);
        return true;
    }
    completion(s);
    return false;
}

static void calculate_complete(MigSource *s)
{
    MigEngine *e = s->e;
    int64_t end = now_ms(e);
    uint64_t bytes = total_bytes(s);

    g_mutex_lock(&e->out.lock);
    e->out.pub.total_time = end - e->out.start_time;
    e->out.pub.downtime = end - s->downtime_start;
    int64_t transfer_time = e->out.pub.total_time - e->out.pub.setup_time;
    if (transfer_time)
        e->out.pub.mbps = (double)bytes * 8.0 / (double)transfer_time / 1000;
    g_mutex_unlock(&e->out.lock);
}

/* QEMU's migration_iteration_finish. */
static void iteration_finish(MigSource *s)
{
    MigEngine *e = s->e;

    e->out.wall_end = mb_monotonic_ns();
    throttle_off(e);
    switch (atomic_load(&e->out.state)) {
    case MIG_COMPLETED:
        calculate_complete(s);
        runstate_set(e, RS_POSTMIGRATE);
        break;
    case MIG_FAILED:
    case MIG_CANCELLED:
    case MIG_CANCELLING:
        if (e->out.vm_was_running)
            runstate_vm_start(e);
        else if (runstate_get(e) == RS_FINISH_MIGRATE)
            runstate_set(e, RS_POSTMIGRATE);
        break;
    default: break;
    }
}

static bool connect_channel(MigSource *s, GError **err)
{
    MigEngine *e = s->e;
    Chan *c = e->out.pending_chan;

    e->out.pending_chan = NULL;
    if (!c)
        c = chan_connect(&e->out.uri, err);
    if (!c)
        return false;
    /* TLS is not built yet, so no credentials object can exist: fail as QEMU does when
     * tls-creds names no object (migration_tls_get_creds), after the connection and before
     * a byte of guest memory goes out.  Encryption asked for is never dropped silently. */
    char *creds = mig_params_str(&e->params, MP_TLS_CREDS);
    bool tls = creds && *creds;
    if (tls)
        mb_error_set(err, "No TLS credentials with id '%s'", creds);
    g_free(creds);
    if (tls) {
        chan_close(c);
        return false;
    }
    if (e->guest->virtual_time && e->cfg.link_latency_ns)
        wait_until(s, mb_guest_now(e->guest) + 2 * e->cfg.link_latency_ns);
    s->f = mig_file_new(c, true);
    s->f->on_flush = link_charge;
    s->f->opaque = s;
    return true;
}

static void setup(MigSource *s)
{
    MigEngine *e = s->e;

    g_mutex_lock(&e->out.lock);
    e->out.pub.expected_downtime = (int64_t)mig_params_num(&e->params, MP_DOWNTIME_LIMIT);
    e->out.file = s->f;
    g_mutex_unlock(&e->out.lock);
    mig_file_set_rate_limit(s->f, mig_params_num(&e->params, MP_MAX_BANDWIDTH) / XFER_LIMIT_RATIO);
    if (mig_cap(e, MIG_CAP_POSTCOPY_RAM) || mig_cap(e, MIG_CAP_RETURN_PATH)) {
        s->rp = chan_return_path(s->f->chan);
        if (s->rp)
            s->rp_thread = g_thread_new("mig-return-path", rp_thread_fn, s);
    }
    s->setup_start = now_ms(e);
    update_iteration_initial_status(s);
    mig_save_header(e, s->f);
    if (s->rp) {
        uint8_t one[4];
        mb_st_be32(one, 1);
        mig_save_command(s->f, MIG_CMD_OPEN_RETURN_PATH, 0, NULL);
        mig_save_command(s->f, MIG_CMD_PING, 4, one);
    }
    s->ram = mig_ram_new(e, s->f);
    mig_ram_compress_setup(s->ram);
    GError *xerr = NULL;
    if (!mig_ram_multifd_setup(s->ram, &xerr) || !mig_ram_xbzrle_setup(s->ram, &xerr)) {
        /* A setup error: recorded for error-desc under every schema (QEMU 4.0 records
         * setup errors too; only stream I/O errors went unrecorded before 4.2). */
        mig_out_set_error(s->e, xerr);
        mig_file_set_error(s->f, "%s", xerr->message);
        g_error_free(xerr);
    }
    mig_save_section_header(s->f, MIG_SEC_START, MIG_SECTION_RAM, "ram", MIG_RAM_VERSION);
    mig_ram_save_setup(s->ram);
    mig_save_footer(s->f, MIG_SECTION_RAM);
    mig_file_flush(s->f);

    g_mutex_lock(&e->out.lock);
    e->out.pub.setup_time = now_ms(e) - s->setup_start;
    g_mutex_unlock(&e->out.lock);
    mig_source_publish(e);
    mig_set_state(e, &e->out.state, MIG_SETUP, MIG_ACTIVE);
}

static gpointer source_thread(gpointer opaque)
{
    MigSource *s = opaque;
    MigEngine *e = s->e;
    GError *err = NULL;

    s->pace_v0 = mb_guest_now(e->guest);
    s->pace_w0 = mb_monotonic_ns();
    if (!connect_channel(s, &err)) {
        mig_out_set_error(e, err);
        g_error_free(err);
        mig_set_state(e, &e->out.state, MIG_SETUP, MIG_FAILED);
        goto cleanup;
    }
    setup(s);
    while (atomic_load(&e->out.state) == MIG_ACTIVE) {
        if (!mig_file_rate_limited(s->f) && !iteration_run(s))
            break;
        if (detect_error(s))
            break;
        mig_source_rate_limit(e);
    }
    iteration_finish(s);

cleanup:
    if (s->rp_thread) {
        chan_shutdown(s->rp);
        g_thread_join(s->rp_thread);
    }
    chan_close(s->rp);
    mig_source_publish(e);
    g_mutex_lock(&e->out.lock);
    e->out.file = NULL;
    e->out.src = NULL;
    g_mutex_unlock(&e->out.lock);
    mig_ram_free(s->ram);
    mig_file_close(s->f);
    /* QEMU does both in one main-loop step, so a client never sees 'cancelled' with the
     * blk/inc options still on: undo them first. */
    if (e->out.must_remove_block_options) {
        e->out.must_remove_block_options = false;
        mig_block_options_undo(e);
    }
    mig_set_state(e, &e->out.state, MIG_CANCELLING, MIG_CANCELLED);
    mig_report_source_end(e);
    g_free(s);
    return NULL;
}

bool mig_source_start(MigEngine *e, GError **err)
{
    MigSource *s = g_new0(MigSource, 1);

    s->e = e;
    mig_source_join(e);
    e->out.src = s;
    e->out.thread = g_thread_try_new("migration", source_thread, s, err);
    if (!e->out.thread) {
        e->out.src = NULL;
        g_free(s);
        return false;
    }
    return true;
}

void mig_source_cancel(MigEngine *e)
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
    g_cond_broadcast(&e->out.wake);
    g_mutex_unlock(&e->out.lock);
}

void mig_source_join(MigEngine *e)
{
    if (e->out.thread) {
        g_thread_join(e->out.thread);
        e->out.thread = NULL;
    }
}
