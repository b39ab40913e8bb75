/* cmd_qmp: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int cmd_qmp_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "migbench qmp: not built yet\n");
    return 1;
}
