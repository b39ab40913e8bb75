/* mig_cmds: the QMP handlers of the migration commands (QEMU's qmp_migrate* family). */
#ifndef MIG_CMDS_H
#define MIG_CMDS_H

#include "mig_internal.h"

/* Registers every migration command the served schema has on e->qmp (e is the opaque). */
void mig_cmds_register(MigEngine *e);

#endif
