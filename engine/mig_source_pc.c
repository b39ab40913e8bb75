/* mig_source_pc: the outgoing migration's return path and postcopy (QEMU's
 * source_return_path_thread, postcopy_start, postcopy_pause and postcopy_do_resume).
 *
 * The return-path thread reads the destination's messages: page requests (counted), the
 * record order a sim destination settles (MB_SEND, MB_HORIZON), SHUT, and during a
 * recovery the received bitmaps and RESUME_ACK.  The migration thread switches to postcopy
 * here, and when the stream breaks in postcopy it pauses here instead of failing: on
 * `migrate resume=true` it connects again, asks every block's received bitmap, marks dirty
 * what the destination lacks and resumes (docs/features.md, postcopy recovery). */
#include "mb_util.h"
#include "mig_bitmap_stream.h"
#include "mig_outgoing.h"
#include "mig_retpath.h"
#include "mig_savevm.h"
#include "mig_scenario.h"
#include "mig_settings.h"
#include "mig_source_io.h"
#include "mig_source_pc.h"

#include <string.h>

/* REQ_PAGES(_ID): QEMU's migrate_handle_rp_req_pages and ram_save_queue_pages checks. */
static bool rp_req_pages(MigSource *s, const MigRpMsg *m, GError **err)
{
    MbGuest *g = s->e->guest;
    int b = m->has_name ? -1 : s->rp_last_block;

    if (m->has_name)
        for (unsigned i = 0; i < g->nblocks; i++)
            if (!strcmp(g->blocks[i].name, m->name))
                b = (int)i;
    if (b < 0) {
        if (m->has_name)
            mb_error_set(err, "ram_save_queue_pages no block '%s'", m->name);
        else
            mb_error_set(err, "ram_save_queue_pages no previous block");
        return false;
    }
    uint64_t ps = g->blocks[b].host_page_size;
    if ((m->start & (ps - 1)) || (m->len & (ps - 1))) {
        mb_error_set(
            err,
            "migrate_handle_rp_req_pages: Misaligned page request, start: %" G_GINT64_MODIFIER
            "x len: %u",
            m->start, m->len);
        return false;
    }
    if (m->start + m->len < m->start || m->start + m->len > g->blocks[b].size) {
        mb_error_set(err,
                     "ram_save_queue_pages request overrun start=%" G_GINT64_MODIFIER
                     "x len=%x blocklen=%" G_GINT64_MODIFIER "x",
                     m->start, m->len, g->blocks[b].size);
        return false;
    }
    s->rp_last_block = b;
    if (!s->pcq) {
        mb_error_set(err, "RP: page request without postcopy-ram");
        return false;
    }
    /* Which record carries it is the destination's MB_SEND (mig_pc_queue.h). */
    mig_pc_queue_count_request(s->pcq, (unsigned)b, m->start);
    return true;
}

/* Wakes the migration thread waiting in the resume handshake. */
static void rb_kick(MigSource *s)
{
    g_mutex_lock(&s->rb_lock);
    g_cond_broadcast(&s->rb_cond);
    g_mutex_unlock(&s->rb_lock);
}

/* RECV_BITMAP and the bitmap that follows it (QEMU's migrate_handle_rp_recv_bitmap and
 * ram_dirty_bitmap_reload). */
static bool rp_recv_bitmap(MigSource *s, const MigRpMsg *m, GError **err)
{
    MbGuest *g = s->e->guest;
    int b = -1;

    for (unsigned i = 0; i < g->nblocks; i++)
        if (!strcmp(g->blocks[i].name, m->name))
            b = (int)i;
    if (b < 0) {
        mb_error_set(err, "migrate_handle_rp_recv_bitmap: invalid block name '%s'", m->name);
        return false;
    }
    MigStatus st = mig_out_state(s->e);
    if (st != MIG_POSTCOPY_RECOVER) {
        mb_error_set(err, "ram_dirty_bitmap_reload: incorrect state %s", mig_status_name(st));
        return false;
    }
    uint64_t npages = mb_guest_block_pages(g, (unsigned)b);
    size_t len = mig_rp_bitmap_blob_len(npages);
    uint8_t *blob = g_malloc(len);
    bool ok = chan_read_full(s->rp, blob, 8, NULL);
    if (ok && mb_ld_be64(blob) != mig_rp_bitmap_size(npages)) {
        /* the decoder names the mismatch */
        ok = mig_rp_bitmap_decode(blob, 8, m->name, npages, s->rb_received[b], err);
        g_free(blob);
        return false;
    }
    ok = ok && chan_read_full(s->rp, blob + 8, len - 8, NULL);
    if (!ok) {
        g_free(blob);
        mb_error_set(err, "RP: the received bitmap of '%s' was cut short", m->name);
        return false;
    }
    ok = mig_rp_bitmap_decode(blob, len, m->name, npages, s->rb_received[b], err);
    g_free(blob);
    if (!ok)
        return false;
    g_mutex_lock(&s->rb_lock);
    if (!s->rb_have[b]) {
        s->rb_have[b] = true;
        s->rb_got++;
    }
    g_cond_broadcast(&s->rb_cond);
    g_mutex_unlock(&s->rb_lock);
    return true;
}

/* RESUME_ACK (QEMU's migrate_handle_rp_resume_ack): both sides are active again. */
static bool rp_resume_ack(MigSource *s, const MigRpMsg *m, GError **err)
{
    if (m->value != 1) {
        mb_error_set(err, "migrate_handle_rp_resume_ack: illegal resume_ack value %u", m->value);
        return false;
    }
    mig_out_set_state(s->e, MIG_POSTCOPY_RECOVER, MIG_POSTCOPY_ACTIVE);
    rb_kick(s);
    return true;
}

static gpointer rp_thread_fn(gpointer opaque)
{
    MigSource *s = opaque;
    uint8_t hdr[4], buf[MIG_RP_MAX_LEN];
    GError *err = NULL;
    MigRpMsg m;

    for (;;) {
        if (!chan_read_full(s->rp, hdr, 4, NULL))
            break;
        uint16_t type = mb_ld_be16(hdr), len = mb_ld_be16(hdr + 2);
        if (!mig_rp_check_header(type, len, &err) || !chan_read_full(s->rp, buf, len, NULL) ||
            !mig_rp_decode(type, buf, len, &m, &err))
            break;
        if (type == MIG_RP_SHUT) {
            if (m.value != 0) {
                err = g_error_new(MB_ERROR, MB_ERR_GENERIC, "RP: Sibling indicated error %u",
                                  m.value);
                mig_out_set_error(s->e, err);
                g_clear_error(&err);
                atomic_store(&s->rp_error, true);
            }
            atomic_store(&s->rp_shut, true);
            if (s->pcq)
                mig_pc_queue_horizon(s->pcq, UINT64_MAX);
            return NULL;
        }
        if ((type == MIG_RP_REQ_PAGES || type == MIG_RP_REQ_PAGES_ID) && !rp_req_pages(s, &m, &err))
            break;
        if (type == MIG_RP_MB_SEND) {
            if (!s->pcq || m.block >= s->e->guest->nblocks ||
                m.page >= mb_guest_block_pages(s->e->guest, m.block)) {
                err = g_error_new(MB_ERROR, MB_ERR_GENERIC, "RP: MB_SEND out of range");
                break;
            }
            mig_pc_queue_claim(s->pcq, m.record, m.block, m.page);
        }
        if (type == MIG_RP_MB_CURSOR) {
            if (m.block >= s->e->guest->nblocks ||
                m.page >= mb_guest_block_pages(s->e->guest, m.block)) {
                err = g_error_new(MB_ERROR, MB_ERR_GENERIC, "RP: MB_CURSOR out of range");
                break;
            }
            g_mutex_lock(&s->rb_lock);
            s->rb_cursor = true;
            s->rb_cursor_block = m.block;
            s->rb_cursor_page = m.page;
            g_mutex_unlock(&s->rb_lock);
        }
        if (type == MIG_RP_MB_HORIZON && s->pcq)
            mig_pc_queue_horizon(s->pcq, m.record);
        if (type == MIG_RP_RECV_BITMAP && !rp_recv_bitmap(s, &m, &err))
            break;
        if (type == MIG_RP_RESUME_ACK && !rp_resume_ack(s, &m, &err))
            break;
        /* PONG needs no action. */
    }
    /* Nothing more will come: the migration thread must not wait for it. */
    if (s->pcq)
        mig_pc_queue_horizon(s->pcq, UINT64_MAX);
    if (err) {
        /* A bad message fails the migration (QEMU's mark_source_rp_bad). */
        mig_out_set_error(s->e, err);
        g_printerr("migbench: %s\n", err->message);
        g_clear_error(&err);
        if (s->f)
            mig_file_shutdown(s->f);
    }
    atomic_store(&s->rp_error, true);
    rb_kick(s);
    return NULL;
}

bool mig_src_await_rp_close(MigSource *s)
{
    if (mig_file_error(s->f))
        chan_shutdown(s->rp);
    g_thread_join(s->rp_thread);
    s->rp_thread = NULL;
    if (!atomic_load(&s->rp_shut) && !atomic_load(&s->rp_error))
        atomic_store(&s->rp_error, true);
    return !atomic_load(&s->rp_error);
}

/* The return path of the broken channel: its thread ends, the channel goes. */
void mig_src_rp_close(MigSource *s)
{
    if (s->rp_thread) {
        chan_shutdown(s->rp);
        g_thread_join(s->rp_thread);
        s->rp_thread = NULL;
    }
    chan_close(s->rp);
    s->rp = NULL;
}

/* Waits (the migration thread) until `done(s)` or the recovery cannot go on: the stream or
 * the return path broke, or the state left postcopy-recover.  True when `done`. */
static bool handshake_wait(MigSource *s, bool (*done)(MigSource *s))
{
    bool ok;

    g_mutex_lock(&s->rb_lock);
    for (;;) {
        ok = done(s);
        if (ok || mig_file_error(s->f) || atomic_load(&s->rp_error) ||
            mig_out_state(s->e) != MIG_POSTCOPY_RECOVER)
            break;
        /* (the return-path thread kicks; the timeout only bounds a cancel's wake-up) */
        g_cond_wait_until(&s->rb_cond, &s->rb_lock, g_get_monotonic_time() + 50000);
    }
    g_mutex_unlock(&s->rb_lock);
    return ok;
}

static bool all_bitmaps(MigSource *s)
{
    return s->rb_got == s->e->guest->nblocks;
}

static bool resumed(MigSource *s)
{
    return mig_out_state(s->e) == MIG_POSTCOPY_ACTIVE;
}

/* QEMU's postcopy_do_resume on the new channel: RECV_BITMAP for every block, each answered
 * with the destination's received bitmap; what it lacks becomes dirty again; then
 * POSTCOPY_RESUME, answered by RESUME_ACK (postcopy-active, set by the return-path
 * thread).  False when the recovery cannot go on. */
static bool do_resume(MigSource *s)
{
    MigEngine *e = s->e;
    MbGuest *g = e->guest;

    s->rp = chan_return_path(s->f->chan);
    if (!s->rp)
        return false;
    /* The claims and horizon of the broken channel are void: the destination sends again
     * those of the records from where this side resumes. */
    mig_pc_queue_rewind(s->pcq);
    atomic_store(&s->rp_error, false);
    atomic_store(&s->rp_shut, false);
    s->rp_last_block = -1;
    g_mutex_lock(&s->rb_lock);
    s->rb_got = 0;
    s->rb_cursor = false;
    for (unsigned b = 0; b < g->nblocks; b++)
        s->rb_have[b] = false;
    g_mutex_unlock(&s->rb_lock);
    s->rp_thread = g_thread_new("mig-return-path", rp_thread_fn, s);
    for (unsigned b = 0; b < g->nblocks; b++) {
        uint8_t buf[1 + 255];
        size_t n = MIN(strlen(g->blocks[b].name), (size_t)255);
        buf[0] = (uint8_t)n;
        memcpy(buf + 1, g->blocks[b].name, n);
        mig_save_command(s->f, MIG_CMD_RECV_BITMAP, (uint16_t)(1 + n), buf);
    }
    mig_file_flush(s->f);
    if (!handshake_wait(s, all_bitmaps))
        return false;
    uint64_t records = mig_ram_postcopy_resume(s->ram, s->rb_received);
    g_printerr("migbench: postcopy recovery: the destination has %" G_GUINT64_FORMAT
               " postcopy records, %" G_GUINT64_FORMAT " pages to send\n",
               records, mig_ram_dirty_pages(s->ram));
    mig_save_command(s->f, MIG_CMD_POSTCOPY_RESUME, 0, NULL);
    mig_file_flush(s->f);
    if (!handshake_wait(s, resumed))
        return false;
    /* A sim destination's model settled the order past the break: its background pass
     * goes on after the last page that arrived (MB_CURSOR, sent before RESUME_ACK). */
    g_mutex_lock(&s->rb_lock);
    if (s->rb_cursor)
        mig_ram_postcopy_cursor(s->ram, s->rb_cursor_block, s->rb_cursor_page);
    g_mutex_unlock(&s->rb_lock);
    return true;
}

/* migrate resume=true arrived: connect, postcopy-recover, the handshake.  True when the
 * migration is postcopy-active again. */
static bool try_resume(MigSource *s)
{
    MigEngine *e = s->e;
    GError *err = NULL;

    MigFile *nf = mig_src_open_stream(s, &err);
    if (!nf) {
        /* QEMU's migrate_fd_error: recorded, and the migration stays paused. */
        g_printerr("migbench: postcopy recovery: %s\n", err->message);
        mig_out_set_error(e, err);
        g_error_free(err);
        return false;
    }
    MigFile *old = s->f;
    s->pos_base += old->pos;
    s->f = nf;
    mig_out_attach_file(e, nf);
    mig_file_close(old);
    mig_ram_set_file(s->ram, nf);
    mig_file_set_rate_limit(nf, mig_params_num(&e->params, MP_MAX_POSTCOPY_BANDWIDTH) /
                                    XFER_LIMIT_RATIO);
    if (!mig_out_set_state(e, MIG_POSTCOPY_PAUSED, MIG_POSTCOPY_RECOVER))
        return false; /* cancelled meanwhile */
    mig_src_publish(s);
    mig_scenario_on_status(e, MIG_POSTCOPY_RECOVER);
    return do_resume(s);
}

/* A broken stream in postcopy (QEMU's postcopy_pause): the guest now runs on the
 * destination and the pages still here must not be lost, so the migration pauses instead of
 * failing, and waits for migrate resume=true.  A recovery that fails (the new channel broke
 * too) pauses again.  True when recovered (postcopy-active, go on sending). */
bool mig_src_postcopy_pause(MigSource *s)
{
    MigEngine *e = s->e;

    for (;;) {
        MigStatus st = mig_out_state(e);
        if (st == MIG_POSTCOPY_ACTIVE || st == MIG_POSTCOPY_RECOVER) {
            const GError *fe = mig_file_error(s->f);
            g_printerr("migbench: postcopy stream broke: %s; migration paused\n",
                       fe ? fe->message : "the return path failed");
            mig_file_shutdown(s->f);
            mig_src_rp_close(s);
            mig_out_set_state(e, st, MIG_POSTCOPY_PAUSED);
            mig_src_publish(s);
            mig_scenario_on_status(e, MIG_POSTCOPY_PAUSED);
        }
        if (!mig_out_resume_wait(e))
            break;
        if (try_resume(s))
            return true;
        if (mig_out_state(e) == MIG_POSTCOPY_RECOVER && !mig_file_error(s->f))
            mig_file_set_error(s->f, "postcopy recovery failed");
    }
    /* QEMU 5.0's paused thread waits for a recovery, also once cancelled: it stays in
     * cancelling until the vm ends. */
    for (;;) {
        MigStatus st = mig_out_state(e);
        if (mig_out_closing(e) || st != MIG_CANCELLING)
            break;
        g_usleep(50000); /* (the wall wait returns at once once cancelling) */
    }
    return false;
}

/* One POSTCOPY_RAM_DISCARD command: u8 version 0, counted name, 0, be64 start/length pairs,
 * at most 12 ranges (QEMU's MAX_DISCARDS_PER_COMMAND). */
static void discard_flush(MigSource *s)
{
    if (s->discard_n)
        mig_save_command(s->f, MIG_CMD_POSTCOPY_RAM_DISCARD, (uint16_t)s->discard_len,
                         s->discard_buf);
    s->discard_n = 0;
    s->discard_len = 0;
}

static void discard_range(void *opaque, unsigned block, uint64_t page, uint64_t npages)
{
    MigSource *s = opaque;

    if ((int)block != s->discard_block || s->discard_n == 12)
        discard_flush(s);
    s->discard_block = (int)block;
    if (!s->discard_n) {
        const char *name = s->e->guest->blocks[block].name;
        size_t n = strlen(name);
        s->discard_buf[0] = 0;
        s->discard_buf[1] = (uint8_t)n;
        memcpy(s->discard_buf + 2, name, n);
        s->discard_buf[2 + n] = 0;
        s->discard_len = 3 + n;
    }
    mb_st_be64(s->discard_buf + s->discard_len, page * MB_TARGET_PAGE_SIZE);
    mb_st_be64(s->discard_buf + s->discard_len + 8, npages * MB_TARGET_PAGE_SIZE);
    s->discard_len += 16;
    s->discard_n++;
}

/* QEMU's postcopy_start: postcopy-active (before the stop), stop, the optional
 * pre-switchover pause, the last sync and the discard lists, the postcopy rate, the package
 * (LISTEN, devices, RUN); the destination runs the guest from there.  The source's guest
 * never runs again (vm_was_running stays false). */
void mig_src_postcopy_start(MigSource *s)
{
    MigEngine *e = s->e;
    MigStatus cur = MIG_ACTIVE;
    uint8_t be[16];

    if (!mig_cap(e, MIG_CAP_PAUSE_BEFORE_SWITCHOVER) &&
        mig_out_set_state(e, MIG_ACTIVE, MIG_POSTCOPY_ACTIVE))
        cur = MIG_POSTCOPY_ACTIVE;
    s->downtime_start = mig_src_now_ms(e);
    gchar *saved_rs = g_strdup(runstate_name(runstate_get(e)));
    runstate_vm_stop(e, RS_FINISH_MIGRATE);
    if (!mig_src_maybe_pause(s, &cur, MIG_POSTCOPY_ACTIVE) ||
        mig_out_state(e) != MIG_POSTCOPY_ACTIVE) {
        g_free(saved_rs);
        return; /* cancelled */
    }
    /* What cannot go on in postcopy completes now (QEMU: the END sections of the
     * non-postcopiable iterables); migbench completes the dirty bitmaps here too. */
    mig_file_set_rate_limit(s->f, 0);
    if (s->block) {
        mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_BLOCK);
        mig_block_save_complete(s->block);
        mig_save_footer(s->f, MIG_SECTION_BLOCK);
    }
    if (s->bitmaps) {
        mig_save_section_short(s->f, MIG_SEC_END, MIG_SECTION_DIRTY_BITMAP);
        mig_bitmap_save_complete(e->bitmaps, s->f, s->nbitmaps);
        mig_save_footer(s->f, MIG_SECTION_DIRTY_BITMAP);
    }
    s->discard_block = -1;
    mig_ram_postcopy_start(s->ram, discard_range, s);
    s->pc_records = mig_ram_dirty_pages(s->ram);
    discard_flush(s);
    uint64_t bw = mig_params_num(&e->params, MP_MAX_POSTCOPY_BANDWIDTH);
    mig_file_set_rate_limit(s->f, bw / XFER_LIMIT_RATIO);
    mb_st_be64(be, bw);
    mb_st_be64(be + 8, (uint64_t)MAX(mb_guest_now(e->guest), 0));
    mig_save_command(s->f, MIG_CMD_MB_POSTCOPY_RATE, 16, be);
    s->pc_rate = s->pc_rate_seen = bw;
    s->pc_rate_at = mb_guest_now(e->guest);
    s->pc_rate_live = true;
    mig_save_package(e, s->f, saved_rs);
    g_free(saved_rs);
    if (e->guest->virtual_time && e->cfg.link_latency_ns)
        mig_src_wait_until(s, mb_guest_now(e->guest) + e->cfg.link_latency_ns);
    s->pc_downtime = mig_src_now_ms(e) - s->downtime_start;
    mig_src_update_iteration_initial_status(s);
    mig_src_publish(s);
    if (mig_file_error(s->f)) {
        /* The package did not go out whole: the guest is nowhere (QEMU: failed). */
        if (e->v5)
            mig_out_set_error(e, mig_file_error(s->f));
        mig_out_set_state(e, MIG_POSTCOPY_ACTIVE, MIG_FAILED);
    }
}

void mig_src_pc_rate_note(MigSource *s)
{
    if (!s->pc_rate_live)
        return;
    uint64_t bw = mig_params_num(&s->e->params, MP_MAX_POSTCOPY_BANDWIDTH);
    if (bw != s->pc_rate_seen) {
        s->pc_rate_seen = bw;
        s->pc_rate_at = mb_guest_now(s->e->guest);
    }
}

/* max-postcopy-bandwidth changed during postcopy: the destination's link model learns the
 * new rate (between sections; the stream's own limit changed with the parameter) and the
 * guest time it applies from: this thread's clock when it first saw it, between two pages
 * (mig_src_pc_rate_note).  A scenario action changes it at an exact point of that clock
 * (rate_limit runs the scenario there), and the destination's guest clock continues this
 * one from the switch on, so the model re-times from the same time in every run.  Changes
 * within one section reach the destination as the last one. */
void mig_src_pc_rate_sync(MigSource *s)
{
    uint8_t be[16];

    mig_src_pc_rate_note(s);
    if (s->pc_rate_seen == s->pc_rate)
        return;
    s->pc_rate = s->pc_rate_seen;
    mb_st_be64(be, s->pc_rate);
    mb_st_be64(be + 8, (uint64_t)MAX(s->pc_rate_at, 0));
    mig_save_command(s->f, MIG_CMD_MB_POSTCOPY_RATE, 16, be);
}

void mig_src_rp_start(MigSource *s)
{
    s->rp_thread = g_thread_new("mig-return-path", rp_thread_fn, s);
}
