/* bench_postcopy: postcopy of a guest precopy cannot finish, migbench (sim) against real
 * QEMU 7.2 postcopy of the same guest shape, in the same run.
 *
 *   bench_postcopy MIGBENCH DIRTY_BIOS_IMG [PASSES]
 *
 * The shape: 128 MiB of RAM, one vCPU, a hot set of 32 MiB rewritten without pause, QEMU's
 * default limits of 32 MiB/s and 300 ms downtime.  The hot set is more than three times
 * what the link moves in the downtime limit (9.6 MiB), so precopy never converges (the sim
 * run without postcopy shows it, cancelled at its pass limit); both sides switch to
 * postcopy after pass PASSES (default 2).  QEMU runs conformance/guests/dirty-bios.S as its
 * firmware (it adds 1 to every page of 1..33 MiB, sweep after sweep), under KVM where
 * /dev/kvm works, else TCG, started running; migbench runs sim:seq over the same range
 * (one vCPU sweeping pages in order, the sim's model of QEMU's migration-test guest).  Why the
 * same-run comparison, not a sim model of QEMU: sim times are guest (virtual) time over the
 * simulated link, QEMU's are wall time over a rate-limited unix socket, so the ratios say how the
 * two postcopy paths compare on the same shape, not which host is faster.  QEMU 7.2 has no request
 * latency figures (postcopy-latency came in 8.x): n/a. */
#include "bench_common.h"
#include "bench_qemu.h"
#include "qmp_client.h"

#include <gio/gio.h>
#include <json-c/json.h>
#include <unistd.h>

#define RAM         "128M"
#define BANDWIDTH   33554432 /* QEMU's default max-bandwidth, bytes/s */
#define DOWNTIME_MS 300

typedef struct {
    bool ok;
    double total_ms, downtime_ms, blocktime_ms, requests, p50_us, p99_us, wall_ms;
    char status[32];
} Result;

static json_object *path(json_object *j, const char *a, const char *b, const char *c)
{
    const char *keys[] = { a, b, c };
    for (int i = 0; i < 3 && j && keys[i]; i++)
        if (!json_object_object_get_ex(j, keys[i], &j))
            return NULL;
    return j;
}

static double num(json_object *j, const char *a, const char *b, const char *c)
{
    json_object *x = path(j, a, b, c);
    return x ? json_object_get_double(x) : -1;
}

/* migbench run on the sim guest of the shape; postcopy after PASSES, or precopy only
 * (passes 0) with a pass limit so the run ends. */
static Result run_sim(const char *migbench, int passes)
{
    gchar *pc = passes ? g_strdup_printf("--postcopy-after %d --cap postcopy-blocktime=on", passes)
                       : g_strdup("--max-passes 10");
    gchar *cmd = g_strdup_printf("%s run -q --json - --guest sim:seq,size=" RAM ",from=1M,to=33M,"
                                 "rate=256M,init=zero,warmup=1s,seed=1 "
                                 "--param max-bandwidth=%d --param max-postcopy-bandwidth=%d "
                                 "--param downtime-limit=%d %s",
                                 migbench, BANDWIDTH, BANDWIDTH, DOWNTIME_MS, pc);
    g_free(pc);
    gchar *out = NULL, *err = NULL;
    int status = 0;
    g_spawn_command_line_sync(cmd, &out, &err, &status, NULL);
    g_free(cmd);
    /* A run that does not complete keeps its work directory: remove it. */
    const char *kept = err ? strstr(err, "work directory kept: ") : NULL;
    if (kept) {
        gchar *d = g_strndup(kept + 21, strcspn(kept + 21, "\n"));
        if (g_str_has_prefix(d, "/tmp/migbench-run-")) {
            gchar *rm = g_strdup_printf("rm -rf '%s'", d);
            if (system(rm) != 0)
                fprintf(stderr, "bench_postcopy: could not remove %s\n", d);
            g_free(rm);
        }
        g_free(d);
    }
    g_free(err);
    json_object *j = out ? json_tokener_parse(out) : NULL;
    g_free(out);
    Result r = { 0 };
    json_object *st = path(j, "result", "status", NULL);
    g_strlcpy(r.status, st ? json_object_get_string(st) : "no report", sizeof(r.status));
    r.ok = st && !strcmp(r.status, "completed") &&
           json_object_get_boolean(path(j, "result", "destination", "verified"));
    r.total_ms = num(j, "result", "total-time-ms", NULL);
    r.downtime_ms = num(j, "result", "downtime-ms", NULL);
    r.requests = num(j, "result", "postcopy-requests", NULL);
    json_object *p = path(j, "result", "destination", "postcopy");
    r.blocktime_ms = num(p, "blocktime-ms", NULL, NULL);
    r.p50_us = num(p, "latency-us", "p50", NULL);
    r.p99_us = num(p, "latency-us", "p99", NULL);
    r.wall_ms = num(j, "wall", "migration-ms", NULL);
    json_object_put(j);
    return r;
}

static GSubprocess *qemu_vm(const char *dir, const char *name, const char *bios, bool incoming,
                            bool kvm)
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
                           kvm ? "kvm" : "tcg",
                           "-m",
                           RAM,
                           "-bios",
                           bios,
                           "-serial",
                           serial,
                           "-qmp",
                           qmp,
                           incoming ? "-incoming" : NULL,
                           "defer",
                           NULL };
    GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    g_free(qmp);
    g_free(serial);
    return p;
}

/* Waits (deadline: monotonic ns) until the guest's serial file holds 'B': its first sweep
 * is done, every page of the hot set is non-zero and being rewritten. */
static bool wait_ready(const char *dir, int64_t deadline)
{
    gchar *file = g_strdup_printf("%s/src.serial", dir);
    bool ready = false;
    while (!ready && mb_monotonic_ns() < deadline) {
        gchar *text = NULL;
        ready = g_file_get_contents(file, &text, NULL, NULL) && strchr(text, 'B');
        g_free(text);
        if (!ready)
            g_usleep(10000);
    }
    g_free(file);
    return ready;
}

static const char *status_of(json_object *info)
{
    json_object *st = path(info, "status", NULL, NULL);
    return st ? json_object_get_string(st) : "";
}

/* QEMU 7.2: postcopy-ram on both sides (and postcopy-blocktime), migrate-start-postcopy once
 * the source's dirty-sync-count says pass PASSES is over (the count is 1 after the setup
 * sync and grows by one at the end of each pass). */
static Result run_qemu(const char *bios, int passes, bool kvm, double *dirty_rate)
{
    Result r = { 0 };
    g_strlcpy(r.status, "not run", sizeof(r.status));
    gchar *dir = g_dir_make_tmp("bench-pc-XXXXXX", NULL);
    GSubprocess *dst = qemu_vm(dir, "dst", bios, true, kvm);
    GSubprocess *src = qemu_vm(dir, "src", bios, false, kvm);
    gchar *sq = g_strdup_printf("unix:%s/src.qmp", dir),
          *dq = g_strdup_printf("unix:%s/dst.qmp", dir);
    QmpClient *s = qmp_client_connect(sq, 20000, false, NULL);
    QmpClient *d = qmp_client_connect(dq, 20000, false, NULL);
    int64_t deadline = mb_monotonic_ns() + 300LL * 1000000000;
    if (s && d && wait_ready(dir, mb_monotonic_ns() + 60LL * 1000000000)) {
        const char *caps = "{\"capabilities\": [{\"capability\": \"postcopy-ram\", \"state\": "
                           "true}, {\"capability\": \"postcopy-blocktime\", \"state\": true}]}";
        json_object_put(bench_qemu_call(s, "migrate-set-capabilities", caps));
        json_object_put(bench_qemu_call(d, "migrate-set-capabilities", caps));
        gchar *params = g_strdup_printf("{\"max-bandwidth\": %d, \"max-postcopy-bandwidth\": %d, "
                                        "\"downtime-limit\": %d}",
                                        BANDWIDTH, BANDWIDTH, DOWNTIME_MS);
        json_object_put(bench_qemu_call(s, "migrate-set-parameters", params));
        g_free(params);
        gchar *uri = g_strdup_printf("{\"uri\": \"unix:%s/mig.sock\"}", dir);
        json_object_put(bench_qemu_call(d, "migrate-incoming", uri));
        json_object_put(bench_qemu_call(s, "migrate", uri));
        g_free(uri);
        /* Poll every 5 ms for the end of pass PASSES, then switch. */
        bool switched = false;
        while (!switched && mb_monotonic_ns() < deadline) {
            json_object *info = bench_qemu_call(s, "query-migrate", NULL);
            const char *st = status_of(info);
            if (strcmp(st, "active") && strcmp(st, "setup")) {
                json_object_put(info);
                break;
            }
            if (num(info, "ram", "dirty-sync-count", NULL) >= passes + 1) {
                *dirty_rate = num(info, "ram", "dirty-pages-rate", NULL) * 4096;
                json_object *rep = bench_qemu_call(s, "migrate-start-postcopy", NULL);
                switched = rep != NULL;
                json_object_put(rep);
            }
            json_object_put(info);
            if (!switched)
                g_usleep(5000);
        }
        json_object *info = switched ? bench_qemu_wait_completed(s, deadline) : NULL;
        if (info) {
            r.total_ms = num(info, "total-time", NULL, NULL);
            r.downtime_ms = num(info, "downtime", NULL, NULL);
            r.requests = num(info, "ram", "postcopy-requests", NULL);
            json_object_put(info);
            /* The destination reports blocktime once it has completed too. */
            json_object *di = NULL;
            while (mb_monotonic_ns() < deadline) {
                di = bench_qemu_call(d, "query-migrate", NULL);
                if (!strcmp(status_of(di), "completed") || !strcmp(status_of(di), "failed"))
                    break;
                json_object_put(di);
                di = NULL;
                g_usleep(20000);
            }
            g_strlcpy(r.status, di ? status_of(di) : "destination timeout", sizeof(r.status));
            r.ok = di && !strcmp(status_of(di), "completed");
            r.blocktime_ms = num(di, "postcopy-blocktime", NULL, NULL);
            json_object_put(di);
        } else {
            g_strlcpy(r.status, switched ? "not completed" : "no postcopy switch",
                      sizeof(r.status));
        }
        r.p50_us = r.p99_us = -1; /* no latency figures in 7.2 */
    } else {
        g_strlcpy(r.status, "QEMU did not start", sizeof(r.status));
    }
    bench_qemu_teardown(s, d, src, dst, dir);
    g_free(sq);
    g_free(dq);
    g_free(dir);
    return r;
}

static void cell(char *buf, size_t n, double v, const char *fmt)
{
    if (v < 0)
        g_strlcpy(buf, "n/a", n);
    else
        g_snprintf(buf, n, fmt, v);
}

static void row(const char *what, double mb, double qemu, const char *fmt)
{
    char a[32], b[32], c[32];
    cell(a, sizeof(a), mb, fmt);
    cell(b, sizeof(b), qemu, fmt);
    cell(c, sizeof(c), mb >= 0 && qemu > 0 ? mb / qemu : -1, "%.2f");
    printf("%-24s %14s %14s %10s\n", what, a, b, c);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_postcopy MIGBENCH DIRTY_BIOS_IMG [PASSES]\n");
        return 2;
    }
    int passes = argc > 3 ? atoi(argv[3]) : 2;
    if (passes < 1)
        return 2;
    bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
    bench_machine("Postcopy of a guest precopy cannot finish: 128 MiB, 1 vCPU, 32 MiB hot set, "
                  "32 MiB/s, 300 ms downtime limit; migbench sim vs QEMU 7.2");

    Result pre = run_sim(argv[1], 0);
    printf("precopy only (sim, 10 passes): %s\n", pre.status);
    Result mb = run_sim(argv[1], passes);
    double rate = -1;
    gchar *qemu = g_find_program_in_path("qemu-system-x86_64");
    Result q = { 0 };
    g_strlcpy(q.status, "not installed", sizeof(q.status));
    if (qemu && access(argv[2], R_OK) == 0)
        q = run_qemu(argv[2], passes, kvm, &rate);
    g_free(qemu);
    printf("postcopy after pass %d: migbench sim %s (wall %.0f ms), QEMU 7.2 (%s) %s; QEMU "
           "dirty-pages-rate %.0f MB/s at the switch (distinct pages per sync period)\n\n",
           passes, mb.status, mb.wall_ms, kvm ? "KVM" : "TCG", q.status, rate / 1e6);
    printf("%-24s %14s %14s %10s\n", "", "migbench sim", "QEMU 7.2", "x QEMU");
    if (!q.ok)
        q = (Result){ .total_ms = -1,
                      .downtime_ms = -1,
                      .blocktime_ms = -1,
                      .requests = -1,
                      .p50_us = -1,
                      .p99_us = -1 };
    row("total time ms", mb.total_ms, q.total_ms, "%.0f");
    row("downtime ms", mb.downtime_ms, q.downtime_ms, "%.0f");
    row("blocktime ms (all)", mb.blocktime_ms, q.blocktime_ms, "%.0f");
    row("postcopy requests", mb.requests, q.requests, "%.0f");
    row("request latency p50 us", mb.p50_us, q.p50_us, "%.0f");
    row("request latency p99 us", mb.p99_us, q.p99_us, "%.0f");
    printf("\nmigbench times are guest (virtual) time over the simulated link; QEMU's are "
           "wall time over a unix socket\n");
    return mb.ok ? 0 : 1;
}
