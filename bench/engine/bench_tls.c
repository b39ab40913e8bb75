/* bench_tls: what TLS costs a migration, as ratios against plain migrations of the same run.
 *
 *   bench_tls MIGBENCH [SIZE]
 *
 * Migrates an incompressible, idle sim guest of SIZE (default 512M) over tcp loopback with
 * no rate limit and an infinite simulated link, plain and over TLS, as a single stream and
 * with multifd at 2 and 4 channels, and prints each TLS figure against the plain one.  Real
 * QEMU 7.2 does the same with the same certificates when it is installed (TCG, source
 * stopped: the emulated guest costs nothing), so the two TLS costs can be compared.  All
 * figures are wall-clock throughput (bytes transferred over migration time), medians of
 * three. */
#include "bench_common.h"
#include "bench_qemu.h"
#include "mb_certs.h"
#include "qmp_client.h"

#include <gio/gio.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <unistd.h>

#define REPEAT 3

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double v[REPEAT])
{
    qsort(v, REPEAT, sizeof(double), cmp_double);
    return v[REPEAT / 2];
}

/* One `migbench run` over tcp; bytes/s over the migration's wall time (0 on failure). */
static double migrate(const char *migbench, const char *size, bool tls, unsigned multifd)
{
    gchar *mf = multifd ? g_strdup_printf("--cap multifd=on --param multifd-channels=%u", multifd)
                        : g_strdup("");
    gchar *cmd = g_strdup_printf("%s run -q --json - --guest sim:idle,size=%s,init=random "
                                 "--param max-bandwidth=0 --link-bandwidth 0 --transport tcp %s %s",
                                 migbench, size, tls ? "--tls" : "", mf);
    gchar *out = NULL;
    int status = 0;
    g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL);
    json_object *j = out ? json_tokener_parse(out) : NULL, *w, *ms, *r, *t;
    double rate = 0;
    if (j && json_object_object_get_ex(j, "wall", &w) &&
        json_object_object_get_ex(w, "migration-ms", &ms) &&
        json_object_object_get_ex(j, "result", &r) &&
        json_object_object_get_ex(r, "transferred", &t))
        rate = (double)json_object_get_int64(t) / (json_object_get_double(ms) / 1000.0);
    json_object_put(j);
    g_free(out);
    g_free(cmd);
    g_free(mf);
    return rate;
}

/* The destination: anonymous RAM under the same backend id as the source's (same block). */
static GSubprocess *qemu_dst(const char *dir, const char *size, const char *creds)
{
    gchar *qmp = g_strdup_printf("unix:%s/dst.qmp,server=on,wait=off", dir);
    gchar *obj = g_strdup_printf("memory-backend-ram,id=mem,size=%s", size);
    gchar *tls = g_strdup_printf("tls-creds-x509,id=tls0,dir=%s,endpoint=server", creds);
    const char *argv[] = { "qemu-system-x86_64",
                           "-nodefaults",
                           "-display",
                           "none",
                           "-machine",
                           "pc,memory-backend=mem",
                           "-accel",
                           "tcg",
                           "-m",
                           size,
                           "-object",
                           obj,
                           "-object",
                           tls,
                           "-qmp",
                           qmp,
                           "-incoming",
                           "defer",
                           NULL };
    GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    g_free(qmp);
    g_free(obj);
    g_free(tls);
    return p;
}

/* The source: untouched RAM would go as zero-page records and measure nothing, so its RAM
 * is a private mapping of a file of random bytes, as in bench_migrate; stopped (-S). */
static GSubprocess *qemu_src(const char *dir, const char *size, const char *ram, const char *creds)
{
    gchar *qmp = g_strdup_printf("unix:%s/src.qmp,server=on,wait=off", dir);
    gchar *obj =
        g_strdup_printf("memory-backend-file,id=mem,size=%s,mem-path=%s,share=off", size, ram);
    gchar *tls = g_strdup_printf("tls-creds-x509,id=tls0,dir=%s,endpoint=client", creds);
    const char *argv[] = { "qemu-system-x86_64",
                           "-nodefaults",
                           "-display",
                           "none",
                           "-machine",
                           "pc,memory-backend=mem",
                           "-accel",
                           "tcg",
                           "-S",
                           "-m",
                           size,
                           "-object",
                           obj,
                           "-object",
                           tls,
                           "-qmp",
                           qmp,
                           NULL };
    GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    g_free(qmp);
    g_free(obj);
    g_free(tls);
    return p;
}

static char *random_file(uint64_t bytes)
{
    char *path = g_strdup("/tmp/bench-tls-ram-XXXXXX");
    int fd = g_mkstemp(path);
    uint8_t *buf = g_malloc(1 << 20);
    MbRand r;
    mb_rand_seed(&r, 11);
    for (uint64_t done = 0; fd >= 0 && done < bytes; done += 1 << 20) {
        for (size_t i = 0; i < (1 << 20); i += 8) {
            uint64_t v = mb_rand_next(&r);
            memcpy(buf + i, &v, 8);
        }
        if (write(fd, buf, 1 << 20) != 1 << 20)
            break;
    }
    if (fd >= 0)
        close(fd);
    g_free(buf);
    return path;
}

/* One QEMU migration over tcp; bytes/s over QEMU's total-time (0 on failure). */
static double migrate_qemu(const char *size, const char *ram, const char *creds, bool tls,
                           unsigned multifd)
{
    gchar *dir = g_dir_make_tmp("bench-tls-qemu-XXXXXX", NULL);
    GSubprocess *dst = qemu_dst(dir, size, creds);
    GSubprocess *src = qemu_src(dir, size, ram, creds);
    gchar *sq = g_strdup_printf("unix:%s/src.qmp", dir),
          *dq = g_strdup_printf("unix:%s/dst.qmp", dir);
    QmpClient *s = qmp_client_connect(sq, 20000, false, NULL);
    QmpClient *d = qmp_client_connect(dq, 20000, false, NULL);
    double rate = 0;
    if (s && d) {
        gchar *caps = g_strdup_printf("{\"capabilities\": [{\"capability\": \"multifd\", "
                                      "\"state\": %s}]}",
                                      multifd ? "true" : "false");
        gchar *params = g_strdup_printf("{\"max-bandwidth\": 107374182400, \"multifd-channels\": "
                                        "%u, \"tls-creds\": \"%s\"}",
                                        multifd ? multifd : 2, tls ? "tls0" : "");
        for (QmpClient **c = (QmpClient *[]){ s, d, NULL }; *c; c++) {
            json_object_put(bench_qemu_call(*c, "migrate-set-capabilities", caps));
            json_object_put(bench_qemu_call(*c, "migrate-set-parameters", params));
        }
        json_object_put(bench_qemu_call(d, "migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:0\"}"));
        json_object *info = bench_qemu_call(d, "query-migrate", NULL), *sa;
        gchar *out = NULL;
        if (info && json_object_object_get_ex(info, "socket-address", &sa))
            out = g_strdup_printf("{\"uri\": \"tcp:127.0.0.1:%s\"}",
                                  json_object_get_string(json_object_object_get(
                                      json_object_array_get_idx(sa, 0), "port")));
        json_object_put(info);
        if (out)
            json_object_put(bench_qemu_call(s, "migrate", out));
        info = out ? bench_qemu_wait_completed(s, mb_monotonic_ns() + 300LL * 1000000000) : NULL;
        json_object *ram_info;
        if (info && json_object_object_get_ex(info, "ram", &ram_info)) {
            double ms = json_object_get_double(json_object_object_get(info, "total-time"));
            rate = json_object_get_double(json_object_object_get(ram_info, "transferred")) /
                   (ms / 1000.0);
        }
        json_object_put(info);
        g_free(out);
        g_free(caps);
        g_free(params);
    }
    bench_qemu_teardown(s, d, src, dst, dir);
    g_free(sq);
    g_free(dq);
    g_free(dir);
    return rate;
}

int main(int argc, char **argv)
{
    const char *size;
    uint64_t bytes;
    if (!bench_size_args(argc, argv, "bench_tls", "512M", &size, &bytes))
        return 2;
    bench_machine("TLS migration throughput (tcp loopback, incompressible idle guest, no rate "
                  "limit) against plain migrations of the same run");
    GError *err = NULL;
    gchar *creds = g_dir_make_tmp("bench-tls-creds-XXXXXX", NULL);
    if (!creds || !mb_certs_make(creds, &err)) {
        fprintf(stderr, "bench_tls: %s\n", err ? err->message : "no temporary directory");
        return 1;
    }
    gchar *qemu = g_find_program_in_path("qemu-system-x86_64");
    char *ram = qemu ? random_file(bytes) : NULL;

    printf("%-28s %10s %10s %8s\n", "", "plain MB/s", "TLS MB/s", "TLS/plain");
    static const unsigned multifd[] = { 0, 2, 4 };
    for (int q = 0; q < (qemu ? 2 : 1); q++) {
        for (size_t m = 0; m < G_N_ELEMENTS(multifd); m++) {
            double plain[REPEAT], tls[REPEAT];
            for (int i = 0; i < REPEAT; i++) {
                plain[i] = q ? migrate_qemu(size, ram, creds, false, multifd[m])
                             : migrate(argv[1], size, false, multifd[m]);
                tls[i] = q ? migrate_qemu(size, ram, creds, true, multifd[m])
                           : migrate(argv[1], size, true, multifd[m]);
            }
            double p = median(plain), t = median(tls);
            gchar *name =
                multifd[m]
                    ? g_strdup_printf("%s, multifd %u", q ? "QEMU 7.2 (TCG)" : "migbench",
                                      multifd[m])
                    : g_strdup_printf("%s, single stream", q ? "QEMU 7.2 (TCG)" : "migbench");
            if (p == 0 || t == 0)
                printf("%-28s %10s\n", name, "n/a (a migration failed)");
            else
                printf("%-28s %10.0f %10.0f %8.2f\n", name, p / 1e6, t / 1e6, t / p);
            g_free(name);
        }
    }
    if (ram) {
        unlink(ram);
        free(ram);
    }
    gchar *rm = g_strdup_printf("rm -rf '%s'", creds);
    if (system(rm) != 0)
        fprintf(stderr, "bench_tls: could not remove %s\n", creds);
    g_free(rm);
    g_free(creds);
    g_free(qemu);
    return 0;
}
