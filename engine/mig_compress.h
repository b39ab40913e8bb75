/* mig_compress: the "compress" capability, compress-threads on the source and
 * decompress-threads on the destination (QEMU's multi-threaded zlib page compression).
 *
 * Source: each thread owns a deflate stream at compress-level and an output buffer holding
 * one record (a COMPRESS_PAGE or, for a zero page, a ZERO record).  Handing a thread a new
 * page first copies its previous record into the main stream, so output lags one page per
 * thread, exactly as in QEMU.  Which thread is free decides the record order; with a sim
 * guest that decision comes from a virtual-time model of each thread's work (a fixed cost
 * per page and level), so sim streams and figures stay deterministic; with a KVM guest it
 * is the threads' real state.
 *
 * Destination: compressed pages are inflated by decompress-threads workers into a private
 * buffer and copied into guest memory only when complete; every section end waits for
 * them, so pages of one pass never land after the next pass's. */
#ifndef MIG_COMPRESS_H
#define MIG_COMPRESS_H

#include "mig_file.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigCompress MigCompress;

typedef struct {
    uint64_t pages;           /* compressed pages flushed into the stream */
    uint64_t duplicate;       /* zero pages found by the threads */
    uint64_t compressed_size; /* record bytes minus the 8-byte header */
    uint64_t transferred;     /* record bytes flushed */
} MigCompressFlushed;

/* Starts `threads` compression threads at zlib `level`.  `virtual_time` selects the
 * deterministic model (sim guests).  A deflate stream zlib cannot start (no memory, a level
 * outside 0-9) does not fail here: mig_compress_page and mig_compress_flush then set the
 * stream's sticky error ("compress thread N: deflate init failed: ...") and take no page. */
MigCompress *mig_compress_new(unsigned threads, int level, bool wait, bool virtual_time);
void mig_compress_free(MigCompress *c);

/* Offers one page (offset within the current block, which must be the last block sent).
 * Returns true when a thread took it; false when every thread is busy and
 * compress-wait-thread is off (the caller counts busy and sends the page itself).  With
 * `now_ns` the current guest time; *wait_until_ns is set when the caller must first let
 * guest time pass until then (sim, all threads busy, waiting allowed), and the call must
 * be repeated afterwards. */
bool mig_compress_page(MigCompress *c, MigFile *f, uint64_t offset, const uint8_t *page,
                       int64_t now_ns, int64_t *wait_until_ns, MigCompressFlushed *acc);
/* Waits for every thread and puts their pending records into the stream. */
void mig_compress_flush(MigCompress *c, MigFile *f, int64_t now_ns, int64_t *wait_until_ns,
                        MigCompressFlushed *acc);

typedef struct MigDecompress MigDecompress;

MigDecompress *mig_decompress_new(unsigned threads);
void mig_decompress_free(MigDecompress *d);
/* Queues `len` deflate bytes to be inflated into `host` (one target page). */
void mig_decompress_page(MigDecompress *d, uint8_t *host, const uint8_t *data, uint32_t len);
/* Waits for all queued pages; false with QEMU's text "decompress data failed" if one did
 * not inflate to exactly one page (that page is left untouched). */
bool mig_decompress_wait(MigDecompress *d, GError **err);

/* compressBound(4096): the largest valid COMPRESS_PAGE length. */
uint32_t mig_compress_bound(void);

#endif
