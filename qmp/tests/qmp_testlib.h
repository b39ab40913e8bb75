/* qmp_testlib: what the qmp/ tests share: a small schema (the core bundle plus test
 * commands), a server with test handlers, and deadline helpers. */
#ifndef QMP_TESTLIB_H
#define QMP_TESTLIB_H

#include "qmp.h"
#include "qmp_int.h"

/* core.json + test commands:
 *   test-echo {*n: int, *s: str} -> {n: int}     handler returns {"n": n or 0}
 *   test-oob                     allow-oob        handler returns {}
 *   test-unimpl {x: int}                          no handler
 *   test-fail                                     DeviceNotFound "Device 'x' not found"
 *   test-emit {n: int}                            emits TEST_EVENT {n} then returns {}
 *   test-takefd {fdname: str}                     writes "hi" into the named fd
 *   test-after                                    runs the after-reply hook given to
 *                                                 qmp_test_server_new
 *   test-sessions -> {n: int}                     number of live sessions
 *   test-silent {*fail: bool}    success-response: false; fails when asked
 *   event TEST_EVENT {n: int} */
Schema *qmp_test_schema(void);

/* {"qemu": {"major": 5, "minor": 0, "micro": 0}, "package": "v5.0.0"} */
json_object *qmp_test_version(void);

/* What test-after registers with qmp_request_after_reply(). */
typedef struct {
    void (*fn)(void *opaque);
    void *opaque;
} QmpTestAfter;

/* A server for `schema` on `ctx` with the test handlers registered; `after` (borrowed,
 * may be NULL) must outlive the server. */
QmpServer *qmp_test_server_new(const Schema *schema, GMainContext *ctx, QmpTestAfter *after);

/* Absolute deadline `ms` from now, and whether it has passed. */
gint64 qmp_test_deadline(int ms);
bool qmp_test_expired(gint64 deadline);

#endif
