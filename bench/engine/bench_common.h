/* bench_common: small helpers shared by the engine benchmarks (timing, machine line). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "mb_util.h"

#include <stdio.h>
#include <string.h>

static inline double bench_seconds(void)
{
    return (double)mb_monotonic_ns() / 1e9;
}

/* Prints which machine the figures come from (they are only comparable within a run). */
static inline void bench_machine(const char *what)
{
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                g_strlcpy(model, c + 2, sizeof(model));
                model[strcspn(model, "\n")] = 0;
            }
            break;
        }
    }
    if (f)
        fclose(f);
    printf("%s\nmachine: %s, %ld online CPUs; figures are ratios against a baseline measured in "
           "this same run\n\n",
           what, model, sysconf(_SC_NPROCESSORS_ONLN));
}

/* The arguments every throughput bench takes: MIGBENCH [SIZE] (default `def`).  Sets
 * *size and *bytes; false after printing the usage or the bad size (exit status 2). */
static inline bool bench_size_args(int argc, char **argv, const char *name, const char *def,
                                   const char **size, uint64_t *bytes)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MIGBENCH [SIZE]\n", name);
        return false;
    }
    *size = argc > 2 ? argv[2] : def;
    if (!mb_parse_size(*size, bytes, NULL)) {
        fprintf(stderr, "%s: bad size '%s'\n", name, *size);
        return false;
    }
    return true;
}

#endif
