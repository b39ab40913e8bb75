/* The QMP server out of file descriptors.
 *
 * When accept() fails with EMFILE the pending connection stays queued and the listening
 * socket stays readable, so a server that keeps its listen watch armed spins at full CPU
 * until a descriptor is freed.  This test runs in a subprocess (it lowers RLIMIT_NOFILE):
 * a server runs its loop in its own thread; the process's descriptors are used up; a
 * client connects.  It checks that the server stalls (counted by the monitor), that its
 * thread then uses little CPU over a measured window (thread CPU time, not wall time),
 * that no greeting arrives meanwhile, and that once descriptors are freed the waiting
 * client gets its greeting and is served. */
#include "qmp_testlib.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 10000
#define WINDOW_MS   500 /* the CPU-time measurement window */

typedef struct {
    GMainContext *ctx;
    GMainLoop *loop;
} Loop;

static void *loop_thread(void *opaque)
{
    Loop *l = opaque;

    g_main_context_push_thread_default(l->ctx);
    g_main_loop_run(l->loop);
    g_main_context_pop_thread_default(l->ctx);
    return NULL;
}

static int64_t thread_cpu_ns(pthread_t t)
{
    clockid_t cid;
    struct timespec ts;

    g_assert_cmpint(pthread_getcpuclockid(t, &cid), ==, 0);
    g_assert_cmpint(clock_gettime(cid, &ts), ==, 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads one line (up to "\r\n") from fd within ms; returns it, or NULL on timeout. */
static char *read_line(int fd, int ms)
{
    GString *s = g_string_new(NULL);
    gint64 deadline = qmp_test_deadline(ms);

    while (!strstr(s->str, "\r\n")) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        char c;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            g_string_free(s, TRUE);
            return NULL;
        }
        if (read(fd, &c, 1) != 1) {
            g_string_free(s, TRUE);
            return NULL;
        }
        g_string_append_c(s, c);
    }
    return g_string_free(s, FALSE);
}

static void child(void)
{
    Schema *schema = qmp_test_schema();
    Loop l;
    pthread_t th;
    GError *err = NULL;
    char *dir = g_dir_make_tmp("qmpfd-XXXXXX", NULL);
    char *addr = g_strdup_printf("unix:%s/qmp.sock", dir);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    struct rlimit rl = { 64, 64 };
    GArray *filler = g_array_new(FALSE, FALSE, sizeof(int));
    int cfd, fd;

    l.ctx = g_main_context_new();
    l.loop = g_main_loop_new(l.ctx, FALSE);
    QmpServer *srv = qmp_test_server_new(schema, l.ctx, NULL);
    g_assert_true(qmp_server_listen(srv, addr, &err));
    g_assert_no_error(err);
    /* Descriptors glib makes lazily, before there are none: the default context's
     * wakeup pipe (g_main_context_push_thread_default creates it). */
    g_main_context_unref(g_main_context_ref(g_main_context_default()));
    g_assert_cmpint(pthread_create(&th, NULL, loop_thread, &l), ==, 0);

    /* The client's socket first, then every other descriptor the limit allows. */
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(cfd, >=, 0);
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        g_array_append_val(filler, fd);
    g_assert_cmpint(errno, ==, EMFILE);
    g_snprintf(un.sun_path, sizeof(un.sun_path), "%s/qmp.sock", dir);
    g_assert_cmpint(connect(cfd, (struct sockaddr *)&un, sizeof(un)), ==, 0);

    /* The server tries, fails and backs off. */
    gint64 deadline = qmp_test_deadline(DEADLINE_MS);
    while (g_atomic_int_get(&srv->accept_stalls) == 0) {
        g_assert_false(qmp_test_expired(deadline));
        sched_yield();
    }

    /* Over the window the server thread must be nearly idle.  Waiting for the greeting
     * is the window: none can come while descriptors are exhausted. */
    int64_t cpu0 = thread_cpu_ns(th);
    char *line = read_line(cfd, WINDOW_MS);
    int64_t cpu = thread_cpu_ns(th) - cpu0;
    g_assert_null(line);
    g_test_message("server thread CPU over %d ms: %.1f ms, %d stalls", WINDOW_MS, cpu / 1e6,
                   g_atomic_int_get(&srv->accept_stalls));
    g_assert_cmpint(cpu, <, (int64_t)WINDOW_MS * 1000000 / 10);
    g_assert_cmpint(g_atomic_int_get(&srv->accept_stalls), <=, 2 * WINDOW_MS / 100 + 2);

    /* Descriptors free again: the waiting client is accepted and served. */
    for (guint i = 0; i < filler->len; i++)
        close(g_array_index(filler, int, i));
    line = read_line(cfd, DEADLINE_MS);
    g_assert_nonnull(line);
    g_assert_true(g_str_has_prefix(line, "{\"QMP\": "));
    g_free(line);
    const char *req = "{'execute': 'qmp_capabilities'}{'execute': 'test-echo', "
                      "'arguments': {'n': 3}}";
    g_assert_cmpint(write(cfd, req, strlen(req)), ==, (ssize_t)strlen(req));
    line = read_line(cfd, DEADLINE_MS);
    g_assert_cmpstr(line, ==, "{\"return\": {}}\r\n");
    g_free(line);
    line = read_line(cfd, DEADLINE_MS);
    g_assert_cmpstr(line, ==, "{\"return\": {\"n\": 3}}\r\n");
    g_free(line);

    close(cfd);
    g_main_loop_quit(l.loop);
    g_main_context_wakeup(l.ctx);
    pthread_join(th, NULL);
    qmp_server_free(srv);
    while (g_main_context_iteration(l.ctx, FALSE))
        ;
    g_main_loop_unref(l.loop);
    g_main_context_unref(l.ctx);
    schema_free(schema);
    g_array_unref(filler);
    g_rmdir(dir);
    g_free(dir);
    g_free(addr);
}

static void test_out_of_fds(void)
{
    if (g_test_subprocess()) {
        child();
        return;
    }
    g_test_trap_subprocess(NULL, 60 * 1000000, G_TEST_SUBPROCESS_INHERIT_STDOUT);
    g_test_trap_assert_passed();
    /* Logged once per stall, with its end. */
    g_test_trap_assert_stderr("*cannot accept connections on unix:*Too many open files*");
    g_test_trap_assert_stderr("*accepting connections on unix:* again*");
    g_test_trap_assert_stderr_unmatched("*Too many open files*Too many open files*");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/fdlimit/out-of-fds", test_out_of_fds);
    return g_test_run();
}
