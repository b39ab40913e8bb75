/* bench_colo: COLO checkpoint cost against the guest's dirty rate.
 *
 *   bench_colo MIGBENCH [SIZE]
 *
 * Runs `migbench run` with x-colo on a uniform sim guest of SIZE (default 256M) at several
 * dirty rates, ten checkpoints 100 ms of guest time apart, and prints per rate the
 * checkpoint size and its RAM transfer time: in guest time over the simulated 10 Gbit/s
 * link (deterministic), and on the wall clock (the engine's own cost: stopping the guest,
 * sending the dirty pages and the device state, the secondary staging, applying and
 * checking every page of its memory).  The baseline, measured in the same run, is a plain
 * migration of the same guest: its wall-clock bytes per second, against which each
 * checkpoint's bytes per wall second is given as a ratio (a checkpoint also pays the
 * secondary's whole-memory check, so the ratio falls as the guest grows).  multifd is not
 * combined with COLO (migbench refuses the pair; QEMU 5.0's multifd pages would bypass the
 * secondary's checkpoint buffer). */
#include "bench_common.h"

#include <json-c/json.h>

static json_object *run(const char *migbench, const char *size, const char *rate, bool colo)
{
    /* No rate limit: the precopy part must converge at every dirty rate. */
    gchar *cmd = g_strdup_printf("%s run -q --json - --guest sim:uniform,size=%s,rate=%s,seed=1 "
                                 "--param max-bandwidth=0 %s",
                                 migbench, size, rate,
                                 colo ? "--cap x-colo=on --param x-checkpoint-delay=100 "
                                        "--colo-checkpoints 10"
                                      : "");
    gchar *out = NULL;
    int status = 0;
    g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL);
    g_free(cmd);
    json_object *j = out ? json_tokener_parse(out) : NULL;
    g_free(out);
    return j;
}

static double path_num(json_object *j, const char *a, const char *b, const char *c)
{
    json_object *x = j;
    const char *keys[] = { a, b, c };
    for (int i = 0; i < 3 && x && keys[i]; i++)
        if (!json_object_object_get_ex(x, keys[i], &x))
            return -1;
    return x ? json_object_get_double(x) : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_colo MIGBENCH [SIZE]\n");
        return 2;
    }
    const char *migbench = argv[1], *size = argc > 2 ? argv[2] : "256M";
    static const char *const rates[] = { "1M", "16M", "64M", "256M" };

    bench_machine("COLO checkpoints against the dirty rate (uniform sim guest, 100 ms apart)");
    json_object *base = run(migbench, size, "1M", false);
    double ms = path_num(base, "wall", "migration-ms", NULL);
    double bytes = path_num(base, "result", "transferred", NULL);
    double base_rate = ms > 0 ? bytes / (ms / 1000.0) : 0;
    json_object_put(base);
    if (base_rate <= 0) {
        fprintf(stderr, "bench_colo: the baseline migration failed\n");
        return 1;
    }
    printf("baseline: a plain migration of the %s guest, %.0f MB/s (wall)\n\n", size,
           base_rate / 1e6);
    printf("%-9s %-14s %-16s %-16s %s\n", "rate", "size p50", "guest ms p50/p99", "wall ms p50/p99",
           "ratio to baseline (bytes per wall second)");
    int rc = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(rates); i++) {
        json_object *j = run(migbench, size, rates[i], true);
        double n = path_num(j, "result", "colo", "checkpoints");
        json_object *colo = NULL, *w = NULL;
        if (!j || !json_object_object_get_ex(j, "result", &colo) ||
            !json_object_object_get_ex(colo, "colo", &colo) || n < 1 ||
            !json_object_object_get_ex(j, "wall", &w) ||
            !json_object_object_get_ex(w, "colo-checkpoint-ms", &w)) {
            printf("%-9s failed\n", rates[i]);
            rc = 1;
            json_object_put(j);
            continue;
        }
        double sz = path_num(colo, "size", "p50", NULL);
        double t50 = path_num(colo, "time-ms", "p50", NULL),
               t99 = path_num(colo, "time-ms", "p99", NULL);
        double w50 = path_num(w, "p50", NULL, NULL), w99 = path_num(w, "p99", NULL, NULL);
        char s[32];
        mb_fmt_bytes(s, sizeof(s), sz);
        printf("%-9s %-14s %7.3f/%-8.3f %7.1f/%-8.1f %.2f\n", rates[i], s, t50, t99, w50, w99,
               w50 > 0 ? (sz / (w50 / 1000.0)) / base_rate : 0);
        json_object_put(j);
    }
    return rc;
}
