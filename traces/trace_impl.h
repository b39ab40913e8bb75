/* trace_impl: what the files of traces/ share and nobody else needs: the source vtable,
 * the on-disk constants and the varint helpers of the epoch encoding.
 *
 * The encoding lives in one place (here and trace_format.c) so the reader, the writer and
 * the documentation (docs/trace-format.md) cannot drift apart. */
#ifndef TRACE_IMPL_H
#define TRACE_IMPL_H

#include "trace.h"

/* File layout (all integers big-endian):
 *   file   := header block* end
 *   header := "MBTRACE\0" u32 version u32 body_len body u32 crc32(everything before)
 *   block  := "MBTB" u32 raw_len u32 comp_len u32 nepochs u32 nevents i64 base_time
 *             u32 crc32(the 28 bytes before, then payload)  payload (zstd frame)
 *   end    := "MBTE" u64 events u64 epochs i64 last_time u32 crc32(the 28 bytes before)
 * A block's payload decompresses to raw_len bytes of epochs:
 *   epoch  := varint dt (ns since the previous epoch, base_time for the first)
 *             varint n (1..TRACE_EPOCH_MAX_EVENTS)  event{n}
 *   event  := varint (zigzag(page - prev_page) << 5 | cls << 2 | new_block << 1 | new_vcpu)
 *             [varint block] [varint vcpu]
 * prev_page, block and vcpu start at 0 in every block and carry over between epochs. */
#define TRACE_MAGIC          "MBTRACE"
#define TRACE_MAGIC_LEN      8
#define TRACE_HDR_FIXED      16 /* magic + version + body_len */
#define TRACE_BLOCK_MAGIC    "MBTB"
#define TRACE_END_MAGIC      "MBTE"
#define TRACE_BLOCK_HDR      32 /* including the crc */
#define TRACE_END_LEN        32
#define TRACE_BLOCK_RAW_MAX  (8u << 20)
#define TRACE_BLOCK_RAW_GOAL (256u << 10)
#define TRACE_MAX_PAGE_BITS  52 /* page numbers fit the event varint with room to spare */

/* The source vtable: a file/memory reader or a generator. */
typedef struct {
    int (*next)(TraceSource *s, TraceEpoch *ep, GError **err);
    bool (*rewind)(TraceSource *s, GError **err);
    void (*free)(TraceSource *s);
} TraceSourceOps;

struct TraceSource {
    const TraceSourceOps *ops;
    TraceHeader hdr;
    char *path; /* NULL unless a file */
    char *name;
};

/* Encodes the header (fixed part, body, crc) into a new GByteArray. */
GByteArray *trace_header_encode(const TraceHeader *h);
/* Decodes a header body of `len` bytes into an initialised h.  `base` is the body's file
 * offset, for error messages about `what` (the file name). */
bool trace_header_decode_body(const uint8_t *p, size_t len, uint64_t base, const char *what,
                              TraceHeader *h, GError **err);

/* ---- varints (LEB128, at most 10 bytes) ---- */
static inline uint8_t *trace_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
/* Returns the position after the varint, or NULL when it runs past `end` or is too long. */
static inline const uint8_t *trace_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    if (p < end && *p < 0x80) {
        *out = *p;
        return p + 1;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return NULL;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return p;
        }
    }
    return NULL;
}
static inline uint64_t trace_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t trace_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
