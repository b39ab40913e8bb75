/* mig_savevm: writing the stream's framing (header, configuration, sections, commands,
 * device state, EOF and VM description), byte for byte in QEMU's savevm format. */
#include "mig_savevm.h"

#include "mb_util.h"

#include <string.h>

const char *mig_machine_type(MigEngine *e, char *buf, size_t len)
{
    g_snprintf(buf, len, "migbench-%s", e->guest->kind);
    return buf;
}

static void put_subsection(MigFile *f, const char *name, uint32_t version)
{
    mig_put_byte(f, MIG_SEC_SUBSECTION);
    mig_put_counted_string(f, name);
    mig_put_be32(f, version);
}

void mig_save_header(MigEngine *e, MigFile *f)
{
    char machine[64];

    mig_put_be32(f, MIG_FILE_MAGIC);
    mig_put_be32(f, MIG_FILE_VERSION);

    /* Configuration: machine type, then subsections.  Only x-ignore-shared is a
     * "validated" capability in 4.0/5.0, sent when it is on. */
    mig_machine_type(e, machine, sizeof(machine));
    mig_put_byte(f, MIG_SEC_CONFIGURATION);
    mig_put_be32(f, (uint32_t)strlen(machine));
    mig_put_buffer(f, machine, strlen(machine));
    if (mig_cap(e, MIG_CAP_X_IGNORE_SHARED)) {
        put_subsection(f, "configuration/capabilities", 1);
        mig_put_be32(f, 1);
        mig_put_counted_string(f, mig_caps_name(&e->caps, MIG_CAP_X_IGNORE_SHARED));
    }
    if (mig_cap(e, MIG_CAP_VALIDATE_UUID) && e->cfg.has_uuid) {
        put_subsection(f, "configuration/uuid", 1);
        mig_put_buffer(f, e->cfg.uuid, 16);
    }
}

void mig_save_command(MigFile *f, uint16_t cmd, uint16_t len, const void *data)
{
    mig_put_byte(f, MIG_SEC_COMMAND);
    mig_put_be16(f, cmd);
    mig_put_be16(f, len);
    if (len)
        mig_put_buffer(f, data, len);
}

void mig_save_section_header(MigFile *f, uint8_t type, uint32_t id, const char *idstr,
                             uint32_t version)
{
    mig_put_byte(f, type);
    mig_put_be32(f, id);
    mig_put_counted_string(f, idstr);
    mig_put_be32(f, 0); /* instance id */
    mig_put_be32(f, version);
}

void mig_save_section_short(MigFile *f, uint8_t type, uint32_t id)
{
    mig_put_byte(f, type);
    mig_put_be32(f, id);
}

void mig_save_footer(MigFile *f, uint32_t id)
{
    mig_put_byte(f, MIG_SEC_FOOTER);
    mig_put_be32(f, id);
}

static void save_full_sections(MigEngine *e, MigFile *f, const char *runstate, size_t *blob_len);
static void mig_save_vmdesc(MigFile *f, size_t len);

void mig_save_devices(MigEngine *e, MigFile *f, const char *runstate)
{
    size_t len;

    save_full_sections(e, f, runstate, &len);
    mig_put_byte(f, MIG_SEC_EOF);
    mig_save_vmdesc(f, len);
    mig_file_flush(f);
}

void mig_save_device_state(MigEngine *e, MigFile *f)
{
    size_t len;

    mig_save_header(e, f);
    save_full_sections(e, f, "paused", &len);
    mig_put_byte(f, MIG_SEC_EOF);
    mig_file_flush(f);
}

/* Section header of a FULL section named `idstr`, footer, and the payloads' sizes. */
#define FULL_SECTION_BYTES(idstr) (1 + 4 + 1 + strlen(idstr) + 4 + 4 + 1 + 4)
#define CMD_BYTES(len)            (1 + 2 + 2 + (len))

void mig_save_package(MigEngine *e, MigFile *f, const char *runstate)
{
    GBytes *blob = e->guest->ops->save_state(e->guest);
    size_t len;
    uint8_t be[4];

    /* Only its size: save_full_sections takes the (same, the guest is stopped) state again. */
    len = g_bytes_get_size(blob);
    g_bytes_unref(blob);
    size_t size = CMD_BYTES(0) + FULL_SECTION_BYTES("globalstate") + 4 + 100 +
                  FULL_SECTION_BYTES(MIG_GUEST_IDSTR) + 4 + len + CMD_BYTES(0);
    mb_st_be32(be, (uint32_t)size);
    mig_save_command(f, MIG_CMD_PACKAGED, 4, be);
    uint64_t start = f->pos;
    mig_save_command(f, MIG_CMD_POSTCOPY_LISTEN, 0, NULL);
    size_t blob_len;
    save_full_sections(e, f, runstate, &blob_len);
    mig_save_command(f, MIG_CMD_POSTCOPY_RUN, 0, NULL);
    g_assert(blob_len == len && f->pos - start == size);
    mig_file_flush(f);
}

static void save_full_sections(MigEngine *e, MigFile *f, const char *runstate, size_t *blob_len)
{
    /* globalstate: the runstate the destination should adopt (QEMU's global_state). */
    char rs[100] = { 0 };
    g_strlcpy(rs, runstate, sizeof(rs));
    mig_save_section_header(f, MIG_SEC_FULL, MIG_SECTION_GLOBALSTATE, "globalstate", 1);
    mig_put_be32(f, (uint32_t)strlen(rs) + 1);
    mig_put_buffer(f, rs, sizeof(rs));
    mig_save_footer(f, MIG_SECTION_GLOBALSTATE);

    /* The guest's vCPU/device state blob. */
    GBytes *blob = e->guest->ops->save_state(e->guest);
    gsize len;
    const uint8_t *data = g_bytes_get_data(blob, &len);
    mig_save_section_header(f, MIG_SEC_FULL, MIG_SECTION_GUEST, MIG_GUEST_IDSTR, 1);
    mig_put_be32(f, (uint32_t)len);
    mig_put_buffer(f, data, len);
    mig_save_footer(f, MIG_SECTION_GUEST);
    g_bytes_unref(blob);
    *blob_len = len;
}

/* VM description (JSON), as scripts/analyze-migration.py expects after EOF. */
static void mig_save_vmdesc(MigFile *f, size_t len)
{
    gchar *desc = g_strdup_printf(
        "{\"page_size\": %u, \"devices\": ["
        "{\"name\": \"globalstate\", \"instance_id\": 0, \"vmsd_name\": \"globalstate\", "
        "\"version\": 1, \"fields\": [{\"name\": \"size\", \"type\": \"uint32\", \"size\": 4}, "
        "{\"name\": \"runstate\", \"type\": \"buffer\", \"size\": 100}]}, "
        "{\"name\": \"%s\", \"instance_id\": 0, \"vmsd_name\": \"%s\", \"version\": 1, "
        "\"fields\": [{\"name\": \"len\", \"type\": \"uint32\", \"size\": 4}, "
        "{\"name\": \"state\", \"type\": \"buffer\", \"size\": %zu}]}]}",
        MB_TARGET_PAGE_SIZE, MIG_GUEST_IDSTR, MIG_GUEST_IDSTR, (size_t)len);
    mig_put_byte(f, MIG_SEC_VMDESCRIPTION);
    mig_put_be32(f, (uint32_t)strlen(desc));
    mig_put_buffer(f, desc, strlen(desc));
    g_free(desc);
}
