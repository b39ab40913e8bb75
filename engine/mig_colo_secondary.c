/* mig_colo_secondary: the COLO secondary's checkpoint loop (see mig_colo_secondary.h). */
#include "mig_colo_secondary.h"
#include "mb_util.h"
#include "mig_colo_state.h"
#include "mig_loadvm.h"
#include "mig_ram_load.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

/* The device state of a checkpoint is a few KiB; anything near this is a broken stream. */
#define VMSTATE_MAX ((uint64_t)64 << 20)

/* ---- the staging guest: where a checkpoint's RAM waits until it is complete ----
 * A guest (guest.h) with the real guest's blocks whose pages live in a table: received
 * pages are kept there, and pages an XBZRLE delta or a compression thread works on in place
 * are copied from the real guest first. */
typedef struct {
    MbGuest base;
    MbGuest *real;
    GHashTable *pages; /* (block << 48 | page) -> page buffer, or zero_page for a zero page */
} Stage;

static const uint8_t zero_page[MB_TARGET_PAGE_SIZE];

static Stage *SS(MbGuest *g)
{
    return (Stage *)g;
}

static gpointer key(unsigned block, uint64_t page)
{
    return GSIZE_TO_POINTER(((gsize)block << 48) | (gsize)page);
}

static bool stage_page_store(MbGuest *g, unsigned block, uint64_t page, const uint8_t *data)
{
    Stage *s = SS(g);
    if (block >= g->nblocks || page >= mb_guest_block_pages(g, block))
        return false;
    if (!data) {
        g_hash_table_insert(s->pages, key(block, page), (gpointer)zero_page);
        return true;
    }
    uint8_t *p = g_hash_table_lookup(s->pages, key(block, page));
    if (!p || p == zero_page) {
        p = g_malloc(MB_TARGET_PAGE_SIZE);
        g_hash_table_insert(s->pages, key(block, page), p);
    }
    memcpy(p, data, MB_TARGET_PAGE_SIZE);
    return true;
}

static uint8_t *stage_page_host(MbGuest *g, unsigned block, uint64_t page)
{
    Stage *s = SS(g);
    if (block >= g->nblocks || page >= mb_guest_block_pages(g, block))
        return NULL;
    uint8_t *p = g_hash_table_lookup(s->pages, key(block, page));
    if (p && p != zero_page)
        return p;
    const uint8_t *base = NULL;
    if (!p) {
        /* The page as the guest holds it (from the previous checkpoint). */
        uint8_t *host =
            s->real->ops->page_host ? s->real->ops->page_host(s->real, block, page) : NULL;
        if (!host)
            return NULL;
        base = host;
    }
    uint8_t *copy = g_malloc(MB_TARGET_PAGE_SIZE);
    memcpy(copy, base ? base : zero_page, MB_TARGET_PAGE_SIZE);
    g_hash_table_insert(s->pages, key(block, page), copy);
    return copy;
}

static void free_page(gpointer p)
{
    if (p != zero_page)
        g_free(p);
}

static const MbGuestOps stage_ops = {
    .page_host = stage_page_host,
    .page_store = stage_page_store,
};

static void stage_init(Stage *s, MbGuest *real)
{
    s->base.ops = &stage_ops;
    s->base.kind = real->kind;
    s->base.virtual_time = real->virtual_time;
    s->base.nblocks = real->nblocks;
    s->base.blocks = real->blocks;
    s->real = real;
    s->pages = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free_page);
}

/* Applies every staged page to the real guest (the atomic step of a checkpoint). */
static bool stage_apply(Stage *s)
{
    GHashTableIter it;
    gpointer k, v;
    bool ok = true;
    g_hash_table_iter_init(&it, s->pages);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        gsize kk = GPOINTER_TO_SIZE(k);
        unsigned block = (unsigned)(kk >> 48);
        uint64_t page = kk & (((gsize)1 << 48) - 1);
        ok &= mb_guest_page_store(s->real, block, page, v == zero_page ? NULL : v);
    }
    g_hash_table_remove_all(s->pages);
    return ok;
}

/* ---- one checkpoint ---- */

typedef struct {
    MigEngine *e;
    MigFile *f;
    Chan *rp;
    Stage stage;
    MigRamLoad *ram; /* into the stage, kept across checkpoints (CONTINUE records) */
    uint64_t count;
} Secondary;

/* The live part of a checkpoint (QEMU's qemu_loadvm_state_main up to EOF): RAM sections
 * into the stage. */
static bool load_live(Secondary *c, GError **err)
{
    MigFile *f = c->f;
    for (;;) {
        int type = mig_get_byte(f);
        if (mig_file_error(f))
            break;
        if (type == MIG_SEC_EOF)
            return true;
        if (type != MIG_SEC_PART && type != MIG_SEC_END) {
            mb_error_set(err, "COLO: unexpected section type %d in a checkpoint", type);
            return false;
        }
        uint32_t id = mig_get_be32(f);
        if (id != MIG_SECTION_RAM) {
            mb_error_set(err, "Unknown savevm section %u", id);
            return false;
        }
        GError *cause = NULL;
        if (!mig_ram_load(c->ram, f, MIG_RAM_VERSION, &cause)) {
            mb_error_set(err, "COLO: checkpoint %" G_GUINT64_FORMAT ": %s", c->count + 1,
                         cause->message);
            g_error_free(cause);
            return false;
        }
        if (mig_file_error(f))
            break;
        if (mig_get_byte(f) != MIG_SEC_FOOTER || mig_get_be32(f) != MIG_SECTION_RAM) {
            mb_error_set(err, "Missing section footer for ram");
            return false;
        }
    }
    mb_error_set(err, "COLO: the checkpoint stream broke: %s", mig_file_error(f)->message);
    return false;
}

/* Loads a device-state buffer (QEMU's qemu_load_device_state) through a memory file. */
static bool load_device_state(MigEngine *e, const uint8_t *buf, size_t len, GError **err)
{
    int fd = memfd_create("colo-vmstate", MFD_CLOEXEC);
    if (fd < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len) {
        mb_error_set(err, "COLO: cannot buffer the device state: %s", g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    MigFile *bf = mig_file_new(chan_new_fd(fd, "colo-vmstate"), false);
    bool ok = mig_loadvm(e, bf, NULL, NULL, NULL, err);
    mig_file_close(bf);
    return ok;
}

static bool checkpoint(Secondary *c, GError **err)
{
    MigEngine *e = c->e;
    MigFile *f = c->f;

    if (!mig_colo_expect(f, MIG_COLO_CHECKPOINT_REQUEST, err))
        return false;
    runstate_vm_stop(e, RS_COLO);
    if (!mig_colo_send_rp(c->rp, MIG_COLO_CHECKPOINT_REPLY, err) ||
        !mig_colo_expect(f, MIG_COLO_VMSTATE_SEND, err))
        return false;
    bool ok = load_live(c, err) && mig_colo_expect(f, MIG_COLO_VMSTATE_SIZE, err);
    uint64_t len = ok ? mig_get_be64(f) : 0;
    if (ok && len > VMSTATE_MAX) {
        mb_error_set(err, "COLO: device state of %" G_GUINT64_FORMAT " bytes", len);
        ok = false;
    }
    uint8_t *buf = NULL;
    if (ok) {
        buf = g_malloc(len ? len : 1);
        if (!mig_get_buffer(f, buf, len)) {
            mb_error_set(err, "Failed to get the vmstate: %s",
                         mig_file_error(f) ? mig_file_error(f)->message : "short read");
            ok = false;
        }
    }
    if (!ok) {
        /* Cut off halfway: what was staged is dropped, the guest stays at the last
         * checkpoint. */
        g_hash_table_remove_all(c->stage.pages);
        g_free(buf);
        return false;
    }
    if (!mig_colo_send_rp(c->rp, MIG_COLO_VMSTATE_RECEIVED, err)) {
        g_hash_table_remove_all(c->stage.pages);
        g_free(buf);
        return false;
    }
    /* Everything is here: apply it in one step, then check it. */
    bool applied = stage_apply(&c->stage);
    if (!applied)
        mb_error_set(err, "COLO: the guest refused a page of checkpoint %" G_GUINT64_FORMAT,
                     c->count + 1);
    applied = applied && load_device_state(e, buf, len, err) && e->guest->ops->check(e->guest, err);
    g_free(buf);
    if (!applied)
        return false;
    c->count++;
    if (!mig_colo_send_rp(c->rp, MIG_COLO_VMSTATE_LOADED, err))
        return false;
    runstate_vm_start(e);
    return true;
}

/* QEMU reads the VM description that follows the migration's EOF before COLO starts. */
static bool skip_vmdesc(MigFile *f, GError **err)
{
    if (mig_peek_byte(f) != MIG_SEC_VMDESCRIPTION)
        return true;
    mig_get_byte(f);
    uint32_t len = mig_get_be32(f);
    uint8_t buf[4096];
    while (len && !mig_file_error(f)) {
        uint32_t n = MIN(len, (uint32_t)sizeof(buf));
        mig_get_buffer(f, buf, n);
        len -= n;
    }
    if (mig_file_error(f)) {
        mb_error_set(err, "Can't receive COLO message: %s", mig_file_error(f)->message);
        return false;
    }
    return true;
}

bool mig_colo_secondary_run(MigEngine *e, MigFile *f, Chan **rp, GError **err)
{
    Secondary c = { .e = e, .f = f };
    GError *why = NULL;

    mig_set_state(e, &e->in.state, MIG_ACTIVE, MIG_COLO);
    if (!*rp)
        *rp = chan_return_path(f->chan);
    c.rp = *rp;
    mig_colo_begin(e, MIG_COLO_MODE_SECONDARY, f, c.rp);
    stage_init(&c.stage, e->guest);
    c.ram = mig_ram_load_new_into(e, &c.stage.base);
    bool ok = c.rp != NULL;
    if (!ok)
        mb_error_set(&why, "Open QEMUFile to_src_file failed");
    ok = ok && skip_vmdesc(f, &why);
    if (ok) {
        runstate_vm_start(e);
        ok = mig_colo_send_rp(c.rp, MIG_COLO_CHECKPOINT_READY, &why);
    }
    while (ok && mig_colo_failover_status(e) == MIG_FAILOVER_NONE && !mig_colo_stopping(e))
        ok = checkpoint(&c, &why);
    MigColoExit reason = mig_colo_end(e, ok ? MIG_COLO_EXIT_REQUEST : MIG_COLO_EXIT_ERROR);
    if (reason == MIG_COLO_EXIT_ERROR && why)
        g_printerr("migbench: COLO secondary: %s\n", why->message);
    g_clear_error(&why);
    mig_ram_load_free(c.ram);
    g_hash_table_destroy(c.stage.pages);
    /* Take over from the last checkpoint: verified, then running (QEMU's
     * secondary_vm_do_failover; here also after a broken channel). */
    bool verified = e->guest->ops->verify(e->guest, err);
    if (verified) {
        g_printerr("migbench: COLO secondary runs from checkpoint %" G_GUINT64_FORMAT
                   " (verified)\n",
                   c.count);
        runstate_vm_start(e);
    }
    mig_set_state(e, &e->in.state, MIG_COLO, MIG_COMPLETED);
    return verified;
}
