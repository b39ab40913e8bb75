/* mig_ram_load: the "ram" savevm handler, destination side (QEMU's ram_load_precopy).
 *
 * Loads page records into the incoming guest.  Separate from mig_ram.h (the source side)
 * because the two halves sit in different places of the engine: loading belongs to the
 * incoming side and reads the engine's state, saving is driven through a callback table
 * and sees no engine structure at all. */
#ifndef MIG_RAM_LOAD_H
#define MIG_RAM_LOAD_H

#include "mig_internal.h"

typedef struct MigRamLoad MigRamLoad;

/* A loader for e's guest (borrowed; e outlives the loader). */
MigRamLoad *mig_ram_load_new(MigEngine *e);
/* A loader that puts pages into `g` instead (borrowed, with e's guest's blocks): a COLO
 * secondary stages a checkpoint before applying it. */
MigRamLoad *mig_ram_load_new_into(MigEngine *e, MbGuest *g);
/* NULL is a no-op. */
void mig_ram_load_free(MigRamLoad *l);
/* Loads records up to and including EOS.  False with err (QEMU's texts) on a bad record. */
bool mig_ram_load(MigRamLoad *l, MigFile *f, uint32_t version, GError **err);

#endif
