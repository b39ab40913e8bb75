/* fuzz_retpath: the return-path messages as the source reads them (header check, then the
 * payload decoder) over arbitrary bytes, message after message; every message that decodes
 * is re-encoded where an encoder exists and must decode to the same thing (REQ_PAGES(_ID),
 * RECV_BITMAP).  After a
 * RECV_BITMAP message the bytes that follow are read as its received bitmap (postcopy
 * recovery), for a block as large as the size field says (capped). */
#include "mb_util.h"
#include "mig_retpath.h"
#include "mig_wire.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    while (size >= 4) {
        uint16_t type = mb_ld_be16(data), len = mb_ld_be16(data + 2);
        data += 4;
        size -= 4;
        GError *err = NULL;
        if (!mig_rp_check_header(type, len, &err) || len > size) {
            g_clear_error(&err);
            return 0;
        }
        MigRpMsg m, m2;
        /* the decoder gets exactly the payload: a copy, so reading past it is caught */
        uint8_t *p = g_malloc(len ? len : 1);
        memcpy(p, data, len);
        bool ok = mig_rp_decode(type, p, len, &m, &err);
        g_free(p);
        g_clear_error(&err);
        if (ok && (type == MIG_RP_REQ_PAGES || type == MIG_RP_REQ_PAGES_ID)) {
            uint8_t buf[MIG_RP_MAX_LEN];
            size_t n = mig_rp_encode_req(buf, m.has_name ? m.name : NULL, m.start, m.len);
            /* names with a NUL inside come back shorter: compare what they decode to */
            if (!mig_rp_decode(mb_ld_be16(buf), buf + 4, n - 4, &m2, NULL) || m2.start != m.start ||
                m2.len != m.len || strcmp(m2.name, m.name))
                __builtin_trap();
        }
        if (ok && type == MIG_RP_RECV_BITMAP) {
            uint8_t buf[MIG_RP_MAX_LEN];
            size_t n = mig_rp_encode_recv_bitmap(buf, m.name);
            if (!mig_rp_decode(mb_ld_be16(buf), buf + 4, n - 4, &m2, NULL) ||
                strcmp(m2.name, m.name))
                __builtin_trap();
        }
        data += len;
        size -= len;
        if (ok && type == MIG_RP_RECV_BITMAP && size >= 8) {
            /* the block size the source would expect: here, what the blob claims (capped,
             * so a huge claim is a size mismatch, not a huge allocation) */
            uint64_t claim = mb_ld_be64(data);
            uint64_t npages = claim <= 4096 ? claim * 8 : 4096 * 8;
            uint64_t *rx = g_new0(uint64_t, npages / 64 + 1);
            uint8_t *p2 = g_malloc(size);
            memcpy(p2, data, size);
            size_t blob = mig_rp_bitmap_blob_len(npages);
            if (mig_rp_bitmap_decode(p2, size, m.name, npages, rx, &err)) {
                uint8_t *re = g_malloc(blob);
                if (mig_rp_bitmap_encode(re, rx, npages) != blob || memcmp(re, p2, blob))
                    __builtin_trap(); /* npages is a multiple of 64: no padding to lose */
                g_free(re);
                data += blob;
                size -= blob;
            }
            g_clear_error(&err);
            g_free(p2);
            g_free(rx);
        }
    }
    return 0;
}
