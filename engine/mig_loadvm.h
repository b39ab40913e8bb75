/* mig_loadvm: reading a whole migration stream into the guest (QEMU's qemu_loadvm_state),
 * every section checked, with QEMU's error texts. */
#ifndef MIG_LOADVM_H
#define MIG_LOADVM_H

#include "mig_internal.h"
#include "mig_wire.h"

typedef struct MigLoad MigLoad;

/* Postcopy recovery: the stream broke (`cause`) while the postcopy guest runs here.  The
 * callee pauses (postcopy-paused), closes *f and *rp, and waits for a recovery: true with
 * the new stream in *f and its return path in *rp (state postcopy-recover), false to give
 * up (the load then fails with `cause`). */
typedef bool (*MigLoadRecover)(void *opaque, MigFile **f, Chan **rp, const GError *cause);

/* Loads a whole stream into the guest.  On error returns false with a message naming what
 * failed and the stream offset.  `rp` receives the return path once OPEN_RETURN_PATH is
 * read (caller closes it).  With `recover` (may be NULL), a broken stream in postcopy goes
 * on in the stream a recovery brings (RECV_BITMAP, POSTCOPY_RESUME, then the rest). */
bool mig_loadvm(MigEngine *e, MigFile *f, Chan **rp, MigLoadRecover recover, void *opaque,
                GError **err);

#endif
