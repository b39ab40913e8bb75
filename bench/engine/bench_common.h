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

#endif
