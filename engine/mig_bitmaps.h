/* mig_bitmaps: the named dirty bitmaps of the guest's disks (QEMU's
 * block-dirty-bitmap-add / -remove, and their listing in query-block), and what migrating
 * them (the dirty-bitmaps capability, mig_bitmap_stream.c) needs from them.
 *
 * A named bitmap records the writes to one disk from its creation on, at its granularity
 * (through mig_disk_log.h).  While a migration carries it, it is busy: removing it is
 * refused as QEMU does.
 *
 * Thread safety: the QMP handlers (main thread) and the migration threads use these
 * functions at once; a mutex guards the list. */
#ifndef MIG_BITMAPS_H
#define MIG_BITMAPS_H

#include "mig_disk_log.h"
#include "mig_internal.h"

#define MIG_BITMAP_DEFAULT_GRANULARITY 65536 /* QEMU's default for a raw image */

typedef struct MigBitmaps MigBitmaps;

/* One bitmap as a migration sees it (a copy; bits owned, g_free). */
typedef struct {
    char disk_name[MB_BLOCK_NAME_MAX + 1];
    uint64_t disk_size;
    char *name;
    uint32_t granularity;
    bool enabled, persistent;
    uint64_t nbits;
    uint64_t *bits;
} MigBitmapCopy;

/* The registry of e's guest (NULL log: no disk, so no bitmap can be added). */
MigBitmaps *mig_bitmaps_new(MbGuest *g, MigDiskLog *log);
void mig_bitmaps_free(MigBitmaps *b);
/* Serves block-dirty-bitmap-add, block-dirty-bitmap-remove and query-block on e's QMP
 * server (e->bitmaps must be set). */
void mig_bitmaps_register(MigEngine *e);

/* Source: marks every bitmap busy and returns their number and names' order (newest
 * first, as QEMU lists them); copies are made by mig_bitmaps_copy. */
unsigned mig_bitmaps_begin(MigBitmaps *b);
/* A copy of bitmap i (0 .. the count mig_bitmaps_begin returned) with its bits now (after
 * a sync of the disk log). */
void mig_bitmaps_copy(MigBitmaps *b, unsigned i, MigBitmapCopy *out);
void mig_bitmap_copy_clear(MigBitmapCopy *c);
/* Source: the migration no longer uses them. */
void mig_bitmaps_end(MigBitmaps *b);

/* Destination: creates a bitmap (disabled until mig_bitmaps_finish_incoming).  False with
 * QEMU's error when the disk is unknown or the name taken. */
bool mig_bitmaps_create_incoming(MigBitmaps *b, const char *disk, const char *name,
                                 uint32_t granularity, bool enabled, bool persistent, GError **err);
/* Destination: sets bits [first, first + n) of a bitmap created above. */
bool mig_bitmaps_set_bits(MigBitmaps *b, const char *disk, const char *name, uint64_t first,
                          const uint64_t *bits, uint64_t n, GError **err);
/* Destination: the bitmap is complete; it records from now on if it did on the source. */
void mig_bitmaps_finish_incoming(MigBitmaps *b, const char *disk, const char *name);
/* The granularity of a bitmap, 0 when it does not exist. */
uint32_t mig_bitmaps_granularity(MigBitmaps *b, const char *disk, const char *name);

#endif
