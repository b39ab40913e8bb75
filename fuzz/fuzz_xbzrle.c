/* fuzz_xbzrle: the XBZRLE decoder on arbitrary input must never read or write out of
 * bounds; inputs long enough to hold two pages also check encode/decode round trips. */
#include "mig_xbzrle.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t page[4096], a[4096] __attribute__((aligned(8))),
        b[4096] __attribute__((aligned(8))), enc[4096];

    memset(page, 0x5a, sizeof(page));
    int len = size > 4096 ? 4096 : (int)size;
    int r = mig_xbzrle_decode(data, len, page, sizeof(page));
    if (r > 4096)
        __builtin_trap();
    if (size >= 8192) {
        memcpy(a, data, 4096);
        memcpy(b, data + 4096, 4096);
        int e = mig_xbzrle_encode(a, b, 4096, enc, 4096);
        if (e > 0) {
            memcpy(page, a, 4096);
            if (mig_xbzrle_decode(enc, e, page, 4096) < 0 || memcmp(page, b, 4096))
                __builtin_trap();
        } else if (e == 0 && memcmp(a, b, 4096)) {
            __builtin_trap();
        }
    }
    return 0;
}
