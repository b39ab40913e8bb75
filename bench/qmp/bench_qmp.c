/* bench_qmp: what the QMP layer costs, against baselines measured in the same run.
 *
 *   parse      framing + parsing QMP replies with our QEMU-dialect streamer, against
 *              json-c's own tokener on the same messages (pre-split for it)
 *   write      QEMU-format output (QDict member order) against json-c's serializer
 *   roundtrip  query-version over a UNIX socket (client library <-> server on its own
 *              main-loop thread), against a raw ping-pong of the same bytes between two
 *              threads over a socketpair
 * Figures are printed as rates and as ratios to the baselines (lower ratio = cheaper). */
#include "qmp.h"
#include "qmp_client.h"
#include "qmp_json.h"
#include "qmp_stream.h"

#include "mb_util.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A real QEMU 4.2.0 reply (qemu-devel capture) and a bigger nested one. */
static const char reply_params[] =
    "{\"return\": {\"xbzrle-cache-size\": 67108864, \"cpu-throttle-initial\": 20, "
    "\"announce-max\": 550, \"decompress-threads\": 2, \"compress-threads\": 8, "
    "\"compress-level\": 1, \"multifd-channels\": 2, \"announce-initial\": 50, "
    "\"block-incremental\": false, \"compress-wait-thread\": true, \"downtime-limit\": 300, "
    "\"tls-authz\": \"\", \"announce-rounds\": 5, \"announce-step\": 100, \"tls-creds\": \"\", "
    "\"max-cpu-throttle\": 99, \"max-postcopy-bandwidth\": 0, \"tls-hostname\": \"\", "
    "\"max-bandwidth\": 33554432, \"x-checkpoint-delay\": 20000, \"cpu-throttle-increment\": "
    "10}, \"id\": \"libvirt-7\"}";

static GPtrArray *make_messages(void)
{
    GPtrArray *msgs = g_ptr_array_new_with_free_func(g_free);
    GString *big = g_string_new("{\"return\": [");

    for (int i = 0; i < 200; i++)
        g_string_append_printf(big,
                               "%s{\"name\": \"member-%d\", \"type\": \"%d\", \"default\": "
                               "null, \"features\": [\"deprecated\"], \"values\": [1.5, -%d, "
                               "18446744073709551615]}",
                               i ? ", " : "", i, i * 7, i);
    g_string_append(big, "], \"id\": 1}");
    for (int i = 0; i < 20; i++)
        g_ptr_array_add(msgs, g_strdup(reply_params));
    g_ptr_array_add(msgs, g_string_free(big, FALSE));
    return msgs;
}

static void count_msg(void *opaque, json_object *v, GError *err)
{
    (*(int *)opaque)++;
    json_object_put(v);
    if (err)
        g_error_free(err);
}

static double secs_since(int64_t t0)
{
    return (double)(mb_monotonic_ns() - t0) / 1e9;
}

static void bench_parse_write(void)
{
    GPtrArray *msgs = make_messages();
    GString *all = g_string_new(NULL);
    const int rounds = 200;
    int n = 0;
    int64_t t0;
    double ours, theirs, bytes;

    for (guint i = 0; i < msgs->len; i++)
        g_string_append(all, g_ptr_array_index(msgs, i));
    bytes = (double)all->len * rounds;

    QmpStream *s = qmp_stream_new(NULL, count_msg, &n);
    t0 = mb_monotonic_ns();
    for (int r = 0; r < rounds; r++)
        qmp_stream_feed(s, all->str, all->len);
    ours = secs_since(t0);
    qmp_stream_free(s);
    g_assert(n == (int)msgs->len * rounds);

    t0 = mb_monotonic_ns();
    for (int r = 0; r < rounds; r++)
        for (guint i = 0; i < msgs->len; i++)
            json_object_put(json_tokener_parse(g_ptr_array_index(msgs, i)));
    theirs = secs_since(t0);
    printf("parse      %8.1f MB/s   json-c %8.1f MB/s   ratio %.2f\n", bytes / ours / 1e6,
           bytes / theirs / 1e6, ours / theirs);

    json_object *obj = json_tokener_parse(g_ptr_array_index(msgs, msgs->len - 1));
    t0 = mb_monotonic_ns();
    for (int r = 0; r < rounds * 5; r++)
        g_free(qmp_json_to_string(obj, QMP_JSON_QDICT_ORDER));
    ours = secs_since(t0);
    t0 = mb_monotonic_ns();
    for (int r = 0; r < rounds * 5; r++) {
        /* json-c caches its output per object; a fresh copy defeats that. */
        json_object *copy = NULL;
        json_object_deep_copy(obj, &copy, NULL);
        json_object_to_json_string_ext(copy, JSON_C_TO_STRING_SPACED);
        json_object_put(copy);
    }
    theirs = secs_since(t0);
    printf("write      %8.0f msg/s  json-c %8.0f msg/s  ratio %.2f (json-c time includes a "
           "deep copy)\n",
           rounds * 5 / ours, rounds * 5 / theirs, ours / theirs);
    json_object_put(obj);
    g_string_free(all, TRUE);
    g_ptr_array_free(msgs, TRUE);
}

/* ---- round trips ---- */

typedef struct {
    GMainContext *ctx;
    GMainLoop *loop;
} Loop;

static gpointer run_loop(gpointer opaque)
{
    Loop *l = opaque;

    g_main_context_push_thread_default(l->ctx);
    g_main_loop_run(l->loop);
    g_main_context_pop_thread_default(l->ctx);
    return NULL;
}

static gboolean quit_cb(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static gpointer echo_thread(gpointer opaque)
{
    int fd = GPOINTER_TO_INT(opaque);
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            break;
    return NULL;
}

static double raw_pingpong(int count, size_t req_len, size_t rsp_len)
{
    int sv[2];
    char buf[4096];
    GThread *t;
    int64_t t0;

    g_assert(req_len <= sizeof(buf) && rsp_len <= sizeof(buf));
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    t = g_thread_new("echo", echo_thread, GINT_TO_POINTER(sv[1]));
    memset(buf, 'x', sizeof(buf));
    t0 = mb_monotonic_ns();
    for (int i = 0; i < count; i++) {
        size_t got = 0;
        if (write(sv[0], buf, req_len) != (ssize_t)req_len)
            break;
        while (got < req_len) {
            ssize_t n = read(sv[0], buf, req_len - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    double dt = secs_since(t0);
    shutdown(sv[0], SHUT_WR);
    g_thread_join(t);
    close(sv[0]);
    close(sv[1]);
    (void)rsp_len;
    return count / dt;
}

static void bench_roundtrip(void)
{
    Schema *schema = schema_new(NULL);
    Loop l;
    QmpServer *srv;
    QmpClient *c;
    GError *err = NULL;
    char *dir = g_dir_make_tmp("bench-qmp-XXXXXX", NULL);
    char *addr = g_strdup_printf("unix:%s/qmp.sock", dir);
    json_object *ver = json_object_new_object();
    const int count = 20000;
    GThread *t;
    int64_t t0;

    if (!schema_load_builtin(schema, "core.json", &err) || !schema_finish(schema, &err))
        g_error("%s", err->message);
    json_object_object_add(ver, "package", json_object_new_string("bench"));
    l.ctx = g_main_context_new();
    l.loop = g_main_loop_new(l.ctx, FALSE);
    srv = qmp_server_new(schema, l.ctx, ver, false);
    if (!qmp_server_listen(srv, addr, &err))
        g_error("%s", err->message);
    t = g_thread_new("server", run_loop, &l);
    c = qmp_client_connect(addr, 5000, false, &err);
    if (!c)
        g_error("%s", err->message);
    t0 = mb_monotonic_ns();
    for (int i = 0; i < count; i++)
        json_object_put(qmp_client_execute(c, "query-version", NULL, 5000, NULL));
    double ours = count / secs_since(t0);
    /* {"execute": "query-version", "id": "migbench-N"} and its reply, in size. */
    double raw = raw_pingpong(count, 52, 60);
    printf("roundtrip  %8.0f req/s  raw pingpong %8.0f /s    ratio %.2f (time per request)\n", ours,
           raw, raw / ours);
    qmp_client_free(c);
    GSource *q = g_idle_source_new();
    g_source_set_callback(q, quit_cb, l.loop, NULL);
    g_source_attach(q, l.ctx);
    g_source_unref(q);
    g_thread_join(t);
    qmp_server_free(srv);
    g_main_loop_unref(l.loop);
    g_main_context_unref(l.ctx);
    schema_free(schema);
    g_rmdir(dir);
    g_free(dir);
    g_free(addr);
}

int main(void)
{
    bench_parse_write();
    bench_roundtrip();
    return 0;
}
