/* bench_migrate: migration throughput against a plain socket copy of the same bytes.
 *
 *   bench_migrate MIGBENCH [SIZE]
 *
 * Migrates an incompressible sim guest of SIZE (default 4G) that does not dirty memory,
 * with no rate limit and an infinite simulated link, so the wall-clock time is the
 * engine's own speed: over unix and tcp loopback, and with multifd at 1, 2 and 4 channels.
 * The baselines copy the same number of bytes over a socket of the same kind in the same
 * run: into one reused buffer (the socket's speed), and into fresh memory like a
 * destination's RAM (what any receiver pays for first touching its pages). */
#include "bench_common.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK (1 << 20)

typedef struct {
    int fd;
    uint64_t bytes;
    bool fresh;
} Reader;

static void *reader(void *opaque)
{
    Reader *r = opaque;
    uint8_t *dst = r->fresh ? mmap(NULL, r->bytes, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                            : malloc(CHUNK);
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

static double socket_copy(bool tcp, uint64_t bytes, bool fresh)
{
    int fds[2];
    socket_pair(tcp, fds);
    Reader r = { fds[1], bytes, fresh };
    uint8_t *buf = malloc(CHUNK);
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    pthread_t th;
    double t = bench_seconds();
    pthread_create(&th, NULL, reader, &r);
    for (uint64_t sent = 0; sent < bytes;) {
        ssize_t n = write(fds[0], buf, MIN((uint64_t)CHUNK, bytes - sent));
        if (n <= 0)
            break;
        sent += (uint64_t)n;
    }
    pthread_join(th, NULL);
    double secs = bench_seconds() - t;
    close(fds[0]);
    close(fds[1]);
    free(buf);
    return (double)bytes / secs;
}

/* Runs `migbench run` and returns bytes/s over the migration's wall time (0 on failure). */
static double migrate(const char *migbench, const char *size, const char *transport,
                      const char *extra, uint64_t *transferred)
{
    gchar *cmd = g_strdup_printf("%s run -q --json - --guest sim:idle,size=%s,init=random "
                                 "--param max-bandwidth=0 --link-bandwidth 0 --transport %s %s",
                                 migbench, size, transport, extra);
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
    }
    json_object_put(j);
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

static double copy_median(bool tcp, uint64_t bytes, bool fresh)
{
    double v[REPEAT];
    for (int i = 0; i < REPEAT; i++)
        v[i] = socket_copy(tcp, bytes, fresh);
    return median(v);
}

static double migrate_median(const char *migbench, const char *size, const char *transport,
                             const char *extra)
{
    double v[REPEAT];
    uint64_t transferred;
    for (int i = 0; i < REPEAT; i++)
        v[i] = migrate(migbench, size, transport, extra, &transferred);
    return median(v);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_migrate MIGBENCH [SIZE]\n");
        return 2;
    }
    const char *size = argc > 2 ? argv[2] : "4G";
    uint64_t bytes;
    if (!mb_parse_size(size, &bytes, NULL))
        return 2;
    bench_machine("Migration throughput of an incompressible, idle sim guest (no rate limit, "
                  "infinite simulated link) vs a plain socket copy of the same bytes");
    printf("%-30s %10s %12s %12s\n", "", "MB/s", "x copy", "x copy into");
    printf("%-30s %10s %12s %12s\n", "", "", "(reused buf)", "(fresh mem)");
    static const struct {
        const char *name, *transport, *extra;
    } runs[] = {
        { "migrate, unix", "unix", "" },
        { "migrate, tcp", "tcp", "" },
        { "migrate, unix, multifd 1", "unix", "--cap multifd=on --param multifd-channels=1" },
        { "migrate, unix, multifd 2", "unix", "--cap multifd=on --param multifd-channels=2" },
        { "migrate, unix, multifd 4", "unix", "--cap multifd=on --param multifd-channels=4" },
        { "migrate, tcp, multifd 4", "tcp", "--cap multifd=on --param multifd-channels=4" },
    };
    for (int tcp = 0; tcp < 2; tcp++) {
        double reused = copy_median(tcp, bytes, false), fresh = copy_median(tcp, bytes, true);
        printf("%-30s %10.0f %12.2f %12.2f\n", tcp ? "socket copy, tcp" : "socket copy, unix",
               reused / 1e6, 1.0, reused / fresh);
        printf("%-30s %10.0f %12.2f %12.2f\n",
               tcp ? "socket copy into fresh, tcp" : "socket copy into fresh, unix", fresh / 1e6,
               fresh / reused, 1.0);
        for (size_t i = 0; i < G_N_ELEMENTS(runs); i++) {
            if ((strcmp(runs[i].transport, "tcp") == 0) != (tcp == 1))
                continue;
            double rate = migrate_median(argv[1], size, runs[i].transport, runs[i].extra);
            if (rate == 0)
                printf("%-30s failed\n", runs[i].name);
            else
                printf("%-30s %10.0f %12.2f %12.2f\n", runs[i].name, rate / 1e6, rate / reused,
                       rate / fresh);
        }
    }
    printf("\nmedians of %d runs; goal: migration >= 0.80 of the socket copy of the same bytes\n",
           REPEAT);
    return 0;
}
