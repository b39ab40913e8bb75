/* mig_objects: the user-created objects of a vm (QEMU's /objects container) that migration
 * uses: tls-creds-x509 (tls-creds) and authz-simple (tls-authz).
 *
 * Objects come from QMP object-add / object-del (QEMU 5.0's argument shapes: qom-type,
 * id, props) and from `migbench vm -object TYPE,id=ID,KEY=VALUE,...`; both go through the
 * same property checks with QEMU's texts.  The migration threads look objects up by id
 * when a channel is set up, as QEMU does, so an object added or deleted between two
 * migrations takes effect at the next one. */
#ifndef MIG_OBJECTS_H
#define MIG_OBJECTS_H

#include "chan_tls.h"
#include "mig_internal.h"

#include <json-c/json.h>

/* Creates the registry (empty) and registers object-add / object-del when the schema has
 * them.  mig_objects_clear frees every object. */
void mig_objects_init(MigEngine *e);
void mig_objects_clear(MigEngine *e);

/* object-add: `props` may be NULL.  QEMU 5.0's errors: "invalid object type: T",
 * "Property '.P' not found", "Invalid parameter type for 'P', expected: T",
 * "Invalid parameter 'V'" (endpoint), "attempt to add duplicate property 'ID' to object
 * (type 'container')", then the credentials' load errors (chan_tls_creds_load). */
bool mig_objects_add(MigEngine *e, const char *type, const char *id, json_object *props,
                     GError **err);
/* The -object command-line form "TYPE,id=ID,KEY=VALUE,..." (",," is a literal comma;
 * booleans on/off/yes/no/true/false).  Errors as mig_objects_add, plus "Parameter 'id' is
 * missing" and "Parameter 'P' expects 'on' or 'off'". */
bool mig_objects_add_opts(MigEngine *e, const char *opts, GError **err);
/* Splits an -object string into its type and a props object of strings (no checks beyond
 * the syntax); exposed for the fuzz harness.  NULL with err on bad syntax. */
json_object *mig_objects_parse_opts(const char *opts, char **type, GError **err);

/* The property checks of object-add alone (no id, no files), for the fuzz harness:
 * `from_opts` when props come from -object (all strings). */
bool mig_objects_check(const char *type, json_object *props, bool from_opts, GError **err);

/* QEMU's migration_tls_get_creds: the credentials named `id` for `endpoint`, referenced
 * (chan_tls_creds_unref).  Errors: "No TLS credentials with id 'ID'", "Object with id 'ID'
 * is not TLS credentials", "Expected TLS credentials for a client|server endpoint". */
ChanTlsCreds *mig_objects_tls_creds(MigEngine *e, const char *id, ChanTlsEndpoint endpoint,
                                    GError **err);
/* QEMU's qauthz_is_allowed_by_id: true when authz object `id` allows `identity`.
 * Errors: "Cannot find QAuthZ object ID ID", "Object 'ID' is not a QAuthZ subclass". */
bool mig_objects_authz_allows(MigEngine *e, const char *id, const char *identity, GError **err);

#endif
