/* mig_loadvm: reading a whole migration stream on the destination (QEMU's
 * qemu_loadvm_state): header, configuration, commands, sections with footers, device
 * state, EOF.  Every failure names what was wrong and the stream offset where it was. */
#include "mb_util.h"
#include "mig_bitmap_stream.h"
#include "mig_block.h"
#include "mig_ram_load.h"
#include "mig_loadvm.h"
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
    case MIG_CMD_POSTCOPY_ADVISE:
        /* An empty advice: dirty bitmaps only, no RAM postcopy (QEMU's
         * loadvm_postcopy_handle_advise accepts it and does nothing). */
        if (len == 0 && !mig_cap(ld->e, MIG_CAP_POSTCOPY_RAM))
            return true;
        if (len == 0)
            return failf(ld, err, "RAM postcopy is enabled but have 0 byte advise");
        return failf(ld, err, "%s is not supported by this migbench build yet", names[cmd]);
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

bool mig_loadvm(MigEngine *e, MigFile *f, Chan **rp, GError **err)
{
    MigLoad ld = { .e = e, .f = f, .rp = rp };
    bool ok;

    ld.ram = mig_ram_load_new(e);
    ld.sections = g_array_new(FALSE, TRUE, sizeof(SeenSection));
    ok = load_header(&ld, err);
    while (ok) {
        int type = mig_get_byte(f);
        if (mig_file_error(f)) {
            ok = stream_error(&ld, err);
            break;
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
        if (ok && mig_file_error(f))
            ok = stream_error(&ld, err);
    }
    if (ok && !ld.guest_loaded)
        ok = failf(&ld, err, "the stream ended without the guest state (%s)", MIG_GUEST_IDSTR);
    g_array_free(ld.sections, TRUE);
    mig_ram_load_free(ld.ram);
    return ok;
}
