/* mig_counters: QEMU's per-migration RAM counters (ram_counters, xbzrle_counters,
 * compression_counters), as a plain struct.
 *
 * Alone in a header because two layers share it: RAM saving (mig_ram_save.c) increments the
 * counters it is handed, and the outgoing state (mig_outgoing.c) keeps, resets and
 * publishes them.  Neither should have to see the other's structures for that. */
#ifndef MIG_COUNTERS_H
#define MIG_COUNTERS_H

#include <stdint.h>

typedef struct {
    uint64_t transferred, duplicate, normal, dirty_sync_count, postcopy_requests;
    uint64_t multifd_bytes, dirty_pages_rate, remaining;
    uint64_t xbzrle_bytes, xbzrle_pages, xbzrle_cache_miss, xbzrle_overflow;
    double xbzrle_cache_miss_rate;
    uint64_t compress_pages, compress_busy, compress_size;
    double compress_busy_rate, compress_rate;
} MigCounters;

#endif
