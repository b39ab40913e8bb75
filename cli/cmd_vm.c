/* cmd_vm: placeholder until its issue lands. */
#include "cli.h"

#include <stdio.h>

int cmd_vm_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "migbench vm: not built yet\n");
    return 1;
}
