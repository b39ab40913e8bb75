/* bench_vs_qemu: a migrating KVM guest, migbench against real QEMU, in the same run.
 *
 *   bench_vs_qemu MIGBENCH BIOS_IMG [SIZE...]      (default sizes: 1G 4G)
 *
 * Both guests have SIZE of RAM and sweep the first byte of every page from 1 MiB to
 * 33 MiB, QEMU's migration-test pattern (QEMU runs conformance/guests/dirty-bios.S as its
 * firmware, migbench runs kvm:workload=marker,work=32M); the rest of RAM is zero.  QEMU
 * migrates once its guest has finished the first sweep (it prints 'B').  Both migrate over
 * a unix socket with max-bandwidth 1 GiB/s and the default 300 ms downtime limit.  Printed:
 * total time, downtime, bytes transferred and throughput of each, and migbench's figures as
 * ratios of QEMU's.  Skips (77) without qemu-system-x86_64 or /dev/kvm. */
#include "bench_qemu.h"
#include "mb_util.h"
#include "qmp_client.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    double total_ms, downtime_ms, transferred, mbps;
    double passes; /* dirty-sync-count: how much the guest kept dirtying */
    bool ok;
} Result;

/* The same capabilities and parameters on both implementations (both sides). */
typedef struct {
    const char *name;
    const char *caps;   /* migrate-set-capabilities list, JSON */
    const char *params; /* migrate-set-parameters object, JSON */
    const char *run;    /* the same for migbench run */
} Config;

static const Config configs[] = {
    { "plain", "[]", "{\"max-bandwidth\": 1073741824}", "--param max-bandwidth=1073741824" },
    { "xbzrle", "[{\"capability\": \"xbzrle\", \"state\": true}]",
      "{\"max-bandwidth\": 1073741824}", "--param max-bandwidth=1073741824 --cap xbzrle=on" },
    /* Two zlib threads cannot keep up with a guest sweeping 99 MiB, so auto-converge helps
     * both implementations to switch over. */
    { "compress",
      "[{\"capability\": \"compress\", \"state\": true}, "
      "{\"capability\": \"auto-converge\", \"state\": true}]",
      "{\"max-bandwidth\": 1073741824, \"compress-threads\": 2}",
      "--param max-bandwidth=1073741824 --cap compress=on --cap auto-converge=on "
      "--param compress-threads=2" },
    { "multifd 2", "[{\"capability\": \"multifd\", \"state\": true}]",
      "{\"max-bandwidth\": 1073741824, \"multifd-channels\": 2}",
      "--param max-bandwidth=1073741824 --cap multifd=on --param multifd-channels=2" },
};

static GSubprocess *qemu(const char *dir, const char *name, const char *img, const char *size,
                         const char *incoming)
{
    gchar *qmp = g_strdup_printf("unix:%s/%s.qmp,server=on,wait=off", dir, name);
    gchar *serial = g_strdup_printf("file:%s/%s.serial", dir, name);
    const char *argv[] = { "qemu-system-x86_64",
                           "-nodefaults",
                           "-display",
                           "none",
                           "-machine",
                           "pc",
                           "-accel",
                           "kvm",
                           "-m",
                           size,
                           "-bios",
                           img,
                           "-serial",
                           serial,
                           "-qmp",
                           qmp,
                           incoming ? "-incoming" : NULL,
                           incoming,
                           NULL };
    GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    g_free(qmp);
    g_free(serial);
    return p;
}

/* Waits (with a deadline) for the guest to print 'B' on its serial port: it has swept its
 * range once, so every page of it holds data. */
static bool wait_serial(const char *path, int64_t deadline)
{
    while (mb_monotonic_ns() < deadline) {
        gchar *text = NULL;
        if (g_file_get_contents(path, &text, NULL, NULL) && strchr(text, 'B')) {
            g_free(text);
            return true;
        }
        g_free(text);
        g_usleep(10000);
    }
    return false;
}

static Result run_qemu(const char *img, const char *size, const Config *cfg)
{
    Result res = { 0 };
    gchar *dir = g_dir_make_tmp("bench-qemu-XXXXXX", NULL);
    gchar *uri = g_strdup_printf("unix:%s/mig.sock", dir);
    GSubprocess *dst = qemu(dir, "dst", img, size, "defer");
    GSubprocess *src = qemu(dir, "src", img, size, NULL);
    gchar *sq = g_strdup_printf("unix:%s/src.qmp", dir);
    gchar *dq = g_strdup_printf("unix:%s/dst.qmp", dir);
    gchar *sser = g_strdup_printf("%s/src.serial", dir);
    QmpClient *s = src ? qmp_client_connect(sq, 20000, false, NULL) : NULL;
    QmpClient *d = dst ? qmp_client_connect(dq, 20000, false, NULL) : NULL;
    int64_t deadline = mb_monotonic_ns() + 120LL * 1000000000;

    if (s && d && wait_serial(sser, deadline)) {
        /* Capabilities and parameters on both sides, the destination deferred until then. */
        gchar *caps = g_strdup_printf("{\"capabilities\": %s}", cfg->caps);
        gchar *a = g_strdup_printf("{\"uri\": \"%s\"}", uri);
        for (QmpClient **c = (QmpClient *[]){ s, d, NULL }; *c; c++) {
            json_object_put(bench_qemu_call(*c, "migrate-set-capabilities", caps));
            json_object_put(bench_qemu_call(*c, "migrate-set-parameters", cfg->params));
        }
        json_object_put(bench_qemu_call(d, "migrate-incoming", a));
        json_object_put(bench_qemu_call(s, "migrate", a));
        g_free(a);
        g_free(caps);
        json_object *info = bench_qemu_wait_completed(s, deadline), *ram;
        if (info && json_object_object_get_ex(info, "ram", &ram)) {
            res.total_ms = json_object_get_double(json_object_object_get(info, "total-time"));
            res.downtime_ms = json_object_get_double(json_object_object_get(info, "downtime"));
            res.transferred = json_object_get_double(json_object_object_get(ram, "transferred"));
            res.mbps = json_object_get_double(json_object_object_get(ram, "mbps"));
            res.passes = json_object_get_double(json_object_object_get(ram, "dirty-sync-count"));
            res.ok = true;
        }
        json_object_put(info);
    }
    bench_qemu_teardown(s, d, src, dst, dir);
    g_free(dq);
    g_free(sq);
    g_free(sser);
    g_free(uri);
    g_free(dir);
    return res;
}

static Result run_migbench(const char *migbench, const char *size, const Config *cfg)
{
    Result res = { 0 };
    gchar *cmd =
        /* The same budget QEMU gets above: 120 s, however many passes. */
        g_strdup_printf("%s run -q --json - --max-passes 0 --max-time 120s "
                        "--guest kvm:mem=%s,workload=marker,work=32M %s",
                        migbench, size, cfg->run);
    gchar *out = NULL;
    g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL);
    json_object *j = out ? json_tokener_parse(out) : NULL, *r;
    if (j && json_object_object_get_ex(j, "result", &r) &&
        !strcmp(json_object_get_string(json_object_object_get(r, "status")), "completed")) {
        res.total_ms = json_object_get_double(json_object_object_get(r, "total-time-ms"));
        res.downtime_ms = json_object_get_double(json_object_object_get(r, "downtime-ms"));
        res.transferred = json_object_get_double(json_object_object_get(r, "transferred"));
        res.mbps = json_object_get_double(json_object_object_get(r, "mbps"));
        res.passes = json_object_get_double(json_object_object_get(r, "dirty-sync-count"));
        res.ok = true;
    }
    json_object_put(j);
    g_free(out);
    g_free(cmd);
    return res;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_vs_qemu MIGBENCH BIOS_IMG [SIZE...]\n");
        return 2;
    }
    gchar *q = g_find_program_in_path("qemu-system-x86_64");
    if (!q || access("/dev/kvm", R_OK | W_OK) != 0 || access(argv[2], R_OK) != 0) {
        printf("skipped: needs qemu-system-x86_64, /dev/kvm and %s\n", argv[2]);
        g_free(q);
        return 77;
    }
    g_free(q);
    printf("KVM guest migration, migbench vs QEMU in the same run (unix socket, max-bandwidth "
           "1 GiB/s, downtime-limit 300 ms,\nboth guests sweeping pages 1-33 MiB as QEMU's "
           "migration-test guest does; the rest of RAM zero)\n\n");
    printf("%-6s %-10s %-9s %10s %12s %14s %10s %14s\n", "size", "config", "", "total ms",
           "downtime ms", "transferred", "Mbit/s", "passes");
    const char *defaults[] = { "1G", "4G" };
    int nsizes = argc > 3 ? argc - 3 : 2;
    for (int i = 0; i < nsizes; i++) {
        const char *size = argc > 3 ? argv[3 + i] : defaults[i];
        for (size_t k = 0; k < G_N_ELEMENTS(configs); k++) {
            const Config *cfg = &configs[k];
            Result qr = run_qemu(argv[2], size, cfg), mr = run_migbench(argv[1], size, cfg);
            char b1[32], b2[32];
            if (qr.ok)
                printf("%-6s %-10s %-9s %10.0f %12.0f %14s %10.0f %14.0f\n", size, cfg->name,
                       "QEMU", qr.total_ms, qr.downtime_ms,
                       mb_fmt_bytes(b1, sizeof(b1), qr.transferred), qr.mbps, qr.passes);
            else
                printf("%-6s %-10s %-9s failed\n", size, cfg->name, "QEMU");
            if (mr.ok)
                printf("%-6s %-10s %-9s %10.0f %12.0f %14s %10.0f %14.0f\n", size, cfg->name,
                       "migbench", mr.total_ms, mr.downtime_ms,
                       mb_fmt_bytes(b2, sizeof(b2), mr.transferred), mr.mbps, mr.passes);
            else
                printf("%-6s %-10s %-9s failed\n", size, cfg->name, "migbench");
            if (qr.ok && mr.ok)
                printf("%-6s %-10s %-9s %10.2f %12.2f %14s %10.2f   (migbench / QEMU)\n", size,
                       cfg->name, "ratio", mr.total_ms / qr.total_ms,
                       mr.downtime_ms / MAX(qr.downtime_ms, 1), "", mr.mbps / MAX(qr.mbps, 1));
        }
    }
    printf("\ngoal: at least equal throughput and lower downtime than QEMU.  Compare the bytes\n"
           "transferred first: on hosts whose KVM emulates guest kernel mode (kvm_pvm), QEMU's\n"
           "firmware guest runs in kernel mode and dirties far less than migbench's user-mode\n"
           "guest, so QEMU then moves less data.\n");
    return 0;
}
