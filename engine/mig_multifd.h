/* mig_multifd: the multifd capability: RAM pages over multifd-channels extra connections.
 *
 * Wire format of QEMU 4.0/5.0 (and the older one of the 4.0-dev seed): each channel
 * starts with a hello (magic 0x11223344, version 1, VM UUID, channel id), then carries
 * packets: a header (magic, version, flags, pages_alloc, pages_used, next_packet_size,
 * packet_num, block name, page offsets) followed by the pages, raw or as one continuous
 * zlib/zstd stream per channel flushed at every packet.  At every RAM EOS of the main
 * stream the source sends a SYNC packet on every channel and the destination waits for all
 * of them, so pages of one pass never land after the next pass's.
 *
 * Pages are copied when queued (a sim guest's bytes live in a scratch buffer), packets go
 * to channels in strict round robin (QEMU takes the next idle channel; strict order makes
 * sim streams deterministic), and channel threads do the writing and compressing. */
#ifndef MIG_MULTIFD_H
#define MIG_MULTIFD_H

#include "chan.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MIG_MULTIFD_MAGIC   0x11223344U
#define MIG_MULTIFD_VERSION 1

typedef enum { MIG_MULTIFD_NONE = 0, MIG_MULTIFD_ZLIB = 1, MIG_MULTIFD_ZSTD = 2 } MigMultifdMethod;

typedef struct MigMultifdConfig {
    unsigned channels;
    MigMultifdMethod method;
    int level;           /* multifd-zlib-level or multifd-zstd-level */
    bool seed_format;    /* 4.0-dev: 25-byte hello, packet without pages_alloc/next size */
    unsigned page_count; /* pages per packet: 128 (512 KiB), or x-multifd-page-count */
    uint8_t uuid[16];
    /* Block names by index (borrowed, valid for the whole migration). */
    const char *const *block_names;
    const uint64_t *block_sizes;
    unsigned nblocks;
    /* Source: runs on each new connection before its hello (TLS, in place); NULL = none.
     * False with err fails the setup. */
    bool (*wrap)(void *opaque, Chan *c, GError **err);
    void *wrap_opaque;
} MigMultifdConfig;

/* ---- source ---- */
typedef struct MigMultifdSend MigMultifdSend;

/* Opens cfg->channels connections to `uri` (tcp or unix), sends the hellos and starts the
 * channel threads.  NULL with err on a connection failure, a non-socket URI, or a codec
 * that cannot start (QEMU's "multifd N: deflate init failed" and zstd texts). */
MigMultifdSend *mig_multifd_send_new(const MigMultifdConfig *cfg, const ChanUri *uri, GError **err);
/* Queues one page.  Returns the bytes that entered the multifd channels because a packet
 * was handed over (pages x 4 KiB + header), 0 when the page just joined the current
 * packet, or -1 when a channel failed. */
int64_t mig_multifd_queue_page(MigMultifdSend *m, unsigned block, uint64_t offset,
                               const uint8_t *page);
/* Where the next page of `block` queued would be copied (PAGE bytes in the current
 * packet), or NULL when queueing it would hand the current packet over first.  A caller
 * may build the page there and then queue that pointer (no copy), or not queue it at all. */
uint8_t *mig_multifd_page_slot(MigMultifdSend *m, unsigned block);
/* The SYNC at a RAM EOS: hands over the partial packet, a SYNC packet per channel, and
 * waits until every channel has written everything.  Returns the bytes accounted (like
 * queue_page) or -1 on a channel failure. */
int64_t mig_multifd_sync(MigMultifdSend *m);
/* Bytes the channels really put on the wire (compressed sizes) for jobs finished by the
 * last queue_page/sync call that waited for them; deterministic for a given sequence of
 * calls.  Resets the count. */
uint64_t mig_multifd_take_wire_bytes(MigMultifdSend *m);
/* The first channel error, or NULL. */
const GError *mig_multifd_send_error(MigMultifdSend *m);
/* Makes every channel's blocked I/O fail (cancel; any thread). */
void mig_multifd_send_shutdown(MigMultifdSend *m);
void mig_multifd_send_free(MigMultifdSend *m);

/* ---- destination ---- */
typedef struct MigMultifdRecv MigMultifdRecv;

/* Places one received page (block, target page within the block's size) into the guest;
 * false when the guest cannot take it.  Runs on the channel threads, for distinct pages. */
typedef bool (*MigMultifdStoreFn)(void *opaque, unsigned block, uint64_t page, const uint8_t *data);

/* Where one received page goes (block, target page within the block's size): writable
 * memory of the guest that counts as received once written, or NULL when the guest has
 * none (then the page goes through the store callback).  Runs on the channel threads. */
typedef uint8_t *(*MigMultifdPlaceFn)(void *opaque, unsigned block, uint64_t page);

/* `on_error` (may be NULL) runs once, on the failing channel's thread, when a channel
 * fails; `opaque` goes to every callback. */
MigMultifdRecv *mig_multifd_recv_new(const MigMultifdConfig *cfg, MigMultifdStoreFn store,
                                     void (*on_error)(void *opaque), void *opaque);
/* Uncompressed pages are read straight into the places `place` gives (before the first
 * channel is added). */
void mig_multifd_recv_set_place(MigMultifdRecv *m, MigMultifdPlaceFn place);
/* Takes a newly accepted channel: reads and checks its hello (QEMU's texts) and starts its
 * decoder ("multifd N: inflate init failed" when it cannot).  When the last channel
 * arrives the receive threads start. */
bool mig_multifd_recv_add_channel(MigMultifdRecv *m, Chan *c, GError **err);
bool mig_multifd_recv_ready(MigMultifdRecv *m);
/* A copy of the first channel error, or NULL. */
GError *mig_multifd_recv_error(MigMultifdRecv *m);
/* At a RAM EOS of the main stream: waits for a SYNC from every channel, then lets them go
 * on.  False with the first channel error. */
bool mig_multifd_recv_sync(MigMultifdRecv *m, GError **err);
void mig_multifd_recv_shutdown(MigMultifdRecv *m);
void mig_multifd_recv_free(MigMultifdRecv *m);

#endif
