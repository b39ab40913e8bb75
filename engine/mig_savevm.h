/* mig_savevm: writing the migration stream's framing (QEMU's savevm.c, save side): header,
 * configuration, commands, section headers and footers, the device sections, EOF and the
 * VM description.  docs/stream-format.md is the prose; mig_wire.h has the constants. */
#ifndef MIG_SAVEVM_H
#define MIG_SAVEVM_H

#include "mig_internal.h"
#include "mig_wire.h"

/* The machine type a vm announces in the configuration section ("migbench-sim" or
 * "migbench-kvm"): a sim guest cannot load a KVM guest's stream and vice versa. */
const char *mig_machine_type(MigEngine *e, char *buf, size_t len);

void mig_save_header(MigEngine *e, MigFile *f);
void mig_save_command(MigFile *f, uint16_t cmd, uint16_t len, const void *data);
void mig_save_section_header(MigFile *f, uint8_t type, uint32_t id, const char *idstr,
                             uint32_t version);
void mig_save_section_short(MigFile *f, uint8_t type, uint32_t id);
void mig_save_footer(MigFile *f, uint32_t id);
/* Non-iterable devices (FULL sections), EOF and the VM description. */
void mig_save_devices(MigEngine *e, MigFile *f, const char *runstate);

/* xen-save-devices-state: header, device sections, EOF (QEMU's qemu_save_device_state). */
void mig_save_device_state(MigEngine *e, MigFile *f);
/* The postcopy package: PACKAGED(len) then, counted in len, LISTEN, the FULL sections of
 * every device (globalstate with `runstate`, the guest) and RUN (QEMU's postcopy_start). */
void mig_save_package(MigEngine *e, MigFile *f, const char *runstate);

#endif
