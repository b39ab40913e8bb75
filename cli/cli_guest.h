/* cli_guest: the guest constructors behind a command line's --guest SPEC.
 *
 * This is the one place that knows both guest implementations (sim/ and kvm/).  It lives in
 * cli/, not in engine/guest.h: the engine drives any guest through MbGuestOps and must not
 * depend on how guests are made (that would pull sim/ and kvm/ into the engine).  `vm`
 * builds its guest here and `run` checks its --guest here, so both say the same thing
 * about a bad spec. */
#ifndef CLI_GUEST_H
#define CLI_GUEST_H

#include "guest.h"

#include <glib.h>
#include <stdbool.h>

/* Creates a guest from a command-line spec: "sim", "sim:SPEC" (sim_guest_new), "kvm" or
 * "kvm:SPEC" (kvm_guest_new, after checking that KVM is usable).  `incoming` guests are
 * built to receive a migration.  NULL with *err (the implementation's message, or "unknown
 * guest ...") on a bad spec, an unreadable trace or an unusable /dev/kvm.  Free with
 * mb_guest_free(). */
MbGuest *cli_guest_new(const char *spec, bool incoming, GError **err);

/* Checks `spec` exactly as `migbench vm --guest SPEC` would, by building the source guest
 * and freeing it again (a sim source keeps metadata only; KVM maps its memory lazily), so
 * the message is the vm's own.  True when the spec is good; else false with *err. */
bool cli_guest_check(const char *spec, GError **err);

#endif
