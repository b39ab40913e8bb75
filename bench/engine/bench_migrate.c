/* bench_migrate: migration throughput against a plain socket copy of the same bytes.
 *
 *   bench_migrate MIGBENCH [SIZE]
 *
 * Migrates an incompressible sim guest of SIZE (default 4G) that does not dirty memory,
 * with no rate limit and an infinite simulated link, so the wall-clock time is the
 * engine's own speed: over unix and tcp loopback, and with multifd at 1, 2 and 4 channels.
 * The baselines copy the same number of bytes over a socket of the same kind in the same
 * run: into one reused buffer (the socket's speed), into fresh 4 KiB pages and into fresh
 * transparent huge pages like a destination's RAM (what any receiver pays for first
 * touching its pages, the slow and the fast kind), and real QEMU 7.2 migrating the same
 * amount of random RAM (KVM where /dev/kvm works, else TCG with the source stopped). */
#include "bench_common.h"
#include "bench_qemu.h"
#include "qmp_client.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK (1 << 20)

typedef enum { INTO_REUSED, INTO_FRESH_4K, INTO_FRESH_THP } Into;

typedef struct {
    int fd;
    uint64_t bytes;
    bool fresh;
    bool thp;
} Reader;

static void *reader(void *opaque)
{
    Reader *r = opaque;
    uint8_t *dst = r->fresh ? mmap(NULL, r->bytes, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                            : malloc(CHUNK);
    if (r->fresh && r->thp)
        madvise(dst, r->bytes, MADV_HUGEPAGE);
    uint64_t got = 0;
    while (got < r->bytes) {
        ssize_t n = read(r->fd, r->fresh ? dst + got : dst, MIN((uint64_t)CHUNK, r->bytes - got));
        if (n <= 0)
            break;
        got += (uint64_t)n;
    }
    if (r->fresh)
        munmap(dst, r->bytes);
    else
        free(dst);
    return NULL;
}

/* Connected pair of the given kind: AF_UNIX stream, or TCP over 127.0.0.1. */
static void socket_pair(bool tcp, int fds[2])
{
    if (!tcp) {
        socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
        return;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    bind(l, (struct sockaddr *)&a, sizeof(a));
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &len);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    connect(fds[0], (struct sockaddr *)&a, sizeof(a));
    fds[1] = accept(l, NULL, NULL);
    close(l);
}

/* CPU seconds (user + system, all threads) this process has used so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* Bytes/s of the copy; *cpu gets the CPU seconds both its threads used. */
static double socket_copy(bool tcp, uint64_t bytes, Into into, double *cpu)
{
    int fds[2];
    socket_pair(tcp, fds);
    Reader r = { fds[1], bytes, into != INTO_REUSED, into == INTO_FRESH_THP };
    uint8_t *buf = malloc(CHUNK);
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    pthread_t th;
    double t = bench_seconds(), c0 = cpu_seconds();
    pthread_create(&th, NULL, reader, &r);
    for (uint64_t sent = 0; sent < bytes;) {
        ssize_t n = write(fds[0], buf, MIN((uint64_t)CHUNK, bytes - sent));
        if (n <= 0)
            break;
        sent += (uint64_t)n;
    }
    pthread_join(th, NULL);
    double secs = bench_seconds() - t;
    *cpu = cpu_seconds() - c0;
    close(fds[0]);
    close(fds[1]);
    free(buf);
    return (double)bytes / secs;
}

/* Runs `migbench run` and returns bytes/s over the migration's wall time (0 on failure);
 * cpu[0] and cpu[1] get the CPU seconds the source and the destination vm used over their
 * spans (source: migrate to the end; destination: the load), as the vms report them. */
static double migrate(const char *migbench, const char *size, const char *transport,
                      const char *extra, uint64_t *transferred, double cpu[2])
{
    /* extra: migbench run options, then optionally "|GUEST-OPTIONS" for the sim spec */
    const char *bar = strchr(extra, '|');
    gchar *opts = bar ? g_strndup(extra, (size_t)(bar - extra)) : g_strdup(extra);
    gchar *cmd = g_strdup_printf("%s run -q --json - --guest sim:idle,size=%s,init=random%s "
                                 "--param max-bandwidth=0 --link-bandwidth 0 --transport %s %s",
                                 migbench, size, bar ? bar + 1 : "", transport, opts);
    g_free(opts);
    gchar *out = NULL;
    int status = 0;
    g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL);
    g_free(cmd);
    json_object *j = out ? json_tokener_parse(out) : NULL;
    g_free(out);
    json_object *w, *ms, *r, *t;
    double rate = 0;
    if (j && json_object_object_get_ex(j, "wall", &w) &&
        json_object_object_get_ex(w, "migration-ms", &ms) &&
        json_object_object_get_ex(j, "result", &r) &&
        json_object_object_get_ex(r, "transferred", &t)) {
        *transferred = (uint64_t)json_object_get_int64(t);
        rate = (double)*transferred / (json_object_get_double(ms) / 1000.0);
        json_object *sc, *dc;
        bool both = json_object_object_get_ex(w, "source-cpu-ms", &sc) &&
                    json_object_object_get_ex(w, "destination-cpu-ms", &dc);
        cpu[0] = both ? json_object_get_double(sc) / 1e3 : 0;
        cpu[1] = both ? json_object_get_double(dc) / 1e3 : 0;
    }
    json_object_put(j);
    return rate;
}

/* ---- real QEMU as a second baseline ----
 * QEMU's RAM is a private mapping of a file of random bytes (memory-backend-file,
 * share=off), so it is as incompressible as the sim guest without any guest code; the
 * destination uses anonymous RAM under the same backend id (same RAM block name). */

static char *random_file(uint64_t bytes)
{
    char *path = g_strdup("/tmp/bench-qemu-ram-XXXXXX");
    int fd = g_mkstemp(path);
    uint8_t *buf = g_malloc(CHUNK);
    MbRand r;
    mb_rand_seed(&r, 11);
    for (uint64_t done = 0; fd >= 0 && done < bytes; done += CHUNK) {
        for (size_t i = 0; i < CHUNK; i += 8) {
            uint64_t v = mb_rand_next(&r);
            memcpy(buf + i, &v, 8);
        }
        if (write(fd, buf, CHUNK) != CHUNK)
            break;
    }
    if (fd >= 0)
        close(fd);
    g_free(buf);
    return path;
}

static GSubprocess *qemu_vm(const char *dir, const char *name, const char *size, const char *ram,
                            bool incoming, bool kvm)
{
    gchar *qmp = g_strdup_printf("unix:%s/%s.qmp,server=on,wait=off", dir, name);
    gchar *obj =
        ram ? g_strdup_printf("memory-backend-file,id=mem,size=%s,mem-path=%s,share=off", size, ram)
            : g_strdup_printf("memory-backend-ram,id=mem,size=%s", size);
    const char *argv[] = { "qemu-system-x86_64", "-nodefaults", "-display", "none", "-machine",
                           "pc,memory-backend=mem", "-accel", kvm ? "kvm" : "tcg",
                           /* TCG: the source stays stopped, so emulating it costs nothing */
                           kvm || incoming ? "-nodefaults" : "-S", "-m", size, "-object", obj,
                           "-qmp", qmp, incoming ? "-incoming" : NULL, "defer", NULL };
    GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    g_free(qmp);
    g_free(obj);
    return p;
}

/* One QEMU migration of SIZE; bytes/s over QEMU's own total-time (0 on failure). */
static double migrate_qemu(const char *size, const char *ram_file, bool tcp, unsigned multifd,
                           bool kvm)
{
    gchar *dir = g_dir_make_tmp("bench-qemu-XXXXXX", NULL);
    GSubprocess *dst = qemu_vm(dir, "dst", size, NULL, true, kvm);
    GSubprocess *src = qemu_vm(dir, "src", size, ram_file, false, kvm);
    gchar *sq = g_strdup_printf("unix:%s/src.qmp", dir),
          *dq = g_strdup_printf("unix:%s/dst.qmp", dir);
    QmpClient *s = qmp_client_connect(sq, 20000, false, NULL);
    QmpClient *d = qmp_client_connect(dq, 20000, false, NULL);
    double rate = 0;
    if (s && d) {
        gchar *caps = g_strdup_printf("{\"capabilities\": [{\"capability\": \"multifd\", "
                                      "\"state\": %s}]}",
                                      multifd ? "true" : "false");
        gchar *params = g_strdup_printf("{\"max-bandwidth\": 107374182400, "
                                        "\"multifd-channels\": %u}",
                                        multifd ? multifd : 2);
        for (QmpClient **c = (QmpClient *[]){ s, d, NULL }; *c; c++) {
            json_object_put(bench_qemu_call(*c, "migrate-set-capabilities", caps));
            json_object_put(bench_qemu_call(*c, "migrate-set-parameters", params));
        }
        gchar *in = tcp ? g_strdup("{\"uri\": \"tcp:127.0.0.1:0\"}")
                        : g_strdup_printf("{\"uri\": \"unix:%s/mig.sock\"}", dir);
        json_object_put(bench_qemu_call(d, "migrate-incoming", in));
        gchar *out = NULL;
        if (tcp) {
            json_object *info = bench_qemu_call(d, "query-migrate", NULL), *sa;
            if (info && json_object_object_get_ex(info, "socket-address", &sa))
                out = g_strdup_printf("{\"uri\": \"tcp:127.0.0.1:%s\"}",
                                      json_object_get_string(json_object_object_get(
                                          json_object_array_get_idx(sa, 0), "port")));
            json_object_put(info);
        } else {
            out = g_strdup(in);
        }
        if (out)
            json_object_put(bench_qemu_call(s, "migrate", out));
        json_object *info =
            out ? bench_qemu_wait_completed(s, mb_monotonic_ns() + 300LL * 1000000000) : NULL;
        json_object *ram;
        if (info && json_object_object_get_ex(info, "ram", &ram)) {
            double ms = json_object_get_double(json_object_object_get(info, "total-time"));
            rate =
                json_object_get_double(json_object_object_get(ram, "transferred")) / (ms / 1000.0);
        }
        json_object_put(info);
        g_free(in);
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Medians of three: first-touch costs on this kind of host vary from run to run. */
#define REPEAT 3
static double median(double v[REPEAT])
{
    qsort(v, REPEAT, sizeof(double), cmp_double);
    return v[REPEAT / 2];
}

static double copy_median(bool tcp, uint64_t bytes, Into into, double *cpu)
{
    double v[REPEAT], c[REPEAT];
    for (int i = 0; i < REPEAT; i++)
        v[i] = socket_copy(tcp, bytes, into, &c[i]);
    *cpu = median(c);
    return median(v);
}

/* cpu: medians of the source's, the destination's and both ends' CPU seconds. */
static double migrate_median(const char *migbench, const char *size, const char *transport,
                             const char *extra, double cpu[3])
{
    double v[REPEAT], c[3][REPEAT];
    uint64_t transferred;
    for (int i = 0; i < REPEAT; i++) {
        double side[2] = { 0, 0 };
        v[i] = migrate(migbench, size, transport, extra, &transferred, side);
        c[0][i] = side[0];
        c[1][i] = side[1];
        c[2][i] = side[0] + side[1];
    }
    for (int k = 0; k < 3; k++)
        cpu[k] = median(c[k]);
    return median(v);
}

int main(int argc, char **argv)
{
    const char *size;
    uint64_t bytes;
    if (!bench_size_args(argc, argv, "bench_migrate", "1G", &size, &bytes))
        return 2;
    bench_machine("Migration throughput of an incompressible, idle sim guest (no rate limit, "
                  "infinite simulated link) vs a plain socket copy of the same bytes and QEMU");

    /* QEMU first, so every migbench row can say how it compares. */
    double qemu_rate[2] = { 0, 0 };
    gchar *qemu = g_find_program_in_path("qemu-system-x86_64");
    bool kvm = access("/dev/kvm", R_OK | W_OK) == 0;
    if (qemu) {
        char *ram = random_file(bytes);
        for (int tcp = 0; tcp < 2; tcp++) {
            double v[REPEAT];
            for (int k = 0; k < REPEAT; k++)
                v[k] = migrate_qemu(size, ram, tcp, 0, kvm);
            qemu_rate[tcp] = median(v);
        }
        unlink(ram);
        g_free(ram);
    }
    g_free(qemu);

    /* CPU s/GiB is the host CPU both ends used per GiB moved (all threads), a figure the
     * machine's load barely moves; "2-core MB/s" is what that cost allows when both ends
     * get the two cores to themselves (2 CPU-seconds per second / cost), the CPU ceiling
     * that wall-clock rates on a shared machine cannot show. */
    double gib = (double)bytes / (1 << 30);
    printf("%-34s %8s %10s %10s %10s %8s %8s %9s %8s %8s\n", "", "MB/s", "x copy", "x copy",
           "x copy", "x QEMU", "CPU s", "2-core", "source", "dest");
    printf("%-34s %8s %10s %10s %10s %8s %8s %9s %8s %8s\n", "", "", "reused", "fresh 4K",
           "fresh THP", "7.2", "per GiB", "MB/s", "CPU s", "CPU s");
    static const struct {
        const char *name, *transport, *extra;
    } runs[] = {
        { "migrate, unix", "unix", "" },
        { "migrate, unix, store=model", "unix", "|,store=model" },
        { "migrate, unix, store=mem no prefault", "unix", "|,store=mem,prefault=off" },
        { "migrate, tcp", "tcp", "" },
        { "migrate, unix, multifd 1", "unix", "--cap multifd=on --param multifd-channels=1" },
        { "migrate, unix, multifd 2", "unix", "--cap multifd=on --param multifd-channels=2" },
        { "migrate, unix, multifd 4", "unix", "--cap multifd=on --param multifd-channels=4" },
        { "migrate, tcp, multifd 2", "tcp", "--cap multifd=on --param multifd-channels=2" },
    };
    for (int tcp = 0; tcp < 2; tcp++) {
        double c_reused, c_fresh, c_thp;
        double reused = copy_median(tcp, bytes, INTO_REUSED, &c_reused);
        double fresh = copy_median(tcp, bytes, INTO_FRESH_4K, &c_fresh);
        double thp = copy_median(tcp, bytes, INTO_FRESH_THP, &c_thp);
        const char *kind = tcp ? "tcp" : "unix";
        struct {
            const char *what;
            double rate, cpu;
        } base[] = { { "socket copy", reused, c_reused },
                     { "socket copy into fresh 4K", fresh, c_fresh },
                     { "socket copy into fresh THP", thp, c_thp },
                     { kvm ? "QEMU 7.2 (KVM)" : "QEMU 7.2 (TCG, source -S)", qemu_rate[tcp], 0 } };
        for (size_t b = 0; b < G_N_ELEMENTS(base); b++) {
            gchar *name = g_strdup_printf("%s, %s", base[b].what, kind);
            if (base[b].rate == 0)
                printf("%-34s %8s\n", name, "n/a");
            else
                printf("%-34s %8.0f %10.2f %10.2f %10.2f %8.2f %8.2f %9.0f\n", name,
                       base[b].rate / 1e6, base[b].rate / reused, base[b].rate / fresh,
                       base[b].rate / thp, qemu_rate[tcp] ? base[b].rate / qemu_rate[tcp] : 0,
                       base[b].cpu / gib,
                       base[b].cpu > 0 ? 2 * (double)bytes / base[b].cpu / 1e6 : 0);
            g_free(name);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(runs); i++) {
            if ((strcmp(runs[i].transport, "tcp") == 0) != (tcp == 1))
                continue;
            double cpu[3];
            double rate = migrate_median(argv[1], size, runs[i].transport, runs[i].extra, cpu);
            if (rate == 0)
                printf("%-34s failed\n", runs[i].name);
            else
                printf("%-34s %8.0f %10.2f %10.2f %10.2f %8.2f %8.2f %9.0f %8.2f %8.2f\n",
                       runs[i].name, rate / 1e6, rate / reused, rate / fresh, rate / thp,
                       qemu_rate[tcp] ? rate / qemu_rate[tcp] : 0, cpu[2] / gib,
                       cpu[2] > 0 ? 2 * (double)bytes / cpu[2] / 1e6 : 0, cpu[0] / gib,
                       cpu[1] / gib);
        }
    }
    printf("\nCPU s per GiB: both ends, all threads (QEMU's is not measured), then each end "
           "(medians of each column, so the two need not add up); 2-core MB/s: the rate that "
           "CPU cost allows with both cores free\n");
    printf("medians of %d runs; goals: single stream >= 0.80 x the copy into fresh THP and "
           ">= 3 x QEMU; multifd 2 >= 0.90 x the copy into fresh THP\n",
           REPEAT);
    return 0;
}
