/* Unit tests for negotiation, request checks and dispatch, on in-memory sessions: every
 * QEMU 5.0 text the server produces, ids of every JSON type, queueing and suspension,
 * exec-oob ordering, the core commands, after-reply callbacks. */
#include "qmp_testlib.h"

#include <string.h>

typedef struct {
    Schema *schema;
    QmpServer *srv;
    QmpSession *s;
} Fixture;

static void fx_setup(Fixture *f, bool oob_offered)
{
    f->schema = qmp_test_schema();
    f->srv = qmp_test_server_new(f->schema, NULL, NULL);
    f->s = qmp_session_new_memory(f->srv, oob_offered);
}

static void fx_teardown(Fixture *f)
{
    qmp_server_free(f->srv);
    schema_free(f->schema);
    /* Drain what the server left on the default context (nothing must crash). */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

/* Removes and returns the first output line (without CR LF), or NULL. */
static char *next_line(Fixture *f)
{
    GString *out = qmp_session_output(f->s);
    char *crlf = strstr(out->str, "\r\n");
    char *line;

    if (!crlf)
        return NULL;
    line = g_strndup(out->str, (gsize)(crlf - out->str));
    g_string_erase(out, 0, crlf + 2 - out->str);
    return line;
}

static void expect(Fixture *f, const char *line)
{
    char *got = next_line(f);

    if (g_strcmp0(got, line))
        g_error("expected\n  %s\ngot\n  %s", line, got ? got : "(nothing)");
    g_free(got);
}

static void expect_nothing(Fixture *f)
{
    g_assert_cmpstr(qmp_session_output(f->s)->str, ==, "");
}

/* Input, then everything queued runs. */
static void send(Fixture *f, const char *text)
{
    qmp_session_input(f->s, text, strlen(text));
    qmp_server_run_pending(f->srv);
}

static void negotiate(Fixture *f, bool oob)
{
    send(f, oob ? "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['oob']}}"
                : "{'execute': 'qmp_capabilities'}");
    expect(f, "{\"return\": {}}");
}

#define ERR(cls, desc) "{\"error\": {\"class\": \"" cls "\", \"desc\": \"" desc "\"}}"
#define ERR_ID(id, cls, desc)                                                                      \
    "{\"id\": " id ", \"error\": {\"class\": \"" cls "\", \"desc\": \"" desc "\"}}"

static void test_greeting(void)
{
    Fixture f;

    fx_setup(&f, true);
    expect(&f, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
               "\"package\": \"v5.0.0\"}, \"capabilities\": [\"oob\"]}}");
    fx_teardown(&f);
    fx_setup(&f, false);
    expect(&f, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
               "\"package\": \"v5.0.0\"}, \"capabilities\": []}}");
    fx_teardown(&f);
}

static void test_negotiation(void)
{
    Fixture f;

    fx_setup(&f, false);
    g_free(next_line(&f));
    /* Before negotiation only qmp_capabilities exists. */
    send(&f, "{'execute': 'query-version', 'id': 1}");
    expect(&f, ERR_ID("1", "CommandNotFound",
                      "Expecting capabilities negotiation with 'qmp_capabilities'"));
    send(&f, "{'execute': 'no-such-command'}");
    expect(&f,
           ERR("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"));
    /* Other errors keep their text. */
    send(&f, "[]");
    expect(&f, ERR("GenericError", "QMP input must be a JSON object"));
    send(&f, "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['bogus']}}");
    expect(&f, ERR("GenericError", "Invalid parameter 'bogus'"));
    /* exec-oob is not a member before OOB is negotiated. */
    send(&f, "{'exec-oob': 'qmp_capabilities'}");
    expect(&f, ERR("GenericError", "QMP input member 'exec-oob' is unexpected"));
    /* This monitor did not offer OOB. */
    send(&f, "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['oob', 'oob']}}");
    expect(&f, ERR("GenericError", "Capability oob, oob not available"));
    send(&f, "{'execute': 'qmp_capabilities', 'id': 'x'}");
    expect(&f, "{\"return\": {}, \"id\": \"x\"}");
    send(&f, "{'execute': 'qmp_capabilities'}");
    expect(&f,
           ERR("CommandNotFound", "Capabilities negotiation is already complete, command ignored"));
    /* Now every command is there; unknown ones get QEMU's usual text. */
    send(&f, "{'execute': 'no-such-command'}");
    expect(&f, ERR("CommandNotFound", "The command no-such-command has not been found"));
    send(&f, "{'execute': 'query-version'}");
    expect(&f, "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
               "\"package\": \"v5.0.0\"}}");
    fx_teardown(&f);
}

static void test_request_checks(void)
{
    Fixture f;

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, true);
    send(&f, "{'execute': 1}");
    expect(&f, ERR("GenericError", "QMP input member 'execute' must be a string"));
    send(&f, "{'exec-oob': ['x']}");
    expect(&f, ERR("GenericError", "QMP input member 'exec-oob' must be a string"));
    send(&f, "{'arguments': {}, 'id': 7}");
    expect(&f, ERR_ID("7", "GenericError", "QMP input lacks member 'execute'"));
    send(&f, "{}");
    expect(&f, ERR("GenericError", "QMP input lacks member 'execute'"));
    send(&f, "{'execute': 'test-echo', 'arguments': []}");
    expect(&f, ERR("GenericError", "QMP input member 'arguments' must be an object"));
    send(&f, "{'execute': 'test-echo', 'arguments': null}");
    expect(&f, ERR("GenericError", "QMP input member 'arguments' must be an object"));
    send(&f, "{'execute': 'test-echo', 'foo': 1}");
    expect(&f, ERR("GenericError", "QMP input member 'foo' is unexpected"));
    /* Members are checked in QEMU's QDict order: exec-oob, execute, arguments, id, foo. */
    send(&f, "{'execute': 'test-echo', 'exec-oob': 'test-oob'}");
    expect(&f, ERR("GenericError", "QMP input member 'execute' clashes with 'exec-oob'"));
    send(&f, "{'foo': 1, 'execute': 2}");
    expect(&f, ERR("GenericError", "QMP input member 'execute' must be a string"));
    send(&f, "{'foo': 1, 'arguments': 2, 'execute': 'x'}");
    expect(&f, ERR("GenericError", "QMP input member 'arguments' must be an object"));
    send(&f, "\"just a string\"");
    expect(&f, ERR("GenericError", "QMP input must be a JSON object"));
    send(&f, "null\n"); /* a keyword ends at the byte after it */
    expect(&f, ERR("GenericError", "QMP input must be a JSON object"));
    /* Framing errors are replies without an id. */
    send(&f, "@");
    expect(&f, ERR("GenericError", "JSON parse error, stray '@'"));
    send(&f, "{'execute': 'test-echo', 'id': 1]");
    expect(&f, ERR("GenericError", "JSON parse error, expected separator in dict"));
    /* Command-level checks. */
    send(&f, "{'exec-oob': 'test-echo', 'id': 2}");
    expect(&f, ERR_ID("2", "GenericError", "The command test-echo does not support OOB"));
    send(&f, "{'exec-oob': 'nope'}");
    expect(&f, ERR("CommandNotFound", "The command nope has not been found"));
    send(&f, "{'execute': 'test-echo', 'arguments': {'n': 'x'}}");
    expect(&f, ERR("GenericError", "Invalid parameter type for 'n', expected: integer"));
    send(&f, "{'execute': 'test-echo', 'arguments': {'bogus': 1}}");
    expect(&f, ERR("GenericError", "Parameter 'bogus' is unexpected"));
    send(&f, "{'execute': 'test-unimpl'}");
    expect(&f, ERR("GenericError", "Parameter 'x' is missing"));
    send(&f, "{'execute': 'test-unimpl', 'arguments': {'x': 1}}");
    expect(&f, ERR("GenericError", "Command 'test-unimpl' is not implemented by migbench"));
    send(&f, "{'execute': 'test-fail', 'id': 'f'}");
    expect(&f, ERR_ID("\"f\"", "DeviceNotFound", "Device 'x' not found"));
    send(&f, "{'execute': 'test-echo', 'arguments': {'n': 5}}");
    expect(&f, "{\"return\": {\"n\": 5}}");
    send(&f, "{'execute': 'test-oob'}");
    expect(&f, "{\"return\": {}}");
    /* 'success-response': false: no reply on success, errors still reported. */
    send(&f, "{'execute': 'test-silent', 'id': 's'}");
    expect_nothing(&f);
    send(&f, "{'execute': 'test-silent', 'arguments': {'fail': true}, 'id': 's'}");
    expect(&f, ERR_ID("\"s\"", "GenericError", "silent failure"));
    expect_nothing(&f);
    fx_teardown(&f);
}

static void test_ids(void)
{
    static const char *const ids[] = {
        "\"s\"",
        "0",
        "-17",
        "9223372036854775807",
        "18446744073709551615",
        "1.5",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "[1, \"a\", {\"b\": null}]",
        "{\"x\": {\"y\": [true]}}",
        "\"\\u00E9\\u0000\"",
    };
    Fixture f;

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, false);
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        char *req = g_strdup_printf("{\"execute\": \"test-oob\", \"id\": %s}", ids[i]);
        char *rsp = g_strdup_printf("{\"return\": {}, \"id\": %s}", ids[i]);
        char *bad = g_strdup_printf("{\"execute\": \"nope\", \"id\": %s}", ids[i]);
        char *err = g_strdup_printf(
            ERR_ID("%s", "CommandNotFound", "The command nope has not been found"), ids[i]);
        send(&f, req);
        expect(&f, rsp);
        send(&f, bad);
        expect(&f, err);
        g_free(req);
        g_free(rsp);
        g_free(bad);
        g_free(err);
    }
    fx_teardown(&f);
}

static void test_queue_without_oob(void)
{
    Fixture f;
    const char *three = "{'execute': 'test-echo', 'arguments': {'n': 1}}"
                        "{'execute': 'test-echo', 'arguments': {'n': 2}}"
                        "{'execute': 'test-echo', 'arguments': {'n': 3}}";

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, false);
    /* Without OOB one request may wait; reading stops behind it (QEMU suspends). */
    qmp_session_input(f.s, three, strlen(three));
    g_assert_cmpuint(g_queue_get_length(&f.s->requests), ==, 1);
    g_assert_true(qmp_session_input_blocked(f.s));
    g_assert_cmpuint(f.s->in->len - f.s->in_off, >, 0);
    expect_nothing(&f);
    qmp_server_run_pending(f.srv);
    expect(&f, "{\"return\": {\"n\": 1}}");
    expect(&f, "{\"return\": {\"n\": 2}}");
    expect(&f, "{\"return\": {\"n\": 3}}");
    expect_nothing(&f);
    fx_teardown(&f);
}

static void test_oob_overtakes(void)
{
    Fixture f;
    GString *in = g_string_new(NULL);

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, true);
    /* Eight in-band requests, then an exec-oob one. */
    for (int i = 1; i <= 8; i++)
        g_string_append_printf(in, "{'execute': 'test-echo', 'arguments': {'n': %d}}", i);
    g_string_append(in, "{'exec-oob': 'test-oob', 'id': 'oob'}");
    qmp_session_input(f.s, in->str, in->len);
    /* QEMU queues at most 8 in-band requests, then stops reading: the oob request behind
     * the eighth has not been read yet. */
    g_assert_cmpuint(g_queue_get_length(&f.s->requests), ==, QMP_REQ_QUEUE_LEN_MAX);
    expect_nothing(&f);
    /* Running one makes room: the oob request is read and runs at once, ahead of the
     * seven still queued. */
    g_assert_true(qmp_dispatch_one(f.srv));
    expect(&f, "{\"return\": {\"n\": 1}}");
    expect(&f, "{\"return\": {}, \"id\": \"oob\"}");
    qmp_server_run_pending(f.srv);
    for (int i = 2; i <= 8; i++) {
        char *want = g_strdup_printf("{\"return\": {\"n\": %d}}", i);
        expect(&f, want);
        g_free(want);
    }
    expect_nothing(&f);
    g_string_free(in, TRUE);
    fx_teardown(&f);
}

static void test_round_robin(void)
{
    Fixture f;
    QmpSession *b;
    const char *two = "{'execute': 'test-echo', 'arguments': {'n': 1}}"
                      "{'execute': 'test-echo', 'arguments': {'n': 2}}";

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, true);
    b = qmp_session_new_memory(f.srv, true);
    const char *neg = "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['oob']}}";
    qmp_session_input(b, neg, strlen(neg));
    qmp_server_run_pending(f.srv);
    g_string_truncate(qmp_session_output(b), 0);
    qmp_session_input(f.s, two, strlen(two));
    qmp_session_input(b, two, strlen(two));
    /* One request per session in turn, not all of one session first. */
    g_assert_true(qmp_dispatch_one(f.srv));
    g_assert_cmpuint(g_queue_get_length(&f.s->requests) + g_queue_get_length(&b->requests), ==, 3);
    g_assert_true(qmp_dispatch_one(f.srv));
    g_assert_cmpuint(g_queue_get_length(&f.s->requests), ==, 1);
    g_assert_cmpuint(g_queue_get_length(&b->requests), ==, 1);
    qmp_server_run_pending(f.srv);
    expect(&f, "{\"return\": {\"n\": 1}}");
    expect(&f, "{\"return\": {\"n\": 2}}");
    g_assert_nonnull(strstr(qmp_session_output(b)->str, "\"n\": 2"));
    fx_teardown(&f);
}

static void test_core_commands(void)
{
    Fixture f;
    char *line;
    json_object *v, *ret;

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, false);
    send(&f, "{'execute': 'query-commands'}");
    line = next_line(&f);
    g_assert_true(qmp_json_parse(line, strlen(line), &v, NULL));
    ret = json_object_object_get(v, "return");
    g_assert_true(json_object_is_type(ret, json_type_array));
    g_assert_nonnull(strstr(line, "{\"name\": \"test-echo\"}"));
    g_assert_nonnull(strstr(line, "{\"name\": \"qmp_capabilities\"}"));
    json_object_put(v);
    g_free(line);

    /* query-qmp-schema is computed once and masked as asked. */
    send(&f, "{'execute': 'query-qmp-schema'}");
    line = next_line(&f);
    g_assert_nonnull(f.srv->introspection);
    json_object *cached = f.srv->introspection;
    g_assert_nonnull(strstr(line, "\"name\": \"test-echo\""));
    g_assert_null(strstr(line, "\"TestResult\"")); /* masked */
    g_free(line);
    send(&f, "{'execute': 'query-qmp-schema'}");
    g_free(next_line(&f));
    g_assert_true(f.srv->introspection == cached);

    send(&f, "{'execute': 'getfd', 'arguments': {'fdname': 'x'}}");
    expect(&f, ERR("GenericError", "No file descriptor supplied via SCM_RIGHTS"));
    send(&f, "{'execute': 'getfd'}");
    expect(&f, ERR("GenericError", "Parameter 'fdname' is missing"));
    send(&f, "{'execute': 'closefd', 'arguments': {'fdname': 'x'}}");
    expect(&f, ERR("GenericError", "File descriptor named 'x' not found"));
    send(&f, "{'execute': 'test-takefd', 'arguments': {'fdname': 'x'}}");
    expect(&f, ERR("GenericError", "File descriptor named 'x' has not been found"));
    send(&f, "{'execute': 'quit'}");
    expect(&f, ERR("GenericError", "Command 'quit' is not implemented by migbench"));
    fx_teardown(&f);
}

/* query-status the way the engine built it before: members added status first. */
static json_object *h_status_misordered(QmpRequest *req, json_object *args, GError **err,
                                        void *opaque)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "status", json_object_new_string("running"));
    json_object_object_add(o, "singlestep", json_object_new_boolean(false));
    json_object_object_add(o, "running", json_object_new_boolean(true));
    return o;
}

/* Members sharing a QDict bucket ("micro"/"minor", "status"/"singlestep") print in the
 * order QEMU's visitor adds them (schema order), whatever order a handler or the caller
 * of qmp_server_new() added them in: the bytes are QEMU 5.0's (reference: libvirt's
 * capture of QEMU 5.0.0's query-version; query-status from QEMU's visitor order). */
static void test_member_order(void)
{
    Schema *schema = qmp_test_schema();
    json_object *ver = json_object_new_object(), *q = json_object_new_object();
    Fixture f = { .schema = schema };

    /* Added smallest unit first, as cli/cmd_vm.c does. */
    json_object_object_add(q, "micro", json_object_new_int(0));
    json_object_object_add(q, "minor", json_object_new_int(0));
    json_object_object_add(q, "major", json_object_new_int(5));
    json_object_object_add(ver, "qemu", q);
    json_object_object_add(ver, "package", json_object_new_string("v5.0.0"));
    f.srv = qmp_server_new(schema, NULL, ver, true);
    qmp_server_register(f.srv, "query-status", h_status_misordered, NULL);
    f.s = qmp_session_new_memory(f.srv, true);
    expect(&f, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
               "\"package\": \"v5.0.0\"}, \"capabilities\": [\"oob\"]}}");
    negotiate(&f, false);
    send(&f, "{'execute': 'query-version', 'id': 'libvirt-2'}");
    expect(&f, "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
               "\"package\": \"v5.0.0\"}, \"id\": \"libvirt-2\"}");
    send(&f, "{'execute': 'query-status'}");
    expect(&f, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
               "\"running\": true}}");
    fx_teardown(&f);
}

static void note_after(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_after_reply(void)
{
    Fixture f;
    int ran = 0;
    QmpTestAfter after = { note_after, &ran };

    f.schema = qmp_test_schema();
    f.srv = qmp_test_server_new(f.schema, NULL, &after);
    f.s = qmp_session_new_memory(f.srv, true);
    g_free(next_line(&f));
    negotiate(&f, false);
    send(&f, "{'execute': 'test-after', 'id': 1}");
    /* The reply is out, the callback has not run yet: it runs from the main loop. */
    expect(&f, "{\"return\": {}, \"id\": 1}");
    g_assert_cmpint(ran, ==, 0);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(ran, ==, 1);
    /* A session that goes away still gets its callbacks run. */
    send(&f, "{'execute': 'test-after'}");
    qmp_session_close(f.s);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(ran, ==, 2);
    fx_teardown(&f);
}

static void test_events_memory(void)
{
    Fixture f;
    QmpSession *unneg;
    json_object *data = json_object_new_object();
    char *line;

    fx_setup(&f, true);
    g_free(next_line(&f));
    unneg = qmp_session_new_memory(f.srv, true);
    g_string_truncate(qmp_session_output(unneg), 0);
    negotiate(&f, false);
    json_object_object_add(data, "n", json_object_new_int(3));
    qmp_server_emit_event(f.srv, "TEST_EVENT", data);
    qmp_server_emit_event(f.srv, "STOP", NULL);
    /* Not this thread's loop: delivered when the context runs. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    line = next_line(&f);
    g_assert_true(g_regex_match_simple("^\\{\"timestamp\": \\{\"seconds\": [0-9]+, "
                                       "\"microseconds\": [0-9]+\\}, \"event\": \"TEST_EVENT\", "
                                       "\"data\": \\{\"n\": 3\\}\\}$",
                                       line, 0, 0));
    g_free(line);
    line = next_line(&f);
    g_assert_true(g_regex_match_simple("^\\{\"timestamp\": \\{[^}]*\\}, \"event\": \"STOP\"\\}$",
                                       line, 0, 0));
    g_free(line);
    /* A session still negotiating gets no events. */
    g_assert_cmpstr(qmp_session_output(unneg)->str, ==, "");
    /* Emitted inside a handler on the loop's own thread: ahead of the reply. */
    g_main_context_acquire(NULL);
    send(&f, "{'execute': 'test-emit', 'arguments': {'n': 9}}");
    g_main_context_release(NULL);
    line = next_line(&f);
    g_assert_nonnull(strstr(line, "\"event\": \"TEST_EVENT\""));
    g_free(line);
    expect(&f, "{\"return\": {}}");
    fx_teardown(&f);
}

static gpointer emit_from_thread(gpointer opaque)
{
    json_object *data = json_object_new_object();

    json_object_object_add(data, "n", json_object_new_int(7));
    qmp_server_emit_event(opaque, "TEST_EVENT", data);
    return NULL;
}

/* An event another thread emitted before a request is served goes out before that
 * request's reply, even when the loop has not yet run its event source: a reply may
 * show state the event announced, so it must not overtake the event. */
static void test_event_before_later_reply(void)
{
    Fixture f;

    fx_setup(&f, true);
    g_free(next_line(&f));
    negotiate(&f, false);
    g_thread_join(g_thread_new("emitter", emit_from_thread, f.srv)); /* queued only */
    g_main_context_acquire(NULL);
    send(&f, "{'execute': 'test-echo', 'arguments': {'n': 1}}");
    g_main_context_release(NULL);
    char *line = next_line(&f);
    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, "\"event\": \"TEST_EVENT\", \"data\": {\"n\": 7}"));
    g_free(line);
    expect(&f, "{\"return\": {\"n\": 1}}");
    fx_teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/dispatch/greeting", test_greeting);
    g_test_add_func("/qmp/dispatch/negotiation", test_negotiation);
    g_test_add_func("/qmp/dispatch/request-checks", test_request_checks);
    g_test_add_func("/qmp/dispatch/ids", test_ids);
    g_test_add_func("/qmp/dispatch/queue-without-oob", test_queue_without_oob);
    g_test_add_func("/qmp/dispatch/oob-overtakes", test_oob_overtakes);
    g_test_add_func("/qmp/dispatch/round-robin", test_round_robin);
    g_test_add_func("/qmp/dispatch/core-commands", test_core_commands);
    g_test_add_func("/qmp/dispatch/member-order", test_member_order);
    g_test_add_func("/qmp/dispatch/after-reply", test_after_reply);
    g_test_add_func("/qmp/dispatch/events", test_events_memory);
    g_test_add_func("/qmp/dispatch/event-before-later-reply", test_event_before_later_reply);
    return g_test_run();
}
