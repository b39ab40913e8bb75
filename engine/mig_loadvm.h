/* mig_loadvm: reading a whole migration stream into the guest (QEMU's qemu_loadvm_state),
 * every section checked, with QEMU's error texts. */
#ifndef MIG_LOADVM_H
#define MIG_LOADVM_H

#include "mig_internal.h"
#include "mig_wire.h"

typedef struct MigLoad MigLoad;
/* Loads a whole stream into the guest.  On error returns false with a message naming what
 * failed and the stream offset.  `rp` receives the return path once OPEN_RETURN_PATH is
 * read (caller closes it). */
bool mig_loadvm(MigEngine *e, MigFile *f, Chan **rp, GError **err);

#endif
