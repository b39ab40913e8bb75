/* mig_disk_log: dirty tracking of the guest's disks, one reader and many bitmaps.
 *
 * The guest keeps one write log per disk (guest.h, disk_log_sync), and several parties
 * want to know which parts of a disk were written since they started looking: block
 * migration (QEMU's per-drive dirty bitmap at 1 MiB granularity) and the user's named
 * dirty bitmaps (block-dirty-bitmap-add).  This file is the only reader of the guest's
 * log: a sync pulls the pages written since the last sync and sets them in every bitmap
 * registered on that disk, each at its own granularity, so a bitmap added later starts
 * clean and none steals writes from another.
 *
 * Thread safety: every function takes the log's mutex; bitmaps are read and changed only
 * through these functions (QMP handlers on the main thread and the migration thread use
 * them at once). */
#ifndef MIG_DISK_LOG_H
#define MIG_DISK_LOG_H

#include "guest.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct MigDiskLog MigDiskLog;
typedef struct MigDiskBitmap MigDiskBitmap;

/* A log over the guest's disks (borrowed; it must outlive the log).  Writes made before
 * this call are forgotten. */
MigDiskLog *mig_disk_log_new(MbGuest *g);
/* Frees the log and every bitmap still registered.  NULL is a no-op. */
void mig_disk_log_free(MigDiskLog *l);

/* Registers a clean, enabled bitmap of `disk` with `granularity` bytes per bit (a power of
 * two, at least 512: a written page sets every bit it overlaps).  Writes up to now are not
 * in it. */
MigDiskBitmap *mig_disk_log_add(MigDiskLog *l, unsigned disk, uint64_t granularity);
/* Unregisters and frees a bitmap.  NULL is a no-op. */
void mig_disk_log_remove(MigDiskLog *l, MigDiskBitmap *b);

/* Pulls the guest's log into every bitmap (all disks). */
void mig_disk_log_sync(MigDiskLog *l);

/* After a sync: the number of set bits; bits; and the bitmap's geometry. */
uint64_t mig_disk_bitmap_count(MigDiskLog *l, const MigDiskBitmap *b);
uint64_t mig_disk_bitmap_bits(const MigDiskBitmap *b);
uint64_t mig_disk_bitmap_granularity(const MigDiskBitmap *b);
unsigned mig_disk_bitmap_disk(const MigDiskBitmap *b);
/* The first set bit >= start, or mig_disk_bitmap_bits() when none (no sync). */
uint64_t mig_disk_bitmap_next(MigDiskLog *l, const MigDiskBitmap *b, uint64_t start);
/* Clears bits [first, first + n) (clipped to the bitmap). */
void mig_disk_bitmap_reset(MigDiskLog *l, MigDiskBitmap *b, uint64_t first, uint64_t n);
/* Sets bits [first, first + n) (clipped). */
void mig_disk_bitmap_set(MigDiskLog *l, MigDiskBitmap *b, uint64_t first, uint64_t n);
/* A disabled bitmap records no write (QEMU's block-dirty-bitmap-disable). */
void mig_disk_bitmap_set_enabled(MigDiskLog *l, MigDiskBitmap *b, bool enabled);
bool mig_disk_bitmap_enabled(MigDiskLog *l, const MigDiskBitmap *b);
/* A copy of the bits (g_free), MB_BITS_TO_WORDS(bits) words. */
uint64_t *mig_disk_bitmap_copy(MigDiskLog *l, const MigDiskBitmap *b);

#endif
