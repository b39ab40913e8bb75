/* mig_stream: wire constants of the migration stream (QEMU's savevm format, version 3) and
 * the save/load entry points of the section layer.  docs/stream-format.md is the prose. */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include "mig_internal.h"

#define MIG_FILE_MAGIC   0x5145564dU /* "QEVM" */
#define MIG_FILE_VERSION 3

enum {
    MIG_SEC_EOF = 0x00,
    MIG_SEC_START = 0x01,
    MIG_SEC_PART = 0x02,
    MIG_SEC_END = 0x03,
    MIG_SEC_FULL = 0x04,
    MIG_SEC_SUBSECTION = 0x05,
    MIG_SEC_VMDESCRIPTION = 0x06,
    MIG_SEC_CONFIGURATION = 0x07,
    MIG_SEC_COMMAND = 0x08,
    MIG_SEC_FOOTER = 0x7e,
};

enum {
    MIG_CMD_OPEN_RETURN_PATH = 1,
    MIG_CMD_PING = 2,
    MIG_CMD_POSTCOPY_ADVISE = 3,
    MIG_CMD_POSTCOPY_LISTEN = 4,
    MIG_CMD_POSTCOPY_RUN = 5,
    MIG_CMD_POSTCOPY_RAM_DISCARD = 6,
    MIG_CMD_PACKAGED = 7,
    MIG_CMD_ENABLE_COLO = 8,
    MIG_CMD_POSTCOPY_RESUME = 9,
    MIG_CMD_RECV_BITMAP = 10,
    MIG_CMD_MAX
};

enum {
    MIG_RP_SHUT = 1,
    MIG_RP_PONG = 2,
    MIG_RP_REQ_PAGES_ID = 3,
    MIG_RP_REQ_PAGES = 4,
    MIG_RP_RECV_BITMAP = 5,
    MIG_RP_RESUME_ACK = 6,
    MIG_RP_MAX
};

/* RAM record flags, in the low bits of the be64 offset. */
#define RAM_SAVE_FLAG_FULL          0x01
#define RAM_SAVE_FLAG_ZERO          0x02
#define RAM_SAVE_FLAG_MEM_SIZE      0x04
#define RAM_SAVE_FLAG_PAGE          0x08
#define RAM_SAVE_FLAG_EOS           0x10
#define RAM_SAVE_FLAG_CONTINUE      0x20
#define RAM_SAVE_FLAG_XBZRLE        0x40
#define RAM_SAVE_FLAG_HOOK          0x80
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100

/* Section ids and names of migbench's savevm handlers. */
#define MIG_SECTION_RAM         2
#define MIG_SECTION_GLOBALSTATE 4
#define MIG_SECTION_GUEST       5
#define MIG_RAM_VERSION         4
#define MIG_GUEST_IDSTR         "migbench/guest"

/* The machine type a vm announces in the configuration section ("migbench-sim" or
 * "migbench-kvm"): a sim guest cannot load a KVM guest's stream and vice versa. */
const char *mig_machine_type(MigEngine *e, char *buf, size_t len);

/* ---- save side (mig_savevm.c) ---- */
void mig_save_header(MigEngine *e, MigFile *f);
void mig_save_command(MigFile *f, uint16_t cmd, uint16_t len, const void *data);
void mig_save_section_header(MigFile *f, uint8_t type, uint32_t id, const char *idstr,
                             uint32_t version);
void mig_save_section_short(MigFile *f, uint8_t type, uint32_t id);
void mig_save_footer(MigFile *f, uint32_t id);
/* Non-iterable devices (FULL sections), EOF and the VM description. */
void mig_save_devices(MigEngine *e, MigFile *f, const char *runstate);

/* xen-save-devices-state: header, device sections, EOF (QEMU's qemu_save_device_state). */
void mig_save_device_state(MigEngine *e, MigFile *f);

/* ---- load side (mig_loadvm.c) ---- */
typedef struct MigLoad MigLoad;
/* Loads a whole stream into the guest.  On error returns false with a message naming what
 * failed and the stream offset.  `rp` receives the return path once OPEN_RETURN_PATH is
 * read (caller closes it). */
bool mig_loadvm(MigEngine *e, MigFile *f, Chan **rp, GError **err);

#endif
