/* mig_retpath: return-path message codec (see mig_retpath.h). */
#include "mig_retpath.h"
#include "mb_error.h"
#include "mb_util.h"
#include "mig_wire.h"

#include <inttypes.h>
#include <string.h>

static const char *const rp_names[MIG_RP_MAX] = {
    "INVALID", "SHUT", "PONG", "REQ_PAGES_ID", "REQ_PAGES", "RECV_BITMAP", "RESUME_ACK",
};
/* Payload length per type; -1 = variable (checked by the decoder). */
static const int rp_lens[MIG_RP_MAX] = {
    [MIG_RP_SHUT] = 4,       [MIG_RP_PONG] = 4,         [MIG_RP_REQ_PAGES_ID] = -1,
    [MIG_RP_REQ_PAGES] = 12, [MIG_RP_RECV_BITMAP] = -1, [MIG_RP_RESUME_ACK] = 4,
};

bool mig_rp_check_header(uint16_t type, uint16_t len, GError **err)
{
    if (type == MIG_RP_MB_SEND || type == MIG_RP_MB_HORIZON || type == MIG_RP_MB_CURSOR) {
        int want = type == MIG_RP_MB_HORIZON ? 8 : 20;
        const char *name = type == MIG_RP_MB_SEND     ? "MB_SEND"
                           : type == MIG_RP_MB_CURSOR ? "MB_CURSOR"
                                                      : "MB_HORIZON";
        if (len != want) {
            mb_error_set(err,
                         "RP: Received '%s' message (0x%04x) with incorrect length %d "
                         "expecting %d",
                         name, type, len, want);
            return false;
        }
        return true;
    }
    if (type == 0 || type >= MIG_RP_MAX) {
        mb_error_set(err, "RP: Received invalid message 0x%04x length 0x%04x", type, len);
        return false;
    }
    if (rp_lens[type] != -1 && rp_lens[type] != len) {
        mb_error_set(err,
                     "RP: Received '%s' message (0x%04x) with incorrect length %d expecting %d",
                     rp_names[type], type, len, rp_lens[type]);
        return false;
    }
    if (len > MIG_RP_MAX_LEN) {
        mb_error_set(err, "RP: Received '%s' message (0x%04x) with incorrect length %d",
                     rp_names[type], type, len);
        return false;
    }
    return true;
}

bool mig_rp_decode(uint16_t type, const uint8_t *p, size_t len, MigRpMsg *m, GError **err)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    if (!mig_rp_check_header(type, (uint16_t)MIN(len, 0xffff), err))
        return false;
    switch (type) {
    case MIG_RP_MB_SEND:
    case MIG_RP_MB_CURSOR:
        m->record = mb_ld_be64(p);
        m->block = mb_ld_be32(p + 8);
        m->page = mb_ld_be64(p + 12);
        return true;
    case MIG_RP_MB_HORIZON: m->record = mb_ld_be64(p); return true;
    case MIG_RP_SHUT:
    case MIG_RP_PONG:
    case MIG_RP_RESUME_ACK: m->value = mb_ld_be32(p); return true;
    case MIG_RP_REQ_PAGES:
        m->start = mb_ld_be64(p);
        m->len = mb_ld_be32(p + 8);
        return true;
    case MIG_RP_REQ_PAGES_ID:
        if (len < 13 || len != 13u + p[12]) {
            mb_error_set(err, "RP: Req_Page_id with length %zu expecting %zu", len,
                         len < 13 ? (size_t)13 : 13u + p[12]);
            return false;
        }
        m->start = mb_ld_be64(p);
        m->len = mb_ld_be32(p + 8);
        memcpy(m->name, p + 13, p[12]);
        m->name[p[12]] = 0;
        m->has_name = true;
        return true;
    case MIG_RP_RECV_BITMAP:
        if (len < 1 || len != 1u + p[0]) {
            mb_error_set(err, "RP: Received 'RECV_BITMAP' message with length %zu", len);
            return false;
        }
        memcpy(m->name, p + 1, p[0]);
        m->name[p[0]] = 0;
        m->has_name = true;
        return true;
    default: return false; /* not reached: the header check refused it */
    }
}

size_t mig_rp_encode_req(uint8_t *buf, const char *name, uint64_t start, uint32_t len)
{
    size_t n = name ? MIN(strlen(name), (size_t)MIG_RP_NAME_MAX) : 0;
    size_t payload = name ? 13 + n : 12;

    mb_st_be16(buf, name ? MIG_RP_REQ_PAGES_ID : MIG_RP_REQ_PAGES);
    mb_st_be16(buf + 2, (uint16_t)payload);
    mb_st_be64(buf + 4, start);
    mb_st_be32(buf + 12, len);
    if (name) {
        buf[16] = (uint8_t)n;
        memcpy(buf + 17, name, n);
    }
    return MIG_RP_HDR_LEN + payload;
}

size_t mig_rp_encode_recv_bitmap(uint8_t *buf, const char *name)
{
    size_t n = MIN(strlen(name), (size_t)MIG_RP_NAME_MAX);

    mb_st_be16(buf, MIG_RP_RECV_BITMAP);
    mb_st_be16(buf + 2, (uint16_t)(1 + n));
    buf[4] = (uint8_t)n;
    memcpy(buf + 5, name, n);
    return MIG_RP_HDR_LEN + 1 + n;
}

size_t mig_rp_encode_u32(uint8_t *buf, uint16_t type, uint32_t value)
{
    mb_st_be16(buf, type);
    mb_st_be16(buf + 2, 4);
    mb_st_be32(buf + 4, value);
    return 8;
}

static size_t encode_record_page(uint8_t *buf, uint16_t type, uint64_t record, uint32_t block,
                                 uint64_t page)
{
    mb_st_be16(buf, type);
    mb_st_be16(buf + 2, 20);
    mb_st_be64(buf + 4, record);
    mb_st_be32(buf + 12, block);
    mb_st_be64(buf + 16, page);
    return 24;
}

size_t mig_rp_encode_mb_send(uint8_t *buf, uint64_t record, uint32_t block, uint64_t page)
{
    return encode_record_page(buf, MIG_RP_MB_SEND, record, block, page);
}

size_t mig_rp_encode_mb_cursor(uint8_t *buf, uint64_t record, uint32_t block, uint64_t page)
{
    return encode_record_page(buf, MIG_RP_MB_CURSOR, record, block, page);
}

size_t mig_rp_encode_mb_horizon(uint8_t *buf, uint64_t records)
{
    mb_st_be16(buf, MIG_RP_MB_HORIZON);
    mb_st_be16(buf + 2, 8);
    mb_st_be64(buf + 4, records);
    return 12;
}

uint64_t mig_rp_bitmap_size(uint64_t npages)
{
    return (npages + 63) / 64 * 8;
}

size_t mig_rp_bitmap_blob_len(uint64_t npages)
{
    return 16 + (size_t)mig_rp_bitmap_size(npages);
}

size_t mig_rp_bitmap_encode(uint8_t *buf, const uint64_t *received, uint64_t npages)
{
    uint64_t size = mig_rp_bitmap_size(npages);

    mb_st_be64(buf, size);
    for (uint64_t w = 0; w < size / 8; w++) {
        uint64_t v = received[w];
        /* the padding bits of the last word go out as 0, as QEMU's bitmap_to_le leaves them */
        if (w == size / 8 - 1 && npages % 64)
            v &= (UINT64_C(1) << (npages % 64)) - 1;
        for (int b = 0; b < 8; b++)
            buf[8 + w * 8 + b] = (uint8_t)(v >> (8 * b));
    }
    mb_st_be64(buf + 8 + size, MIG_RP_BITMAP_END);
    return 16 + (size_t)size;
}

bool mig_rp_bitmap_decode(const uint8_t *p, size_t len, const char *name, uint64_t npages,
                          uint64_t *received, GError **err)
{
    uint64_t local = mig_rp_bitmap_size(npages);

    if (len < 8) {
        mb_error_set(err, "read bitmap failed for ramblock '%s': short return path", name);
        return false;
    }
    uint64_t size = mb_ld_be64(p);
    if (size != local) {
        mb_error_set(err, "ramblock '%s' bitmap size mismatch (0x%" PRIx64 " != 0x%" PRIx64 ")",
                     name, size, local);
        return false;
    }
    /* (written so that no sum can overflow, whatever the size field says) */
    if (len < 16 || len - 16 < size) {
        size_t got = len - 8 < size ? len - 8 : (size_t)size;
        mb_error_set(err, "read bitmap failed for ramblock '%s' (size 0x%" PRIx64 ", got: 0x%zx)",
                     name, size, got);
        return false;
    }
    uint64_t end = mb_ld_be64(p + 8 + size);
    if (end != MIG_RP_BITMAP_END) {
        mb_error_set(err, "ramblock '%s' end mark incorrect: 0x%" PRIx64, name, end);
        return false;
    }
    for (uint64_t w = 0; w < size / 8; w++) {
        uint64_t v = 0;
        for (int b = 0; b < 8; b++)
            v |= (uint64_t)p[8 + w * 8 + b] << (8 * b);
        if (w == size / 8 - 1 && npages % 64)
            v &= (UINT64_C(1) << (npages % 64)) - 1;
        received[w] = v;
    }
    return true;
}
