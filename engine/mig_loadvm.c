/* mig_loadvm: reading a whole migration stream on the destination (QEMU's
 * qemu_loadvm_state): header, configuration, commands, sections with footers, device
 * state, EOF.  Every failure names what was wrong and the stream offset where it was. */
#include "mb_util.h"
#include "mig_bitmap_stream.h"
#include "mig_block.h"
#include "mig_loadvm.h"
#include "mig_pc_dest.h"
#include "mig_ram_load.h"
#include "mig_runstate.h"
#include "mig_savevm.h"

#include <string.h>

typedef struct {
    uint32_t id;
    char idstr[256];
    uint32_t version;
} SeenSection;

struct MigLoad {
    MigEngine *e;
    MigFile *f;
    Chan **rp;
    MigRamLoad *ram;
    GArray *sections; /* SeenSection */
    bool guest_loaded;
    MigPcDest *pc; /* postcopy, from ADVISE on (owned by e->in.postcopy) */
    MigLoadRecover recover;
    void *recover_opaque;
    uint64_t package_end; /* stream offset where the postcopy package ends, 0 = none */
};

/* Takes `cause` and reports it with the offset where the reader stood. */
static bool fail(MigLoad *ld, GError **err, GError *cause)
{
    g_set_error(err, MB_ERROR, cause->code, "%s (at stream offset %" G_GUINT64_FORMAT ")",
                cause->message, ld->f->pos);
    g_error_free(cause);
    return false;
}

static bool failf(MigLoad *ld, GError **err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool failf(MigLoad *ld, GError **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    GError *cause = g_error_new_valist(MB_ERROR, MB_ERR_GENERIC, fmt, ap);
    va_end(ap);
    return fail(ld, err, cause);
}

static bool stream_error(MigLoad *ld, GError **err)
{
    const GError *fe = mig_file_error(ld->f);
    return failf(ld, err, "%s", fe ? fe->message : "stream error");
}

static bool load_subsections(MigLoad *ld, GError **err)
{
    MigEngine *e = ld->e;
    char name[256];

    while (mig_peek_byte(ld->f) == MIG_SEC_SUBSECTION) {
        mig_get_byte(ld->f);
        mig_get_counted_string(ld->f, name);
        mig_get_be32(ld->f); /* version */
        if (!strcmp(name, "configuration/capabilities")) {
            uint32_t n = mig_get_be32(ld->f);
            bool src_ignore_shared = false;
            for (uint32_t i = 0; i < n && !mig_file_error(ld->f); i++) {
                char cap[256];
                mig_get_counted_string(ld->f, cap);
                if (!strcmp(cap, "x-ignore-shared"))
                    src_ignore_shared = true;
            }
            bool local = mig_cap(e, MIG_CAP_X_IGNORE_SHARED);
            if (src_ignore_shared != local)
                return failf(ld, err,
                             "Capability x-ignore-shared is %s, but received capability is %s",
                             local ? "on" : "off", src_ignore_shared ? "on" : "off");
        } else if (!strcmp(name, "configuration/uuid")) {
            uint8_t uuid[16];
            mig_get_buffer(ld->f, uuid, 16);
            if (e->cfg.has_uuid && memcmp(uuid, e->cfg.uuid, 16)) {
                char a[37], b[37];
                mb_uuid_format(uuid, a);
                mb_uuid_format(e->cfg.uuid, b);
                return failf(ld, err, "UUID received is %s and local is %s", a, b);
            }
        } else if (!strcmp(name, "configuration/target-page-bits")) {
            uint32_t bits = mig_get_be32(ld->f);
            if (bits != MB_TARGET_PAGE_BITS)
                return failf(ld, err, "Received TARGET_PAGE_BITS is %u but local is %d", bits,
                             MB_TARGET_PAGE_BITS);
        } else {
            return failf(ld, err, "Unknown subsection '%s'", name);
        }
    }
    return !mig_file_error(ld->f) || stream_error(ld, err);
}

static bool load_header(MigLoad *ld, GError **err)
{
    char local[64], remote[256];
    uint32_t magic = mig_get_be32(ld->f);

    if (mig_file_error(ld->f))
        return stream_error(ld, err);
    if (magic != MIG_FILE_MAGIC)
        return failf(ld, err, "Not a migration stream");
    uint32_t version = mig_get_be32(ld->f);
    if (version == 2)
        return failf(ld, err, "SaveVM v2 format is obsolete and don't work anymore");
    if (version != MIG_FILE_VERSION)
        return failf(ld, err, "Unsupported migration stream version");
    if (mig_get_byte(ld->f) != MIG_SEC_CONFIGURATION)
        return failf(ld, err, "Configuration section missing");
    uint32_t len = mig_get_be32(ld->f);
    if (len > 255)
        return failf(ld, err, "Machine type name too long (%u bytes)", len);
    mig_get_buffer(ld->f, remote, len);
    remote[len] = 0;
    if (mig_file_error(ld->f))
        return stream_error(ld, err);
    mig_machine_type(ld->e, local, sizeof(local));
    if (strcmp(remote, local))
        return failf(ld, err, "Machine type received is '%.*s' and local is '%s'", (int)len, remote,
                     local);
    return load_subsections(ld, err);
}

static bool check_footer(MigLoad *ld, const SeenSection *s, GError **err)
{
    if (mig_get_byte(ld->f) != MIG_SEC_FOOTER)
        return failf(ld, err, "Missing section footer for %s", s->idstr);
    uint32_t id = mig_get_be32(ld->f);
    if (id != s->id)
        return failf(ld, err, "Mismatched section id in footer for %s - read 0x%x expected 0x%x",
                     s->idstr, id, s->id);
    return true;
}

/* After a section's data: a stream error (truncation) is reported as such, before the
 * footer check would misname it. */
static bool load_section_end(MigLoad *ld, const SeenSection *s, GError **err)
{
    if (mig_file_error(ld->f))
        return stream_error(ld, err);
    return check_footer(ld, s, err);
}

static bool load_globalstate(MigLoad *ld, GError **err)
{
    char rs[101] = { 0 };
    uint32_t size = mig_get_be32(ld->f);
    mig_get_buffer(ld->f, rs, 100);
    if (size > 100)
        return failf(ld, err, "globalstate: runstate of %u bytes", size);
    g_free(ld->e->in.guest_state_runstate);
    ld->e->in.guest_state_runstate = g_strdup(rs);
    return true;
}

static bool load_guest(MigLoad *ld, GError **err)
{
    uint32_t len = mig_get_be32(ld->f);
    if (len > 64u << 20)
        return failf(ld, err, "%s: state of %u bytes is implausible", MIG_GUEST_IDSTR, len);
    uint8_t *blob = g_malloc(len ? len : 1);
    bool ok = mig_get_buffer(ld->f, blob, len);
    GError *cause = NULL;
    if (ok && !ld->e->guest->ops->load_state(ld->e->guest, blob, len, &cause)) {
        g_free(blob);
        return fail(ld, err, cause);
    }
    g_free(blob);
    ld->guest_loaded = ok;
    return ok || stream_error(ld, err);
}

/* Dispatches a section's payload to its handler. */
static bool load_section_data(MigLoad *ld, const SeenSection *s, GError **err)
{
    GError *cause = NULL;

    if (!strcmp(s->idstr, "ram")) {
        if (!mig_ram_load(ld->ram, ld->f, s->version, &cause))
            return fail(ld, err, cause);
        return true;
    }
    if (!strcmp(s->idstr, "block")) {
        if (!mig_block_load(ld->e->guest, ld->f, &cause))
            return fail(ld, err, cause);
        return true;
    }
    if (!strcmp(s->idstr, "dirty-bitmap")) {
        if (!mig_bitmap_load(ld->e->bitmaps, ld->f, &cause))
            return fail(ld, err, cause);
        return true;
    }
    if (!strcmp(s->idstr, "globalstate"))
        return load_globalstate(ld, err);
    if (!strcmp(s->idstr, MIG_GUEST_IDSTR))
        return load_guest(ld, err);
    return failf(ld, err,
                 "Unknown savevm section or instance '%s' 0. Make sure that your current VM "
                 "setup matches your saved VM setup, including any hotplugged devices",
                 s->idstr);
}

static bool load_section_start(MigLoad *ld, GError **err)
{
    SeenSection s = { 0 };

    s.id = mig_get_be32(ld->f);
    mig_get_counted_string(ld->f, s.idstr);
    uint32_t instance = mig_get_be32(ld->f);
    s.version = mig_get_be32(ld->f);
    if (mig_file_error(ld->f))
        return stream_error(ld, err);
    uint32_t max_version = !strcmp(s.idstr, "ram") ? MIG_RAM_VERSION : 1;
    if (instance != 0 ||
        (strcmp(s.idstr, "ram") && strcmp(s.idstr, "globalstate") && strcmp(s.idstr, "block") &&
         strcmp(s.idstr, "dirty-bitmap") && strcmp(s.idstr, MIG_GUEST_IDSTR)))
        return failf(ld, err,
                     "Unknown savevm section or instance '%s' %u. Make sure that your current "
                     "VM setup matches your saved VM setup, including any hotplugged devices",
                     s.idstr, instance);
    if (s.version > max_version)
        return failf(ld, err, "savevm: unsupported version %u for '%s' v%u", s.version, s.idstr,
                     max_version);
    g_array_append_val(ld->sections, s);
    return load_section_data(ld, &s, err) && load_section_end(ld, &s, err);
}

static bool load_section_part(MigLoad *ld, GError **err)
{
    uint32_t id = mig_get_be32(ld->f);

    for (guint i = 0; i < ld->sections->len; i++) {
        SeenSection *s = &g_array_index(ld->sections, SeenSection, i);
        if (s->id == id)
            return load_section_data(ld, s, err) && load_section_end(ld, s, err);
    }
    return failf(ld, err, "Unknown savevm section %u", id);
}

/* ---- postcopy commands (docs/stream-format.md; QEMU's loadvm_postcopy_handle_*) ---- */

#define MAX_PACKAGED_SIZE (1u << 24)

static void page_received(void *opaque, unsigned block, uint64_t page)
{
    mig_pc_dest_received(opaque, block, page);
}

static bool load_advise(MigLoad *ld, const uint8_t *buf, uint16_t len, GError **err)
{
    MigEngine *e = ld->e;
    bool local = mig_cap(e, MIG_CAP_POSTCOPY_RAM);

    if (ld->pc)
        return failf(ld, err, "CMD_POSTCOPY_ADVISE in wrong postcopy state (%d)",
                     (int)mig_pc_dest_state(ld->pc));
    if (len == 0) {
        if (local)
            return failf(ld, err, "RAM postcopy is enabled but have 0 byte advise");
        return true;
    }
    if (len != 16)
        return failf(ld, err, "CMD_POSTCOPY_ADVISE received with bad length %u", len);
    if (!local)
        return failf(ld, err, "RAM postcopy is disabled but have 16 byte advise");
    if (!e->guest->ops->run_writes)
        return failf(ld, err, "Postcopy is not supported");
    uint64_t remote_pagesizes = mb_ld_be64(buf), remote_tps = mb_ld_be64(buf + 8);
    uint64_t local_pagesizes = 0;
    for (unsigned b = 0; b < e->guest->nblocks; b++)
        local_pagesizes |= e->guest->blocks[b].host_page_size;
    if (remote_pagesizes != local_pagesizes)
        return failf(ld, err,
                     "Postcopy needs matching RAM page sizes (s=%" G_GINT64_MODIFIER
                     "x d=%" G_GINT64_MODIFIER "x)",
                     remote_pagesizes, local_pagesizes);
    if (remote_tps != MB_TARGET_PAGE_SIZE)
        return failf(ld, err, "Postcopy needs matching target page sizes (s=%d d=%d)",
                     (int)remote_tps, (int)MB_TARGET_PAGE_SIZE);
    ld->pc = mig_pc_dest_new(e);
    g_mutex_lock(&e->in.lock);
    MigPcDest *old = e->in.postcopy;
    e->in.postcopy = ld->pc;
    g_mutex_unlock(&e->in.lock);
    mig_pc_dest_free(old);
    return true;
}

/* u8 version 0, u8 name length, name, 0, then (be64 start, be64 length) byte ranges. */
static bool load_discard(MigLoad *ld, const uint8_t *buf, uint16_t len, GError **err)
{
    MigPcDestState st = ld->pc ? mig_pc_dest_state(ld->pc) : MIG_PCD_NONE;

    if (st != MIG_PCD_ADVISE && st != MIG_PCD_DISCARD)
        return failf(ld, err, "CMD_POSTCOPY_RAM_DISCARD in wrong postcopy state (%d)", (int)st);
    mig_pc_dest_set_state(ld->pc, MIG_PCD_DISCARD);
    if (len < 1 + 1 + 1 + 1 + 2 * 8)
        return failf(ld, err, "CMD_POSTCOPY_RAM_DISCARD invalid length (%d)", len);
    if (buf[0] != 0)
        return failf(ld, err, "CMD_POSTCOPY_RAM_DISCARD invalid version (%d)", buf[0]);
    size_t nlen = buf[1];
    if (3 + nlen > len || buf[2 + nlen] != 0)
        return failf(ld, err, "CMD_POSTCOPY_RAM_DISCARD missing nil (%d)",
                     3 + nlen > len ? -1 : buf[2 + nlen]);
    size_t rest = len - (3 + nlen);
    if (rest % 16)
        return failf(ld, err, "CMD_POSTCOPY_RAM_DISCARD invalid length (%d)", len);
    char name[256];
    memcpy(name, buf + 2, nlen);
    name[nlen] = 0;
    int block = -1;
    for (unsigned b = 0; b < ld->e->guest->nblocks; b++)
        if (!strcmp(ld->e->guest->blocks[b].name, name))
            block = (int)b;
    if (block < 0)
        return failf(ld, err, "ram_discard_range: Unknown block %s", name);
    for (const uint8_t *p = buf + 3 + nlen; p < buf + len; p += 16) {
        uint64_t start = mb_ld_be64(p), length = mb_ld_be64(p + 8);
        if ((start | length) & (MB_TARGET_PAGE_SIZE - 1) ||
            !mig_pc_dest_discard(ld->pc, (unsigned)block, start / MB_TARGET_PAGE_SIZE,
                                 length / MB_TARGET_PAGE_SIZE))
            return failf(ld, err,
                         "ram_discard_range: Overrun block '%s' (%" G_GUINT64_FORMAT
                         "/%" G_GUINT64_FORMAT ")",
                         name, start, length);
    }
    return true;
}

static bool load_listen(MigLoad *ld, GError **err)
{
    MigPcDestState st = ld->pc ? mig_pc_dest_state(ld->pc) : MIG_PCD_NONE;

    if (st != MIG_PCD_ADVISE && st != MIG_PCD_DISCARD)
        return failf(ld, err, "CMD_POSTCOPY_LISTEN in wrong postcopy state (%d)", (int)st);
    mig_pc_dest_set_state(ld->pc, MIG_PCD_LISTENING);
    mig_ram_load_set_listener(ld->ram, page_received, ld->pc);
    mig_set_state(ld->e, &ld->e->in.state, MIG_ACTIVE, MIG_POSTCOPY_ACTIVE);
    return true;
}

static bool load_run(MigLoad *ld, GError **err)
{
    MigEngine *e = ld->e;
    MigPcDestState st = ld->pc ? mig_pc_dest_state(ld->pc) : MIG_PCD_NONE;
    GError *cause = NULL;

    if (st != MIG_PCD_LISTENING)
        return failf(ld, err, "CMD_POSTCOPY_RUN in wrong postcopy state (%d)", (int)st);
    if (!ld->package_end || ld->f->pos != ld->package_end)
        return failf(ld, err, "POSTCOPY_RUN outside the end of the postcopy package");
    ld->package_end = 0;
    if (!ld->guest_loaded)
        return failf(ld, err, "POSTCOPY_RUN before the guest state (%s)", MIG_GUEST_IDSTR);
    /* QEMU's loadvm_postcopy_handle_run_bh: the guest runs at once unless -S. */
    if (runstate_autostart(e))
        runstate_vm_start(e);
    else
        runstate_set(e, RS_PAUSED);
    if (!mig_pc_dest_run(ld->pc, ld->rp ? *ld->rp : NULL, &cause))
        return fail(ld, err, cause);
    return true;
}

/* ---- postcopy recovery (QEMU's loadvm_handle_recv_bitmap, loadvm_postcopy_handle_resume) */

static bool load_recv_bitmap(MigLoad *ld, const uint8_t *buf, uint16_t len, GError **err)
{
    MbGuest *g = ld->e->guest;
    char name[256];

    if (len < 1 || len != 1u + buf[0])
        return failf(ld, err, "loadvm_handle_recv_bitmap: invalid payload length (%d)", len);
    memcpy(name, buf + 1, buf[0]);
    name[buf[0]] = 0;
    if (!ld->pc || mig_pc_dest_state(ld->pc) != MIG_PCD_RUNNING || !ld->rp || !*ld->rp)
        return failf(ld, err, "RECV_BITMAP outside a postcopy recovery");
    for (unsigned b = 0; b < g->nblocks; b++) {
        if (strcmp(g->blocks[b].name, name))
            continue;
        GError *cause = NULL;
        if (!mig_pc_dest_send_received(ld->pc, *ld->rp, b, &cause))
            return fail(ld, err, cause);
        return true;
    }
    return failf(ld, err, "loadvm_handle_recv_bitmap: block '%s' not found", name);
}

static bool load_resume(MigLoad *ld)
{
    MigEngine *e = ld->e;

    if (atomic_load(&e->in.state) != MIG_POSTCOPY_RECOVER || !ld->pc || !ld->rp || !*ld->rp) {
        /* QEMU reports it and goes on loading. */
        g_printerr("migbench: loadvm_postcopy_handle_resume: illegal resume received\n");
        return true;
    }
    mig_set_state(e, &e->in.state, MIG_POSTCOPY_RECOVER, MIG_POSTCOPY_ACTIVE);
    mig_pc_dest_resume(ld->pc, *ld->rp);
    return true;
}

static bool load_command(MigLoad *ld, GError **err)
{
    static const int lens[MIG_CMD_MAX] = {
        [MIG_CMD_OPEN_RETURN_PATH] = 0, [MIG_CMD_PING] = 4,
        [MIG_CMD_POSTCOPY_ADVISE] = -1, [MIG_CMD_POSTCOPY_LISTEN] = 0,
        [MIG_CMD_POSTCOPY_RUN] = 0,     [MIG_CMD_POSTCOPY_RAM_DISCARD] = -1,
        [MIG_CMD_PACKAGED] = 4,         [MIG_CMD_ENABLE_COLO] = 0,
        [MIG_CMD_POSTCOPY_RESUME] = 0,  [MIG_CMD_RECV_BITMAP] = -1
    };
    static const char *const names[MIG_CMD_MAX] = {
        "INVALID",      "OPEN_RETURN_PATH",     "PING",     "POSTCOPY_ADVISE", "POSTCOPY_LISTEN",
        "POSTCOPY_RUN", "POSTCOPY_RAM_DISCARD", "PACKAGED", "ENABLE_COLO",     "POSTCOPY_RESUME",
        "RECV_BITMAP"
    };
    uint16_t cmd = mig_get_be16(ld->f);
    uint16_t len = mig_get_be16(ld->f);
    uint8_t buf[65536];

    if (mig_file_error(ld->f))
        return stream_error(ld, err);
    if (cmd == MIG_CMD_MB_POSTCOPY_RATE) {
        /* be64 rate, then (16-byte form) be64 guest time it applies from. */
        if ((len != 8 && len != 16) || !mig_get_buffer(ld->f, buf, len) || !ld->pc)
            return failf(ld, err, "MB_POSTCOPY_RATE received with bad length or before ADVISE");
        uint64_t at = len == 16 ? mb_ld_be64(buf + 8) : UINT64_MAX;
        mig_pc_dest_set_rate(ld->pc, mb_ld_be64(buf), at > INT64_MAX ? -1 : (int64_t)at);
        return true;
    }
    if (cmd == 0 || cmd >= MIG_CMD_MAX)
        return failf(ld, err, "MIG_CMD 0x%x unknown (len 0x%x)", cmd, len);
    if (lens[cmd] != -1 && lens[cmd] != len)
        return failf(ld, err, "%s received with bad length - expecting %d, got %u", names[cmd],
                     lens[cmd], len);
    if (!mig_get_buffer(ld->f, buf, len))
        return stream_error(ld, err);

    switch (cmd) {
    case MIG_CMD_OPEN_RETURN_PATH:
        if (ld->rp && !*ld->rp) {
            *ld->rp = chan_return_path(ld->f->chan);
            if (!*ld->rp)
                return failf(ld, err, "Unable to open return-path for postcopy");
        }
        return true;
    case MIG_CMD_PING:
        if (ld->rp && *ld->rp) {
            uint8_t msg[8];
            mb_st_be16(msg, MIG_RP_PONG);
            mb_st_be16(msg + 2, 4);
            memcpy(msg + 4, buf, 4);
            chan_write_all(*ld->rp, msg, sizeof(msg), NULL);
        }
        return true;
    case MIG_CMD_POSTCOPY_ADVISE: return load_advise(ld, buf, len, err);
    case MIG_CMD_POSTCOPY_RAM_DISCARD: return load_discard(ld, buf, len, err);
    case MIG_CMD_POSTCOPY_LISTEN: return load_listen(ld, err);
    case MIG_CMD_POSTCOPY_RUN: return load_run(ld, err);
    case MIG_CMD_PACKAGED: {
        uint32_t plen = mb_ld_be32(buf);
        if (plen > MAX_PACKAGED_SIZE)
            return failf(ld, err, "Unreasonably large packaged state: %u", plen);
        /* The package's commands and sections follow in the stream itself; it must end
         * with RUN (checked there). */
        ld->package_end = ld->f->pos + plen;
        return true;
    }
    case MIG_CMD_RECV_BITMAP: return load_recv_bitmap(ld, buf, len, err);
    case MIG_CMD_POSTCOPY_RESUME: return load_resume(ld);
    case MIG_CMD_ENABLE_COLO:
        /* QEMU's loadvm_process_enable_colo: this side becomes a COLO secondary once the
         * stream is loaded.  The guest must be able to check memory while staying an
         * incoming guest (guest.h, check). */
        if (!ld->e->guest->ops->check)
            return failf(ld, err, "COLO: the %s guest cannot be a COLO secondary",
                         ld->e->guest->kind);
        ld->e->in.colo = true;
        return true;
    default: return failf(ld, err, "%s is not supported by this migbench build yet", names[cmd]);
    }
}

/* A stream error (not a bad stream) while the postcopy guest runs here pauses; true when a
 * recovery brought a new stream to go on with. */
static bool recovered(MigLoad *ld, GError **err)
{
    if (!ld->recover || !mig_file_error(ld->f) || !ld->pc ||
        mig_pc_dest_state(ld->pc) != MIG_PCD_RUNNING)
        return false;
    if (!ld->recover(ld->recover_opaque, &ld->f, ld->rp, *err))
        return false;
    g_clear_error(err);
    return true;
}

bool mig_loadvm(MigEngine *e, MigFile *f, Chan **rp, MigLoadRecover recover, void *opaque,
                GError **err)
{
    MigLoad ld = { .e = e, .f = f, .rp = rp, .recover = recover, .recover_opaque = opaque };
    bool ok;

    ld.ram = mig_ram_load_new(e);
    ld.sections = g_array_new(FALSE, TRUE, sizeof(SeenSection));
    ok = load_header(&ld, err);
    while (ok) {
        int type = mig_get_byte(ld.f);
        if (mig_file_error(ld.f)) {
            ok = stream_error(&ld, err) || recovered(&ld, err);
            continue;
        }
        if (type == MIG_SEC_EOF)
            break;
        switch (type) {
        case MIG_SEC_START:
        case MIG_SEC_FULL: ok = load_section_start(&ld, err); break;
        case MIG_SEC_PART:
        case MIG_SEC_END: ok = load_section_part(&ld, err); break;
        case MIG_SEC_COMMAND: ok = load_command(&ld, err); break;
        default: ok = failf(&ld, err, "Unknown savevm section type %d", type); break;
        }
        if (ok && mig_file_error(ld.f))
            ok = stream_error(&ld, err);
        if (!ok)
            ok = recovered(&ld, err);
    }
    if (ok && !ld.guest_loaded)
        ok = failf(&ld, err, "the stream ended without the guest state (%s)", MIG_GUEST_IDSTR);
    g_array_free(ld.sections, TRUE);
    mig_ram_load_free(ld.ram);
    return ok;
}
