/* fuzz_qmp: arbitrary bytes through a whole QMP session, without sockets.
 *
 * The input goes to an in-memory session of a server serving the bundled core + QEMU 5.0
 * migration schema: framing (lexer, streamer, limits), parsing, the request checks,
 * negotiation, exec-oob, schema validation and the core commands.  No migration handler
 * is registered, so nothing has side effects beyond the session.  Every reply the server
 * writes must parse back as JSON with our own parser (except non-finite numbers, which
 * QEMU too prints as bare inf/nan).
 *
 * The first input byte selects the start state: bit 0 negotiates first, bit 1 asks for
 * OOB while doing so, bit 2 makes the monitor not offer OOB; bits 3-7 choose how the rest
 * is cut into reads (1 << (bits) bytes per read, 0 = all at once). */
#include "qmp_int.h"

#include <stdint.h>
#include <string.h>

/* The schema is immutable and costly to build: made once per fuzzing process. */
static Schema *fuzz_schema(void)
{
    static Schema *schema;
    GError *err = NULL;

    if (schema)
        return schema;
    schema = schema_new(NULL);
    if (!schema_load_builtin(schema, "core.json", &err) ||
        !schema_load_builtin(schema, "migration-5.0.json", &err) || !schema_finish(schema, &err))
        g_error("fuzz_qmp: bundled schema: %s", err->message);
    return schema;
}

static json_object *version(void)
{
    json_object *v = json_object_new_object(), *q = json_object_new_object();

    json_object_object_add(q, "major", json_object_new_int(5));
    json_object_object_add(q, "minor", json_object_new_int(0));
    json_object_object_add(q, "micro", json_object_new_int(0));
    json_object_object_add(v, "qemu", q);
    json_object_object_add(v, "package", json_object_new_string("fuzz"));
    return v;
}

static void check_output(GString *out)
{
    char *p = out->str, *nl;

    while ((nl = strstr(p, "\r\n"))) {
        json_object *v;
        GError *err = NULL;
        size_t len = (size_t)(nl - p);
        if (!qmp_json_parse(p, len, &v, &err)) {
            if (!g_strstr_len(p, (gssize)len, "inf") && !g_strstr_len(p, (gssize)len, "nan"))
                g_error("fuzz_qmp: the server wrote invalid JSON (%s): %.*s", err->message,
                        (int)len, p);
            g_error_free(err);
        } else {
            json_object_put(v);
        }
        p = nl + 2;
    }
    g_string_truncate(out, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GMainContext *ctx = g_main_context_new();
    QmpServer *srv = qmp_server_new(fuzz_schema(), ctx, version(), true);
    QmpServerLimits lim;
    QmpSession *s;
    uint8_t mode = size ? data[0] : 0;
    size_t chunk;

    /* Small limits keep each run fast; the limit paths are the same. */
    qmp_stream_default_limits(&lim.stream);
    lim.stream.max_token_size = 1 << 12;
    lim.stream.max_token_count = 4096;
    lim.stream.max_nesting = 64;
    lim.out_high = 1 << 20;
    lim.out_max = 16 << 20;
    qmp_server_set_limits(srv, &lim);
    s = qmp_session_new_memory(srv, !(mode & 4));
    qmp_session_ref(s);
    if (mode & 1) {
        const char *neg = (mode & 2) ? "{'execute': 'qmp_capabilities', "
                                       "'arguments': {'enable': ['oob']}}"
                                     : "{'execute': 'qmp_capabilities'}";
        qmp_session_input(s, neg, strlen(neg));
        qmp_server_run_pending(srv);
    }
    check_output(qmp_session_output(s));
    if (size) {
        data++;
        size--;
    }
    chunk = (mode >> 3) ? (size_t)1 << (mode >> 3) : size;
    for (size_t off = 0; off < size && !s->dead; off += chunk) {
        qmp_session_input(s, (const char *)data + off, MIN(chunk, size - off));
        /* Run what was queued; that resumes reading what is still buffered. */
        qmp_server_run_pending(srv);
        check_output(qmp_session_output(s));
    }
    qmp_session_close(s);
    qmp_session_unref(s);
    qmp_server_free(srv);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    g_main_context_unref(ctx);
    return 0;
}
