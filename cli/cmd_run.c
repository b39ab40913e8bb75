/* cmd_run: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int cmd_run_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "migbench run: not built yet\n");
    return 1;
}
