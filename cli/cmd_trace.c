/* cmd_trace: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int cmd_trace_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "migbench trace: not built yet\n");
    return 1;
}
