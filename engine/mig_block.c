/* mig_block: block migration of the guest's disks, source side (QEMU's block.c save
 * path), and the destination's loader.  See mig_block.h for the phases. */
#include "mig_block.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR_BITS    9
#define CHUNK_SECTORS  ((int)(MIG_BLOCK_CHUNK >> SECTOR_BITS))
#define PAGE_SECTORS   ((int)(MB_TARGET_PAGE_SIZE >> SECTOR_BITS))
#define CHUNK_PAGES    (MIG_BLOCK_CHUNK / MB_TARGET_PAGE_SIZE)
#define MAX_IO_BUFFERS 512 /* chunks per iterate round, as QEMU's buffer bound */

typedef struct {
    unsigned disk;
    const char *name;
    int64_t total_sectors;
    bool shared_base;
    bool bulk_completed;
    int64_t cur_sector;        /* bulk position */
    int64_t cur_dirty;         /* dirty-phase scan position */
    int64_t completed_sectors; /* -> disk.transferred */
    MigDiskBitmap *dirty;      /* 1 MiB granularity */
} BlkDev;

struct MigBlock {
    MigBlockConfig cfg;
    BlkDev *devs;
    unsigned ndevs;
    int64_t total_sector_sum;
    int prev_progress;
    bool bulk_completed;
    bool tracking; /* setup done, cleanup not yet */
    uint64_t sent_data, sent_zero;
    uint8_t *buf;     /* one chunk */
    uint8_t *scratch; /* one page */
};

MigBlock *mig_block_new(const MigBlockConfig *cfg)
{
    MigBlock *b = g_new0(MigBlock, 1);
    b->cfg = *cfg;
    b->ndevs = cfg->log ? cfg->guest->ndisks : 0;
    b->devs = g_new0(BlkDev, b->ndevs + 1);
    for (unsigned d = 0; d < b->ndevs; d++) {
        BlkDev *dev = &b->devs[d];
        dev->disk = d;
        dev->name = cfg->guest->disks[d].name;
        dev->total_sectors = (int64_t)(cfg->guest->disks[d].size >> SECTOR_BITS);
        dev->shared_base = cfg->incremental;
        b->total_sector_sum += dev->total_sectors;
    }
    b->prev_progress = -1;
    b->buf = g_malloc(MIG_BLOCK_CHUNK);
    b->scratch = g_malloc(MB_TARGET_PAGE_SIZE);
    return b;
}

/* QEMU's block_migration_cleanup_bmds: tracking off, the devices forgotten. */
static void cleanup_devs(MigBlock *b)
{
    for (unsigned d = 0; d < b->ndevs; d++) {
        mig_disk_log_remove(b->cfg.log, b->devs[d].dirty);
        b->devs[d].dirty = NULL;
    }
    b->tracking = false;
    b->ndevs = 0;
}

void mig_block_free(MigBlock *b)
{
    if (!b)
        return;
    cleanup_devs(b);
    g_free(b->devs);
    g_free(b->buf);
    g_free(b->scratch);
    g_free(b);
}

void mig_block_save_setup(MigBlock *b)
{
    for (unsigned d = 0; d < b->ndevs; d++)
        b->devs[d].dirty = mig_disk_log_add(b->cfg.log, d, MIG_BLOCK_CHUNK);
    b->tracking = true;
    mig_put_be64(b->cfg.file, MIG_BLK_FLAG_EOS);
}

/* Reads the chunk at `sector` of dev and sends it as one record (QEMU's blk_send): the
 * whole 1 MiB buffer goes out even for a shorter last chunk (its tail zeroed here). */
static void send_chunk(MigBlock *b, BlkDev *dev, int64_t sector, int nr_sectors)
{
    MbGuest *g = b->cfg.guest;
    uint64_t page = (uint64_t)sector / PAGE_SECTORS;
    unsigned npages = (unsigned)(nr_sectors / PAGE_SECTORS);

    for (unsigned i = 0; i < npages; i++) {
        const uint8_t *p = g->ops->disk_read(g, dev->disk, page + i, b->scratch);
        memcpy(b->buf + (size_t)i * MB_TARGET_PAGE_SIZE, p, MB_TARGET_PAGE_SIZE);
    }
    memset(b->buf + (size_t)npages * MB_TARGET_PAGE_SIZE, 0,
           MIG_BLOCK_CHUNK - (size_t)npages * MB_TARGET_PAGE_SIZE);
    uint64_t flags = MIG_BLK_FLAG_DEVICE_BLOCK;
    if (getenv("MB_BLKDBG"))
        fprintf(stderr, "send %s %lld %d\n", dev->name, (long long)sector, nr_sectors);
    if (b->cfg.zero_blocks && mb_buffer_is_zero(b->buf, MIG_BLOCK_CHUNK))
        flags |= MIG_BLK_FLAG_ZERO_BLOCK;
    mig_put_be64(b->cfg.file, ((uint64_t)sector << SECTOR_BITS) | flags);
    size_t len = strlen(dev->name);
    mig_put_byte(b->cfg.file, (uint8_t)len);
    mig_put_buffer(b->cfg.file, dev->name, len);
    if (flags & MIG_BLK_FLAG_ZERO_BLOCK) {
        b->sent_zero++;
        return;
    }
    mig_put_buffer(b->cfg.file, b->buf, MIG_BLOCK_CHUNK);
    b->sent_data++;
}

static int chunk_sectors_at(const BlkDev *dev, int64_t sector)
{
    return dev->total_sectors - sector < CHUNK_SECTORS ? (int)(dev->total_sectors - sector)
                                                       : CHUNK_SECTORS;
}

/* QEMU's mig_save_device_bulk: the next chunk of the bulk walk; 1 when the disk is done. */
static int save_device_bulk(MigBlock *b, BlkDev *dev)
{
    MbGuest *g = b->cfg.guest;
    int64_t cur = dev->cur_sector, total = dev->total_sectors;

    if (dev->shared_base) { /* skip what is still the base image's */
        while (cur < total && !g->ops->disk_allocated(g, dev->disk, (uint64_t)cur / PAGE_SECTORS))
            cur += PAGE_SECTORS;
    }
    if (cur >= total) {
        dev->cur_sector = dev->completed_sectors = total;
        return 1;
    }
    dev->completed_sectors = cur;
    cur &= ~((int64_t)CHUNK_SECTORS - 1);
    int nr = chunk_sectors_at(dev, cur);
    /* Written before this read: the read has it.  (Writes not yet synced into the bitmap
     * set the bit again at the next sync: a chunk sent once more, never one missed.) */
    mig_disk_bitmap_reset(b->cfg.log, dev->dirty, (uint64_t)cur / CHUNK_SECTORS, 1);
    send_chunk(b, dev, cur, nr);
    dev->cur_sector = cur + nr;
    return dev->cur_sector >= total;
}

/* QEMU's blk_mig_save_bulked_block: one bulk chunk and a progress mark when the percentage
 * changed.  0 when every disk's bulk phase is complete. */
static int save_bulked_block(MigBlock *b)
{
    int64_t completed = 0;
    int ret = 0;

    for (unsigned d = 0; d < b->ndevs; d++) {
        BlkDev *dev = &b->devs[d];
        if (!dev->bulk_completed) {
            if (save_device_bulk(b, dev) == 1)
                dev->bulk_completed = true;
            completed += dev->completed_sectors;
            ret = 1;
            break;
        }
        completed += dev->completed_sectors;
    }
    int progress = b->total_sector_sum ? (int)(completed * 100 / b->total_sector_sum) : 100;
    if (progress != b->prev_progress) {
        b->prev_progress = progress;
        mig_put_be64(b->cfg.file, ((uint64_t)progress << SECTOR_BITS) | MIG_BLK_FLAG_PROGRESS);
    }
    return ret;
}

static void reset_dirty_cursor(MigBlock *b)
{
    for (unsigned d = 0; d < b->ndevs; d++)
        b->devs[d].cur_dirty = 0;
}

/* QEMU's blk_mig_save_dirty_block: the next dirty chunk of the first disk that has one;
 * 1 when none is left. */
static int save_dirty_block(MigBlock *b)
{
    for (unsigned d = 0; d < b->ndevs; d++) {
        BlkDev *dev = &b->devs[d];
        uint64_t first = (uint64_t)dev->cur_dirty / CHUNK_SECTORS;
        uint64_t chunk = mig_disk_bitmap_next(b->cfg.log, dev->dirty, first);
        if (chunk >= mig_disk_bitmap_bits(dev->dirty)) {
            dev->cur_dirty = dev->total_sectors;
            continue;
        }
        int64_t sector = (int64_t)chunk * CHUNK_SECTORS;
        mig_disk_bitmap_reset(b->cfg.log, dev->dirty, chunk, 1);
        send_chunk(b, dev, sector, chunk_sectors_at(dev, sector));
        dev->cur_dirty = sector + CHUNK_SECTORS;
        return 0;
    }
    return 1;
}

static uint64_t dirty_bytes(MigBlock *b)
{
    uint64_t n = 0;
    for (unsigned d = 0; d < b->ndevs; d++)
        n += mig_disk_bitmap_count(b->cfg.log, b->devs[d].dirty) * MIG_BLOCK_CHUNK;
    return n;
}

uint64_t mig_block_pending(MigBlock *b, uint64_t threshold)
{
    if (!b->tracking)
        return 0;
    if (b->cfg.log)
        mig_disk_log_sync(b->cfg.log);
    uint64_t pending = dirty_bytes(b);
    if (pending <= threshold && !b->bulk_completed)
        pending = threshold + MIG_BLOCK_CHUNK;
    return pending;
}

int mig_block_save_iterate(MigBlock *b)
{
    uint64_t start = b->cfg.file->pos;

    if (b->cfg.log)
        mig_disk_log_sync(b->cfg.log);
    reset_dirty_cursor(b);
    for (unsigned n = 0;
         n < MAX_IO_BUFFERS && !mig_file_rate_limited(b->cfg.file) && !mig_file_error(b->cfg.file);
         n++) {
        if (!b->bulk_completed) {
            if (save_bulked_block(b) == 0)
                b->bulk_completed = true;
        } else if (save_dirty_block(b) != 0) {
            break;
        }
    }
    mig_put_be64(b->cfg.file, MIG_BLK_FLAG_EOS);
    /* More than the EOS mark's 8 bytes: a chunk or a progress mark. */
    return b->cfg.file->pos - start > 8;
}

void mig_block_save_complete(MigBlock *b)
{
    if (b->cfg.log)
        mig_disk_log_sync(b->cfg.log);
    reset_dirty_cursor(b);
    /* QEMU reaches completion only after the bulk phase (pending keeps it running); a
     * completion forced earlier still copies everything. */
    while (!b->bulk_completed && !mig_file_error(b->cfg.file))
        if (save_bulked_block(b) == 0)
            b->bulk_completed = true;
    while (!mig_file_error(b->cfg.file) && save_dirty_block(b) == 0)
        ;
    mig_put_be64(b->cfg.file, (100u << SECTOR_BITS) | MIG_BLK_FLAG_PROGRESS);
    mig_put_be64(b->cfg.file, MIG_BLK_FLAG_EOS);
    cleanup_devs(b);
}

bool mig_block_stats(const MigBlock *b, uint64_t *transferred, uint64_t *remaining, uint64_t *total)
{
    if (!b || !b->ndevs)
        return false;
    int64_t done = 0;
    for (unsigned d = 0; d < b->ndevs; d++)
        done += b->devs[d].completed_sectors;
    *transferred = (uint64_t)done << SECTOR_BITS;
    *total = (uint64_t)b->total_sector_sum << SECTOR_BITS;
    *remaining = *total - *transferred;
    return true;
}

bool mig_block_bulk_active(const MigBlock *b)
{
    return b && b->ndevs && !b->bulk_completed;
}

void mig_block_sent(const MigBlock *b, uint64_t *data_chunks, uint64_t *zero_chunks)
{
    *data_chunks = b ? b->sent_data : 0;
    *zero_chunks = b ? b->sent_zero : 0;
}

/* ---- destination ---- */

static int find_disk(MbGuest *g, const char *name)
{
    for (unsigned d = 0; d < g->ndisks; d++)
        if (!strcmp(g->disks[d].name, name))
            return (int)d;
    return -1;
}

/* One chunk record's data (or zeroes) into the disk, page by page. */
static bool load_chunk(MbGuest *g, unsigned disk, uint64_t sector, const uint8_t *buf, GError **err)
{
    uint64_t total = g->disks[disk].size >> SECTOR_BITS;
    if (sector >= total || sector % PAGE_SECTORS) {
        mb_error_set(err,
                     "Error writing block device %s: sector %" G_GUINT64_FORMAT
                     " is outside the device or not page-aligned",
                     g->disks[disk].name, sector);
        return false;
    }
    uint64_t nr = MIN((uint64_t)CHUNK_SECTORS, total - sector);
    uint64_t page = sector / PAGE_SECTORS;
    for (uint64_t i = 0; i < nr / PAGE_SECTORS; i++) {
        const uint8_t *p = buf ? buf + i * MB_TARGET_PAGE_SIZE : NULL;
        if (p && mb_buffer_is_zero(p, MB_TARGET_PAGE_SIZE))
            p = NULL; /* QEMU writes zero clusters as zeroes */
        if (!g->ops->disk_write(g, disk, page + i, p)) {
            mb_error_set(err, "Error writing block device %s at sector %" G_GUINT64_FORMAT,
                         g->disks[disk].name, sector + i * PAGE_SECTORS);
            return false;
        }
    }
    return true;
}

bool mig_block_load(MbGuest *g, MigFile *f, GError **err)
{
    uint8_t *buf = NULL;
    bool ok = true;
    unsigned flags;

    do {
        uint64_t addr = mig_get_be64(f);
        flags = (unsigned)(addr & ((1u << SECTOR_BITS) - 1));
        addr >>= SECTOR_BITS;
        if (mig_file_error(f))
            break; /* the caller reports the stream error */
        if (flags & MIG_BLK_FLAG_DEVICE_BLOCK) {
            char name[256];
            mig_get_counted_string(f, name);
            int disk = find_disk(g, name);
            if (disk < 0 || !g->ops->disk_write) {
                mb_error_set(err, "Error unknown block device %s", name);
                ok = false;
                break;
            }
            const uint8_t *data = NULL;
            if (!(flags & MIG_BLK_FLAG_ZERO_BLOCK)) {
                if (!buf)
                    buf = g_malloc(MIG_BLOCK_CHUNK);
                if (!mig_get_buffer(f, buf, MIG_BLOCK_CHUNK))
                    break;
                data = buf;
            }
            if (!load_chunk(g, (unsigned)disk, addr, data, err)) {
                ok = false;
                break;
            }
        } else if (flags & MIG_BLK_FLAG_PROGRESS) {
            /* QEMU prints "Completed N %" on the destination's stdout; nothing to do. */
        } else if (!(flags & MIG_BLK_FLAG_EOS)) {
            mb_error_set(err, "Unknown block migration flags: 0x%x", flags);
            ok = false;
            break;
        }
    } while (!(flags & MIG_BLK_FLAG_EOS) && !mig_file_error(f));
    g_free(buf);
    return ok;
}
