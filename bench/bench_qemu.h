/* bench_qemu: driving a pair of real QEMU processes from a benchmark, shared by the
 * benchmarks that measure migbench against QEMU in the same run (engine/bench_migrate,
 * kvm/bench_vs_qemu).  Each benchmark builds its own QEMU command lines (they differ in
 * how the guest RAM is filled); this is what comes after: calling QMP, waiting for the
 * migration to end, and tearing the pair down.  Header-only, like bench_common.h. */
#ifndef BENCH_QEMU_H
#define BENCH_QEMU_H

#include "mb_util.h"
#include "qmp_client.h"

#include <gio/gio.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One QMP command (args as JSON text, or NULL); the reply's return value or NULL. */
static inline json_object *bench_qemu_call(QmpClient *c, const char *cmd, const char *args)
{
    GError *err = NULL;
    json_object *r = qmp_client_call(c, cmd, args ? json_tokener_parse(args) : NULL, 30000, &err);
    if (!r) {
        fprintf(stderr, "bench: %s: %s\n", cmd, err ? err->message : "no reply");
        g_clear_error(&err);
    }
    return r;
}

/* Polls the source's query-migrate (every 20 ms, as guestperf polls QEMU) until the
 * migration completes, fails or the deadline (monotonic ns) passes.  Returns the reply of
 * the completed migration (the caller puts it), else NULL. */
static inline json_object *bench_qemu_wait_completed(QmpClient *src, int64_t deadline)
{
    while (mb_monotonic_ns() < deadline) {
        json_object *info = bench_qemu_call(src, "query-migrate", NULL), *st;
        const char *status = info && json_object_object_get_ex(info, "status", &st)
                                 ? json_object_get_string(st)
                                 : "";
        if (!strcmp(status, "completed") && json_object_object_get_ex(info, "ram", NULL))
            return info;
        bool failed = !strcmp(status, "failed"); /* status lives in info: read it first */
        json_object_put(info);
        if (failed)
            return NULL;
        g_usleep(20000);
    }
    return NULL;
}

/* Closes both QMP clients (either may be NULL), kills and reaps both processes (either
 * may be NULL) and removes the work directory. */
static inline void bench_qemu_teardown(QmpClient *s, QmpClient *d, GSubprocess *src,
                                       GSubprocess *dst, const char *dir)
{
    if (s)
        qmp_client_free(s);
    if (d)
        qmp_client_free(d);
    GSubprocess *procs[] = { src, dst };
    for (size_t i = 0; i < G_N_ELEMENTS(procs); i++) {
        if (!procs[i])
            continue;
        g_subprocess_force_exit(procs[i]);
        g_subprocess_wait(procs[i], NULL, NULL);
        g_object_unref(procs[i]);
    }
    gchar *cmd = g_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    g_free(cmd);
}

#endif
