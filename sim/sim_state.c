/* sim_state: the simulated guest's "vCPU and device state" blob.
 *
 * What a destination needs to continue the source's guest exactly: the trace identity (so
 * it refuses state from another trace, seed or layout), the replay cursor (completed loops,
 * epochs applied, trace time), the virtual clock, and for reports the throttle and run
 * state.  The destination rebuilds every page's (version, class) by replaying the trace's
 * metadata to the cursor, which costs one pass over the events replayed so far.
 *
 * Layout (big-endian), version 1:
 *   "MBSIMST\0" u32 version u32 length u64 identity u64 loops u64 epoch_pos i64 loop_offset
 *   i64 tt i64 tt_rem i64 vt u32 throttle u8 running u8 loop u16 nblocks u64 events
 *   u64 total_pages u16 describe_len describe u32 crc32(everything before) */
#include "sim_internal.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>
#include <zlib.h>

#define STATE_MAGIC   "MBSIMST"
#define STATE_VERSION 1
#define STATE_FIXED   98

GBytes *sim_state_save(SimGuest *g)
{
    g_mutex_lock(&g->replay_lock);
    sim_guest_catch_up(g);
    SimReplay *r = &g->rep;
    size_t dl = MIN(strlen(g->describe), 1000u);
    size_t len = STATE_FIXED + dl + 4;
    uint8_t *b = g_malloc0(len);

    memcpy(b, STATE_MAGIC, 8);
    mb_st_be32(b + 8, STATE_VERSION);
    mb_st_be32(b + 12, (uint32_t)len);
    mb_st_be64(b + 16, g->identity);
    mb_st_be64(b + 24, r->loop_count);
    mb_st_be64(b + 32, r->epoch_pos);
    mb_st_be64(b + 40, (uint64_t)r->loop_offset);
    g_mutex_lock(&g->clock_lock);
    mb_st_be64(b + 48, (uint64_t)g->tt);
    mb_st_be64(b + 56, (uint64_t)g->tt_rem);
    mb_st_be64(b + 64, (uint64_t)g->vt);
    mb_st_be32(b + 72, (uint32_t)g->throttle);
    b[76] = g->running;
    g_mutex_unlock(&g->clock_lock);
    b[77] = r->loop;
    mb_st_be16(b + 78, (uint16_t)r->nblocks);
    mb_st_be64(b + 80, r->events_applied);
    mb_st_be64(b + 88, mb_guest_ram_size(&g->base) / SIM_PAGE_SIZE);
    mb_st_be16(b + 96, (uint16_t)dl);
    memcpy(b + STATE_FIXED, g->describe, dl);
    mb_st_be32(b + len - 4, (uint32_t)crc32(0, b, (uInt)(len - 4)));
    g_mutex_unlock(&g->replay_lock);
    return g_bytes_new_take(b, len);
}

bool sim_state_load(SimGuest *g, const uint8_t *b, size_t len, GError **err)
{
    if (len < STATE_FIXED + 4 || memcmp(b, STATE_MAGIC, 8) != 0) {
        mb_error_set(err,
                     "sim: the guest state is not from a simulated guest (%zu bytes, "
                     "bad magic)",
                     len);
        return false;
    }
    if (mb_ld_be32(b + 8) != STATE_VERSION) {
        mb_error_set(err, "sim: unsupported guest state version %u (this migbench reads %u)",
                     mb_ld_be32(b + 8), STATE_VERSION);
        return false;
    }
    size_t dl = mb_ld_be16(b + 96);
    if (mb_ld_be32(b + 12) != len || len != STATE_FIXED + dl + 4) {
        mb_error_set(err, "sim: guest state length %zu does not match its header", len);
        return false;
    }
    if ((uint32_t)crc32(0, b, (uInt)(len - 4)) != mb_ld_be32(b + len - 4)) {
        mb_error_set(err, "sim: guest state checksum mismatch");
        return false;
    }
    char *src_desc = g_strndup((const char *)b + STATE_FIXED, dl);
    uint64_t identity = mb_ld_be64(b + 16);
    unsigned nblocks = mb_ld_be16(b + 78);
    uint64_t pages = mb_ld_be64(b + 88);
    bool ok = false;

    if (identity != g->identity || nblocks != g->rep.nblocks ||
        pages != mb_guest_ram_size(&g->base) / SIM_PAGE_SIZE) {
        mb_error_set(err,
                     "sim: the source guest (%s) replays a different trace, seed or "
                     "memory layout than this one (%s)",
                     src_desc, g->describe);
        goto out;
    }
    int64_t tt = (int64_t)mb_ld_be64(b + 48);
    int64_t loop_offset = (int64_t)mb_ld_be64(b + 40);
    if (tt < 0 || loop_offset < 0 || loop_offset > tt + g->rep.hdr.duration_ns) {
        mb_error_set(err, "sim: guest state has an impossible replay position");
        goto out;
    }
    g_mutex_lock(&g->replay_lock);
    g->rep.loop = b[77] != 0;
    ok = sim_replay_seek(&g->rep, mb_ld_be64(b + 24), mb_ld_be64(b + 32), loop_offset, tt, err);
    if (ok)
        sim_replay_fill_shared(&g->rep);
    if (ok && g->rep.events_applied != mb_ld_be64(b + 80)) {
        mb_error_set(err,
                     "replaying to the source's position gave %" G_GUINT64_FORMAT
                     " events, the source had %" G_GUINT64_FORMAT,
                     g->rep.events_applied, mb_ld_be64(b + 80));
        ok = false;
    }
    g_mutex_unlock(&g->replay_lock);
    if (!ok) {
        g_prefix_error(err, "sim: cannot rebuild the source's memory state: ");
        goto out;
    }
    /* The clock continues the source's; the run state is the engine's business (a
     * destination starts paused) and the throttle stays the source's own. */
    g_mutex_lock(&g->clock_lock);
    g->tt = tt;
    g->tt_rem = (int64_t)mb_ld_be64(b + 56) % 100;
    g->vt = (int64_t)mb_ld_be64(b + 64);
    g_mutex_unlock(&g->clock_lock);
out:
    g_free(src_desc);
    return ok;
}
