/* mig_caps: migration capabilities, driven by the served schema's MigrationCapability enum.
 *
 * The set of capabilities is whatever the schema lists (17 in 4.0, 18 in 5.0, or another
 * migration.json given with --schema PATH).  Capabilities migbench knows get a MigCap id so
 * the engine can test them cheaply; names it does not know are still accepted, reported and
 * stored, they simply do nothing. */
#ifndef MIG_CAPS_H
#define MIG_CAPS_H

#include "schema.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>

typedef enum {
    MIG_CAP_XBZRLE,
    MIG_CAP_RDMA_PIN_ALL,
    MIG_CAP_AUTO_CONVERGE,
    MIG_CAP_ZERO_BLOCKS,
    MIG_CAP_COMPRESS,
    MIG_CAP_EVENTS,
    MIG_CAP_POSTCOPY_RAM,
    MIG_CAP_X_COLO,
    MIG_CAP_RELEASE_RAM,
    MIG_CAP_BLOCK,
    MIG_CAP_RETURN_PATH,
    MIG_CAP_PAUSE_BEFORE_SWITCHOVER,
    MIG_CAP_MULTIFD, /* "multifd", or "x-multifd" in the 4.0-dev seed */
    MIG_CAP_DIRTY_BITMAPS,
    MIG_CAP_POSTCOPY_BLOCKTIME,
    MIG_CAP_LATE_BLOCK_ACTIVATE,
    MIG_CAP_X_IGNORE_SHARED,
    MIG_CAP_VALIDATE_UUID,
    MIG_CAP__MAX
} MigCap;

typedef struct {
    const SchemaType *type;  /* the MigrationCapability enum */
    size_t n;                /* its number of values */
    bool *state;             /* per enum value, in schema order */
    int index[MIG_CAP__MAX]; /* enum index of each known capability, -1 if absent */
} MigCaps;

/* Builds the capability set of `schema` (all off, QEMU's default).  False when the schema
 * has no MigrationCapability enum. */
bool mig_caps_init(MigCaps *c, const Schema *schema, GError **err);
void mig_caps_clear(MigCaps *c);
void mig_caps_copy(MigCaps *dst, const MigCaps *src);

/* Thread-safe read of one known capability (false when the schema lacks it). */
bool mig_caps_get(const MigCaps *c, MigCap cap);
/* The enum name of a known capability in this schema, or NULL. */
const char *mig_caps_name(const MigCaps *c, MigCap cap);

/* query-migrate-capabilities: [{"capability", "state"}] for every value in schema order. */
json_object *mig_caps_query(const MigCaps *c);

/* Whether this build runs postcopy.  It does, on guests that can run with pages missing
 * (mig_postcopy_host in mig_internal.h): an incoming vm whose guest cannot (KVM) refuses
 * postcopy-ram as a QEMU on a host without userfaultfd does ("Postcopy is not supported"). */
#define MIG_POSTCOPY_BUILT true

typedef struct {
    bool v5;            /* 4.2+/5.0 rules (postcopy + compress allowed) */
    bool inmigrate;     /* runstate is inmigrate (an incoming vm) */
    bool postcopy_host; /* the host (guest) supports postcopy */
} MigCapsCheckCtx;

/* migrate-set-capabilities: merges the validated list over a copy of `c`, runs QEMU's
 * checks (migrate_caps_check) and, only if they pass, stores the result in `c`. */
bool mig_caps_set(MigCaps *c, json_object *list, const MigCapsCheckCtx *ctx, GError **err);

#endif
