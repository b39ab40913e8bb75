/* mig_ram_load: the destination half of the "ram" handler (QEMU's ram_load_precopy).
 *
 * Every record is checked before anything touches guest memory: a page is read whole into
 * a buffer and copied only once complete, so a truncated stream never leaves a partial
 * page behind.  Error texts are QEMU's. */
#include "mb_util.h"
#include "mig_compress.h"
#include "mig_multifd.h"
#include "mig_ram_load.h"
#include "mig_wire.h"
#include "mig_xbzrle.h"

#include <string.h>

struct MigRamLoad {
    MigEngine *e;
    MbGuest *g;
    int last_block;            /* for CONTINUE; kept across sections like QEMU's static */
    MigDecompress *decompress; /* started on the first compressed page */
    uint8_t page[MB_TARGET_PAGE_SIZE];
    uint8_t delta[MB_TARGET_PAGE_SIZE + 128]; /* an XBZRLE delta or compressBound(4096) */
};

MigRamLoad *mig_ram_load_new(MigEngine *e)
{
    return mig_ram_load_new_into(e, e->guest);
}

MigRamLoad *mig_ram_load_new_into(MigEngine *e, MbGuest *g)
{
    MigRamLoad *l = g_new0(MigRamLoad, 1);
    l->e = e;
    l->g = g;
    l->last_block = -1;
    return l;
}

void mig_ram_load_free(MigRamLoad *l)
{
    mig_decompress_free(l->decompress);
    g_free(l);
}

static int find_block(MigRamLoad *l, const char *name)
{
    for (unsigned b = 0; b < l->g->nblocks; b++)
        if (!strcmp(l->g->blocks[b].name, name))
            return (int)b;
    return -1;
}

/* QEMU's ram_block_from_stream. */
static int block_from_stream(MigRamLoad *l, MigFile *f, uint64_t flags, GError **err)
{
    char id[256];

    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        if (l->last_block < 0) {
            mb_error_set(err, "Ack, bad migration stream!");
            return -1;
        }
        return l->last_block;
    }
    mig_get_counted_string(f, id);
    int b = find_block(l, id);
    if (b < 0) {
        mb_error_set(err, "Can't find block %s", id);
        return -1;
    }
    l->last_block = b;
    return b;
}

static bool load_mem_size(MigRamLoad *l, MigFile *f, uint64_t total, GError **err)
{
    MigEngine *e = l->e;
    char id[256];

    while (total && !mig_file_error(f)) {
        mig_get_counted_string(f, id);
        uint64_t length = mig_get_be64(f);
        int b = find_block(l, id);
        if (b < 0) {
            mb_error_set(err, "Unknown ramblock \"%s\", cannot accept migration", id);
            return false;
        }
        const MbRamBlock *blk = &l->g->blocks[b];
        if (length != blk->size) {
            mb_error_set(err,
                         "Length mismatch: %s: 0x%" G_GINT64_MODIFIER
                         "x in != 0x%" G_GINT64_MODIFIER "x: Invalid argument",
                         id, length, blk->size);
            return false;
        }
        if (mig_cap(e, MIG_CAP_POSTCOPY_RAM) && blk->host_page_size != MB_TARGET_PAGE_SIZE) {
            uint64_t remote = mig_get_be64(f);
            if (remote != blk->host_page_size) {
                mb_error_set(err,
                             "RAM block '%s' page size 0x%" G_GINT64_MODIFIER
                             "x differs from remote 0x%" G_GINT64_MODIFIER "x",
                             id, (uint64_t)blk->host_page_size, remote);
                return false;
            }
        }
        if (mig_cap(e, MIG_CAP_X_IGNORE_SHARED)) {
            uint64_t addr = mig_get_be64(f);
            if (!e->v5)
                mig_get_byte(f);
            if (blk->shared && addr != blk->gpa) {
                mb_error_set(
                    err, "Mismatched GPAs for block %s %" G_GUINT64_FORMAT " != %" G_GUINT64_FORMAT,
                    id, addr, blk->gpa);
                return false;
            }
        }
        if (length > total) {
            mb_error_set(err, "RAM block list is longer than the announced total");
            return false;
        }
        total -= length;
    }
    return true;
}

static bool store(MigRamLoad *l, int b, uint64_t page, const uint8_t *data, uint64_t addr,
                  GError **err)
{
    if (mb_guest_page_store(l->g, (unsigned)b, page, data))
        return true;
    mb_error_set(err, "Illegal RAM offset %" G_GINT64_MODIFIER "x", addr);
    return false;
}

bool mig_ram_load(MigRamLoad *l, MigFile *f, uint32_t version, GError **err)
{
    if (version != MIG_RAM_VERSION) {
        mb_error_set(err, "Invalid argument: ram section version %u, expected %d", version,
                     MIG_RAM_VERSION);
        return false;
    }
    for (;;) {
        uint64_t addr = mig_get_be64(f);
        if (mig_file_error(f))
            return true; /* the caller reports the stream error with its offset */
        uint64_t flags = addr & (MB_TARGET_PAGE_SIZE - 1);
        addr &= ~(uint64_t)(MB_TARGET_PAGE_SIZE - 1);
        int b = -1;
        uint64_t page = addr >> MB_TARGET_PAGE_BITS;
        uint8_t *host = NULL;

        if (flags & (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_COMPRESS_PAGE |
                     RAM_SAVE_FLAG_XBZRLE)) {
            b = block_from_stream(l, f, flags, err);
            if (b < 0)
                return false;
            if (addr >= l->g->blocks[b].size) {
                mb_error_set(err, "Illegal RAM offset %" G_GINT64_MODIFIER "x", addr);
                return false;
            }
        }
        if (flags & (RAM_SAVE_FLAG_COMPRESS_PAGE | RAM_SAVE_FLAG_XBZRLE)) {
            /* These work on the page in place: an XBZRLE delta needs the previous bytes,
             * decompression threads write straight into guest memory. */
            host = l->g->ops->page_host ? l->g->ops->page_host(l->g, (unsigned)b, page) : NULL;
            if (!host) {
                mb_error_set(err,
                             "%s pages need a destination guest that holds its memory "
                             "(a sim guest with store=mem)",
                             (flags & RAM_SAVE_FLAG_XBZRLE) ? "XBZRLE" : "Compressed");
                return false;
            }
        }
        if ((flags & RAM_SAVE_FLAG_COMPRESS_PAGE) && !mig_cap(l->e, MIG_CAP_COMPRESS)) {
            mb_error_set(err, "Received an unexpected compressed page");
            return false;
        }
        switch (flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            if (!load_mem_size(l, f, addr, err))
                return false;
            break;
        case RAM_SAVE_FLAG_ZERO: {
            uint8_t ch = mig_get_byte(f);
            if (mig_file_error(f))
                return true;
            /* The guest knows whether the page is already zero: reading it to find out
             * would allocate never-touched memory on some kernels. */
            if (ch != 0)
                memset(l->page, ch, MB_TARGET_PAGE_SIZE);
            if (!store(l, b, page, ch ? l->page : NULL, addr, err))
                return false;
            break;
        }
        case RAM_SAVE_FLAG_PAGE: {
            /* Straight from the stream buffer when the page is all there; otherwise
             * through a private copy: a truncated page is never applied. */
            const uint8_t *p = mig_get_buffered(f, MB_TARGET_PAGE_SIZE);
            if (!p) {
                if (!mig_get_buffer(f, l->page, MB_TARGET_PAGE_SIZE))
                    return true;
                p = l->page;
            }
            if (!store(l, b, page, p, addr, err))
                return false;
            break;
        }
        case RAM_SAVE_FLAG_XBZRLE: {
            /* QEMU's load_xbzrle; decoded into a copy so a bad delta changes nothing. */
            uint8_t flag = mig_get_byte(f);
            uint16_t len = mig_get_be16(f);
            if (mig_file_error(f))
                return true;
            if (flag != MIG_XBZRLE_ENCODING_FLAG) {
                mb_error_set(err, "Failed to load XBZRLE page - wrong compression!");
                return false;
            }
            if (len > MB_TARGET_PAGE_SIZE) {
                mb_error_set(err, "Failed to load XBZRLE page - len overflow!");
                return false;
            }
            if (!mig_get_buffer(f, l->delta, len))
                return true;
            memcpy(l->page, host, MB_TARGET_PAGE_SIZE);
            if (mig_xbzrle_decode(l->delta, len, l->page, MB_TARGET_PAGE_SIZE) < 0) {
                mb_error_set(err, "Failed to load XBZRLE page - decode error!");
                return false;
            }
            memcpy(host, l->page, MB_TARGET_PAGE_SIZE);
            break;
        }
        case RAM_SAVE_FLAG_COMPRESS_PAGE: {
            uint32_t len = mig_get_be32(f);
            if (mig_file_error(f))
                return true;
            if (len > mig_compress_bound()) {
                mb_error_set(err, "Invalid compressed data length: %d", (int)len);
                return false;
            }
            if (!mig_get_buffer(f, l->delta, len))
                return true;
            if (!l->decompress)
                l->decompress = mig_decompress_new(
                    (unsigned)mig_params_num(&l->e->params, MP_DECOMPRESS_THREADS));
            mig_decompress_page(l->decompress, host, l->delta, len);
            break;
        }
        case RAM_SAVE_FLAG_EOS:
            /* Pages of this section are all in place before the next one starts. */
            if (l->e->in.multifd && !mig_multifd_recv_sync(l->e->in.multifd, err))
                return false;
            return !l->decompress || mig_decompress_wait(l->decompress, err);
        default:
            if (flags & RAM_SAVE_FLAG_HOOK)
                mb_error_set(err, "RAM hook records need RDMA, which migbench does not have");
            else
                mb_error_set(err, "Unknown combination of migration flags: %#x", (unsigned)flags);
            return false;
        }
    }
}
