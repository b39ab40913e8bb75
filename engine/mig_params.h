/* mig_params: migration parameters with QEMU's defaults, truncation and range checks.
 *
 * Which parameters exist, their wire names and their stored widths come from the served
 * schema (members of MigrationParameters); the rules (defaults, checks, texts) are QEMU's.
 * A set is applied to a copy, the whole merged set is validated in QEMU's order, and
 * nothing changes when the check fails. */
#ifndef MIG_PARAMS_H
#define MIG_PARAMS_H

#include "schema.h"

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MP_ANNOUNCE_INITIAL,
    MP_ANNOUNCE_MAX,
    MP_ANNOUNCE_ROUNDS,
    MP_ANNOUNCE_STEP,
    MP_COMPRESS_LEVEL,
    MP_COMPRESS_THREADS,
    MP_COMPRESS_WAIT_THREAD,
    MP_DECOMPRESS_THREADS,
    MP_THROTTLE_TRIGGER_THRESHOLD,
    MP_CPU_THROTTLE_INITIAL,
    MP_CPU_THROTTLE_INCREMENT,
    MP_TLS_CREDS,
    MP_TLS_HOSTNAME,
    MP_TLS_AUTHZ,
    MP_MAX_BANDWIDTH,
    MP_DOWNTIME_LIMIT,
    MP_X_CHECKPOINT_DELAY,
    MP_BLOCK_INCREMENTAL,
    MP_MULTIFD_CHANNELS,   /* "multifd-channels", or "x-multifd-channels" (seed) */
    MP_MULTIFD_PAGE_COUNT, /* "x-multifd-page-count" (seed only) */
    MP_XBZRLE_CACHE_SIZE,
    MP_MAX_POSTCOPY_BANDWIDTH,
    MP_MAX_CPU_THROTTLE,
    MP_MULTIFD_COMPRESSION,
    MP_MULTIFD_ZLIB_LEVEL,
    MP_MULTIFD_ZSTD_LEVEL,
    MP__MAX
} MigParam;

typedef enum { MPK_NUM, MPK_BOOL, MPK_STR, MPK_ENUM } MigParamKind;

typedef struct {
    uint64_t num[MP__MAX]; /* numbers and bools */
    char *str[MP__MAX];    /* strings and enum values */
    json_object *extra;    /* members the schema has and migbench does not know */
} MigParamValues;

typedef struct {
    const SchemaType *params_type; /* MigrationParameters */
    bool present[MP__MAX];         /* in this schema */
    const char *wire[MP__MAX];     /* name in this schema */
    unsigned bits[MP__MAX];        /* stored width: 8, 32 or 64 */
    bool v5;                       /* 4.2+/5.0 texts */
    GMutex lock;                   /* guards values against the migration threads */
    MigParamValues values;
} MigParams;

bool mig_params_init(MigParams *p, const Schema *schema, bool v5, GError **err);
void mig_params_clear(MigParams *p);

/* Thread-safe reads of the current value. */
uint64_t mig_params_num(MigParams *p, MigParam id);
/* Returns a newly allocated copy. */
char *mig_params_str(MigParams *p, MigParam id);

/* migrate-set-parameters with validated (schema-checked) arguments.  On success, if
 * `changed` is not NULL, changed[id] is set for every parameter given. */
bool mig_params_set(MigParams *p, json_object *args, bool changed[MP__MAX], GError **err);
/* query-migrate-parameters. */
json_object *mig_params_query(MigParams *p);

#endif
