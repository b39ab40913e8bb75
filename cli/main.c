/* main: dispatches `migbench SUBCOMMAND ...` to the subcommand files of cli/. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    { "run", cmd_run_main, "migrate a guest between two vm processes and report (main job)" },
    { "vm", cmd_vm_main, "host one guest (sim or kvm) and serve QMP, like a QEMU process" },
    { "qmp", cmd_qmp_main, "talk QMP to a running vm: one command or an interactive shell" },
    { "trace", cmd_trace_main, "dirty-page traces: gen, record, info, stats, cat, convert" },
    { "sweep", cmd_sweep_main, "run a grid of migrations from a spec, locally or on Slurm" },
    { "report", cmd_report_main, "one HTML page of plots from sweep results or run reports" },
    { "compare", cmd_compare_main, "compare two results per metric; exit 1 on a regression" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: migbench COMMAND [ARGS...]\n\n"
               "A QEMU-compatible live-migration engine, guest simulator and conformance "
               "bench.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n`migbench COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("migbench %s\n", MB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "migbench: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
