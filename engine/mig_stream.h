/* mig_stream: the whole stream layer in one include, for code outside the engine (tests,
 * fuzz harnesses): the wire constants, the save side and the load side.  Engine files
 * include the one they use (mig_wire.h, mig_savevm.h, mig_loadvm.h), so that saving and
 * loading do not depend on each other (scripts/check-layering.py). */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include "mig_loadvm.h"
#include "mig_savevm.h"
#include "mig_wire.h"

#endif
