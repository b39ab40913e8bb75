/* mig_block: the "block" savevm handler (QEMU's migration/block.c, "old-style" block
 * migration: migrate blk=true / inc=true, the block capability).
 *
 * Source side: every disk of the guest is copied in 1 MiB chunks.  A bulk phase walks each
 * disk once from start to end (with block-incremental, "shared base", only the chunks
 * holding data written since the base image); writes meanwhile are tracked in a dirty
 * bitmap at 1 MiB granularity (mig_disk_log.h), and the chunks they dirtied are sent again
 * until completion sends the last ones with the guest stopped.  Zero chunks go out as a
 * flag without data when the zero-blocks capability is on.  MigrationInfo.disk comes from
 * here: transferred (the sectors the bulk phase has passed), remaining, total.
 *
 * Destination side (mig_block_load): chunk records are written into the guest's disks by
 * device name; the guest's verify checks every disk page afterwards.
 *
 * Like RAM saving, block saving is driven by the migration thread (mig_source.c) through
 * setup / pending / iterate / complete, and sees no engine structure.  The stream records
 * are in docs/stream-format.md. */
#ifndef MIG_BLOCK_H
#define MIG_BLOCK_H

#include "guest.h"
#include "mig_disk_log.h"
#include "mig_file.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MIG_BLOCK_CHUNK   (1u << 20) /* BLK_MIG_BLOCK_SIZE */
#define MIG_BLOCK_VERSION 1

/* Stream flags in the low 9 bits of each record's be64 (sector << 9 | flags). */
#define MIG_BLK_FLAG_DEVICE_BLOCK 0x01
#define MIG_BLK_FLAG_EOS          0x02
#define MIG_BLK_FLAG_PROGRESS     0x04
#define MIG_BLK_FLAG_ZERO_BLOCK   0x08

typedef struct MigBlock MigBlock;

typedef struct {
    MbGuest *guest;   /* borrowed */
    MigFile *file;    /* the outgoing stream (borrowed) */
    MigDiskLog *log;  /* the guest's disk log (borrowed; NULL when the guest has no disk) */
    bool incremental; /* block-incremental: only chunks written since the shared base */
    bool zero_blocks; /* the zero-blocks capability */
} MigBlockConfig;

/* A block saver over every disk of the guest (none: it sends only end-of-section marks,
 * and is inactive, like QEMU with no writable drive).  Copies cfg. */
MigBlock *mig_block_new(const MigBlockConfig *cfg);
/* Stops tracking and frees.  NULL is a no-op. */
void mig_block_free(MigBlock *b);

/* START payload: dirty tracking on, EOS. */
void mig_block_save_setup(MigBlock *b);
/* Pending bytes (QEMU's block_save_pending): dirty chunks x 1 MiB; during the bulk phase
 * at least threshold + 1 MiB, so that completion waits for the bulk copy. */
uint64_t mig_block_pending(MigBlock *b, uint64_t threshold);
/* One PART payload: bulk chunks, then dirty chunks, while the stream is not rate limited
 * (at most 512 chunks), then EOS.  Returns 1 when it sent a chunk or a progress mark. */
int mig_block_save_iterate(MigBlock *b);
/* END payload: the rest of the bulk phase if any, every dirty chunk, progress 100, EOS;
 * the saver is inactive afterwards (no MigrationInfo.disk, as in QEMU). */
void mig_block_save_complete(MigBlock *b);

/* MigrationInfo.disk: false when inactive (no disk, or completed). */
bool mig_block_stats(const MigBlock *b, uint64_t *transferred, uint64_t *remaining,
                     uint64_t *total);
/* The bulk phase is still running (QEMU's blk_mig_bulk_active). */
bool mig_block_bulk_active(const MigBlock *b);
/* Chunks sent so far: with data, and as zero-block marks. */
void mig_block_sent(const MigBlock *b, uint64_t *data_chunks, uint64_t *zero_chunks);

/* Destination: loads one section's records up to EOS into g's disks.  False with err. */
bool mig_block_load(MbGuest *g, MigFile *f, GError **err);

#endif
