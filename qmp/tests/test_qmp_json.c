/* Unit tests for qmp/'s JSON layer: QEMU's dialect (quotes, escapes, numbers), the exact
 * error texts, the streamer's framing, resynchronisation and limits, and the writer's
 * QEMU formatting (QDict member order, escapes, doubles). */
#include "mb_error.h"
#include "qmp_json.h"
#include "qmp_stream.h"

#include <string.h>

/* Everything a stream emitted: values as compact JSON, errors as "ERR:<message>". */
typedef struct {
    GPtrArray *items;
} Collect;

static void collect(void *opaque, json_object *v, GError *err)
{
    Collect *c = opaque;

    if (err) {
        g_ptr_array_add(c->items, g_strdup_printf("ERR:%s", err->message));
        g_error_free(err);
        return;
    }
    g_ptr_array_add(c->items, qmp_json_to_string(v, 0));
    json_object_put(v);
}

/* Feeds `text` (len bytes) in chunks of `chunk` bytes, flushes if asked, and returns the
 * emitted items joined by " | ". */
static char *run_stream(const char *text, size_t len, size_t chunk, bool flush,
                        const QmpStreamLimits *lim)
{
    Collect c = { g_ptr_array_new_with_free_func(g_free) };
    QmpStream *s = qmp_stream_new(lim, collect, &c);
    char *res;

    for (size_t off = 0; off < len; off += chunk)
        g_assert_cmpuint(qmp_stream_feed(s, text + off, MIN(chunk, len - off)), ==,
                         MIN(chunk, len - off));
    if (flush)
        qmp_stream_flush(s);
    qmp_stream_free(s);
    g_ptr_array_add(c.items, NULL);
    res = g_strjoinv(" | ", (char **)c.items->pdata);
    g_ptr_array_free(c.items, TRUE);
    return res;
}

static void check_stream(const char *text, const char *expect)
{
    /* Whatever the read boundaries, the result is the same. */
    size_t chunks[] = { 1, 2, 3, 7, 4096 };

    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        char *got = run_stream(text, strlen(text), chunks[i], true, NULL);
        if (strcmp(got, expect))
            g_error("input %s (chunk %zu):\n  got      %s\n  expected %s", text, chunks[i], got,
                    expect);
        g_free(got);
    }
}

/* One complete value -> its compact text, or "ERR:<message>". */
static char *parse1(const char *text)
{
    json_object *v;
    GError *err = NULL;
    char *res;

    if (!qmp_json_parse(text, strlen(text), &v, &err)) {
        res = g_strdup_printf("ERR:%s", err->message);
        g_error_free(err);
        return res;
    }
    res = qmp_json_to_string(v, 0);
    json_object_put(v);
    return res;
}

#define CHECK_PARSE(text, expect)                                                                  \
    do {                                                                                           \
        char *got_ = parse1(text);                                                                 \
        g_assert_cmpstr(got_, ==, expect);                                                         \
        g_free(got_);                                                                              \
    } while (0)

static void test_dialect(void)
{
    CHECK_PARSE("{'execute': 'query-status'}", "{\"execute\": \"query-status\"}");
    CHECK_PARSE("{\"a\": 'it\\'s', 'b': \"say \\\"hi\\\"\"}",
                "{\"a\": \"it's\", \"b\": \"say \\\"hi\\\"\"}");
    CHECK_PARSE("'double \" inside single'", "\"double \\\" inside single\"");
    CHECK_PARSE("[true, false, null, [], {}, [[1]]]", "[true, false, null, [], {}, [[1]]]");
    CHECK_PARSE(" \t\r\n 42 \n", "42");
    CHECK_PARSE("\"\\/\\b\\f\\n\\r\\t\\\\\"", "\"/\\b\\f\\n\\r\\t\\\\\"");

    json_object *v = NULL;
    g_assert_true(qmp_json_parse("null", 4, &v, NULL));
    g_assert_null(v);
    CHECK_PARSE("", "ERR:Expecting a JSON value");
    CHECK_PARSE("   ", "ERR:Expecting a JSON value");
    CHECK_PARSE("1 2", "ERR:Expecting at most one JSON value");
    CHECK_PARSE("{} x", "ERR:Expecting at most one JSON value");
}

static void test_numbers(void)
{
    json_object *v;

    CHECK_PARSE("9223372036854775807", "9223372036854775807");
    CHECK_PARSE("-9223372036854775808", "-9223372036854775808");
    /* Beyond int64 but within uint64: kept exact as uint64. */
    g_assert_true(qmp_json_parse("9223372036854775808", 19, &v, NULL));
    g_assert_true(json_object_is_type(v, json_type_int));
    g_assert_cmpuint(json_object_get_uint64(v), ==, 9223372036854775808ULL);
    json_object_put(v);
    CHECK_PARSE("18446744073709551615", "18446744073709551615");
    /* Beyond uint64, or below int64: a double, printed QEMU's way ("%f", zeros cut). */
    g_assert_true(qmp_json_parse("18446744073709551616", 20, &v, NULL));
    g_assert_true(json_object_is_type(v, json_type_double));
    json_object_put(v);
    CHECK_PARSE("18446744073709551616", "18446744073709551616");
    CHECK_PARSE("-9223372036854775809", "-9223372036854775808");
    CHECK_PARSE("1.5", "1.5");
    CHECK_PARSE("1.5e3", "1500");
    CHECK_PARSE("-0.25E+1", "-2.5");
    CHECK_PARSE("0.1", "0.1");
    CHECK_PARSE("1e-10", "0"); /* QEMU's "%f" loses it too */
    CHECK_PARSE("-0", "0");
    g_assert_true(qmp_json_parse("-0", 2, &v, NULL));
    g_assert_true(json_object_is_type(v, json_type_int));
    json_object_put(v);
    /* Lexer rules: no leading zeros, no bare '.', no '+'. */
    CHECK_PARSE("01", "ERR:JSON parse error, stray '01'");
    CHECK_PARSE("1.", "ERR:JSON parse error, stray '1.'");
    CHECK_PARSE("+1", "ERR:JSON parse error, stray '+'");
    CHECK_PARSE("-", "ERR:JSON parse error, stray '-'");
    CHECK_PARSE("1e", "ERR:JSON parse error, stray '1e'");
}

static void test_escapes(void)
{
    json_object *v;

    g_assert_true(qmp_json_parse("\"\\u00e9\"", 8, &v, NULL));
    g_assert_cmpstr(json_object_get_string(v), ==, "\xC3\xA9");
    json_object_put(v);
    /* A surrogate pair is one code point beyond the BMP, written back as a pair. */
    g_assert_true(qmp_json_parse("\"\\ud83d\\ude00\"", 14, &v, NULL));
    g_assert_cmpstr(json_object_get_string(v), ==, "\xF0\x9F\x98\x80");
    json_object_put(v);
    CHECK_PARSE("\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"");
    /* U+0000 is stored as modified UTF-8 (C0 80) and written back as \u0000. */
    g_assert_true(qmp_json_parse("'a\\u0000b'", 10, &v, NULL));
    g_assert_cmpmem(json_object_get_string(v), 4,
                    "a\xC0\x80"
                    "b",
                    4);
    json_object_put(v);
    CHECK_PARSE("'a\\u0000b'", "\"a\\u0000b\"");
    CHECK_PARSE("\"\xC3\xA9\"", "\"\\u00E9\"");
    CHECK_PARSE("\"\xC0\x80\"", "\"\\u0000\"");
    CHECK_PARSE("\"\\u001f\\u007f\"", "\"\\u001F\\u007F\"");

    CHECK_PARSE("\"\\ud800\"", "ERR:JSON parse error, \\ud800 is not a valid Unicode character");
    CHECK_PARSE("\"\\ud800\\u0041\"",
                "ERR:JSON parse error, \\ud800 is not a valid Unicode character");
    CHECK_PARSE("\"\\udc00\"", "ERR:JSON parse error, \\udc00 is not a valid Unicode character");
    CHECK_PARSE("\"\\uffff\"", "ERR:JSON parse error, \\uffff is not a valid Unicode character");
    /* QEMU prints the escape as far as it read, cut at the end of the token. */
    CHECK_PARSE("\"\\u12\"", "ERR:JSON parse error, \\u12\" is not a valid Unicode character");
    CHECK_PARSE("\"\\x\"", "ERR:JSON parse error, invalid escape sequence in string");
    CHECK_PARSE("\"\xC3(\"", "ERR:JSON parse error, invalid UTF-8 sequence in string");
    CHECK_PARSE("\"\xC0\xAF\"", "ERR:JSON parse error, invalid UTF-8 sequence in string");
    CHECK_PARSE("\"\xED\xA0\x80\"", "ERR:JSON parse error, invalid UTF-8 sequence in string");
    CHECK_PARSE("\"\xEF\xBF\xBE\"", "ERR:JSON parse error, invalid UTF-8 sequence in string");
    /* Bytes the lexer never accepts in a string. */
    CHECK_PARSE("\"a\xFF\"", "ERR:JSON parse error, stray '\"a\xFF'");
    CHECK_PARSE("\"a\tb\"", "ERR:JSON parse error, stray '\"a\t'");
}

static void test_parse_errors(void)
{
    CHECK_PARSE("}", "ERR:JSON parse error, expecting value");
    CHECK_PARSE("]", "ERR:JSON parse error, expecting value");
    CHECK_PARSE(":", "ERR:JSON parse error, expecting value");
    CHECK_PARSE("@", "ERR:JSON parse error, stray '@'");
    CHECK_PARSE("{'a' 1}", "ERR:JSON parse error, missing : in object pair");
    CHECK_PARSE("{1: 2}", "ERR:JSON parse error, key is not a string in object");
    CHECK_PARSE("{'a': }", "ERR:JSON parse error, expecting value");
    CHECK_PARSE("{'a': 1 'b': 2}", "ERR:JSON parse error, expected separator in dict");
    CHECK_PARSE("{'a': 1, 'a': 2}", "ERR:JSON parse error, duplicate key");
    CHECK_PARSE("[1 2]", "ERR:JSON parse error, expected separator in list");
    CHECK_PARSE("[1, ]", "ERR:JSON parse error, expecting value");
    CHECK_PARSE("[}", "ERR:JSON parse error, expecting value");
    CHECK_PARSE("{'a': 1]", "ERR:JSON parse error, expected separator in dict");
    CHECK_PARSE("nul", "ERR:JSON parse error, invalid keyword 'nul'");
    CHECK_PARSE("True", "ERR:JSON parse error, stray 'T'");
    CHECK_PARSE("[1", "ERR:JSON parse error, premature EOI");
    CHECK_PARSE("{'a'", "ERR:JSON parse error, premature EOI");
    CHECK_PARSE("'abc", "ERR:JSON parse error, stray ''abc'");
}

static void test_stream_framing(void)
{
    /* Several values per read, values split across reads (check_stream varies both). */
    check_stream("{\"execute\": \"a\"}{'execute': 'b'}\n[1, {\"x\": [2]}]",
                 "{\"execute\": \"a\"} | {\"execute\": \"b\"} | [1, {\"x\": [2]}]");
    /* Scalars are messages too; a number ends at the next byte that cannot extend it. */
    check_stream("1 2\n\"s\" true", "1 | 2 | \"s\" | true");
    /* Braces inside strings do not count. */
    check_stream("{'a': '}{]['} {\"b\": \"\\\"}\"}", "{\"a\": \"}{][\"} | {\"b\": \"\\\"}\"}");
    /* A lone closer is an error of its own, and the next message is unaffected. */
    check_stream("} {'a': 1}", "ERR:JSON parse error, expecting value | {\"a\": 1}");
    /* "1]" completes two messages on one byte. */
    check_stream("1]", "1 | ERR:JSON parse error, expecting value");
    /* Resynchronisation: after a stray byte, skip to a structural character. */
    check_stream("@@@ garbage {'a': 1}", "ERR:JSON parse error, stray '@' | {\"a\": 1}");
    /* A bad byte inside an object drops the partial object; the rest is seen afresh. */
    check_stream("{'execute': @ 'x'} {'b': 2}",
                 "ERR:JSON parse error, stray '@' | ERR:JSON parse error, expecting value | "
                 "{\"b\": 2}");
    /* A control character ends a broken string; a newline then resynchronises. */
    check_stream("{\"a\": \"abc\n{\"b\": 2}", "ERR:JSON parse error, stray '\"abc\n' | {\"b\": 2}");
    /* 0xFF is never valid; clients send it to reset the parser (qmp-spec). */
    check_stream("{'a': \xFF {'b': 1}", "ERR:JSON parse error, stray '\xFF' | {\"b\": 1}");
    /* An unfinished message at end of input. */
    check_stream("{'a': [1, 2", "ERR:JSON parse error, premature EOI");
    /* A NUL byte is stray and prints as nothing (QEMU uses %s). */
    char *got = run_stream("\0{}", 3, 1, true, NULL);
    g_assert_cmpstr(got, ==, "ERR:JSON parse error, stray '' | {}");
    g_free(got);
}

static void stop_on_value(void *opaque, json_object *v, GError *err)
{
    void **ctx = opaque;
    Collect *c = ctx[0];

    collect(c, v, err);
    qmp_stream_stop(ctx[1]);
}

static void test_stream_stop(void)
{
    Collect c = { g_ptr_array_new_with_free_func(g_free) };
    void *ctx[2] = { &c, NULL };
    QmpStream *s = qmp_stream_new(NULL, stop_on_value, ctx);
    const char *in = "{}[] 7 ";
    size_t off = 0, n;

    ctx[1] = s;
    /* Feeding stops right after the byte that completed each message. */
    n = qmp_stream_feed(s, in, strlen(in));
    g_assert_cmpuint(n, ==, 2);
    off += n;
    n = qmp_stream_feed(s, in + off, strlen(in) - off);
    g_assert_cmpuint(n, ==, 2);
    off += n;
    n = qmp_stream_feed(s, in + off, strlen(in) - off);
    g_assert_cmpuint(off + n, ==, strlen(in)); /* "7" ends at the space after it */
    g_assert_cmpuint(c.items->len, ==, 3);
    qmp_stream_free(s);
    g_ptr_array_free(c.items, TRUE);
}

static void test_stream_limits(void)
{
    QmpStreamLimits lim = { .max_token_size = 64, .max_token_count = 16, .max_nesting = 4 };
    char *got;

    got = run_stream("[[[[1]]]]", 9, 1, true, &lim);
    g_assert_cmpstr(got, ==, "[[[[1]]]]");
    g_free(got);
    got = run_stream("[[[[[", 5, 2, true, &lim);
    g_assert_cmpstr(got, ==, "ERR:JSON nesting depth limit exceeded");
    g_free(got);
    got = run_stream("{'a':{'b':{'c':{'d':{", 21, 3, true, &lim);
    g_assert_cmpstr(got, ==, "ERR:JSON nesting depth limit exceeded");
    g_free(got);
    /* 17 tokens: one too many. */
    got = run_stream("[1,2,3,4,5,6,7,8,9", 18, 5, false, &lim);
    g_assert_cmpstr(got, ==, "ERR:JSON token count limit exceeded");
    g_free(got);
    /* Tokens of one message add up to more than the size limit. */
    const char *big = "['0123456789abcdef', '0123456789abcdef', '0123456789abcdef', 'xyz']";
    got = run_stream(big, strlen(big), 4096, true, &lim);
    g_assert_cmpstr(got, ==, "ERR:JSON token size limit exceeded");
    g_free(got);

    /* One endless token: the lexer gives up at max_token_size + 1 bytes, again and again,
     * and never holds more than that. */
    Collect c = { g_ptr_array_new_with_free_func(g_free) };
    QmpStream *s = qmp_stream_new(&lim, collect, &c);
    char block[1000];
    memset(block, 'x', sizeof(block));
    qmp_stream_feed(s, "\"", 1);
    for (int i = 0; i < 1000; i++) {
        qmp_stream_feed(s, block, sizeof(block));
        g_assert_cmpuint(qmp_stream_buffered(s), <, 4096);
    }
    g_assert_cmpuint(c.items->len, >, 0);
    g_assert_cmpstr(g_ptr_array_index(c.items, 0), ==, "ERR:JSON token size limit exceeded");
    qmp_stream_free(s);
    g_ptr_array_free(c.items, TRUE);

    /* Endless nesting is cut at the nesting limit, over and over, in bounded memory. */
    c.items = g_ptr_array_new_with_free_func(g_free);
    s = qmp_stream_new(&lim, collect, &c);
    memset(block, '[', sizeof(block));
    for (int i = 0; i < 100; i++) {
        qmp_stream_feed(s, block, sizeof(block));
        g_assert_cmpuint(qmp_stream_buffered(s), <, 4096);
    }
    g_assert_cmpuint(c.items->len, ==, 100 * 1000 / 5);
    qmp_stream_free(s);
    g_ptr_array_free(c.items, TRUE);
}

static void test_default_limits(void)
{
    QmpStreamLimits l;

    qmp_stream_default_limits(&l);
    g_assert_cmpuint(l.max_token_size, ==, 64u << 20);
    g_assert_cmpuint(l.max_token_count, ==, 2u << 20);
    g_assert_cmpuint(l.max_nesting, ==, 1024);
    /* Nesting 1024 is fine, 1025 is not. */
    GString *deep = g_string_new(NULL);
    for (int i = 0; i < 1024; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 1024; i++)
        g_string_append_c(deep, ']');
    json_object *v;
    g_assert_true(qmp_json_parse(deep->str, deep->len, &v, NULL));
    json_object_put(v);
    g_string_prepend_c(deep, '[');
    g_string_append_c(deep, ']');
    char *got = parse1(deep->str);
    g_assert_cmpstr(got, ==, "ERR:JSON nesting depth limit exceeded");
    g_free(got);
    g_string_free(deep, TRUE);
}

static void test_writer(void)
{
    json_object *ver = json_object_new_object(), *q = json_object_new_object();
    json_object *g = json_object_new_object(), *qmp = json_object_new_object();
    json_object *caps = json_object_new_array();
    char *s;

    /* The greeting of a real QEMU 4.2.0 (qemu-devel capture): key order is QDict's. */
    json_object_object_add(q, "major", json_object_new_int(4));
    json_object_object_add(q, "minor", json_object_new_int(2));
    json_object_object_add(q, "micro", json_object_new_int(0));
    json_object_object_add(ver, "qemu", q);
    json_object_object_add(ver, "package", json_object_new_string("qemu-4.2.0-4.fc31"));
    json_object_array_add(caps, json_object_new_string("oob"));
    json_object_object_add(qmp, "version", ver);
    json_object_object_add(qmp, "capabilities", caps);
    json_object_object_add(g, "QMP", qmp);
    s = qmp_json_to_string(g, QMP_JSON_QDICT_ORDER);
    g_assert_cmpstr(s, ==,
                    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": "
                    "4}, \"package\": \"qemu-4.2.0-4.fc31\"}, \"capabilities\": [\"oob\"]}}");
    g_free(s);
    s = qmp_json_to_string(q, 0); /* insertion order */
    g_assert_cmpstr(s, ==, "{\"major\": 4, \"minor\": 2, \"micro\": 0}");
    g_free(s);
    json_object_put(g);

    /* query-migrate-parameters of the same QEMU: members inserted in schema order come
     * out exactly as captured. */
    static const char *const names[] = {
        "announce-initial",
        "announce-max",
        "announce-rounds",
        "announce-step",
        "compress-level",
        "compress-threads",
        "compress-wait-thread",
        "decompress-threads",
        "cpu-throttle-initial",
        "cpu-throttle-increment",
        "tls-creds",
        "tls-hostname",
        "tls-authz",
        "max-bandwidth",
        "downtime-limit",
        "x-checkpoint-delay",
        "block-incremental",
        "multifd-channels",
        "xbzrle-cache-size",
        "max-postcopy-bandwidth",
        "max-cpu-throttle",
    };
    const char *captured =
        "{\"return\": {\"xbzrle-cache-size\": 67108864, \"cpu-throttle-initial\": 20, "
        "\"announce-max\": 550, \"decompress-threads\": 2, \"compress-threads\": 8, "
        "\"compress-level\": 1, \"multifd-channels\": 2, \"announce-initial\": 50, "
        "\"block-incremental\": false, \"compress-wait-thread\": true, \"downtime-limit\": "
        "300, \"tls-authz\": \"\", \"announce-rounds\": 5, \"announce-step\": 100, "
        "\"tls-creds\": \"\", \"max-cpu-throttle\": 99, \"max-postcopy-bandwidth\": 0, "
        "\"tls-hostname\": \"\", \"max-bandwidth\": 33554432, \"x-checkpoint-delay\": "
        "20000, \"cpu-throttle-increment\": 10}}";
    json_object *parsed, *ret, *ordered = json_object_new_object(), *rsp;
    g_assert_true(qmp_json_parse(captured, strlen(captured), &parsed, NULL));
    ret = json_object_object_get(parsed, "return");
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        json_object_object_add(ordered, names[i],
                               json_object_get(json_object_object_get(ret, names[i])));
    rsp = json_object_new_object();
    json_object_object_add(rsp, "return", ordered);
    s = qmp_json_to_string(rsp, QMP_JSON_QDICT_ORDER);
    g_assert_cmpstr(s, ==, captured);
    g_free(s);
    json_object_put(rsp);
    json_object_put(parsed);

    /* Replies and events as QEMU lays them out. */
    rsp = json_object_new_object();
    json_object_object_add(rsp, "return", json_object_new_object());
    json_object_object_add(rsp, "id", json_object_new_string("libvirt-1"));
    s = qmp_json_to_string(rsp, QMP_JSON_QDICT_ORDER);
    g_assert_cmpstr(s, ==, "{\"return\": {}, \"id\": \"libvirt-1\"}");
    g_free(s);
    json_object_put(rsp);
    rsp = json_object_new_object();
    json_object_object_add(rsp, "error", json_object_new_object());
    json_object_object_add(rsp, "id", json_object_new_string("libvirt-1"));
    s = qmp_json_to_string(rsp, QMP_JSON_QDICT_ORDER);
    g_assert_cmpstr(s, ==, "{\"id\": \"libvirt-1\", \"error\": {}}");
    g_free(s);
    json_object_put(rsp);
    rsp = json_object_new_object();
    json_object_object_add(rsp, "event", json_object_new_string("STOP"));
    json_object_object_add(rsp, "timestamp", json_object_new_object());
    json_object_object_add(rsp, "data", json_object_new_object());
    s = qmp_json_to_string(rsp, QMP_JSON_QDICT_ORDER);
    g_assert_cmpstr(s, ==, "{\"timestamp\": {}, \"event\": \"STOP\", \"data\": {}}");
    g_free(s);
    json_object_put(rsp);

    /* Invalid UTF-8 in a string a handler made becomes U+FFFD. */
    json_object *str = json_object_new_string("a\xFF"
                                              "b");
    s = qmp_json_to_string(str, 0);
    g_assert_cmpstr(s, ==, "\"a\\uFFFDb\"");
    g_free(s);
    json_object_put(str);

    /* Pretty printing (for people). */
    json_object *p;
    g_assert_true(qmp_json_parse("{'a': [1, {}], 'b': {}}", 23, &p, NULL));
    s = qmp_json_to_string(p, QMP_JSON_PRETTY);
    g_assert_cmpstr(s, ==, "{\n    \"a\": [\n        1,\n        {}\n    ],\n    \"b\": {}\n}");
    g_free(s);
    json_object_put(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/json/dialect", test_dialect);
    g_test_add_func("/qmp/json/numbers", test_numbers);
    g_test_add_func("/qmp/json/escapes", test_escapes);
    g_test_add_func("/qmp/json/parse-errors", test_parse_errors);
    g_test_add_func("/qmp/json/writer", test_writer);
    g_test_add_func("/qmp/stream/framing", test_stream_framing);
    g_test_add_func("/qmp/stream/stop", test_stream_stop);
    g_test_add_func("/qmp/stream/limits", test_stream_limits);
    g_test_add_func("/qmp/stream/default-limits", test_default_limits);
    return g_test_run();
}
