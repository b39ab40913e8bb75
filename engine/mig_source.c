/* mig_source: the outgoing migration thread (QEMU's migration_thread and friends).
 *
 * One thread per outgoing migration: connect, header, setup, the iterate loop with rate
 * limiting in 100 ms windows, completion (stop, optional pre-switchover pause, final pass,
 * device state), and the end of the migration (restart the VM on failure or cancel).  All
 * time comes from the guest clock; with a sim guest, sending bytes advances virtual time
 * through the simulated link, so every figure is deterministic.
 *
 * This thread is RAM saving's driver: it hands mig_ram_save.c a MigRamOps table and does
 * what RAM saving asks for at each point (rate limit, waits, publication), and it is the
 * one that records each pass, publishes it and emits MIGRATION_PASS, then runs the
 * scenario's pass actions, in that order.  The outgoing state is written only through
 * mig_outgoing.h.  Its return path and postcopy (switch, pause, recovery) are in
 * mig_source_pc.c, the clock and stream helpers in mig_source_io.c (mig_source_int.h). */
#include "mig_source.h"
#include "mig_source_io.h"
#include "mig_source_pc.h"
#include "mig_tls.h"
#include "mb_util.h"
#include "mig_colo.h"
#include "mig_failover.h"
#include "mig_bitmap_stream.h"
#include "mig_block.h"
#include "mig_multifd.h"
#include "mig_outgoing.h"
#include "mig_pc_queue.h"
#include "mig_ram.h"
#include "mig_retpath.h"
#include "mig_report.h"
#include "mig_scenario.h"
#include "mig_settings.h"
#include "mig_savevm.h"

#include <string.h>

/* ---- statistics ---- */

/* QEMU's migration_update_counters: once per >= 100 ms window. */
static void update_counters(MigSource *s, int64_t now)
{
    MigEngine *e = s->e;
    const MigCounters *live = mig_out_live(e);

    if (now < s->iteration_start + BUFFER_DELAY_MS)
        return;
    uint64_t current = mig_src_total_bytes(s);
    uint64_t transferred = current - s->iteration_initial_bytes;
    uint64_t spent = (uint64_t)(now - s->iteration_start);
    double bandwidth = (double)transferred / (double)spent;
    uint64_t downtime_limit = mig_params_num(&e->params, MP_DOWNTIME_LIMIT);
    uint64_t pages = s->ram ? mig_ram_transferred_pages(s->ram) : 0;

    s->threshold_size = (uint64_t)(bandwidth * (double)downtime_limit);
    int64_t expected = -1;
    if (live->dirty_pages_rate && transferred > 10000)
        expected = (int64_t)((double)live->remaining / bandwidth);
    double mbps = ((double)transferred * 8.0 / ((double)spent / 1000.0)) / 1000.0 / 1000.0;
    mig_out_publish_window(
        e, mbps, (double)(pages - s->iteration_initial_pages) / ((double)spent / 1000.0), expected);
    mig_file_reset_rate_limit(s->f);
    mig_src_update_iteration_initial_status(s);
    mig_src_publish(s);
    /* The timeline point of this window, from what was just published. */
    MigSample smp = { .time_ms = now - mig_out_start_time(e),
                      .transferred = live->transferred,
                      .remaining = live->remaining,
                      .mbps = mbps,
                      .dirty_rate = live->dirty_pages_rate * MB_TARGET_PAGE_SIZE,
                      .throttle_pct = s->throttle_pct,
                      .pass = live->dirty_sync_count };
    mig_out_add_sample(e, &smp);
}

/* QEMU's migration_rate_limit: between target pages and between iterate rounds. */
static void rate_limit(MigSource *s)
{
    MigEngine *e = s->e;
    int64_t now = mig_src_now_ms(e);

    update_counters(s, now);
    mig_scenario_on_time(e, now - mig_out_start_time(e));
    mig_src_pc_rate_note(s);
    uint64_t resize = mig_out_take_xbzrle_resize(e);
    if (resize)
        mig_ram_xbzrle_resize(s->ram, resize, NULL);
    /* (A stream shut down by migrate-pause or cancel sends nothing more: waiting out the
     * window would only move the guest clock.) */
    if (mig_file_rate_limited(s->f) && !mig_file_error(s->f) &&
        !atomic_load(&s->f->shutdown_requested)) {
        int64_t until = s->iteration_start + BUFFER_DELAY_MS;
        if (until > now)
            mig_src_wait_until(s, until * 1000000);
    }
}

/* ---- RAM saving's driver (MigRamOps) ---- */

static void ram_rate_limit(void *opaque)
{
    rate_limit(opaque);
}

static void ram_wait_until(void *opaque, int64_t t_ns)
{
    mig_src_wait_until(opaque, t_ns);
}

static void ram_publish(void *opaque)
{
    mig_src_publish(opaque);
}

/* Runs under the publication lock: MIGRATION_PASS goes out in the same step as the
 * counters it announces. */
static void announce_pass(void *opaque)
{
    MigSource *s = opaque;

    if (!mig_cap(s->e, MIG_CAP_EVENTS))
        return;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "pass", json_object_new_int64((int64_t)s->pass));
    qmp_server_emit_event(s->e->qmp, "MIGRATION_PASS", d);
}

/* A pass boundary: record it, publish and announce in one step under the lock
 * query-migrate marks the event queue under (a reply shows this pass's dirty-sync-count
 * exactly when the client has seen its MIGRATION_PASS: QEMU's counters are live and the
 * event follows), then the scenario's actions for this pass. */
static void ram_pass(void *opaque, const MigRamPass *p)
{
    MigSource *s = opaque;
    MigEngine *e = s->e;
    const MigCounters *c = mig_out_live(e);
    MigPassRecord rec = { .pass = p->pass,
                          .time_ms = p->time_ms - mig_out_start_time(e),
                          .transferred = c->transferred,
                          .remaining = c->remaining,
                          .new_dirty_pages = p->new_dirty_pages,
                          .dirty_pages_rate = c->dirty_pages_rate,
                          .throttle_pct = p->throttle_pct };

    mig_out_add_pass(e, &rec);
    s->pass = p->pass;
    mig_src_publish_with(s, announce_pass, s);
    mig_scenario_on_pass(e, p->pass);
}

/* Auto-converge: published first, then applied (QEMU's mig_throttle_guest_down). */
static void ram_throttle(void *opaque, int pct)
{
    MigSource *s = opaque;

    mig_out_publish_throttle(s->e, pct);
    s->throttle_pct = pct;
    s->e->guest->ops->set_throttle(s->e->guest, pct);
}

/* Gives up waiting for the destination's schedule when the migration cannot go on. */
static bool pc_stop(void *opaque)
{
    MigSource *s = opaque;
    return mig_file_error(s->f) || mig_out_state(s->e) != MIG_POSTCOPY_ACTIVE;
}

static bool ram_next_request(void *opaque, uint64_t record, unsigned *block, uint64_t *page)
{
    MigSource *s = opaque;

    if (!s->pcq)
        return false;
    /* The destination may be waiting for what is still buffered here.  Flushing at every
     * record (not when the buffer happens to be full while we wait) keeps the link charges,
     * and so the clock, deterministic. */
    mig_file_flush(s->f);
    /* Past the last record nothing is left to wait for (after a recovery the destination
     * may never settle it: its model ended long ago). */
    if (record >= s->pc_records)
        return false;
    return mig_pc_queue_next(s->pcq, record, block, page, pc_stop, s);
}

static bool ram_block_bulk_active(void *opaque)
{
    return mig_block_bulk_active(((MigSource *)opaque)->block);
}

static const MigRamOps ram_ops = {
    .next_request = ram_next_request,
    .rate_limit = ram_rate_limit,
    .wait_until = ram_wait_until,
    .charge_link = mig_src_link_charge,
    .publish = ram_publish,
    .pass = ram_pass,
    .throttle = ram_throttle,
    .block_bulk_active = ram_block_bulk_active,
};

/* ---- completion ---- */

/* Ends auto-converge throttling and stops reporting it. */
static void throttle_off(MigEngine *e)
{
    e->guest->ops->set_throttle(e->guest, 0);
    mig_out_publish_throttle(e, 0);
}

static void completion(MigSource *s)
{
    MigEngine *e = s->e;
    MigStatus cur = mig_out_state(e);
    bool ok = true;

    if (cur == MIG_ACTIVE) {
        s->downtime_start = mig_src_now_ms(e);
        s->vm_was_running = runstate_is_running(e);
        const char *rs = runstate_name(runstate_get(e));
        gchar *saved_rs = g_strdup(rs);
        runstate_vm_stop(e, RS_FINISH_MIGRATE);
        ok = mig_src_maybe_pause(s, &cur, MIG_DEVICE);
        if (ok) {
            mig_file_set_rate_limit(s->f, 0);
            if (s->block) { /* handlers complete in registration order: block first */
                mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_BLOCK);
                mig_block_save_complete(s->block);
                mig_save_footer(s->f, MIG_SECTION_BLOCK);
                mig_src_publish(s); /* no disk figures from here on, as QEMU */
            }
            mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_RAM);
            mig_ram_save_complete(s->ram);
            mig_save_footer(s->f, MIG_SECTION_RAM);
            if (s->bitmaps) {
                mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_DIRTY_BITMAP);
                mig_bitmap_save_complete(e->bitmaps, s->f, s->nbitmaps);
                mig_save_footer(s->f, MIG_SECTION_DIRTY_BITMAP);
            }
            mig_save_devices(e, s->f, saved_rs);
            ok = !mig_file_error(s->f);
        }
        g_free(saved_rs);
        /* The last byte still has to cross the simulated link. */
        if (ok && e->guest->virtual_time && e->cfg.link_latency_ns)
            mig_src_wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    } else if (cur == MIG_POSTCOPY_ACTIVE) {
        /* QEMU's qemu_savevm_state_complete_postcopy: the last RAM (none is left unless
         * the threshold cut the background pass short), END, EOF; the devices went in the
         * package.  The destination's model learns a rate changed since the last section
         * first (the rest goes at it). */
        mig_src_pc_rate_sync(s);
        mig_file_set_rate_limit(s->f, 0);
        mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_RAM);
        mig_ram_save_complete(s->ram);
        mig_save_footer(s->f, MIG_SECTION_RAM);
        mig_put_byte(s->f, MIG_SEC_EOF);
        mig_file_flush(s->f);
        ok = !mig_file_error(s->f);
        if (ok && e->guest->virtual_time && e->cfg.link_latency_ns)
            mig_src_wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    }
    if (ok && s->rp) {
        ok = mig_src_await_rp_close(s);
        if (ok && e->guest->virtual_time && e->cfg.link_latency_ns)
            mig_src_wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    }
    if (ok && mig_file_error(s->f))
        ok = false;
    if (ok) {
        /* QEMU stops the throttle only after publishing "completed"; doing it first
         * means no client ever reads a completed migration that still throttles. */
        throttle_off(e);
        /* The final pass's counters, before anyone can read "completed". */
        mig_src_publish(s);
        if (!mig_cap(e, MIG_CAP_X_COLO))
            mig_out_set_state(e, cur, MIG_COMPLETED);
    } else {
        if (mig_file_error(s->f) && e->v5)
            mig_out_set_error(e, mig_file_error(s->f));
        mig_out_set_state(e, cur, MIG_FAILED);
    }
}

/* QEMU's migration_detect_error. */
static bool detect_error(MigSource *s)
{
    MigEngine *e = s->e;
    MigStatus state = mig_out_state(e);

    if (state == MIG_CANCELLING || state == MIG_CANCELLED)
        return true;
    const GError *fe = mig_file_error(s->f);
    /* migrate-pause shut the stream down: a stream that is rate-limited for good writes
     * nothing more, so the error is latched here (QEMU sees -EIO at its next write). */
    if (!fe && state == MIG_POSTCOPY_ACTIVE && atomic_load(&s->f->shutdown_requested)) {
        mig_file_set_error(s->f, "Channel shut down (migrate-pause)");
        fe = mig_file_error(s->f);
    }
    if (!fe)
        return false;
    if (state == MIG_POSTCOPY_ACTIVE)
        return !mig_src_postcopy_pause(s);
    if (e->v5)
        mig_out_set_error(e, fe);
    mig_out_set_state(e, state, MIG_FAILED);
    return true;
}

/* QEMU's qemu_savevm_state_iterate: each live handler in registration order (block, then
 * RAM), none once the stream is rate limited. */
static void savevm_iterate(MigSource *s)
{
    if (s->block) {
        mig_save_section_short(s->f, MIG_SEC_PART, MIG_SECTION_BLOCK);
        mig_block_save_iterate(s->block);
        mig_save_footer(s->f, MIG_SECTION_BLOCK);
        /* QEMU goes on to the next handler after one that wrote bytes (block always
         * writes its EOS mark), unless the stream is rate limited. */
        if (mig_file_rate_limited(s->f))
            return;
    }
    mig_save_section_short(s->f, MIG_SEC_PART, MIG_SECTION_RAM);
    mig_ram_save_iterate(s->ram);
    mig_save_footer(s->f, MIG_SECTION_RAM);
}

/* QEMU's migration_iteration_run: false to leave the loop. */
static bool iteration_run(MigSource *s)
{
    MigEngine *e = s->e;
    bool in_postcopy = mig_out_state(e) == MIG_POSTCOPY_ACTIVE;
    /* Never a sync in postcopy: the guest is stopped here. */
    uint64_t pending = mig_ram_pending(s->ram, in_postcopy ? 0 : s->threshold_size);

    if (s->block)
        pending += mig_block_pending(s->block, s->threshold_size);
    if (pending && pending >= s->threshold_size) {
        /* RAM is all postcopiable, so the switch happens at the first iteration after
         * migrate-start-postcopy once the precopy-only rest (block migration) is small. */
        if (!in_postcopy && s->pcq && mig_out_postcopy_requested(e) &&
            (!s->block || mig_block_pending(s->block, s->threshold_size) <= s->threshold_size)) {
            mig_src_postcopy_start(s);
            return true;
        }
        if (in_postcopy) {
            mig_src_pc_rate_sync(s);
            mig_save_section_short(s->f, MIG_SEC_PART, MIG_SECTION_RAM);
            mig_ram_save_iterate(s->ram);
            mig_save_footer(s->f, MIG_SECTION_RAM);
        } else {
            savevm_iterate(s);
        }
        return true;
    }
    completion(s);
    return false;
}

static void calculate_complete(MigSource *s)
{
    MigEngine *e = s->e;
    int64_t end = mig_src_now_ms(e);
    uint64_t bytes = mig_src_total_bytes(s);

    /* Postcopy's downtime ended when the package was out (QEMU sets it in postcopy_start). */
    mig_out_publish_complete(e, end, s->pc_downtime >= 0 ? end - s->pc_downtime : s->downtime_start,
                             bytes);
}

/* QEMU's migration_iteration_finish. */
static void iteration_finish(MigSource *s)
{
    MigEngine *e = s->e;

    mig_out_mark_end(e);
    throttle_off(e);
    switch (mig_out_state(e)) {
    case MIG_ACTIVE:
        /* Completed with x-colo: the source becomes the COLO primary (QEMU's
         * migrate_start_colo_process); it ends in 'completed' with the guest running. */
        if (mig_cap(e, MIG_CAP_X_COLO)) {
            MigColoPrimary p = { .f = s->f, .ram = s->ram };
            mig_colo_primary_run(e, &p);
        }
        break;
    case MIG_COMPLETED:
        calculate_complete(s);
        runstate_set(e, RS_POSTMIGRATE);
        break;
    case MIG_FAILED:
    case MIG_CANCELLED:
    case MIG_CANCELLING:
        if (s->vm_was_running)
            runstate_vm_start(e);
        else if (runstate_get(e) == RS_FINISH_MIGRATE)
            runstate_set(e, RS_POSTMIGRATE);
        break;
    default: break;
    }
}

static bool connect_channel(MigSource *s, GError **err)
{
    s->f = mig_src_open_stream(s, err);
    return s->f != NULL;
}

/* Each multifd channel runs TLS like the main one (QEMU 5.2 on; see docs/quirks.md). */
static bool multifd_wrap(void *opaque, Chan *c, GError **err)
{
    MigEngine *e = opaque;
    return mig_tls_outgoing(e, c, mig_out_uri(e), err);
}

/* Opens the multifd channels when the capability is on, reachable by cancel from then on. */
static bool multifd_setup(MigSource *s, GError **err)
{
    MigMultifdConfig cfg;

    if (!mig_cap(s->e, MIG_CAP_MULTIFD))
        return true;
    mig_multifd_config(s->e, &cfg);
    cfg.wrap = multifd_wrap;
    cfg.wrap_opaque = s->e;
    s->multifd = mig_multifd_send_new(&cfg, mig_out_uri(s->e), err);
    if (!s->multifd)
        return false;
    mig_out_attach_multifd(s->e, s->multifd);
    mig_ram_set_multifd(s->ram, s->multifd);
    return true;
}

/* QEMU 5.0's wait-unplug: once the live sections are set up, poll every 250 ms (guest
 * time) until the guest has unplugged its failover primary or the migration is cancelled;
 * the setup -> active that follows is then a silent no-op. */
#define UNPLUG_POLL_NS (250 * (int64_t)1000000)
static void wait_unplug(MigSource *s)
{
    MigEngine *e = s->e;

    if (!mig_failover_unplug_pending(e))
        return;
    mig_out_set_state(e, MIG_SETUP, MIG_WAIT_UNPLUG);
    while (mig_out_state(e) == MIG_WAIT_UNPLUG && mig_failover_unplug_pending(e))
        mig_src_wait_until(s, mb_guest_now(e->guest) + UNPLUG_POLL_NS);
    mig_out_set_state(e, MIG_WAIT_UNPLUG, MIG_ACTIVE);
}

static void setup(MigSource *s)
{
    MigEngine *e = s->e;

    /* virtio-net's migration notifier, at setup: the guest is asked to unplug. */
    mig_failover_unplug(e);
    mig_out_publish_expected_downtime(e, (int64_t)mig_params_num(&e->params, MP_DOWNTIME_LIMIT));
    mig_out_attach_file(e, s->f);
    mig_file_set_rate_limit(s->f, mig_params_num(&e->params, MP_MAX_BANDWIDTH) / XFER_LIMIT_RATIO);
    if (mig_cap(e, MIG_CAP_POSTCOPY_RAM) || mig_cap(e, MIG_CAP_RETURN_PATH)) {
        s->rp = chan_return_path(s->f->chan);
        if (s->rp)
            mig_src_rp_start(s);
    }
    s->setup_start = mig_src_now_ms(e);
    mig_src_update_iteration_initial_status(s);
    mig_save_header(e, s->f);
    if (s->rp) {
        uint8_t one[4];
        mb_st_be32(one, 1);
        mig_save_command(s->f, MIG_CMD_OPEN_RETURN_PATH, 0, NULL);
        mig_save_command(s->f, MIG_CMD_PING, 4, one);
    }
    if (mig_cap(e, MIG_CAP_POSTCOPY_RAM)) {
        /* POSTCOPY_ADVISE: the OR of the blocks' page sizes, the target page size. */
        uint8_t adv[16];
        uint64_t sizes = 0;
        for (unsigned b = 0; b < e->guest->nblocks; b++)
            sizes |= e->guest->blocks[b].host_page_size;
        mb_st_be64(adv, sizes);
        mb_st_be64(adv + 8, MB_TARGET_PAGE_SIZE);
        mig_save_command(s->f, MIG_CMD_POSTCOPY_ADVISE, 16, adv);
        s->pcq = mig_pc_queue_new();
    } else if (mig_cap(e, MIG_CAP_DIRTY_BITMAPS)) {
        /* QEMU advises postcopy for dirty bitmaps too: without postcopy-ram, empty. */
        mig_save_command(s->f, MIG_CMD_POSTCOPY_ADVISE, 0, NULL);
    }
    if (mig_cap(e, MIG_CAP_X_COLO))
        mig_save_command(s->f, MIG_CMD_ENABLE_COLO, 0, NULL);
    MigRamConfig rc = { .guest = e->guest,
                        .file = s->f,
                        .counters = mig_out_live(e),
                        .caps = &e->caps,
                        .params = &e->params,
                        .v5 = e->v5,
                        .ops = &ram_ops,
                        .opaque = s };
    s->ram = mig_ram_new(&rc);
    mig_ram_compress_setup(s->ram);
    GError *xerr = NULL;
    if (!multifd_setup(s, &xerr) || !mig_ram_xbzrle_setup(s->ram, &xerr)) {
        /* A setup error: recorded for error-desc under every schema (QEMU 4.0 records
         * setup errors too; only stream I/O errors went unrecorded before 4.2). */
        mig_out_set_error(s->e, xerr);
        mig_file_set_error(s->f, "%s", xerr->message);
        g_error_free(xerr);
    }
    if (mig_cap(e, MIG_CAP_BLOCK)) {
        MigBlockConfig bc = { .guest = e->guest,
                              .file = s->f,
                              .log = e->disk_log,
                              .incremental = mig_params_num(&e->params, MP_BLOCK_INCREMENTAL),
                              .zero_blocks = mig_cap(e, MIG_CAP_ZERO_BLOCKS) };
        s->block = mig_block_new(&bc);
        mig_save_section_header(s->f, MIG_SEC_START, MIG_SECTION_BLOCK, "block", MIG_BLOCK_VERSION);
        mig_block_save_setup(s->block);
        mig_save_footer(s->f, MIG_SECTION_BLOCK);
    }
    mig_save_section_header(s->f, MIG_SEC_START, MIG_SECTION_RAM, "ram", MIG_RAM_VERSION);
    mig_ram_save_setup(s->ram);
    mig_save_footer(s->f, MIG_SECTION_RAM);
    if (mig_cap(e, MIG_CAP_DIRTY_BITMAPS)) {
        s->bitmaps = true;
        mig_save_section_header(s->f, MIG_SEC_START, MIG_SECTION_DIRTY_BITMAP, "dirty-bitmap",
                                MIG_DIRTY_BITMAP_VERSION);
        s->nbitmaps = mig_bitmap_save_setup(e->bitmaps, s->f);
        mig_save_footer(s->f, MIG_SECTION_DIRTY_BITMAP);
    }
    mig_file_flush(s->f);
    wait_unplug(s);

    mig_out_publish_setup_time(e, mig_src_now_ms(e) - s->setup_start);
    mig_src_publish(s);
    mig_out_set_state(e, MIG_SETUP, MIG_ACTIVE);
}

static void source_free(MigSource *s)
{
    for (unsigned b = 0; b < s->e->guest->nblocks; b++)
        g_free(s->rb_received[b]);
    g_free(s->rb_received);
    g_free(s->rb_have);
    g_cond_clear(&s->rb_cond);
    g_mutex_clear(&s->rb_lock);
    g_free(s);
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
        mig_out_set_state(e, MIG_SETUP, MIG_FAILED);
        goto cleanup;
    }
    setup(s);
    while (mig_out_state(e) == MIG_ACTIVE || mig_out_state(e) == MIG_POSTCOPY_ACTIVE) {
        /* A page the destination waits for goes out even when the window is used up. */
        bool urgent = false;
        if (s->pcq && mig_out_state(e) == MIG_POSTCOPY_ACTIVE && mig_file_rate_limited(s->f) &&
            mig_ram_dirty_pages(s->ram)) {
            mig_file_flush(s->f);
            urgent = mig_pc_queue_urgent(s->pcq, mig_ram_postcopy_records(s->ram), pc_stop, s);
        }
        if ((urgent || !mig_file_rate_limited(s->f)) && !iteration_run(s))
            break;
        if (detect_error(s))
            break;
        rate_limit(s);
    }
    iteration_finish(s);

cleanup:
    mig_src_rp_close(s);
    mig_src_publish(s);
    mig_out_attach_file(e, NULL);
    mig_ram_free(s->ram);
    mig_block_free(s->block);
    s->block = NULL;
    if (s->bitmaps)
        mig_bitmap_save_cleanup(e->bitmaps);
    if (s->multifd) {
        mig_out_attach_multifd(e, NULL);
        mig_multifd_send_free(s->multifd);
    }
    mig_file_close(s->f);
    mig_pc_queue_free(s->pcq);
    /* QEMU does both in one main-loop step, so a client never sees 'cancelled' with the
     * blk/inc options still on: undo them first. */
    if (mig_out_take_block_options(e))
        mig_block_options_undo(e);
    mig_out_set_state(e, MIG_CANCELLING, MIG_CANCELLED);
    /* virtio-net plugs the primary back when the migration has failed (or was cancelled). */
    MigStatus end = mig_out_state(e);
    if (end == MIG_FAILED || end == MIG_CANCELLED)
        mig_failover_plug(e, mig_status_name(end));
    mig_report_source_end(e);
    source_free(s);
    return NULL;
}

bool mig_source_start(MigEngine *e, GError **err)
{
    MigSource *s = g_new0(MigSource, 1);

    s->e = e;
    s->pc_downtime = -1;
    s->rp_last_block = -1;
    g_mutex_init(&s->rb_lock);
    g_cond_init(&s->rb_cond);
    unsigned nb = e->guest->nblocks;
    s->rb_received = g_new0(uint64_t *, nb ? nb : 1);
    s->rb_have = g_new0(bool, nb ? nb : 1);
    for (unsigned b = 0; b < nb; b++)
        s->rb_received[b] = g_new0(uint64_t, (mb_guest_block_pages(e->guest, b) + 63) / 64 + 1);
    mig_source_join(e);
    e->source_thread = g_thread_try_new("migration", source_thread, s, err);
    if (!e->source_thread) {
        source_free(s);
        return false;
    }
    return true;
}

void mig_source_join(MigEngine *e)
{
    if (e->source_thread) {
        g_thread_join(e->source_thread);
        e->source_thread = NULL;
    }
}
