/* qmp_testlib: the test schema and handlers shared by the qmp/ tests (see qmp_testlib.h). */
#include "qmp_testlib.h"

#include "mb_error.h"

#include <string.h>
#include <unistd.h>

static const char test_qapi[] =
    "{ 'struct': 'TestResult', 'data': { 'n': 'int' } }\n"
    "{ 'command': 'test-echo', 'data': { '*n': 'int', '*s': 'str' },\n"
    "  'returns': 'TestResult' }\n"
    "{ 'command': 'test-oob', 'allow-oob': true }\n"
    "{ 'command': 'test-unimpl', 'data': { 'x': 'int' } }\n"
    "{ 'command': 'test-fail' }\n"
    "{ 'command': 'test-emit', 'data': { 'n': 'int' } }\n"
    "{ 'command': 'test-takefd', 'data': { 'fdname': 'str' } }\n"
    "{ 'command': 'test-after' }\n"
    "{ 'command': 'test-sessions', 'returns': 'TestResult' }\n"
    "{ 'command': 'test-silent', 'data': { '*fail': 'bool' }, 'success-response': false }\n"
    "{ 'event': 'TEST_EVENT', 'data': { 'n': 'int' } }\n";

Schema *qmp_test_schema(void)
{
    Schema *s = schema_new(NULL);
    GError *err = NULL;

    if (!schema_load_builtin(s, "core.json", &err) ||
        !schema_load_buffer(s, "test.json", test_qapi, strlen(test_qapi), &err) ||
        !schema_finish(s, &err))
        g_error("test schema: %s", err->message);
    return s;
}

json_object *qmp_test_version(void)
{
    json_object *v = json_object_new_object(), *q = json_object_new_object();

    json_object_object_add(q, "major", json_object_new_int(5));
    json_object_object_add(q, "minor", json_object_new_int(0));
    json_object_object_add(q, "micro", json_object_new_int(0));
    json_object_object_add(v, "qemu", q);
    json_object_object_add(v, "package", json_object_new_string("v5.0.0"));
    return v;
}

static json_object *h_echo(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    json_object *n = NULL, *ret = json_object_new_object();

    json_object_object_get_ex(args, "n", &n);
    json_object_object_add(ret, "n", json_object_new_int64(n ? json_object_get_int64(n) : 0));
    return ret;
}

static json_object *h_nothing(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    return NULL;
}

static json_object *h_silent(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    json_object *fail = NULL;

    if (json_object_object_get_ex(args, "fail", &fail) && json_object_get_boolean(fail))
        mb_error_set(err, "silent failure");
    return NULL;
}

static json_object *h_fail(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    g_set_error(err, MB_ERROR, MB_ERR_DEVICE_NOT_FOUND, "Device '%s' not found", "x");
    return json_object_new_object(); /* dropped: an error wins */
}

static json_object *h_emit(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    json_object *data = json_object_new_object();

    json_object_object_add(data, "n", json_object_get(json_object_object_get(args, "n")));
    qmp_server_emit_event(qmp_request_server(req), "TEST_EVENT", data);
    return NULL;
}

static json_object *h_takefd(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    const char *name = json_object_get_string(json_object_object_get(args, "fdname"));
    int fd = qmp_request_take_fd(req, name, err);

    if (fd < 0)
        return NULL;
    if (write(fd, "hi", 2) != 2)
        mb_error_set(err, "write failed");
    close(fd);
    return NULL;
}

static json_object *h_after(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    QmpTestAfter *a = opaque;

    if (a)
        qmp_request_after_reply(req, a->fn, a->opaque);
    return NULL;
}

static json_object *h_sessions(QmpRequest *req, json_object *args, GError **err, void *opaque)
{
    json_object *ret = json_object_new_object();

    json_object_object_add(ret, "n", json_object_new_int((int)qmp_server_session_count(req->srv)));
    return ret;
}

QmpServer *qmp_test_server_new(const Schema *schema, GMainContext *ctx, QmpTestAfter *after)
{
    QmpServer *srv = qmp_server_new(schema, ctx, qmp_test_version(), true);

    qmp_server_register(srv, "test-echo", h_echo, NULL);
    qmp_server_register(srv, "test-oob", h_nothing, NULL);
    qmp_server_register(srv, "test-fail", h_fail, NULL);
    qmp_server_register(srv, "test-emit", h_emit, NULL);
    qmp_server_register(srv, "test-takefd", h_takefd, NULL);
    qmp_server_register(srv, "test-after", h_after, after);
    qmp_server_register(srv, "test-sessions", h_sessions, NULL);
    qmp_server_register(srv, "test-silent", h_silent, NULL);
    return srv;
}

gint64 qmp_test_deadline(int ms)
{
    return g_get_monotonic_time() + (gint64)ms * 1000;
}

bool qmp_test_expired(gint64 deadline)
{
    return g_get_monotonic_time() > deadline;
}
