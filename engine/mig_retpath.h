/* mig_retpath: the return-path messages (destination -> source), encoded and decoded alone.
 *
 * The return path carries be16 type, be16 length, payload (docs/stream-format.md).  This file
 * knows only bytes: the source's return-path thread and the destination's postcopy vCPU
 * thread use it, the fuzz harness fuzz/fuzz_retpath.c feeds it arbitrary input, so every
 * check of a message from the other side lives in one place.  Error texts are QEMU's. */
#ifndef MIG_RETPATH_H
#define MIG_RETPATH_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_RP_HDR_LEN  4
#define MIG_RP_MAX_LEN  512 /* the longest message: REQ_PAGES_ID with a 255-byte name */
#define MIG_RP_NAME_MAX 255

typedef struct {
    uint16_t type;   /* MIG_RP_* (mig_wire.h) */
    uint32_t value;  /* SHUT, PONG, RESUME_ACK */
    uint64_t start;  /* REQ_PAGES(_ID): byte offset in the block */
    uint32_t len;    /* REQ_PAGES(_ID): bytes asked for */
    bool has_name;   /* REQ_PAGES_ID, RECV_BITMAP */
    uint64_t record; /* MB_SEND, MB_HORIZON */
    uint32_t block;  /* MB_SEND */
    uint64_t page;   /* MB_SEND */
    char name[MIG_RP_NAME_MAX + 1];
} MigRpMsg;

/* Checks a header (type, payload length) as the source's return-path thread does: an
 * unknown type or a length that type cannot have is an error (QEMU's texts). */
bool mig_rp_check_header(uint16_t type, uint16_t len, GError **err);

/* Decodes the payload of one message whose header passed mig_rp_check_header.  Never reads
 * beyond `len` bytes of `p`.  False with an error for a malformed payload. */
bool mig_rp_decode(uint16_t type, const uint8_t *p, size_t len, MigRpMsg *m, GError **err);

/* Encodes a whole message (header included) into `buf` (at least MIG_RP_MAX_LEN bytes):
 * REQ_PAGES_ID when `name` is given, else REQ_PAGES.  Returns its length. */
size_t mig_rp_encode_req(uint8_t *buf, const char *name, uint64_t start, uint32_t len);
/* SHUT, PONG or RESUME_ACK with its be32 value; returns the length (8). */
size_t mig_rp_encode_u32(uint8_t *buf, uint16_t type, uint32_t value);
/* MB_SEND (24 bytes) and MB_HORIZON (12 bytes). */
size_t mig_rp_encode_mb_send(uint8_t *buf, uint64_t record, uint32_t block, uint64_t page);
size_t mig_rp_encode_mb_horizon(uint8_t *buf, uint64_t records);

#endif
