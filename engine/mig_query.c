/* mig_query: the query-migrate reply (QEMU's fill_destination_migration_info and
 * fill_source_migration_info): which members appear in which state, and their values. */
#include "mig_query.h"
#include "mig_outgoing.h"

static void add_int(json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

static json_object *ram_info(const MigPublished *p, bool completed)
{
    json_object *r = json_object_new_object();
    const MigCounters *c = &p->c;

    add_u64(r, "transferred", c->transferred);
    add_u64(r, "remaining", completed ? 0 : p->dirty_pages * MB_TARGET_PAGE_SIZE);
    add_u64(r, "total", p->total);
    add_u64(r, "duplicate", c->duplicate);
    add_int(r, "skipped", 0);
    add_u64(r, "normal", c->normal);
    add_u64(r, "normal-bytes", c->normal * MB_TARGET_PAGE_SIZE);
    add_u64(r, "dirty-pages-rate", completed ? 0 : c->dirty_pages_rate);
    json_object_object_add(r, "mbps", json_object_new_double(p->mbps));
    add_u64(r, "dirty-sync-count", c->dirty_sync_count);
    add_u64(r, "postcopy-requests", c->postcopy_requests);
    add_int(r, "page-size", MB_TARGET_PAGE_SIZE);
    add_u64(r, "multifd-bytes", c->multifd_bytes);
    add_u64(r, "pages-per-second", (uint64_t)p->pages_per_second);
    return r;
}

static json_object *xbzrle_info(MigEngine *e, const MigCounters *c)
{
    json_object *x = json_object_new_object();
    add_u64(x, "cache-size", mig_params_num(&e->params, MP_XBZRLE_CACHE_SIZE));
    add_u64(x, "bytes", c->xbzrle_bytes);
    add_u64(x, "pages", c->xbzrle_pages);
    add_u64(x, "cache-miss", c->xbzrle_cache_miss);
    json_object_object_add(x, "cache-miss-rate", json_object_new_double(c->xbzrle_cache_miss_rate));
    add_u64(x, "overflow", c->xbzrle_overflow);
    return x;
}

static json_object *compression_info(const MigCounters *c)
{
    json_object *x = json_object_new_object();
    add_u64(x, "pages", c->compress_pages);
    add_u64(x, "busy", c->compress_busy);
    json_object_object_add(x, "busy-rate", json_object_new_double(c->compress_busy_rate));
    add_u64(x, "compressed-size", c->compress_size);
    json_object_object_add(x, "compression-rate", json_object_new_double(c->compress_rate));
    return x;
}

/* QEMU's populate_time_info + populate_ram_info. */
static void source_details(MigEngine *e, json_object *info, const MigPublished *p, MigStatus state,
                           int64_t start_time)
{
    bool completed = state == MIG_COMPLETED;

    add_int(info, "setup-time", p->setup_time);
    if (completed) {
        add_int(info, "total-time", p->total_time);
        add_int(info, "downtime", p->downtime);
    } else {
        add_int(info, "total-time", p->now_ms - start_time);
        add_int(info, "expected-downtime", p->expected_downtime);
    }
    json_object_object_add(info, "ram", ram_info(p, completed));
    if (!completed && p->disk_active) { /* QEMU's populate_disk_info */
        json_object *d = json_object_new_object();
        add_u64(d, "transferred", p->disk_transferred);
        add_u64(d, "remaining", p->disk_remaining);
        add_u64(d, "total", p->disk_total);
        json_object_object_add(info, "disk", d);
    }
    if (mig_cap(e, MIG_CAP_XBZRLE))
        json_object_object_add(info, "xbzrle-cache", xbzrle_info(e, &p->c));
    if (mig_cap(e, MIG_CAP_COMPRESS))
        json_object_object_add(info, "compression", compression_info(&p->c));
    if (p->throttle_pct)
        add_int(info, "cpu-throttle-percentage", p->throttle_pct);
}

json_object *mig_query_migrate(MigEngine *e, QmpRequest *req)
{
    json_object *info = json_object_new_object();

    /* The source's state first, with the event mark in the same critical section (the
     * migration thread publishes a pass and emits MIGRATION_PASS under this lock).  The
     * destination part is read after the mark, so it is at least as new as any event the
     * client will have seen before the reply. */
    MigOutSnapshot snap;
    mig_out_snapshot(e, req, &snap);
    MigStatus state = snap.state;
    MigPublished p = snap.pub;
    gchar *error_desc = snap.error_desc;

    /* Destination part; the source overwrites status when it has one. */
    g_mutex_lock(&e->in.lock);
    if (e->in.socket_address)
        json_object_object_add(info, "socket-address", json_object_get(e->in.socket_address));
    MigStatus in_state = (MigStatus)atomic_load(&e->in.state);
    if (in_state != MIG_NONE) {
        json_object_object_add(info, "status", json_object_new_string(mig_status_name(in_state)));
        if (in_state == MIG_FAILED && e->in.error)
            json_object_object_add(info, "error-desc",
                                   json_object_new_string(e->in.error->message));
    }
    g_mutex_unlock(&e->in.lock);

    if (state == MIG_NONE) {
        g_free(error_desc);
        return info;
    }
    json_object_object_del(info, "error-desc");
    json_object_object_add(info, "status", json_object_new_string(mig_status_name(state)));
    switch (state) {
    case MIG_ACTIVE:
    case MIG_CANCELLING:
    case MIG_POSTCOPY_ACTIVE:
    case MIG_PRE_SWITCHOVER:
    case MIG_DEVICE:
    case MIG_POSTCOPY_PAUSED:
    case MIG_POSTCOPY_RECOVER:
    case MIG_COMPLETED:
        /* Cancelling during setup has no RAM state yet; QEMU would show zeros. */
        source_details(e, info, &p, state, snap.start_time);
        break;
    case MIG_FAILED:
        if (error_desc)
            json_object_object_add(info, "error-desc", json_object_new_string(error_desc));
        break;
    default: /* setup, cancelled, colo, wait-unplug: status only */ break;
    }
    g_free(error_desc);
    return info;
}
