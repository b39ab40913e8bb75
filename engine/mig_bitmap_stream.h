/* mig_bitmap_stream: the "dirty-bitmap" savevm handler (QEMU's
 * migration/block-dirty-bitmap.c, precopy path): with the dirty-bitmaps capability the
 * named dirty bitmaps of the guest's disks go with the migration.
 *
 * Setup announces every bitmap (START: disk, name, granularity, enabled/persistent
 * flags); completion, with the guest stopped, sends their bits in chunks of 8192 bits
 * (all-zero chunks as a flag only) and COMPLETE for each.  The destination creates each
 * bitmap disabled and enables it at COMPLETE if it recorded on the source.  The records
 * are in docs/stream-format.md. */
#ifndef MIG_BITMAP_STREAM_H
#define MIG_BITMAP_STREAM_H

#include "mig_bitmaps.h"
#include "mig_file.h"

#define MIG_DIRTY_BITMAP_VERSION 1

/* Source: START payload (marks the bitmaps busy).  Returns the number announced. */
unsigned mig_bitmap_save_setup(MigBitmaps *b, MigFile *f);
/* Source: END payload: bits and COMPLETE of each bitmap announced, EOS. */
void mig_bitmap_save_complete(MigBitmaps *b, MigFile *f, unsigned count);
/* Source: the migration ended (any way): the bitmaps are no longer busy. */
void mig_bitmap_save_cleanup(MigBitmaps *b);

/* Destination: one section's records up to EOS.  False with err (QEMU's texts). */
bool mig_bitmap_load(MigBitmaps *b, MigFile *f, GError **err);

#endif
