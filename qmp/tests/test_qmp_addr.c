/* Unit tests for QMP address parsing: the unix:/tcp: forms and QEMU's socket options
 * (server, nowait, server=on|off, wait=on|off, ",," escapes), with the errors that name
 * the offending option. */
#include "qmp_addr.h"

#include "mb_error.h"

#include <string.h>

static void parse_ok(const char *spec, QmpAddr *a)
{
    GError *err = NULL;

    if (!qmp_addr_parse(spec, a, &err))
        g_error("'%s': %s", spec, err->message);
}

static void parse_fails(const char *spec, const char *expect)
{
    QmpAddr a;
    GError *err = NULL;

    g_assert_false(qmp_addr_parse(spec, &a, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, expect))
        g_error("'%s': error '%s' lacks '%s'", spec, err->message, expect);
    g_assert_null(a.path);
    g_assert_null(a.host);
    g_error_free(err);
}

static void test_plain(void)
{
    QmpAddr a;

    parse_ok("unix:/tmp/q.sock", &a);
    g_assert_true(a.is_unix);
    g_assert_cmpstr(a.path, ==, "/tmp/q.sock");
    g_assert_false(a.has_server || a.has_wait || a.wait);
    qmp_addr_clear(&a);
    parse_ok("tcp:[::1]:4444", &a);
    g_assert_cmpstr(a.host, ==, "::1");
    g_assert_cmpstr(a.port, ==, "4444");
    qmp_addr_clear(&a);
}

static void test_qemu_options(void)
{
    static const struct {
        const char *spec;
        bool has_server, server, wait;
    } cases[] = {
        { "unix:/tmp/q.sock,server,nowait", true, true, false },
        { "unix:/tmp/q.sock,server", true, true, true }, /* QEMU waits */
        { "unix:/tmp/q.sock,server=on,wait=off", true, true, false },
        { "unix:/tmp/q.sock,server=on,wait=on", true, true, true },
        { "unix:/tmp/q.sock,nowait,server", true, true, false }, /* any order */
        { "unix:/tmp/q.sock,server=off", true, false, false },
        { "unix:/tmp/q.sock,wait=on", false, false, true },
        { "tcp:127.0.0.1:4444,server,nowait", true, true, false },
        { "tcp:[::1]:0,server=on,wait=off", true, true, false },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        QmpAddr a;
        parse_ok(cases[i].spec, &a);
        g_assert_cmpint(a.has_server, ==, cases[i].has_server);
        g_assert_cmpint(a.server, ==, cases[i].server);
        g_assert_cmpint(a.wait, ==, cases[i].wait);
        /* The options never leak into the address itself. */
        g_assert_true(a.is_unix ? !strchr(a.path, ',') : !strchr(a.port, ','));
        qmp_addr_clear(&a);
    }
}

static void test_comma_escape(void)
{
    QmpAddr a;

    parse_ok("unix:/tmp/a,,b.sock,server,nowait", &a);
    g_assert_cmpstr(a.path, ==, "/tmp/a,b.sock");
    g_assert_false(a.wait);
    qmp_addr_clear(&a);
}

static void test_errors(void)
{
    parse_fails("unix:/tmp/q.sock,bogus", "unknown option 'bogus'");
    parse_fails("unix:/tmp/q.sock,server,nodelay", "unknown option 'nodelay'");
    parse_fails("tcp:127.0.0.1:4444,ipv4", "unknown option 'ipv4'");
    parse_fails("unix:/tmp/q.sock,wait=maybe", "option 'wait' expects 'on' or 'off'");
    parse_fails("unix:/tmp/q.sock,server=", "option 'server' expects 'on' or 'off'");
    parse_fails("unix:/tmp/q.sock,nowait=on", "unknown option 'nowait=on'");
    parse_fails("unix:/tmp/q.sock,", "unknown option ''");
    parse_fails("unix:,server", "empty UNIX socket path");
    parse_fails("tcp:127.0.0.1,server", "expected tcp:HOST:PORT");
    parse_fails("tcp:127.0.0.1:44x,server", "bad port '44x'");
    parse_fails("udp:1:2,server", "expected unix:PATH or tcp:HOST:PORT");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/addr/plain", test_plain);
    g_test_add_func("/qmp/addr/qemu-options", test_qemu_options);
    g_test_add_func("/qmp/addr/comma-escape", test_comma_escape);
    g_test_add_func("/qmp/addr/errors", test_errors);
    return g_test_run();
}
