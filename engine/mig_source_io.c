/* mig_source_io: the outgoing migration thread's clock, link, publication and stream
 * helpers, below both of its files (mig_source.c, mig_source_pc.c; mig_source_int.h).
 *
 * All time comes from the guest clock; with a sim guest, sending bytes advances virtual
 * time through the simulated link (mig_src_link_charge), so every figure is deterministic. */
#include "mb_util.h"
#include "mig_outgoing.h"
#include "mig_source_io.h"
#include "mig_scenario.h"
#include "mig_tls.h"

int64_t mig_src_now_ms(MigEngine *e)
{
    return mb_guest_now(e->guest) / 1000000;
}

/* Lets guest time pass until t (ns).  Sim: a virtual jump, then pacing on the wall clock
 * when asked for; KVM: a real, cancellable sleep. */
void mig_src_wait_until(MigSource *s, int64_t t)
{
    MigEngine *e = s->e;

    if (!e->guest->virtual_time) {
        mig_out_wall_wait(e, t);
        return;
    }
    mb_guest_wait_until(e->guest, t);
    if (e->cfg.pace > 0) {
        int64_t wall = s->pace_w0 + (int64_t)((double)(t - s->pace_v0) / e->cfg.pace);
        if (wall > mb_monotonic_ns())
            mig_out_wall_wait(e, wall);
    }
}

/* Sim: bytes on the simulated link take bytes/bandwidth of virtual time. */
void mig_src_link_charge(void *opaque, size_t bytes)
{
    MigSource *s = opaque;
    MigEngine *e = s->e;

    if (!e->guest->virtual_time || !e->cfg.link_bandwidth)
        return;
    int64_t dt = (int64_t)(((unsigned __int128)bytes * 1000000000u) / e->cfg.link_bandwidth);
    mig_src_wait_until(s, mb_guest_now(e->guest) + dt);
}

/* Publishes the live counters and the RAM figures; `announce` runs in the same step. */
void mig_src_publish_with(MigSource *s, void (*announce)(void *), void *opaque)
{
    MigOutRam ram = { 0 };

    /* The return-path thread counts requests; the live counters are this thread's. */
    if (s->pcq)
        mig_out_live(s->e)->postcopy_requests = mig_pc_queue_requests(s->pcq);

    if (s->ram) {
        ram.valid = true;
        ram.dirty_pages = mig_ram_dirty_pages(s->ram);
        ram.total = mig_ram_total(s->ram);
    }
    ram.disk_active =
        mig_block_stats(s->block, &ram.disk_transferred, &ram.disk_remaining, &ram.disk_total);
    mig_out_publish(s->e, &ram, announce, opaque);
}

void mig_src_publish(MigSource *s)
{
    mig_src_publish_with(s, NULL, NULL);
}

uint64_t mig_src_total_bytes(MigSource *s)
{
    return s->pos_base + s->f->pos + mig_out_live(s->e)->multifd_bytes;
}

void mig_src_update_iteration_initial_status(MigSource *s)
{
    s->iteration_start = mig_src_now_ms(s->e);
    s->iteration_initial_bytes = mig_src_total_bytes(s);
    s->iteration_initial_pages = s->ram ? mig_ram_transferred_pages(s->ram) : 0;
}

/* QEMU's migration_maybe_pause (pause-before-switchover). */
bool mig_src_maybe_pause(MigSource *s, MigStatus *cur, MigStatus next)
{
    MigEngine *e = s->e;

    if (!mig_cap(e, MIG_CAP_PAUSE_BEFORE_SWITCHOVER))
        return true;
    mig_out_pause_drain(e);
    if (mig_out_state(e) != MIG_CANCELLING) {
        mig_out_set_state(e, *cur, MIG_PRE_SWITCHOVER);
        mig_src_publish(s);
        mig_scenario_on_status(e, MIG_PRE_SWITCHOVER);
        mig_out_pause_wait(e);
        mig_out_set_state(e, MIG_PRE_SWITCHOVER, next);
        *cur = next;
    }
    return mig_out_state(e) == next;
}

/* Connects to the destination (or takes the exec/fd channel), TLS when asked for: the
 * stream of a migration, or of a postcopy recovery.  NULL with err on failure. */
MigFile *mig_src_open_stream(MigSource *s, GError **err)
{
    MigEngine *e = s->e;
    Chan *c = mig_out_take_pending_chan(e);

    if (!c)
        c = chan_connect(mig_out_uri(e), err);
    if (!c)
        return NULL;
    /* With tls-creds, QEMU's migration_channel_connect runs the TLS handshake on the new
     * connection before a byte of the stream; any failure ends the migration in setup. */
    mig_out_attach_handshake(e, c); /* a cancel ends the handshake */
    bool secured = mig_tls_outgoing(e, c, mig_out_uri(e), err);
    mig_out_attach_handshake(e, NULL);
    if (!secured) {
        chan_close(c);
        return NULL;
    }
    if (e->guest->virtual_time && e->cfg.link_latency_ns)
        mig_src_wait_until(s, mb_guest_now(e->guest) + 2 * e->cfg.link_latency_ns);
    MigFile *f = mig_file_new(c, true);
    f->on_flush = mig_src_link_charge;
    f->opaque = s;
    /* Big writes unless link_charge must see every 32 KiB (a simulated link's timing). */
    f->big_writes = !(e->guest->virtual_time && e->cfg.link_bandwidth);
    return f;
}
