/* run_recover: postcopy recovery during a `migbench run` (see run_recover.h). */
#include "run_recover.h"
#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

#define QMP_TIMEOUT_MS 30000
#define PAUSED_WAIT_NS (30 * (int64_t)1000000000)

int run_recover_take(json_object *actions, GError **err)
{
    int n = 0;

    for (size_t i = 0; i < json_object_array_length(actions);) {
        json_object *a = json_object_array_get_idx(actions, i), *ex = NULL, *at = NULL, *st = NULL;
        json_object_object_get_ex(a, "execute", &ex);
        if (!ex || strcmp(json_object_get_string(ex), "migrate-recover")) {
            i++;
            continue;
        }
        json_object_object_get_ex(a, "at", &at);
        if (!at || !json_object_object_get_ex(at, "status", &st) ||
            strcmp(json_object_get_string(st), "postcopy-paused")) {
            mb_error_set(err,
                         "scenario action %zu: migrate-recover runs only "
                         "{\"at\": {\"status\": \"postcopy-paused\"}}",
                         i);
            return -1;
        }
        json_object_array_del_idx(actions, i, 1);
        n++;
    }
    return n;
}

static const char *status_of(RunVm *vm, GError **err)
{
    static char buf[64];
    json_object *info = qmp_client_call(vm->qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, err);
    const char *st = info ? json_object_get_string(json_object_object_get(info, "status")) : NULL;

    g_strlcpy(buf, st ? st : "", sizeof(buf));
    json_object_put(info);
    return info ? buf : NULL;
}

/* Waits on the destination's MIGRATION events (with a deadline) until it is paused. */
static bool await_paused(RunVm *dst, GError **err)
{
    int64_t deadline = mb_monotonic_ns() + PAUSED_WAIT_NS;

    for (;;) {
        const char *st = status_of(dst, err);
        if (!st)
            return false;
        if (!strcmp(st, "postcopy-paused"))
            return true;
        if (mb_monotonic_ns() > deadline) {
            mb_error_set(err, "the destination did not pause (it is %s)", st);
            return false;
        }
        GError *local = NULL;
        json_object *ev = qmp_client_wait_event(dst->qmp, "MIGRATION", 100, &local);
        json_object_put(ev);
        if (!ev && local && !g_str_has_prefix(local->message, "Timed out")) {
            g_propagate_error(err, local);
            return false;
        }
        g_clear_error(&local);
    }
}

bool run_recover_now(RunVm *src, RunVm *dst, const char *transport, const char *dir, int n,
                     GError **err)
{
    gchar *uri = NULL;
    bool ok = false;

    if (!await_paused(dst, err))
        return false;
    if (!strcmp(transport, "unix")) {
        uri = g_strdup_printf("unix:%s/recover-%d.sock", dir, n);
    } else if (!strcmp(transport, "tcp")) {
        uri = g_strdup("tcp:127.0.0.1:0");
    } else {
        mb_error_set(err, "postcopy recovery needs --transport unix or tcp (not %s)", transport);
        return false;
    }
    json_object *a = json_object_new_object();
    json_object_object_add(a, "uri", json_object_new_string(uri));
    json_object *r = qmp_client_call(dst->qmp, "migrate-recover", a, QMP_TIMEOUT_MS, err);
    if (!r)
        goto out;
    json_object_put(r);
    if (!strcmp(transport, "tcp")) {
        /* Port 0: the destination reports the real port in socket-address. */
        json_object *info = qmp_client_call(dst->qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, err);
        json_object *sa = info ? json_object_object_get(info, "socket-address") : NULL;
        json_object *first = sa ? json_object_array_get_idx(sa, 0) : NULL;
        const char *port =
            first ? json_object_get_string(json_object_object_get(first, "port")) : NULL;
        g_free(uri);
        uri = port ? g_strdup_printf("tcp:127.0.0.1:%s", port) : NULL;
        if (!uri && info)
            mb_error_set(err, "the destination reported no socket-address for the recovery");
        json_object_put(info);
        if (!uri)
            goto out;
    }
    a = json_object_new_object();
    json_object_object_add(a, "uri", json_object_new_string(uri));
    json_object_object_add(a, "resume", json_object_new_boolean(true));
    r = qmp_client_call(src->qmp, "migrate", a, QMP_TIMEOUT_MS, err);
    ok = r != NULL;
    json_object_put(r);
out:
    g_free(uri);
    return ok;
}
