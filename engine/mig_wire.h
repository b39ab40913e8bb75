/* mig_wire: the constants of the migration stream (QEMU's savevm format, version 3), alone.
 *
 * Kept apart from mig_stream.h (the section layer's entry points, which need the engine's
 * structures) so that the record writers and readers at the bottom of the engine (RAM saving,
 * compression) can use the wire format without depending on the engine above them
 * (docs/architecture.md, layers).  docs/stream-format.md is the prose. */
#ifndef MIG_WIRE_H
#define MIG_WIRE_H

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
/* migbench's own command, inside the postcopy package (docs/stream-format.md): be64 bytes/s
 * of the source's postcopy rate (0 = the link's), for a sim destination's link model.  Far
 * from QEMU's numbers so that it can never be taken for one of theirs. */
#define MIG_CMD_MB_POSTCOPY_RATE 0x4d42

enum {
    MIG_RP_SHUT = 1,
    MIG_RP_PONG = 2,
    MIG_RP_REQ_PAGES_ID = 3,
    MIG_RP_REQ_PAGES = 4,
    MIG_RP_RECV_BITMAP = 5,
    MIG_RP_RESUME_ACK = 6,
    MIG_RP_MAX
};
/* migbench's own return-path messages (docs/stream-format.md): the order of the postcopy
 * page records that a sim destination's link model settled, so that the source sends
 * exactly that order and every figure stays deterministic.
 *   MB_SEND    be64 record, be32 block, be64 page: record number `record` is that page.
 *   MB_HORIZON be64 records: the order of every record below that number is settled.
 *   MB_CURSOR  be64 record, be32 block, be64 page: after a postcopy recovery, the last
 *              record the destination received carried that page; the background pass
 *              goes on after it (sent before RESUME_ACK). */
#define MIG_RP_MB_SEND    0x4d53
#define MIG_RP_MB_HORIZON 0x4d48
#define MIG_RP_MB_CURSOR  0x4d43

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
#define MIG_SECTION_BLOCK        1 /* "block": registered before "ram", as in QEMU */
#define MIG_SECTION_RAM          2
#define MIG_SECTION_DIRTY_BITMAP 3 /* "dirty-bitmap": registered after "ram" */
#define MIG_SECTION_GLOBALSTATE  4
#define MIG_SECTION_GUEST        5
#define MIG_RAM_VERSION          4
#define MIG_GUEST_IDSTR          "migbench/guest"

#endif
