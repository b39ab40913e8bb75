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
    uint64_t record; /* MB_SEND, MB_HORIZON, MB_CURSOR */
    uint32_t block;  /* MB_SEND, MB_CURSOR */
    uint64_t page;   /* MB_SEND, MB_CURSOR */
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
/* RECV_BITMAP naming block `name` (u8 length, name); the bitmap blob follows it raw.
 * Returns the length. */
size_t mig_rp_encode_recv_bitmap(uint8_t *buf, const char *name);
/* SHUT, PONG or RESUME_ACK with its be32 value; returns the length (8). */
size_t mig_rp_encode_u32(uint8_t *buf, uint16_t type, uint32_t value);
/* MB_SEND (24 bytes) and MB_HORIZON (12 bytes). */
size_t mig_rp_encode_mb_send(uint8_t *buf, uint64_t record, uint32_t block, uint64_t page);
size_t mig_rp_encode_mb_horizon(uint8_t *buf, uint64_t records);
/* MB_CURSOR (24 bytes): the last record received carried (block, page). */
size_t mig_rp_encode_mb_cursor(uint8_t *buf, uint64_t record, uint32_t block, uint64_t page);

/* ---- the received bitmap that follows a RECV_BITMAP message (postcopy recovery) ----
 * After RECV_BITMAP names a block, the destination writes that block's received bitmap raw
 * on the return path: be64 size in bytes (the page count's bytes rounded up to a multiple
 * of 8), the bitmap little-endian (bit i of byte i/8 = page i), be64 end mark
 * MIG_RP_BITMAP_END.  The source turns it around into its dirty bitmap: what the
 * destination lacks is sent again.  Bitmaps in memory are arrays of uint64_t, page i in
 * bit i%64 of word i/64, whatever the host's byte order. */
#define MIG_RP_BITMAP_END 0x0123456789abcdefULL

/* The size field for a block of `npages` pages: ceil(npages/8) rounded up to 8. */
uint64_t mig_rp_bitmap_size(uint64_t npages);
/* The whole blob's length (size field, bitmap, end mark). */
size_t mig_rp_bitmap_blob_len(uint64_t npages);
/* Encodes `received` (npages bits; bits beyond npages are written as 0) into `buf` of at
 * least mig_rp_bitmap_blob_len(npages) bytes.  Returns the bytes written. */
size_t mig_rp_bitmap_encode(uint8_t *buf, const uint64_t *received, uint64_t npages);
/* Decodes a blob of `len` bytes for block `name` of `npages` pages into `received`
 * ((npages + 63) / 64 words; bits beyond npages are cleared).  Never reads beyond `len`.
 * False with an error (QEMU's texts: size mismatch, short read, end mark) otherwise, and
 * `received` is then left unspecified. */
bool mig_rp_bitmap_decode(const uint8_t *p, size_t len, const char *name, uint64_t npages,
                          uint64_t *received, GError **err);

#endif
