/* mig_colo: the COLO primary's checkpoint loop (see mig_colo.h). */
#include "mig_colo.h"
#include "mb_util.h"
#include "mig_colo_state.h"
#include "mig_outgoing.h"
#include "mig_savevm.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

/* The device state of one checkpoint, saved to memory first (QEMU's buffer channel) so its
 * size can go ahead of it.  New buffer, or NULL with err. */
static GBytes *save_device_state(MigEngine *e, GError **err)
{
    int fd = memfd_create("colo-vmstate", MFD_CLOEXEC);
    if (fd < 0) {
        mb_error_set(err, "COLO: cannot buffer the device state: %s", g_strerror(errno));
        return NULL;
    }
    MigFile *bf = mig_file_new(chan_new_fd(fd, "colo-vmstate"), true);
    mig_save_device_state(e, bf);
    size_t len = bf->pos;
    uint8_t *buf = g_malloc(len ? len : 1);
    bool ok = !mig_file_error(bf) && pread(fd, buf, len, 0) == (ssize_t)len;
    mig_file_close(bf);
    if (!ok) {
        g_free(buf);
        mb_error_set(err, "COLO: cannot buffer the device state");
        return NULL;
    }
    return g_bytes_new_take(buf, len);
}

/* One checkpoint transaction; false with err when the channel broke or the secondary
 * answered out of turn. */
static bool checkpoint(MigEngine *e, const MigColoPrimary *p, Chan *rp, GError **err)
{
    MigFile *f = p->f;
    int64_t t0 = mb_guest_now(e->guest);
    MigColoCheckpoint cp = { .at_ms = t0 / 1000000 };
    int64_t wall0 = mb_monotonic_ns();
    uint64_t pos0 = f->pos, pages0 = mig_ram_transferred_pages(p->ram);

    if (!mig_colo_send(f, MIG_COLO_CHECKPOINT_REQUEST, err) ||
        !mig_colo_expect_rp(rp, MIG_COLO_CHECKPOINT_REPLY, err))
        return false;
    runstate_vm_stop(e, RS_COLO);
    if (!mig_colo_send(f, MIG_COLO_VMSTATE_SEND, err))
        return false;
    /* The live part: RAM dirtied since the last checkpoint, then EOF. */
    mig_ram_name_next_block(p->ram);
    mig_save_section_short(f, MIG_SEC_END, MIG_SECTION_RAM);
    mig_ram_save_complete(p->ram);
    mig_save_footer(f, MIG_SECTION_RAM);
    mig_put_byte(f, MIG_SEC_EOF);
    GBytes *dev = save_device_state(e, err);
    if (!dev)
        return false;
    gsize len;
    const uint8_t *data = g_bytes_get_data(dev, &len);
    mig_put_be32(f, MIG_COLO_VMSTATE_SIZE);
    mig_put_be64(f, len);
    mig_put_buffer(f, data, len);
    g_bytes_unref(dev);
    mig_file_flush(f);
    if (mig_file_error(f)) {
        mb_error_set(err, "COLO: sending the checkpoint failed: %s", mig_file_error(f)->message);
        return false;
    }
    if (!mig_colo_expect_rp(rp, MIG_COLO_VMSTATE_RECEIVED, err) ||
        !mig_colo_expect_rp(rp, MIG_COLO_VMSTATE_LOADED, err))
        return false;
    cp.time_us = (mb_guest_now(e->guest) - t0) / 1000;
    cp.bytes = f->pos - pos0;
    cp.pages = mig_ram_transferred_pages(p->ram) - pages0;
    cp.wall_us = (mb_monotonic_ns() - wall0) / 1000;
    mig_colo_add_checkpoint(e, &cp);
    runstate_vm_start(e);
    return true;
}

/* Until the next checkpoint is due (guest time `next_ns`), or a kick, failover or shutdown.
 * Sim: the wall clock paces the wait (--pace, or 1:1), then guest time jumps to the due
 * time; an early wake leaves guest time where it is. */
static void wait_for_checkpoint(MigEngine *e, int64_t next_ns)
{
    if (next_ns <= mb_guest_now(e->guest))
        return;
    int64_t now = mb_guest_now(e->guest);
    double pace = e->cfg.pace > 0 ? e->cfg.pace : 1.0;
    int64_t wall = mb_monotonic_ns() + (int64_t)((double)MAX(next_ns - now, 0) / pace);

    if (mig_colo_wait(e, wall))
        return;
    if (e->guest->virtual_time)
        mb_guest_wait_until(e->guest, next_ns);
}

static int64_t delay_ns(MigEngine *e)
{
    return (int64_t)mig_params_num(&e->params, MP_X_CHECKPOINT_DELAY) * 1000000;
}

void mig_colo_primary_run(MigEngine *e, const MigColoPrimary *p)
{
    GError *err = NULL;
    Chan *rp = chan_return_path(p->f->chan);

    mig_out_set_state(e, MIG_ACTIVE, MIG_COLO);
    mig_colo_begin(e, MIG_COLO_MODE_PRIMARY, p->f, rp);
    if (!rp)
        mb_error_set(&err, "Open QEMUFile from_dst_file failed");
    /* The secondary has loaded the migration and runs: the primary runs too. */
    bool ok = rp && mig_colo_expect_rp(rp, MIG_COLO_CHECKPOINT_READY, &err);
    if (ok)
        runstate_vm_start(e);
    /* QEMU arms its timer when COLO starts and re-arms it when each checkpoint starts
     * (colo_checkpoint_notify), with the delay in force then. */
    int64_t due = mb_guest_now(e->guest) + delay_ns(e);
    while (ok && mig_colo_failover_status(e) == MIG_FAILOVER_NONE && !mig_colo_stopping(e)) {
        wait_for_checkpoint(e, due);
        if (mig_colo_failover_status(e) != MIG_FAILOVER_NONE || mig_colo_stopping(e))
            break;
        due = mb_guest_now(e->guest) + delay_ns(e);
        ok = checkpoint(e, p, rp, &err);
    }
    MigColoExit why = mig_colo_end(e, ok ? MIG_COLO_EXIT_REQUEST : MIG_COLO_EXIT_ERROR);
    if (why == MIG_COLO_EXIT_ERROR && err)
        g_printerr("migbench: COLO primary: %s\n", err->message);
    g_clear_error(&err);
    /* QEMU's primary_vm_do_failover (and, here, the end after an error): the primary
     * carries on alone; the migration is over. */
    mig_out_set_state(e, MIG_COLO, MIG_COMPLETED);
    if (!runstate_is_running(e))
        runstate_vm_start(e);
    chan_close(rp);
}
