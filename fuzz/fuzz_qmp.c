/* fuzz_qmp: arbitrary bytes through a whole QMP session, without sockets.
 *
 * The input goes to an in-memory session of a server serving the bundled core + QEMU 5.0
 * migration schema: framing (lexer, streamer, limits), parsing, the request checks,
 * negotiation, exec-oob, schema validation and the core commands.  No migration handler
 * is registered, so nothing has side effects beyond the session.  Every reply the server
 * writes must end with CR LF and parse as strict JSON (json-c, an independent parser),
 * except non-finite numbers, which QEMU too prints as bare inf/nan.
 *
 * One server serves every input (fixture()); each input gets a new in-memory session.
 *
 * The first input byte selects the start state: bit 0 negotiates first, bit 1 asks for
 * OOB while doing so, bit 2 makes the monitor not offer OOB; bits 3-7 choose how the rest
 * is cut into reads (1 << (bits) bytes per read, 0 = all at once). */
#include "qmp_int.h"

#include <stdint.h>
#include <stdio.h>
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
    /* FUZZ_QMP_PRINT=1 shows the replies (to see what a corpus input exercises). */
    static int print = -1;
    static json_tokener *tok;
    const char *p = out->str, *end = out->str + out->len, *nl;

    if (!tok) {
        tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    }
    if (print < 0)
        print = g_getenv("FUZZ_QMP_PRINT") != NULL;
    if (print)
        fwrite(out->str, 1, out->len, stderr);
    /* memchr with explicit lengths: strstr() on the rest of the output per line is
     * quadratic under ASan, whose interceptor measures the whole string each call. */
    while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
        size_t len = (size_t)(nl - p);
        if (!len || p[len - 1] != '\r')
            g_error("fuzz_qmp: a line the server wrote does not end with CR LF");
        len--;
        /* An independent, strict parser (json-c) as the oracle; it is native code, so
         * checking a query-qmp-schema reply costs little next to producing it. */
        json_tokener_reset(tok);
        json_object *v = json_tokener_parse_ex(tok, p, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (e == json_tokener_continue)
            e = json_tokener_error_parse_eof;
        if (!v || e != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
            if (!g_strstr_len(p, (gssize)len, "inf") && !g_strstr_len(p, (gssize)len, "nan"))
                g_error("fuzz_qmp: the server wrote invalid JSON (%s): %.*s",
                        json_tokener_error_desc(e), (int)len, p);
        }
        json_object_put(v);
        p = nl + 1;
    }
    g_string_truncate(out, 0);
}

/* No thread is ever started here (in-memory sessions, synchronous dispatch): the fast
 * unwinder is safe for LSan (fuzz_support.c) and makes mallocs several times cheaper. */
const int fuzz_single_threaded = 1;

/* The one server of the process (set up on the first input): a server holds no state that
 * one session can leave for the next (sessions are independent; the introspection is
 * computed once and immutable), so each input needs only a fresh in-memory session, which
 * is what makes a run cost microseconds rather than a server's set-up and teardown. */
typedef struct {
    GMainContext *ctx;
    QmpServer *srv;
} Fixture;

static Fixture *fixture(void)
{
    static Fixture f;
    QmpServerLimits lim;

    if (f.srv)
        return &f;
    f.ctx = g_main_context_new();
    f.srv = qmp_server_new(fuzz_schema(), f.ctx, version(), true);
    /* Small limits keep each run fast; the limit paths are the same. */
    qmp_stream_default_limits(&lim.stream);
    lim.stream.max_token_size = 1 << 12;
    lim.stream.max_token_count = 4096;
    lim.stream.max_nesting = 64;
    lim.out_high = 1 << 20;
    lim.out_max = 16 << 20;
    qmp_server_set_limits(f.srv, &lim);
    return &f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fixture *f = fixture();
    QmpSession *s;
    uint8_t mode = size ? data[0] : 0;
    size_t chunk;

    s = qmp_session_new_memory(f->srv, !(mode & 4));
    qmp_session_ref(s);
    if (mode & 1) {
        const char *neg = (mode & 2) ? "{'execute': 'qmp_capabilities', "
                                       "'arguments': {'enable': ['oob']}}"
                                     : "{'execute': 'qmp_capabilities'}";
        qmp_session_input(s, neg, strlen(neg));
        qmp_server_run_pending(f->srv);
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
        qmp_server_run_pending(f->srv);
        check_output(qmp_session_output(s));
    }
    qmp_session_close(s);
    qmp_session_unref(s);
    /* Idle sources the session scheduled; afterwards nothing of it may remain. */
    while (g_main_context_iteration(f->ctx, FALSE))
        ;
    if (qmp_server_session_count(f->srv) != 0 || f->srv->dispatch_src)
        g_error("fuzz_qmp: a closed session left state in the server");
    return 0;
}
