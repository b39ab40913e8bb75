/* mig_settings: changing the vm's migration settings, and what they mean for the features.
 *
 * migrate-set-parameters (and its old single-value forms) is used by the command handlers
 * and by scenario actions; the blk/inc options of `migrate` are undone by whoever ends the
 * migration; multifd needs its settings on both sides.  Each had lived in the file of one
 * of its users, which made the others call up or sideways into it; here they sit below all
 * of them (docs/architecture.md, layers). */
#ifndef MIG_SETTINGS_H
#define MIG_SETTINGS_H

#include "mig_internal.h"

/* migrate-set-parameters semantics on validated (schema-checked) arguments, with the live
 * effects on a running migration (mig_out_params_changed).  False with QEMU's error. */
bool mig_apply_params(MigEngine *e, json_object *params, GError **err);
/* Sets one parameter as if migrate-set-parameters had been called with it (borrows
 * value).  An int given for a 'size' parameter wraps, as the schema layer would do. */
bool mig_apply_one_param(MigEngine *e, const char *name, json_object *value, GError **err);
/* Turns off the `block` capability and `block-incremental` that `migrate` blk/inc set. */
void mig_block_options_undo(MigEngine *e);

struct MigMultifdConfig;
/* The multifd settings of this vm (parameters, UUID, RAM blocks) into *cfg. */
void mig_multifd_config(MigEngine *e, struct MigMultifdConfig *cfg);

#endif
