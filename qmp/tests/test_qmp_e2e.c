/* End-to-end tests: a server running its own main loop thread on real UNIX and TCP sockets,
 * driven by the client library and by raw sockets.  Greeting bytes, several clients,
 * exec-oob overtaking, events from another thread, SCM_RIGHTS getfd/closefd, clients that
 * vanish mid-request or mid-reply, oversized input and clients that stop reading.  Every
 * wait is on a condition with a deadline. */
#include "qmp_testlib.h"

#include "mb_error.h"
#include "qmp_client.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

typedef struct {
    Schema *schema;
    GMainContext *ctx;
    GMainLoop *loop;
    QmpServer *srv;
    GThread *thread;
    char *dir;
    char *addr; /* unix:DIR/qmp.sock */
    QmpTestAfter after;
    GMutex lock;
    GCond cond;
    int after_runs;
    gint hooked; /* events seen by the hook (atomic) */
    int fds_at_start;
} Env;

/* Open file descriptors of this process: a test leaves as many as it found. */
static int count_fds(void)
{
    GDir *d = g_dir_open("/proc/self/fd", 0, NULL);
    int n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d))
        n++;
    g_dir_close(d);
    return n;
}

static gpointer loop_thread(gpointer opaque)
{
    Env *e = opaque;

    g_main_context_push_thread_default(e->ctx);
    g_main_loop_run(e->loop);
    g_main_context_pop_thread_default(e->ctx);
    return NULL;
}

static void after_hook(void *opaque)
{
    Env *e = opaque;

    g_mutex_lock(&e->lock);
    e->after_runs++;
    g_cond_broadcast(&e->cond);
    g_mutex_unlock(&e->lock);
}

static void event_hook(const char *event, json_object *data, void *opaque)
{
    Env *e = opaque;

    g_atomic_int_inc(&e->hooked);
}

static gboolean quit_cb(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_REMOVE;
}

/* Stops the loop thread.  The quit runs inside the loop, so it cannot be lost when the
 * thread has not entered g_main_loop_run() yet. */
static void stop_thread(Env *e)
{
    GSource *src = g_idle_source_new();

    g_source_set_callback(src, quit_cb, e->loop, NULL);
    g_source_attach(src, e->ctx);
    g_source_unref(src);
    g_thread_join(e->thread);
    e->thread = NULL;
}

static void env_start(Env *e, const QmpServerLimits *lim)
{
    GError *err = NULL;

    memset(e, 0, sizeof(*e));
    e->fds_at_start = count_fds();
    g_mutex_init(&e->lock);
    g_cond_init(&e->cond);
    e->schema = qmp_test_schema();
    e->ctx = g_main_context_new();
    e->loop = g_main_loop_new(e->ctx, FALSE);
    e->after.fn = after_hook;
    e->after.opaque = e;
    e->srv = qmp_test_server_new(e->schema, e->ctx, &e->after);
    qmp_server_set_event_hook(e->srv, event_hook, e);
    if (lim)
        qmp_server_set_limits(e->srv, lim);
    e->dir = g_dir_make_tmp("qmp-e2e-XXXXXX", &err);
    g_assert_no_error(err);
    e->addr = g_strdup_printf("unix:%s/qmp.sock", e->dir);
    g_assert_true(qmp_server_listen(e->srv, e->addr, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(qmp_server_monitor_address(e->srv, 0), ==, e->addr);
    g_assert_null(qmp_server_monitor_address(e->srv, 1));
    e->thread = g_thread_new("qmp-server", loop_thread, e);
}

static void env_stop(Env *e)
{
    char *sock = g_strdup(e->addr + 5);

    stop_thread(e);
    qmp_server_free(e->srv);
    /* The monitor removed its socket file. */
    g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
    g_free(sock);
    g_main_loop_unref(e->loop);
    g_main_context_unref(e->ctx);
    schema_free(e->schema);
    g_rmdir(e->dir);
    g_free(e->dir);
    g_free(e->addr);
    g_mutex_clear(&e->lock);
    g_cond_clear(&e->cond);
    g_assert_cmpint(count_fds(), ==, e->fds_at_start);
}

static QmpClient *connect_client(Env *e, unsigned flags)
{
    GError *err = NULL;
    QmpClient *c = qmp_client_connect_full(e->addr, TIMEOUT_MS, flags, &err);

    g_assert_no_error(err);
    g_assert_nonnull(c);
    return c;
}

/* ---- raw sockets, for byte-exact checks ---- */

typedef struct {
    int fd;
    GString *buf;
} Raw;

static void raw_open(Raw *r, Env *e)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };

    g_strlcpy(un.sun_path, e->addr + 5, sizeof(un.sun_path));
    r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(connect(r->fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    r->buf = g_string_new(NULL);
}

static void raw_close(Raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    g_string_free(r->buf, TRUE);
}

static void raw_send(Raw *r, const char *text)
{
    size_t len = strlen(text);

    g_assert_cmpint(send(r->fd, text, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

/* Reads until `deadline`; false on EOF or timeout. */
static bool raw_fill(Raw *r, gint64 deadline)
{
    char tmp[65536];
    struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
    ssize_t n;

    if (poll(&pfd, 1, (int)MAX(0, (deadline - g_get_monotonic_time()) / 1000)) <= 0)
        return false;
    n = recv(r->fd, tmp, sizeof(tmp), 0);
    if (n <= 0)
        return false;
    g_string_append_len(r->buf, tmp, n);
    return true;
}

/* The next line without its CR LF (asserting it is CR LF terminated). */
static char *raw_line(Raw *r)
{
    gint64 deadline = qmp_test_deadline(TIMEOUT_MS);
    char *nl;

    while (!(nl = strchr(r->buf->str, '\n')))
        g_assert_true(raw_fill(r, deadline));
    g_assert_true(nl > r->buf->str && nl[-1] == '\r');
    char *line = g_strndup(r->buf->str, (gsize)(nl - 1 - r->buf->str));
    g_string_erase(r->buf, 0, nl + 1 - r->buf->str);
    return line;
}

static void raw_expect(Raw *r, const char *want)
{
    char *got = raw_line(r);

    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

/* A session count as the server sees it, polled until it equals `want`. */
static void wait_sessions(QmpClient *c, int want)
{
    gint64 deadline = qmp_test_deadline(TIMEOUT_MS);

    for (;;) {
        json_object *r = qmp_client_call(c, "test-sessions", NULL, TIMEOUT_MS, NULL);
        int n = json_object_get_int(json_object_object_get(r, "n"));
        json_object_put(r);
        if (n == want)
            return;
        g_assert_false(qmp_test_expired(deadline));
        g_thread_yield();
    }
}

/* ---- tests ---- */

static void test_greeting_bytes(void)
{
    Env e;
    Raw r;

    env_start(&e, NULL);
    raw_open(&r, &e);
    raw_expect(&r, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 5}, "
                   "\"package\": \"v5.0.0\"}, \"capabilities\": [\"oob\"]}}");
    raw_send(&r, "{\"execute\": \"query-status\", \"id\": \"libvirt-1\"}");
    raw_expect(&r, "{\"id\": \"libvirt-1\", \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                   "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}");
    raw_send(&r, "{ \"execute\": \"qmp_capabilities\" }\n");
    raw_expect(&r, "{\"return\": {}}");
    raw_send(&r, "{'execute': 'test-echo', 'arguments': {'n': 42}, 'id': 7}");
    raw_expect(&r, "{\"return\": {\"n\": 42}, \"id\": 7}");
    raw_close(&r);
    env_stop(&e);
}

static void test_clients(void)
{
    Env e;
    GError *err = NULL;
    QmpClient *a, *b;
    json_object *v;

    env_start(&e, NULL);
    a = connect_client(&e, QMP_CLIENT_OOB);
    b = connect_client(&e, QMP_CLIENT_NO_NEGOTIATE);
    g_assert_nonnull(json_object_object_get(qmp_client_greeting(b), "QMP"));
    /* Independent sessions: b still negotiates while a works. */
    v = qmp_client_call(b, "query-version", NULL, TIMEOUT_MS, &err);
    g_assert_null(v);
    g_assert_error(err, MB_ERROR, MB_ERR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(err->message, ==, "Expecting capabilities negotiation with 'qmp_capabilities'");
    g_clear_error(&err);
    v = qmp_client_call(a, "query-version", NULL, TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_assert_cmpint(
        json_object_get_int(json_object_object_get(json_object_object_get(v, "qemu"), "major")), ==,
        5);
    json_object_put(v);
    v = qmp_client_call(a, "test-fail", NULL, TIMEOUT_MS, &err);
    g_assert_null(v);
    g_assert_error(err, MB_ERROR, MB_ERR_DEVICE_NOT_FOUND);
    g_clear_error(&err);
    /* A raw request returns the next reply, whatever it is. */
    v = qmp_client_send_raw(a, "{'execute': 'nope', 'id': [1]}", TIMEOUT_MS, &err);
    g_assert_no_error(err);
    char *s = qmp_json_to_string(v, 0);
    g_assert_cmpstr(s, ==,
                    "{\"id\": [1], \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                    "\"The command nope has not been found\"}}");
    g_free(s);
    json_object_put(v);
    wait_sessions(a, 2);
    qmp_client_free(b);
    wait_sessions(a, 1);
    qmp_client_free(a);
    env_stop(&e);
}

static void test_oob_overtakes(void)
{
    Env e;
    GError *err = NULL;
    QmpClient *c;
    json_object *m;
    const char *two = "{'execute': 'test-echo', 'arguments': {'n': 1}, 'id': 'in-band'}"
                      "{'exec-oob': 'test-oob', 'id': 'oob'}";

    env_start(&e, NULL);
    c = connect_client(&e, QMP_CLIENT_OOB);
    g_assert_true(qmp_client_write_raw(c, two, strlen(two), &err));
    m = qmp_client_read_message(c, TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string(json_object_object_get(m, "id")), ==, "oob");
    json_object_put(m);
    m = qmp_client_read_message(c, TIMEOUT_MS, &err);
    g_assert_cmpstr(json_object_get_string(json_object_object_get(m, "id")), ==, "in-band");
    json_object_put(m);
    m = qmp_client_execute_oob(c, "test-oob", NULL, TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_object_get_ex(m, "return", NULL));
    json_object_put(m);
    qmp_client_free(c);
    env_stop(&e);
}

typedef struct {
    QmpServer *srv;
    int count;
} Emitter;

static gpointer emit_thread(gpointer opaque)
{
    Emitter *em = opaque;

    for (int i = 0; i < em->count; i++) {
        json_object *data = json_object_new_object();
        json_object_object_add(data, "n", json_object_new_int(i));
        qmp_server_emit_event(em->srv, "TEST_EVENT", data);
    }
    return NULL;
}

static void test_events(void)
{
    Env e;
    GError *err = NULL;
    QmpClient *c;
    Emitter em;
    GThread *t;
    Raw r;

    env_start(&e, NULL);
    c = connect_client(&e, 0);
    em.srv = e.srv;
    em.count = 2000;
    t = g_thread_new("emitter", emit_thread, &em);
    for (int i = 0; i < em.count; i++) {
        json_object *ev = qmp_client_wait_event(c, "TEST_EVENT", TIMEOUT_MS, &err);
        g_assert_no_error(err);
        json_object *data = json_object_object_get(ev, "data");
        g_assert_cmpint(json_object_get_int(json_object_object_get(data, "n")), ==, i);
        json_object *ts = json_object_object_get(ev, "timestamp");
        g_assert_cmpint(json_object_get_int64(json_object_object_get(ts, "seconds")), >,
                        1500000000);
        json_object_put(ev);
    }
    g_thread_join(t);
    g_assert_cmpint(g_atomic_int_get(&e.hooked), ==, em.count);
    g_assert_null(qmp_client_next_event(c));

    /* An event emitted by a handler reaches the client before the reply. */
    raw_open(&r, &e);
    g_free(raw_line(&r));
    raw_send(&r, "{'execute': 'qmp_capabilities'}");
    raw_expect(&r, "{\"return\": {}}");
    raw_send(&r, "{'execute': 'test-emit', 'arguments': {'n': 5}}");
    char *line = raw_line(&r);
    g_assert_true(g_str_has_suffix(line, "\"event\": \"TEST_EVENT\", \"data\": {\"n\": 5}}"));
    g_free(line);
    raw_expect(&r, "{\"return\": {}}");
    raw_close(&r);
    qmp_client_free(c);
    env_stop(&e);
}

static bool fd_at_eof(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char b;

    return poll(&pfd, 1, TIMEOUT_MS) == 1 && read(fd, &b, 1) == 0;
}

static void test_getfd(void)
{
    Env e;
    GError *err = NULL;
    QmpClient *c;
    int a[2], b[2], d[2];
    char buf[4] = { 0 };
    json_object *v, *args;

    env_start(&e, NULL);
    c = connect_client(&e, 0);
    g_assert_cmpint(pipe(a), ==, 0);
    g_assert_cmpint(pipe(b), ==, 0);
    g_assert_cmpint(pipe(d), ==, 0);

    /* Passed, then taken by a handler through qmp_request_take_fd(). */
    g_assert_true(qmp_client_getfd(c, a[1], "mypipe", &err));
    g_assert_no_error(err);
    close(a[1]);
    args = json_object_new_object();
    json_object_object_add(args, "fdname", json_object_new_string("mypipe"));
    v = qmp_client_call(c, "test-takefd", json_object_get(args), TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(v);
    g_assert_cmpint(read(a[0], buf, 2), ==, 2);
    g_assert_cmpstr(buf, ==, "hi");
    g_assert_true(fd_at_eof(a[0])); /* the handler closed the last copy */
    v = qmp_client_call(c, "test-takefd", json_object_get(args), TIMEOUT_MS, &err);
    g_assert_null(v);
    g_assert_cmpstr(err->message, ==, "File descriptor named 'mypipe' has not been found");
    g_clear_error(&err);

    /* Names starting with a digit are refused (and the fd is not kept). */
    g_assert_false(qmp_client_getfd(c, b[1], "1pipe", &err));
    g_assert_cmpstr(err->message, ==,
                    "Parameter 'fdname' expects a name not starting with a digit");
    g_clear_error(&err);
    /* Reusing a name closes the fd stored under it. */
    g_assert_true(qmp_client_getfd(c, b[1], "p", &err));
    close(b[1]);
    g_assert_true(qmp_client_getfd(c, d[1], "p", &err));
    g_assert_no_error(err);
    g_assert_true(fd_at_eof(b[0]));
    /* closefd closes it; twice is an error. */
    v = qmp_client_call(c, "closefd", json_object_get(args), TIMEOUT_MS, &err);
    g_assert_cmpstr(err->message, ==, "File descriptor named 'mypipe' not found");
    g_clear_error(&err);
    json_object_object_add(args, "fdname", json_object_new_string("p"));
    v = qmp_client_call(c, "closefd", json_object_get(args), TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(v);

    /* getfd without SCM_RIGHTS. */
    v = qmp_client_send_raw(c, "{'execute': 'getfd', 'arguments': {'fdname': 'x'}}", TIMEOUT_MS,
                            &err);
    g_assert_nonnull(
        strstr(json_object_to_json_string(v), "No file descriptor supplied via SCM_RIGHTS"));
    json_object_put(v);

    /* Fds kept by a client that goes away are closed. */
    g_assert_true(qmp_client_getfd(c, d[1], "kept", &err));
    close(d[1]);
    qmp_client_free(c);
    g_assert_true(fd_at_eof(d[0]));

    json_object_put(args);
    close(a[0]);
    close(b[0]);
    close(d[0]);
    env_stop(&e);
}

static void test_disconnects(void)
{
    Env e;
    QmpClient *c;
    Raw r;

    env_start(&e, NULL);
    c = connect_client(&e, 0);
    /* Mid-request: half a message, then gone. */
    raw_open(&r, &e);
    raw_send(&r, "{'execute': 'qmp_capabilities'}{'execute': 'test-echo', 'argu");
    raw_close(&r);
    /* Queued requests, then gone before the replies. */
    raw_open(&r, &e);
    raw_send(&r, "{'execute': 'qmp_capabilities'}{'execute': 'test-after'}"
                 "{'execute': 'query-qmp-schema'}{'execute': 'query-qmp-schema'}");
    raw_close(&r);
    /* Mid-reply: big replies requested, never read. */
    raw_open(&r, &e);
    raw_send(&r, "{'execute': 'qmp_capabilities'}");
    for (int i = 0; i < 20; i++)
        raw_send(&r, "{'execute': 'query-qmp-schema'}");
    g_assert_true(raw_fill(&r, qmp_test_deadline(TIMEOUT_MS)));
    raw_close(&r);
    wait_sessions(c, 1);
    json_object *v = qmp_client_call(c, "query-version", NULL, TIMEOUT_MS, NULL);
    g_assert_nonnull(v);
    json_object_put(v);
    qmp_client_free(c);
    env_stop(&e);
}

static void test_after_reply(void)
{
    Env e;
    QmpClient *c;
    json_object *v;
    gint64 deadline;

    env_start(&e, NULL);
    c = connect_client(&e, 0);
    v = qmp_client_call(c, "test-after", NULL, TIMEOUT_MS, NULL);
    g_assert_nonnull(v);
    json_object_put(v);
    deadline = qmp_test_deadline(TIMEOUT_MS);
    g_mutex_lock(&e.lock);
    while (e.after_runs == 0)
        g_assert_true(g_cond_wait_until(&e.cond, &e.lock, deadline));
    g_mutex_unlock(&e.lock);
    qmp_client_free(c);
    env_stop(&e);
}

static void test_oversized_input(void)
{
    QmpServerLimits lim;
    Env e;
    GError *err = NULL;
    QmpClient *c;
    GString *big = g_string_new("{\"execute\": \"");
    int errors = 0;

    qmp_stream_default_limits(&lim.stream);
    lim.stream.max_token_size = 4096;
    lim.out_high = 64 << 10;
    lim.out_max = 256 << 10;
    env_start(&e, &lim);
    c = connect_client(&e, 0);
    for (int i = 0; i < (1 << 20); i++)
        g_string_append_c(big, 'x');
    g_string_append(big, "\"}\n{'execute': 'test-echo', 'id': 'after'}");
    g_assert_true(qmp_client_write_raw(c, big->str, big->len, &err));
    /* The long string is cut into errors; the request behind it still runs. */
    for (;;) {
        json_object *m = qmp_client_read_message(c, TIMEOUT_MS, &err);
        g_assert_no_error(err);
        if (json_object_object_get_ex(m, "id", NULL)) {
            g_assert_true(json_object_object_get_ex(m, "return", NULL));
            json_object_put(m);
            break;
        }
        errors++;
        json_object_put(m);
    }
    g_assert_cmpint(errors, >=, (1 << 20) / 4097);
    g_string_free(big, TRUE);
    qmp_client_free(c);
    env_stop(&e);
}

static void test_slow_reader_dropped(void)
{
    QmpServerLimits lim;
    Env e;
    QmpClient *watch;
    Raw r;
    Emitter em;
    size_t received = 0;
    gint64 deadline;

    qmp_stream_default_limits(&lim.stream);
    lim.out_high = 16 << 10;
    lim.out_max = 64 << 10;
    env_start(&e, &lim);
    watch = connect_client(&e, QMP_CLIENT_NO_NEGOTIATE);
    raw_open(&r, &e);
    raw_send(&r, "{'execute': 'qmp_capabilities'}");
    /* The client reads nothing while ~3 MB of events are emitted. */
    em.srv = e.srv;
    em.count = 20000;
    emit_thread(&em);
    /* It was dropped: reading now reaches EOF well before all events. */
    deadline = qmp_test_deadline(TIMEOUT_MS);
    while (raw_fill(&r, deadline)) {
        received += r.buf->len;
        g_string_truncate(r.buf, 0);
    }
    g_assert_false(qmp_test_expired(deadline));
    g_assert_cmpuint(received, <, (size_t)em.count * 100);
    raw_close(&r);
    /* The watcher, still negotiating, got no events and the server is fine. */
    json_object *v = qmp_client_call(watch, "qmp_capabilities", NULL, TIMEOUT_MS, NULL);
    json_object_put(v);
    wait_sessions(watch, 1);
    qmp_client_free(watch);
    env_stop(&e);
}

static void test_tcp(void)
{
    Env e;
    GError *err = NULL;
    QmpClient *c;
    json_object *v;
    const char *addr;

    env_start(&e, NULL);
    /* Listening happens on the loop thread's context; stop it while adding monitors. */
    stop_thread(&e);
    g_assert_true(qmp_server_listen(e.srv, "tcp:127.0.0.1:0", &err));
    g_assert_no_error(err);
    addr = qmp_server_monitor_address(e.srv, 1);
    g_assert_true(g_str_has_prefix(addr, "tcp:127.0.0.1:"));
    g_assert_cmpstr(addr, !=, "tcp:127.0.0.1:0");
    /* The same port again cannot be bound. */
    g_assert_false(qmp_server_listen(e.srv, addr, &err));
    g_assert_nonnull(strstr(err->message, "Failed to bind socket to tcp:127.0.0.1:"));
    g_clear_error(&err);
    g_assert_false(qmp_server_listen(e.srv, "udp:1", &err));
    g_assert_cmpstr(err->message, ==,
                    "Invalid QMP address 'udp:1': expected unix:PATH or tcp:HOST:PORT");
    g_clear_error(&err);
    bool v6 = qmp_server_listen(e.srv, "tcp:[::1]:0", NULL);
    char *addr_copy = g_strdup(addr);
    char *v6addr = v6 ? g_strdup(qmp_server_monitor_address(e.srv, 2)) : NULL;
    e.thread = g_thread_new("qmp-server", loop_thread, &e);

    c = qmp_client_connect(addr_copy, TIMEOUT_MS, true, &err);
    g_assert_no_error(err);
    v = qmp_client_call(c, "test-echo", NULL, TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(v);
    g_assert_false(qmp_client_getfd(c, 0, "x", &err));
    g_clear_error(&err);
    v = qmp_client_send_raw(c, "{'execute': 'getfd', 'arguments': {'fdname': 'x'}}", TIMEOUT_MS,
                            &err);
    g_assert_nonnull(
        strstr(json_object_to_json_string(v), "No file descriptor supplied via SCM_RIGHTS"));
    json_object_put(v);
    qmp_client_free(c);
    if (v6) {
        g_assert_true(g_str_has_prefix(v6addr, "tcp:[::1]:"));
        c = qmp_client_connect(v6addr, TIMEOUT_MS, false, &err);
        g_assert_no_error(err);
        qmp_client_free(c);
    }
    g_free(addr_copy);
    g_free(v6addr);
    env_stop(&e);
}

static void test_connect_errors(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("qmp-e2e-XXXXXX", NULL);
    char *addr = g_strdup_printf("unix:%s/none.sock", dir);
    gint64 start = g_get_monotonic_time();

    /* Nothing listening: retried until the deadline, then a clear error. */
    g_assert_null(qmp_client_connect(addr, 200, false, &err));
    g_assert_nonnull(strstr(err->message, "Failed to connect to unix:"));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 150 * 1000);
    g_clear_error(&err);
    g_assert_null(qmp_client_connect("tcp:localhost", 200, false, &err));
    g_assert_cmpstr(err->message, ==,
                    "Invalid QMP address 'tcp:localhost': expected tcp:HOST:PORT");
    g_clear_error(&err);
    g_free(addr);
    g_rmdir(dir);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* GLib's own singletons (the default context's wakeup fd) exist before any count. */
    g_main_context_unref(g_main_context_ref(g_main_context_default()));
    g_test_add_func("/qmp/e2e/greeting-bytes", test_greeting_bytes);
    g_test_add_func("/qmp/e2e/clients", test_clients);
    g_test_add_func("/qmp/e2e/oob-overtakes", test_oob_overtakes);
    g_test_add_func("/qmp/e2e/events", test_events);
    g_test_add_func("/qmp/e2e/getfd", test_getfd);
    g_test_add_func("/qmp/e2e/disconnects", test_disconnects);
    g_test_add_func("/qmp/e2e/after-reply", test_after_reply);
    g_test_add_func("/qmp/e2e/oversized-input", test_oversized_input);
    g_test_add_func("/qmp/e2e/slow-reader-dropped", test_slow_reader_dropped);
    g_test_add_func("/qmp/e2e/tcp", test_tcp);
    g_test_add_func("/qmp/e2e/connect-errors", test_connect_errors);
    return g_test_run();
}
