/* fuzz_retpath: the return-path messages as the source reads them (header check, then the
 * payload decoder) over arbitrary bytes, message after message; every message that decodes
 * is re-encoded where an encoder exists and must decode to the same thing. */
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
        data += len;
        size -= len;
    }
    return 0;
}
